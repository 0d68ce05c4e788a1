//! `/api/v1/backtest`: a template (or a saved strategy's settings) run over
//! historical candles as a background job.

use crate::auth::AuthUser;
use crate::problem::{ApiError, FieldError};
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use rust_decimal::Decimal;
use serde::Deserialize;
use tradingbot_actors::backtests::{Source, Spec};
use tradingbot_backtest::engine::{Fill, Settings};
use tradingbot_core::lenient;
use tradingbot_core::templates;
use utoipa::ToSchema;

/// One target of a take-profit ladder (documentation of `tp_levels`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct LadderTarget {
    /// % from the entry, 0.1–100, each further than the one before.
    #[schema(minimum = 0.1, maximum = 100)]
    gain_pct: f64,
    /// % of the position, 1–100; the targets add up to 100.
    #[schema(minimum = 1, maximum = 100)]
    size_pct: f64,
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestRequest {
    /// Take the template, symbol, size, leverage and TP/SL from this saved
    /// strategy; fields given here override them.
    pub strategy_id: Option<i64>,
    /// The template (`ema_crossover`, `rsi_reversal`, `macd_cross`,
    /// `bollinger`, `supertrend`); default: the strategy's, or
    /// `ema_crossover`.
    #[serde(alias = "template_id")]
    pub indicator_id: Option<String>,
    /// Template parameters by name; missing ones take their defaults.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Default: the strategy's first symbol, or BTCUSDT.
    pub symbol: Option<String>,
    /// Candle interval, 1m to 1d. Default 1d.
    pub timeframe: Option<String>,
    /// `bundled` (BTCUSDT 1d shipped with TradingBot, offline) or
    /// `binance` (public klines, cached). Default: `bundled` for BTCUSDT
    /// 1d, else `binance`.
    pub source: Option<String>,
    /// First day (YYYY-MM-DD); default six months before `end_date`.
    #[schema(value_type = Option<String>)]
    pub start_date: Option<chrono::NaiveDate>,
    /// Last day, inclusive; default: the data's end (bundled) or today.
    #[schema(value_type = Option<String>)]
    pub end_date: Option<chrono::NaiveDate>,
    /// USDT. Default 10000.
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    #[schema(value_type = Option<f64>)]
    pub initial_capital: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    #[schema(value_type = Option<f64>)]
    pub investment_pct: Option<Decimal>,
    /// As a strategy's (default: the saved strategy's, else
    /// `investment_pct`); risk sizing counts `fee_rate` on both sides.
    #[schema(value_type = Option<crate::routes::params::SizingModeParam>, inline)]
    pub sizing_mode: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    #[schema(value_type = Option<f64>, minimum = 0.01, maximum = 100)]
    pub risk_pct: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    #[schema(value_type = Option<f64>, exclusive_minimum = 0, maximum = 100000000)]
    pub qty_usdt: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    #[schema(value_type = Option<f64>, exclusive_minimum = 0, maximum = 10000000)]
    pub qty_base: Option<Decimal>,
    /// Protections as a strategy's (default: the saved strategy's); 0
    /// turns one off. The candles' time is the clock.
    #[schema(minimum = 0, maximum = 1000)]
    pub max_entries_per_day: Option<i64>,
    #[schema(minimum = 0, maximum = 10080)]
    pub cooldown_after_sl_min: Option<i64>,
    #[schema(minimum = 0, maximum = 100)]
    pub pause_after_sl_streak: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 100)]
    pub max_drawdown_pct: Option<Decimal>,
    /// Take-profit targets in place of the single take-profit (1–5, sizes
    /// adding up to 100): each `gain_pct` % from the entry closes
    /// `size_pct` % of the position; the last closes what is left.
    #[schema(value_type = Option<Vec<LadderTarget>>, max_items = 5, inline)]
    pub tp_levels: Option<Vec<tradingbot_core::exits::Target>>,
    /// After this target (1-based, before the last) fills, the stop moves.
    #[schema(minimum = 1, maximum = 4)]
    pub break_even_after: Option<u8>,
    /// Where it moves: `entry` (plus both fees; default) or `previous_target`.
    pub break_even_to: Option<String>,
    /// A trailing stop beside the stop-loss (as a strategy's; default: the
    /// saved strategy's): out once the price comes back this % from its
    /// best since activation (0.1–10; 0: none).
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 10)]
    pub trail_pct: Option<Decimal>,
    /// It follows once the price is this % in profit (0: at once).
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 100)]
    pub trail_activation_pct: Option<Decimal>,
    /// `market` or `limit` entries (as a strategy's; default: the saved
    /// strategy's): a limit waits for the price `limit_offset_pct` % better
    /// for `limit_expiry_sec` on the candles' clock, then is cancelled or,
    /// with `limit_fallback` `market`, entered at the next open.
    #[schema(value_type = Option<crate::routes::params::OrderTypeParam>, inline)]
    pub order_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 10)]
    pub limit_offset_pct: Option<Decimal>,
    #[schema(minimum = 5, maximum = 86400)]
    pub limit_expiry_sec: Option<i64>,
    #[schema(value_type = Option<crate::routes::params::LimitFallbackParam>, inline)]
    pub limit_fallback: Option<String>,
    pub post_only: Option<bool>,
    pub leverage: Option<u32>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    #[schema(value_type = Option<f64>)]
    pub long_tp_pct: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    #[schema(value_type = Option<f64>)]
    pub long_sl_pct: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    #[schema(value_type = Option<f64>)]
    pub short_tp_pct: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    #[schema(value_type = Option<f64>)]
    pub short_sl_pct: Option<Decimal>,
    /// Taker fee as a fraction; default 0.0004 (Binance's 0.04 %).
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    #[schema(value_type = Option<f64>)]
    pub fee_rate: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    #[schema(value_type = Option<f64>)]
    pub slippage_bps: Option<Decimal>,
    /// `next_open` (as a live alert fills; default) or `close`.
    pub fill: Option<String>,
}

