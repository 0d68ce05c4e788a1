//! Access tokens that must stop working before they expire: one token after
//! logout (by its `jti`), or every token of a user issued up to a moment
//! (password change, account deletion, deactivation, stolen refresh token).
//! Moments are Unix *microseconds*: a user who signs in again in the same
//! second as the revocation keeps the new session. Entries live only as long
//! as the tokens they cancel could.

use super::{KvError, Redis};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Cancels tokens.
pub trait Revoke {
    /// Refuses the token `jti` for `ttl`.
    fn deny_token(&self, jti: &str, ttl: Duration) -> impl Future<Output = Result<(), KvError>>;
    /// Refuses every token of `user_id` issued at or before `at_us`.
    fn revoke_user(
        &self,
        user_id: i64,
        at_us: i64,
        ttl: Duration,
    ) -> impl Future<Output = Result<(), KvError>>;
    /// Whether the token (`jti`, issued to `user_id` at `issued_us`) was cancelled.
    fn is_revoked(
        &self,
        jti: &str,
        user_id: i64,
        issued_us: i64,
    ) -> impl Future<Output = Result<bool, KvError>>;
    /// Marks `jti` used; false if it already was (single-use tokens).
    fn use_once(&self, jti: &str, ttl: Duration) -> impl Future<Output = Result<bool, KvError>>;
}

/// Revocations in this process's memory: (value, expires at).
#[derive(Debug, Default)]
pub struct InProcessRevocations {
    tokens: Mutex<HashMap<String, i64>>,
    users: Mutex<HashMap<i64, (i64, i64)>>,
}

impl InProcessRevocations {
    fn sweep(&self, now: i64) {
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, exp| *exp > now);
        self.users
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, (_, exp)| *exp > now);
    }
}

impl Revoke for InProcessRevocations {
    async fn deny_token(&self, jti: &str, ttl: Duration) -> Result<(), KvError> {
        let now = now_unix();
        self.sweep(now);
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(jti.to_owned(), now + ttl.as_secs() as i64 + 1);
        Ok(())
    }

    async fn revoke_user(&self, user_id: i64, at_us: i64, ttl: Duration) -> Result<(), KvError> {
        let now = now_unix();
        self.users
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(user_id, (at_us, now + ttl.as_secs() as i64 + 1));
        Ok(())
    }

    async fn is_revoked(&self, jti: &str, user_id: i64, issued_us: i64) -> Result<bool, KvError> {
        let now = now_unix();
        let denied = self
            .tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(jti)
            .is_some_and(|exp| *exp > now);
        let before = self
            .users
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&user_id)
            .is_some_and(|(at, exp)| *exp > now && issued_us <= *at);
        Ok(denied || before)
    }

    async fn use_once(&self, jti: &str, ttl: Duration) -> Result<bool, KvError> {
        let now = now_unix();
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if tokens.get(jti).is_some_and(|exp| *exp > now) {
            return Ok(false);
        }
        tokens.insert(jti.to_owned(), now + ttl.as_secs() as i64 + 1);
        Ok(true)
    }
}

/// Revocations in Redis, seen by every instance.
#[derive(Debug, Clone)]
pub struct RedisRevocations {
    redis: Redis,
}

impl RedisRevocations {
    fn token_key(&self, jti: &str) -> String {
        self.redis.key(&format!("deny:{jti}"))
    }

    fn user_key(&self, user_id: i64) -> String {
        self.redis.key(&format!("revoked-before:{user_id}"))
    }

    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }
}

impl Revoke for RedisRevocations {
    async fn deny_token(&self, jti: &str, ttl: Duration) -> Result<(), KvError> {
        let mut conn = self.redis.pool().get().await?;
        deadpool_redis::redis::cmd("SET")
            .arg(self.token_key(jti))
            .arg(1)
            .arg("EX")
            .arg(ttl.as_secs().max(1))
            .query_async::<()>(&mut *conn)
            .await?;
        Ok(())
    }

    async fn revoke_user(&self, user_id: i64, at_us: i64, ttl: Duration) -> Result<(), KvError> {
        let mut conn = self.redis.pool().get().await?;
        deadpool_redis::redis::cmd("SET")
            .arg(self.user_key(user_id))
            .arg(at_us)
            .arg("EX")
            .arg(ttl.as_secs().max(1))
            .query_async::<()>(&mut *conn)
            .await?;
        Ok(())
    }

    async fn is_revoked(&self, jti: &str, user_id: i64, issued_us: i64) -> Result<bool, KvError> {
        let mut conn = self.redis.pool().get().await?;
        let (denied, before): (Option<i64>, Option<i64>) = deadpool_redis::redis::cmd("MGET")
            .arg(self.token_key(jti))
            .arg(self.user_key(user_id))
            .query_async(&mut *conn)
            .await?;
        Ok(denied.is_some() || before.is_some_and(|at| issued_us <= at))
    }

    async fn use_once(&self, jti: &str, ttl: Duration) -> Result<bool, KvError> {
        let mut conn = self.redis.pool().get().await?;
        let set: Option<String> = deadpool_redis::redis::cmd("SET")
            .arg(self.token_key(jti))
            .arg(1)
            .arg("NX")
            .arg("EX")
            .arg(ttl.as_secs().max(1))
            .query_async(&mut *conn)
            .await?;
        Ok(set.is_some())
    }
}

/// The backend this process uses.
#[derive(Debug)]
pub enum Revocations {
    InProcess(InProcessRevocations),
    Redis(RedisRevocations),
}

impl Revocations {
    pub fn new(redis: Option<&Redis>) -> Self {
        match redis {
            Some(r) => Self::Redis(RedisRevocations::new(r.clone())),
            None => Self::InProcess(InProcessRevocations::default()),
        }
    }
}

impl Revoke for Revocations {
    async fn deny_token(&self, jti: &str, ttl: Duration) -> Result<(), KvError> {
        match self {
            Self::InProcess(r) => r.deny_token(jti, ttl).await,
            Self::Redis(r) => r.deny_token(jti, ttl).await,
        }
    }

    async fn revoke_user(&self, user_id: i64, at_us: i64, ttl: Duration) -> Result<(), KvError> {
        match self {
            Self::InProcess(r) => r.revoke_user(user_id, at_us, ttl).await,
            Self::Redis(r) => r.revoke_user(user_id, at_us, ttl).await,
        }
    }

    async fn is_revoked(&self, jti: &str, user_id: i64, issued_us: i64) -> Result<bool, KvError> {
        match self {
            Self::InProcess(r) => r.is_revoked(jti, user_id, issued_us).await,
            Self::Redis(r) => r.is_revoked(jti, user_id, issued_us).await,
        }
    }

    async fn use_once(&self, jti: &str, ttl: Duration) -> Result<bool, KvError> {
        match self {
            Self::InProcess(r) => r.use_once(jti, ttl).await,
            Self::Redis(r) => r.use_once(jti, ttl).await,
        }
    }
}
