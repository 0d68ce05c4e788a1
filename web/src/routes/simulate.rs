//! The risk simulator: `POST /strategies/simulate` for any parameters,
//! `GET /strategies/{id}/simulate` for a saved strategy with its account's
//! real balance, rules and mark price. The numbers are `core::simulator`'s.

use crate::auth::AuthUser;
use crate::problem::{ApiError, FieldError};
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;
use tradingbot_core::exchange::instrument::InstrumentRules;
use tradingbot_core::exchange::{PositionSide, Venue as ExchangeVenue};
use tradingbot_core::lenient;
use tradingbot_core::simulator::{
    Inputs, Venue, binance_btcusdt_tiers, okx_default_tiers, simulate,
};
use tradingbot_core::strategy::{Sizing, StrategyDraft};
use utoipa::ToSchema;

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulateRequest {
    /// An exchange account of yours: its balance, the symbol's rules and
    /// its mark price are used.
    pub account_id: Option<i64>,
    /// `binance` (default) or `okx`, without an account.
    pub exchange: Option<String>,
    /// Default BTCUSDT.
    pub symbol: Option<String>,
    /// Required without an account; default: the account's mark price.
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    #[schema(value_type = Option<f64>)]
    pub entry_price: Option<Decimal>,
    /// USDT; default: the account's available balance, or 10000.
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    #[schema(value_type = Option<f64>)]
    pub balance: Option<Decimal>,
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    #[schema(value_type = Option<f64>)]
    pub investment_pct: Option<Decimal>,
    /// As a strategy's (default `investment_pct`); risk sizing takes
    /// `balance` as the wallet.
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
    /// Take-profit targets in place of the single take-profit (as a
    /// backtest's): each target's gain and the blended risk/reward.
    #[schema(value_type = Option<Vec<crate::routes::backtest::LadderTarget>>, max_items = 5, inline)]
    pub tp_levels: Option<Vec<tradingbot_core::exits::Target>>,
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
    /// Taker fee as a fraction; default Binance 0.0004, OKX 0.0005.
    #[serde(default, deserialize_with = "lenient::opt_decimal")]
    #[schema(value_type = Option<f64>)]
    pub fee_rate: Option<Decimal>,
}

impl crate::extract::Validate for SimulateRequest {
    fn validate(&self) -> Vec<FieldError> {
        let mut e = super::sizing::errors(&super::sizing::Sizing {
            investment_pct: self.investment_pct,
            leverage: self.leverage,
            long_tp_pct: self.long_tp_pct,
            long_sl_pct: self.long_sl_pct,
            short_tp_pct: self.short_tp_pct,
            short_sl_pct: self.short_sl_pct,
        });
        if self.entry_price.is_some_and(|p| p <= Decimal::ZERO) {
            e.push(FieldError::new("entry_price", "a positive price"));
        }
        if self.balance.is_some_and(|b| b <= Decimal::ZERO) {
            e.push(FieldError::new("balance", "a positive amount of USDT"));
        }
        if self
            .fee_rate
            .is_some_and(|f| f < Decimal::ZERO || f > Decimal::new(1, 2))
        {
            e.push(FieldError::new("fee_rate", "a fraction from 0 to 0.01"));
        }
        if self
            .exchange
            .as_deref()
            .is_some_and(|x| !matches!(x, "binance" | "okx"))
        {
            e.push(FieldError::new("exchange", "`binance` or `okx`"));
        }
        if self.account_id.is_some() && self.exchange.is_some() {
            e.push(FieldError::new(
                "exchange",
                "the account decides the exchange; give one or the other",
            ));
        }
        e
    }
}

