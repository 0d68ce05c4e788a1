//! The database schema of TradingBot, as ordered sea-orm-migration steps.
//!
//! The same migrations build the schema on SQLite (the embedded default) and on
//! PostgreSQL 15+ (production). Where the two differ — how an exact decimal is
//! stored, how a range check reads a decimal — the difference lives in
//! [`columns`], so every table is written once.
//!
//! This crate holds schema only: no queries, no entities (those live in
//! `tradingbot-actors`), no data fixes that need business rules.

pub use sea_orm_migration::MigratorTrait;
use sea_orm_migration::prelude::*;

pub mod columns;
mod m20261124_000001_identity;
mod m20261124_000002_accounts;
mod m20261124_000003_trading;
mod m20261124_000004_paper;
mod m20261124_000005_risk;
mod m20261124_000006_telegram;
mod m20261124_000007_ai;
mod m20261124_000008_security;
mod m20261205_000009_replay;
mod m20261205_000010_backtest_jobs;
mod m20261207_000011_shard_fences;
mod m20261207_000012_paper_orders;
mod m20261207_000013_equity_snapshots;
mod m20261207_000014_notifications;
mod m20261207_000015_strategy_sizing;
mod m20261207_000016_strategy_protections;
mod m20261207_000017_strategy_ladder;
mod m20261207_000018_strategy_trailing;
mod m20261207_000019_strategy_entry_order;

/// Every migration, oldest first.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_identity::Migration),
            Box::new(m20261124_000002_accounts::Migration),
            Box::new(m20261124_000003_trading::Migration),
            Box::new(m20261124_000004_paper::Migration),
            Box::new(m20261124_000005_risk::Migration),
            Box::new(m20261124_000006_telegram::Migration),
            Box::new(m20261124_000007_ai::Migration),
            Box::new(m20261124_000008_security::Migration),
            Box::new(m20261205_000009_replay::Migration),
            Box::new(m20261205_000010_backtest_jobs::Migration),
            Box::new(m20261207_000011_shard_fences::Migration),
            Box::new(m20261207_000012_paper_orders::Migration),
            Box::new(m20261207_000013_equity_snapshots::Migration),
            Box::new(m20261207_000014_notifications::Migration),
            Box::new(m20261207_000015_strategy_sizing::Migration),
            Box::new(m20261207_000016_strategy_protections::Migration),
            Box::new(m20261207_000017_strategy_ladder::Migration),
            Box::new(m20261207_000018_strategy_trailing::Migration),
            Box::new(m20261207_000019_strategy_entry_order::Migration),
        ]
    }
}
