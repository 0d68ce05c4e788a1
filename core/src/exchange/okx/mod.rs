//! OKX v5 perpetual swaps, as documented at <https://www.okx.com/docs-v5/en/>.
//!
//! Sizes on OKX are in contracts (`sz`), each worth `ctVal` of the base
//! asset; [`InstrumentRules`](crate::exchange::InstrumentRules) carries the
//! conversion. Demo trading uses the production REST host with the header
//! `x-simulated-trading: 1`, and its own websocket hosts.

pub mod errors;
pub mod model;
pub mod rest;
pub mod sign;
pub mod stream;

pub const LIVE_REST_URL: &str = "https://www.okx.com";
pub const LIVE_WS_PUBLIC_URL: &str = "wss://ws.okx.com:8443/ws/v5/public";
pub const LIVE_WS_PRIVATE_URL: &str = "wss://ws.okx.com:8443/ws/v5/private";
pub const DEMO_REST_URL: &str = "https://www.okx.com";
pub const DEMO_WS_PUBLIC_URL: &str = "wss://wspap.okx.com:8443/ws/v5/public";
pub const DEMO_WS_PRIVATE_URL: &str = "wss://wspap.okx.com:8443/ws/v5/private";

/// Header marking demo-trading requests.
pub const SIMULATED_HEADER: &str = "x-simulated-trading";
