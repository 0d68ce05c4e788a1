//! The pure domain of TradingBot.
//!
//! This crate holds what can be decided without touching the outside world:
//! identifiers, symbols, sides, prices and quantities as `rust_decimal::Decimal`,
//! strategy configuration and its validation, signal parsing, sizing and PnL
//! math, instrument filters, indicators, analysis, Pine Script templates,
//! credential encryption and the exchanges' request/response *protocols*.
//!
//! It must not hold I/O of any kind: no sockets, files, databases, async
//! runtime or clock reads it was not handed. Everything here is deterministic
//! given its inputs, which is what lets the backtester and live trading share it.

pub mod analysis;
pub mod anomaly;
pub mod backup;
pub mod entry;
pub mod equity;
pub mod exchange;
pub mod exits;
pub mod identity;
pub mod ids;
pub mod indicators;
pub mod lenient;
pub mod market;
pub mod performance;
pub mod pine;
pub mod position;
pub mod protections;
pub mod refusal;
pub mod risk;
pub mod signal;
pub mod sigv4;
pub mod simulator;
pub mod sizing;
pub mod strategy;
pub mod symbol;
pub mod templates;
pub mod trailing;
pub mod vault;
