//! Local stand-ins for the services TradingBot talks to but tests cannot
//! reach: servers that speak each service's wire protocol and check
//! requests the way the real one does (signatures recomputed from the
//! published algorithm, timestamp windows, parameter formats and precision),
//! so a client that passes here passes there.
//!
//! Only tests depend on this crate. Its checks are written from the venues'
//! documentation, independently of the clients' own request-building code,
//! so it cannot agree with a client's mistake by construction.

pub mod binance;
pub mod okx;
pub mod smtp;
pub mod telegram;

use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// An HTTP client for tests (installs the process's TLS provider first:
/// the workspace builds reqwest without a built-in one).
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("a test HTTP client")
}
