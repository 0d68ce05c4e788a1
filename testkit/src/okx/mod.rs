//! A local OKX v5 venue for perpetual swaps: REST with OKX's request
//! signing checked (key, passphrase, timestamp window, Base64 HMAC over
//! timestamp + method + path + body, the demo-trading header), contracts
//! with `ctVal`, attached TP/SL (`attachAlgoOrds`), conditional orders,
//! per-endpoint rate limits.

mod http;
mod public;
pub mod venue;
mod ws;

pub use venue::Recorded;

use rust_decimal::Decimal;
use std::sync::{Arc, Mutex, MutexGuard};
use venue::Venue;

pub struct LocalOkx {
    pub rest_url: String,
    /// The private websocket.
    pub ws_private_url: String,
    /// The public websocket (mark prices).
    pub ws_public_url: String,
    venue: Arc<Mutex<Venue>>,
    server: actix_web::dev::ServerHandle,
}

impl LocalOkx {
    pub fn start() -> Self {
        let venue = Arc::new(Mutex::new(Venue::new()));
        let (rest_url, server) = http::start(venue.clone());
        let ws_private_url = ws::start(venue.clone());
        let ws_public_url = public::start(venue.clone());
        Self {
            rest_url,
            ws_private_url,
            ws_public_url,
            venue,
            server,
        }
    }

    pub fn venue(&self) -> MutexGuard<'_, Venue> {
        self.venue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens an account (demo accounts only answer with the demo header).
    pub fn add_account(
        &self,
        api_key: &str,
        secret: &str,
        passphrase: &str,
        usdt: Decimal,
        demo: bool,
    ) {
        self.venue()
            .add_account(api_key, secret, passphrase, usdt, demo);
    }

    pub fn set_mark(&self, inst_id: &str, price: Decimal) {
        self.venue().set_mark(inst_id, price);
    }

    /// Drops every private websocket connection.
    pub fn drop_streams(&self) {
        let mut v = self.venue();
        v.ws_generation += 1;
        v.streams.clear();
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.venue().requests.clone()
    }

    /// The next request to `path` is carried out (or not) and answered with
    /// HTTP 503, as a lost answer would be.
    pub fn lose_next_answer(&self, path: &str, execute: bool) {
        self.venue().lose_next.push((path.to_owned(), execute));
    }

    /// The next request to `path` is carried out, then its answer held for
    /// `ms` before an HTTP 503: the moment to kill the client.
    pub fn hold_next_answer(&self, path: &str, ms: u64) {
        self.hold_after(path, 0, ms);
    }

    /// Lets `skip` requests to `path` through, then holds the next one's
    /// answer as [`hold_next_answer`](Self::hold_next_answer) does. `path`
    /// may name the method (`"POST /api/v5/trade/order"`), the websocket's
    /// order operation (`"WS order"`, whose answer is then never sent), or
    /// alternatives joined by `|`.
    pub fn hold_after(&self, path: &str, skip: u32, ms: u64) {
        self.venue().hold_next.push((path.to_owned(), skip, ms));
    }

    /// Whether the hold on `path` has been reached.
    pub fn hold_reached(&self, path: &str) -> bool {
        !self.venue().hold_next.iter().any(|(p, _, _)| p == path)
    }
}

impl Drop for LocalOkx {
    fn drop(&mut self) {
        let server = self.server.clone();
        std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(server.stop(false));
            }
        });
    }
}
