//! `/api/v1/strategies`: the seed's strategy settings (investment %, TP/SL
//! for longs and shorts, leverage) plus each strategy's webhook — its URL,
//! its secret and the alert message to paste into TradingView.

use super::auth::context;
use crate::auth::{AuthUser, ClientIp};
use crate::extract::json::{parse, read_body};
use crate::problem::{ApiError, FieldError};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;
use tradingbot_actors::identity::audit;
use tradingbot_actors::store::entities::strategies;
use tradingbot_actors::strategies::{StrategiesError, Switch, Webhook, config_of};
use tradingbot_core::exchange::{ExchangeError, MarginMode};
use tradingbot_core::strategy::{
    EntryOrder, Fallback, StrategyConfig, StrategyDraft, alert_message,
};
use utoipa::ToSchema;

impl From<StrategiesError> for ApiError {
    fn from(e: StrategiesError) -> Self {
        match e {
            StrategiesError::NotFound => ApiError::NotFound,
            StrategiesError::NoSuchAccount => {
                ApiError::invalid("account_id", "no such exchange account of yours")
            }
            other => ApiError::internal(other),
        }
    }
}

/// A strategy as the API shows it to its owner.
#[derive(Serialize, ToSchema)]
pub struct StrategyView {
    pub id: i64,
    pub name: String,
    pub indicator_id: String,
    pub symbols: Vec<String>,
    /// The first of `symbols`, for clients that show one.
    pub symbol: Option<String>,
    /// The exchange account (`/accounts/{id}`) it trades on.
    pub account_id: Option<i64>,
    #[serde(with = "rust_decimal::serde::float")]
    #[schema(value_type = f64)]
    pub investment_pct: Decimal,
    /// What entries are sized by: `investment_pct` (margin, % of the
    /// available balance), `risk_pct` (the loss at the stop-loss, % of the
    /// wallet), `fixed_usdt` (notional) or `fixed_qty` (base asset).
    pub sizing_mode: &'static str,
    /// With `risk_pct` sizing.
    #[serde(with = "rust_decimal::serde::float_option")]
    #[schema(value_type = Option<f64>)]
    pub risk_pct: Option<Decimal>,
    /// With `fixed_usdt` sizing.
    #[serde(with = "rust_decimal::serde::float_option")]
    #[schema(value_type = Option<f64>)]
    pub qty_usdt: Option<Decimal>,
    /// With `fixed_qty` sizing.
    #[serde(with = "rust_decimal::serde::float_option")]
    #[schema(value_type = Option<f64>)]
    pub qty_base: Option<Decimal>,
    /// Protections (`null`: off); a new position they hold back is refused
    /// with the protection's code.
    pub max_entries_per_day: Option<u32>,
    pub cooldown_after_sl_min: Option<u32>,
    pub pause_after_sl_streak: Option<u32>,
    #[serde(with = "rust_decimal::serde::float_option")]
    #[schema(value_type = Option<f64>)]
    pub max_drawdown_pct: Option<Decimal>,
    /// The take-profit ladder (`null`: the single take-profit of
    /// `long_tp_pct` / `short_tp_pct`).
    pub tp_levels: Option<Vec<StrategyTarget>>,
    /// The target after which the stop moves (`null`: it stays).
    pub break_even_after: Option<u8>,
    /// `entry` or `previous_target`, with `break_even_after`.
    pub break_even_to: Option<&'static str>,
    /// The trailing stop's callback, % (`null`: none). Every venue holds
    /// it natively (Binance `TRAILING_STOP_MARKET`, OKX `move_order_stop`,
    /// the paper engine): it works while TradingBot is down.
    #[serde(with = "rust_decimal::serde::float_option")]
    #[schema(value_type = Option<f64>)]
    pub trail_pct: Option<Decimal>,
    /// % in profit from the entry where it starts following (`null`: at once).
    #[serde(with = "rust_decimal::serde::float_option")]
    #[schema(value_type = Option<f64>)]
    pub trail_activation_pct: Option<Decimal>,
    /// `market` or `limit`.
    pub order_type: &'static str,
    /// With `limit`: % better than the price.
    #[serde(with = "rust_decimal::serde::float_option")]
    #[schema(value_type = Option<f64>)]
    pub limit_offset_pct: Option<Decimal>,
    /// With `limit`: how long it rests, seconds.
    pub limit_expiry_sec: Option<u32>,
    /// With `limit`: `cancel` or `market`.
    pub limit_fallback: Option<&'static str>,
    /// With `limit`: maker only.
    pub post_only: bool,
    #[serde(with = "rust_decimal::serde::float")]
    #[schema(value_type = f64)]
    pub long_tp_pct: Decimal,
    #[serde(with = "rust_decimal::serde::float")]
    #[schema(value_type = f64)]
    pub long_sl_pct: Decimal,
    #[serde(with = "rust_decimal::serde::float")]
    #[schema(value_type = f64)]
    pub short_tp_pct: Decimal,
    #[serde(with = "rust_decimal::serde::float")]
    #[schema(value_type = f64)]
    pub short_sl_pct: Decimal,
    pub leverage: u32,
    /// `isolated` or `cross`.
    pub margin_mode: String,
    /// `reverse` or `close`: what an opposite signal does to an open position.
    pub opposite_signal: String,
    pub is_active: bool,
    /// The AI watch may close this strategy's positions early by itself
    /// (default off; recommendations are sent either way).
    pub ai_auto_exit: bool,
    /// An anomaly (signal burst, refusals in a row, oversized entry, the
    /// account's intraday drawdown) deactivates the strategy by itself
    /// (default off; the alert is sent either way).
    pub auto_pause_on_anomaly: bool,
    /// POST TradingView alerts here.
    pub webhook_url: String,
    /// Carried in the alert's body (`secret`), or the key of the
    /// `X-Webhook-Signature` HMAC for programmatic senders.
    pub webhook_secret: String,
    /// The alert message to paste into TradingView, placeholders included.
    pub alert_message: String,
    /// Things worth knowing (e.g. the venue could not be asked about leverage).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One target of a strategy's ladder.
#[derive(Serialize, ToSchema)]
pub struct StrategyTarget {
    /// % from the entry.
    #[serde(with = "rust_decimal::serde::float")]
    #[schema(value_type = f64)]
    pub gain_pct: Decimal,
    /// % of the position it closes.
    #[serde(with = "rust_decimal::serde::float")]
    #[schema(value_type = f64)]
    pub size_pct: Decimal,
}

fn view(
    state: &AppState,
    m: &strategies::Model,
    hook: &Webhook,
    warnings: Vec<String>,
) -> StrategyView {
    let cfg = config_of(m);
    let symbols: Vec<String> = cfg.symbols.iter().map(|s| s.as_str().to_owned()).collect();
    StrategyView {
        id: m.id,
        name: m.name.clone(),
        indicator_id: m.indicator_id.clone(),
        symbol: symbols.first().cloned(),
        symbols,
        account_id: m.account_id,
        investment_pct: cfg.investment_pct,
        sizing_mode: cfg.sizing.mode(),
        risk_pct: cfg.sizing.risk_pct(),
        qty_usdt: cfg.sizing.qty_usdt(),
        qty_base: cfg.sizing.qty_base(),
        max_entries_per_day: cfg.protections.max_entries_per_day,
        cooldown_after_sl_min: cfg.protections.cooldown_after_sl_min,
        pause_after_sl_streak: cfg.protections.pause_after_sl_streak,
        max_drawdown_pct: cfg.protections.max_drawdown_pct,
        tp_levels: cfg.ladder.as_ref().map(|l| {
            l.targets
                .iter()
                .map(|t| StrategyTarget {
                    gain_pct: t.gain_pct,
                    size_pct: t.size_pct,
                })
                .collect()
        }),
        break_even_after: cfg
            .ladder
            .as_ref()
            .and_then(|l| l.break_even)
            .map(|b| b.after),
        break_even_to: cfg
            .ladder
            .as_ref()
            .and_then(|l| l.break_even)
            .map(|b| match b.to {
                tradingbot_core::exits::StopTo::Entry => "entry",
                tradingbot_core::exits::StopTo::PreviousTarget => "previous_target",
            }),
        order_type: cfg.entry.name(),
        limit_offset_pct: match cfg.entry {
            EntryOrder::Limit {
                limit_offset_pct, ..
            } => Some(limit_offset_pct),
            EntryOrder::Market => None,
        },
        limit_expiry_sec: match cfg.entry {
            EntryOrder::Limit {
                limit_expiry_sec, ..
            } => Some(limit_expiry_sec),
            EntryOrder::Market => None,
        },
        limit_fallback: match cfg.entry {
            EntryOrder::Limit {
                limit_fallback: Fallback::Market,
                ..
            } => Some("market"),
            EntryOrder::Limit { .. } => Some("cancel"),
            EntryOrder::Market => None,
        },
        post_only: matches!(
            cfg.entry,
            EntryOrder::Limit {
                post_only: true,
                ..
            }
        ),
        trail_pct: cfg.trailing.map(|t| t.callback_pct),
        trail_activation_pct: cfg.trailing.and_then(|t| t.activation_pct),
        long_tp_pct: cfg.long_tp_pct,
        long_sl_pct: cfg.long_sl_pct,
        short_tp_pct: cfg.short_tp_pct,
        short_sl_pct: cfg.short_sl_pct,
        leverage: cfg.leverage,
        margin_mode: match cfg.margin_mode {
            MarginMode::Isolated => "isolated",
            MarginMode::Cross => "cross",
        }
        .into(),
        opposite_signal: cfg.opposite_signal.as_str().into(),
        is_active: m.is_active,
        ai_auto_exit: m.ai_auto_exit,
        auto_pause_on_anomaly: m.auto_pause_on_anomaly,
        webhook_url: format!(
            "{}/api/v1/webhook/tradingview/{}",
            state.public_url.trim_end_matches('/'),
            hook.token.as_str()
        ),
        webhook_secret: hook.secret.to_string(),
        alert_message: alert_message(&hook.secret),
        warnings,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

/// The body of create and update: the seed's fields, plus the account and
/// whether it is active.
pub struct StrategyBody {
    draft: StrategyDraft,
    account_id: Option<serde_json::Value>,
    is_active: Option<bool>,
    ai_auto_exit: Option<bool>,
    auto_pause_on_anomaly: Option<bool>,
}

impl StrategyBody {
    /// The opt-in behaviours the body sets.
    fn switches(&self) -> impl Iterator<Item = (Switch, bool)> {
        [
            (Switch::AiAutoExit, self.ai_auto_exit),
            (Switch::AutoPauseOnAnomaly, self.auto_pause_on_anomaly),
        ]
        .into_iter()
        .filter_map(|(s, on)| on.map(|on| (s, on)))
    }
}

/// `account_id`: a number, or `null` to detach.
fn account_field(v: &Option<serde_json::Value>) -> Result<Option<Option<i64>>, ApiError> {
    match v {
        None => Ok(None),
        Some(serde_json::Value::Null) => Ok(Some(None)),
        Some(serde_json::Value::Number(n)) => match n.as_i64() {
            Some(id) if id > 0 => Ok(Some(Some(id))),
            _ => Err(ApiError::invalid("account_id", "an account id")),
        },
        Some(_) => Err(ApiError::invalid("account_id", "an account id or null")),
    }
}

async fn read(req: &HttpRequest, payload: &mut web::Payload) -> Result<StrategyBody, ApiError> {
    let bytes = read_body(req, payload, 16 * 1024).await?;
    // `flatten` and `deny_unknown_fields` do not mix in serde: check the
    // names by hand so a misspelt field is an error, not silently ignored.
    let value: serde_json::Value = parse(&bytes)?;
    let Some(obj) = value.as_object() else {
        return Err(ApiError::invalid("body", "a JSON object"));
    };
    const KNOWN: [&str; 34] = [
        "order_type",
        "limit_offset_pct",
        "limit_expiry_sec",
        "limit_fallback",
        "post_only",
        "trail_pct",
        "trail_activation_pct",
        "tp_levels",
        "break_even_after",
        "break_even_to",
        "max_entries_per_day",
        "cooldown_after_sl_min",
        "pause_after_sl_streak",
        "max_drawdown_pct",
        "name",
        "indicator_id",
        "symbols",
        "symbol",
        "investment_pct",
        "sizing_mode",
        "risk_pct",
        "qty_usdt",
        "qty_base",
        "long_tp_pct",
        "long_sl_pct",
        "short_tp_pct",
        "short_sl_pct",
        "leverage",
        "margin_mode",
        "opposite_signal",
        "account_id",
        "is_active",
        "ai_auto_exit",
        "auto_pause_on_anomaly",
    ];
    let unknown: Vec<FieldError> = obj
        .keys()
        .filter(|k| !KNOWN.contains(&k.as_str()))
        .map(|k| FieldError::new(k.clone(), "unknown field"))
        .collect();
    if !unknown.is_empty() {
        return Err(ApiError::Validation(unknown));
    }
    let mut rest = obj.clone();
    let account_id = rest.remove("account_id");
    let mut flag = |name: &'static str| match rest.remove(name) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Bool(b)) => Ok(Some(b)),
        Some(_) => Err(ApiError::invalid(name, "true or false")),
    };
    let is_active = flag("is_active")?;
    let ai_auto_exit = flag("ai_auto_exit")?;
    let auto_pause_on_anomaly = flag("auto_pause_on_anomaly")?;
    let draft: StrategyDraft = serde_path_to_error::deserialize(serde_json::Value::Object(rest))
        .map_err(|e| {
            let field = e.path().to_string();
            ApiError::invalid(
                if field == "." {
                    "body".to_owned()
                } else {
                    field
                },
                e.inner().to_string(),
            )
        })?;
    Ok(StrategyBody {
        draft,
        account_id,
        is_active,
        ai_auto_exit,
        auto_pause_on_anomaly,
    })
}

/// Checks the symbols and leverage against the account's venue; returns
/// warnings when the venue cannot be asked.
async fn check_venue(
    state: &AppState,
    user_id: i64,
    account_id: Option<i64>,
    cfg: &StrategyConfig,
) -> Result<Vec<String>, ApiError> {
    let Some(account_id) = account_id else {
        return Ok(vec![
            "no_account: set account_id to an exchange account before the strategy can trade"
                .into(),
        ]);
    };
    let account = state
        .accounts
        .get(user_id, account_id)
        .await
        .map_err(|_| ApiError::invalid("account_id", "no such exchange account of yours"))?;
    let conn = state.accounts.connection(&account).await?;
    let venue = conn.venue();
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for (i, symbol) in cfg.symbols.iter().enumerate() {
        let venue_symbol = symbol.on(venue);
        match tokio::time::timeout(Duration::from_secs(5), conn.max_leverage(&venue_symbol)).await {
            Ok(Ok(max)) if cfg.leverage > max => errors.push(FieldError::new(
                "leverage",
                format!("{venue_symbol} allows at most {max}x on {venue}"),
            )),
            Ok(Ok(_)) => {}
            Ok(Err(ExchangeError::UnknownSymbol { .. })) => errors.push(FieldError::new(
                format!("symbols[{i}]"),
                format!("{venue} does not list {venue_symbol}"),
            )),
            Ok(Err(e)) => warnings.push(format!(
                "venue_unchecked: {venue} could not confirm {venue_symbol} and its leverage ({e})"
            )),
            Err(_) => warnings.push(format!(
                "venue_unchecked: {venue} did not answer about {venue_symbol} in time"
            )),
        }
    }
    if errors.is_empty() {
        Ok(warnings)
    } else {
        Err(ApiError::Validation(errors))
    }
}

async fn saved(state: &AppState, strategy_id: i64) {
    if let Err(e) = state.execution.strategy_saved(strategy_id).await {
        tracing::error!(strategy_id, error = %e, "the execution core did not take the strategy");
    }
}

/// One symbol of `symbols`: a USDⓈ-margined perpetual as the venues and
/// TradingView spell it (`BTCUSDT`, `BTCUSDT.P`, `BTC-USDT-SWAP`; lower
/// case is accepted too).
#[derive(ToSchema)]
#[schema(value_type = String, pattern = r"^[A-Z0-9]{1,20}(USDT|USDC|FDUSD)(\.P)?$|^[A-Z0-9]{1,20}-(USDT|USDC|USD)-SWAP$")]
#[allow(dead_code)]
pub struct SymbolItem(String);

/// The fields of a strategy, as the seed's form sends them: every one
/// optional (defaults on creation, unchanged on update). Numbers may come
/// as strings ("10"). Any other field is refused.
#[derive(ToSchema)]
#[allow(dead_code)] // The schema only: bodies are read field by field.
pub struct StrategyRequest {
    /// Default: the template's name and the symbol, numbered when taken.
    #[schema(min_length = 1, max_length = 255)]
    name: Option<String>,
    /// `ema_crossover`, `rsi_reversal`, `macd_cross`, `bollinger`,
    /// `supertrend` or `custom`.
    #[schema(value_type = Option<crate::routes::params::IndicatorParam>, inline)]
    indicator_id: Option<String>,
    /// One symbol (`BTCUSDT`, `BTCUSDT.P`, `BTC-USDT-SWAP`); default BTCUSDT.
    #[schema(
        pattern = r"^[A-Z0-9]{1,20}(USDT|USDC|FDUSD)(\.P)?$|^[A-Z0-9]{1,20}-(USDT|USDC|USD)-SWAP$"
    )]
    symbol: Option<String>,
    /// Several symbols (1–20), each spelled as `symbol`.
    #[schema(min_items = 1, max_items = 20, inline, value_type = Option<Vec<SymbolItem>>)]
    symbols: Option<Vec<String>>,
    /// The exchange account it trades; `null` detaches (update).
    account_id: Option<i64>,
    /// Margin per entry, % of the deposit, 1–100 (default 10).
    #[schema(minimum = 1, maximum = 100)]
    investment_pct: Option<f64>,
    /// What entries are sized by (default `investment_pct`); naming a mode
    /// other than the strategy's needs that mode's amount.
    #[schema(value_type = Option<crate::routes::params::SizingModeParam>, inline)]
    sizing_mode: Option<String>,
    /// `risk_pct` sizing: % of the wallet lost if the stop-loss is hit,
    /// both sides' taker fees included, 0.01–100.
    #[schema(minimum = 0.01, maximum = 100)]
    risk_pct: Option<f64>,
    /// `fixed_usdt` sizing: the position's notional in USDT.
    #[schema(exclusive_minimum = 0, maximum = 100000000)]
    qty_usdt: Option<f64>,
    /// `fixed_qty` sizing: the position in the base asset (BTC).
    #[schema(exclusive_minimum = 0, maximum = 10000000)]
    qty_base: Option<f64>,
    /// Protections; 0 turns one off. Most new positions per UTC day.
    #[schema(minimum = 0, maximum = 1000)]
    max_entries_per_day: Option<i64>,
    /// Minutes without new positions after a stop-loss closed one.
    #[schema(minimum = 0, maximum = 10080)]
    cooldown_after_sl_min: Option<i64>,
    /// After this many stop-losses in a row, no new position until the next
    /// UTC day.
    #[schema(minimum = 0, maximum = 100)]
    pause_after_sl_streak: Option<i64>,
    /// When the day's realized PnL falls this % of the wallet below the
    /// day's peak, no new position until the next UTC day (0.1–100).
    #[schema(minimum = 0, maximum = 100)]
    max_drawdown_pct: Option<f64>,
    /// Take-profit targets in place of the single take-profit, for longs
    /// and shorts alike (1–5, sizes adding up to 100; `[]` removes them):
    /// each rests on the exchange as a reduce-only order as soon as the
    /// entry fills; the last closes what is left.
    #[schema(value_type = Option<Vec<crate::routes::backtest::LadderTarget>>, max_items = 5, inline)]
    tp_levels: Option<Vec<serde_json::Value>>,
    /// After this target (1-based, before the last) fills, the stop moves
    /// (0: never).
    #[schema(minimum = 0, maximum = 4)]
    break_even_after: Option<i64>,
    /// Where it moves: `entry` (plus both fees; default) or `previous_target`.
    break_even_to: Option<String>,
    /// A trailing stop beside the stop-loss: closes the position once the
    /// price comes back this % from its best since activation (0.1–10, in
    /// steps of 0.1; 0 removes it). Held by the exchange itself.
    #[schema(minimum = 0, maximum = 10)]
    trail_pct: Option<f64>,
    /// It starts following once the price is this % in profit from the
    /// entry (0.1–100; 0 or absent: at once).
    #[schema(minimum = 0, maximum = 100)]
    trail_activation_pct: Option<f64>,
    /// `market` (default) or `limit`: entries rest as a limit order
    /// `limit_offset_pct` % better than the price for `limit_expiry_sec`
    /// seconds, then are cancelled or, with `limit_fallback` `market`,
    /// entered at market when nothing filled.
    #[schema(value_type = Option<crate::routes::params::OrderTypeParam>, inline)]
    order_type: Option<String>,
    /// 0–10 (default 0: at the price).
    #[schema(minimum = 0, maximum = 10)]
    limit_offset_pct: Option<f64>,
    /// 5–86400 (default 60).
    #[schema(minimum = 5, maximum = 86400)]
    limit_expiry_sec: Option<i64>,
    /// `cancel` (default) or `market`.
    #[schema(value_type = Option<crate::routes::params::LimitFallbackParam>, inline)]
    limit_fallback: Option<String>,
    /// Maker only: a limit entry that would fill at once is refused by the
    /// exchange (then treated as not filled).
    post_only: Option<bool>,
    /// Take-profit / stop-loss of longs and shorts, % of the entry price,
    /// 0.1–100 (defaults 5 / 2).
    #[schema(minimum = 0.1, maximum = 100)]
    long_tp_pct: Option<f64>,
    #[schema(minimum = 0.1, maximum = 100)]
    long_sl_pct: Option<f64>,
    #[schema(minimum = 0.1, maximum = 100)]
    short_tp_pct: Option<f64>,
    #[schema(minimum = 0.1, maximum = 100)]
    short_sl_pct: Option<f64>,
    /// 1–125 (default 3).
    #[schema(minimum = 1, maximum = 125)]
    leverage: Option<i64>,
    /// `isolated` (default) or `cross`.
    #[schema(value_type = Option<crate::routes::params::MarginModeParam>, inline)]
    margin_mode: Option<String>,
    /// `reverse` (default) or `close`.
    #[schema(value_type = Option<crate::routes::params::OppositeSignalParam>, inline)]
    opposite_signal: Option<String>,
    /// Let the AI watch close its positions (default false).
    ai_auto_exit: Option<bool>,
    /// Pause it on an anomaly (default false).
    auto_pause_on_anomaly: Option<bool>,
}

