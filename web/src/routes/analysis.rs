//! `/api/v1/analysis/{symbol}/…`: chart patterns, volume profile, fractal
//! measures and the recommendation, computed by `core::analysis` on recent
//! candles (Binance public klines, or the bundled BTCUSDT daily candles
//! offline).

use crate::auth::AuthUser;
use crate::problem::{ApiError, FieldError};
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use tradingbot_actors::market_data::{Candles, MarketDataError};
use tradingbot_core::analysis::{self, Analysis, Settings};
use tradingbot_core::exchange::types::PositionSide;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisQuery {
    /// 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d; default 1d.
    pub timeframe: Option<String>,
    /// Closed candles to analyse, 50–1499; default 500.
    pub limit: Option<usize>,
    /// Volume profile: number of price bins (5–500, default 50).
    pub bins: Option<usize>,
    /// Volume profile: price width of a bin instead of a count (at most
    /// 10,000 bins result).
    pub bin_width: Option<f64>,
    /// Volume profile: share of volume in the value area (0.5–0.95, default 0.7).
    pub value_area: Option<f64>,
    /// Recommendation: the position to advise on, `long` or `short`.
    pub side: Option<String>,
}

impl From<MarketDataError> for ApiError {
    fn from(e: MarketDataError) -> Self {
        match e {
            MarketDataError::UnknownSymbol(_) => ApiError::Other {
                status: 404,
                code: "unknown_symbol".into(),
                detail: format!("{e}."),
                extensions: serde_json::Map::new(),
            },
            MarketDataError::Invalid(m) => ApiError::invalid("timeframe", m),
            MarketDataError::Unavailable { .. } => ApiError::Other {
                status: 503,
                code: "market_data_unavailable".into(),
                detail: format!("{e}."),
                extensions: serde_json::Map::new(),
            },
        }
    }
}

/// The symbol, timeframe and candles a request is about.
pub struct Subject {
    pub symbol: String,
    pub timeframe: String,
    pub candles: Candles,
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

impl Subject {
    /// The part every answer starts with.
    pub fn header(&self) -> serde_json::Map<String, Value> {
        let bars = &self.candles.bars;
        let mut m = serde_json::Map::new();
        m.insert("symbol".into(), self.symbol.clone().into());
        m.insert("timeframe".into(), self.timeframe.clone().into());
        m.insert("source".into(), json!(self.candles.origin));
        m.insert("bars".into(), bars.len().into());
        m.insert("from".into(), bars.first().map(|b| iso(b.time_ms)).into());
        m.insert("to".into(), bars.last().map(|b| iso(b.time_ms)).into());
        m.insert("last_close".into(), bars.last().map(|b| b.close).into());
        m
    }
}

pub async fn subject(
    state: &AppState,
    symbol: &str,
    q: &AnalysisQuery,
) -> Result<Subject, ApiError> {
    let symbol = tradingbot_core::symbol::Symbol::parse(symbol)
        .map_err(|e| ApiError::invalid("symbol", e.to_string()))?
        .as_str()
        .to_owned();
    let timeframe = q.timeframe.clone().unwrap_or_else(|| "1d".into());
    let limit = q.limit.unwrap_or(500);
    if !(50..=1499).contains(&limit) {
        return Err(ApiError::invalid("limit", "50 to 1499 candles"));
    }
    let candles = state
        .market_data
        .candles(&symbol, &timeframe, limit)
        .await?;
    if candles.bars.len() < 50 {
        return Err(ApiError::Other {
            status: 503,
            code: "market_data_unavailable".into(),
            detail: format!(
                "only {} closed candles of {symbol} at {timeframe}; analysis needs 50",
                candles.bars.len()
            ),
            extensions: serde_json::Map::new(),
        });
    }
    Ok(Subject {
        symbol,
        timeframe,
        candles,
    })
}

/// The request's candles and their analysis, computed off the async
/// workers.
async fn analysed(
    state: &AppState,
    symbol: &str,
    q: &AnalysisQuery,
) -> Result<(Subject, Analysis), ApiError> {
    let settings = settings(q)?;
    let s = subject(state, symbol, q).await?;
    let bars = s.candles.bars.clone();
    let a = web::block(move || analysis::analyse(&bars, &settings))
        .await
        .map_err(ApiError::internal)?;
    Ok((s, a))
}

fn settings(q: &AnalysisQuery) -> Result<Settings, ApiError> {
    let mut s = Settings::default();
    if let Some(b) = q.bins {
        if !(5..=500).contains(&b) {
            return Err(ApiError::invalid("bins", "5 to 500 price bins"));
        }
        s.profile_bins = b;
    }
    if let Some(w) = q.bin_width {
        if q.bins.is_some() {
            return Err(ApiError::invalid(
                "bin_width",
                "give `bins` or `bin_width`, not both",
            ));
        }
        if !(w.is_finite() && w > 0.0) {
            return Err(ApiError::invalid("bin_width", "a positive price width"));
        }
        s.profile_bin_width = Some(w);
    }
    if let Some(v) = q.value_area {
        if !(0.5..=0.95).contains(&v) {
            return Err(ApiError::invalid("value_area", "a share from 0.5 to 0.95"));
        }
        s.value_area = v;
    }
    Ok(s)
}

type Query = web::Query<AnalysisQuery>;

/// Chart patterns
///
/// Pivots (zig-zag at 2 ATR), support and resistance levels with touches
/// and strength, trendlines with their breaks, double tops/bottoms and
/// (inverse) head and shoulders with neckline, confirmation and confidence.
#[utoipa::path(get, path = "/api/v1/analysis/{symbol}/patterns", tag = "analysis",
    security(("bearer" = [])),
    params(("symbol" = String, Path), ("timeframe" = Option<String>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, description = "pivots, levels, trendlines, patterns"),
        (status = 404, description = "`unknown_symbol`"), (status = 422, description = "bad timeframe or limit"),
        (status = 503, description = "`market_data_unavailable`")))]
