//! The technical recommendation: trend, momentum, MACD, Supertrend, recent
//! confirmed patterns and nearby levels scored in −1 (bearish) … +1
//! (bullish), and what that means for an open position. This is the
//! advisor that needs no keys; language models only add votes to it.

use super::Analysis;
use super::fractal::Regime;
use super::levels::LevelKind;
use crate::exchange::types::PositionSide;
use crate::indicators::{Ema, Indicator, Macd, Rsi, Supertrend, Trend};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Hold,
    Close,
    Reduce,
    Reverse,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hold => "hold",
            Self::Close => "close",
            Self::Reduce => "reduce",
            Self::Reverse => "reverse",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bias {
    Long,
    Short,
    Neutral,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Component {
    pub name: &'static str,
    /// −1 … +1, positive bullish.
    pub value: f64,
    pub weight: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TechnicalAdvice {
    /// −1 … +1, positive bullish.
    pub score: f64,
    pub bias: Bias,
    /// For the position given (hold without one).
    pub action: Action,
    pub confidence: f64,
    pub reasons: Vec<String>,
    pub components: Vec<Component>,
}

fn last<I: Indicator>(mut ind: I, inputs: impl Iterator<Item = I::Input>) -> Option<I::Output> {
    let mut out = None;
    for i in inputs {
        if let Some(v) = ind.update(i) {
            out = Some(v);
        }
    }
    out
}

/// Scores `a` (computed on the same bars) and advises on `position`.
pub fn advise(a: &Analysis, position: Option<PositionSide>) -> TechnicalAdvice {
    let bars = &a.bars;
    let closes = || bars.iter().map(|b| b.close);
    let atr = a.atr_now.max(f64::EPSILON);
    let close = bars.last().map_or(0.0, |b| b.close);
    let mut comps = Vec::new();
    let mut reasons = Vec::new();

    if let (Some(fast), Some(slow)) = (last(Ema::new(20), closes()), last(Ema::new(50), closes())) {
        let v = ((fast - slow) / (2.0 * atr)).clamp(-1.0, 1.0);
        let w = if a.fractal.regime == Regime::Trending {
            1.5
        } else {
            1.0
        };
        comps.push(Component {
            name: "trend_ema_20_50",
            value: v,
            weight: w,
        });
        reasons.push(format!(
            "EMA 20 is {} EMA 50 by {:.1} ATR",
            if fast >= slow { "above" } else { "below" },
            ((fast - slow) / atr).abs()
        ));
    }
    if let Some(r) = last(Rsi::new(14), closes()) {
        comps.push(Component {
            name: "rsi_14",
            value: ((r - 50.0) / 30.0).clamp(-1.0, 1.0),
            weight: 0.75,
        });
        if r >= 70.0 {
            reasons.push(format!("RSI {r:.0}: overbought"));
        } else if r <= 30.0 {
            reasons.push(format!("RSI {r:.0}: oversold"));
        }
    }
    if let Some(m) = last(Macd::new(12, 26, 9), closes()) {
        comps.push(Component {
            name: "macd_histogram",
            value: (m.histogram / (0.25 * atr)).clamp(-1.0, 1.0),
            weight: 0.75,
        });
    }
    if let Some(st) = last(Supertrend::new(10, 3.0), bars.iter().copied()) {
        let up = st.trend == Trend::Up;
        comps.push(Component {
            name: "supertrend",
            value: if up { 1.0 } else { -1.0 },
            weight: 1.0,
        });
        reasons.push(format!(
            "Supertrend points {}",
            if up { "up" } else { "down" }
        ));
    }
    let recent = bars.len().saturating_sub(20);
    if let Some(p) = a
        .patterns
        .iter()
        .filter(|p| p.confirmed_at.is_some_and(|i| i >= recent))
        .max_by(|x, y| x.confidence.total_cmp(&y.confidence))
    {
        let sign = if p.kind.bearish() { -1.0 } else { 1.0 };
        comps.push(Component {
            name: "pattern",
            value: sign * p.confidence,
            weight: 1.25,
        });
        reasons.push(format!(
            "{:?} confirmed (confidence {:.2})",
            p.kind, p.confidence
        ));
    }
    if let Some(l) = a
        .levels
        .iter()
        .filter(|l| (l.price - close).abs() <= atr)
        .max_by(|x, y| x.strength.total_cmp(&y.strength))
    {
        let sign = if l.kind == LevelKind::Resistance {
            -1.0
        } else {
            1.0
        };
        comps.push(Component {
            name: "nearby_level",
            value: sign * l.strength,
            weight: 0.5,
        });
        reasons.push(format!(
            "{} at {:.2} within one ATR ({} touches)",
            if sign < 0.0 { "resistance" } else { "support" },
            l.price,
            l.touches
        ));
    }
    let weight: f64 = comps.iter().map(|c| c.weight).sum();
    let score = if weight > 0.0 {
        comps.iter().map(|c| c.value * c.weight).sum::<f64>() / weight
    } else {
        0.0
    };
    let bias = if score > 0.15 {
        Bias::Long
    } else if score < -0.15 {
        Bias::Short
    } else {
        Bias::Neutral
    };
    let (action, confidence) = match position {
        None => (Action::Hold, score.abs()),
        Some(side) => {
            // How much the evidence favours the position (negative: against).
            let s = if side == PositionSide::Long {
                score
            } else {
                -score
            };
            if s <= -0.7 {
                (Action::Reverse, (-s).min(1.0))
            } else if s <= -0.45 {
                (Action::Close, (-s).min(1.0))
            } else if s <= -0.25 {
                (Action::Reduce, (-s).min(1.0))
            } else {
                (Action::Hold, (0.5 + s / 2.0).clamp(0.0, 1.0))
            }
        }
    };
    TechnicalAdvice {
        score,
        bias,
        action,
        confidence,
        reasons,
        components: comps,
    }
}
