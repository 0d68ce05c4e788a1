//! The AI advisor: language models asked, as an extra opinion, what to do
//! with a position given the computed analysis. They never trade: their
//! votes join the technical advice in `core::analysis::ensemble`, and only
//! the watch loop may act on the result, for strategies that opted in.
//!
//! Each provider has a monthly token budget and a per-minute call limit;
//! answers are cached per subject for a while; a provider that fails
//! (429, 5xx, timeout, an answer that does not fit the schema) is left out
//! of that recommendation and counted, never waited on past its timeout.

mod anthropic;
mod openai;
pub mod recommend;
pub mod watch;

pub use anthropic::Anthropic;
pub use openai::OpenAi;

use chrono::Datelike;
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tradingbot_core::analysis::advice::Action;
use tradingbot_core::analysis::ensemble::{Missing, Vote};

/// What the models are told: instructions and the data, as JSON.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub system: String,
    pub data: serde_json::Value,
}

/// The instructions every provider gets.
pub const SYSTEM: &str = "You are the risk adviser of TradingBot, an automated crypto futures trading service. \
You receive technical analysis computed by TradingBot (trend, momentum, support and resistance, chart patterns, \
volume profile, fractal regime) and one open position. Decide whether the trader should hold it, reduce it, close it \
early, or reverse it. Prefer hold unless the evidence against the position is clear. Answer only with the \
recommendation object: action (hold, close, reduce or reverse), confidence between 0 and 1, and one to five short reasons.";

/// The answer's JSON schema (OpenAI structured outputs, Anthropic tool input).
pub fn schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "properties": {
            "action": { "type": "string", "enum": ["hold", "close", "reduce", "reverse"] },
            "confidence": { "type": "number", "minimum": 0, "maximum": 1 },
            "reasons": { "type": "array", "items": { "type": "string" }, "minItems": 1, "maxItems": 5 }
        },
        "required": ["action", "confidence", "reasons"],
        "additionalProperties": false
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("rate limited (retry in {0} s)")]
    RateLimited(u64),
    #[error("server error {0}")]
    Server(u16),
    #[error("refused ({0}): {1}")]
    Refused(u16, String),
    #[error("no answer within {0} s")]
    Timeout(u64),
    #[error("unreachable: {0}")]
    Network(String),
    #[error("answer discarded: {0}")]
    Invalid(String),
}

impl ProviderError {
    /// A stable label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::RateLimited(_) => "rate_limited",
            Self::Server(_) => "server_error",
            Self::Refused(..) => "refused",
            Self::Timeout(_) => "timeout",
            Self::Network(_) => "network",
            Self::Invalid(_) => "invalid_answer",
        }
    }
}

/// A structured answer and what it cost.
#[derive(Debug, Clone)]
pub struct Answer {
    pub value: serde_json::Value,
    pub tokens: u64,
}

/// The shape an answer must have: a name and a JSON schema.
#[derive(Debug, Clone)]
pub struct Shape {
    pub name: &'static str,
    pub description: &'static str,
    pub schema: serde_json::Value,
}

impl Shape {
    pub fn recommendation() -> Self {
        Self {
            name: "recommendation",
            description: "Record the recommendation for the position.",
            schema: schema(),
        }
    }
}

/// A language model behind an HTTP API, asked for an object of a given
/// shape (OpenAI: structured outputs; Anthropic: a forced tool call).
pub trait Provider: Send + Sync {
    fn name(&self) -> &'static str;
    fn ask<'a>(
        &'a self,
        prompt: &'a Prompt,
        shape: &'a Shape,
    ) -> BoxFuture<'a, Result<Answer, ProviderError>>;
}

/// Reads the recommendation object a model produced; anything that does
/// not fit the schema is an error, never a guess.
pub fn parse_vote(source: &str, v: &serde_json::Value) -> Result<Vote, ProviderError> {
    let bad = |why: &str| ProviderError::Invalid(why.to_owned());
    let obj = v.as_object().ok_or_else(|| bad("not an object"))?;
    let action = match obj.get("action").and_then(|a| a.as_str()) {
        Some("hold") => Action::Hold,
        Some("close") => Action::Close,
        Some("reduce") => Action::Reduce,
        Some("reverse") => Action::Reverse,
        _ => return Err(bad("`action` is not hold, close, reduce or reverse")),
    };
    let confidence = obj
        .get("confidence")
        .and_then(|c| c.as_f64())
        .filter(|c| (0.0..=1.0).contains(c))
        .ok_or_else(|| bad("`confidence` is not a number from 0 to 1"))?;
    let reasons: Vec<String> = obj
        .get("reasons")
        .and_then(|r| r.as_array())
        .ok_or_else(|| bad("`reasons` is not a list"))?
        .iter()
        .map(|r| r.as_str().map(|s| s.chars().take(300).collect::<String>()))
        .collect::<Option<_>>()
        .ok_or_else(|| bad("`reasons` holds something that is not text"))?;
    if reasons.is_empty() || reasons.len() > 5 {
        return Err(bad("`reasons` must hold one to five entries"));
    }
    Ok(Vote {
        source: source.to_owned(),
        action,
        confidence,
        reasons,
    })
}

