//! The streams of the local venue: `/ws/<listenKey>` pushes the account's
//! events (an expired key gets `listenKeyExpired` and a close);
//! `/stream?streams=btcusdt@markPrice@1s/…` pushes each symbol's
//! `markPriceUpdate` once a second, in the combined-stream envelope.

use super::venue::Venue;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

type Shared = Arc<Mutex<Venue>>;

pub fn start(venue: Shared) -> String {
    crate::serve_loopback("", venue, serve)
}

async fn serve(tcp: tokio::net::TcpStream, venue: Shared) {
    let mut path = String::new();
    #[allow(clippy::result_large_err)] // the signature is tungstenite's
    let callback = |req: &Request, res: Response| {
        path = req
            .uri()
            .path_and_query()
            .map_or_else(String::new, |p| p.as_str().to_owned());
        Ok(res)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else {
        return;
    };
    if let Some(query) = path.strip_prefix("/stream?") {
        return market(ws, query, venue).await;
    }
    let listen_key = path.strip_prefix("/ws/").unwrap_or_default().to_owned();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let account = {
        let mut v = venue.lock().unwrap_or_else(|e| e.into_inner());
        let now = v.now();
        let account = v
            .listen_keys
            .get(&listen_key)
            .filter(|(_, expires)| *expires > now)
            .map(|(account, _)| account.clone());
        if let Some(a) = &account {
            v.streams.entry(a.clone()).or_default().push(tx);
        }
        account
    };
    let Some(account) = account else {
        let _ = ws.close(None).await;
        return;
    };
    let mut check = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            event = rx.recv() => match event {
                Some(text) => if ws.send(Message::text(text)).await.is_err() { return },
                None => { let _ = ws.close(None).await; return; }
            },
            msg = ws.next() => match msg {
                Some(Ok(Message::Ping(p))) => { let _ = ws.send(Message::Pong(p)).await; }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                _ => {}
            },
            _ = check.tick() => {
                let expired = {
                    let v = venue.lock().unwrap_or_else(|e| e.into_inner());
                    let now = v.now();
                    !v.listen_keys.get(&listen_key).is_some_and(|(a, e)| *a == account && *e > now)
                };
                if expired {
                    let event = json!({"e": "listenKeyExpired", "E": crate::now_ms(), "listenKey": listen_key});
                    let _ = ws.send(Message::text(event.to_string())).await;
                    let _ = ws.close(None).await;
                    return;
                }
            }
        }
    }
}

/// The mark-price streams named in `streams=`.
async fn market(
    mut ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    query: &str,
    venue: Shared,
) {
    let streams: Vec<(String, String)> = query
        .split('&')
        .filter_map(|kv| kv.strip_prefix("streams="))
        .flat_map(|v| v.split('/'))
        .filter_map(|s| {
            let symbol = s.strip_suffix("@markPrice@1s")?;
            Some((s.to_owned(), symbol.to_ascii_uppercase()))
        })
        .collect();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let pushes: Vec<String> = {
                    let v = venue.lock().unwrap_or_else(|e| e.into_inner());
                    let now = v.now();
                    streams
                        .iter()
                        .filter_map(|(stream, symbol)| {
                            let mark = v.symbols.get(symbol)?.mark;
                            Some(json!({ "stream": stream, "data": {
                                "e": "markPriceUpdate", "E": now, "s": symbol,
                                "p": mark.to_string(), "i": mark.to_string(), "P": mark.to_string(),
                                "r": "0.00010000", "T": now + 3_600_000 } }).to_string())
                        })
                        .collect()
                };
                for p in pushes {
                    if ws.send(Message::text(p)).await.is_err() {
                        return;
                    }
                }
            }
            msg = ws.next() => match msg {
                Some(Ok(Message::Ping(p))) => { let _ = ws.send(Message::Pong(p)).await; }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                _ => {}
            },
        }
    }
}