impl crate::extract::Validate for BacktestRequest {
    fn validate(&self) -> Vec<FieldError> {
        let mut e = super::sizing::errors(&super::sizing::Sizing {
            investment_pct: self.investment_pct,
            leverage: self.leverage,
            long_tp_pct: self.long_tp_pct,
            long_sl_pct: self.long_sl_pct,
            short_tp_pct: self.short_tp_pct,
            short_sl_pct: self.short_sl_pct,
        });
        if self.strategy_id.is_some_and(|id| id <= 0) {
            e.push(FieldError::new("strategy_id", "a strategy id"));
        }
        if self
            .initial_capital
            .is_some_and(|c| c <= Decimal::ZERO || c > Decimal::from(1_000_000_000_000u64))
        {
            e.push(FieldError::new(
                "initial_capital",
                "a positive amount of USDT, at most 10¹²",
            ));
        }
        if self
            .fee_rate
            .is_some_and(|f| f < Decimal::ZERO || f > Decimal::new(1, 2))
        {
            e.push(FieldError::new(
                "fee_rate",
                "a fraction from 0 to 0.01 (0.0004 is 0.04 %)",
            ));
        }
        if self
            .slippage_bps
            .is_some_and(|s| s < Decimal::ZERO || s > Decimal::from(1000))
        {
            e.push(FieldError::new("slippage_bps", "0 to 1000 basis points"));
        }
        if self
            .fill
            .as_deref()
            .is_some_and(|f| !matches!(f, "next_open" | "close"))
        {
            e.push(FieldError::new("fill", "`next_open` or `close`"));
        }
        if self
            .source
            .as_deref()
            .is_some_and(|s| !matches!(s, "bundled" | "binance"))
        {
            e.push(FieldError::new("source", "`bundled` or `binance`"));
        }
        if self
            .timeframe
            .as_deref()
            .is_some_and(|t| tradingbot_actors::candles::interval_ms(t).is_none())
        {
            e.push(FieldError::new(
                "timeframe",
                "one of 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d",
            ));
        }
        if let (Some(a), Some(b)) = (self.start_date, self.end_date)
            && a > b
        {
            e.push(FieldError::new("end_date", "on or after start_date"));
        }
        e
    }
}

/// Bars one job may simulate (three years of minutes fit).
const MAX_BARS: i64 = 1_600_000;