/// Create a strategy
///
/// Fields default as in the seed (10 %, TP 5 % / SL 2 % each way, 3x); the
/// seed's form alone (percentages, leverage, indicator) is enough: without
/// `name` the strategy is named after its indicator and symbol ("EMA
/// Crossover BTCUSDT", numbered when taken), without `symbol`/`symbols` it
/// trades BTCUSDT. The answer carries the webhook URL, its secret and the TradingView alert message.
#[utoipa::path(post, path = "/api/v1/strategies", tag = "strategies",
    security(("bearer" = [])), request_body = StrategyRequest,
    responses((status = 201, body = StrategyView), (status = 422, description = "`validation_failed`, fields named")))]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    user: AuthUser,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read(&req, &mut payload).await?;
    let taken: Vec<String> = if body.draft.name.is_none() {
        state
            .strategies
            .list(user.id)
            .await?
            .into_iter()
            .map(|m| m.name)
            .collect()
    } else {
        Vec::new()
    };
    let draft = body.draft.clone().with_creation_defaults(&taken);
    let cfg = StrategyConfig::from_draft(&draft, None).map_err(ApiError::from)?;
    let account_id = account_field(&body.account_id)?.flatten();
    let warnings = check_venue(&state, user.id, account_id, &cfg).await?;
    let (mut model, hook) = state
        .strategies
        .create(user.id, &cfg, account_id, body.is_active.unwrap_or(true))
        .await?;
    for (switch, on) in body.switches() {
        if on {
            model = state.strategies.set_switch(model, switch, true).await?;
        }
    }
    audit::record(
        &state.store,
        Some(user.id),
        "strategy_created",
        &context(&req, ip),
        json!({ "strategy": model.id, "account": account_id }),
    )
    .await;
    saved(&state, model.id).await;
    Ok(HttpResponse::Created().json(view(&state, &model, &hook, warnings)))
}

