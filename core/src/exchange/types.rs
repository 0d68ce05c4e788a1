//! The vocabulary every venue is translated to and from.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;

use super::ClientOrderId;

/// A trading venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Venue {
    Binance,
    Okx,
    Paper,
}

impl Venue {
    pub fn as_str(self) -> &'static str {
        match self {
            Venue::Binance => "binance",
            Venue::Okx => "okx",
            Venue::Paper => "paper",
        }
    }
}

impl fmt::Display for Venue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which network of a venue: real money, or the venue's test environment
/// (Binance testnet, OKX demo trading).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    Live,
    Test,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn opposite(self) -> Self {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }
}

/// The direction of a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum PositionSide {
    Long,
    Short,
}

impl PositionSide {
    /// `long` or `short`, as the API and the intents spell it.
    pub fn name(self) -> &'static str {
        match self {
            PositionSide::Long => "long",
            PositionSide::Short => "short",
        }
    }

    /// The order side that opens this position.
    pub fn entry_side(self) -> Side {
        match self {
            PositionSide::Long => Side::Buy,
            PositionSide::Short => Side::Sell,
        }
    }

    /// The order side that reduces or closes it.
    pub fn exit_side(self) -> Side {
        self.entry_side().opposite()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MarginMode {
    Isolated,
    Cross,
}

/// Which price a conditional order watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TriggerPrice {
    /// The mark price: immune to a single thin-book print, which is why
    /// protective stops use it.
    Mark,
    /// The last traded price.
    Last,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TimeInForce {
    Gtc,
    Ioc,
    Fok,
    /// Post-only.
    Gtx,
}

/// What kind of order, with the prices its kind needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderKind {
    Market,
    Limit {
        price: Decimal,
        tif: TimeInForce,
    },
    /// A stop-loss: a market order once `trigger` is crossed.
    StopMarket {
        trigger: Decimal,
        trigger_by: TriggerPrice,
    },
    /// A take-profit: a market order once `trigger` is reached.
    TakeProfitMarket {
        trigger: Decimal,
        trigger_by: TriggerPrice,
    },
    /// A trailing stop following the price by `callback_pct` percent.
    TrailingStopMarket {
        callback_pct: Decimal,
        activation: Option<Decimal>,
        trigger_by: TriggerPrice,
    },
}

impl OrderKind {
    /// Conditional orders rest on the venue until triggered (on Binance they
    /// go to the Algo Order API).
    pub fn is_conditional(&self) -> bool {
        matches!(
            self,
            OrderKind::StopMarket { .. }
                | OrderKind::TakeProfitMarket { .. }
                | OrderKind::TrailingStopMarket { .. }
        )
    }
}

/// How much an order is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderSize {
    /// In the base asset (BTC for BTCUSDT). Venues that trade contracts
    /// convert with the instrument's contract value.
    Base(Decimal),
    /// Whatever the position is when the order triggers (close-all stops).
    ClosePosition,
}

/// Stop-loss and take-profit attached to an entry, placed by the venue
/// itself when the entry fills (OKX `attachAlgoOrds`). Venues without it
/// get separate protective orders after the fill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachedProtection {
    pub client_id: ClientOrderId,
    pub stop_loss: Option<Decimal>,
    pub take_profit: Option<Decimal>,
    pub trigger_by: TriggerPrice,
}

/// An order as the execution core asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRequest {
    pub client_id: ClientOrderId,
    /// The venue's symbol (`BTCUSDT`, `BTC-USDT-SWAP`).
    pub symbol: String,
    pub side: Side,
    pub kind: OrderKind,
    pub size: OrderSize,
    /// Only ever shrink a position (closing and protective orders).
    pub reduce_only: bool,
    /// Protection the venue attaches to this entry, where it can.
    pub attach: Option<AttachedProtection>,
}

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderStatus {
    /// Resting (a conditional order waiting for its trigger included).
    New,
    PartiallyFilled,
    Filled,
    Canceled,
    Rejected,
    Expired,
    /// A conditional order whose trigger fired and became a market order.
    Triggered,
}

impl OrderStatus {
    /// Nothing more will happen to the order.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            OrderStatus::Filled
                | OrderStatus::Canceled
                | OrderStatus::Rejected
                | OrderStatus::Expired
        )
    }
}

/// What the venue says about one order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderReport {
    pub client_id: String,
    pub venue_order_id: String,
    pub symbol: String,
    pub side: Side,
    pub status: OrderStatus,
    /// Ordered quantity in the base asset (zero for close-all orders).
    pub quantity: Decimal,
    /// Filled quantity in the base asset.
    pub filled: Decimal,
    pub avg_price: Option<Decimal>,
    /// Fees paid on fills, in `fee_asset`, when the venue reports them.
    pub fee: Option<Decimal>,
    pub fee_asset: Option<String>,
    /// Conditional orders: the venue order their trigger created.
    pub triggered_order_id: Option<String>,
    pub updated_ms: i64,
}

/// Margin balance of one asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    pub asset: String,
    /// Deposited plus realized PnL.
    pub wallet: Decimal,
    /// What new positions may use.
    pub available: Decimal,
    pub unrealized_pnl: Decimal,
}

impl Balance {
    /// Wallet plus unrealized PnL.
    pub fn equity(&self) -> Decimal {
        self.wallet + self.unrealized_pnl
    }
}

/// One open position as the venue reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionReport {
    pub symbol: String,
    pub side: PositionSide,
    /// Size in the base asset, positive.
    pub quantity: Decimal,
    pub entry_price: Decimal,
    pub mark_price: Option<Decimal>,
    pub unrealized_pnl: Decimal,
    pub leverage: Option<u32>,
    pub margin_mode: Option<MarginMode>,
    pub liquidation_price: Option<Decimal>,
}

/// What a key is allowed to do, as far as the venue tells.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPermissions {
    pub can_trade: bool,
    /// `Some(true)` deserves a loud warning: a trading bot never needs it.
    pub can_withdraw: Option<bool>,
    /// Whether the key only works from listed addresses, when the venue says.
    pub ip_restricted: Option<bool>,
    /// The venue's account identifier, when it gives one.
    pub account_id: Option<String>,
}
