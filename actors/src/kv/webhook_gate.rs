//! The webhook's door: an alert is let through once (replay cache) and no
//! more often than the strategy's budget allows (10 a minute by default).
//!
//! Both checks are one atomic step — a Lua script in Redis, a mutex in
//! process — so two instances receiving the same alert cannot both admit it,
//! and a throttled alert does not burn its id (a later retry may pass).

use super::{KvError, Redis};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    /// Seen within the replay window: never trade it again.
    Duplicate,
    Throttled {
        retry_after: Duration,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct GateRules {
    pub limit: u32,
    pub window: Duration,
    /// How long an alert id is remembered (at least the timestamp tolerance).
    pub replay_ttl: Duration,
}

pub trait Gate {
    fn admit(
        &self,
        strategy_id: i64,
        key: &str,
        rules: GateRules,
    ) -> impl std::future::Future<Output = Result<Admission, KvError>> + Send;

    /// Lets an admitted alert be sent again (it failed for a passing reason).
    fn forget(
        &self,
        strategy_id: i64,
        key: &str,
    ) -> impl std::future::Future<Output = Result<(), KvError>> + Send;
}

#[derive(Debug, Default)]
struct State {
    seen: HashMap<String, Instant>,
    windows: HashMap<i64, (Instant, u32)>,
    inserts: u64,
}

/// One process's gate.
#[derive(Debug, Default)]
pub struct InProcessGate {
    state: Mutex<State>,
}

fn replay_key(strategy_id: i64, key: &str) -> String {
    format!("{strategy_id}:{key}")
}

impl Gate for InProcessGate {
    async fn admit(
        &self,
        strategy_id: i64,
        key: &str,
        rules: GateRules,
    ) -> Result<Admission, KvError> {
        let now = Instant::now();
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let k = replay_key(strategy_id, key);
        if s.seen.get(&k).is_some_and(|exp| *exp > now) {
            return Ok(Admission::Duplicate);
        }
        let (start, count) = s.windows.entry(strategy_id).or_insert((now, 0));
        if now.duration_since(*start) >= rules.window {
            *start = now;
            *count = 0;
        }
        if *count >= rules.limit {
            let retry_after = rules.window.saturating_sub(now.duration_since(*start));
            return Ok(Admission::Throttled { retry_after });
        }
        *count += 1;
        s.seen.insert(k, now + rules.replay_ttl);
        s.inserts += 1;
        if s.inserts.is_multiple_of(1024) {
            s.seen.retain(|_, exp| *exp > now);
            let window = rules.window;
            s.windows
                .retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        Ok(Admission::Admitted)
    }

    async fn forget(&self, strategy_id: i64, key: &str) -> Result<(), KvError> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .seen
            .remove(&replay_key(strategy_id, key));
        Ok(())
    }
}

const SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return {1, 0} end
local n = redis.call('INCR', KEYS[2])
local ttl = redis.call('PTTL', KEYS[2])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  ttl = tonumber(ARGV[2])
end
if n > tonumber(ARGV[3]) then return {2, ttl} end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
return {0, 0}
";

/// The gate shared by every instance through Redis.
#[derive(Debug)]
pub struct RedisGate {
    redis: Redis,
    script: deadpool_redis::redis::Script,
}

impl RedisGate {
    pub fn new(redis: Redis) -> Self {
        Self {
            redis,
            script: deadpool_redis::redis::Script::new(SCRIPT),
        }
    }
}

impl Gate for RedisGate {
    async fn admit(
        &self,
        strategy_id: i64,
        key: &str,
        rules: GateRules,
    ) -> Result<Admission, KvError> {
        let mut conn = self.redis.pool().get().await?;
        let window_ms = rules.window.as_millis().max(1) as u64;
        let (verdict, ttl): (i64, i64) = self
            .script
            .key(
                self.redis
                    .key(&format!("wh:seen:{}", replay_key(strategy_id, key))),
            )
            .key(
                self.redis
                    .key(&format!("wh:rate:{strategy_id}:{window_ms}")),
            )
            .arg(rules.replay_ttl.as_millis().max(1) as u64)
            .arg(window_ms)
            .arg(rules.limit)
            .invoke_async(&mut *conn)
            .await?;
        Ok(match verdict {
            0 => Admission::Admitted,
            1 => Admission::Duplicate,
            _ => Admission::Throttled {
                retry_after: Duration::from_millis(ttl.max(0) as u64),
            },
        })
    }

    async fn forget(&self, strategy_id: i64, key: &str) -> Result<(), KvError> {
        let mut conn = self.redis.pool().get().await?;
        let _: i64 = deadpool_redis::redis::cmd("DEL")
            .arg(
                self.redis
                    .key(&format!("wh:seen:{}", replay_key(strategy_id, key))),
            )
            .query_async(&mut *conn)
            .await?;
        Ok(())
    }
}

/// The gate this process uses.
#[derive(Debug)]
pub enum WebhookGate {
    InProcess(InProcessGate),
    Redis(RedisGate),
}

impl WebhookGate {
    pub fn new(redis: Option<&Redis>) -> Self {
        match redis {
            Some(r) => Self::Redis(RedisGate::new(r.clone())),
            None => Self::InProcess(InProcessGate::default()),
        }
    }
}

impl Gate for WebhookGate {
    async fn admit(
        &self,
        strategy_id: i64,
        key: &str,
        rules: GateRules,
    ) -> Result<Admission, KvError> {
        match self {
            Self::InProcess(g) => g.admit(strategy_id, key, rules).await,
            Self::Redis(g) => g.admit(strategy_id, key, rules).await,
        }
    }

    async fn forget(&self, strategy_id: i64, key: &str) -> Result<(), KvError> {
        match self {
            Self::InProcess(g) => g.forget(strategy_id, key).await,
            Self::Redis(g) => g.forget(strategy_id, key).await,
        }
    }
}