/// Binance's BTCUSDT filters (tick 0.1, step 0.001, $100 minimum order).
fn binance_btcusdt() -> InstrumentRules {
    InstrumentRules {
        symbol: "BTCUSDT".into(),
        base_asset: "BTC".into(),
        quote_asset: "USDT".into(),
        tick_size: Decimal::new(1, 1),
        min_price: Decimal::new(5568, 1),
        max_price: Decimal::from(4_529_764),
        step_size: Decimal::new(1, 3),
        min_qty: Decimal::new(1, 3),
        max_qty: Decimal::from(1000),
        market_step_size: Decimal::new(1, 3),
        market_min_qty: Decimal::new(1, 3),
        market_max_qty: Decimal::from(120),
        min_notional: Decimal::from(100),
        contract_value: Decimal::ONE,
        max_leverage: Some(125),
    }
}

/// OKX's BTC-USDT-SWAP: contracts of 0.01 BTC in steps of 0.01.
fn okx_btc_swap() -> InstrumentRules {
    InstrumentRules {
        symbol: "BTC-USDT-SWAP".into(),
        tick_size: Decimal::new(1, 1),
        min_price: Decimal::ZERO,
        max_price: Decimal::ZERO,
        step_size: Decimal::new(1, 2),
        min_qty: Decimal::new(1, 2),
        max_qty: Decimal::ZERO,
        market_step_size: Decimal::new(1, 2),
        market_min_qty: Decimal::new(1, 2),
        market_max_qty: Decimal::ZERO,
        min_notional: Decimal::ZERO,
        contract_value: Decimal::new(1, 2),
        ..binance_btcusdt()
    }
}

/// Parameters with their sources resolved.
struct Resolved {
    venue: Venue,
    /// The symbol's maintenance tiers, and where they came from.
    tiers: Vec<tradingbot_core::simulator::Tier>,
    tiers_source: &'static str,
    symbol: String,
    rules: InstrumentRules,
    entry: Decimal,
    balance: Decimal,
    balance_source: &'static str,
}

const TIMEOUT: Duration = Duration::from_secs(5);

/// What a simulation is asked about, before its sources are resolved.
struct Ask<'a> {
    account_id: Option<i64>,
    exchange: Option<&'a str>,
    symbol: &'a str,
    entry: Option<Decimal>,
    balance: Option<Decimal>,
    /// For OKX, whose tiers differ by margin mode.
    mode: tradingbot_core::exchange::MarginMode,
}

async fn resolve(state: &AppState, user_id: i64, ask: Ask<'_>) -> Result<Resolved, ApiError> {
    let Ask {
        account_id,
        exchange,
        symbol,
        entry,
        balance,
        mode,
    } = ask;
    let symbol = tradingbot_core::symbol::Symbol::parse(symbol)
        .map_err(|e| ApiError::invalid("symbol", e.to_string()))?;
    let Some(account_id) = account_id else {
        let venue = if exchange == Some("okx") {
            Venue::Okx
        } else {
            Venue::Binance
        };
        if symbol.as_str() != "BTCUSDT" {
            return Err(ApiError::invalid(
                "symbol",
                "without an account only BTCUSDT's rules are known; give account_id for other symbols",
            ));
        }
        let entry =
            entry.ok_or_else(|| ApiError::invalid("entry_price", "required without an account"))?;
        return Ok(Resolved {
            rules: if venue == Venue::Okx {
                okx_btc_swap()
            } else {
                binance_btcusdt()
            },
            tiers: if venue == Venue::Okx {
                okx_default_tiers()
            } else {
                binance_btcusdt_tiers()
            },
            tiers_source: "published",
            venue,
            symbol: symbol.as_str().to_owned(),
            entry,
            balance: balance.unwrap_or(Decimal::from(10_000)),
            balance_source: if balance.is_some() {
                "given"
            } else {
                "default"
            },
        });
    };
    let account = state
        .accounts
        .get(user_id, account_id)
        .await
        .map_err(|_| ApiError::invalid("account_id", "no such exchange account of yours"))?;
    let conn = state.accounts.connection(&account).await?;
    let venue_symbol = symbol.on(conn.venue());
    let unavailable = |what: &str, e: String| ApiError::Other {
        status: 503,
        code: "exchange_unavailable".into(),
        detail: format!("the exchange could not give {what}: {e}"),
        extensions: serde_json::Map::new(),
    };
    let rules = match tokio::time::timeout(TIMEOUT, conn.rules(&venue_symbol)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(unavailable("the symbol's rules", e.to_string())),
        Err(_) => return Err(unavailable("the symbol's rules", "timeout".into())),
    };
    let entry = match entry {
        Some(p) => p,
        None => match tokio::time::timeout(TIMEOUT, conn.mark_price(&venue_symbol)).await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => return Err(unavailable("a mark price", e.to_string())),
            Err(_) => return Err(unavailable("a mark price", "timeout".into())),
        },
    };
    let (balance, balance_source) = match balance {
        Some(b) => (b, "given"),
        None => match tokio::time::timeout(TIMEOUT, conn.balances()).await {
            Ok(Ok(list)) => (
                list.iter()
                    .find(|b| b.asset == "USDT")
                    .map_or(Decimal::ZERO, |b| b.available),
                "account",
            ),
            Ok(Err(e)) => return Err(unavailable("the balance", e.to_string())),
            Err(_) => return Err(unavailable("the balance", "timeout".into())),
        },
    };
    let tiers =
        match tokio::time::timeout(TIMEOUT, conn.maintenance_tiers(&venue_symbol, mode, entry))
            .await
        {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => return Err(unavailable("the maintenance tiers", e.to_string())),
            Err(_) => return Err(unavailable("the maintenance tiers", "timeout".into())),
        };
    Ok(Resolved {
        tiers,
        tiers_source: if account.exchange == tradingbot_actors::store::enums::Exchange::Paper {
            "published"
        } else {
            "exchange"
        },
        venue: if conn.venue() == ExchangeVenue::Okx {
            Venue::Okx
        } else {
            Venue::Binance
        },
        symbol: symbol.as_str().to_owned(),
        rules,
        entry,
        balance,
        balance_source,
    })
}