/// List strategies
#[utoipa::path(get, path = "/api/v1/strategies", tag = "strategies",
    security(("bearer" = [])), responses((status = 200, body = [StrategyView])))]
pub async fn list(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let mut out = Vec::new();
    for m in state.strategies.list(user.id).await? {
        let hook = state.strategies.webhook(m.id).await?;
        out.push(view(&state, &m, &hook, Vec::new()));
    }
    Ok(HttpResponse::Ok().json(out))
}

/// Read a strategy
#[utoipa::path(get, path = "/api/v1/strategies/{id}", tag = "strategies",
    security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = StrategyView), (status = 404)))]
pub async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let m = state.strategies.get(user.id, id.into_inner()).await?;
    let hook = state.strategies.webhook(m.id).await?;
    Ok(HttpResponse::Ok().json(view(&state, &m, &hook, Vec::new())))
}

/// Update a strategy
///
/// Changes only the fields given; takes effect for the next signal.
#[utoipa::path(put, path = "/api/v1/strategies/{id}", tag = "strategies",
    security(("bearer" = [])), params(("id" = i64, Path)), request_body = StrategyRequest,
    responses((status = 200, body = StrategyView), (status = 404), (status = 422),
        (status = 409, description = "`strategy_has_open_position`: the account, symbol or margin mode of a strategy holding a position")))]
