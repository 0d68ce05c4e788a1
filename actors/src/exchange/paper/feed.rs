//! Mark prices for the paper exchange. By default the bundled real BTC
//! candles are replayed (a day of history per configured interval), so the
//! embedded server has moving prices with no network; with the Binance
//! source it follows the public mark-price stream, falling back to the
//! replay whenever the stream is unreachable.

use futures_util::StreamExt;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tradingbot_core::market::candle::{BUNDLED_BTC_DAILY, parse_daily_csv};
use tradingbot_core::market::{Candle, replay};

/// Current marks, by symbol.
pub type Marks = BTreeMap<String, Decimal>;

/// Where prices come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedSource {
    /// The bundled candles, each replayed over `candle_ms`.
    Replay { candle_ms: i64 },
    /// Binance's public mark-price stream at `stream_url` (e.g.
    /// `wss://fstream.binance.com`), with the replay as fallback.
    Binance { stream_url: String, candle_ms: i64 },
    /// Set by hand (tests).
    Manual,
}

/// A shared source of marks.
pub struct PriceFeed {
    tx: watch::Sender<Marks>,
    /// The symbols it can price (`None`: whatever is set by hand).
    priced: Option<&'static [&'static str]>,
}

/// What the bundled candles price.
const REPLAYED: &[&str] = &["BTCUSDT"];
/// What Binance's mark-price stream is asked for.
const STREAMED: &[&str] = &["BTCUSDT", "ETHUSDT"];

const SYMBOL: &str = "BTCUSDT";

fn candles() -> Vec<Candle> {
    parse_daily_csv(BUNDLED_BTC_DAILY)
        .map(|(c, _)| c)
        .unwrap_or_default()
}

fn replayed(candles: &[Candle], started: std::time::Instant, candle_ms: i64) -> Option<Decimal> {
    let elapsed = started.elapsed().as_millis() as i64;
    replay::price_at(candles, elapsed, candle_ms).map(|p| p.round_dp(1))
}

impl PriceFeed {
    /// Starts the feed (its task runs while the feed lives).
    pub fn start(source: FeedSource) -> Arc<Self> {
        let (tx, _) = watch::channel(Marks::new());
        let priced = match &source {
            FeedSource::Manual => None,
            FeedSource::Replay { .. } => Some(REPLAYED),
            FeedSource::Binance { .. } => Some(STREAMED),
        };
        let feed = Arc::new(Self { tx, priced });
        match source {
            FeedSource::Manual => {}
            FeedSource::Replay { candle_ms } => {
                feed.spawn_replay(candle_ms, None);
            }
            FeedSource::Binance {
                stream_url,
                candle_ms,
            } => {
                let live = Arc::new(std::sync::atomic::AtomicBool::new(false));
                feed.spawn_replay(candle_ms, Some(live.clone()));
                feed.spawn_binance(stream_url, live);
            }
        }
        feed
    }

    fn spawn_replay(
        self: &Arc<Self>,
        candle_ms: i64,
        live: Option<Arc<std::sync::atomic::AtomicBool>>,
    ) {
        let weak = Arc::downgrade(self);
        let series = candles();
        let started = std::time::Instant::now();
        if let Some(p) = replayed(&series, started, candle_ms) {
            self.set(SYMBOL, p);
        }
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                let Some(feed) = weak.upgrade() else { return };
                if live
                    .as_ref()
                    .is_some_and(|l| l.load(std::sync::atomic::Ordering::Relaxed))
                {
                    continue;
                }
                if let Some(p) = replayed(&series, started, candle_ms) {
                    feed.set(SYMBOL, p);
                }
            }
        });
    }

    fn spawn_binance(
        self: &Arc<Self>,
        stream_url: String,
        live: Arc<std::sync::atomic::AtomicBool>,
    ) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let url = format!(
                "{}/stream?streams=btcusdt@markPrice@1s/ethusdt@markPrice@1s",
                stream_url.trim_end_matches('/')
            );
            let mut backoff = Duration::from_secs(1);
            loop {
                if weak.strong_count() == 0 {
                    return;
                }
                match tokio_tungstenite::connect_async(&url).await {
                    Ok((mut ws, _)) => {
                        tracing::info!("paper feed follows Binance's mark prices");
                        backoff = Duration::from_secs(1);
                        while let Some(Ok(msg)) = ws.next().await {
                            let Some(feed) = weak.upgrade() else { return };
                            if let Message::Text(text) = msg
                                && let Some((symbol, price)) = parse_mark(&text)
                            {
                                live.store(true, std::sync::atomic::Ordering::Relaxed);
                                feed.set(&symbol, price);
                            }
                        }
                        tracing::warn!(
                            "Binance mark-price stream lost; the paper feed replays candles meanwhile"
                        );
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "Binance mark-price stream unreachable; replaying candles")
                    }
                }
                live.store(false, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(60));
            }
        });
    }

    /// Sets one mark (and notifies subscribers).
    pub fn set(&self, symbol: &str, price: Decimal) {
        self.tx.send_modify(|m| {
            m.insert(symbol.to_owned(), price);
        });
    }

    /// Whether this feed can price `symbol` at all (the paper exchange lists
    /// only what it can price: an alert it cannot fill is worse than a
    /// strategy refused at creation).
    pub fn prices(&self, symbol: &str) -> bool {
        self.priced.is_none_or(|p| p.contains(&symbol))
    }

    /// The symbols it can price, when fixed.
    pub fn priced(&self) -> Option<&'static [&'static str]> {
        self.priced
    }

    pub fn mark(&self, symbol: &str) -> Option<Decimal> {
        self.tx.borrow().get(symbol).copied()
    }

    pub fn marks(&self) -> Marks {
        self.tx.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<Marks> {
        self.tx.subscribe()
    }
}

/// `{"stream": "...", "data": {"e": "markPriceUpdate", "s": "BTCUSDT", "p": "11794.15"}}`.
pub(crate) fn parse_mark(text: &str) -> Option<(String, Decimal)> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let data = v.get("data").unwrap_or(&v);
    if data.get("e")?.as_str()? != "markPriceUpdate" {
        return None;
    }
    let symbol = data.get("s")?.as_str()?.to_owned();
    let price = Decimal::from_str(data.get("p")?.as_str()?).ok()?;
    Some((symbol, price))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_binance_mark_price_events() {
        let text = r#"{"stream":"btcusdt@markPrice@1s","data":{"e":"markPriceUpdate","E":1562305380000,"s":"BTCUSDT",
          "p":"11794.15000000","i":"11784.62659091","P":"11784.25641265","r":"0.00038167","T":1562306400000}}"#;
        assert_eq!(
            parse_mark(text),
            Some(("BTCUSDT".into(), Decimal::from_str("11794.15").unwrap()))
        );
        assert_eq!(parse_mark(r#"{"e":"other"}"#), None);
    }

    #[tokio::test]
    async fn replays_the_bundled_candles() {
        let feed = PriceFeed::start(FeedSource::Replay { candle_ms: 60_000 });
        let p = feed.mark("BTCUSDT").expect("a price at once");
        // The first candle opens at 1336.77 (rounded to the tick).
        assert_eq!(p, Decimal::from_str("1336.8").unwrap());
        assert!(feed.prices("BTCUSDT"));
        assert!(!feed.prices("ETHUSDT"), "no ETH candles are bundled");
    }
}
