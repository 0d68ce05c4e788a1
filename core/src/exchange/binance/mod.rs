//! Binance USDⓈ-M futures (`/fapi`), as documented at
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures>.

pub mod errors;
pub mod model;
pub mod rest;
pub mod sign;
pub mod stream;

/// Production and testnet base addresses (overridable by configuration).
pub const LIVE_REST_URL: &str = "https://fapi.binance.com";
pub const LIVE_WS_API_URL: &str = "wss://ws-fapi.binance.com/ws-fapi/v1";
pub const LIVE_STREAM_URL: &str = "wss://fstream.binance.com";
pub const TESTNET_REST_URL: &str = "https://testnet.binancefuture.com";
pub const TESTNET_WS_API_URL: &str = "wss://testnet.binancefuture.com/ws-fapi/v1";
pub const TESTNET_STREAM_URL: &str = "wss://fstream.binancefuture.com";

/// How far a request's timestamp may trail the server's clock, in ms. The
/// venue's default is 5000 and its maximum 60000; 5 s keeps a delayed order
/// from executing long after it was decided.
pub const RECV_WINDOW_MS: u64 = 5_000;

/// The header carrying the API key.
pub const API_KEY_HEADER: &str = "X-MBX-APIKEY";
/// Response headers reporting the rate-limit budget used.
pub const USED_WEIGHT_HEADER: &str = "x-mbx-used-weight-1m";
pub const ORDER_COUNT_10S_HEADER: &str = "x-mbx-order-count-10s";
pub const ORDER_COUNT_1M_HEADER: &str = "x-mbx-order-count-1m";