pub async fn update(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    user: AuthUser,
    id: web::Path<i64>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let m = state.strategies.get(user.id, id.into_inner()).await?;
    let body = read(&req, &mut payload).await?;
    let base = config_of(&m);
    let cfg = StrategyConfig::from_draft(&body.draft, Some(&base)).map_err(ApiError::from)?;
    let account_id = account_field(&body.account_id)?.unwrap_or(m.account_id);
    held_positions_allow(&state, user.id, &m, &cfg, account_id).await?;
    let warnings = check_venue(&state, user.id, account_id, &cfg).await?;
    let active = body.is_active;
    let mut m = state.strategies.update(m, &cfg, account_id).await?;
    if let Some(on) = active
        && on != m.is_active
    {
        m = state.strategies.set_active(m, on).await?;
    }
    for (switch, on) in body.switches() {
        let now = match switch {
            Switch::AiAutoExit => m.ai_auto_exit,
            Switch::AutoPauseOnAnomaly => m.auto_pause_on_anomaly,
        };
        if on != now {
            m = state.strategies.set_switch(m, switch, on).await?;
        }
    }
    audit::record(
        &state.store,
        Some(user.id),
        "strategy_updated",
        &context(&req, ip),
        json!({ "strategy": m.id }),
    )
    .await;
    saved(&state, m.id).await;
    let hook = state.strategies.webhook(m.id).await?;
    Ok(HttpResponse::Ok().json(view(&state, &m, &hook, warnings)))
}

