//! The closed sets of values that query parameters and body fields take,
//! as the document (and the typed client) shows them. Handlers read these
//! values as text and refuse anything else with `validation_failed` naming
//! the field, so these types exist for the document only.

use serde::Serialize;
use utoipa::ToSchema;

/// A position's side.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SideParam {
    Long,
    Short,
}

/// Where an account trades.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExchangeParam {
    Binance,
    Okx,
    Paper,
}

/// Why a position was closed.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CloseReasonParam {
    StopLoss,
    TakeProfit,
    TrailingStop,
    Signal,
    Reversal,
    Manual,
    Emergency,
    Liquidation,
    ClosedExternally,
}

/// How a strategy's entries go to the exchange.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderTypeParam {
    Market,
    Limit,
}

/// What a limit entry not filled in time becomes.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LimitFallbackParam {
    Cancel,
    Market,
}

/// The order of the closed positions.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HistorySortParam {
    ClosedAtDesc,
    ClosedAtAsc,
    PnlDesc,
    PnlAsc,
}

/// What became of a received signal.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignalOutcomeParam {
    Accepted,
    Rejected,
    Duplicate,
}

/// A notification's kind.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKindParam {
    PnlAlert,
    RiskAlert,
    AiRecommendation,
    SecurityAlert,
}

/// The spacing of the asset chart's points.
#[derive(Serialize, ToSchema)]
pub enum EquityIntervalParam {
    #[serde(rename = "1h")]
    Hour,
    #[serde(rename = "4h")]
    FourHours,
    #[serde(rename = "1d")]
    Day,
}

/// A candle's interval.
#[derive(Serialize, ToSchema)]
pub enum CandleIntervalParam {
    #[serde(rename = "1m")]
    M1,
    #[serde(rename = "3m")]
    M3,
    #[serde(rename = "5m")]
    M5,
    #[serde(rename = "15m")]
    M15,
    #[serde(rename = "30m")]
    M30,
    #[serde(rename = "1h")]
    H1,
    #[serde(rename = "2h")]
    H2,
    #[serde(rename = "4h")]
    H4,
    #[serde(rename = "6h")]
    H6,
    #[serde(rename = "8h")]
    H8,
    #[serde(rename = "12h")]
    H12,
    #[serde(rename = "1d")]
    D1,
}

/// How a position's margin is held.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MarginModeParam {
    Isolated,
    Cross,
}

/// What a strategy sizes its entries by.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SizingModeParam {
    InvestmentPct,
    RiskPct,
    FixedUsdt,
    FixedQty,
}

/// What an opposite signal does to an open position.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OppositeSignalParam {
    Reverse,
    Close,
}

/// A strategy template.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IndicatorParam {
    EmaCrossover,
    RsiReversal,
    MacdCross,
    Bollinger,
    Supertrend,
    Custom,
}
