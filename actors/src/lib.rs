//! The runtime of TradingBot.
//!
//! This crate holds everything that does I/O on behalf of the domain: the actix
//! actors and their messages, the exchange connections (REST and websocket),
//! the event bus, persistence (sea-orm entities and queries over SQLite or
//! PostgreSQL), the Redis-or-in-process backends of shared state, Telegram,
//! market-data feeds and the paper exchange.
//!
//! It must not hold HTTP routing or request parsing (that is `tradingbot-web`),
//! nor domain rules that can be pure (those are `tradingbot-core`, called from here).

pub mod accounts;
pub mod advisor;
pub mod anomalies;
pub mod backtests;
pub mod balances;
pub mod candles;
pub mod cluster;
pub mod equity;
pub mod exchange;
pub mod execution;
pub mod gauges;
pub mod history;
pub mod identity;
pub mod kv;
pub mod market_data;
pub mod notifications;
pub mod retention;
pub mod security_alerts;
pub mod snapshots;
pub mod store;
pub mod strategies;
pub mod telegram;
pub mod watchlist;
