//! A trader's strategy: which market, how much of the deposit, which
//! leverage, and where profit is taken and losses are cut — with the seed's
//! field names, defaults and ranges, validated once here so the API, the
//! database and the execution core agree.

pub use crate::entry::{EntryOrder, Fallback};
use crate::exchange::MarginMode;
pub use crate::exits::{BreakEven, Ladder, StopTo, Target};
pub use crate::protections::Protections;
use crate::symbol::Symbol;
pub use crate::trailing::Trailing;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The indicator templates a strategy can be built on (the Pine Script
/// library), plus `custom` for a script the trader wrote.
pub const INDICATORS: [&str; 6] = [
    "ema_crossover",
    "rsi_reversal",
    "macd_cross",
    "bollinger",
    "supertrend",
    "custom",
];

/// The most symbols one strategy may trade; each needs its own alerts.
pub const MAX_SYMBOLS: usize = 20;

/// What an opposite signal does while a position is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OppositeSignal {
    /// Close the position and open the other way.
    Reverse,
    /// Close the position only.
    Close,
}

impl OppositeSignal {
    pub fn as_str(self) -> &'static str {
        match self {
            OppositeSignal::Reverse => "reverse",
            OppositeSignal::Close => "close",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "reverse" => Some(Self::Reverse),
            "close" => Some(Self::Close),
            _ => None,
        }
    }
}

/// What a strategy sizes its entries by (API field `sizing_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "sizing_mode", rename_all = "snake_case")]
pub enum Sizing {
    /// `investment_pct` of the available balance as margin (the seed's).
    InvestmentPct,
    /// The loss at the stop-loss is `risk_pct` % of the wallet balance, so
    /// every trade risks the same, whatever its stop's distance.
    RiskPct { risk_pct: Decimal },
    /// A position worth `qty_usdt` (notional, quote asset).
    FixedUsdt { qty_usdt: Decimal },
    /// `qty_base` of the base asset (BTC for BTCUSDT).
    FixedQty { qty_base: Decimal },
}

impl Sizing {
    /// The API's names of the modes.
    pub const MODES: [&'static str; 4] = ["investment_pct", "risk_pct", "fixed_usdt", "fixed_qty"];

    pub fn mode(&self) -> &'static str {
        match self {
            Sizing::InvestmentPct => "investment_pct",
            Sizing::RiskPct { .. } => "risk_pct",
            Sizing::FixedUsdt { .. } => "fixed_usdt",
            Sizing::FixedQty { .. } => "fixed_qty",
        }
    }

    pub fn risk_pct(&self) -> Option<Decimal> {
        match self {
            Sizing::RiskPct { risk_pct } => Some(*risk_pct),
            _ => None,
        }
    }

    pub fn qty_usdt(&self) -> Option<Decimal> {
        match self {
            Sizing::FixedUsdt { qty_usdt } => Some(*qty_usdt),
            _ => None,
        }
    }

    pub fn qty_base(&self) -> Option<Decimal> {
        match self {
            Sizing::FixedQty { qty_base } => Some(*qty_base),
            _ => None,
        }
    }

    /// The mode named `mode` with its amount from the fields given (`None`
    /// when the mode's own field is missing or the mode is unknown).
    pub fn from_fields(
        mode: &str,
        risk_pct: Option<Decimal>,
        qty_usdt: Option<Decimal>,
        qty_base: Option<Decimal>,
    ) -> Option<Self> {
        Some(match mode {
            "investment_pct" => Sizing::InvestmentPct,
            "risk_pct" => Sizing::RiskPct {
                risk_pct: risk_pct?,
            },
            "fixed_usdt" => Sizing::FixedUsdt {
                qty_usdt: qty_usdt?,
            },
            "fixed_qty" => Sizing::FixedQty {
                qty_base: qty_base?,
            },
            _ => return None,
        })
    }
}

/// A validated strategy configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StrategyConfig {
    pub name: String,
    pub indicator_id: String,
    pub symbols: Vec<Symbol>,
    /// Share of the account's available balance used as margin, 1–100 %
    /// (what the entry is sized by when `sizing` says so).
    pub investment_pct: Decimal,
    /// What entries are sized by.
    #[serde(flatten)]
    pub sizing: Sizing,
    /// What holds new entries back after too many trades or losses.
    #[serde(flatten)]
    pub protections: Protections,
    /// Take-profit targets (for longs and shorts alike) and where the stop
    /// moves after one; replaces `long_tp_pct` / `short_tp_pct` when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ladder: Option<Ladder>,
    /// A trailing stop resting beside the stop-loss.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trailing: Option<Trailing>,
    /// How entries go to the venue: at market, or as a limit order.
    #[serde(default)]
    pub entry: EntryOrder,
    pub long_tp_pct: Decimal,
    pub long_sl_pct: Decimal,
    pub short_tp_pct: Decimal,
    pub short_sl_pct: Decimal,
    /// 1–125, and no more than the venue allows for the symbol (checked by
    /// the caller, which knows the venue).
    pub leverage: u32,
    pub margin_mode: MarginMode,
    pub opposite_signal: OppositeSignal,
}

