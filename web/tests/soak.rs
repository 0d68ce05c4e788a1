//! A soak: mixed long, close and reversing alerts for minutes on end, on
//! paper accounts and on the local Binance venue at once, through the real
//! binary. Afterwards the writer has refused nothing
//! (`persist_failures_total` is 0), every order the venue holds is in the
//! database, every venue position has its one stop and nothing rests
//! without a position, and SIGTERM stops the process within its timeout.
//!
//! `TRADINGBOT_SOAK_SECS` sets the length (`.ci/run` runs ten minutes).

mod common;

use common::api::{Api, Session, json_of as json};
use common::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tradingbot_testkit::binance::LocalBinance;

const USERS: usize = 3;

/// A small deterministic generator (xorshift), so a failing soak can be
/// run again the same way.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn key(i: usize) -> (String, String) {
    (
        format!("soakKey{i:02}{}", "k".repeat(55)),
        format!("soakSecret{i:02}{}", "s".repeat(52)),
    )
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn soak_of_mixed_alerts_loses_nothing_and_stops_cleanly() {
    let secs: u64 = std::env::var("TRADINGBOT_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let venue = LocalBinance::start();
    for i in 0..USERS {
        let (k, s) = key(i);
        venue.add_account(&k, &s, dec!(100000));
    }
    let (_tmp, dir) = workdir();
    let env = [
        ("TRADINGBOT_RATE_LIMIT_IP", "1000000"),
        ("TRADINGBOT_RATE_LIMIT_USER", "1000000"),
        ("TRADINGBOT_RATE_LIMIT_WEBHOOK", "1000000"),
        ("TRADINGBOT_SHUTDOWN_TIMEOUT_SECS", "10"),
        (
            "TRADINGBOT_BINANCE_TESTNET_REST_URL",
            venue.rest_url.as_str(),
        ),
        (
            "TRADINGBOT_BINANCE_TESTNET_WS_API_URL",
            venue.ws_api_url.as_str(),
        ),
        (
            "TRADINGBOT_BINANCE_TESTNET_STREAM_URL",
            venue.stream_url.as_str(),
        ),
    ];
    let bot = Spawned::start(&dir, &env);
    let api = Api::new(&bot);
    // Each user: a paper strategy on BTCUSDT, and Binance strategies on
    // BTCUSDT and ETHUSDT.
    let mut sessions: Vec<Session> = Vec::new();
    let mut strategies: Vec<(usize, bool, Value)> = Vec::new();
    for i in 0..USERS {
        let u = api.user(&format!("soak{i}@example.com")).await;
        let (_, paper) = api
            .paper_strategy(&u, json!({ "investment_pct": 5, "leverage": 2 }))
            .await;
        strategies.push((i, false, paper));
        let (k, s) = key(i);
        let res = api
            .post(
                "/accounts/register",
                Some(&u.access),
                json!({ "exchange": "binance", "api_key": k, "api_secret": s, "testnet": true }),
            )
            .await;
        assert_eq!(res.status(), 201);
        let account = json(res).await["id"].as_i64().unwrap();
        for symbol in ["BTCUSDT", "ETHUSDT"] {
            let res = api
                .post(
                    "/strategies",
                    Some(&u.access),
                    json!({ "name": format!("soak {symbol}"), "symbol": symbol, "account_id": account,
                            "investment_pct": 5, "leverage": 2, "opposite_signal": "reverse" }),
                )
                .await;
            assert_eq!(res.status(), 201);
            strategies.push((i, true, json(res).await));
        }
        sessions.push(u);
    }

    // Three senders at once: alerts for one strategy race each other.
    let started = Instant::now();
    let hooks: Vec<(String, String, Value)> = strategies
        .iter()
        .map(|(_, _, s)| {
            (
                s["webhook_url"].as_str().unwrap().to_owned(),
                s["symbols"][0].as_str().unwrap().to_owned(),
                s.clone(),
            )
        })
        .collect();
    let venue_marks = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Decimal>::new()));
    let senders: Vec<_> = (0..3u64)
        .map(|n| {
            let hooks = hooks.clone();
            let marks = venue_marks.clone();
            tokio::spawn(async move {
                let mut rng =
                    Rng(0x9e37_79b9_7f4a_7c15 ^ (n + 1).wrapping_mul(0x2545_f491_4f6c_dd1d));
                let (mut sent, mut accepted) = (0u64, 0u64);
                let http = client();
                while started.elapsed() < Duration::from_secs(secs) {
                    let (url, symbol, s) = &hooks[(rng.next() % hooks.len() as u64) as usize];
                    let (action, position) = match rng.next() % 3 {
                        0 => ("buy", "long"),
                        1 => ("sell", "short"),
                        _ => ("sell", "flat"),
                    };
                    let id = format!("soak-{n}-{sent}");
                    let body = common::api::tv_alert(s, action, position, &id)
                        .replace("BTCUSDT.P", &format!("{symbol}.P"));
                    let res = http
                        .post(url)
                        .header("content-type", "text/plain")
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    sent += 1;
                    let status = res.status().as_u16();
                    assert!(
                        status < 500 || status == 503,
                        "{status}: {}",
                        res.text().await.unwrap_or_default()
                    );
                    accepted += u64::from(status == 202);
                    // Moves of the mark now and then: stops and targets fill too.
                    if rng.next().is_multiple_of(50) {
                        marks
                            .lock()
                            .unwrap()
                            .push(Decimal::from(41_500 + (rng.next() % 3_000) as i64));
                    }
                    tokio::time::sleep(Duration::from_millis(20 + rng.next() % 60)).await;
                }
                (sent, accepted)
            })
        })
        .collect();
    while started.elapsed() < Duration::from_secs(secs) {
        let moves: Vec<Decimal> = std::mem::take(&mut *venue_marks.lock().unwrap());
        for m in moves {
            venue.set_mark("BTCUSDT", m);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (mut sent, mut accepted) = (0u64, 0u64);
    for t in senders {
        let (s, a) = t.await.unwrap();
        sent += s;
        accepted += a;
    }

    // The venue settles: every position protected, nothing left resting.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let bad: Vec<String> = (0..USERS)
            .flat_map(|i| {
                let v = venue.venue();
                let a = &v.accounts[key(i).0.as_str()];
                ["BTCUSDT", "ETHUSDT"]
                    .into_iter()
                    .filter_map(|sym| {
                        let amt = a.positions.get(sym).map_or(Decimal::ZERO, |p| p.amt);
                        let stops = a
                            .algos
                            .iter()
                            .filter(|x| {
                                x.symbol == sym && x.status == "NEW" && x.kind == "STOP_MARKET"
                            })
                            .count();
                        let resting = a
                            .algos
                            .iter()
                            .filter(|x| x.symbol == sym && x.status == "NEW")
                            .count();
                        let ok = if amt.is_zero() {
                            resting == 0
                        } else {
                            stops == 1
                        };
                        (!ok).then(|| {
                            format!("{i} {sym}: {amt} with {stops} stops, {resting} resting")
                        })
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        if bad.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after the soak: {bad:?}\n{}",
            bot.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Every venue order is in the database.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut stored_total = 0;
    for (i, u) in sessions.iter().enumerate() {
        let venue_ids: BTreeSet<String> = {
            let v = venue.venue();
            let a = &v.accounts[key(i).0.as_str()];
            a.orders
                .iter()
                .map(|o| o.client_id.clone())
                .chain(a.algos.iter().map(|x| x.client_id.clone()))
                .filter(|c| c.starts_with("tb"))
                .collect()
        };
        loop {
            let mut stored = BTreeSet::new();
            let mut page = 1;
            loop {
                let v = json(
                    api.get(&format!("/orders?per_page=200&page={page}"), &u.access)
                        .await,
                )
                .await;
                let items = v["items"].as_array().unwrap();
                stored.extend(
                    items
                        .iter()
                        .map(|o| o["client_order_id"].as_str().unwrap().to_owned()),
                );
                if items.len() < 200 {
                    break;
                }
                page += 1;
            }
            let missing: Vec<&String> = venue_ids.difference(&stored).collect();
            if missing.is_empty() {
                stored_total += stored.len();
                break;
            }
            assert!(
                Instant::now() < deadline,
                "venue orders missing from the database: {missing:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let metrics = client()
        .get(bot.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        metric(&metrics, "persist_failures_total"),
        0.0,
        "the writer refused records"
    );
    let written = metric(&metrics, "persist_events_total");
    let mut kinds: std::collections::BTreeMap<String, usize> = Default::default();
    if std::env::var("SOAK_DEBUG").is_ok() {
        for l in bot.logged("trading alert").iter().take(5) {
            eprintln!("{l}");
        }
    }
    for l in bot.logged("trading alert") {
        *kinds
            .entry(l["fields"]["kind"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
    }
    let t = Instant::now();
    let (status, out) = bot.signal_and_wait("TERM");
    assert!(status.success(), "{out}");
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "SIGTERM took {:?}",
        t.elapsed()
    );
    announce(&format!(
        "soak: {secs} s, {sent} alerts ({accepted} accepted) on paper and the local Binance, \
         {written} records written, 0 refused, {stored_total} orders all in the database, \
         stopped by SIGTERM in {} ms; trading alerts {kinds:?}",
        t.elapsed().as_millis()
    ));
}
