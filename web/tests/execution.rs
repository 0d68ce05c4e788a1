//! TradingView alerts, end to end: the real binary, real sockets, and local
//! Binance / OKX venues that check every request as the real ones do —
//! webhook → sized, signed orders on the right endpoints → protection →
//! database rows the API shows.

mod common;

use common::api::{Api, Session};
use common::*;
use reqwest::Method;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tradingbot_testkit::binance::LocalBinance;
use tradingbot_testkit::okx::LocalOkx;

const BINANCE_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
const BINANCE_SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
const OKX_KEY: &str = "c6ad9e38-5e25-4d8b-9f1a-0f1c3b2a7d11";
const OKX_SECRET: &str = "22582BD0CFF14C41EDBF1AB98506286D";
const OKX_PASS: &str = "Correct-Passphrase-1";

fn venue_env<'a>(b: &'a LocalBinance, o: Option<&'a LocalOkx>) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("TRADINGBOT_RATE_LIMIT_IP", "100000"),
        ("TRADINGBOT_RATE_LIMIT_USER", "100000"),
        ("TRADINGBOT_BINANCE_TESTNET_REST_URL", b.rest_url.as_str()),
        (
            "TRADINGBOT_BINANCE_TESTNET_WS_API_URL",
            b.ws_api_url.as_str(),
        ),
        (
            "TRADINGBOT_BINANCE_TESTNET_STREAM_URL",
            b.stream_url.as_str(),
        ),
    ];
    if let Some(o) = o {
        env.push(("TRADINGBOT_OKX_DEMO_REST_URL", o.rest_url.as_str()));
        env.push((
            "TRADINGBOT_OKX_DEMO_WS_PRIVATE_URL",
            o.ws_private_url.as_str(),
        ));
    }
    env
}

/// The alert TradingView would post: the strategy's message with its
/// placeholders filled in.
fn alert(strategy: &Value, action: &str, position: &str, id: &str) -> String {
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    strategy["alert_message"]
        .as_str()
        .unwrap()
        .replace("{{strategy.order.action}}", action)
        .replace("{{strategy.market_position}}", position)
        .replace("{{ticker}}", "BTCUSDT.P")
        .replace("{{close}}", "43000")
        .replace("{{timenow}}", &now)
        .replace("{{strategy.order.id}}", id)
}

