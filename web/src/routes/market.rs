//! `GET /api/v1/market/{symbol}/candles`: OHLCV for the dashboard's price
//! chart, from the venue's public klines (cached), or the bundled BTCUSDT
//! daily candles offline.

use crate::auth::AuthUser;
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tradingbot_actors::market_data::Origin;
use tradingbot_core::symbol::Symbol;
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CandlesQuery {
    /// 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d; default 1h.
    #[param(value_type = Option<crate::routes::params::CandleIntervalParam>, inline)]
    pub interval: Option<String>,
    /// Candles opening at or after: a day (`2026-11-24`), an RFC 3339
    /// instant or Unix milliseconds. With it, candles run forward from
    /// here; without it, the most recent ones are given.
    pub from: Option<String>,
    /// Candles opening at or before (same forms; a day includes itself).
    pub to: Option<String>,
    /// 1–1500; default 500.
    #[param(minimum = 1, maximum = 1500)]
    pub limit: Option<usize>,
}

/// One candle. Prices are the venue's, as numbers.
#[derive(Serialize, ToSchema)]
pub struct CandleView {
    /// Open time, Unix milliseconds (what chart libraries take).
    pub time: i64,
    /// Open time, RFC 3339.
    pub open_time: String,
    #[serde(with = "rust_decimal::serde::float")]
    #[schema(value_type = f64)]
    pub open: Decimal,
    #[serde(with = "rust_decimal::serde::float")]
    #[schema(value_type = f64)]
    pub high: Decimal,
    #[serde(with = "rust_decimal::serde::float")]
    #[schema(value_type = f64)]
    pub low: Decimal,
    #[serde(with = "rust_decimal::serde::float")]
    #[schema(value_type = f64)]
    pub close: Decimal,
    /// Base-asset volume.
    #[serde(with = "rust_decimal::serde::float")]
    #[schema(value_type = f64)]
    pub volume: Decimal,
    /// `false` for the candle still forming (its close is the last price).
    pub closed: bool,
}

#[derive(Serialize, ToSchema)]
pub struct CandlesView {
    pub symbol: String,
    pub interval: String,
    /// `binance` (public klines) or `bundled` (offline: BTCUSDT 1d only).
    pub source: String,
    /// Oldest first.
    pub candles: Vec<CandleView>,
}

/// A day, an RFC 3339 instant or Unix milliseconds.
fn instant_ms(field: &str, raw: &str, end_of_day: bool) -> Result<i64, ApiError> {
    let raw = raw.trim();
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        return raw
            .parse::<i64>()
            .map_err(|_| ApiError::invalid(field, "Unix milliseconds out of range"));
    }
    if let Ok(d) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        let start = d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        let ms = start.timestamp_millis();
        return Ok(if end_of_day { ms + 86_400_000 - 1 } else { ms });
    }
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc).timestamp_millis())
        .map_err(|_| {
            ApiError::invalid(
                field,
                "a date (2026-11-24), an RFC 3339 instant or Unix milliseconds",
            )
        })
}

/// Candles for a price chart
///
/// OHLCV of any symbol the venues list (`BTCUSDT`, `BTCUSDT.P`,
/// `BTC-USDT-SWAP`: any spelling), newest possibly still forming
/// (`closed: false`); live prices then come over the websocket's `prices`
/// channel. Offline only BTCUSDT at 1d is served, from the bundled data.
#[utoipa::path(get, path = "/api/v1/market/{symbol}/candles", tag = "market",
    security(("bearer" = [])),
    params(("symbol" = String, Path), CandlesQuery),
    responses((status = 200, body = CandlesView),
        (status = 401, description = "`unauthorized`", body = crate::problem::Problem),
        (status = 404, description = "`unknown_symbol`: the venue does not list it", body = crate::problem::Problem),
        (status = 422, description = "`validation_failed`: symbol, interval, from, to or limit (named)", body = crate::problem::Problem),
        (status = 503, description = "`market_data_unavailable`: the venue cannot be reached and nothing is bundled for it", body = crate::problem::Problem)))]
pub async fn candles(
    state: web::Data<AppState>,
    _user: AuthUser,
    symbol: web::Path<String>,
    q: web::Query<CandlesQuery>,
) -> Result<HttpResponse, ApiError> {
    let symbol = Symbol::parse(&symbol)
        .map_err(|e| ApiError::invalid("symbol", e.to_string()))?
        .as_str()
        .to_owned();
    let interval = q.interval.clone().unwrap_or_else(|| "1h".into());
    if tradingbot_actors::candles::interval_ms(&interval).is_none() {
        return Err(ApiError::invalid(
            "interval",
            "one of 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d",
        ));
    }
    let limit = q.limit.unwrap_or(500);
    if !(1..=1500).contains(&limit) {
        return Err(ApiError::invalid("limit", "1 to 1500 candles"));
    }
    let from = q
        .from
        .as_deref()
        .map(|s| instant_ms("from", s, false))
        .transpose()?;
    let to =
        q.to.as_deref()
            .map(|s| instant_ms("to", s, true))
            .transpose()?;
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(ApiError::invalid("to", "must not come before `from`"));
    }
    let chart = state
        .market_data
        .chart(&symbol, &interval, from, to, limit)
        .await?;
    let candles = chart
        .candles
        .iter()
        .map(|(c, closed)| CandleView {
            time: c.time_ms,
            open_time: DateTime::from_timestamp_millis(c.time_ms)
                .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_default(),
            open: c.open,
            high: c.high,
            low: c.low,
            close: c.close,
            volume: c.volume,
            closed: *closed,
        })
        .collect();
    Ok(HttpResponse::Ok().json(CandlesView {
        symbol,
        interval,
        source: match chart.origin {
            Origin::Binance => "binance",
            Origin::Bundled => "bundled",
        }
        .into(),
        candles,
    }))
}
