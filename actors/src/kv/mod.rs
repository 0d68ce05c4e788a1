//! Shared state that several instances must agree on — rate-limit counters,
//! the webhook replay cache, websocket fan-out — lives in Redis when
//! `REDIS_URL` is set and in process memory otherwise.
//!
//! Each concern gets one trait with two implementations (in-process and
//! Redis) in its own module; this module holds the Redis connection they share.

pub mod blocklist;
pub mod rate_limit;
pub mod revocation;
pub mod venue_holds;
pub mod webhook_gate;

pub use blocklist::Blocklist;
pub use rate_limit::{RateDecision, RateLimit, RateLimiter};
pub use revocation::{Revocations, Revoke};
pub use webhook_gate::{Admission, Gate, GateRules, WebhookGate};

use deadpool_redis::{Config, Pool, Runtime};
use std::time::{Duration, Instant};

/// Errors at the Redis boundary.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("invalid Redis configuration: {0}")]
    Config(String),
    #[error("Redis is unreachable: {0}")]
    Unavailable(String),
    #[error("Redis command failed: {0}")]
    Command(String),
}

impl From<deadpool_redis::PoolError> for KvError {
    fn from(e: deadpool_redis::PoolError) -> Self {
        KvError::Unavailable(e.to_string())
    }
}

impl From<deadpool_redis::redis::RedisError> for KvError {
    fn from(e: deadpool_redis::redis::RedisError) -> Self {
        KvError::Command(e.to_string())
    }
}

/// A pool of Redis connections.
#[derive(Clone)]
pub struct Redis {
    pool: Pool,
    prefix: std::sync::Arc<str>,
    /// For subscriptions, which need a connection of their own. May carry a
    /// password: never shown.
    url: std::sync::Arc<str>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password; show the pool state only.
        let status = self.pool.status();
        f.debug_struct("Redis")
            .field("size", &status.size)
            .field("available", &status.available)
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl Redis {
    /// Builds the pool and proves the server answers, so a wrong URL fails
    /// at start-up rather than on the first webhook. Every key this process
    /// writes starts with `prefix:`, so deployments sharing a server stay apart.
    pub async fn connect(url: &str, prefix: &str, max_size: usize) -> Result<Self, KvError> {
        let mut cfg = Config::from_url(url);
        cfg.pool = Some(deadpool_redis::PoolConfig {
            max_size,
            timeouts: deadpool_redis::Timeouts {
                wait: Some(Duration::from_secs(2)),
                create: Some(Duration::from_secs(2)),
                recycle: Some(Duration::from_secs(2)),
            },
            ..Default::default()
        });
        let pool = cfg
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|e| KvError::Config(e.to_string()))?;
        let redis = Self {
            pool,
            prefix: prefix.into(),
            url: url.into(),
        };
        redis.ping().await?;
        Ok(redis)
    }

    /// Publishes `payload` on `channel` (namespaced like keys).
    pub async fn publish(&self, channel: &str, payload: &str) -> Result<(), KvError> {
        let mut conn = self.pool.get().await?;
        let _: i64 = deadpool_redis::redis::cmd("PUBLISH")
            .arg(self.key(channel))
            .arg(payload)
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Messages published on `channel`, from a connection of their own that
    /// is re-established (with back-off) whenever it drops. Ends when the
    /// receiver is dropped. Messages sent while disconnected are lost: what
    /// uses this shows the present, the database keeps the past.
    pub fn subscribe(&self, channel: &str) -> tokio::sync::mpsc::Receiver<String> {
        let (tx, rx) = tokio::sync::mpsc::channel(4096);
        let (url, channel) = (self.url.clone(), self.key(channel));
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            while !tx.is_closed() {
                match subscription(&url, &channel, &tx).await {
                    Ok(()) => backoff = Duration::from_millis(100),
                    Err(e) => {
                        tracing::warn!(error = %e, "redis subscription lost; reconnecting");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
        });
        rx
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The full key for `rest` in this deployment's namespace.
    pub fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }

    /// Round-trips `PING`; returns how long it took.
    pub async fn ping(&self) -> Result<Duration, KvError> {
        let started = Instant::now();
        let mut conn = self.pool.get().await?;
        let pong: String = deadpool_redis::redis::cmd("PING")
            .query_async(&mut *conn)
            .await?;
        if pong != "PONG" {
            return Err(KvError::Command(format!("unexpected PING reply {pong:?}")));
        }
        Ok(started.elapsed())
    }

    /// The server's version from `INFO server`.
    pub async fn server_version(&self) -> Result<String, KvError> {
        let mut conn = self.pool.get().await?;
        let info: String = deadpool_redis::redis::cmd("INFO")
            .arg("server")
            .query_async(&mut *conn)
            .await?;
        Ok(info
            .lines()
            .find_map(|l| l.strip_prefix("redis_version:"))
            .unwrap_or("unknown")
            .trim()
            .to_owned())
    }
}

/// One subscription connection's life: returns when it drops.
async fn subscription(
    url: &str,
    channel: &str,
    tx: &tokio::sync::mpsc::Sender<String>,
) -> Result<(), KvError> {
    use futures_util::StreamExt;
    let client =
        deadpool_redis::redis::Client::open(url).map_err(|e| KvError::Config(e.to_string()))?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    let mut messages = pubsub.on_message();
    while let Some(m) = messages.next().await {
        let Ok(payload) = m.get_payload::<String>() else {
            continue;
        };
        match tx.try_send(payload) {
            Ok(()) => {}
            // The reader is behind: this message is dropped, not queued.
            Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                metrics::counter!("redis_fanout_dropped_total").increment(1);
            }
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => return Ok(()),
        }
    }
    Err(KvError::Unavailable("subscription closed".into()))
}