/// Refuses a change that would take an open position away from the
/// strategy that holds it: its account, its symbol or its margin mode.
/// Other changes (leverage, percentages) apply to the next entry; the open
/// position keeps what it was opened with.
async fn held_positions_allow(
    state: &AppState,
    user_id: i64,
    m: &tradingbot_actors::store::entities::strategies::Model,
    cfg: &StrategyConfig,
    account_id: Option<i64>,
) -> Result<(), ApiError> {
    let held = state
        .execution
        .positions_of(user_id, m.id)
        .await
        .map_err(ApiError::internal)?;
    for p in held {
        let why = if account_id != Some(p.account_id) {
            Some("its exchange account")
        } else if !cfg.symbols.iter().any(|s| s.as_str() == p.symbol) {
            Some("its symbol")
        } else if cfg.margin_mode != p.margin_mode {
            Some("its margin mode")
        } else {
            None
        };
        if let Some(what) = why {
            return Err(ApiError::conflict(
                "strategy_has_open_position",
                format!(
                    "The strategy holds an open {} position; {what} cannot change until it is closed.",
                    p.symbol
                ),
            ));
        }
    }
    Ok(())
}

/// Delete a strategy
///
/// Refused while it has an open position: close or deactivate first.
#[utoipa::path(delete, path = "/api/v1/strategies/{id}", tag = "strategies",
    security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 404), (status = 409, description = "`strategy_has_open_position`")))]