async fn post_alert(api: &Api<'_>, strategy: &Value, body: String) -> (u16, Value) {
    let res = api
        .http
        .post(strategy["webhook_url"].as_str().unwrap())
        .header("content-type", "text/plain; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn json(res: reqwest::Response) -> Value {
    res.json().await.unwrap()
}

/// Polls `f` until it returns `Some`, for at most 10 s.
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn positions(api: &Api<'_>, s: &Session) -> Vec<Value> {
    json(api.get("/positions", &s.access).await)
        .await
        .as_array()
        .unwrap()
        .clone()
}

async fn orders(api: &Api<'_>, s: &Session) -> Vec<Value> {
    json(api.get("/orders?per_page=200", &s.access).await).await["items"]
        .as_array()
        .unwrap()
        .clone()
}

fn num(v: &Value) -> Decimal {
    v.as_f64()
        .map(|f| Decimal::from_str_exact(&f.to_string()).unwrap())
        .unwrap_or_else(|| panic!("not a number: {v}"))
}

async fn binance_account(api: &Api<'_>, s: &Session) -> i64 {
    let res = api
        .post(
            "/accounts/register",
            Some(&s.access),
            json!({ "exchange": "binance", "api_key": BINANCE_KEY, "api_secret": BINANCE_SECRET, "testnet": true }),
        )
        .await;
    assert_eq!(res.status(), 201);
    json(res).await["id"].as_i64().unwrap()
}

async fn strategy(api: &Api<'_>, s: &Session, body: Value) -> Value {
    let res = api.post("/strategies", Some(&s.access), body).await;
    let status = res.status();
    let v = json(res).await;
    assert_eq!(status, 201, "{v}");
    v
}

#[tokio::test]
async fn binance_alerts_open_protect_close_and_reverse_positions() {
    let venue = LocalBinance::start();
    venue.add_account(BINANCE_KEY, BINANCE_SECRET, dec!(10000));
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &venue_env(&venue, None));
    let api = Api::new(&bot);
    let u = api.user("trader@example.com").await;
    let account = binance_account(&api, &u).await;
    let s = strategy(
        &api,
        &u,
        json!({ "name": "EMA 9/21", "indicator_id": "ema_crossover", "symbols": ["BTCUSDT"],
                "account_id": account, "investment_pct": 10, "leverage": 3 }),
    )
    .await;
    assert!(
        s["webhook_url"]
            .as_str()
            .unwrap()
            .contains("/api/v1/webhook/tradingview/")
    );
    assert_eq!(s["long_sl_pct"], 2.0);
    // Leverage and margin mode are set before the first alert.
    eventually("leverage configured", || async {
        venue
            .requests()
            .iter()
            .any(|r| r.path == "/fapi/v1/leverage" && r.code == 0)
            .then_some(())
    })
    .await;

    // Long: $10,000 × 10 % × 3 at 43,000 = 0.0697… → 0.069 BTC.
    let started = Instant::now();
    let first = alert(&s, "buy", "long", "Long-1");
    let (status, body) = post_alert(&api, &s, first.clone()).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "accepted");
    assert_eq!(body["intent"], "open_long");
    let answered = started.elapsed();
    assert!(
        answered < Duration::from_secs(1),
        "answered in {answered:?}"
    );
    let signal_id = body["signal_id"].as_i64().unwrap();

    let pos = eventually("a protected position", || async {
        let p = positions(&api, &u).await;
        p.first()
            .filter(|p| !p["stop_loss"].is_null() && !p["take_profit"].is_null())
            .cloned()
    })
    .await;
    assert_eq!(pos["side"], "LONG");
    assert_eq!(pos["symbol"], "BTCUSDT");
    assert_eq!(pos["exchange"], "binance");
    assert_eq!(num(&pos["entry_price"]), dec!(43000));
    assert_eq!(num(&pos["quantity"]), dec!(0.069));
    assert_eq!(pos["leverage"], 3);
    // SL 2 % below, TP 5 % above, on the 0.10 tick.
    assert_eq!(num(&pos["stop_loss"]), dec!(42140));
    assert_eq!(num(&pos["take_profit"]), dec!(45150));
    {
        let v = venue.venue();
        let acct = &v.accounts[BINANCE_KEY];
        let entry = acct
            .orders
            .iter()
            .find(|o| o.client_id.ends_with('e'))
            .expect("entry");
        assert_eq!(
            (entry.side.as_str(), entry.kind.as_str(), entry.qty),
            ("BUY", "MARKET", dec!(0.069))
        );
        assert_eq!(acct.positions["BTCUSDT"].amt, dec!(0.069));
        let mut algos: Vec<(String, Decimal, bool)> = acct
            .algos
            .iter()
            .map(|a| (a.kind.clone(), a.trigger, a.close_position))
            .collect();
        algos.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            algos,
            [
                ("STOP_MARKET".to_owned(), dec!(42140.0), true),
                ("TAKE_PROFIT_MARKET".to_owned(), dec!(45150.0), true)
            ]
        );
    }
    // Protective orders went to the Algo Order API, never to /fapi/v1/order.
    assert!(
        venue
            .requests()
            .iter()
            .any(|r| r.path.contains("algoOrder") && r.code == 0)
    );
    assert!(!venue.requests().iter().any(|r| r.code == -4120));

    let all = orders(&api, &u).await;
    let entry = all.iter().find(|o| o["leg"] == "entry").unwrap();
    assert_eq!(entry["status"], "FILLED");
    assert_eq!(entry["signal_id"], signal_id);
    assert_eq!(entry["position_id"], pos["id"]);
    assert_eq!(num(&entry["filled_qty"]), dec!(0.069));
    for leg in ["stop_loss", "take_profit"] {
        let o = all.iter().find(|o| o["leg"] == leg).unwrap();
        assert_eq!(o["status"], "NEW", "{o}");
        assert!(o["reduce_only"].as_bool().unwrap());
    }

    // The same alert again: a duplicate, and nothing more is sent.
    let orders_before = venue.venue().accounts[BINANCE_KEY].orders.len();
    let (status, body) = post_alert(&api, &s, first).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("duplicate")));
    // Already long: a second long is refused, not pyramided.
    let (status, body) = post_alert(&api, &s, alert(&s, "buy", "long", "Long-2")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("already_in_position")),
        "{body}"
    );
    assert_eq!(
        venue.venue().accounts[BINANCE_KEY].orders.len(),
        orders_before
    );

    // The price falls through the stop: the venue closes, we record it.
    venue.set_mark("BTCUSDT", dec!(42100));
    let closed = eventually("the stop-loss to close the position", || async {
        let p = json(
            api.get(&format!("/positions/{}", pos["id"]), &u.access)
                .await,
        )
        .await;
        (p["status"] == "CLOSED").then_some(p)
    })
    .await;
    assert_eq!(closed["close_reason"], "stop_loss");
    assert_eq!(num(&closed["exit_price"]), dec!(42100));
    let fees = num(&closed["fees"]);
    assert!(fees > Decimal::ZERO);
    // (42,100 − 43,000) × 0.069 − fees.
    assert_eq!(num(&closed["realized_pnl"]), dec!(-62.1) - fees);
    assert!(positions(&api, &u).await.is_empty());
    // The take-profit that is no longer needed is cancelled.
    eventually("the take-profit cancelled", || async {
        let v = venue.venue();
        v.accounts[BINANCE_KEY]
            .algos
            .iter()
            .find(|a| a.kind == "TAKE_PROFIT_MARKET")
            .filter(|a| a.status == "CANCELED")
            .map(|_| ())
    })
    .await;

    // Short, then an opposite alert reverses it: close, then open long.
    venue.set_mark("BTCUSDT", dec!(43000));
    let (status, body) = post_alert(&api, &s, alert(&s, "sell", "short", "Short-1")).await;
    assert_eq!(
        (status, body["intent"].as_str()),
        (202, Some("open_short")),
        "{body}"
    );
    let short = eventually("a short", || async {
        positions(&api, &u)
            .await
            .into_iter()
            .find(|p| p["side"] == "SHORT" && !p["stop_loss"].is_null())
    })
    .await;
    assert_eq!(num(&short["stop_loss"]), dec!(43860)); // 2 % above
    assert_eq!(num(&short["take_profit"]), dec!(40850)); // 5 % below
    let (status, body) = post_alert(&api, &s, alert(&s, "buy", "long", "Long-3")).await;
    assert_eq!(
        (status, body["intent"].as_str()),
        (202, Some("reverse_to_long")),
        "{body}"
    );
    let long = eventually("the reversal", || async {
        let p = positions(&api, &u).await;
        (p.len() == 1 && p[0]["side"] == "LONG" && !p[0]["take_profit"].is_null())
            .then(|| p[0].clone())
    })
    .await;
    let was = json(
        api.get(&format!("/positions/{}", short["id"]), &u.access)
            .await,
    )
    .await;
    assert_eq!(
        (was["status"].as_str(), was["close_reason"].as_str()),
        (Some("CLOSED"), Some("reversal"))
    );
    assert_eq!(
        venue.venue().accounts[BINANCE_KEY].positions["BTCUSDT"].amt,
        num(&long["quantity"])
    );

    // TradingView closing the long (`sell` leaving the strategy flat) closes it.
    let (status, body) = post_alert(&api, &s, alert(&s, "sell", "flat", "Close-1")).await;
    assert_eq!(
        (status, body["intent"].as_str()),
        (202, Some("close")),
        "{body}"
    );
    eventually("flat", || async {
        (positions(&api, &u).await.is_empty()
            && venue.venue().accounts[BINANCE_KEY].positions["BTCUSDT"]
                .amt
                .is_zero())
        .then_some(())
    })
    .await;
    // Nothing left resting on the venue.
    eventually("no resting protection", || async {
        let v = venue.venue();
        (!v.accounts[BINANCE_KEY]
            .algos
            .iter()
            .any(|a| a.status == "NEW"))
        .then_some(())
    })
    .await;

    // Every client order id is unique, venue-side too.
    let mut ids: Vec<String> = venue.venue().accounts[BINANCE_KEY]
        .orders
        .iter()
        .map(|o| o.client_id.clone())
        .filter(|c| c.starts_with("tb"))
        .collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "a client order id was used twice");

    // The signals log shows what each alert did.
    let signals = json(api.get("/signals?per_page=50", &u.access).await).await;
    let outcomes: Vec<&str> = signals["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["outcome"].as_str().unwrap())
        .collect();
    assert!(
        outcomes.contains(&"duplicate")
            && outcomes.contains(&"rejected")
            && outcomes.contains(&"accepted")
    );
    let _ = Method::GET;
}