/// One field that failed validation, named as the API names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A strategy as the API receives it: every field optional, so that a
/// partial update and a creation (defaults from the seed) share one path.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyDraft {
    pub name: Option<String>,
    pub indicator_id: Option<String>,
    pub symbols: Option<Vec<String>>,
    /// A single symbol, for clients that send one.
    pub symbol: Option<String>,
    #[serde(default, deserialize_with = "crate::lenient::opt_decimal")]
    pub investment_pct: Option<Decimal>,
    /// `investment_pct` (default), `risk_pct`, `fixed_usdt` or `fixed_qty`.
    pub sizing_mode: Option<String>,
    #[serde(default, deserialize_with = "crate::lenient::opt_decimal")]
    pub risk_pct: Option<Decimal>,
    #[serde(default, deserialize_with = "crate::lenient::opt_decimal")]
    pub qty_usdt: Option<Decimal>,
    #[serde(default, deserialize_with = "crate::lenient::opt_decimal")]
    pub qty_base: Option<Decimal>,
    /// Protections; 0 turns one off.
    pub max_entries_per_day: Option<i64>,
    pub cooldown_after_sl_min: Option<i64>,
    pub pause_after_sl_streak: Option<i64>,
    #[serde(default, deserialize_with = "crate::lenient::opt_decimal")]
    pub max_drawdown_pct: Option<Decimal>,
    /// A take-profit ladder; `[]` removes it.
    pub tp_levels: Option<Vec<Target>>,
    /// The target after which the stop moves; 0 turns it off.
    pub break_even_after: Option<i64>,
    /// `entry` (default) or `previous_target`.
    pub break_even_to: Option<String>,
    /// A trailing stop's callback, %; 0 removes it.
    #[serde(default, deserialize_with = "crate::lenient::opt_decimal")]
    pub trail_pct: Option<Decimal>,
    /// How far in profit it starts following, %; 0: at once.
    #[serde(default, deserialize_with = "crate::lenient::opt_decimal")]
    pub trail_activation_pct: Option<Decimal>,
    /// `market` (default) or `limit`.
    pub order_type: Option<String>,
    #[serde(default, deserialize_with = "crate::lenient::opt_decimal")]
    pub limit_offset_pct: Option<Decimal>,
    pub limit_expiry_sec: Option<i64>,
    /// `cancel` (default) or `market`.
    pub limit_fallback: Option<String>,
    pub post_only: Option<bool>,
    #[serde(default, deserialize_with = "crate::lenient::opt_decimal")]
    pub long_tp_pct: Option<Decimal>,
    #[serde(default, deserialize_with = "crate::lenient::opt_decimal")]
    pub long_sl_pct: Option<Decimal>,
    #[serde(default, deserialize_with = "crate::lenient::opt_decimal")]
    pub short_tp_pct: Option<Decimal>,
    #[serde(default, deserialize_with = "crate::lenient::opt_decimal")]
    pub short_sl_pct: Option<Decimal>,
    pub leverage: Option<i64>,
    pub margin_mode: Option<String>,
    pub opposite_signal: Option<String>,
}

/// The symbol a new strategy trades when the form names none: the seed's
/// examples trade it, and both venues list it.
pub const DEFAULT_SYMBOL: &str = "BTCUSDT";

impl StrategyDraft {
    /// The seed's strategy form sends only percentages, leverage and the
    /// indicator. A strategy created from it is named after its indicator
    /// and symbol (numbered when the trader already has one of that name)
    /// and trades [`DEFAULT_SYMBOL`]; both can be edited later. `taken`:
    /// the names of the trader's strategies.
    pub fn with_creation_defaults(mut self, taken: &[String]) -> Self {
        if self.symbols.is_none() && self.symbol.is_none() {
            self.symbols = Some(vec![DEFAULT_SYMBOL.to_owned()]);
        }
        if self.name.is_none() {
            let indicator = self
                .indicator_id
                .as_deref()
                .map(str::trim)
                .unwrap_or("custom");
            let title = crate::templates::find(indicator)
                .map(|t| t.name.to_owned())
                .unwrap_or_else(|| "Custom strategy".to_owned());
            let symbol = match (&self.symbols, &self.symbol) {
                (Some(list), _) if list.len() == 1 => Symbol::parse(&list[0]).ok(),
                (None, Some(one)) => Symbol::parse(one).ok(),
                _ => None,
            };
            let base = match symbol {
                Some(s) => format!("{title} {}", s.as_str()),
                None => title,
            };
            let free = |n: &str| !taken.iter().any(|t| t.eq_ignore_ascii_case(n));
            let name = std::iter::once(base.clone())
                .chain((2..).map(|i| format!("{base} {i}")))
                .find(|n| free(n))
                .unwrap_or(base);
            self.name = Some(name);
        }
        self
    }
}

fn pct(errors: &mut Vec<FieldError>, field: &str, v: Decimal, min: Decimal) -> Decimal {
    if v < min || v > Decimal::ONE_HUNDRED {
        errors.push(FieldError::new(
            field,
            format!("must be between {min} and 100 (percent)"),
        ));
    } else if v.normalize().scale() > 2 {
        errors.push(FieldError::new(field, "at most two decimal places"));
    }
    v.normalize()
}

/// The protections `draft` sets over `base`'s (the backtester takes them
/// the way a strategy does).
pub fn resolve_protections(
    draft: &StrategyDraft,
    base: Option<Protections>,
) -> Result<Protections, Vec<FieldError>> {
    let mut errors = Vec::new();
    let p = protections(&mut errors, draft, base);
    if errors.is_empty() {
        Ok(p)
    } else {
        Err(errors)
    }
}

