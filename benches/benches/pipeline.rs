//! The in-process path through the real actors: webhook body → route →
//! authentication → replay gate → user actor (risk decided in place) → exchange actor
//! → Binance client, to the moment the signed order is handed to its socket
//! (the `webhook_to_order_seconds` histogram, captured here by a recorder).
//! The venue is the local Binance server over loopback, so what follows the
//! hand-off is real too, but it is not part of the figure.

use actix::System;
use chrono::Utc;
use rust_decimal::Decimal;
use sea_orm::ActiveModelTrait;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tradingbot_actors::accounts::{Accounts, Credentials};
use tradingbot_actors::exchange::Endpoints;
use tradingbot_actors::exchange::paper::PriceFeed;
use tradingbot_actors::exchange::paper::feed::FeedSource;
use tradingbot_actors::execution::Execution;
use tradingbot_actors::execution::user::{Outcome, Refusal};
use tradingbot_actors::kv::webhook_gate::InProcessGate;
use tradingbot_actors::kv::{Admission, Gate, GateRules};
use tradingbot_actors::store::enums::Exchange;
use tradingbot_actors::store::testing::TestDatabase;
use tradingbot_actors::strategies::Strategies;
use tradingbot_benches::percentiles;
use tradingbot_core::exchange::paper::PaperConfig;
use tradingbot_core::signal::Alert;
use tradingbot_core::strategy::{StrategyConfig, StrategyDraft};
use tradingbot_core::vault::Vault;
use tradingbot_testkit::binance::LocalBinance;
use zeroize::Zeroizing;

const KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

/// Keeps every `webhook_to_order_seconds` sample.
#[derive(Clone, Default)]
struct Samples(Arc<Mutex<Vec<Duration>>>);

impl metrics::HistogramFn for Samples {
    fn record(&self, value: f64) {
        self.0.lock().unwrap().push(Duration::from_secs_f64(value));
    }
}

struct Recorder(Samples);

impl metrics::Recorder for Recorder {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        metrics::Counter::noop()
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }
    fn register_histogram(
        &self,
        key: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        if key.name() == "webhook_to_order_seconds" {
            metrics::Histogram::from_arc(Arc::new(self.0.clone()))
        } else {
            metrics::Histogram::noop()
        }
    }
}