/// Resolves a request against the user's strategy and the library.
async fn spec(state: &AppState, user_id: i64, b: BacktestRequest) -> Result<Spec, ApiError> {
    let cfg = match b.strategy_id {
        Some(id) => {
            let m = state.strategies.get(user_id, id).await?;
            Some(tradingbot_actors::strategies::config_of(&m))
        }
        None => None,
    };
    let d = Settings::defaults();
    let template_id = b
        .indicator_id
        .clone()
        .or_else(|| cfg.as_ref().map(|c| c.indicator_id.clone()))
        .unwrap_or_else(|| "ema_crossover".into());
    let Some(t) = templates::find(template_id.trim()) else {
        let ids: Vec<&str> = templates::library().iter().map(|t| t.id).collect();
        return Err(ApiError::invalid(
            "indicator_id",
            format!("one of {}", ids.join(", ")),
        ));
    };
    let configured = t.configure(&b.params).map_err(|errors| {
        ApiError::Validation(
            errors
                .into_iter()
                .map(|e| FieldError::new(e.field, e.message))
                .collect(),
        )
    })?;
    let pick = |given: Option<Decimal>, saved: Option<Decimal>, default: Decimal| {
        given.or(saved).unwrap_or(default)
    };
    let draft = tradingbot_core::strategy::StrategyDraft {
        sizing_mode: b.sizing_mode.clone(),
        risk_pct: b.risk_pct,
        qty_usdt: b.qty_usdt,
        qty_base: b.qty_base,
        max_entries_per_day: b.max_entries_per_day,
        cooldown_after_sl_min: b.cooldown_after_sl_min,
        pause_after_sl_streak: b.pause_after_sl_streak,
        max_drawdown_pct: b.max_drawdown_pct,
        trail_pct: b.trail_pct,
        trail_activation_pct: b.trail_activation_pct,
        order_type: b.order_type.clone(),
        limit_offset_pct: b.limit_offset_pct,
        limit_expiry_sec: b.limit_expiry_sec,
        limit_fallback: b.limit_fallback.clone(),
        post_only: b.post_only,
        ..Default::default()
    };
    let sizing = tradingbot_core::strategy::Sizing::resolve(&draft, cfg.as_ref().map(|c| c.sizing))
        .map_err(ApiError::from)?;
    let protections =
        tradingbot_core::strategy::resolve_protections(&draft, cfg.as_ref().map(|c| c.protections))
            .map_err(ApiError::from)?;
    let entry = tradingbot_core::strategy::resolve_entry(&draft, cfg.as_ref().map(|c| c.entry))
        .map_err(ApiError::from)?;
    let trailing =
        tradingbot_core::strategy::resolve_trailing(&draft, cfg.as_ref().and_then(|c| c.trailing))
            .map_err(ApiError::from)?;
    let ladder = match &b.tp_levels {
        None if b.break_even_after.is_some() => {
            return Err(ApiError::invalid("break_even_after", "needs tp_levels"));
        }
        // The saved strategy's, as it trades.
        None => cfg.as_ref().and_then(|c| c.ladder.clone()),
        Some(levels) => Some(
            tradingbot_core::exits::Ladder::from_fields(
                levels,
                b.break_even_after,
                b.break_even_to.as_deref(),
            )
            .map_err(ApiError::from)?,
        ),
    };
    let settings = Settings {
        sizing,
        protections,
        ladder,
        trailing,
        entry,
        capital: b.initial_capital.unwrap_or(d.capital),
        investment_pct: pick(
            b.investment_pct,
            cfg.as_ref().map(|c| c.investment_pct),
            d.investment_pct,
        ),
        leverage: b
            .leverage
            .or(cfg.as_ref().map(|c| c.leverage))
            .unwrap_or(d.leverage),
        long_tp_pct: pick(
            b.long_tp_pct,
            cfg.as_ref().map(|c| c.long_tp_pct),
            d.long_tp_pct,
        ),
        long_sl_pct: pick(
            b.long_sl_pct,
            cfg.as_ref().map(|c| c.long_sl_pct),
            d.long_sl_pct,
        ),
        short_tp_pct: pick(
            b.short_tp_pct,
            cfg.as_ref().map(|c| c.short_tp_pct),
            d.short_tp_pct,
        ),
        short_sl_pct: pick(
            b.short_sl_pct,
            cfg.as_ref().map(|c| c.short_sl_pct),
            d.short_sl_pct,
        ),
        fee_rate: b.fee_rate.unwrap_or(d.fee_rate),
        slippage_bps: b.slippage_bps.unwrap_or(d.slippage_bps),
        fill: match b.fill.as_deref() {
            Some("close") => Fill::Close,
            _ => Fill::NextOpen,
        },
        opposite: cfg.as_ref().map_or(d.opposite, |c| c.opposite_signal),
        ..d
    };
    let symbol = match (&b.symbol, &cfg) {
        (Some(s), _) => tradingbot_core::symbol::Symbol::parse(s)
            .map_err(|e| ApiError::invalid("symbol", e.to_string()))?
            .as_str()
            .to_owned(),
        (None, Some(c)) => c
            .symbols
            .first()
            .map_or("BTCUSDT".into(), |s| s.as_str().to_owned()),
        (None, None) => "BTCUSDT".into(),
    };
    let timeframe = b.timeframe.clone().unwrap_or_else(|| "1d".into());
    let bundled_fits = symbol == "BTCUSDT" && timeframe == "1d";
    let source = match b.source.as_deref() {
        Some("bundled") if !bundled_fits => {
            return Err(ApiError::invalid(
                "source",
                "the bundled data is BTCUSDT at 1d; use `binance` for other symbols or timeframes",
            ));
        }
        Some("bundled") => Source::Bundled,
        None if bundled_fits => Source::Bundled,
        _ => Source::Binance {
            symbol: symbol.clone(),
            interval: timeframe.clone(),
        },
    };
    let day_ms = |d: chrono::NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .map_or(0, |t| t.and_utc().timestamp_millis())
    };
    let from_ms = b.start_date.map(day_ms);
    let to_ms = b.end_date.map(|d| day_ms(d) + 86_400_000);
    if let Source::Binance { interval, .. } = &source {
        let step = tradingbot_actors::candles::interval_ms(interval).unwrap_or(86_400_000);
        let to = to_ms.unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
        let from = from_ms.unwrap_or(to - 182 * 86_400_000);
        if (to - from) / step > MAX_BARS {
            return Err(ApiError::invalid(
                "start_date",
                format!(
                    "at most {MAX_BARS} candles per backtest; shorten the range or use a longer timeframe"
                ),
            ));
        }
    }
    let echo = serde_json::json!({
        "strategy_id": b.strategy_id,
        "indicator_id": t.id,
        "params": configured.params,
        "symbol": symbol,
        "timeframe": timeframe,
        "source": if source == Source::Bundled { "bundled" } else { "binance" },
        "start_date": b.start_date,
        "end_date": b.end_date,
        "initial_capital": settings.capital,
        "investment_pct": settings.investment_pct,
        "sizing_mode": settings.sizing.mode(),
        "risk_pct": settings.sizing.risk_pct(),
        "qty_usdt": settings.sizing.qty_usdt(),
        "qty_base": settings.sizing.qty_base(),
        "max_entries_per_day": settings.protections.max_entries_per_day,
        "cooldown_after_sl_min": settings.protections.cooldown_after_sl_min,
        "pause_after_sl_streak": settings.protections.pause_after_sl_streak,
        "max_drawdown_pct": settings.protections.max_drawdown_pct,
        "tp_levels": settings.ladder.as_ref().map(|l| &l.targets),
        "break_even": settings.ladder.as_ref().and_then(|l| l.break_even),
        "entry": settings.entry,
        "trail_pct": settings.trailing.map(|t| t.callback_pct),
        "trail_activation_pct": settings.trailing.and_then(|t| t.activation_pct),
        "leverage": settings.leverage,
        "long_tp_pct": settings.long_tp_pct,
        "long_sl_pct": settings.long_sl_pct,
        "short_tp_pct": settings.short_tp_pct,
        "short_sl_pct": settings.short_sl_pct,
        "fee_rate": settings.fee_rate,
        "slippage_bps": settings.slippage_bps,
        "fill": if settings.fill == Fill::Close { "close" } else { "next_open" },
    });
    Ok(Spec {
        template_id: t.id,
        configured,
        settings,
        source,
        from_ms,
        to_ms,
        echo,
    })
}

