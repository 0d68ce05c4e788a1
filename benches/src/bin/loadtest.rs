//! Load test of the whole service on loopback: the release `tradingbot`
//! binary, many strategies, TradingView-shaped webhooks over keep-alive HTTP
//! connections, and a local Binance server receiving the orders over real
//! sockets.
//!
//! Two phases: a paced run at `--rate` webhooks/s (latency at a known load)
//! and a saturating run with `--connections` closed-loop clients
//! (throughput). Each strategy alternates long and close, so every accepted
//! webhook sends an order (and an entry its stop and target).
//!
//! Build first: `cargo build --release -p tradingbot-web`, then
//! `cargo run --release -p tradingbot-benches --bin loadtest -- --help`.

use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tradingbot_benches::percentiles;
use tradingbot_benches::service::{Server, call, start_server, trader_client};
use tradingbot_testkit::binance::LocalBinance;
use tradingbot_testkit::binance::venue::SymbolSpec;

struct Args {
    users: usize,
    symbols: usize,
    rate: u64,
    seconds: u64,
    connections: usize,
    binary: PathBuf,
    /// `binance` (the local venue) or `paper` (the embedded default's).
    venue: String,
    /// Set up, write the strategies to this folder for another load
    /// generator (`targets.txt`, `base`, `server.pid`, then `ready`), and
    /// keep serving until killed.
    prepare: Option<PathBuf>,
}

fn args() -> Args {
    let mut a = Args {
        users: 25,
        symbols: 20,
        rate: 2000,
        seconds: 10,
        connections: 64,
        binary: default_binary(),
        venue: "binance".into(),
        prepare: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().expect("a value after the flag");
        match flag.as_str() {
            "--users" => a.users = value().parse().expect("a number"),
            "--symbols" => a.symbols = value().parse().expect("a number"),
            "--rate" => a.rate = value().parse().expect("a number"),
            "--seconds" => a.seconds = value().parse().expect("a number"),
            "--connections" => a.connections = value().parse().expect("a number"),
            "--binary" => a.binary = value().into(),
            "--venue" => a.venue = value(),
            "--prepare" => a.prepare = Some(value().into()),
            "--bench" => {}
            _ => {
                eprintln!(
                    "usage: loadtest [--users 25] [--symbols 20] [--rate 2000] [--seconds 10] \
                     [--connections 64] [--binary target/release/tradingbot] [--venue binance|paper] \
                     [--prepare DIR]"
                );
                std::process::exit(2);
            }
        }
    }
    // The server runs in its own directory: the path must not be relative.
    if !matches!(a.venue.as_str(), "binance" | "paper") {
        eprintln!("--venue is binance or paper");
        std::process::exit(2);
    }
    if a.venue == "paper" {
        a.symbols = a.symbols.min(PAPER_SYMBOLS.len());
    }
    a.binary = std::fs::canonicalize(&a.binary).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (build it first: cargo build --release -p tradingbot-web)",
            a.binary.display()
        )
    });
    a
}

fn default_binary() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    PathBuf::from(target).join("release").join("tradingbot")
}

/// What the paper exchange lists offline (it prices it from the bundled
/// candles).
const PAPER_SYMBOLS: [&str; 1] = ["BTCUSDT"];

/// A strategy the load drives: its URL, secret, and what it says next.
struct Target {
    url: String,
    secret: String,
    symbol: String,
    long_next: AtomicBool,
}

async fn setup(server: &Server, venue: &LocalBinance, args: &Args) -> Vec<Target> {
    let mut targets = Vec::new();
    for u in 0..args.users {
        let http = trader_client(u);
        let email = format!("load{u}@example.com");
        let password = "load test password 2026";
        call(
            &http,
            format!("{}/auth/register", server.base),
            None,
            json!({ "email": email, "password": password }),
        )
        .await;
        let token = server.mailed_token(&email);
        call(
            &http,
            format!("{}/auth/verify-email", server.base),
            None,
            json!({ "token": token }),
        )
        .await;
        let login = call(
            &http,
            format!("{}/auth/login", server.base),
            None,
            json!({ "email": email, "password": password }),
        )
        .await;
        let access = login["access_token"].as_str().unwrap().to_owned();
        // One position per symbol may be open at once.
        let limits = http
            .put(format!("{}/risk", server.base))
            .bearer_auth(&access)
            .json(&json!({ "max_open_positions": args.symbols }))
            .send()
            .await
            .expect("request");
        assert!(
            limits.status().is_success(),
            "PUT /risk: {}",
            limits.status()
        );
        let paper = args.venue == "paper";
        let body = if paper {
            json!({ "exchange": "paper" })
        } else {
            let (key, secret) = (format!("loadkey{u:04}"), format!("loadsecret{u:04}"));
            venue.add_account(&key, &secret, Decimal::from(100_000));
            json!({ "exchange": "binance", "api_key": key, "api_secret": secret, "testnet": true })
        };
        let account = call(
            &http,
            format!("{}/accounts/register", server.base),
            Some(&access),
            body,
        )
        .await;
        for s in 0..args.symbols {
            let symbol = if paper {
                PAPER_SYMBOLS.get(s).expect("--symbols capped").to_string()
            } else {
                symbol_name(s)
            };
            let st = call(
                &http,
                format!("{}/strategies", server.base),
                Some(&access),
                json!({ "name": format!("load {s}"), "symbol": symbol, "account_id": account["id"],
                        "investment_pct": 1, "leverage": 2 }),
            )
            .await;
            targets.push(Target {
                url: st["webhook_url"].as_str().unwrap().to_owned(),
                secret: st["webhook_secret"].as_str().unwrap().to_owned(),
                symbol,
                long_next: AtomicBool::new(true),
            });
        }
    }
    targets
}

