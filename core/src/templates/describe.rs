//! From a trader's few words to a configured template, offline and
//! deterministic: keywords (English and Korean) pick the template, numbers
//! in the text fill its parameters in order when they fit their ranges.
//! A language model can take this place later; this is what answers
//! without one.

use super::{Configured, ParamKind, Template, find};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Suggestion {
    pub template_id: &'static str,
    pub configured: Configured,
    /// 0–1: how strongly the words pointed at this template.
    pub confidence: f64,
    /// Why this template, in a sentence.
    pub reason: String,
}

const KEYWORDS: &[(&str, &[&str])] = &[
    (
        "ema_crossover",
        &[
            "ema",
            "moving average",
            "crossover",
            "cross over",
            "golden cross",
            "death cross",
            "이동평균",
            "골든크로스",
            "데드크로스",
        ],
    ),
    (
        "rsi_reversal",
        &[
            "rsi",
            "oversold",
            "overbought",
            "reversal",
            "mean reversion",
            "과매도",
            "과매수",
            "반전",
        ],
    ),
    ("macd_cross", &["macd", "momentum", "signal line", "모멘텀"]),
    (
        "bollinger",
        &[
            "bollinger",
            "band",
            "squeeze",
            "volatility",
            "breakout",
            "볼린저",
            "밴드",
            "돌파",
            "변동성",
        ],
    ),
    (
        "supertrend",
        &[
            "supertrend",
            "super trend",
            "atr",
            "trend following",
            "trend",
            "슈퍼트렌드",
            "추세",
        ],
    ),
];

fn numbers(text: &str) -> Vec<f64> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() || (c == '.' && !cur.is_empty() && !cur.contains('.')) {
            cur.push(c);
        } else if !cur.is_empty() {
            if let Ok(n) = cur.trim_end_matches('.').parse() {
                out.push(n);
            }
            cur.clear();
        }
    }
    out
}

/// The template the words describe, or `None` when nothing points anywhere.
pub fn suggest(description: &str) -> Option<Suggestion> {
    let text = description.to_lowercase();
    let scored: Vec<(&'static str, usize, Vec<&str>)> = KEYWORDS
        .iter()
        .map(|(id, words)| {
            let hits: Vec<&str> = words.iter().copied().filter(|w| text.contains(w)).collect();
            (*id, hits.len(), hits)
        })
        .collect();
    let total: usize = scored.iter().map(|s| s.1).sum();
    // Ties go to the earlier (simpler) template.
    let (id, score, hits) =
        scored
            .into_iter()
            .fold(None::<(&str, usize, Vec<&str>)>, |best, s| match best {
                Some(b) if b.1 >= s.1 => Some(b),
                _ => Some(s),
            })?;
    if score == 0 {
        return None;
    }
    let t: Template = find(id)?;
    let mut given = serde_json::Map::new();
    let mut nums = numbers(&text).into_iter();
    for p in &t.params {
        match p.kind {
            ParamKind::Int { min, max } => {
                if let Some(n) = nums
                    .by_ref()
                    .find(|n| n.fract() == 0.0 && *n >= min as f64 && *n <= max as f64)
                {
                    given.insert(p.name.into(), serde_json::json!(n as i64));
                }
            }
            ParamKind::Float { min, max, .. } => {
                if let Some(n) = nums.by_ref().find(|n| *n >= min && *n <= max) {
                    given.insert(p.name.into(), serde_json::json!(n));
                }
            }
            ParamKind::Choice { options } => {
                let breakout = ["breakout", "돌파"].iter().any(|w| text.contains(w));
                if options.contains(&"breakout") && breakout {
                    given.insert(p.name.into(), serde_json::json!("breakout"));
                }
            }
        }
    }
    // Numbers that make an inconsistent set (a fast average slower than the
    // slow one) fall back to the defaults rather than fail.
    let configured = t
        .configure(&given)
        .or_else(|_| t.configure(&serde_json::Map::new()))
        .ok()?;
    Some(Suggestion {
        template_id: t.id,
        configured,
        confidence: score as f64 / total.max(1) as f64,
        reason: format!("{}: the description mentions {}", t.name, hits.join(", ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_pick_the_template_and_numbers_fill_it() {
        let s = suggest("EMA crossover with 12 and 26 on BTC 1h").unwrap();
        assert_eq!(s.template_id, "ema_crossover");
        assert_eq!(
            (s.configured.get("fast"), s.configured.get("slow")),
            (12.0, 26.0)
        );
        let s = suggest("buy when RSI 7 is oversold under 25, sell overbought above 80").unwrap();
        assert_eq!(s.template_id, "rsi_reversal");
        assert_eq!(s.configured.get("length"), 7.0);
        assert_eq!(s.configured.get("oversold"), 25.0);
        assert_eq!(s.configured.get("overbought"), 80.0);
        let s = suggest("볼린저 밴드 돌파 전략").unwrap();
        assert_eq!(
            (s.template_id, s.configured.choice("mode")),
            ("bollinger", "breakout")
        );
        let s = suggest("slow trend following with supertrend and ATR").unwrap();
        assert_eq!(s.template_id, "supertrend");
        assert_eq!(suggest("MACD momentum").unwrap().template_id, "macd_cross");
        // Nonsense numbers fall back to defaults; no keyword, no suggestion.
        let s = suggest("ema cross 50 and 10").unwrap();
        assert_eq!(
            (s.configured.get("fast"), s.configured.get("slow")),
            (9.0, 21.0)
        );
        assert!(suggest("make me rich").is_none());
        // The same words always give the same answer.
        let a = suggest("RSI reversal").unwrap();
        let b = suggest("RSI reversal").unwrap();
        assert_eq!(a.configured, b.configured);
    }
}