struct Plan {
    investment_pct: Decimal,
    sizing: Sizing,
    ladder: Option<tradingbot_core::exits::Ladder>,
    leverage: u32,
    long: (Decimal, Decimal),
    short: (Decimal, Decimal),
    fee_rate: Option<Decimal>,
}

async fn answer(
    state: &AppState,
    user_id: i64,
    r: Resolved,
    p: Plan,
) -> Result<HttpResponse, ApiError> {
    let daily_loss_limit_pct = state
        .execution
        .risk(user_id)
        .await
        .ok()
        .flatten()
        .and_then(|r| r.limits.daily_loss_limit_pct);
    let fee_rate = p.fee_rate.unwrap_or(match r.venue {
        Venue::Binance => Decimal::new(4, 4),
        Venue::Okx => Decimal::new(5, 4),
    });
    let base = Inputs {
        venue: r.venue,
        tiers: r.tiers,
        rules: r.rules,
        entry_price: r.entry,
        balance: r.balance,
        investment_pct: p.investment_pct,
        sizing: p.sizing,
        ladder: p.ladder.clone(),
        leverage: p.leverage,
        tp_pct: p.long.0,
        sl_pct: p.long.1,
        fee_rate,
        daily_loss_limit_pct,
    };
    let long = simulate(&base, PositionSide::Long);
    let short = simulate(
        &Inputs {
            tp_pct: p.short.0,
            sl_pct: p.short.1,
            ..base.clone()
        },
        PositionSide::Short,
    );
    Ok(HttpResponse::Ok().json(json!({
        "exchange": r.venue,
        "symbol": r.symbol,
        "entry_price": r.entry,
        "balance": r.balance,
        "balance_source": r.balance_source,
        "tiers_source": r.tiers_source,
        "investment_pct": p.investment_pct,
        "sizing_mode": p.sizing.mode(),
        "risk_pct": p.sizing.risk_pct(),
        "qty_usdt": p.sizing.qty_usdt(),
        "qty_base": p.sizing.qty_base(),
        "leverage": p.leverage,
        "fee_rate": fee_rate,
        "daily_loss_limit_pct": daily_loss_limit_pct,
        "long": long,
        "short": short,
    })))
}