/// How providers are limited and answers kept.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub monthly_tokens: u64,
    pub calls_per_minute: u32,
    pub cache_for: Duration,
}

struct Limited {
    provider: Box<dyn Provider>,
    /// (UTC month as year·12 + month, tokens used in it).
    used: Mutex<(i32, u64)>,
    /// Calls made in the current minute window.
    window: Mutex<(Instant, u32)>,
}

type Cached = (Instant, Arc<(Vec<Vote>, Vec<Missing>)>);

pub struct Advisor {
    providers: Vec<Limited>,
    limits: Limits,
    cache: Mutex<HashMap<String, Cached>>,
}

fn month_now() -> i32 {
    let now = chrono::Utc::now();
    now.year() * 12 + now.month() as i32
}

impl Advisor {
    pub fn new(providers: Vec<Box<dyn Provider>>, limits: Limits) -> Self {
        Self {
            providers: providers
                .into_iter()
                .map(|provider| Limited {
                    provider,
                    used: Mutex::new((month_now(), 0)),
                    window: Mutex::new((Instant::now(), 0)),
                })
                .collect(),
            limits,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Names of the configured providers (empty: technical analysis only).
    pub fn providers(&self) -> Vec<&'static str> {
        self.providers.iter().map(|p| p.provider.name()).collect()
    }

    /// Tokens each provider used this month.
    pub fn usage(&self) -> Vec<(&'static str, u64)> {
        self.providers
            .iter()
            .map(|p| {
                let u = p.used.lock().unwrap_or_else(|e| e.into_inner());
                (p.provider.name(), if u.0 == month_now() { u.1 } else { 0 })
            })
            .collect()
    }

    /// Why `p` may not be asked now, if it may not.
    fn refuse(&self, p: &Limited) -> Option<String> {
        {
            let mut u = p.used.lock().unwrap_or_else(|e| e.into_inner());
            let m = month_now();
            if u.0 != m {
                *u = (m, 0);
            }
            if u.1 >= self.limits.monthly_tokens {
                return Some(format!(
                    "monthly budget of {} tokens used",
                    self.limits.monthly_tokens
                ));
            }
        }
        let mut w = p.window.lock().unwrap_or_else(|e| e.into_inner());
        if w.0.elapsed() >= Duration::from_secs(60) {
            *w = (Instant::now(), 0);
        }
        if w.1 >= self.limits.calls_per_minute {
            return Some(format!(
                "more than {} calls this minute",
                self.limits.calls_per_minute
            ));
        }
        w.1 += 1;
        None
    }

    /// Every provider's vote on `prompt`, asked concurrently; `key` names
    /// the subject for the cache (symbol, timeframe, side).
    pub async fn votes(&self, key: &str, prompt: &Prompt) -> Arc<(Vec<Vote>, Vec<Missing>)> {
        if self.providers.is_empty() {
            return Arc::new((Vec::new(), Vec::new()));
        }
        if let Some((at, v)) = self.lock().get(key)
            && at.elapsed() < self.limits.cache_for
        {
            return v.clone();
        }
        let asks = self.providers.iter().map(|p| async move {
            let name = p.provider.name();
            if let Some(why) = self.refuse(p) {
                metrics::counter!("ai_requests_total", "provider" => name, "outcome" => "skipped")
                    .increment(1);
                return Err(Missing {
                    source: name.into(),
                    reason: why,
                });
            }
            let shape = Shape::recommendation();
            match self
                .call(p, prompt, &shape)
                .await
                .and_then(|v| parse_vote(name, &v))
            {
                Ok(vote) => {
                    metrics::counter!("ai_requests_total", "provider" => name, "outcome" => "ok")
                        .increment(1);
                    Ok(vote)
                }
                Err(e) => {
                    count_failure(name, &e);
                    Err(Missing {
                        source: name.into(),
                        reason: e.to_string(),
                    })
                }
            }
        });
        let results = futures_util::future::join_all(asks).await;
        let (mut votes, mut missing) = (Vec::new(), Vec::new());
        for r in results {
            match r {
                Ok(v) => votes.push(v),
                Err(m) => missing.push(m),
            }
        }
        let out = Arc::new((votes, missing));
        // Only complete answers are kept: a failure is asked again next time.
        if out.1.is_empty() {
            let mut c = self.lock();
            if c.len() > 1024 {
                c.clear();
            }
            c.insert(key.to_owned(), (Instant::now(), out.clone()));
        }
        out
    }

    /// One request to `p`, counted against its budget.
    async fn call(
        &self,
        p: &Limited,
        prompt: &Prompt,
        shape: &Shape,
    ) -> Result<serde_json::Value, ProviderError> {
        let name = p.provider.name();
        let started = Instant::now();
        let result = p.provider.ask(prompt, shape).await;
        metrics::histogram!("ai_request_seconds", "provider" => name)
            .record(started.elapsed().as_secs_f64());
        let a = result?;
        metrics::counter!("ai_tokens_total", "provider" => name).increment(a.tokens);
        p.used.lock().unwrap_or_else(|e| e.into_inner()).1 += a.tokens;
        Ok(a.value)
    }

    /// An object of `shape` from the first provider that can answer (in
    /// configuration order), with its name; or why none did.
    pub async fn generate(
        &self,
        prompt: &Prompt,
        shape: &Shape,
    ) -> Result<(&'static str, serde_json::Value), Vec<Missing>> {
        let mut missing = Vec::new();
        for p in &self.providers {
            let name = p.provider.name();
            if let Some(why) = self.refuse(p) {
                metrics::counter!("ai_requests_total", "provider" => name, "outcome" => "skipped")
                    .increment(1);
                missing.push(Missing {
                    source: name.into(),
                    reason: why,
                });
                continue;
            }
            match self.call(p, prompt, shape).await {
                Ok(v) => {
                    metrics::counter!("ai_requests_total", "provider" => name, "outcome" => "ok")
                        .increment(1);
                    return Ok((name, v));
                }
                Err(e) => {
                    count_failure(name, &e);
                    missing.push(Missing {
                        source: name.into(),
                        reason: e.to_string(),
                    });
                }
            }
        }
        Err(missing)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn count_failure(name: &'static str, e: &ProviderError) {
    metrics::counter!("ai_requests_total", "provider" => name, "outcome" => e.kind()).increment(1);
    tracing::warn!(provider = name, error = %e, "AI provider gave no usable answer");
}

/// What both providers share: where they are, the model, the key, and how
/// long an answer may take; and how an HTTP exchange with them goes.
pub(crate) struct Endpoint {
    pub client: reqwest::Client,
    pub base_url: String,
    pub model: String,
    pub key: zeroize::Zeroizing<String>,
    pub timeout: Duration,
}

impl Endpoint {
    pub fn new(
        base_url: &str,
        model: &str,
        key: zeroize::Zeroizing<String>,
        timeout: Duration,
    ) -> Self {
        Self {
            client: crate::exchange::http::client(timeout),
            base_url: base_url.trim_end_matches('/').to_owned(),
            model: model.to_owned(),
            key,
            timeout,
        }
    }

    /// A POST to `path`, for the caller to authenticate.
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.post(format!("{}{path}", self.base_url))
    }

    /// Sends `req` with `body`; the JSON answer, or the failure classified.
    pub async fn send(
        &self,
        req: reqwest::RequestBuilder,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, ProviderError> {
        let res = req.json(body).send().await.map_err(|e| {
            if e.is_timeout() {
                ProviderError::Timeout(self.timeout.as_secs())
            } else {
                ProviderError::Network(e.without_url().to_string())
            }
        })?;
        let status = res.status().as_u16();
        if status != 200 {
            let retry_after = res
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok());
            let text = res.text().await.unwrap_or_default();
            return Err(match status {
                429 => ProviderError::RateLimited(retry_after.unwrap_or(30)),
                // 529: Anthropic's "overloaded", a service unavailable.
                529 => ProviderError::Server(503),
                500..=599 => ProviderError::Server(status),
                _ => ProviderError::Refused(status, text.chars().take(200).collect()),
            });
        }
        res.json().await.map_err(|e| {
            if e.is_timeout() {
                ProviderError::Timeout(self.timeout.as_secs())
            } else {
                ProviderError::Invalid(format!("the body is not JSON: {}", e.without_url()))
            }
        })
    }
}
