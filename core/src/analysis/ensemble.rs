//! Combining the technical advice with the language models' votes.
//!
//! Each source's action is a severity against the position (hold 0,
//! reduce ½, close 1, reverse 1½); the ensemble takes the
//! confidence-weighted mean severity and rounds it to an action. The
//! ensemble's confidence is the weight of the sources that agree with the
//! result over the weight of all sources, so a split vote is a weak one.

use super::advice::{Action, TechnicalAdvice};
use serde::{Deserialize, Serialize};

/// One model's answer, after it parsed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vote {
    pub source: String,
    pub action: Action,
    pub confidence: f64,
    pub reasons: Vec<String>,
}

/// Why a source gave no vote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Missing {
    pub source: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    pub action: Action,
    pub confidence: f64,
    /// Sources whose own action is the result.
    pub agreed: Vec<String>,
    pub disagreed: Vec<String>,
    /// `technical_only` when no model voted, else `ensemble`.
    pub mode: &'static str,
    pub reasons: Vec<String>,
    pub votes: Vec<Vote>,
    pub missing: Vec<Missing>,
}

fn severity(a: Action) -> f64 {
    match a {
        Action::Hold => 0.0,
        Action::Reduce => 0.5,
        Action::Close => 1.0,
        Action::Reverse => 1.5,
    }
}

fn action_of(s: f64) -> Action {
    if s < 0.25 {
        Action::Hold
    } else if s < 0.75 {
        Action::Reduce
    } else if s < 1.25 {
        Action::Close
    } else {
        Action::Reverse
    }
}

/// The technical advice and the models' votes as one recommendation.
pub fn combine(
    technical: &TechnicalAdvice,
    votes: Vec<Vote>,
    missing: Vec<Missing>,
) -> Recommendation {
    let tech = Vote {
        source: "technical".into(),
        action: technical.action,
        confidence: technical.confidence.clamp(0.0, 1.0),
        reasons: technical.reasons.clone(),
    };
    let all: Vec<&Vote> = std::iter::once(&tech).chain(votes.iter()).collect();
    // A source certain of nothing still counts a little, so that it can
    // be outvoted rather than vanish.
    let weight = |v: &Vote| v.confidence.clamp(0.05, 1.0);
    let total: f64 = all.iter().map(|v| weight(v)).sum();
    let mean = all
        .iter()
        .map(|v| weight(v) * severity(v.action))
        .sum::<f64>()
        / total;
    let action = action_of(mean);
    let (agree, disagree): (Vec<&&Vote>, Vec<&&Vote>) =
        all.iter().partition(|v| v.action == action);
    let agreeing: f64 = agree.iter().map(|v| v.confidence).sum();
    let confidence = (agreeing / all.len() as f64).clamp(0.0, 1.0);
    let mut reasons = Vec::new();
    for v in &agree {
        for r in v.reasons.iter().take(3) {
            reasons.push(if v.source == "technical" {
                r.clone()
            } else {
                format!("{}: {r}", v.source)
            });
        }
    }
    Recommendation {
        action,
        confidence,
        agreed: agree.iter().map(|v| v.source.clone()).collect(),
        disagreed: disagree.iter().map(|v| v.source.clone()).collect(),
        mode: if votes.is_empty() {
            "technical_only"
        } else {
            "ensemble"
        },
        reasons,
        votes,
        missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::advice::Bias;

    fn tech(action: Action, confidence: f64) -> TechnicalAdvice {
        TechnicalAdvice {
            score: -0.5,
            bias: Bias::Short,
            action,
            confidence,
            reasons: vec!["EMA 20 is below EMA 50".into()],
            components: Vec::new(),
        }
    }

    fn vote(source: &str, action: Action, confidence: f64) -> Vote {
        Vote {
            source: source.into(),
            action,
            confidence,
            reasons: vec![format!("{source} says so")],
        }
    }

    #[test]
    fn agreement_is_confident_and_disagreement_is_not() {
        let all_close = combine(
            &tech(Action::Close, 0.8),
            vec![
                vote("openai", Action::Close, 0.9),
                vote("anthropic", Action::Close, 0.7),
            ],
            Vec::new(),
        );
        assert_eq!(all_close.action, Action::Close);
        assert!((all_close.confidence - 0.8).abs() < 1e-12);
        assert_eq!(all_close.agreed, ["technical", "openai", "anthropic"]);
        assert_eq!(all_close.mode, "ensemble");

        // Technical says close, both models say hold: severity (0.8·1)/(0.8+0.9+0.7) = 0.33 → reduce,
        // which nobody said: confidence 0.
        let split = combine(
            &tech(Action::Close, 0.8),
            vec![
                vote("openai", Action::Hold, 0.9),
                vote("anthropic", Action::Hold, 0.7),
            ],
            Vec::new(),
        );
        assert_eq!(split.action, Action::Reduce);
        assert_eq!(split.confidence, 0.0);
        assert_eq!(split.disagreed.len(), 3);

        let alone = combine(
            &tech(Action::Reduce, 0.6),
            Vec::new(),
            vec![Missing {
                source: "openai".into(),
                reason: "timeout".into(),
            }],
        );
        assert_eq!(
            (alone.action, alone.mode),
            (Action::Reduce, "technical_only")
        );
        assert!((alone.confidence - 0.6).abs() < 1e-12);
        assert_eq!(alone.missing.len(), 1);
    }
}
