//! What happened, as the rest of the system hears it: every record carries
//! the whole row it describes, so a subscriber (the database writer, the
//! websocket hub, Telegram) never has to look anything up.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tradingbot_core::exchange::ClientOrderId;
use tradingbot_core::risk::{RiskLedger, RiskRule};

use crate::store::enums::{
    MarginMode, OrderLeg, OrderSide, OrderStatus, OrderType, PositionSide, PositionStatus,
    SignalOutcome,
};

/// A received webhook and what became of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignalRecord {
    pub id: i64,
    pub user_id: Option<i64>,
    pub strategy_id: Option<i64>,
    pub signal_key: String,
    pub action: Option<String>,
    pub symbol: Option<String>,
    pub price: Option<Decimal>,
    pub outcome: SignalOutcome,
    /// Machine code and explanation of a rejection.
    pub reason: Option<String>,
    pub latency_us: i64,
    pub source_ip: Option<String>,
    pub received_at: DateTime<Utc>,
}

/// One order, as it stands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderRecord {
    pub id: i64,
    pub user_id: i64,
    pub position_id: Option<i64>,
    pub strategy_id: Option<i64>,
    pub signal_id: Option<i64>,
    pub account_id: i64,
    pub exchange: String,
    pub venue_order_id: Option<String>,
    pub client_order_id: ClientOrderId,
    pub leg: OrderLeg,
    /// The venue's spelling.
    pub symbol: String,
    pub side: OrderSide,
    pub order_type: OrderType,
    pub price: Option<Decimal>,
    pub trigger_price: Option<Decimal>,
    /// Base asset; zero for close-all protective orders.
    pub quantity: Decimal,
    pub filled_qty: Decimal,
    pub avg_fill_price: Option<Decimal>,
    pub fee: Decimal,
    pub fee_asset: Option<String>,
    pub reduce_only: bool,
    pub status: OrderStatus,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub filled_at: Option<DateTime<Utc>>,
}

/// One position, as it stands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PositionRecord {
    pub id: i64,
    pub user_id: i64,
    pub strategy_id: Option<i64>,
    pub account_id: i64,
    pub exchange: String,
    /// Canonical (`BTCUSDT`).
    pub symbol: String,
    pub side: PositionSide,
    pub entry_price: Decimal,
    pub quantity: Decimal,
    pub leverage: u32,
    pub margin_mode: MarginMode,
    pub stop_loss: Option<Decimal>,
    pub take_profit: Option<Decimal>,
    pub liquidation_price: Option<Decimal>,
    pub realized_pnl: Decimal,
    pub fees: Decimal,
    pub exit_price: Option<Decimal>,
    pub close_reason: Option<String>,
    pub status: PositionStatus,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// The take-profit ladder's targets (empty with one take-profit).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetState>,
}

/// One target of a position's ladder, as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetState {
    /// 1-based, in the order the price reaches them.
    pub target: u8,
    pub price: Decimal,
    /// % of the position it closes.
    pub size_pct: Decimal,
    /// `pending` (not on the venue yet), `resting` or `filled`.
    pub state: String,
}

/// Something a trader must hear about at once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RiskAlert {
    pub user_id: i64,
    /// `rule` for refused entries; `protection_failed`, `position_adopted`,
    /// `position_closed_externally`, `emergency_close`, … otherwise.
    pub kind: String,
    pub rule: Option<RiskRule>,
    pub message: String,
    pub position_id: Option<i64>,
}

