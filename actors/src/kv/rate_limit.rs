//! Fixed-window request budgets ("60 per minute for this IP"), in process or
//! in Redis. Both backends count the same way, so a test of one describes the
//! other; Redis makes the budget one for every instance behind the proxy.

use super::{KvError, Redis};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The outcome of spending one unit of a budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Until the window ends and the budget refills.
    pub reset_after: Duration,
}

impl RateDecision {
    fn from_count(count: u64, limit: u32, reset_after: Duration) -> Self {
        Self {
            allowed: count <= u64::from(limit),
            limit,
            remaining: u64::from(limit).saturating_sub(count) as u32,
            reset_after,
        }
    }
}

/// Spends budget units.
pub trait RateLimit {
    /// Counts one request against `key`'s budget of `limit` per `window`.
    fn hit(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
    ) -> impl Future<Output = Result<RateDecision, KvError>>;
}

/// Budgets in this process's memory.
#[derive(Debug, Default)]
pub struct InProcessRateLimit {
    windows: Mutex<HashMap<String, (Instant, u64)>>,
}

impl InProcessRateLimit {
    /// Entries beyond which expired windows are swept on the next hit.
    const SWEEP_ABOVE: usize = 10_000;

    fn hit_at(&self, key: &str, limit: u32, window: Duration, now: Instant) -> RateDecision {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() > Self::SWEEP_ABOVE {
            windows.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = windows.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= window {
            *entry = (now, 0);
        }
        entry.1 += 1;
        let reset_after = window.saturating_sub(now.duration_since(entry.0));
        RateDecision::from_count(entry.1, limit, reset_after)
    }
}

impl RateLimit for InProcessRateLimit {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<RateDecision, KvError> {
        Ok(self.hit_at(key, limit, window, Instant::now()))
    }
}

/// Budgets in Redis, shared by every instance. `INCR` and the expiry are one
/// script, so a crash between them cannot leave a counter that never resets.
#[derive(Debug, Clone)]
pub struct RedisRateLimit {
    redis: Redis,
    script: deadpool_redis::redis::Script,
}

const SCRIPT: &str = r"
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
";

impl RedisRateLimit {
    pub fn new(redis: Redis) -> Self {
        Self {
            redis,
            script: deadpool_redis::redis::Script::new(SCRIPT),
        }
    }
}

impl RateLimit for RedisRateLimit {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<RateDecision, KvError> {
        let mut conn = self.redis.pool().get().await?;
        let window_ms = window.as_millis().max(1) as u64;
        let (count, ttl_ms): (u64, i64) = self
            .script
            .key(self.redis.key(&format!("rl:{window_ms}:{key}")))
            .arg(window_ms)
            .invoke_async(&mut *conn)
            .await?;
        Ok(RateDecision::from_count(
            count,
            limit,
            Duration::from_millis(ttl_ms.max(0) as u64),
        ))
    }
}

/// The backend this process uses.
#[derive(Debug)]
pub enum RateLimiter {
    InProcess(InProcessRateLimit),
    Redis(RedisRateLimit),
}

impl RateLimiter {
    pub fn new(redis: Option<&Redis>) -> Self {
        match redis {
            Some(r) => Self::Redis(RedisRateLimit::new(r.clone())),
            None => Self::InProcess(InProcessRateLimit::default()),
        }
    }
}

impl RateLimit for RateLimiter {
    async fn hit(&self, key: &str, limit: u32, window: Duration) -> Result<RateDecision, KvError> {
        match self {
            Self::InProcess(l) => l.hit(key, limit, window).await,
            Self::Redis(l) => l.hit(key, limit, window).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_within_a_window_and_refills_after_it() {
        let l = InProcessRateLimit::default();
        let t0 = Instant::now();
        let w = Duration::from_secs(60);
        for i in 1..=3 {
            let d = l.hit_at("ip:1", 3, w, t0);
            assert!(d.allowed);
            assert_eq!(d.remaining, 3 - i);
        }
        let d = l.hit_at("ip:1", 3, w, t0 + Duration::from_secs(10));
        assert!(!d.allowed);
        assert_eq!(d.remaining, 0);
        assert_eq!(d.reset_after, Duration::from_secs(50));
        assert!(l.hit_at("ip:2", 3, w, t0).allowed, "keys are independent");
        assert!(
            l.hit_at("ip:1", 3, w, t0 + w).allowed,
            "a new window refills"
        );
    }
}