/// Start a backtest
///
/// Answers 202 at once with the job (`Location` points at it); poll
/// `GET /api/v1/backtest/{id}` for `progress` and, when `completed`, the
/// `result`: report, data summary (gaps, duplicates), trades and equity.
#[utoipa::path(post, path = "/api/v1/backtest", tag = "backtest",
    security(("bearer" = [])), request_body = BacktestRequest,
    responses((status = 202, description = "the job: id, status, progress, request"),
        (status = 404, description = "not your strategy"),
        (status = 422, description = "`validation_failed`, by field"),
        (status = 429, description = "`too_many_backtests`: two are already queued or running")))]
pub async fn start(
    state: web::Data<AppState>,
    user: AuthUser,
    body: crate::extract::Json<BacktestRequest>,
) -> Result<HttpResponse, ApiError> {
    let spec = spec(&state, user.id, body.into_inner()).await?;
    let job = state
        .backtests
        .submit(user.id, spec)
        .await
        .map_err(|e| match e {
            tradingbot_actors::backtests::SubmitError::TooMany => ApiError::Other {
                status: 429,
                code: "too_many_backtests".into(),
                detail: format!("{e}; wait for one to finish."),
                extensions: serde_json::Map::new(),
            },
            tradingbot_actors::backtests::SubmitError::Db(e) => ApiError::internal(e),
        })?;
    Ok(HttpResponse::Accepted()
        .insert_header(("Location", format!("/api/v1/backtest/{}", job.id)))
        .json(job))
}

/// One backtest: progress, and the result when completed
#[utoipa::path(get, path = "/api/v1/backtest/{id}", tag = "backtest",
    security(("bearer" = [])), params(("id" = String, Path, description = "the job's id (a UUID)")),
    responses((status = 200, description = "status (`queued`, `running`, `completed`, `failed`), phase, progress 0–1, request, error or result"),
        (status = 404, description = "no such backtest of yours")))]
pub async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = uuid::Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    let job = state
        .backtests
        .get(user.id, id)
        .await
        .map_err(ApiError::internal)?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(job))
}

/// Your backtests, newest first (without results)
#[utoipa::path(get, path = "/api/v1/backtest", tag = "backtest",
    security(("bearer" = [])), responses((status = 200, description = "jobs")))]
pub async fn list(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let jobs = state
        .backtests
        .list(user.id)
        .await
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(jobs))
}
