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

/// How an API key is shown: its first 4 and last 5 characters
/// (`vmPU…uEh8A`), never more; short keys show only their last 2.
pub fn mask_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() >= 16 {
        let head: String = chars[..4].iter().collect();
        let tail: String = chars[chars.len() - 5..].iter().collect();
        format!("{head}…{tail}")
    } else {
        let tail: String = chars[chars.len().saturating_sub(2)..].iter().collect();
        format!("…{tail}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn masks_keys_like_the_seed_shows_them() {
        assert_eq!(
            super::mask_key("vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"),
            "vmPU…uEh8A"
        );
        assert_eq!(super::mask_key("short-key"), "…ey");
    }
}