pub async fn patterns(
    state: web::Data<AppState>,
    _user: AuthUser,
    symbol: web::Path<String>,
    q: Query,
) -> Result<HttpResponse, ApiError> {
    let (s, a) = analysed(&state, &symbol, &q).await?;
    let mut out = s.header();
    out.insert("atr".into(), a.atr_now.into());
    out.insert("pivots".into(), json!(a.pivots));
    out.insert("levels".into(), json!(a.levels));
    out.insert("trendlines".into(), json!(a.trendlines));
    out.insert("patterns".into(), json!(a.patterns));
    Ok(HttpResponse::Ok().json(out))
}

/// Volume profile
///
/// Volume by price bins, point of control, value area (70 % by default,
/// grown from the POC two bins at a time), high/low volume nodes, and
/// volume spikes (z ≥ 3 over the previous 20 bars).
#[utoipa::path(get, path = "/api/v1/analysis/{symbol}/volume-profile", tag = "analysis",
    security(("bearer" = [])),
    params(("symbol" = String, Path), ("timeframe" = Option<String>, Query), ("limit" = Option<usize>, Query),
        ("bins" = Option<usize>, Query), ("bin_width" = Option<f64>, Query), ("value_area" = Option<f64>, Query)),
    responses((status = 200, description = "profile and spikes")))]
pub async fn volume_profile(
    state: web::Data<AppState>,
    _user: AuthUser,
    symbol: web::Path<String>,
    q: Query,
) -> Result<HttpResponse, ApiError> {
    let (s, a) = analysed(&state, &symbol, &q).await?;
    let mut out = s.header();
    out.insert("profile".into(), json!(a.profile));
    out.insert("spikes".into(), json!(a.spikes));
    Ok(HttpResponse::Ok().json(out))
}

/// Fractal analysis
///
/// Williams fractals, Hurst exponent (rescaled range, DFA), fractal
/// dimension (Higuchi, Katz), self-similarity across resampled timeframes
/// and the regime they point to.
#[utoipa::path(get, path = "/api/v1/analysis/{symbol}/fractal", tag = "analysis",
    security(("bearer" = [])),
    params(("symbol" = String, Path), ("timeframe" = Option<String>, Query), ("limit" = Option<usize>, Query)),
    responses((status = 200, description = "fractal measures and regime")))]
pub async fn fractal(
    state: web::Data<AppState>,
    _user: AuthUser,
    symbol: web::Path<String>,
    q: Query,
) -> Result<HttpResponse, ApiError> {
    let (s, a) = analysed(&state, &symbol, &q).await?;
    let mut out = s.header();
    out.insert("fractal".into(), json!(a.fractal));
    Ok(HttpResponse::Ok().json(out))
}

pub fn side_of(q: &AnalysisQuery) -> Result<Option<PositionSide>, ApiError> {
    match q.side.as_deref() {
        None => Ok(None),
        Some("long") => Ok(Some(PositionSide::Long)),
        Some("short") => Ok(Some(PositionSide::Short)),
        Some(_) => Err(ApiError::Validation(vec![FieldError::new(
            "side",
            "`long` or `short`",
        )])),
    }
}

/// Recommendation
///
/// The technical score (trend, momentum, MACD, Supertrend, confirmed
/// patterns, nearby levels) and, for a `side`, what to do with such a
/// position: `hold`, `close`, `reduce` or `reverse`, with confidence and
/// reasons. With AI keys configured, GPT and Claude vote too and `mode` is
/// `ensemble` (`agreed`/`disagreed` name the sources); without them, or
/// when they fail (`missing`), `technical_only`.
#[utoipa::path(get, path = "/api/v1/analysis/{symbol}/recommendation", tag = "analysis",
    security(("bearer" = [])),
    params(("symbol" = String, Path), ("timeframe" = Option<String>, Query), ("limit" = Option<usize>, Query),
        ("side" = Option<String>, Query)),
    responses((status = 200, description = "action, confidence, reasons, sources")))]
pub async fn recommendation(
    state: web::Data<AppState>,
    _user: AuthUser,
    symbol: web::Path<String>,
    q: Query,
) -> Result<HttpResponse, ApiError> {
    let side = side_of(&q)?;
    let (s, a) = analysed(&state, &symbol, &q).await?;
    let position = json!({ "side": q.side });
    let (technical, rec) = tradingbot_actors::advisor::recommend::recommend(
        &state.advisor,
        &s.symbol,
        &s.timeframe,
        &a,
        side,
        position,
    )
    .await;
    let mut out = s.header();
    out.insert("side".into(), json!(q.side));
    out.insert("action".into(), json!(rec.action));
    out.insert("confidence".into(), json!(rec.confidence));
    out.insert("mode".into(), json!(rec.mode));
    out.insert(
        "sources".into(),
        json!(rec.agreed.iter().chain(&rec.disagreed).collect::<Vec<_>>()),
    );
    out.insert("agreed".into(), json!(rec.agreed));
    out.insert("disagreed".into(), json!(rec.disagreed));
    out.insert("reasons".into(), json!(rec.reasons));
    out.insert("votes".into(), json!(rec.votes));
    out.insert("missing".into(), json!(rec.missing));
    out.insert("bias".into(), json!(technical.bias));
    out.insert("score".into(), json!(technical.score));
    out.insert("technical".into(), json!(technical));
    if side.is_none() && !state.advisor.providers().is_empty() {
        out.insert(
            "note".into(),
            json!("pass side=long or side=short to consult the AI advisors on a position"),
        );
    }
    Ok(HttpResponse::Ok().json(out))
}
