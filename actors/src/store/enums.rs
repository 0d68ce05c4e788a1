//! The closed sets of values that columns hold, as Rust enums.
//!
//! The strings are the seed's (`LONG`/`SHORT`, `OPEN`/`CLOSED`) or the
//! exchanges' (`BUY`/`SELL`, `STOP_MARKET`), so rows read the same in SQL as
//! in the API.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[sea_orm(string_value = "user")]
    User,
    #[sea_orm(string_value = "admin")]
    Admin,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "lowercase")]
pub enum Exchange {
    #[sea_orm(string_value = "binance")]
    Binance,
    #[sea_orm(string_value = "okx")]
    Okx,
    #[sea_orm(string_value = "paper")]
    Paper,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "lowercase")]
pub enum MarginMode {
    #[sea_orm(string_value = "isolated")]
    Isolated,
    #[sea_orm(string_value = "cross")]
    Cross,
}

/// What an opposite signal does while a position is open.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "lowercase")]
pub enum OppositeSignal {
    /// Close the position and open the other side.
    #[sea_orm(string_value = "reverse")]
    Reverse,
    /// Close the position only.
    #[sea_orm(string_value = "close")]
    Close,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(10))")]
#[serde(rename_all = "UPPERCASE")]
pub enum PositionSide {
    #[sea_orm(string_value = "LONG")]
    Long,
    #[sea_orm(string_value = "SHORT")]
    Short,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
#[serde(rename_all = "UPPERCASE")]
pub enum PositionStatus {
    #[sea_orm(string_value = "OPEN")]
    Open,
    #[sea_orm(string_value = "CLOSED")]
    Closed,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(10))")]
#[serde(rename_all = "UPPERCASE")]
pub enum OrderSide {
    #[sea_orm(string_value = "BUY")]
    Buy,
    #[sea_orm(string_value = "SELL")]
    Sell,
}

/// Which part of a trade an order is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum OrderLeg {
    #[sea_orm(string_value = "entry")]
    Entry,
    #[sea_orm(string_value = "stop_loss")]
    StopLoss,
    #[sea_orm(string_value = "take_profit")]
    TakeProfit,
    #[sea_orm(string_value = "close")]
    Close,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderType {
    #[sea_orm(string_value = "MARKET")]
    Market,
    #[sea_orm(string_value = "LIMIT")]
    Limit,
    #[sea_orm(string_value = "STOP_MARKET")]
    StopMarket,
    #[sea_orm(string_value = "TAKE_PROFIT_MARKET")]
    TakeProfitMarket,
    #[sea_orm(string_value = "TRAILING_STOP_MARKET")]
    TrailingStopMarket,
}

/// Life cycle of an order. `Pending` is ours: recorded, not yet acknowledged
/// by the exchange. `Unknown` means a send whose outcome could not be learnt
/// (timeout, 5xx) and must be resolved by querying, never by re-sending.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    #[sea_orm(string_value = "PENDING")]
    Pending,
    #[sea_orm(string_value = "NEW")]
    New,
    #[sea_orm(string_value = "PARTIALLY_FILLED")]
    PartiallyFilled,
    #[sea_orm(string_value = "FILLED")]
    Filled,
    #[sea_orm(string_value = "CANCELED")]
    Canceled,
    #[sea_orm(string_value = "REJECTED")]
    Rejected,
    #[sea_orm(string_value = "EXPIRED")]
    Expired,
    #[sea_orm(string_value = "UNKNOWN")]
    Unknown,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "lowercase")]
pub enum SignalOutcome {
    #[sea_orm(string_value = "accepted")]
    Accepted,
    #[sea_orm(string_value = "rejected")]
    Rejected,
    #[sea_orm(string_value = "duplicate")]
    Duplicate,
}

impl SignalOutcome {
    /// The metric label (and stored string).
    pub fn as_label(self) -> &'static str {
        match self {
            SignalOutcome::Accepted => "accepted",
            SignalOutcome::Rejected => "rejected",
            SignalOutcome::Duplicate => "duplicate",
        }
    }
}

impl OrderStatus {
    /// The metric label (and stored string).
    pub fn as_label(self) -> &'static str {
        match self {
            OrderStatus::Pending => "PENDING",
            OrderStatus::New => "NEW",
            OrderStatus::PartiallyFilled => "PARTIALLY_FILLED",
            OrderStatus::Filled => "FILLED",
            OrderStatus::Canceled => "CANCELED",
            OrderStatus::Rejected => "REJECTED",
            OrderStatus::Expired => "EXPIRED",
            OrderStatus::Unknown => "UNKNOWN",
        }
    }

    /// Nothing more will happen to the order.
    pub fn is_final_db(self) -> bool {
        matches!(
            self,
            OrderStatus::Filled
                | OrderStatus::Canceled
                | OrderStatus::Rejected
                | OrderStatus::Expired
        )
    }

    /// From the venue-neutral status of a report.
    pub fn from_report(s: tradingbot_core::exchange::OrderStatus) -> Self {
        use tradingbot_core::exchange::OrderStatus as S;
        match s {
            S::New | S::Triggered => OrderStatus::New,
            S::PartiallyFilled => OrderStatus::PartiallyFilled,
            S::Filled => OrderStatus::Filled,
            S::Canceled => OrderStatus::Canceled,
            S::Rejected => OrderStatus::Rejected,
            S::Expired => OrderStatus::Expired,
        }
    }
}

/// Between the columns and the domain: each pair converts in one place,
/// so no caller matches variant by variant.
mod domain {
    use super::{Exchange, MarginMode, OppositeSignal, PositionSide};
    use tradingbot_core::exchange::types as core;
    use tradingbot_core::strategy;

    macro_rules! both_ways {
        ($db:ident, $dom:ty, $($v:ident),+) => {
            impl From<$db> for $dom {
                fn from(v: $db) -> Self {
                    match v { $($db::$v => Self::$v),+ }
                }
            }
            impl From<$dom> for $db {
                fn from(v: $dom) -> Self {
                    match v { $(<$dom>::$v => Self::$v),+ }
                }
            }
        };
    }

    both_ways!(PositionSide, core::PositionSide, Long, Short);
    both_ways!(MarginMode, core::MarginMode, Isolated, Cross);
    both_ways!(Exchange, core::Venue, Binance, Okx, Paper);
    both_ways!(OppositeSignal, strategy::OppositeSignal, Reverse, Close);

    impl Exchange {
        /// `binance`, `okx` or `paper`: the column's value.
        pub fn as_str(self) -> &'static str {
            core::Venue::from(self).as_str()
        }
    }
}