pub async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let m = state.strategies.get(user.id, id.into_inner()).await?;
    let open = state
        .history
        .open_positions_of_strategy(m.id)
        .await
        .map_err(ApiError::internal)?;
    let held = state
        .execution
        .positions_of(user.id, m.id)
        .await
        .map_err(ApiError::internal)?;
    if open > 0 || !held.is_empty() {
        return Err(ApiError::conflict(
            "strategy_has_open_position",
            "The strategy has an open position; close it (or deactivate the strategy) first.",
        ));
    }
    let id = m.id;
    state.strategies.delete(m).await?;
    state.execution.strategy_removed(user.id, id);
    audit::record(
        &state.store,
        Some(user.id),
        "strategy_deleted",
        &context(&req, ip),
        json!({ "strategy": id }),
    )
    .await;
    Ok(HttpResponse::NoContent().finish())
}

async fn set_active(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    user: AuthUser,
    id: i64,
    on: bool,
) -> Result<HttpResponse, ApiError> {
    let m = state.strategies.get(user.id, id).await?;
    let mut warnings = Vec::new();
    if on {
        if m.account_id.is_none() {
            return Err(ApiError::conflict(
                "no_account",
                "Attach an exchange account (account_id) before activating the strategy.",
            ));
        }
        warnings = check_venue(&state, user.id, m.account_id, &config_of(&m)).await?;
    }
    let m = state.strategies.set_active(m, on).await?;
    audit::record(
        &state.store,
        Some(user.id),
        if on {
            "strategy_activated"
        } else {
            "strategy_deactivated"
        },
        &context(&req, ip),
        json!({ "strategy": m.id }),
    )
    .await;
    saved(&state, m.id).await;
    let hook = state.strategies.webhook(m.id).await?;
    Ok(HttpResponse::Ok().json(view(&state, &m, &hook, warnings)))
}