fn main() {
    let iterations: usize = std::env::var("PIPELINE_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let samples = Samples::default();
    metrics::set_global_recorder(Recorder(samples.clone())).expect("one recorder");
    tradingbot_actors::exchange::http::install_tls_provider();
    let venue = LocalBinance::start();
    venue.add_account(KEY, SECRET, Decimal::from(100_000));
    {
        let mut v = venue.venue();
        v.weight_limit = 10_000_000;
        v.order_limit_10s = 10_000_000;
        v.order_limit_1m = 10_000_000;
    }
    let system = System::new();
    system.block_on(async move {
        let db = TestDatabase::sqlite();
        let store = db.connect().await.expect("sqlite");
        store.migrate_up().await.expect("migrations");
        let user = tradingbot_actors::store::testing::user_row("bench@example.com")
        .insert(store.conn())
        .await
        .expect("user");
        let vault = Arc::new(Vault::from_key([7u8; 32]));
        let endpoints = Endpoints {
            binance_testnet_rest: venue.rest_url.clone(),
            binance_testnet_ws_api: venue.ws_api_url.clone(),
            binance_testnet_stream: venue.stream_url.clone(),
            ..Endpoints::default()
        };
        let accounts = Arc::new(Accounts::new(
            store.clone(),
            vault.clone(),
            endpoints.clone(),
            PriceFeed::start(FeedSource::Manual),
            PaperConfig::default(),
            Decimal::from(10_000),
        ));
        let creds = Credentials {
            api_key: Zeroizing::new(KEY.into()),
            secret: Zeroizing::new(SECRET.into()),
            passphrase: None,
        };
        let account = accounts
            .create(user.id, Exchange::Binance, "bench", true, Some(&creds), None)
            .await
            .expect("account");
        let strategies = Arc::new(Strategies::new(store.clone(), vault));
        let draft: StrategyDraft = serde_json::from_value(serde_json::json!({
            "name": "bench", "symbol": "BTCUSDT", "investment_pct": 1, "leverage": 3
        }))
        .unwrap();
        let cfg = StrategyConfig::from_draft(&draft, None).unwrap();
        let (_, hook) = strategies
            .create(user.id, &cfg, Some(account.id), true)
            .await
            .expect("strategy");
        let exec = Execution::start(
            store,
            accounts,
            strategies,
            endpoints,
            tradingbot_actors::execution::ExecutionOptions {
                shards: 1,
                ..Default::default()
            },
        )
            .await
            .expect("execution core");
        let gate = InProcessGate::default();
        let rules = GateRules {
            limit: u32::MAX,
            window: Duration::from_secs(60),
            replay_ttl: Duration::from_secs(600),
        };
        let secret = hook.secret.to_string();
        let token = hook.token.to_string();
        let mut responses = Vec::new();
        for i in 0..=iterations {
            // Long, then close: each alert sends one order.
            let action = if i % 2 == 0 { "long" } else { "close" };
            let before = samples.0.lock().unwrap().len();
            let mut attempt = 0;
            let t0 = loop {
                attempt += 1;
                let body = format!(
                    r#"{{"secret":"{secret}","action":"{action}","symbol":"BTCUSDT.P","timestamp":{},"id":"bench-{i}-{attempt}"}}"#,
                    Utc::now().timestamp_millis()
                );
                let t0 = Instant::now();
                let (route, destination) = exec.registry().route(&token).expect("routed");
                let alert = Alert::parse(body.as_bytes()).expect("alert");
                assert!(alert.secret_matches(&route.secret));
                alert.check_fresh(Utc::now().timestamp_millis()).expect("fresh");
                let admitted = gate
                    .admit(route.strategy_id, &alert.dedupe_key, rules)
                    .await
                    .unwrap();
                assert_eq!(admitted, Admission::Admitted);
                let signal = exec.next_signal_id();
                let outcome = exec
                    .submit(route, destination, signal, alert, t0, Utc::now(), None)
                    .await
                    .expect("submitted");
                match outcome {
                    Outcome::Accepted { .. } => break t0,
                    // The previous alert's last answer is still on its way to
                    // the actor: the harness went too fast, not the path.
                    Outcome::Rejected { refusal: Refusal::OrderInFlight, .. } if attempt < 1000 => {
                        tokio::time::sleep(Duration::from_micros(200)).await;
                    }
                    other => panic!("{other:?}"),
                }
            };
            if i > 0 {
                responses.push(t0.elapsed());
            }
            // Let the order and its protection settle before the next alert.
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let signed = samples.0.lock().unwrap().len() > before;
                let settled = {
                    let v = venue.venue();
                    let a = &v.accounts[KEY];
                    let amt = a.positions.get("BTCUSDT").map_or(Decimal::ZERO, |p| p.amt);
                    let resting = a.algos.iter().filter(|x| x.status == "NEW").count();
                    if i % 2 == 0 { !amt.is_zero() && resting == 2 } else { amt.is_zero() && resting == 0 }
                };
                if signed && settled {
                    break;
                }
                assert!(Instant::now() < deadline, "alert {i} did not settle");
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        }
        let mut to_order: Vec<Duration> = samples.0.lock().unwrap().clone();
        // The first order paid for warm-up (connections, rules): not counted.
        to_order.remove(0);
        println!("webhook body → signed order handed to the socket: {}", percentiles(&mut to_order));
        println!("webhook body → accepted by the actors (answer):   {}", percentiles(&mut responses));
        exec.drain().await;
        System::current().stop();
    });
}
