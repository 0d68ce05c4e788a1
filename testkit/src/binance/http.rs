//! The REST side of the local venue.

use super::venue::{Failure, Params, Recorded, Refusal, Venue, parse_params};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    rx.recv().expect("local Binance started")
}

/// Binance's kline intervals.
const INTERVALS: [&str; 15] = [
    "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M",
];

/// `GET /fapi/v1/klines`: candles opening in `[startTime, endTime]`, oldest
/// first, at most `limit` (default 500, at most 1500) — the first ones from
/// `startTime`, or the most recent without it — as Binance's arrays.
fn klines(v: &Venue, p: &Params) -> (u16, Value) {
    let Some(symbol) = p.get("symbol") else {
        return error(
            400,
            -1102,
            "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
        );
    };
    let interval = p.get("interval").unwrap_or_default();
    if !INTERVALS.contains(&interval) {
        return error(400, -1120, "Invalid interval.");
    }
    if !v.symbols.contains_key(symbol) {
        return error(400, -1121, "Invalid symbol.");
    }
    let limit = match p.get("limit").map(str::parse::<usize>) {
        None => 500,
        Some(Ok(l)) if (1..=1500).contains(&l) => l,
        Some(_) => return error(400, -1130, "Data sent for parameter 'limit' is not valid."),
    };
    let num = |k: &str| p.get(k).and_then(|s| s.parse::<i64>().ok());
    let (start, end) = (
        num("startTime").unwrap_or(i64::MIN),
        num("endTime").unwrap_or(i64::MAX),
    );
    let step = match interval {
        "1m" => 60_000,
        "3m" => 180_000,
        "5m" => 300_000,
        "15m" => 900_000,
        "30m" => 1_800_000,
        "1h" => 3_600_000,
        "2h" => 7_200_000,
        "4h" => 14_400_000,
        "6h" => 21_600_000,
        "8h" => 28_800_000,
        "12h" => 43_200_000,
        "1d" => 86_400_000,
        "3d" => 259_200_000,
        _ => 604_800_000,
    };
    let within: Vec<&tradingbot_core::market::candle::Candle> = v
        .klines
        .get(&(symbol.to_owned(), interval.to_owned()))
        .map(|c| c.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|c| c.time_ms >= start && c.time_ms <= end)
        .collect();
    // From `startTime` forward; without it, the most recent ones.
    let skip = if p.get("startTime").is_some() {
        0
    } else {
        within.len().saturating_sub(limit)
    };
    let rows: Vec<Value> = within[skip..]
        .iter()
        .take(limit)
        .map(|c| {
            json!([
                c.time_ms,
                c.open.to_string(),
                c.high.to_string(),
                c.low.to_string(),
                c.close.to_string(),
                c.volume.to_string(),
                c.time_ms + step - 1,
                (c.volume * c.close).round_dp(4).to_string(),
                100,
                "0",
                "0",
                "0"
            ])
        })
        .collect();
    (200, Value::Array(rows))
}

fn error(status: u16, code: i64, msg: &str) -> (u16, Value) {
    (status, json!({ "code": code, "msg": msg }))
}

fn refusal((status, code, msg): Refusal) -> (u16, Value) {
    error(status, code, &msg)
}