/// Simulate any parameters
///
/// Quantity after the exchange's step, notional, margin, loss at the
/// stop-loss and gain at the take-profit (money and % of the balance, fees
/// included), risk/reward, liquidation price isolated and cross from the
/// maintenance tiers, and warnings (`stop_loss_beyond_liquidation`,
/// `leverage_above_3x`, `leverage_above_tier_max`, `below_min_notional`,
/// `below_min_quantity`, `loss_exceeds_daily_limit`), for a long and a short.
#[utoipa::path(post, path = "/api/v1/strategies/simulate", tag = "strategies",
    security(("bearer" = [])), request_body = SimulateRequest,
    responses((status = 200, description = "long and short simulations"), (status = 422, description = "`validation_failed`"),
        (status = 503, description = "`exchange_unavailable`")))]
pub async fn simulate_any(
    state: web::Data<AppState>,
    user: AuthUser,
    body: crate::extract::Json<SimulateRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let r = resolve(
        &state,
        user.id,
        Ask {
            account_id: b.account_id,
            exchange: b.exchange.as_deref(),
            symbol: b.symbol.as_deref().unwrap_or("BTCUSDT"),
            entry: b.entry_price,
            balance: b.balance,
            mode: tradingbot_core::exchange::MarginMode::Isolated,
        },
    )
    .await?;
    let d = |v: Option<Decimal>, default: i64| v.unwrap_or(Decimal::from(default));
    let sizing = Sizing::resolve(
        &StrategyDraft {
            sizing_mode: b.sizing_mode.clone(),
            risk_pct: b.risk_pct,
            qty_usdt: b.qty_usdt,
            qty_base: b.qty_base,
            ..Default::default()
        },
        None,
    )
    .map_err(ApiError::from)?;
    let ladder = b
        .tp_levels
        .as_deref()
        .map(|levels| tradingbot_core::exits::Ladder::from_fields(levels, None, None))
        .transpose()
        .map_err(ApiError::from)?;
    let plan = Plan {
        investment_pct: d(b.investment_pct, 10),
        sizing,
        ladder,
        leverage: b.leverage.unwrap_or(3),
        long: (d(b.long_tp_pct, 5), d(b.long_sl_pct, 2)),
        short: (d(b.short_tp_pct, 5), d(b.short_sl_pct, 2)),
        fee_rate: b.fee_rate,
    };
    answer(&state, user.id, r, plan).await
}

/// Simulate a saved strategy
///
/// The strategy's size, leverage and TP/SL on its first symbol, with its
/// account's available balance, the symbol's rules and the mark price.
#[utoipa::path(get, path = "/api/v1/strategies/{id}/simulate", tag = "strategies",
    security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, description = "long and short simulations"), (status = 404),
        (status = 409, description = "`no_account`: the strategy has no exchange account")))]
pub async fn simulate_saved(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let m = state.strategies.get(user.id, id.into_inner()).await?;
    let cfg = tradingbot_actors::strategies::config_of(&m);
    let Some(account_id) = m.account_id else {
        return Err(ApiError::conflict(
            "no_account",
            "the strategy has no exchange account to take the balance from; set account_id or use POST /strategies/simulate",
        ));
    };
    let symbol = cfg
        .symbols
        .first()
        .map_or("BTCUSDT".to_owned(), |s| s.as_str().to_owned());
    let r = resolve(
        &state,
        user.id,
        Ask {
            account_id: Some(account_id),
            exchange: None,
            symbol: &symbol,
            entry: None,
            balance: None,
            mode: cfg.margin_mode,
        },
    )
    .await?;
    let plan = Plan {
        investment_pct: cfg.investment_pct,
        sizing: cfg.sizing,
        ladder: None,
        leverage: cfg.leverage,
        long: (cfg.long_tp_pct, cfg.long_sl_pct),
        short: (cfg.short_tp_pct, cfg.short_sl_pct),
        fee_rate: None,
    };
    answer(&state, user.id, r, plan).await
}
