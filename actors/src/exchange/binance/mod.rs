//! The Binance USDⓈ-M connection: REST (signed, budgeted, with clock sync),
//! the user data stream and the websocket API session.

pub mod client;
pub mod user_stream;
pub mod ws_api;

pub use client::BinanceClient;
