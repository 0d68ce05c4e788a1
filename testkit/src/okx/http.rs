//! The REST side of the local OKX venue.

use super::venue::{Recorded, Refusal, Venue};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

type Shared = Arc<Mutex<Venue>>;

pub fn start(venue: Shared) -> (String, actix_web::dev::ServerHandle) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let system = actix_web::rt::System::new();
        system.block_on(async move {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
            let addr = listener.local_addr().expect("bound address");
            let data = web::Data::new(venue);
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(data.clone())
                    .default_service(web::to(handle))
            })
            .workers(1)
            .disable_signals()
            .listen(listener)
            .expect("listen")
            .run();
            tx.send((format!("http://{addr}"), server.handle()))
                .expect("report address");
            let _ = server.await;
        });
    });
    rx.recv().expect("local OKX started")
}

fn ok(data: Value) -> (u16, Value) {
    (200, json!({ "code": "0", "msg": "", "data": data }))
}

fn fail((status, code, msg): Refusal, order_endpoint: bool) -> (u16, Value) {
    if order_endpoint && status == 200 {
        // Order endpoints: the reason is on the item.
        (
            200,
            json!({ "code": "1", "msg": "All operations failed", "data": [{ "sCode": code, "sMsg": msg, "clOrdId": "", "ordId": "" }] }),
        )
    } else {
        (status, json!({ "code": code, "msg": msg, "data": [] }))
    }
}

fn query_param<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
    q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

async fn handle(req: HttpRequest, body: web::Bytes, venue: web::Data<Shared>) -> HttpResponse {
    let method = req.method().as_str().to_owned();
    let path = req.path().to_owned();
    let query = req.query_string().to_owned();
    let path_and_query = if query.is_empty() {
        path.clone()
    } else {
        format!("{path}?{query}")
    };
    let body_text = String::from_utf8_lossy(&body).into_owned();
    let header = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let key = header("OK-ACCESS-KEY");
    let simulated = header("x-simulated-trading").as_deref() == Some("1");
    let q = crate::binance::venue::parse_params(&query);
    let json_body: Option<Value> = serde_json::from_str(&body_text).ok();
    let (status, value, hold) = {
        let mut v = venue.lock().unwrap_or_else(|e| e.into_inner());
        let lose = v
            .lose_next
            .iter()
            .position(|(p, _)| *p == path)
            .map(|i| v.lose_next.remove(i));
        let qualified = format!("{method} {path}");
        let hold = v.take_hold(&[path.as_str(), qualified.as_str()]);
        let order_endpoint = path.starts_with("/api/v5/trade/");
        let (status, value) = if path.starts_with("/api/v5/public/") {
            match path.as_str() {
                "/api/v5/public/time" => ok(json!([{ "ts": v.now().to_string() }])),
                "/api/v5/public/instruments" => ok(v.instruments_json()),
                "/api/v5/public/mark-price" => match query_param(&q, "instId")
                    .and_then(|i| v.instruments.get(i).map(|x| (i, x.mark)))
                {
                    Some((i, mark)) => ok(
                        json!([{ "instId": i, "instType": "SWAP", "markPx": mark.to_string(), "ts": v.now().to_string() }]),
                    ),
                    None => fail(
                        (200, "51001".into(), "Instrument ID does not exist.".into()),
                        false,
                    ),
                },
                "/api/v5/public/position-tiers" => {
                    let family = query_param(&q, "instFamily");
                    let mode = query_param(&q, "tdMode");
                    match (query_param(&q, "instType"), family, mode) {
                        (Some("SWAP"), Some(f), Some(m @ ("cross" | "isolated"))) => {
                            match v.position_tiers(f, m) {
                                Some(t) => ok(t),
                                None => fail(
                                    (200, "51001".into(), "Instrument ID does not exist.".into()),
                                    false,
                                ),
                            }
                        }
                        _ => fail(
                            (
                                400,
                                "50014".into(),
                                "Parameter instType, tdMode or instFamily can not be empty.".into(),
                            ),
                            false,
                        ),
                    }
                }
                _ => (404, json!({ "code": "404", "msg": "Not Found" })),
            }
        } else {
            match v.authenticate(
                key.as_deref(),
                header("OK-ACCESS-SIGN").as_deref(),
                header("OK-ACCESS-TIMESTAMP").as_deref(),
                header("OK-ACCESS-PASSPHRASE").as_deref(),
                simulated,
                &method,
                &path_and_query,
                &body_text,
            ) {
                Err(r) => fail(r, false),
                Ok(k) if !v.spend(&k, &method, &path) => (
                    429,
                    json!({ "code": "50011", "msg": "Too Many Requests", "data": [] }),
                ),
                Ok(k) => {
                    let b = json_body.clone().unwrap_or(Value::Null);
                    let run = |v: &mut Venue| -> (u16, Value) {
                        let result = match (method.as_str(), path.as_str()) {
                            ("GET", "/api/v5/account/balance") => Ok(v.balance(&k)),
                            ("GET", "/api/v5/account/config") => Ok(v.config(&k)),
                            ("GET", "/api/v5/account/positions") => Ok(v.positions(&k)),
                            ("POST", "/api/v5/account/set-leverage") => v.set_leverage(&k, &b),
                            ("POST", "/api/v5/trade/order") => v.place(&k, &b),
                            ("GET", "/api/v5/trade/order") => v.get_order(
                                &k,
                                query_param(&q, "instId"),
                                query_param(&q, "clOrdId"),
                            ),
                            ("POST", "/api/v5/trade/cancel-order") => v.cancel_order(&k, &b),
                            ("POST", "/api/v5/trade/order-algo") => v.place_algo(&k, &b),
                            ("GET", "/api/v5/trade/order-algo") => {
                                v.get_algo(&k, query_param(&q, "algoClOrdId"))
                            }
                            ("POST", "/api/v5/trade/cancel-algos") => v.cancel_algos(&k, &b),
                            ("GET", "/api/v5/trade/orders-pending") => {
                                Ok(v.open_orders(&k, query_param(&q, "instId")))
                            }
                            ("GET", "/api/v5/trade/orders-algo-pending") => v.open_algos(
                                &k,
                                query_param(&q, "ordType"),
                                query_param(&q, "instId"),
                            ),
                            _ => Err((404, "404".into(), "Not Found".into())),
                        };
                        match result {
                            Ok(data) => ok(data),
                            Err(r) => fail(r, order_endpoint && method == "POST"),
                        }
                    };
                    match (lose, hold) {
                        (Some((_, execute)), _) => {
                            if execute {
                                let _ = run(&mut v);
                            }
                            (503, json!({}))
                        }
                        (None, Some(_)) => {
                            let _ = run(&mut v);
                            (503, json!({}))
                        }
                        (None, None) => run(&mut v),
                    }
                }
            }
        };
        let code = value
            .get("data")
            .and_then(|d| d.get(0))
            .and_then(|i| i.get("sCode"))
            .and_then(Value::as_str)
            .filter(|c| *c != "0")
            .or_else(|| value.get("code").and_then(Value::as_str))
            .unwrap_or(if status >= 500 { "5xx" } else { "0" })
            .to_owned();
        v.requests.push(Recorded {
            method,
            path,
            query,
            body: json_body,
            api_key: key,
            status,
            code,
            at_ms: crate::now_ms(),
        });
        (status, value, hold)
    };
    if let Some(ms) = hold {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("valid status"))
        .json(value)
}
