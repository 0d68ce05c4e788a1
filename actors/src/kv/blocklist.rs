//! Source addresses refused for a while after failing authentication too
//! often across accounts. In Redis every instance refuses the same
//! addresses; in process memory, only this one.

use super::{KvError, Redis};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub enum Blocklist {
    InProcess(Mutex<HashMap<String, Instant>>),
    Redis(Redis),
}

impl Blocklist {
    pub fn new(redis: Option<&Redis>) -> Self {
        match redis {
            Some(r) => Self::Redis(r.clone()),
            None => Self::InProcess(Mutex::default()),
        }
    }

    fn key(redis: &Redis, source: &str) -> String {
        redis.key(&format!("blocked-source:{source}"))
    }

    /// Blocks `source` for `ttl`; false when it already was (the first
    /// instance to block it is the one that audits the block).
    pub async fn block(&self, source: &str, ttl: Duration) -> Result<bool, KvError> {
        match self {
            Self::InProcess(map) => {
                let now = Instant::now();
                let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
                map.retain(|_, until| *until > now);
                if map.contains_key(source) {
                    return Ok(false);
                }
                map.insert(source.to_owned(), now + ttl);
                Ok(true)
            }
            Self::Redis(redis) => {
                let mut conn = redis.pool().get().await?;
                let set: Option<String> = deadpool_redis::redis::cmd("SET")
                    .arg(Self::key(redis, source))
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl.as_millis().max(1) as u64)
                    .query_async(&mut *conn)
                    .await?;
                Ok(set.is_some())
            }
        }
    }

    /// How long `source` stays blocked, if it is.
    pub async fn blocked(&self, source: &str) -> Result<Option<Duration>, KvError> {
        match self {
            Self::InProcess(map) => {
                let now = Instant::now();
                Ok(map
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(source)
                    .filter(|until| **until > now)
                    .map(|until| *until - now))
            }
            Self::Redis(redis) => {
                let mut conn = redis.pool().get().await?;
                let ms: i64 = deadpool_redis::redis::cmd("PTTL")
                    .arg(Self::key(redis, source))
                    .query_async(&mut *conn)
                    .await?;
                Ok((ms > 0).then(|| Duration::from_millis(ms as u64)))
            }
        }
    }
}