/// Carries out one request against the venue (lock held; no waiting).
fn route(
    v: &mut Venue,
    method: &str,
    path: &str,
    query: &str,
    api_key: Option<&str>,
) -> (u16, Value) {
    let p = Params(parse_params(query));
    match (method, path) {
        ("GET", "/fapi/v1/ping") => return (200, json!({})),
        ("GET", "/fapi/v1/time") => return (200, json!({ "serverTime": v.now() })),
        ("GET", "/fapi/v1/exchangeInfo") => return (200, v.exchange_info()),
        ("GET", "/fapi/v1/klines") => return klines(v, &p),
        ("GET", "/fapi/v1/premiumIndex") => {
            return match p
                .get("symbol")
                .and_then(|s| v.symbols.get(s).map(|spec| (s, spec.mark)))
            {
                Some((s, mark)) => (
                    200,
                    json!({"symbol": s, "markPrice": mark.to_string(), "indexPrice": mark.to_string(),
                    "estimatedSettlePrice": mark.to_string(), "lastFundingRate": "0.0001", "interestRate": "0.0001",
                    "nextFundingTime": v.now() + 3_600_000, "time": v.now()}),
                ),
                None => error(400, -1121, "Invalid symbol."),
            };
        }
        (_, "/fapi/v1/listenKey") => {
            let Some(key) = api_key.filter(|k| v.accounts.contains_key(*k)) else {
                return error(
                    401,
                    -2015,
                    "Invalid API-key, IP, or permissions for action.",
                );
            };
            let key = key.to_owned();
            let now = v.now();
            let existing = v
                .listen_keys
                .iter()
                .find(|(_, (k, _))| *k == key)
                .map(|(lk, _)| lk.clone());
            return match method {
                "POST" => {
                    let lk = existing.unwrap_or_else(|| {
                        format!("lk{:x}{:x}", now, v.listen_keys.len() + 1).repeat(3)
                    });
                    v.listen_keys.insert(lk.clone(), (key, now + 3_600_000));
                    (200, json!({ "listenKey": lk }))
                }
                "PUT" => match existing {
                    Some(lk) if v.listen_keys[&lk].1 > now => {
                        v.listen_keys.insert(lk.clone(), (key, now + 3_600_000));
                        (200, json!({ "listenKey": lk }))
                    }
                    _ => error(400, -1125, "This listenKey does not exist."),
                },
                "DELETE" => {
                    if let Some(lk) = existing {
                        v.listen_keys.remove(&lk);
                    }
                    (200, json!({}))
                }
                _ => error(405, -1000, "method not allowed"),
            };
        }
        _ => {}
    }
    let key = match v.authenticate(api_key, query) {
        Ok(k) => k,
        Err(r) => return refusal(r),
    };
    let result = match (method, path) {
        ("GET", "/fapi/v3/balance") => Ok(v.balance(&key)),
        ("GET", "/fapi/v2/account") => Ok(v.account(&key)),
        ("GET", "/fapi/v2/positionRisk") => Ok(v.position_risk(&key, p.get("symbol"))),
        ("GET", "/fapi/v1/leverageBracket") => v.brackets(p.get("symbol")),
        ("POST", "/fapi/v1/leverage") => v.set_leverage(&key, &p),
        ("POST", "/fapi/v1/marginType") => v.set_margin_type(&key, &p),
        ("POST", "/fapi/v1/order") => v.new_order(&key, &p),
        ("GET", "/fapi/v1/order") => v.get_order(&key, &p),
        ("GET", "/fapi/v1/openOrders") => Ok(v.open_orders(&key, &p)),
        ("GET", "/fapi/v1/openAlgoOrders") => Ok(v.open_algos(&key, &p)),
        ("DELETE", "/fapi/v1/order") => v.cancel_order(&key, &p),
        ("POST", "/fapi/v1/algoOrder") => v.new_algo(&key, &p),
        ("GET", "/fapi/v1/algoOrder") => v.get_algo(&key, &p),
        ("DELETE", "/fapi/v1/algoOrder") => v.cancel_algo(&key, &p),
        _ => {
            return error(
                404,
                -1000,
                "An unknown error occurred while processing the request.",
            );
        }
    };
    match result {
        Ok(value) => (200, value),
        Err(r) => refusal(r),
    }
}