/// How entries go out, as the draft sets it over `base`'s: `order_type`
/// `limit` with its offset, expiry, fallback and post-only flag (each kept
/// from a limit `base` unless given), or `market`.
fn entry_order(
    errors: &mut Vec<FieldError>,
    draft: &StrategyDraft,
    base: Option<EntryOrder>,
) -> EntryOrder {
    let kept = match base {
        Some(EntryOrder::Limit {
            limit_offset_pct,
            limit_expiry_sec,
            limit_fallback,
            post_only,
        }) => Some((
            limit_offset_pct,
            limit_expiry_sec,
            limit_fallback,
            post_only,
        )),
        _ => None,
    };
    let limit = match draft.order_type.as_deref() {
        Some("market") => false,
        Some("limit") => true,
        None => kept.is_some(),
        Some(_) => {
            errors.push(FieldError::new("order_type", "`market` or `limit`"));
            return base.unwrap_or_default();
        }
    };
    let limit_fields = draft.limit_offset_pct.is_some()
        || draft.limit_expiry_sec.is_some()
        || draft.limit_fallback.is_some()
        || draft.post_only.is_some();
    if !limit {
        if limit_fields && draft.order_type.is_none() {
            errors.push(FieldError::new(
                "order_type",
                "`limit` for limit_offset_pct, limit_expiry_sec, limit_fallback or post_only",
            ));
        }
        return EntryOrder::Market;
    }
    let (offset, expiry, fallback, post_only) =
        kept.unwrap_or((Decimal::ZERO, 60, Fallback::Cancel, false));
    let limit_fallback = match draft.limit_fallback.as_deref() {
        None => fallback,
        Some("cancel") => Fallback::Cancel,
        Some("market") => Fallback::Market,
        Some(_) => {
            errors.push(FieldError::new("limit_fallback", "`cancel` or `market`"));
            fallback
        }
    };
    let limit_expiry_sec = match draft.limit_expiry_sec {
        None => expiry,
        Some(v) => u32::try_from(v).unwrap_or(0),
    };
    let e = EntryOrder::Limit {
        limit_offset_pct: draft.limit_offset_pct.unwrap_or(offset).normalize(),
        limit_expiry_sec,
        limit_fallback,
        post_only: draft.post_only.unwrap_or(post_only),
    };
    if let Err(v) = e.validate() {
        errors.extend(v);
    }
    e
}

/// How entries go out as `draft` sets it over `base`'s (the backtester
/// takes it the way a strategy does).
pub fn resolve_entry(
    draft: &StrategyDraft,
    base: Option<EntryOrder>,
) -> Result<EntryOrder, Vec<FieldError>> {
    let mut errors = Vec::new();
    let e = entry_order(&mut errors, draft, base);
    if errors.is_empty() {
        Ok(e)
    } else {
        Err(errors)
    }
}

/// The trailing stop `draft` sets over `base`'s (the backtester takes it
/// the way a strategy does).
pub fn resolve_trailing(
    draft: &StrategyDraft,
    base: Option<Trailing>,
) -> Result<Option<Trailing>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let t = trailing(&mut errors, draft, base);
    if errors.is_empty() {
        Ok(t)
    } else {
        Err(errors)
    }
}

/// The protections the draft sets over `base`'s; 0 turns one off.
fn protections(
    errors: &mut Vec<FieldError>,
    draft: &StrategyDraft,
    base: Option<Protections>,
) -> Protections {
    let base = base.unwrap_or_default();
    let mut whole =
        |field: &str, given: Option<i64>, kept: Option<u32>, max: i64, unit: &str| match given {
            None => kept,
            Some(0) => None,
            Some(v) if (1..=max).contains(&v) => Some(v as u32),
            Some(_) => {
                errors.push(FieldError::new(
                    field,
                    format!("between 1 and {max} ({unit}), or 0 for none"),
                ));
                kept
            }
        };
    let max_entries_per_day = whole(
        "max_entries_per_day",
        draft.max_entries_per_day,
        base.max_entries_per_day,
        1000,
        "new positions per UTC day",
    );
    let cooldown_after_sl_min = whole(
        "cooldown_after_sl_min",
        draft.cooldown_after_sl_min,
        base.cooldown_after_sl_min,
        10_080,
        "minutes",
    );
    let pause_after_sl_streak = whole(
        "pause_after_sl_streak",
        draft.pause_after_sl_streak,
        base.pause_after_sl_streak,
        100,
        "stop-losses in a row",
    );
    let max_drawdown_pct = match draft.max_drawdown_pct {
        None => base.max_drawdown_pct,
        Some(v) if v.is_zero() => None,
        Some(v)
            if v >= Decimal::new(1, 1)
                && v <= Decimal::ONE_HUNDRED
                && v.normalize().scale() <= 2 =>
        {
            Some(v.normalize())
        }
        Some(_) => {
            errors.push(FieldError::new(
                "max_drawdown_pct",
                "between 0.1 and 100 (% of the wallet, two decimals at most), or 0 for none",
            ));
            base.max_drawdown_pct
        }
    };
    Protections {
        max_entries_per_day,
        cooldown_after_sl_min,
        pause_after_sl_streak,
        max_drawdown_pct,
    }
}

