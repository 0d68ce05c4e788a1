//! The private websocket of the local OKX venue: `login` (HMAC over
//! `timestamp + "GET" + "/users/self/verify"`, seconds, within 30 s),
//! `subscribe`, text `ping`/`pong`, pushes on the `orders` and `positions`
//! channels, and `op: "order"`.

use super::venue::{Recorded, Venue};
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::{Arc, Mutex};
use tokio_tungstenite::tungstenite::Message;

type Shared = Arc<Mutex<Venue>>;

pub fn start(venue: Shared) -> String {
    crate::serve_loopback("/ws/v5/private", venue, serve)
}

fn login(v: &Venue, args: &Value) -> Result<String, (String, String)> {
    let s = |k: &str| args.get(k).and_then(Value::as_str).unwrap_or_default();
    let fail = |code: &str, msg: &str| Err((code.to_owned(), msg.to_owned()));
    let Some(account) = v.accounts.get(s("apiKey")) else {
        return fail("60005", "Invalid apiKey");
    };
    if account.passphrase != s("passphrase") {
        return fail("60024", "Wrong passphrase");
    }
    let ts: i64 = s("timestamp").parse().unwrap_or(0);
    if (v.now() / 1000 - ts).abs() > 30 {
        return fail("60006", "Timestamp request expired");
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(&account.secret).expect("any key length");
    mac.update(format!("{ts}GET/users/self/verify").as_bytes());
    let given = base64::engine::general_purpose::STANDARD
        .decode(s("sign"))
        .unwrap_or_default();
    if mac.verify_slice(&given).is_err() {
        return fail("60007", "Invalid sign");
    }
    Ok(s("apiKey").to_owned())
}

async fn serve(tcp: tokio::net::TcpStream, venue: Shared) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut key: Option<String> = None;
    let mut tx = Some(tx);
    let generation = venue
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .ws_generation;
    let mut check = tokio::time::interval(std::time::Duration::from_millis(50));
    loop {
        tokio::select! {
            push = rx.recv() => match push {
                Some(text) => if ws.send(Message::text(text)).await.is_err() { return },
                None => return,
            },
            _ = check.tick() => {
                if venue.lock().unwrap_or_else(|e| e.into_inner()).ws_generation != generation {
                    let _ = ws.close(None).await;
                    return;
                }
            }
            msg = ws.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Ping(p))) => { let _ = ws.send(Message::Pong(p)).await; continue; }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    _ => continue,
                };
                if text == "ping" {
                    let _ = ws.send(Message::text("pong")).await;
                    continue;
                }
                let Ok(req) = serde_json::from_str::<Value>(&text) else { continue };
                let op = req.get("op").and_then(Value::as_str).unwrap_or_default();
                let mut held = false;
                let reply = {
                    let mut v = venue.lock().unwrap_or_else(|e| e.into_inner());
                    match (op, &key) {
                        ("login", _) => match login(&v, &req["args"][0]) {
                            Ok(k) => {
                                if let Some(t) = tx.take() {
                                    v.streams.entry(k.clone()).or_default().push(t);
                                }
                                key = Some(k);
                                json!({ "event": "login", "code": "0", "msg": "", "connId": "local" })
                            }
                            Err((code, msg)) => json!({ "event": "error", "code": code, "msg": msg, "connId": "local" }),
                        },
                        (_, None) => json!({ "event": "error", "code": "60011", "msg": "Please log in", "connId": "local" }),
                        ("subscribe", Some(_)) => json!({ "event": "subscribe", "arg": req["args"][0], "connId": "local" }),
                        ("order", Some(k)) => {
                            let k = k.clone();
                            let id = req.get("id").cloned().unwrap_or(Value::Null);
                            let body = req["args"][0].clone();
                            let result = v.place(&k, &body);
                            // Carried out, and the answer never sent.
                            held = v.take_hold(&["WS order"]).is_some();
                            let (code, reply) = match result {
                                Ok(data) => ("0".to_owned(), json!({ "id": id, "op": "order", "code": "0", "msg": "", "data": data })),
                                Err((_, code, msg)) => (code.clone(), json!({ "id": id, "op": "order", "code": "1", "msg": "",
                                    "data": [{ "clOrdId": body.get("clOrdId").cloned().unwrap_or(Value::Null), "ordId": "", "sCode": code, "sMsg": msg }] })),
                            };
                            v.requests.push(Recorded { method: "WS".into(), path: "order".into(), query: String::new(),
                                body: Some(body), api_key: Some(k), status: 200, code, at_ms: crate::now_ms() });
                            reply
                        }
                        _ => json!({ "event": "error", "code": "60012", "msg": "Invalid request", "connId": "local" }),
                    }
                };
                if held {
                    continue;
                }
                let refused = reply.get("event").and_then(Value::as_str) == Some("error") && op == "login";
                if ws.send(Message::text(reply.to_string())).await.is_err() || refused {
                    let _ = ws.close(None).await;
                    return;
                }
            }
        }
    }
}
