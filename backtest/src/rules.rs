//! Which instrument rules (tick, step, maximum quantity) a run uses, and
//! where they came from. Stops and sizes are rounded the way the venue
//! would round them, so the rules must be the traded symbol's: BTCUSDT's
//! tick on EURUSD data moves a 2 % stop by a third of its distance.

use rust_decimal::Decimal;
use std::fmt;
use tradingbot_core::exchange::instrument::InstrumentRules;
use tradingbot_core::market::candle::Candle;

/// Where a run's rules come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The venue's own filters for the symbol (exchangeInfo, cached).
    Venue(String),
    /// The offline copy of the venue's filters for a bundled symbol.
    Bundled(String),
    /// Guessed from the data: its price precision and price level.
    Derived,
}

/// The rules a run uses, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    pub rules: InstrumentRules,
    pub origin: Origin,
    /// Flags that replaced a value (`--tick`, `--step`, `--max-qty`).
    pub overridden: Vec<&'static str>,
}

/// `--tick`, `--step`, `--max-qty`: what the trader says wins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Overrides {
    pub tick: Option<Decimal>,
    pub step: Option<Decimal>,
    pub max_qty: Option<Decimal>,
}

/// Binance USDⓈ-M filters of the symbols the project bundles, without the
/// minimum notional (a small simulated account would trade nothing).
pub fn bundled(symbol: &str) -> Option<InstrumentRules> {
    let mut r = tradingbot_core::exchange::paper::paper_rules(symbol)?;
    r.min_notional = Decimal::ZERO;
    Some(r)
}

/// Rules that fit data of an unknown instrument: the tick is the finest
/// price increment the data shows; a quantity step is worth about 10 units
/// of the quote or less at the median close; no maximum quantity.
pub fn derive(candles: &[Candle]) -> InstrumentRules {
    let scale = candles
        .iter()
        .flat_map(|c| [c.open, c.high, c.low, c.close])
        .map(|p| p.normalize().scale())
        .max()
        .unwrap_or(2)
        .min(8);
    let tick = Decimal::new(1, scale);
    let mut closes: Vec<Decimal> = candles.iter().map(|c| c.close).collect();
    closes.sort();
    let median = closes
        .get(closes.len() / 2)
        .copied()
        .unwrap_or(Decimal::ONE);
    // The largest power of ten whose notional stays within 10 quote units.
    let mut step = Decimal::new(1, 8);
    while step * Decimal::TEN * median <= Decimal::TEN && step < Decimal::from(1_000_000) {
        step *= Decimal::TEN;
    }
    InstrumentRules {
        symbol: "DATA".into(),
        base_asset: "BASE".into(),
        quote_asset: "QUOTE".into(),
        tick_size: tick,
        min_price: Decimal::ZERO,
        max_price: Decimal::ZERO,
        step_size: step,
        min_qty: step,
        max_qty: Decimal::ZERO,
        market_step_size: step,
        market_min_qty: step,
        market_max_qty: Decimal::ZERO,
        min_notional: Decimal::ZERO,
        contract_value: Decimal::ONE,
        max_leverage: Some(125),
    }
}

/// The rules for a run: the venue's (`venue`), else the bundled copy for
/// `symbol`, else derived from the data; then the trader's overrides.
pub fn choose(
    venue: Option<InstrumentRules>,
    symbol: Option<&str>,
    candles: &[Candle],
    o: Overrides,
) -> Chosen {
    let (mut rules, origin) = match (venue, symbol.and_then(bundled)) {
        (Some(mut r), _) => {
            // The simulated account is not held to the venue's minimum order.
            r.min_notional = Decimal::ZERO;
            let s = r.symbol.clone();
            (r, Origin::Venue(s))
        }
        (None, Some(r)) => {
            let s = r.symbol.clone();
            (r, Origin::Bundled(s))
        }
        (None, None) => (derive(candles), Origin::Derived),
    };
    let mut overridden = Vec::new();
    if let Some(t) = o.tick {
        rules.tick_size = t;
        overridden.push("--tick");
    }
    if let Some(s) = o.step {
        rules.step_size = s;
        rules.min_qty = s;
        rules.market_step_size = s;
        rules.market_min_qty = s;
        overridden.push("--step");
    }
    if let Some(m) = o.max_qty {
        rules.max_qty = m;
        rules.market_max_qty = m;
        overridden.push("--max-qty");
    }
    Chosen {
        rules,
        origin,
        overridden,
    }
}

impl fmt::Display for Chosen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.rules;
        let max = if r.market_max_qty > Decimal::ZERO {
            r.market_max_qty.normalize().to_string()
        } else if r.max_qty > Decimal::ZERO {
            r.max_qty.normalize().to_string()
        } else {
            "none".to_owned()
        };
        write!(
            f,
            "tick {}, step {}, max quantity {max} — ",
            r.tick_size.normalize(),
            r.step_size.normalize()
        )?;
        match &self.origin {
            Origin::Venue(s) => write!(f, "{s} from the venue")?,
            Origin::Bundled(s) => write!(f, "{s}, Binance's filters (offline copy)")?,
            Origin::Derived => f.write_str("derived from the data")?,
        }
        if !self.overridden.is_empty() {
            write!(f, ", with {}", self.overridden.join(" "))?;
        }
        Ok(())
    }
}

impl Origin {
    /// A machine word for the API.
    pub fn as_str(&self) -> &'static str {
        match self {
            Origin::Venue(_) => "venue",
            Origin::Bundled(_) => "bundled",
            Origin::Derived => "derived",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn c(p: Decimal) -> Candle {
        Candle {
            time_ms: 0,
            open: p,
            high: p,
            low: p,
            close: p,
            volume: Decimal::ZERO,
        }
    }

    #[test]
    fn fx_data_gets_its_own_tick_and_no_quantity_cap() {
        let data = [c(dec!(1.08345)), c(dec!(1.0921)), c(dec!(1.10))];
        let r = choose(None, None, &data, Overrides::default());
        assert_eq!(r.origin, Origin::Derived);
        assert_eq!(r.rules.tick_size, dec!(0.00001));
        // One unit at ~1.09 is worth about 1: steps of 1 unit.
        assert_eq!(r.rules.step_size, dec!(1));
        assert_eq!(r.rules.market_max_qty, Decimal::ZERO);
        assert!(r.to_string().contains("derived from the data"));
    }

    #[test]
    fn bitcoin_prices_get_a_fine_step() {
        let data = [c(dec!(42283.5)), c(dec!(43000.1))];
        let r = derive(&data);
        assert_eq!(r.tick_size, dec!(0.1));
        assert_eq!(r.step_size, dec!(0.0001));
    }

    #[test]
    fn a_bundled_symbol_uses_binance_filters_and_flags_win() {
        let r = choose(None, Some("ETHUSDT"), &[], Overrides::default());
        assert_eq!(r.origin, Origin::Bundled("ETHUSDT".into()));
        assert_eq!(r.rules.tick_size, dec!(0.01));
        assert_eq!(r.rules.min_notional, Decimal::ZERO);
        let r = choose(
            None,
            Some("ETHUSDT"),
            &[],
            Overrides {
                tick: Some(dec!(0.05)),
                step: None,
                max_qty: Some(dec!(5)),
            },
        );
        assert_eq!(
            (r.rules.tick_size, r.rules.market_max_qty),
            (dec!(0.05), dec!(5))
        );
        assert!(r.to_string().ends_with("with --tick --max-qty"), "{r}");
    }
}
