//! The websocket's wire format: what a client may send, and how each
//! trading event is shown to it (the seed's `{ "event": …, "data": … }`).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tradingbot_actors::execution::events::{Event, OrderRecord, PositionRecord};
use tradingbot_actors::store::enums::{OrderLeg, OrderSide};

/// Channels a client subscribes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Positions,
    Orders,
    Prices,
    AiSignals,
    Alerts,
}

impl Channel {
    pub const ALL: [Channel; 5] = [
        Channel::Positions,
        Channel::Orders,
        Channel::Prices,
        Channel::AiSignals,
        Channel::Alerts,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Positions => "positions",
            Channel::Orders => "orders",
            Channel::Prices => "prices",
            Channel::AiSignals => "ai_signals",
            Channel::Alerts => "alerts",
        }
    }
}

/// A client's message.
#[derive(Debug, Deserialize)]
pub struct ClientMessage {
    pub event: String,
    #[serde(default)]
    pub data: Value,
}

/// One event for the clients: whose it is (`None`: anyone's, like a
/// price), its channel, the symbol (for price filters) and the text sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outgoing {
    pub user_id: Option<i64>,
    pub channel: Channel,
    pub symbol: Option<String>,
    pub text: String,
}

fn num(d: Decimal) -> Value {
    json!(rust_decimal::prelude::ToPrimitive::to_f64(&d))
}

fn opt(d: Option<Decimal>) -> Value {
    d.map_or(Value::Null, num)
}

fn frame(event: &str, data: Value) -> String {
    json!({ "event": event, "data": data }).to_string()
}

/// The side of the position an order belongs to: entries open it, the
/// other legs trade against it.
fn position_side(o: &OrderRecord) -> &'static str {
    match (o.leg == OrderLeg::Entry, o.side) {
        (true, OrderSide::Buy) | (false, OrderSide::Sell) => "LONG",
        (true, OrderSide::Sell) | (false, OrderSide::Buy) => "SHORT",
    }
}

fn order_data(o: &OrderRecord) -> Value {
    json!({
        "order_id": o.id,
        "client_order_id": o.client_order_id.as_str(),
        "exchange_order_id": o.venue_order_id,
        "position_id": o.position_id,
        "strategy_id": o.strategy_id,
        "exchange": o.exchange,
        "symbol": o.symbol,
        "side": position_side(o),
        "order_side": o.side,
        "leg": o.leg,
        "type": o.order_type,
        "status": o.status,
        "price": opt(o.avg_fill_price.or(o.price).or(o.trigger_price)),
        "quantity": num(if o.filled_qty.is_zero() { o.quantity } else { o.filled_qty }),
        "fee": num(o.fee),
        "error_code": o.error_code,
        "error_message": o.error_message,
    })
}

fn position_data(p: &PositionRecord) -> Value {
    let margin = p.entry_price * p.quantity / Decimal::from(p.leverage.max(1));
    let roe =
        (!margin.is_zero()).then(|| (p.realized_pnl / margin * Decimal::ONE_HUNDRED).round_dp(2));
    json!({
        "position_id": p.id,
        "strategy_id": p.strategy_id,
        "exchange": p.exchange,
        "symbol": p.symbol,
        "side": p.side,
        "entry_price": num(p.entry_price),
        "quantity": num(p.quantity),
        "leverage": p.leverage,
        "stop_loss": opt(p.stop_loss),
        "take_profit": opt(p.take_profit),
        "exit_price": opt(p.exit_price),
        "realized_pnl": num(p.realized_pnl),
        "fees": num(p.fees),
        "roe_pct": opt(roe),
        "close_reason": p.close_reason,
        "opened_at": p.opened_at,
        "closed_at": p.closed_at,
        "duration_secs": p.closed_at.map(|c| (c - p.opened_at).num_seconds()),
        "targets": p.targets.iter().map(|t| json!({
            "target": t.target,
            "price": num(t.price),
            "size_pct": num(t.size_pct),
            "state": t.state,
        })).collect::<Vec<_>>(),
    })
}

