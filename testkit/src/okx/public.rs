//! The public websocket of the local OKX venue: `subscribe` to the
//! `mark-price` channel (acknowledged per argument as OKX does), text
//! `ping`/`pong`, and each subscribed instrument's mark pushed once a second.

use super::venue::Venue;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Shared = Arc<Mutex<Venue>>;

pub fn start(venue: Shared) -> String {
    crate::serve_loopback("/ws/v5/public", venue, serve)
}

async fn serve(tcp: tokio::net::TcpStream, venue: Shared) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    let mut subscribed: Vec<String> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let pushes: Vec<String> = {
                    let v = venue.lock().unwrap_or_else(|e| e.into_inner());
                    let now = v.now();
                    subscribed
                        .iter()
                        .filter_map(|id| {
                            let mark = v.instruments.get(id)?.mark;
                            Some(json!({
                                "arg": { "channel": "mark-price", "instId": id },
                                "data": [{ "instType": "SWAP", "instId": id,
                                           "markPx": mark.to_string(), "ts": now.to_string() }],
                            }).to_string())
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
                Some(Ok(Message::Text(t))) if t.as_str() == "ping" => {
                    let _ = ws.send(Message::text("pong")).await;
                }
                Some(Ok(Message::Text(t))) => {
                    let Ok(req) = serde_json::from_str::<Value>(&t) else {
                        let _ = ws.send(Message::text(json!({"event":"error","code":"60012","msg":"Invalid request"}).to_string())).await;
                        continue;
                    };
                    if req["op"] != "subscribe" {
                        let _ = ws.send(Message::text(json!({"event":"error","code":"60012","msg":"Invalid request"}).to_string())).await;
                        continue;
                    }
                    for arg in req["args"].as_array().into_iter().flatten() {
                        let known = arg["channel"] == "mark-price"
                            && arg["instId"].as_str().is_some_and(|id| {
                                venue.lock().unwrap_or_else(|e| e.into_inner()).instruments.contains_key(id)
                            });
                        let answer = if known {
                            subscribed.push(arg["instId"].as_str().unwrap_or_default().to_owned());
                            json!({ "event": "subscribe", "arg": arg, "connId": "a4d3ae55" })
                        } else {
                            json!({ "event": "error", "code": "60018", "msg": format!("Wrong URL or channel:{}, instId:{} doesn't exist.", arg["channel"], arg["instId"]), "connId": "a4d3ae55" })
                        };
                        let _ = ws.send(Message::text(answer.to_string())).await;
                    }
                }
                Some(Ok(Message::Ping(p))) => { let _ = ws.send(Message::Pong(p)).await; }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                _ => {}
            },
        }
    }
}