/// A security event on the user's account (from the audit trail), after
/// their alert settings allowed it.
#[derive(Debug, Clone, Serialize)]
pub struct SecurityAlert {
    pub user_id: i64,
    /// An `AlertKind` code: `new_login`, `password_changed`, …
    pub kind: &'static str,
    /// Critical alerts cannot be switched off.
    pub critical: bool,
    pub title: String,
    /// The full text, title first.
    pub message: String,
    pub ip: Option<String>,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// An exchange account's balances changed (the refresher read new ones).
#[derive(Debug, Clone, Serialize)]
pub struct AccountBalances {
    pub user_id: i64,
    pub account_id: i64,
    pub exchange: String,
    /// USDT: deposited plus realized.
    pub wallet: Decimal,
    pub available: Decimal,
    pub unrealized_pnl: Decimal,
    pub at: DateTime<Utc>,
}

/// The AI watch's advice on an open position (close, reduce or reverse),
/// sent when it is at least as confident as the user asked for.
#[derive(Debug, Clone, Serialize)]
pub struct AiAdvice {
    pub user_id: i64,
    pub position_id: i64,
    pub strategy_id: Option<i64>,
    pub symbol: String,
    /// `LONG` or `SHORT`.
    pub side: String,
    /// `close`, `reduce` or `reverse`.
    pub action: String,
    pub confidence: f64,
    pub reason: String,
    /// The sources that agreed (`technical`, `openai`, `anthropic`).
    pub sources: Vec<String>,
    /// The strategy let the watch close it, and a close was started.
    pub auto_closed: bool,
}

/// An open position valued at the latest mark, as the monitor sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PositionValue {
    pub user_id: i64,
    pub position_id: i64,
    pub account_id: i64,
    pub strategy_id: Option<i64>,
    pub exchange: String,
    /// Canonical (`BTCUSDT`).
    pub symbol: String,
    pub side: PositionSide,
    pub entry_price: Decimal,
    pub quantity: Decimal,
    pub leverage: u32,
    pub current_price: Decimal,
    pub unrealized_pnl: Decimal,
    /// Return on margin, percent: the seed's `pnl_percentage`.
    pub pnl_percentage: Decimal,
    /// Return on notional (the price move), percent.
    pub roi_pct: Decimal,
    pub liquidation_price: Option<Decimal>,
    pub stop_loss: Option<Decimal>,
    pub take_profit: Option<Decimal>,
    pub distance_to_sl_pct: Option<Decimal>,
    pub distance_to_tp_pct: Option<Decimal>,
    pub at: DateTime<Utc>,
}

/// A position's PnL reached another ±step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PnlStep {
    pub user_id: i64,
    pub position_id: i64,
    pub symbol: String,
    pub side: PositionSide,
    /// …, −2, −1, 1, 2, … steps of `step_pct`.
    pub step: i64,
    pub step_pct: Decimal,
    pub pnl_percentage: Decimal,
    pub unrealized_pnl: Decimal,
    pub current_price: Decimal,
}

/// A venue's mark price for a symbol (public: every user may see it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriceTick {
    pub exchange: String,
    /// Canonical (`BTCUSDT`).
    pub symbol: String,
    pub price: Decimal,
    pub at: DateTime<Utc>,
}

/// What happened, as a fact of the trading domain. An order or position
/// fact carries the whole record as it stands after it, so a subscriber never
/// looks anything up; which fact it is says what changed, so no subscriber
/// has to infer it from a status (and a position's protection being placed
/// is not announced as another opening). The persist actor turns the durable
/// facts into rows.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Event {
    Signal(SignalRecord),
    /// Recorded before it is sent: the record exists even if the process
    /// dies with the order in flight.
    OrderPlaced(OrderRecord),
    /// One of ours resting on (or filled by) the venue that the store did not
    /// know: its record was lost with a process.
    OrderFound(OrderRecord),
    /// The venue accepted, part-filled, cancelled or expired it, or its
    /// outcome became unknown.
    OrderUpdated(OrderRecord),
    /// Filled completely; told once per order.
    OrderFilled(OrderRecord),
    /// The venue refused it.
    OrderRejected(OrderRecord),
    /// Its entry filled, or the venue holds a position of ours the store did
    /// not know (adopted). Told once per position.
    PositionOpened(PositionRecord),
    /// Its stop-loss and take-profit, as they now rest on the venue.
    PositionProtected(PositionRecord),
    /// A target of its ladder filled: what remains, and what it realized.
    PositionReduced(PositionRecord),
    /// Closed, with its exit, realized PnL and reason.
    PositionClosed(PositionRecord),
    /// The risk state to keep across restarts.
    RiskState {
        user_id: i64,
        ledger: RiskLedger,
    },
    RiskAlert(RiskAlert),
    /// Live only (never persisted): the monitor's valuation.
    PositionValue(PositionValue),
    /// Live only.
    PnlStep(PnlStep),
    /// Live only; no owner.
    Price(PriceTick),
    /// Live only.
    AiRecommendation(AiAdvice),
    /// Live only.
    AccountUpdate(AccountBalances),
    /// Live only (the audit log holds the event itself).
    SecurityAlert(SecurityAlert),
    /// Live only: a UTC day ended and its performance rows are written.
    DayEnded {
        date: chrono::NaiveDate,
    },
}