fn symbol_name(i: usize) -> String {
    format!("L{i:02}USDT")
}

fn add_symbols(venue: &LocalBinance, n: usize) {
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    let mut v = venue.venue();
    v.weight_limit = u32::MAX / 2;
    v.order_limit_10s = u32::MAX / 2;
    v.order_limit_1m = u32::MAX / 2;
    for i in 0..n {
        v.symbols.insert(
            symbol_name(i),
            SymbolSpec {
                tick: d("0.01"),
                step: d("0.001"),
                min_qty: d("0.001"),
                max_qty: d("100000"),
                market_max_qty: d("10000"),
                min_notional: d("5"),
                max_leverage: 50,
                mark: d("100"),
                brackets: vec![(d("5000"), d("0.01"), 50)],
            },
        );
    }
}

#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    accepted: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
    latencies: Mutex<Vec<Duration>>,
    /// Refusals by their problem `code`.
    codes: Mutex<std::collections::BTreeMap<String, u64>>,
}

async fn fire(http: &reqwest::Client, t: &Target, seq: u64, tally: &Tally) {
    let long = t.long_next.fetch_xor(true, Ordering::Relaxed);
    let (action, position) = if long {
        ("buy", "long")
    } else {
        ("sell", "flat")
    };
    let body = format!(
        r#"{{"secret":"{}","action":"{action}","market_position":"{position}","symbol":"{}","price":"100","timestamp":"{}","id":"load-{seq}"}}"#,
        t.secret,
        t.symbol,
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
    );
    tally.sent.fetch_add(1, Ordering::Relaxed);
    let started = Instant::now();
    match http
        .post(&t.url)
        .header("content-type", "text/plain")
        .body(body)
        .send()
        .await
    {
        Ok(res) => {
            let status = res.status().as_u16();
            let body = res.bytes().await.unwrap_or_default();
            let elapsed = started.elapsed();
            match status {
                202 => {
                    tally.accepted.fetch_add(1, Ordering::Relaxed);
                }
                400..=499 => {
                    tally.refused.fetch_add(1, Ordering::Relaxed);
                    let code = serde_json::from_slice::<Value>(&body)
                        .ok()
                        .and_then(|v| v["code"].as_str().map(str::to_owned))
                        .unwrap_or_else(|| status.to_string());
                    *tally.codes.lock().unwrap().entry(code).or_default() += 1;
                }
                _ => {
                    tally.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            tally.latencies.lock().unwrap().push(elapsed);
        }
        Err(_) => {
            tally.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn report(name: &str, tally: &Tally, elapsed: Duration) {
    let mut l = tally.latencies.lock().unwrap();
    let p = percentiles(&mut l);
    println!(
        "{name}: {} webhooks in {:.1}s = {:.0}/s; accepted {}, refused {}, errors {}; round trip {p}",
        tally.sent.load(Ordering::Relaxed),
        elapsed.as_secs_f64(),
        tally.sent.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64(),
        tally.accepted.load(Ordering::Relaxed),
        tally.refused.load(Ordering::Relaxed),
        tally.failed.load(Ordering::Relaxed),
    );
    let codes = tally.codes.lock().unwrap();
    if !codes.is_empty() {
        println!("  refusals by code: {codes:?}");
    }
}

/// Hands the strategies to another load generator (`sidebyside/alerts.lua`):
/// one line per strategy, `<path> <secret> <symbol> <price>`.
fn prepared(dir: &std::path::Path, server: &Server, targets: &[Target], venue: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let price = if venue == "paper" { "43000" } else { "100" };
    let lines: Vec<String> = targets
        .iter()
        .map(|t| {
            let path = &t.url[t.url.find("/api/").expect("a webhook path")..];
            format!("{path} {} {} {price}\n", t.secret, t.symbol)
        })
        .collect();
    std::fs::write(dir.join("targets.txt"), lines.concat()).unwrap();
    std::fs::write(dir.join("base"), server.base.trim_end_matches("/api/v1")).unwrap();
    std::fs::write(dir.join("server.pid"), server.child.id().to_string()).unwrap();
    std::fs::write(dir.join("ready"), "").unwrap();
    println!("{} strategies ready in {}", targets.len(), dir.display());
}

/// The server's own `webhook_to_order_seconds` quantiles, from /metrics.
async fn server_histogram(base: &str) -> String {
    let url = base.replace("/api/v1", "/metrics");
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with("webhook_to_order_seconds") && !l.starts_with("# "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn main() {
    let args = args();
    tradingbot_actors::exchange::http::install_tls_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let venue = LocalBinance::start();
    add_symbols(&venue, args.symbols);
    let dir = tempfile::tempdir().unwrap();
    let mut env = vec![
        (
            "TRADINGBOT_BINANCE_TESTNET_REST_URL",
            venue.rest_url.clone(),
        ),
        (
            "TRADINGBOT_BINANCE_TESTNET_WS_API_URL",
            venue.ws_api_url.clone(),
        ),
        (
            "TRADINGBOT_BINANCE_TESTNET_STREAM_URL",
            venue.stream_url.clone(),
        ),
    ];
    // With Redis the replay gate, rate limits and caches live there: what
    // that costs per alert is measured by running the same load with it.
    if let Some(url) = std::env::var("LOADTEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        env.push(("TRADINGBOT_REDIS_URL", url));
        env.push((
            "TRADINGBOT_REDIS_PREFIX",
            format!("loadtest-{}", std::process::id()),
        ));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = start_server(&args.binary, dir.path(), &env);
    runtime.block_on(async {
        let targets = Arc::new(setup(&server, &venue, &args).await);
        if let Some(dir) = &args.prepare {
            prepared(dir, &server, &targets, &args.venue);
            // Serves (and keeps the local venue) until killed.
            loop {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
        }
        println!(
            "{} strategies on {} accounts ({} symbols each)",
            targets.len(),
            args.users,
            args.symbols
        );
        // Let every account's stream and rules settle.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(args.connections * 2)
            .build()
            .unwrap();
        let seq = Arc::new(AtomicU64::new(0));

        // Phase 1: paced.
        let tally = Arc::new(Tally::default());
        let interval = Duration::from_nanos(1_000_000_000 / args.rate.max(1));
        let started = Instant::now();
        let end = started + Duration::from_secs(args.seconds);
        let mut next = started;
        let mut handles = Vec::new();
        let mut i = 0usize;
        while Instant::now() < end {
            let t = targets.clone();
            let (http, tally, seq) = (http.clone(), tally.clone(), seq.clone());
            let idx = i % t.len();
            handles.push(tokio::spawn(async move {
                fire(&http, &t[idx], seq.fetch_add(1, Ordering::Relaxed), &tally).await;
            }));
            i += 1;
            next += interval;
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                tokio::time::sleep(wait).await;
            }
        }
        for h in handles {
            let _ = h.await;
        }
        report(
            &format!("paced at {}/s", args.rate),
            &tally,
            started.elapsed(),
        );

        // Phase 2: saturating, closed loop.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let tally = Arc::new(Tally::default());
        let started = Instant::now();
        let end = started + Duration::from_secs(args.seconds);
        let cursor = Arc::new(AtomicU64::new(0));
        let workers: Vec<_> = (0..args.connections)
            .map(|_| {
                let (t, http, tally, seq, cursor) = (
                    targets.clone(),
                    http.clone(),
                    tally.clone(),
                    seq.clone(),
                    cursor.clone(),
                );
                tokio::spawn(async move {
                    while Instant::now() < end {
                        let idx = cursor.fetch_add(1, Ordering::Relaxed) as usize % t.len();
                        fire(&http, &t[idx], seq.fetch_add(1, Ordering::Relaxed), &tally).await;
                    }
                })
            })
            .collect();
        for w in workers {
            let _ = w.await;
        }
        report(
            &format!("saturating with {} connections", args.connections),
            &tally,
            started.elapsed(),
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        let orders: usize = venue
            .venue()
            .accounts
            .values()
            .map(|a| a.orders.len() + a.algos.len())
            .sum();
        println!("orders and algo orders received by the local Binance: {orders}");
        println!(
            "server-side webhook_to_order_seconds:\n{}",
            server_histogram(&server.base).await
        );
    });
}
