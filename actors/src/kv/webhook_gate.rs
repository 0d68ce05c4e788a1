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

    /// Remembers an alert admitted before this process started, for `ttl` more.
    fn remember(
        &self,
        strategy_id: i64,
        key: &str,
        ttl: Duration,
    ) -> impl std::future::Future<Output = Result<(), KvError>> + Send;
}

/// Refusal codes of alerts the gate did not admit, or let through again
/// (nothing was traded and the cause passes: the webhook forgets them).
const NOT_ADMITTED: [&str; 10] = [
    "webhook_malformed",
    "webhook_invalid",
    "webhook_auth_failed",
    "webhook_stale",
    "webhook_rate_limited",
    "account_unavailable",
    "market_data_unavailable",
    "balance_unavailable",
    "risk_unavailable",
    "records_behind",
];

/// Whether a recorded signal passed the gate for good: accepted, or
/// refused by the trading core for a reason that does not pass.
pub fn was_admitted(outcome: crate::store::enums::SignalOutcome, reason: Option<&str>) -> bool {
    use crate::store::enums::SignalOutcome;
    match outcome {
        SignalOutcome::Accepted => true,
        SignalOutcome::Rejected => {
            let code = reason
                .and_then(|r| r.split(':').next())
                .unwrap_or_default()
                .trim();
            !NOT_ADMITTED.contains(&code)
        }
        _ => false,
    }
}

/// Fills `gate` with the alerts of the last `window` that the signals
/// table records as admitted, so a restart (or a deploy, or a failover)
/// never lets one trade again. The table is complete: every admitted
/// alert is journaled before it can trade, and the journal is written
/// into the table before this runs.
pub async fn seed(
    gate: &impl Gate,
    store: &crate::store::Store,
    window: Duration,
) -> Result<usize, sea_orm::DbErr> {
    use crate::store::entities::signals;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
    let now = chrono::Utc::now();
    let since = now - chrono::Duration::from_std(window).unwrap_or_default();
    type Row = (
        Option<i64>,
        String,
        crate::store::enums::SignalOutcome,
        Option<String>,
        chrono::DateTime<chrono::Utc>,
    );
    let rows: Vec<Row> = signals::Entity::find()
        .select_only()
        .columns([
            signals::Column::StrategyId,
            signals::Column::SignalKey,
            signals::Column::Outcome,
            signals::Column::Reason,
            signals::Column::ReceivedAt,
        ])
        .filter(signals::Column::ReceivedAt.gte(since))
        .into_tuple()
        .all(store.conn())
        .await?;
    let mut n = 0;
    for (strategy_id, key, outcome, reason, at) in rows {
        let Some(strategy_id) = strategy_id else {
            continue;
        };
        if !was_admitted(outcome, reason.as_deref()) {
            continue;
        }
        let left = (at + chrono::Duration::from_std(window).unwrap_or_default() - now)
            .to_std()
            .unwrap_or_default();
        if left.is_zero() {
            continue;
        }
        if let Err(e) = gate.remember(strategy_id, &key, left).await {
            tracing::error!(error = %e, "cannot seed the replay cache");
            continue;
        }
        n += 1;
    }
    Ok(n)
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

    async fn remember(&self, strategy_id: i64, key: &str, ttl: Duration) -> Result<(), KvError> {
        let until = Instant::now() + ttl;
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let exp = s.seen.entry(replay_key(strategy_id, key)).or_insert(until);
        *exp = (*exp).max(until);
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

    async fn remember(&self, strategy_id: i64, key: &str, ttl: Duration) -> Result<(), KvError> {
        let mut conn = self.redis.pool().get().await?;
        let _: Option<String> = deadpool_redis::redis::cmd("SET")
            .arg(
                self.redis
                    .key(&format!("wh:seen:{}", replay_key(strategy_id, key))),
            )
            .arg("1")
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64)
            .arg("NX")
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

    async fn remember(&self, strategy_id: i64, key: &str, ttl: Duration) -> Result<(), KvError> {
        match self {
            Self::InProcess(g) => g.remember(strategy_id, key, ttl).await,
            Self::Redis(g) => g.remember(strategy_id, key, ttl).await,
        }
    }
}