/// The ladder the draft sets over `base`'s: `tp_levels` replaces the
/// targets (`[]` removes the ladder), `break_even_after` 0 turns the moving
/// stop off, `break_even_to` alone changes where an existing one goes.
fn ladder(
    errors: &mut Vec<FieldError>,
    draft: &StrategyDraft,
    base: Option<&Ladder>,
) -> Option<Ladder> {
    let targets = match &draft.tp_levels {
        Some(list) if list.is_empty() => None,
        Some(list) => Some(list.clone()),
        None => base.map(|l| l.targets.clone()),
    };
    let to = match draft.break_even_to.as_deref() {
        None => None,
        Some("entry") => Some(StopTo::Entry),
        Some("previous_target") => Some(StopTo::PreviousTarget),
        Some(_) => {
            errors.push(FieldError::new(
                "break_even_to",
                "`entry` or `previous_target`",
            ));
            None
        }
    };
    let kept = base.and_then(|l| l.break_even);
    let break_even = match draft.break_even_after {
        Some(0) => None,
        Some(n) => match u8::try_from(n) {
            Ok(after) => Some(BreakEven {
                after,
                to: to.or(kept.map(|b| b.to)).unwrap_or(StopTo::Entry),
            }),
            Err(_) => {
                errors.push(FieldError::new(
                    "break_even_after",
                    "a target before the last (the last one closes the position)",
                ));
                None
            }
        },
        None => kept.map(|b| BreakEven {
            to: to.unwrap_or(b.to),
            ..b
        }),
    };
    let Some(targets) = targets else {
        let asked = draft.break_even_after.is_some_and(|n| n != 0)
            || (draft.break_even_to.is_some() && draft.break_even_after != Some(0));
        if asked {
            errors.push(FieldError::new(
                "break_even_after",
                "moves the stop after a target: set tp_levels too",
            ));
        }
        return None;
    };
    let ladder = Ladder {
        targets,
        break_even,
    };
    if let Err(e) = ladder.validate() {
        errors.extend(e);
    }
    Some(ladder)
}

/// The trailing stop the draft sets over `base`'s: `trail_pct` 0 removes
/// it, `trail_activation_pct` 0 makes it follow at once.
fn trailing(
    errors: &mut Vec<FieldError>,
    draft: &StrategyDraft,
    base: Option<Trailing>,
) -> Option<Trailing> {
    let callback = draft.trail_pct.or(base.map(|b| b.callback_pct));
    let activation = match draft.trail_activation_pct {
        Some(a) => Some(a),
        None if draft.trail_pct.is_some_and(|p| p.is_zero()) => None,
        None => base.and_then(|b| b.activation_pct),
    };
    match Trailing::from_fields(callback, activation) {
        Ok(t) => t,
        Err(e) => {
            errors.extend(e);
            None
        }
    }
}

/// The most a fixed-amount strategy may name: beyond any venue's largest
/// order, so a typo (an extra zero or six) is refused, not traded.
const MAX_QTY_USDT: i64 = 100_000_000;

impl Sizing {
    /// The sizing `draft`'s sizing fields ask for over `base`'s (the
    /// backtester takes them the way a strategy does).
    pub fn resolve(draft: &StrategyDraft, base: Option<Sizing>) -> Result<Sizing, Vec<FieldError>> {
        let mut errors = Vec::new();
        let s = sizing(&mut errors, draft, base);
        if errors.is_empty() {
            Ok(s)
        } else {
            Err(errors)
        }
    }
}

/// The sizing the draft asks for over `base`'s: naming another mode needs
/// that mode's amount (given, or kept from the base when it is the same
/// mode); an amount alone changes the current mode's.
fn sizing(errors: &mut Vec<FieldError>, draft: &StrategyDraft, base: Option<Sizing>) -> Sizing {
    let base = base.unwrap_or(Sizing::InvestmentPct);
    let mode = draft
        .sizing_mode
        .as_deref()
        .map(str::trim)
        .unwrap_or(base.mode());
    if !Sizing::MODES.contains(&mode) {
        errors.push(FieldError::new(
            "sizing_mode",
            format!("one of {}", Sizing::MODES.join(", ")),
        ));
        return base;
    }
    for (field, given, of) in [
        ("risk_pct", draft.risk_pct, "risk_pct"),
        ("qty_usdt", draft.qty_usdt, "fixed_usdt"),
        ("qty_base", draft.qty_base, "fixed_qty"),
    ] {
        if given.is_some() && mode != of {
            errors.push(FieldError::new(
                field,
                format!("only with sizing_mode `{of}` (this strategy's is `{mode}`)"),
            ));
        }
    }
    let chosen = Sizing::from_fields(
        mode,
        draft.risk_pct.or(base.risk_pct()),
        draft.qty_usdt.or(base.qty_usdt()),
        draft.qty_base.or(base.qty_base()),
    );
    let Some(chosen) = chosen else {
        let field = match mode {
            "risk_pct" => "risk_pct",
            "fixed_usdt" => "qty_usdt",
            _ => "qty_base",
        };
        errors.push(FieldError::new(
            field,
            format!("required with sizing_mode `{mode}`"),
        ));
        return base;
    };
    match chosen {
        Sizing::RiskPct { risk_pct } => {
            if risk_pct < Decimal::new(1, 2) || risk_pct > Decimal::ONE_HUNDRED {
                errors.push(FieldError::new(
                    "risk_pct",
                    "must be between 0.01 and 100 (percent of the wallet lost at the stop)",
                ));
            } else if risk_pct.normalize().scale() > 2 {
                errors.push(FieldError::new("risk_pct", "at most two decimal places"));
            }
        }
        Sizing::FixedUsdt { qty_usdt } => {
            if qty_usdt <= Decimal::ZERO || qty_usdt > Decimal::from(MAX_QTY_USDT) {
                errors.push(FieldError::new(
                    "qty_usdt",
                    format!("must be above 0 and at most {MAX_QTY_USDT} (USDT of notional)"),
                ));
            }
        }
        Sizing::FixedQty { qty_base } => {
            if qty_base <= Decimal::ZERO || qty_base > Decimal::from(10_000_000) {
                errors.push(FieldError::new(
                    "qty_base",
                    "must be above 0 and at most 10000000 (of the base asset)",
                ));
            }
        }
        Sizing::InvestmentPct => {}
    }
    match chosen {
        Sizing::RiskPct { risk_pct } => Sizing::RiskPct {
            risk_pct: risk_pct.normalize(),
        },
        Sizing::FixedUsdt { qty_usdt } => Sizing::FixedUsdt {
            qty_usdt: qty_usdt.normalize(),
        },
        Sizing::FixedQty { qty_base } => Sizing::FixedQty {
            qty_base: qty_base.normalize(),
        },
        Sizing::InvestmentPct => Sizing::InvestmentPct,
    }
}