#[tokio::test]
async fn okx_alerts_trade_contracts_and_take_profit() {
    let binance = LocalBinance::start();
    let okx = LocalOkx::start();
    okx.add_account(OKX_KEY, OKX_SECRET, OKX_PASS, dec!(7000), true);
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &venue_env(&binance, Some(&okx)));
    let api = Api::new(&bot);
    let u = api.user("okx@example.com").await;
    let res = api
        .post(
            "/accounts/register",
            Some(&u.access),
            json!({ "exchange": "okx", "api_key": OKX_KEY, "api_secret": OKX_SECRET,
                    "passphrase": OKX_PASS, "testnet": true }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let account = json(res).await["id"].as_i64().unwrap();
    let s = strategy(
        &api,
        &u,
        json!({ "name": "OKX swing", "symbol": "BTC-USDT-SWAP", "account_id": account,
                "investment_pct": 20, "leverage": 5, "margin_mode": "cross" }),
    )
    .await;
    assert_eq!(s["symbols"], json!(["BTCUSDT"]));

    // $7,000 × 20 % × 5 at 43,000 = 0.16279 BTC → 16.27 contracts of 0.01 BTC.
    let (status, body) = post_alert(&api, &s, alert(&s, "buy", "long", "L1")).await;
    assert_eq!(status, 202, "{body}");
    let pos = eventually("a protected OKX position", || async {
        positions(&api, &u)
            .await
            .into_iter()
            .find(|p| !p["stop_loss"].is_null() && !p["take_profit"].is_null())
    })
    .await;
    assert_eq!(num(&pos["quantity"]), dec!(0.1627));
    assert_eq!(pos["margin_mode"], "cross");
    assert_eq!(num(&pos["stop_loss"]), dec!(42140));
    assert_eq!(num(&pos["take_profit"]), dec!(45150));
    {
        let v = okx.venue();
        let a = &v.accounts[OKX_KEY];
        assert_eq!(a.positions["BTC-USDT-SWAP"].pos, dec!(16.27));
        let entry = a
            .orders
            .iter()
            .find(|o| o.cl_ord_id.ends_with('e'))
            .unwrap();
        assert_eq!(
            (entry.side.as_str(), entry.sz, entry.td_mode.as_str()),
            ("buy", dec!(16.27), "cross")
        );
        assert_eq!(
            a.leverage[&("BTC-USDT-SWAP".to_owned(), "cross".to_owned())],
            5
        );
        let live: Vec<_> = a.algos.iter().filter(|x| x.state == "live").collect();
        assert_eq!(live.len(), 2, "a stop and a target rest on OKX");
    }

    okx.set_mark("BTC-USDT-SWAP", dec!(45200));
    let closed = eventually("the take-profit to close it", || async {
        let p = json(
            api.get(&format!("/positions/{}", pos["id"]), &u.access)
                .await,
        )
        .await;
        (p["status"] == "CLOSED").then_some(p)
    })
    .await;
    assert_eq!(closed["close_reason"], "take_profit");
    assert_eq!(num(&closed["exit_price"]), dec!(45200));
    // (45,200 − 43,000) × 0.1627 = 357.94, less fees.
    let pnl = num(&closed["realized_pnl"]);
    assert!(pnl > dec!(357.94) - dec!(10) && pnl < dec!(357.94), "{pnl}");
    eventually("the stop cancelled", || async {
        let v = okx.venue();
        (!v.accounts[OKX_KEY].algos.iter().any(|a| a.state == "live")).then_some(())
    })
    .await;
}
