//! Each template's rule: indicators fed bar by bar, a signal on the close
//! of the bar where the condition happens. Crosses are Pine's
//! `ta.crossover(a, b)` (`a > b` now, `a <= b` on the previous bar) and
//! `ta.crossunder`, so the Pine Script says exactly what this code does.

use super::Configured;
use crate::indicators::{Bar, BollingerBands, Ema, Indicator, Macd, Rsi, Supertrend, Trend};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    Long,
    Short,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Long => "long",
            Signal::Short => "short",
        }
    }
}

fn crossover(now: (f64, f64), before: Option<(f64, f64)>) -> bool {
    before.is_some_and(|(a0, b0)| now.0 > now.1 && a0 <= b0)
}

fn crossunder(now: (f64, f64), before: Option<(f64, f64)>) -> bool {
    before.is_some_and(|(a0, b0)| now.0 < now.1 && a0 >= b0)
}

fn cross(now: (f64, f64), before: Option<(f64, f64)>) -> Option<Signal> {
    if crossover(now, before) {
        Some(Signal::Long)
    } else if crossunder(now, before) {
        Some(Signal::Short)
    } else {
        None
    }
}

#[derive(Debug, Clone)]
pub enum Rule {
    EmaCross {
        fast: Ema,
        slow: Ema,
        prev: Option<(f64, f64)>,
    },
    RsiReversal {
        rsi: Rsi,
        oversold: f64,
        overbought: f64,
        prev: Option<f64>,
    },
    MacdCross {
        macd: Macd,
        prev: Option<(f64, f64)>,
    },
    Bollinger {
        bands: BollingerBands,
        breakout: bool,
        prev: Option<(f64, f64, f64)>,
    },
    Supertrend {
        st: Supertrend,
        prev: Option<Trend>,
    },
}

impl Rule {
    pub fn new(c: &Configured) -> Self {
        let n = |name: &str| c.get(name).max(1.0) as usize;
        match c.template {
            "rsi_reversal" => Rule::RsiReversal {
                rsi: Rsi::new(n("length")),
                oversold: c.get("oversold"),
                overbought: c.get("overbought"),
                prev: None,
            },
            "macd_cross" => Rule::MacdCross {
                macd: Macd::new(n("fast"), n("slow"), n("signal")),
                prev: None,
            },
            "bollinger" => Rule::Bollinger {
                bands: BollingerBands::new(n("length"), c.get("mult"), c.get("mult")),
                breakout: c.choice("mode") == "breakout",
                prev: None,
            },
            "supertrend" => Rule::Supertrend {
                st: Supertrend::new(n("atr_period"), c.get("factor")),
                prev: None,
            },
            _ => Rule::EmaCross {
                fast: Ema::new(n("fast")),
                slow: Ema::new(n("slow")),
                prev: None,
            },
        }
    }

    /// The signal on this bar's close, if any.
    pub fn update(&mut self, bar: Bar) -> Option<Signal> {
        match self {
            Rule::EmaCross { fast, slow, prev } => {
                let (f, s) = (fast.update(bar.close), slow.update(bar.close));
                let now = (f?, s?);
                let before = prev.replace(now);
                cross(now, before)
            }
            Rule::RsiReversal {
                rsi,
                oversold,
                overbought,
                prev,
            } => {
                let r = rsi.update(bar.close)?;
                let before = prev.replace(r);
                if crossover((r, *oversold), before.map(|b| (b, *oversold))) {
                    Some(Signal::Long)
                } else if crossunder((r, *overbought), before.map(|b| (b, *overbought))) {
                    Some(Signal::Short)
                } else {
                    None
                }
            }
            Rule::MacdCross { macd, prev } => {
                let m = macd.update(bar.close)?;
                let now = (m.macd, m.signal);
                let before = prev.replace(now);
                cross(now, before)
            }
            Rule::Bollinger {
                bands,
                breakout,
                prev,
            } => {
                let b = bands.update(bar.close)?;
                let before = prev.replace((bar.close, b.upper, b.lower));
                let (up_line, down_line) = if *breakout {
                    (b.upper, b.lower)
                } else {
                    (b.lower, b.upper)
                };
                let pick =
                    |p: (f64, f64, f64), upper: bool| if upper { (p.0, p.1) } else { (p.0, p.2) };
                let up_is_upper = *breakout;
                if crossover((bar.close, up_line), before.map(|p| pick(p, up_is_upper))) {
                    Some(Signal::Long)
                } else if crossunder(
                    (bar.close, down_line),
                    before.map(|p| pick(p, !up_is_upper)),
                ) {
                    Some(Signal::Short)
                } else {
                    None
                }
            }
            Rule::Supertrend { st, prev } => {
                let t = st.update(bar)?.trend;
                match (prev.replace(t), t) {
                    (Some(Trend::Down), Trend::Up) => Some(Signal::Long),
                    (Some(Trend::Up), Trend::Down) => Some(Signal::Short),
                    _ => None,
                }
            }
        }
    }

    /// The signals for a whole series, aligned with it.
    pub fn signals(mut self, bars: &[Bar]) -> Vec<Option<Signal>> {
        bars.iter().map(|b| self.update(*b)).collect()
    }
}