/// Activate a strategy
#[utoipa::path(post, path = "/api/v1/strategies/{id}/activate", tag = "strategies",
    security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = StrategyView), (status = 404), (status = 409, description = "`no_account`")))]
pub async fn activate(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    set_active(state, req, ip, user, id.into_inner(), true).await
}

/// Deactivate a strategy
///
/// Its alerts are refused from now on; an open position stays protected.
#[utoipa::path(post, path = "/api/v1/strategies/{id}/deactivate", tag = "strategies",
    security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = StrategyView), (status = 404)))]
pub async fn deactivate(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    set_active(state, req, ip, user, id.into_inner(), false).await
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// Also replace the webhook URL (the path token).
    #[serde(default)]
    pub rotate_url: bool,
}

/// Rotate the webhook secret
///
/// The old secret (and with `rotate_url`, the old URL) stops working at once;
/// update the alert in TradingView with the new message.
#[utoipa::path(post, path = "/api/v1/strategies/{id}/rotate-secret", tag = "strategies",
    security(("bearer" = [])), params(("id" = i64, Path)), request_body = RotateBody,
    responses((status = 200, body = StrategyView), (status = 404)))]
pub async fn rotate_secret(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    user: AuthUser,
    id: web::Path<i64>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let m = state.strategies.get(user.id, id.into_inner()).await?;
    let bytes = read_body(&req, &mut payload, 1024).await?;
    let body: RotateBody = if bytes.iter().all(u8::is_ascii_whitespace) {
        RotateBody::default()
    } else {
        parse(&bytes)?
    };
    let hook = state.strategies.rotate(&m, body.rotate_url).await?;
    saved(&state, m.id).await;
    audit::record(
        &state.store,
        Some(user.id),
        "strategy_webhook_rotated",
        &context(&req, ip),
        json!({ "strategy": m.id, "url": body.rotate_url }),
    )
    .await;
    Ok(HttpResponse::Ok().json(view(&state, &m, &hook, Vec::new())))
}
