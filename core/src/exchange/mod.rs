//! The exchanges' protocols, as pure functions: building and signing
//! requests, parsing responses and stream events, mapping errors, and the
//! instrument rules (tick, step, minimum notional) every order must satisfy.
//!
//! Connections (sockets, clocks, retries) live in `tradingbot-actors`; they
//! hand this module the time and the bytes. Each venue has the same layout:
//! `sign` (credentials and signatures), `rest` (endpoints and their
//! parameters), `model` (responses), `errors` (venue codes → [`ExchangeError`]),
//! `stream` (websocket messages).

pub mod binance;
pub mod client_order_id;
pub mod error;
pub mod instrument;
pub mod okx;
pub mod paper;
pub mod types;

pub use client_order_id::{ClientOrderId, Leg};
pub use error::ExchangeError;
pub use instrument::InstrumentRules;
pub use types::*;