impl Event {
    /// The fact an order record's change is: `before` is its status before
    /// the change (`None` for a record just made).
    pub fn for_order(before: Option<OrderStatus>, order: OrderRecord) -> Self {
        match (before, order.status) {
            (Some(OrderStatus::Filled), _) => Event::OrderUpdated(order),
            (_, OrderStatus::Filled) => Event::OrderFilled(order),
            (Some(OrderStatus::Rejected), _) => Event::OrderUpdated(order),
            (_, OrderStatus::Rejected) => Event::OrderRejected(order),
            _ => Event::OrderUpdated(order),
        }
    }

    /// The order record, whichever fact it is.
    pub fn order(&self) -> Option<&OrderRecord> {
        match self {
            Event::OrderPlaced(o)
            | Event::OrderFound(o)
            | Event::OrderUpdated(o)
            | Event::OrderFilled(o)
            | Event::OrderRejected(o) => Some(o),
            _ => None,
        }
    }

    /// The position record, whichever fact it is.
    pub fn position(&self) -> Option<&PositionRecord> {
        match self {
            Event::PositionOpened(p)
            | Event::PositionProtected(p)
            | Event::PositionReduced(p)
            | Event::PositionClosed(p) => Some(p),
            _ => None,
        }
    }

    /// The user the event belongs to, for per-user fan-out.
    pub fn user_id(&self) -> Option<i64> {
        if let Some(o) = self.order() {
            return Some(o.user_id);
        }
        if let Some(p) = self.position() {
            return Some(p.user_id);
        }
        match self {
            Event::Signal(s) => s.user_id,
            Event::RiskState { user_id, .. } => Some(*user_id),
            Event::RiskAlert(a) => Some(a.user_id),
            Event::PositionValue(v) => Some(v.user_id),
            Event::PnlStep(s) => Some(s.user_id),
            Event::AiRecommendation(a) => Some(a.user_id),
            Event::AccountUpdate(a) => Some(a.user_id),
            Event::SecurityAlert(a) => Some(a.user_id),
            _ => None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn order(status: crate::store::enums::OrderStatus) -> OrderRecord {
        use crate::store::enums::{OrderLeg, OrderSide, OrderType};
        let now = chrono::Utc::now();
        OrderRecord {
            id: 9,
            user_id: 1,
            position_id: Some(4),
            strategy_id: Some(2),
            signal_id: Some(1),
            account_id: 3,
            exchange: "binance".into(),
            venue_order_id: Some("77".into()),
            client_order_id: ClientOrderId::derive(2, 1, tradingbot_core::exchange::Leg::Entry),
            leg: OrderLeg::Entry,
            symbol: "BTCUSDT".into(),
            side: OrderSide::Buy,
            order_type: OrderType::Market,
            price: None,
            trigger_price: None,
            quantity: rust_decimal::Decimal::new(5, 3),
            filled_qty: rust_decimal::Decimal::new(5, 3),
            avg_fill_price: Some(rust_decimal::Decimal::new(4300012, 2)),
            fee: rust_decimal::Decimal::ZERO,
            fee_asset: None,
            reduce_only: false,
            status,
            error_code: None,
            error_message: None,
            created_at: now,
            updated_at: now,
            filled_at: Some(now),
        }
    }

    #[test]
    fn an_order_is_told_filled_or_rejected_once() {
        use OrderStatus::*;
        let fact = |before, now| match Event::for_order(before, order(now)) {
            Event::OrderFilled(_) => "filled",
            Event::OrderRejected(_) => "rejected",
            Event::OrderUpdated(_) => "updated",
            _ => "other",
        };
        assert_eq!(fact(Some(Pending), Filled), "filled");
        assert_eq!(fact(Some(New), Filled), "filled");
        assert_eq!(fact(Some(PartiallyFilled), Filled), "filled");
        // A late fee or a repeated report of a filled order.
        assert_eq!(fact(Some(Filled), Filled), "updated");
        assert_eq!(fact(Some(Pending), Rejected), "rejected");
        assert_eq!(fact(Some(Rejected), Rejected), "updated");
        assert_eq!(fact(Some(Pending), New), "updated");
        assert_eq!(fact(Some(New), Canceled), "updated");
        assert_eq!(fact(Some(Pending), Unknown), "updated");
    }
}
