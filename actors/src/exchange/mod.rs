//! Connections to the exchanges: per account, a client that signs, budgets
//! and sends requests, the streams that report fills and balances, and the
//! paper exchange that stands in for a venue on the embedded default.
//!
//! The protocols themselves (what to send, what answers mean) are pure and
//! live in `tradingbot_core::exchange`; this module moves the bytes.

pub mod binance;
pub mod budget;
pub mod connection;
pub mod endpoints;
pub mod handoff;
pub mod http;
pub mod marks;
pub mod okx;
pub mod paper;
pub mod updates;
pub mod venue;

pub use connection::{Connection, ConnectionReport};
pub use endpoints::Endpoints;
pub use venue::VenueClient;
