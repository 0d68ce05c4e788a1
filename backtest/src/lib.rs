//! Backtesting: candle loading (CSV, bundled data, exchange download when
//! online), the simulation engine and its reports.
//!
//! It must not hold its own copy of sizing, fee, indicator or PnL math: it
//! calls `tradingbot-core`, so that a backtest and live trading agree.

pub mod cards;
pub mod cli;
pub mod data;
pub mod engine;
pub mod plot;
pub mod report;
pub mod rules;
pub mod sweep;

pub use data::load_csv;
pub use engine::{ExitReason, Fill, Outcome, Series, Settings, Trade, run, run_with};
pub use report::{Report, report};