impl StrategyConfig {
    /// The seed's defaults: 10 % of the deposit, TP 5 % / SL 2 % both ways, 3x.
    pub fn defaults() -> (Decimal, Decimal, Decimal, u32) {
        (Decimal::TEN, Decimal::from(5), Decimal::TWO, 3)
    }

    /// Applies `draft` over `base` (a creation passes `None`) and validates
    /// the result; every invalid field is reported, not only the first.
    pub fn from_draft(
        draft: &StrategyDraft,
        base: Option<&StrategyConfig>,
    ) -> Result<StrategyConfig, Vec<FieldError>> {
        let mut errors = Vec::new();
        let (inv, tp, sl, lev) = Self::defaults();
        let point_one = Decimal::new(1, 1);

        let name = match (&draft.name, base) {
            (Some(n), _) => n.trim().to_owned(),
            (None, Some(b)) => b.name.clone(),
            (None, None) => String::new(),
        };
        if name.is_empty() || name.chars().count() > 255 {
            errors.push(FieldError::new("name", "required, at most 255 characters"));
        }

        let indicator_id = match (&draft.indicator_id, base) {
            (Some(i), _) => i.trim().to_owned(),
            (None, Some(b)) => b.indicator_id.clone(),
            (None, None) => "custom".to_owned(),
        };
        if !INDICATORS.contains(&indicator_id.as_str()) {
            errors.push(FieldError::new(
                "indicator_id",
                format!("unknown indicator; one of {}", INDICATORS.join(", ")),
            ));
        }

        let raw_symbols: Option<Vec<String>> = match (&draft.symbols, &draft.symbol) {
            (Some(_), Some(_)) => {
                errors.push(FieldError::new(
                    "symbol",
                    "give `symbols` or `symbol`, not both",
                ));
                None
            }
            (Some(list), None) => Some(list.clone()),
            (None, Some(one)) => Some(vec![one.clone()]),
            (None, None) => None,
        };
        let symbols = match (raw_symbols, base) {
            (Some(list), _) => {
                let mut out: Vec<Symbol> = Vec::new();
                for (i, raw) in list.iter().enumerate() {
                    match Symbol::parse(raw) {
                        Ok(s) if !out.contains(&s) => out.push(s),
                        Ok(_) => {
                            errors.push(FieldError::new(format!("symbols[{i}]"), "listed twice"))
                        }
                        Err(e) => {
                            errors.push(FieldError::new(format!("symbols[{i}]"), e.to_string()))
                        }
                    }
                }
                if list.is_empty() || list.len() > MAX_SYMBOLS {
                    errors.push(FieldError::new(
                        "symbols",
                        format!("between 1 and {MAX_SYMBOLS} symbols"),
                    ));
                }
                out
            }
            (None, Some(b)) => b.symbols.clone(),
            (None, None) => {
                errors.push(FieldError::new("symbols", "required, e.g. [\"BTCUSDT\"]"));
                Vec::new()
            }
        };

        let pick = |v: Option<Decimal>, from_base: fn(&StrategyConfig) -> Decimal, d: Decimal| {
            v.or(base.map(from_base)).unwrap_or(d)
        };
        let investment_pct = pct(
            &mut errors,
            "investment_pct",
            pick(draft.investment_pct, |b| b.investment_pct, inv),
            Decimal::ONE,
        );
        let sizing = sizing(&mut errors, draft, base.map(|b| b.sizing));
        let protections = protections(&mut errors, draft, base.map(|b| b.protections));
        let ladder = ladder(&mut errors, draft, base.and_then(|b| b.ladder.as_ref()));
        let trailing = trailing(&mut errors, draft, base.and_then(|b| b.trailing));
        let entry = entry_order(&mut errors, draft, base.map(|b| b.entry));
        let long_tp_pct = pct(
            &mut errors,
            "long_tp_pct",
            pick(draft.long_tp_pct, |b| b.long_tp_pct, tp),
            point_one,
        );
        let long_sl_pct = pct(
            &mut errors,
            "long_sl_pct",
            pick(draft.long_sl_pct, |b| b.long_sl_pct, sl),
            point_one,
        );
        let short_tp_pct = pct(
            &mut errors,
            "short_tp_pct",
            pick(draft.short_tp_pct, |b| b.short_tp_pct, tp),
            point_one,
        );
        let short_sl_pct = pct(
            &mut errors,
            "short_sl_pct",
            pick(draft.short_sl_pct, |b| b.short_sl_pct, sl),
            point_one,
        );

        let leverage = draft
            .leverage
            .or(base.map(|b| i64::from(b.leverage)))
            .unwrap_or(i64::from(lev));
        if !(1..=125).contains(&leverage) {
            errors.push(FieldError::new("leverage", "must be between 1 and 125"));
        }

        let margin_mode = match (&draft.margin_mode, base) {
            (Some(m), _) => match m.as_str() {
                "isolated" => MarginMode::Isolated,
                "cross" => MarginMode::Cross,
                _ => {
                    errors.push(FieldError::new("margin_mode", "`isolated` or `cross`"));
                    MarginMode::Isolated
                }
            },
            (None, Some(b)) => b.margin_mode,
            (None, None) => MarginMode::Isolated,
        };
        let opposite_signal = match (&draft.opposite_signal, base) {
            (Some(o), _) => OppositeSignal::parse(o).unwrap_or_else(|| {
                errors.push(FieldError::new("opposite_signal", "`reverse` or `close`"));
                OppositeSignal::Reverse
            }),
            (None, Some(b)) => b.opposite_signal,
            (None, None) => OppositeSignal::Reverse,
        };

        if errors.is_empty() {
            Ok(StrategyConfig {
                name,
                indicator_id,
                symbols,
                investment_pct,
                sizing,
                protections,
                ladder,
                trailing,
                entry,
                long_tp_pct,
                long_sl_pct,
                short_tp_pct,
                short_sl_pct,
                leverage: leverage as u32,
                margin_mode,
                opposite_signal,
            })
        } else {
            Err(errors)
        }
    }

