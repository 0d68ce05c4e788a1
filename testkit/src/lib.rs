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

use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