async fn handle(req: HttpRequest, body: web::Bytes, venue: web::Data<Shared>) -> HttpResponse {
    let method = req.method().as_str().to_owned();
    let path = req.path().to_owned();
    // Binance signs the query string followed by the body.
    let mut total = req.query_string().to_owned();
    if !body.is_empty() {
        total.push_str(&String::from_utf8_lossy(&body));
    }
    let api_key = req
        .headers()
        .get("X-MBX-APIKEY")
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let is_order = matches!(
        (method.as_str(), path.as_str()),
        ("POST", "/fapi/v1/order") | ("POST", "/fapi/v1/algoOrder")
    );
    let mut delay = None;
    let (status, value, counts) = {
        let mut v = venue.lock().unwrap_or_else(|e| e.into_inner());
        let refuse_now = |v: &mut Venue, status: u16, code: i64, wait: u64, msg: &str| {
            v.requests.push(Recorded {
                method: method.clone(),
                path: path.clone(),
                params: parse_params(&total),
                api_key: api_key.clone(),
                status,
                code,
            });
            HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("valid"))
                .insert_header(("Retry-After", wait.to_string()))
                .json(json!({"code": code, "msg": msg}))
        };
        if let Err((status, wait)) = v.admit() {
            let msg = if status == 418 {
                "Way too many requests; IP banned until the ban ends."
            } else {
                "Too many requests; current limit is exceeded, please use the websocket for live updates."
            };
            return refuse_now(&mut v, status, -1003, wait, msg);
        }
        let mut failure = match v.failures.front() {
            Some((p, _)) if *p == path || *p == format!("{method} {path}") => {
                v.failures.pop_front().map(|(_, f)| f)
            }
            _ => None,
        };
        if failure.is_none()
            && let Some(i) = v
                .holds
                .iter()
                .position(|(p, _, _)| *p == path || *p == format!("{method} {path}"))
        {
            if v.holds[i].1 == 0 {
                let (_, _, ms) = v.holds.remove(i);
                failure = Some(Failure::Unknown {
                    execute: true,
                    delay_ms: ms,
                });
            } else {
                v.holds[i].1 -= 1;
            }
        }
        let counts = match v.spend(Venue::weight(&method, &path, &total), is_order) {
            Ok(c) => Some(c),
            Err(wait) => {
                v.limited_for(wait);
                return refuse_now(
                    &mut v,
                    429,
                    -1003,
                    wait,
                    "Too many requests; current limit is exceeded, please use the websocket for live updates.",
                );
            }
        };
        // Orders count per account.
        if is_order
            && let Some(key) = api_key.as_deref().filter(|k| v.accounts.contains_key(*k))
            && let Err(wait) = v.spend_order(key)
        {
            v.rate_limited_count += 1;
            return refuse_now(
                &mut v,
                429,
                -1015,
                wait,
                "Too many new orders; current limit is exceeded.",
            );
        }
        let (status, value) = match failure {
            Some(Failure::RateLimited { retry_after_secs }) => {
                v.limited_for(retry_after_secs);
                delay = Some((0, Some(retry_after_secs)));
                error(429, -1003, "Too many requests; current limit is exceeded.")
            }
            Some(Failure::Banned { retry_after_secs }) => {
                v.ban_for(retry_after_secs);
                delay = Some((0, Some(retry_after_secs)));
                error(418, -1003, "Way too many requests; IP banned.")
            }
            Some(Failure::Unknown { execute, delay_ms }) => {
                if execute {
                    let _ = route(&mut v, &method, &path, &total, api_key.as_deref());
                }
                delay = Some((delay_ms, None));
                error(
                    503,
                    -1007,
                    "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
                )
            }
            Some(Failure::NotVisible) => error(400, -2013, "Order does not exist."),
            None => route(&mut v, &method, &path, &total, api_key.as_deref()),
        };
        let code = value
            .get("code")
            .and_then(Value::as_i64)
            .filter(|_| status >= 400)
            .unwrap_or(0);
        let counts = counts.map(|(w, o10, o1m)| match api_key.as_deref() {
            Some(k) if is_order => {
                let (a10, a1m) = v.order_counts(k);
                (w, a10, a1m)
            }
            _ => (w, o10, o1m),
        });
        v.requests.push(Recorded {
            method,
            path,
            params: parse_params(&total),
            api_key,
            status,
            code,
        });
        (status, value, counts)
    };
    if let Some((ms, _)) = delay {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let mut res =
        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("valid status"));
    if let Some((weight, o10, o1m)) = counts {
        res.insert_header(("X-MBX-USED-WEIGHT-1M", weight.to_string()));
        if is_order {
            res.insert_header(("X-MBX-ORDER-COUNT-10S", o10.to_string()));
            res.insert_header(("X-MBX-ORDER-COUNT-1M", o1m.to_string()));
        }
    }
    if let Some((_, Some(retry))) = delay {
        res.insert_header(("Retry-After", retry.to_string()));
    }
    res.json(value)
}
