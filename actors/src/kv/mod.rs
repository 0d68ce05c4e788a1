//! Shared state that several instances must agree on — rate-limit counters,
//! the webhook replay cache, websocket fan-out — lives in Redis when
//! `REDIS_URL` is set and in process memory otherwise.
//!
//! Each concern gets one trait with two implementations (in-process and
//! Redis) in its own module; this module holds the Redis connection they share.

pub mod rate_limit;
pub mod revocation;
pub mod webhook_gate;

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
        };
        redis.ping().await?;
        Ok(redis)
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
