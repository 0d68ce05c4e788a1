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
pub mod llm;
pub mod okx;
pub mod smtp;
pub mod telegram;

use std::time::{SystemTime, UNIX_EPOCH};

/// Serves websocket-style TCP connections on a free loopback port, in a
/// thread with its own runtime, handing each connection to `serve`;
/// returns `ws://<address><path>`.
pub(crate) fn serve_loopback<S, F, Fut>(path: &str, state: S, serve: F) -> String
where
    S: Clone + Send + 'static,
    F: Fn(tokio::net::TcpStream, S) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    let path = path.to_owned();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind loopback");
            let addr = listener.local_addr().expect("address");
            tx.send(format!("ws://{addr}{path}")).expect("report");
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(serve(tcp, state.clone()));
            }
        });
    });
    rx.recv().expect("local server started")
}

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
