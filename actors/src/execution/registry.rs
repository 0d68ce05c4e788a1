//! Who handles what: webhook token → strategy, user → the actor that owns
//! the user's trading. Read on every webhook, so it lives in memory and is
//! updated the moment a strategy changes; the database is never asked.
//!
//! Scale-out will put some users on other instances. Callers therefore ask
//! for a [`Destination`] rather than an address: today it is always local,
//! later it may say which instance to forward to, and no caller changes.

use super::user::UserActor;
use actix::Addr;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use tradingbot_core::strategy::StrategyConfig;
use zeroize::Zeroizing;

/// A strategy as the webhook path needs it.
pub struct StrategyRoute {
    pub strategy_id: i64,
    pub user_id: i64,
    pub secret: Zeroizing<Vec<u8>>,
    pub config: StrategyConfig,
    pub account_id: Option<i64>,
    pub active: bool,
}

impl std::fmt::Debug for StrategyRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StrategyRoute")
            .field("strategy_id", &self.strategy_id)
            .field("user_id", &self.user_id)
            .field("account_id", &self.account_id)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

/// Where a user's trading is handled.
#[derive(Clone)]
pub enum Destination {
    Local(Addr<UserActor>),
}

pub type TokenHash = [u8; 32];

/// SHA-256 of a webhook token: what is stored and looked up. The token
/// itself is a bearer credential and is kept only encrypted.
pub fn token_hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

fn secret_hash_of(route: &StrategyRoute) -> TokenHash {
    Sha256::digest(&route.secret[..]).into()
}

#[derive(Default)]
pub struct Registry {
    routes: RwLock<HashMap<TokenHash, Arc<StrategyRoute>>>,
    by_strategy: RwLock<HashMap<i64, TokenHash>>,
    /// SHA-256 of each secret → token hash: alerts posted to the seed's
    /// token-less `/webhook/tradingview` are routed by the secret they carry.
    by_secret: RwLock<HashMap<TokenHash, TokenHash>>,
    users: RwLock<HashMap<i64, Destination>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("routes", &read(&self.routes).len())
            .field("users", &read(&self.users).len())
            .finish()
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

impl Registry {
    /// The strategy a webhook token routes to, and who handles its user.
    pub fn route(&self, token: &str) -> Option<(Arc<StrategyRoute>, Option<Destination>)> {
        let route = read(&self.routes).get(&token_hash(token)).cloned()?;
        let dest = read(&self.users).get(&route.user_id).cloned();
        Some((route, dest))
    }

    /// The strategy whose secret is `secret` (for the token-less path).
    pub fn route_by_secret(
        &self,
        secret: &str,
    ) -> Option<(Arc<StrategyRoute>, Option<Destination>)> {
        let token = *read(&self.by_secret).get(&token_hash(secret))?;
        let route = read(&self.routes).get(&token).cloned()?;
        let dest = read(&self.users).get(&route.user_id).cloned();
        Some((route, dest))
    }

    pub fn destination(&self, user_id: i64) -> Option<Destination> {
        read(&self.users).get(&user_id).cloned()
    }

    pub fn set_destination(&self, user_id: i64, d: Destination) {
        write(&self.users).insert(user_id, d);
    }

    /// Forgets where a user is handled (its actor is stopping here).
    pub fn remove_destination(&self, user_id: i64) {
        write(&self.users).remove(&user_id);
    }

    /// The users handled here, with their actors.
    pub fn local_users(&self) -> Vec<(i64, Addr<UserActor>)> {
        read(&self.users)
            .iter()
            .map(|(u, d)| match d {
                Destination::Local(a) => (*u, a.clone()),
            })
            .collect()
    }

    /// Every strategy route.
    pub fn all_strategies(&self) -> Vec<Arc<StrategyRoute>> {
        read(&self.routes).values().cloned().collect()
    }

    pub fn strategy(&self, strategy_id: i64) -> Option<Arc<StrategyRoute>> {
        let hash = *read(&self.by_strategy).get(&strategy_id)?;
        read(&self.routes).get(&hash).cloned()
    }

    /// Adds or replaces a strategy's route (a rotated token replaces the old one).
    pub fn put(&self, hash: TokenHash, route: Arc<StrategyRoute>) {
        let secret_hash = secret_hash_of(&route);
        let mut routes = write(&self.routes);
        let mut by_strategy = write(&self.by_strategy);
        let mut by_secret = write(&self.by_secret);
        if let Some(old) = by_strategy.insert(route.strategy_id, hash)
            && let Some(old_route) = routes.remove(&old)
        {
            by_secret.remove(&secret_hash_of(&old_route));
        }
        by_secret.insert(secret_hash, hash);
        routes.insert(hash, route);
    }

    pub fn remove_strategy(&self, strategy_id: i64) {
        let mut routes = write(&self.routes);
        if let Some(hash) = write(&self.by_strategy).remove(&strategy_id)
            && let Some(old) = routes.remove(&hash)
        {
            write(&self.by_secret).remove(&secret_hash_of(&old));
        }
    }

    pub fn user_strategies(&self, user_id: i64) -> Vec<Arc<StrategyRoute>> {
        read(&self.routes)
            .values()
            .filter(|r| r.user_id == user_id)
            .cloned()
            .collect()
    }
}