/// How the clients hear of `event`, if they do.
pub fn outgoing(event: &Event) -> Option<Outgoing> {
    let (user_id, channel, symbol, text) = match event {
        Event::PositionValue(v) => (
            Some(v.user_id),
            Channel::Positions,
            Some(v.symbol.clone()),
            frame(
                "position_update",
                json!({
                    "position_id": v.position_id,
                    "symbol": v.symbol,
                    "side": v.side,
                    "entry_price": num(v.entry_price),
                    "quantity": num(v.quantity),
                    "leverage": v.leverage,
                    "current_price": num(v.current_price),
                    "unrealized_pnl": num(v.unrealized_pnl),
                    "pnl_percentage": num(v.pnl_percentage),
                    "roi_pct": num(v.roi_pct),
                    "liquidation_price": opt(v.liquidation_price),
                    "stop_loss": opt(v.stop_loss),
                    "take_profit": opt(v.take_profit),
                    "distance_to_sl_pct": opt(v.distance_to_sl_pct),
                    "distance_to_tp_pct": opt(v.distance_to_tp_pct),
                    "at": v.at,
                }),
            ),
        ),
        Event::PositionOpened(p)
        | Event::PositionProtected(p)
        | Event::PositionReduced(p)
        | Event::PositionClosed(p) => {
            let name = match event {
                Event::PositionOpened(_) => "position_opened",
                Event::PositionProtected(_) => "position_protected",
                Event::PositionReduced(_) => "position_reduced",
                _ => "position_closed",
            };
            (
                Some(p.user_id),
                Channel::Positions,
                Some(p.symbol.clone()),
                frame(name, position_data(p)),
            )
        }
        Event::OrderPlaced(o)
        | Event::OrderFound(o)
        | Event::OrderUpdated(o)
        | Event::OrderFilled(o)
        | Event::OrderRejected(o) => {
            let name = match event {
                Event::OrderFilled(_) => "order_filled",
                Event::OrderRejected(_) => "order_rejected",
                _ => "order_update",
            };
            (
                Some(o.user_id),
                Channel::Orders,
                Some(o.symbol.clone()),
                frame(name, order_data(o)),
            )
        }
        Event::AccountUpdate(a) => (
            Some(a.user_id),
            Channel::Positions,
            None,
            frame(
                "account_update",
                json!({
                    "account_id": a.account_id,
                    "exchange": a.exchange,
                    "wallet_balance": num(a.wallet),
                    "available_balance": num(a.available),
                    "unrealized_pnl": num(a.unrealized_pnl),
                    "updated_at": a.at,
                }),
            ),
        ),
        // The seed's shape: `{symbol, action: "CLOSE_POSITION", reason, confidence}`.
        Event::AiRecommendation(a) => (
            Some(a.user_id),
            Channel::AiSignals,
            Some(a.symbol.clone()),
            frame(
                "ai_recommendation",
                json!({
                    "symbol": a.symbol,
                    "action": format!("{}_POSITION", a.action.to_ascii_uppercase()),
                    "reason": a.reason,
                    "confidence": a.confidence,
                    "position_id": a.position_id,
                    "strategy_id": a.strategy_id,
                    "side": a.side,
                    "sources": a.sources,
                    "auto_closed": a.auto_closed,
                }),
            ),
        ),
        Event::RiskAlert(a) => (
            Some(a.user_id),
            Channel::Alerts,
            None,
            frame(
                "risk_alert",
                json!({
                    "kind": a.kind,
                    "rule": a.rule.map(|r| r.as_str()),
                    "message": a.message,
                    "position_id": a.position_id,
                }),
            ),
        ),
        Event::SecurityAlert(a) => (
            Some(a.user_id),
            Channel::Alerts,
            None,
            frame(
                "security_alert",
                json!({
                    "kind": a.kind,
                    "critical": a.critical,
                    "title": a.title,
                    "message": a.message,
                    "ip": a.ip,
                    "at": a.at,
                }),
            ),
        ),
        Event::PnlStep(s) => (
            Some(s.user_id),
            Channel::Alerts,
            Some(s.symbol.clone()),
            frame(
                "pnl_alert",
                json!({
                    "position_id": s.position_id,
                    "symbol": s.symbol,
                    "side": s.side,
                    "step": s.step,
                    "threshold_pct": num(s.step_pct * Decimal::from(s.step)),
                    "pnl_percentage": num(s.pnl_percentage),
                    "unrealized_pnl": num(s.unrealized_pnl),
                    "current_price": num(s.current_price),
                }),
            ),
        ),
        Event::Price(p) => (
            None,
            Channel::Prices,
            Some(p.symbol.clone()),
            frame(
                "price",
                json!({ "exchange": p.exchange, "symbol": p.symbol, "price": num(p.price), "at": p.at }),
            ),
        ),
        Event::Signal(_) | Event::RiskState { .. } | Event::DayEnded { .. } => return None,
    };
    Some(Outgoing {
        user_id,
        channel,
        symbol,
        text,
    })
}

pub fn error(code: &str, message: &str) -> String {
    frame("error", json!({ "code": code, "message": message }))
}

pub fn subscribed(channels: &[Channel], symbols: &[String]) -> String {
    frame(
        "subscribed",
        json!({ "channels": channels.iter().map(|c| c.as_str()).collect::<Vec<_>>(), "symbols": symbols }),
    )
}

pub fn pong() -> String {
    frame("pong", Value::Null)
}
