//! The HTTPS client every venue connection shares: rustls with the ring
//! provider (pure Rust, nothing to install), connection pooling, timeouts.

use std::sync::Once;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Installs the process-wide TLS provider (once).
pub fn install_tls_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Another component may have installed one already; either is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A pooled HTTP client with a per-request `timeout`.
pub fn client(timeout: Duration) -> reqwest::Client {
    install_tls_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(5))
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .user_agent(concat!("tradingbot/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client configuration is valid")
}

/// Wall-clock Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Whether a transport error happened before the request could reach the
/// venue (then the outcome is known: nothing happened).
pub fn not_sent(e: &reqwest::Error) -> bool {
    e.is_connect() || e.is_builder()
}

/// A transport error as text, without its URL: a signed request's URL
/// carries its signature (and a bot's, its token), which must not reach a
/// log line or an error message.
pub fn redacted(e: reqwest::Error) -> String {
    e.without_url().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn transport_errors_lose_the_signed_url() {
        // Nothing listens on port 9: the connection is refused.
        let url =
            "http://127.0.0.1:9/fapi/v1/order?symbol=BTCUSDT&timestamp=1&signature=5f2b9c0ffee";
        let e = client(Duration::from_secs(2))
            .post(url)
            .send()
            .await
            .unwrap_err();
        assert!(e.to_string().contains("signature"), "reqwest names the URL");
        let text = redacted(e);
        assert!(
            !text.contains("signature") && !text.contains("5f2b9c0ffee"),
            "{text}"
        );
    }
}
