//! The websocket API of the local venue (`/ws-fapi/v1`): `order.place`,
//! `algoOrder.place`, `order.status`, `order.cancel`, `algoOrder.cancel`,
//! each signed over its parameters sorted by name, as Binance documents
//! for HMAC keys.

use super::venue::{Params, Recorded, Venue};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tokio_tungstenite::tungstenite::Message;

type Shared = Arc<Mutex<Venue>>;

pub fn start(venue: Shared) -> String {
    crate::serve_loopback("/ws-fapi/v1", venue, serve)
}

fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn answer(v: &mut Venue, text: &str) -> Value {
    let Ok(req) = serde_json::from_str::<Value>(text) else {
        return json!({"id": null, "status": 400, "error": {"code": -1000, "msg": "malformed request"}});
    };
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let method = req
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut params: Vec<(String, String)> = req
        .get("params")
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let signature = params
        .iter()
        .position(|(k, _)| k == "signature")
        .map(|i| params.remove(i).1)
        .unwrap_or_default();
    params.sort_by(|a, b| a.0.cmp(&b.0));
    let payload = params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let api_key = params
        .iter()
        .find(|(k, _)| k == "apiKey")
        .map(|(_, v)| v.clone());
    let is_order = matches!(method.as_str(), "order.place" | "algoOrder.place");
    let spent = v.spend(1, is_order);
    let result = match spent {
        Err(_) => Err((429, -1003, "Too many requests.".to_owned())),
        Ok(_) => v
            .authenticate(
                api_key.as_deref(),
                &format!("{payload}&signature={signature}"),
            )
            .and_then(|key| {
                let p = Params(params.clone());
                match method.as_str() {
                    "order.place" => v.new_order(&key, &p),
                    "algoOrder.place" => v.new_algo(&key, &p),
                    "order.status" => v.get_order(&key, &p),
                    "order.cancel" => v.cancel_order(&key, &p),
                    "algoOrder.cancel" => v.cancel_algo(&key, &p),
                    _ => Err((400, -1000, format!("unknown method {method}"))),
                }
            }),
    };
    let (status, code, body) = match result {
        Ok(value) => (
            200,
            0,
            json!({"id": id, "status": 200, "result": value,
            "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": v.weight_limit, "count": spent.map(|s| s.0).unwrap_or(0)}]}),
        ),
        Err((status, code, msg)) => (
            status,
            code,
            json!({"id": id, "status": status, "error": {"code": code, "msg": msg}}),
        ),
    };
    v.requests.push(Recorded {
        method: "WS".into(),
        path: method,
        params,
        api_key,
        status,
        code,
    });
    body
}

async fn serve(tcp: tokio::net::TcpStream, venue: Shared) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    let generation = venue
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .ws_api_generation;
    let mut check = tokio::time::interval(std::time::Duration::from_millis(50));
    loop {
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    let (reply, silent) = {
                        let mut v = venue.lock().unwrap_or_else(|e| e.into_inner());
                        let silent = v.ws_api_silent;
                        (answer(&mut v, &text), silent)
                    };
                    if !silent && ws.send(Message::text(reply.to_string())).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Ping(p))) => { let _ = ws.send(Message::Pong(p)).await; }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                _ => {}
            },
            _ = check.tick() => {
                if venue.lock().unwrap_or_else(|e| e.into_inner()).ws_api_generation != generation {
                    let _ = ws.close(None).await;
                    return;
                }
            }
        }
    }
}