    pub fn trades(&self, symbol: &Symbol) -> bool {
        self.symbols.contains(symbol)
    }
}

/// The alert message a trader pastes into TradingView's "Message" box for a
/// strategy script. TradingView fills the `{{…}}` placeholders when the
/// alert fires; `market_position` lets a `sell` that merely closes a long be
/// told apart from a `sell` that reverses into a short.
pub fn alert_message(secret: &str) -> String {
    // Built by hand so the keys keep this order and the placeholders stay
    // unquoted-safe for TradingView's plain substitution.
    format!(
        concat!(
            "{{\n",
            "  \"secret\": \"{}\",\n",
            "  \"action\": \"{{{{strategy.order.action}}}}\",\n",
            "  \"market_position\": \"{{{{strategy.market_position}}}}\",\n",
            "  \"symbol\": \"{{{{ticker}}}}\",\n",
            "  \"price\": \"{{{{close}}}}\",\n",
            "  \"timestamp\": \"{{{{timenow}}}}\",\n",
            "  \"id\": \"{{{{strategy.order.id}}}}-{{{{timenow}}}}\"\n",
            "}}"
        ),
        secret
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn draft(json: &str) -> StrategyDraft {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn creation_takes_the_seeds_defaults() {
        let c =
            StrategyConfig::from_draft(&draft(r#"{"name":"EMA","symbols":["BTCUSDT.P"]}"#), None)
                .unwrap();
        assert_eq!(c.investment_pct, dec!(10));
        assert_eq!((c.long_tp_pct, c.long_sl_pct), (dec!(5), dec!(2)));
        assert_eq!((c.short_tp_pct, c.short_sl_pct), (dec!(5), dec!(2)));
        assert_eq!(c.leverage, 3);
        assert_eq!(c.margin_mode, MarginMode::Isolated);
        assert_eq!(c.opposite_signal, OppositeSignal::Reverse);
        assert_eq!(c.symbols[0].as_str(), "BTCUSDT");
        assert_eq!(c.indicator_id, "custom");
    }

    #[test]
    fn the_seeds_form_alone_makes_a_strategy() {
        let form =
            || draft(r#"{"indicator_id":"ema_crossover","investment_pct":"15","leverage":5}"#);
        let c = StrategyConfig::from_draft(&form().with_creation_defaults(&[]), None).unwrap();
        assert_eq!(c.name, "EMA Crossover BTCUSDT");
        assert_eq!(c.symbols[0].as_str(), DEFAULT_SYMBOL);
        assert_eq!((c.investment_pct, c.leverage), (dec!(15), 5));

        let taken = vec![
            "ema crossover btcusdt".to_owned(),
            "EMA Crossover BTCUSDT 2".to_owned(),
        ];
        let c = StrategyConfig::from_draft(&form().with_creation_defaults(&taken), None).unwrap();
        assert_eq!(c.name, "EMA Crossover BTCUSDT 3");

        let named = draft(r#"{"name":"Mine","symbol":"ethusdt.p"}"#).with_creation_defaults(&taken);
        assert_eq!(named.name.as_deref(), Some("Mine"));
        assert_eq!(named.symbols, None);
        let unnamed = draft(r#"{"symbol":"ethusdt.p"}"#).with_creation_defaults(&[]);
        assert_eq!(unnamed.name.as_deref(), Some("Custom strategy ETHUSDT"));
        // An explicit empty name is still a mistake, not a request for one.
        let empty = draft(r#"{"name":""}"#).with_creation_defaults(&[]);
        assert!(StrategyConfig::from_draft(&empty, None).is_err());
    }

    #[test]
    fn every_bad_field_is_named() {
        let errs = StrategyConfig::from_draft(
            &draft(
                r#"{"name":"","indicator_id":"magic","symbols":["BTCEUR"],"investment_pct":"0.5",
                   "long_tp_pct":"0.05","long_sl_pct":"101","short_tp_pct":"5.123","short_sl_pct":"-1",
                   "leverage":126,"margin_mode":"portfolio","opposite_signal":"ignore"}"#,
            ),
            None,
        )
        .unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "name",
                "indicator_id",
                "symbols[0]",
                "investment_pct",
                "long_tp_pct",
                "long_sl_pct",
                "short_tp_pct",
                "short_sl_pct",
                "leverage",
                "margin_mode",
                "opposite_signal"
            ]
        );
    }

    #[test]
    fn sizing_modes_need_their_amount_and_only_theirs() {
        let make = |json: &str, base: Option<&StrategyConfig>| {
            StrategyConfig::from_draft(&draft(json), base)
        };
        let c = make(r#"{"name":"x","symbol":"BTCUSDT"}"#, None).unwrap();
        assert_eq!(c.sizing, Sizing::InvestmentPct);
        let r = make(
            r#"{"name":"x","symbol":"BTCUSDT","sizing_mode":"risk_pct","risk_pct":"1.50"}"#,
            None,
        )
        .unwrap();
        assert_eq!(
            r.sizing,
            Sizing::RiskPct {
                risk_pct: dec!(1.5)
            }
        );
        // An amount alone changes the current mode's; the mode is kept.
        let r2 = make(r#"{"risk_pct":0.5}"#, Some(&r)).unwrap();
        assert_eq!(
            r2.sizing,
            Sizing::RiskPct {
                risk_pct: dec!(0.5)
            }
        );
        // Another mode needs its own amount.
        let e = make(r#"{"sizing_mode":"fixed_usdt"}"#, Some(&r)).unwrap_err();
        assert_eq!(e[0].field, "qty_usdt");
        let u = make(r#"{"sizing_mode":"fixed_usdt","qty_usdt":250}"#, Some(&r)).unwrap();
        assert_eq!(
            u.sizing,
            Sizing::FixedUsdt {
                qty_usdt: dec!(250)
            }
        );
        let back = make(r#"{"sizing_mode":"investment_pct"}"#, Some(&u)).unwrap();
        assert_eq!(back.sizing, Sizing::InvestmentPct);

        let fields = |json: &str| -> Vec<String> {
            make(json, None)
                .unwrap_err()
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        let base = r#""name":"x","symbol":"BTCUSDT""#;
        assert_eq!(
            fields(&format!(r#"{{{base},"sizing_mode":"kelly"}}"#)),
            ["sizing_mode"]
        );
        assert_eq!(
            fields(&format!(r#"{{{base},"sizing_mode":"risk_pct"}}"#)),
            ["risk_pct"]
        );
        assert_eq!(fields(&format!(r#"{{{base},"risk_pct":1}}"#)), ["risk_pct"]);
        assert_eq!(
            fields(&format!(
                r#"{{{base},"sizing_mode":"risk_pct","risk_pct":0.001}}"#
            )),
            ["risk_pct"]
        );
        assert_eq!(
            fields(&format!(
                r#"{{{base},"sizing_mode":"fixed_usdt","qty_usdt":0}}"#
            )),
            ["qty_usdt"]
        );
        assert_eq!(
            fields(&format!(
                r#"{{{base},"sizing_mode":"fixed_qty","qty_base":-1,"qty_usdt":5}}"#
            )),
            ["qty_usdt", "qty_base"]
        );
    }

    #[test]
    fn a_ladder_is_set_kept_changed_and_removed_by_drafts() {
        let c =
            StrategyConfig::from_draft(&draft(r#"{"name":"x","symbol":"BTCUSDT"}"#), None).unwrap();
        assert_eq!(c.ladder, None);
        let l = StrategyConfig::from_draft(
            &draft(
                r#"{"tp_levels":[{"gain_pct":1,"size_pct":"50"},{"gain_pct":"2.5","size_pct":50}],"break_even_after":1}"#,
            ),
            Some(&c),
        )
        .unwrap();
        let ladder = l.ladder.clone().unwrap();
        assert_eq!(
            ladder.targets,
            [
                Target {
                    gain_pct: dec!(1),
                    size_pct: dec!(50)
                },
                Target {
                    gain_pct: dec!(2.5),
                    size_pct: dec!(50)
                }
            ]
        );
        assert_eq!(
            ladder.break_even,
            Some(BreakEven {
                after: 1,
                to: StopTo::Entry
            })
        );
        // An update that does not name the ladder keeps it; `break_even_to`
        // alone changes where the stop goes; 0 stops it moving.
        let kept = StrategyConfig::from_draft(&draft(r#"{"leverage":5}"#), Some(&l)).unwrap();
        assert_eq!(kept.ladder, l.ladder);
        let to =
            StrategyConfig::from_draft(&draft(r#"{"break_even_to":"previous_target"}"#), Some(&l))
                .unwrap();
        assert_eq!(
            to.ladder.unwrap().break_even.unwrap().to,
            StopTo::PreviousTarget
        );
        let still = StrategyConfig::from_draft(&draft(r#"{"break_even_after":0}"#), Some(&l))
            .unwrap()
            .ladder
            .unwrap();
        assert_eq!(still.break_even, None);
        assert_eq!(still.targets.len(), 2);
        // `[]` removes the ladder and its moving stop with it.
        let gone = StrategyConfig::from_draft(&draft(r#"{"tp_levels":[]}"#), Some(&l)).unwrap();
        assert_eq!(gone.ladder, None);
        // Named errors: sizes not adding up, a break-even on the last
        // target, a moving stop without targets, an unknown destination.
        let errs = StrategyConfig::from_draft(
            &draft(
                r#"{"tp_levels":[{"gain_pct":1,"size_pct":40},{"gain_pct":2,"size_pct":40}],"break_even_after":2,"break_even_to":"moon"}"#,
            ),
            Some(&c),
        )
        .unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["break_even_to", "tp_levels", "break_even_after"]);
        let errs =
            StrategyConfig::from_draft(&draft(r#"{"break_even_after":1}"#), Some(&c)).unwrap_err();
        assert_eq!(errs[0].field, "break_even_after");
        assert!(
            serde_json::from_str::<StrategyDraft>(
                r#"{"tp_levels":[{"gain_pct":1,"size_pct":100,"extra":1}]}"#
            )
            .is_err()
        );
    }

    #[test]
    fn protections_are_off_until_set_and_zero_turns_one_off() {
        let c =
            StrategyConfig::from_draft(&draft(r#"{"name":"x","symbol":"BTCUSDT"}"#), None).unwrap();
        assert!(!c.protections.any());
        let p = StrategyConfig::from_draft(
            &draft(
                r#"{"max_entries_per_day":3,"cooldown_after_sl_min":60,"pause_after_sl_streak":2,"max_drawdown_pct":"2.5"}"#,
            ),
            Some(&c),
        )
        .unwrap();
        assert_eq!(
            p.protections,
            Protections {
                max_entries_per_day: Some(3),
                cooldown_after_sl_min: Some(60),
                pause_after_sl_streak: Some(2),
                max_drawdown_pct: Some(dec!(2.5)),
            }
        );
        let off =
            StrategyConfig::from_draft(&draft(r#"{"cooldown_after_sl_min":0}"#), Some(&p)).unwrap();
        assert_eq!(off.protections.cooldown_after_sl_min, None);
        assert_eq!(off.protections.max_entries_per_day, Some(3));
        let errs = StrategyConfig::from_draft(
            &draft(
                r#"{"max_entries_per_day":-1,"cooldown_after_sl_min":10081,"pause_after_sl_streak":101,"max_drawdown_pct":"0.05"}"#,
            ),
            Some(&c),
        )
        .unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "max_entries_per_day",
                "cooldown_after_sl_min",
                "pause_after_sl_streak",
                "max_drawdown_pct"
            ]
        );
    }

    #[test]
    fn the_sizing_serializes_as_the_apis_flat_fields() {
        let c = StrategyConfig::from_draft(
            &draft(
                r#"{"name":"x","symbol":"BTCUSDT","sizing_mode":"fixed_qty","qty_base":"0.01"}"#,
            ),
            None,
        )
        .unwrap();
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["sizing_mode"], "fixed_qty");
        assert_eq!(v["qty_base"], "0.01");
        let back: StrategyConfig = serde_json::from_value(v).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn ranges_are_inclusive() {
        let c = StrategyConfig::from_draft(
            &draft(
                r#"{"name":"x","symbol":"ETHUSDT","investment_pct":100,"long_tp_pct":0.1,"long_sl_pct":100,
                   "leverage":125}"#,
            ),
            None,
        )
        .unwrap();
        assert_eq!(
            (c.investment_pct, c.long_tp_pct, c.leverage),
            (dec!(100), dec!(0.1), 125)
        );
        let low = StrategyConfig::from_draft(
            &draft(r#"{"name":"x","symbol":"ETHUSDT","investment_pct":1,"leverage":1}"#),
            None,
        )
        .unwrap();
        assert_eq!((low.investment_pct, low.leverage), (dec!(1), 1));
    }

    #[test]
    fn an_update_changes_only_what_it_names() {
        let base = StrategyConfig::from_draft(
            &draft(r#"{"name":"a","symbols":["BTCUSDT","ETHUSDT"],"leverage":5,"margin_mode":"cross"}"#),
            None,
        )
        .unwrap();
        let c =
            StrategyConfig::from_draft(&draft(r#"{"long_sl_pct":"1.5"}"#), Some(&base)).unwrap();
        assert_eq!(c.long_sl_pct, dec!(1.5));
        assert_eq!(
            (c.leverage, c.margin_mode, c.symbols.len()),
            (5, MarginMode::Cross, 2)
        );
        assert!(StrategyConfig::from_draft(&draft(r#"{"symbols":[]}"#), Some(&base)).is_err());
        assert!(serde_json::from_str::<StrategyDraft>(r#"{"levrage":3}"#).is_err());
    }

    #[test]
    fn the_alert_message_is_json_with_tradingview_placeholders() {
        let m = alert_message("s3cret");
        let v: serde_json::Value = serde_json::from_str(&m).unwrap();
        assert_eq!(v["secret"], "s3cret");
        assert_eq!(v["action"], "{{strategy.order.action}}");
        assert_eq!(v["market_position"], "{{strategy.market_position}}");
        assert_eq!(v["symbol"], "{{ticker}}");
        assert_eq!(v["price"], "{{close}}");
        assert_eq!(v["timestamp"], "{{timenow}}");
        assert_eq!(v["id"], "{{strategy.order.id}}-{{timenow}}");
    }
}
