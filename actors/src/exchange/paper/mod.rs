//! The paper exchange: the embedded default's venue. Its matching and
//! accounting are `tradingbot_core::exchange::paper`; here live its price
//! feed and the client that keeps each paper account's books (persisted)
//! and reports fills like a venue's user stream.

pub mod client;
pub mod feed;

pub use client::{PaperBooks, PaperClient};
pub use feed::PriceFeed;
