//! Public mark-price streams: one websocket per venue and network, shared by
//! every account on it, keeping the venue's [`MarkTable`] fresh for the
//! symbols being traded. Binance's combined stream
//! (`/stream?streams=btcusdt@markPrice@1s/…`, one push a second) and OKX's
//! public `mark-price` channel. REST polling stays behind it: an account
//! reads a mark over REST only when the stream has not refreshed it lately,
//! so a lost stream degrades to polling, never to stale prices.

use crate::execution::view::MarkTable;
use futures_util::{SinkExt, StreamExt};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tradingbot_core::exchange::Venue;

/// Starts following `venue`'s marks at `url` (Binance: the market stream
/// base; OKX: the public websocket) for whatever `table` wants. Ends when
/// the table is dropped.
pub fn spawn(venue: Venue, url: String, table: &Arc<MarkTable>) {
    if venue == Venue::Paper {
        return;
    }
    let weak = Arc::downgrade(table);
    tokio::spawn(async move {
        let mut backoff = Duration::from_secs(1);
        loop {
            let Some(table) = weak.upgrade() else { return };
            let symbols = table.wanted();
            if symbols.is_empty() {
                let changed = table.changed();
                drop(table);
                changed.notified().await;
                continue;
            }
            drop(table);
            match follow(venue, &url, &symbols, &weak).await {
                Ok(()) => backoff = Duration::from_secs(1),
                Err(e) => {
                    tracing::debug!(venue = venue.as_str(), error = %e, "mark stream unavailable; REST polling covers");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                }
            }
        }
    });
}

/// One connection's life: returns `Ok` when the wanted symbols changed
/// (reconnect with the new set), `Err` when the connection failed.
async fn follow(
    venue: Venue,
    url: &str,
    symbols: &[String],
    weak: &Weak<MarkTable>,
) -> Result<(), String> {
    let target = match venue {
        Venue::Binance => format!(
            "{}/stream?streams={}",
            url.trim_end_matches('/'),
            symbols
                .iter()
                .map(|s| format!("{}@markPrice@1s", s.to_ascii_lowercase()))
                .collect::<Vec<_>>()
                .join("/")
        ),
        _ => url.to_owned(),
    };
    let (mut ws, _) = tokio_tungstenite::connect_async(&target)
        .await
        .map_err(|e| e.to_string())?;
    if venue == Venue::Okx {
        let args: Vec<Value> = symbols
            .iter()
            .map(|s| json!({ "channel": "mark-price", "instId": s }))
            .collect();
        ws.send(Message::text(
            json!({ "op": "subscribe", "args": args }).to_string(),
        ))
        .await
        .map_err(|e| e.to_string())?;
    }
    tracing::info!(
        venue = venue.as_str(),
        symbols = symbols.len(),
        "following mark prices"
    );
    let changed = match weak.upgrade() {
        Some(t) => t.changed(),
        None => return Ok(()),
    };
    // OKX drops a connection silent for 30 s; Binance pings us instead.
    let mut keepalive = tokio::time::interval(Duration::from_secs(20));
    keepalive.tick().await;
    loop {
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    let Some(table) = weak.upgrade() else { return Ok(()) };
                    for (symbol, price) in parse(venue, &text) {
                        table.set(&symbol, price);
                    }
                }
                Some(Ok(Message::Ping(p))) => {
                    ws.send(Message::Pong(p)).await.map_err(|e| e.to_string())?;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("closed by the venue".into()),
            },
            _ = changed.notified() => {
                let Some(table) = weak.upgrade() else { return Ok(()) };
                if table.wanted() != symbols {
                    let _ = ws.close(None).await;
                    return Ok(());
                }
            }
            _ = keepalive.tick() => {
                if venue == Venue::Okx {
                    ws.send(Message::text("ping")).await.map_err(|e| e.to_string())?;
                }
            }
        }
    }
}

/// The marks in one message.
pub fn parse(venue: Venue, text: &str) -> Vec<(String, Decimal)> {
    match venue {
        Venue::Binance => crate::exchange::paper::feed::parse_mark(text)
            .into_iter()
            .collect(),
        Venue::Okx => parse_okx(text),
        Venue::Paper => Vec::new(),
    }
}

/// `{"arg":{"channel":"mark-price","instId":"BTC-USDT-SWAP"},
///   "data":[{"instType":"SWAP","instId":"BTC-USDT-SWAP","markPx":"42310.6","ts":"…"}]}`
fn parse_okx(text: &str) -> Vec<(String, Decimal)> {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    if v["arg"]["channel"] != "mark-price" {
        return Vec::new();
    }
    v["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| {
            let id = d["instId"].as_str()?;
            let px: Decimal = d["markPx"].as_str()?.parse().ok()?;
            (px > Decimal::ZERO).then(|| (id.to_owned(), px))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn parses_the_documented_pushes() {
        // OKX's documented push for the mark-price channel.
        let okx = r#"{"arg":{"channel":"mark-price","instId":"BTC-USDT-SWAP"},"data":[{"instType":"SWAP","instId":"BTC-USDT-SWAP","markPx":"42310.6","ts":"1630049139746"}]}"#;
        assert_eq!(
            parse(Venue::Okx, okx),
            vec![("BTC-USDT-SWAP".to_owned(), dec!(42310.6))]
        );
        assert!(
            parse(
                Venue::Okx,
                r#"{"event":"subscribe","arg":{"channel":"mark-price","instId":"BTC-USDT-SWAP"}}"#
            )
            .is_empty()
        );
        assert!(parse(Venue::Okx, "pong").is_empty());
        // Binance's documented markPriceUpdate, in a combined stream.
        let binance = r#"{"stream":"btcusdt@markPrice@1s","data":{"e":"markPriceUpdate","E":1562305380000,"s":"BTCUSDT","p":"11794.15000000","i":"11784.62659091","P":"11784.25641265","r":"0.00038167","T":1562306400000}}"#;
        assert_eq!(
            parse(Venue::Binance, binance),
            vec![("BTCUSDT".to_owned(), dec!(11794.15))]
        );
    }
}
