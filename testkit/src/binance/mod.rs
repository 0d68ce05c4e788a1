//! A local Binance USDⓈ-M futures venue: the REST endpoints TradingBot uses
//! (signed requests verified as Binance does), the Algo Order service, the
//! user data stream, request-weight accounting with 429/418, and a matching
//! engine simple enough to reason about: market orders fill at the mark
//! price, conditional orders trigger when a test moves the mark.

mod http;
mod stream;
pub mod venue;
mod ws_api;

pub use venue::{Failure, Recorded};

use rust_decimal::Decimal;
use std::sync::{Arc, Mutex, MutexGuard};
use venue::Venue;

/// A running local venue.
pub struct LocalBinance {
    pub rest_url: String,
    /// Base of the user data stream (`{stream_url}/ws/{listenKey}`).
    pub stream_url: String,
    /// The websocket API (`ws-fapi`).
    pub ws_api_url: String,
    venue: Arc<Mutex<Venue>>,
    server: actix_web::dev::ServerHandle,
}

impl LocalBinance {
    /// Starts the venue on free loopback ports, in its own threads.
    pub fn start() -> Self {
        let venue = Arc::new(Mutex::new(Venue::new()));
        let stream_url = stream::start(venue.clone());
        let ws_api_url = ws_api::start(venue.clone());
        let (rest_url, server) = http::start(venue.clone());
        Self {
            rest_url,
            stream_url,
            ws_api_url,
            venue,
            server,
        }
    }

    pub fn venue(&self) -> MutexGuard<'_, Venue> {
        self.venue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens an account with a USDT balance and trading permission.
    pub fn add_account(&self, api_key: &str, secret: &str, usdt: Decimal) {
        self.venue().add_account(api_key, secret, usdt);
    }

    /// Moves the mark price, triggering conditional orders it crosses.
    pub fn set_mark(&self, symbol: &str, price: Decimal) {
        self.venue().set_mark(symbol, price);
    }

    /// Serves `candles` (oldest first) from `/fapi/v1/klines`.
    pub fn set_klines(
        &self,
        symbol: &str,
        interval: &str,
        candles: Vec<tradingbot_core::market::candle::Candle>,
    ) {
        self.venue()
            .klines
            .insert((symbol.to_owned(), interval.to_owned()), candles);
    }

    /// Makes the next request to `path` (or `"METHOD /path"`) fail as
    /// `failure` says.
    pub fn fail_next(&self, path: &str, failure: Failure) {
        self.venue().failures.push_back((path.to_owned(), failure));
    }

    /// Lets `skip` requests to `path` (or `"METHOD /path"`) through, then carries the next one
    /// out and holds its answer `ms` before an HTTP 503: the client does
    /// not hear that the venue acted (kill it meanwhile).
    pub fn hold_after(&self, path: &str, skip: u32, ms: u64) {
        self.venue().holds.push((path.to_owned(), skip, ms));
    }

    /// Whether a hold set by [`hold_after`](Self::hold_after) on `path` has
    /// been reached (the request arrived and was carried out).
    pub fn hold_reached(&self, path: &str) -> bool {
        !self.venue().holds.iter().any(|(p, _, _)| p == path)
    }

    /// Makes every listen key of `api_key` expire now.
    pub fn expire_listen_keys(&self, api_key: &str) {
        let mut v = self.venue();
        let now = v.now();
        for (_, (account, expires)) in v.listen_keys.iter_mut() {
            if account == api_key {
                *expires = now;
            }
        }
    }

    /// Waits until `api_key` has an open user data stream (a connection's
    /// handshake completes on the client a moment before the venue starts
    /// routing events to it).
    pub async fn wait_for_stream(&self, api_key: &str) {
        for _ in 0..500 {
            if self
                .venue()
                .streams
                .get(api_key)
                .is_some_and(|s| s.iter().any(|tx| !tx.is_closed()))
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("no user data stream for {api_key}");
    }

    /// Drops every websocket API connection.
    pub fn drop_ws_api(&self) {
        self.venue().ws_api_generation += 1;
    }

    /// Drops every open stream connection (as a network cut would).
    pub fn drop_streams(&self) {
        self.venue().streams.clear();
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.venue().requests.clone()
    }
}

impl Drop for LocalBinance {
    fn drop(&mut self) {
        let server = self.server.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(server.stop(false));
            }
        });
    }
}
