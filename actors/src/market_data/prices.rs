//! Public prices for the websocket's `prices` channel: any symbol a client
//! names is followed on Binance's public mark-price stream while at least
//! one session asks for it, and each change is published on the bus once a
//! second — so a chart shows live prices for a symbol nobody trades.
//! Symbols being traded also arrive from the position monitor.

use crate::execution::bus::EventBus;
use crate::execution::events::{Event, PriceTick};
use crate::execution::view::MarkTable;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tradingbot_core::exchange::Venue;

/// Symbols one session may follow.
pub const MAX_PER_SESSION: usize = 20;
/// Symbols followed at once for all sessions (one venue connection).
pub const MAX_FOLLOWED: usize = 200;
/// A mark older than this is not published (the stream is down).
const FRESH: Duration = Duration::from_secs(10);

/// Why a symbol is not followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FollowRefused {
    #[error("public prices are off (offline market data)")]
    Offline,
    #[error("at most {MAX_FOLLOWED} symbols are followed at once")]
    Full,
}

/// Who asks for which symbols; the stream follows those asked for.
pub struct PublicPrices {
    table: Option<Arc<MarkTable>>,
    demand: Mutex<HashMap<String, usize>>,
}

impl PublicPrices {
    /// No public feed: only traded symbols' prices reach the channel.
    pub fn offline() -> Arc<Self> {
        Arc::new(Self {
            table: None,
            demand: Mutex::new(HashMap::new()),
        })
    }

    /// Follows Binance's market stream at `stream_url` and publishes on
    /// `bus`. Must run inside the runtime.
    pub fn start(stream_url: String, bus: Arc<EventBus>) -> Arc<Self> {
        let table = Arc::new(MarkTable::default());
        crate::exchange::marks::spawn(Venue::Binance, stream_url, &table);
        let weak = Arc::downgrade(&table);
        tokio::spawn(async move {
            let mut sent: HashMap<String, rust_decimal::Decimal> = HashMap::new();
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let Some(table) = weak.upgrade() else { return };
                let wanted = table.wanted();
                sent.retain(|s, _| wanted.contains(s));
                for symbol in wanted {
                    let Some((price, age)) = table.get(&symbol) else {
                        continue;
                    };
                    if age > FRESH || sent.get(&symbol) == Some(&price) {
                        continue;
                    }
                    sent.insert(symbol.clone(), price);
                    bus.publish_live(Event::Price(PriceTick {
                        exchange: "binance".into(),
                        symbol,
                        price,
                        at: chrono::Utc::now(),
                    }));
                }
            }
        });
        Arc::new(Self {
            table: Some(table),
            demand: Mutex::new(HashMap::new()),
        })
    }

    /// One more session asks for `symbol` (canonical).
    pub fn hold(&self, symbol: &str) -> Result<(), FollowRefused> {
        let table = self.table.as_ref().ok_or(FollowRefused::Offline)?;
        let mut demand = self.demand.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = demand.get_mut(symbol) {
            *n += 1;
            return Ok(());
        }
        if demand.len() >= MAX_FOLLOWED {
            return Err(FollowRefused::Full);
        }
        demand.insert(symbol.to_owned(), 1);
        metrics::gauge!("ws_price_symbols_followed").set(demand.len() as f64);
        table.want(symbol);
        Ok(())
    }

    /// A session no longer asks for `symbol`; the last one lets it go.
    pub fn release(&self, symbol: &str) {
        let Some(table) = &self.table else { return };
        let mut demand = self.demand.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = demand.get_mut(symbol) {
            *n -= 1;
            if *n == 0 {
                demand.remove(symbol);
                metrics::gauge!("ws_price_symbols_followed").set(demand.len() as f64);
                table.unwant(symbol);
            }
        }
    }

    /// The latest fresh mark of a followed symbol, as a tick: what a
    /// session that just asked is told first, rather than waiting for the
    /// price to move.
    pub fn latest(&self, symbol: &str) -> Option<PriceTick> {
        let (price, age) = self.table.as_ref()?.get(symbol)?;
        (age <= FRESH).then(|| PriceTick {
            exchange: "binance".into(),
            symbol: symbol.to_owned(),
            price,
            at: chrono::Utc::now() - chrono::Duration::from_std(age).unwrap_or_default(),
        })
    }

    /// The symbols followed now.
    pub fn followed(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .demand
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_session_lets_a_symbol_go() {
        let table = Arc::new(MarkTable::default());
        let p = PublicPrices {
            table: Some(table.clone()),
            demand: Mutex::new(HashMap::new()),
        };
        p.hold("SOLUSDT").unwrap();
        p.hold("SOLUSDT").unwrap();
        p.hold("ETHUSDT").unwrap();
        assert_eq!(table.wanted(), ["ETHUSDT", "SOLUSDT"]);
        p.release("SOLUSDT");
        assert_eq!(table.wanted(), ["ETHUSDT", "SOLUSDT"]);
        p.release("SOLUSDT");
        p.release("SOLUSDT");
        assert_eq!(table.wanted(), ["ETHUSDT"]);
        for i in 0..MAX_FOLLOWED - 1 {
            p.hold(&format!("S{i}USDT")).unwrap();
        }
        assert_eq!(p.hold("XRPUSDT"), Err(FollowRefused::Full));
        assert_eq!(
            PublicPrices::offline().hold("BTCUSDT"),
            Err(FollowRefused::Offline)
        );
    }
}
