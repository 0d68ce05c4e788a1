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

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Event {
    Signal(SignalRecord),
    /// Inserted or updated by client order id.
    Order(OrderRecord),
    /// Inserted or updated by id.
    Position(PositionRecord),
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
    /// The user the event belongs to, for per-user fan-out.
    pub fn user_id(&self) -> Option<i64> {
        match self {
            Event::Signal(s) => s.user_id,
            Event::Order(o) => Some(o.user_id),
            Event::Position(p) => Some(p.user_id),
            Event::RiskState { user_id, .. } => Some(*user_id),
            Event::RiskAlert(a) => Some(a.user_id),
            Event::PositionValue(v) => Some(v.user_id),
            Event::PnlStep(s) => Some(s.user_id),
            Event::AiRecommendation(a) => Some(a.user_id),
            Event::AccountUpdate(a) => Some(a.user_id),
            Event::SecurityAlert(a) => Some(a.user_id),
            Event::Price(_) | Event::DayEnded { .. } => None,
        }
    }
}
