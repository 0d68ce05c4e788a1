//! Limit entries, end to end: the real binary against the local Binance,
//! which rests limit orders and fills them when the mark reaches them (at
//! their price, as makers), refuses a post-only order that would take
//! (-5022), and fills a part when a test asks. Each case checks the venue:
//! what rests, what filled, what protects the position.

mod common;

use common::api::{
    Api, Session, eventually, json_of as json, notified, num, post_alert, tv_alert as alert,
};
use common::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use tradingbot_testkit::binance::LocalBinance;

use common::venues::{BINANCE_KEY, BINANCE_SECRET};

/// A trader with a Binance account and a limit-entry strategy on BTCUSDT
/// (10 % at 10x of 10,000: 0.232 BTC at 43,000).
async fn limit_strategy(api: &Api<'_>, email: &str, limit: Value) -> (Session, Value) {
    let u = api.user(email).await;
    let account = common::api::venue_account(api, &u, "binance").await;
    let mut body = json!({ "name": "Limit", "symbol": "BTCUSDT", "account_id": account,
                           "investment_pct": 10, "leverage": 10, "long_sl_pct": 2 });
    for (k, v) in limit.as_object().unwrap() {
        body[k] = v.clone();
    }
    let res = api.post("/strategies", Some(&u.access), body).await;
    let status = res.status();
    let s = json(res).await;
    assert_eq!(status, 201, "{s}");
    (u, s)
}

/// The venue's orders: (client id's leg letter, type, price, status, filled).
fn venue_orders(venue: &LocalBinance) -> Vec<(char, String, Decimal, String, Decimal)> {
    let v = venue.venue();
    v.accounts[BINANCE_KEY]
        .orders
        .iter()
        .filter(|o| o.client_id.starts_with("tb"))
        .map(|o| {
            (
                o.client_id.chars().last().unwrap(),
                o.kind.clone(),
                o.price,
                o.status.clone(),
                o.executed,
            )
        })
        .collect()
}

/// Waits (at most `secs`) for the user's open position with its stop.
async fn protected(api: &Api<'_>, u: &Session, what: &str, secs: u64) -> Value {
    common::api::eventually_for(what, std::time::Duration::from_secs(secs), || async {
        open_position(api, u)
            .await
            .filter(|p| !p["stop_loss"].is_null())
    })
    .await
}

async fn open_position(api: &Api<'_>, u: &Session) -> Option<Value> {
    json(api.get("/positions", &u.access).await).await[0]
        .as_object()
        .map(|p| Value::Object(p.clone()))
}

#[tokio::test]
async fn a_limit_entry_rests_below_the_price_and_opens_when_it_fills() {
    let venue = LocalBinance::start();
    venue.add_account(BINANCE_KEY, BINANCE_SECRET, dec!(10000));
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &common::venues::polled(&venue, None));
    let api = Api::new(&bot);
    let bad = api.user("bad-limit@example.com").await;
    let res = api
        .post(
            "/strategies",
            Some(&bad.access),
            json!({ "name": "x", "symbol": "BTCUSDT", "order_type": "limit", "limit_offset_pct": 12,
                    "limit_expiry_sec": 1, "limit_fallback": "later" }),
        )
        .await;
    assert_eq!(res.status(), 422);
    let fields: Vec<String> = json(res).await["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        fields,
        ["limit_fallback", "limit_offset_pct", "limit_expiry_sec"]
    );
    let (u, s) = limit_strategy(
        &api,
        "limit@example.com",
        json!({ "order_type": "limit", "limit_offset_pct": 0.5, "limit_expiry_sec": 600 }),
    )
    .await;
    assert_eq!(
        (
            &s["order_type"],
            &s["limit_offset_pct"],
            &s["limit_expiry_sec"],
            &s["limit_fallback"]
        ),
        (&json!("limit"), &json!(0.5), &json!(600), &json!("cancel"))
    );
    let (status, body) = post_alert(&api, &s, alert(&s, "buy", "long", "lim-1")).await;
    assert_eq!(status, 202, "{body}");
    // 43,000 × 0.995 = 42,785: a GTC limit rests there; no position yet.
    eventually("the limit entry resting", || async {
        (venue_orders(&venue) == vec![('e', "LIMIT".into(), dec!(42785), "NEW".into(), dec!(0))])
            .then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(open_position(&api, &u).await.is_none());
    assert!(
        venue.venue().accounts[BINANCE_KEY]
            .positions
            .get("BTCUSDT")
            .is_none_or(|p| p.amt.is_zero())
    );

    // The price comes down to it: filled at 42,785, and protected from that
    // price (stop 2 % below: 41,929.3).
    venue.set_mark("BTCUSDT", dec!(42780));
    let pos = protected(&api, &u, "the position open and protected", 10).await;
    assert_eq!(num(&pos["entry_price"]), dec!(42785));
    assert_eq!(num(&pos["quantity"]), dec!(0.232));
    assert_eq!(num(&pos["stop_loss"]), dec!(41929.3));
    let v = venue.venue();
    let stop = v.accounts[BINANCE_KEY]
        .algos
        .iter()
        .find(|a| a.kind == "STOP_MARKET" && a.status == "NEW")
        .expect("a stop on the venue");
    assert_eq!(stop.trigger, dec!(41929.3));
}

#[tokio::test]
async fn a_limit_entry_not_filled_in_time_falls_back_to_market_or_is_cancelled() {
    let venue = LocalBinance::start();
    venue.add_account(BINANCE_KEY, BINANCE_SECRET, dec!(10000));
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &common::venues::polled(&venue, None));
    let api = Api::new(&bot);
    let (u, s) = limit_strategy(
        &api,
        "fallback@example.com",
        json!({ "order_type": "limit", "limit_offset_pct": 1, "limit_expiry_sec": 5,
                "limit_fallback": "market" }),
    )
    .await;
    let (status, body) = post_alert(&api, &s, alert(&s, "buy", "long", "fb-1")).await;
    assert_eq!(status, 202, "{body}");
    eventually("the limit entry resting", || async {
        (venue_orders(&venue).len() == 1).then_some(())
    })
    .await;
    // Five seconds later: cancelled, then the whole size at market under
    // its own id (leg `f`), opened at the mark and protected.
    let pos = protected(&api, &u, "the fallback at market", 30).await;
    assert_eq!(
        (num(&pos["entry_price"]), num(&pos["quantity"])),
        (dec!(43000), dec!(0.232))
    );
    assert_eq!(
        venue_orders(&venue),
        vec![
            ('e', "LIMIT".into(), dec!(42570), "CANCELED".into(), dec!(0)),
            ('f', "MARKET".into(), dec!(0), "FILLED".into(), dec!(0.232)),
        ]
    );

    // A strategy that cancels instead: nothing is entered, the trader is told.
    let venue2 = LocalBinance::start();
    venue2.add_account(BINANCE_KEY, BINANCE_SECRET, dec!(10000));
    let (_tmp2, dir2) = workdir();
    let bot2 = Spawned::start(&dir2, &common::venues::polled(&venue2, None));
    let api2 = Api::new(&bot2);
    let (u2, s2) = limit_strategy(
        &api2,
        "cancel@example.com",
        json!({ "order_type": "limit", "limit_offset_pct": 1, "limit_expiry_sec": 5 }),
    )
    .await;
    let (status, _) = post_alert(&api2, &s2, alert(&s2, "buy", "long", "c-1")).await;
    assert_eq!(status, 202);
    // Five seconds of wait, then the notice (`notified` waits 10 s more).
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let told = notified(&api2, &u2.access, "risk_alert", |d| {
        d["kind"] == "entry_expired"
    })
    .await;
    assert!(
        told["data"]["message"]
            .as_str()
            .unwrap()
            .contains("BTCUSDT"),
        "{told}"
    );
    assert_eq!(
        venue_orders(&venue2),
        vec![('e', "LIMIT".into(), dec!(42570), "CANCELED".into(), dec!(0))]
    );
    assert!(open_position(&api2, &u2).await.is_none());
    // Its slot is free: the next alert enters again.
    let (status, body) = post_alert(&api2, &s2, alert(&s2, "buy", "long", "c-2")).await;
    assert_eq!(status, 202, "{body}");
}

#[tokio::test]
async fn a_part_filled_ends_the_wait_and_a_post_only_that_would_take_falls_back() {
    let venue = LocalBinance::start();
    venue.add_account(BINANCE_KEY, BINANCE_SECRET, dec!(10000));
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &common::venues::polled(&venue, None));
    let api = Api::new(&bot);
    let (u, s) = limit_strategy(
        &api,
        "partial@example.com",
        json!({ "order_type": "limit", "limit_offset_pct": 0.5, "limit_expiry_sec": 600 }),
    )
    .await;
    let (status, _) = post_alert(&api, &s, alert(&s, "buy", "long", "p-1")).await;
    assert_eq!(status, 202);
    let id = eventually("the limit entry resting", || async {
        let v = venue.venue();
        v.accounts[BINANCE_KEY]
            .orders
            .iter()
            .find(|o| o.kind == "LIMIT")
            .map(|o| o.client_id.clone())
    })
    .await;
    // 0.1 of the 0.232 fills: the rest is cancelled at once and the 0.1
    // held is protected (never a position without a stop).
    venue.venue().fill_partly(&id, dec!(0.1));
    let pos = protected(&api, &u, "the part protected", 10).await;
    assert_eq!(num(&pos["quantity"]), dec!(0.1));
    assert_eq!(num(&pos["entry_price"]), dec!(42785));
    eventually("the rest cancelled", || async {
        (venue_orders(&venue)[0].3 == "CANCELED").then_some(())
    })
    .await;
    assert_eq!(
        venue.venue().accounts[BINANCE_KEY].positions["BTCUSDT"].amt,
        dec!(0.1)
    );

    // Post-only at the price itself (offset 0) would take: Binance refuses
    // it (-5022) and the market fallback enters instead.
    let venue2 = LocalBinance::start();
    venue2.add_account(BINANCE_KEY, BINANCE_SECRET, dec!(10000));
    let (_tmp2, dir2) = workdir();
    let bot2 = Spawned::start(&dir2, &common::venues::polled(&venue2, None));
    let api2 = Api::new(&bot2);
    let (u2, s2) = limit_strategy(
        &api2,
        "postonly@example.com",
        json!({ "order_type": "limit", "limit_offset_pct": 0, "post_only": true,
                "limit_fallback": "market" }),
    )
    .await;
    assert_eq!(s2["post_only"], true);
    let (status, _) = post_alert(&api2, &s2, alert(&s2, "buy", "long", "po-1")).await;
    assert_eq!(status, 202);
    let pos = protected(&api2, &u2, "entered at market", 10).await;
    assert_eq!(num(&pos["entry_price"]), dec!(43000));
    let orders = venue_orders(&venue2);
    assert_eq!(
        orders,
        vec![('f', "MARKET".into(), dec!(0), "FILLED".into(), dec!(0.232))],
        "the refused post-only never rested"
    );
}

/// `alert` with extra fields, as a TradingView message that names them.
fn with_fields(alert: String, fields: Value) -> String {
    let mut v: Value = serde_json::from_str(&alert).unwrap();
    for (k, f) in fields.as_object().unwrap() {
        v[k] = f.clone();
    }
    v.to_string()
}

#[tokio::test]
async fn an_alert_names_its_own_targets_trailing_stop_and_limit_price() {
    let venue = LocalBinance::start();
    venue.add_account(BINANCE_KEY, BINANCE_SECRET, dec!(10000));
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &common::venues::polled(&venue, None));
    let api = Api::new(&bot);
    // A plain market strategy: one target, no trailing stop.
    let (u, s) = limit_strategy(&api, "fields@example.com", json!({})).await;
    assert_eq!(s["order_type"], "market");

    // Refused by name, nothing sent: a limit price 20 % away, sizes that
    // do not add up.
    let far = with_fields(
        alert(&s, "buy", "long", "f-0"),
        json!({ "order_type": "limit", "limit_price": 34400 }),
    );
    let (status, body) = post_alert(&api, &s, far).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("override_out_of_bounds")),
        "{body}"
    );
    let bad = with_fields(
        alert(&s, "buy", "long", "f-00"),
        json!({ "tp_levels": [{ "gain_pct": 1, "size_pct": 70 }] }),
    );
    let (status, body) = post_alert(&api, &s, bad).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("webhook_invalid")),
        "{body}"
    );
    assert!(
        body["detail"].as_str().unwrap().contains("tp_levels"),
        "{body}"
    );
    assert!(venue_orders(&venue).is_empty());

    // A limit at the alert's price (onto the tick, down for a long), two
    // targets and a trailing stop for this entry only.
    let rich = with_fields(
        alert(&s, "buy", "long", "f-1"),
        json!({ "order_type": "limit", "limit_price": "42900.07",
                "tp_levels": [{ "gain_pct": 1, "size_pct": 50 }, { "gain_pct": 3, "size_pct": 50 }],
                "trail_pct": 2 }),
    );
    let (status, body) = post_alert(&api, &s, rich).await;
    assert_eq!(status, 202, "{body}");
    eventually("the limit at the alert's price", || async {
        (venue_orders(&venue) == vec![('e', "LIMIT".into(), dec!(42900), "NEW".into(), dec!(0))])
            .then_some(())
    })
    .await;
    venue.set_mark("BTCUSDT", dec!(42900));
    let pos = eventually("the position with two targets and a trail", || async {
        let p = open_position(&api, &u).await?;
        (p["targets"].as_array().is_some_and(|t| t.len() == 2)
            && p["targets"]
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["state"] == "resting"))
        .then_some(p)
    })
    .await;
    assert_eq!(num(&pos["entry_price"]), dec!(42900));
    // 42,900 × 1.01 = 43,329; × 1.03 = 44,187.
    assert_eq!(num(&pos["targets"][0]["price"]), dec!(43329));
    assert_eq!(num(&pos["targets"][1]["price"]), dec!(44187));
    eventually("the trailing stop resting", || async {
        let v = venue.venue();
        v.accounts[BINANCE_KEY]
            .algos
            .iter()
            .any(|a| {
                a.kind == "TRAILING_STOP_MARKET" && a.callback == Some(dec!(2)) && a.status == "NEW"
            })
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_okx_limit_entry_falls_back_to_market_and_a_post_only_that_would_take_too() {
    use common::venues::{OKX_KEY, OKX_PASS, OKX_SECRET};
    use tradingbot_testkit::okx::LocalOkx;
    let binance = LocalBinance::start();
    let okx = LocalOkx::start();
    okx.add_account(OKX_KEY, OKX_SECRET, OKX_PASS, dec!(7000), true);
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &common::venues::polled(&binance, Some(&okx)));
    let api = Api::new(&bot);
    let u = api.user("okx-limit@example.com").await;
    let account = common::api::venue_account(&api, &u, "okx").await;
    let strategy = |name: &str, symbol: &str, limit: Value| {
        let mut body = json!({ "name": name, "symbol": symbol, "account_id": account,
                               "investment_pct": 20, "leverage": 5 });
        for (k, v) in limit.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let s = json(
        api.post(
            "/strategies",
            Some(&u.access),
            strategy(
                "OKX limit",
                "BTC-USDT-SWAP",
                json!({ "order_type": "limit", "limit_offset_pct": 1, "limit_expiry_sec": 5,
                        "limit_fallback": "market" }),
            ),
        )
        .await,
    )
    .await;
    let orders = |okx: &LocalOkx| {
        let v = okx.venue();
        v.accounts[OKX_KEY]
            .orders
            .iter()
            .filter(|o| o.cl_ord_id.starts_with("tb"))
            .map(|o| {
                (
                    o.cl_ord_id.chars().last().unwrap(),
                    o.ord_type.clone(),
                    o.px,
                    o.state.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    let (status, body) = post_alert(&api, &s, alert(&s, "buy", "long", "okx-l1")).await;
    assert_eq!(status, 202, "{body}");
    // 16.27 contracts, a limit at 43,000 × 0.99 = 42,570.
    eventually("the limit resting on OKX", || async {
        (orders(&okx) == vec![('e', "limit".into(), dec!(42570), "live".into())]).then_some(())
    })
    .await;
    let pos = protected(&api, &u, "the market fallback", 30).await;
    assert_eq!(
        (num(&pos["entry_price"]), num(&pos["quantity"])),
        (dec!(43000), dec!(0.1627))
    );
    assert_eq!(
        orders(&okx),
        vec![
            ('e', "limit".into(), dec!(42570), "canceled".into()),
            ('f', "market".into(), dec!(0), "filled".into()),
        ]
    );

    // Post-only at the price: OKX takes it and cancels it at once; the
    // fallback enters at market without waiting for the expiry.
    let p = json(
        api.post(
            "/strategies",
            Some(&u.access),
            strategy(
                "OKX post-only",
                "ETH-USDT-SWAP",
                json!({ "order_type": "limit", "limit_offset_pct": 0, "post_only": true,
                        "limit_expiry_sec": 600, "limit_fallback": "market" }),
            ),
        )
        .await,
    )
    .await;
    assert_eq!(p["post_only"], true, "{p}");
    okx.set_mark("ETH-USDT-SWAP", dec!(2300));
    let body = {
        let mut a: Value = serde_json::from_str(&alert(&p, "buy", "long", "okx-po")).unwrap();
        a["symbol"] = json!("ETH-USDT-SWAP");
        a.to_string()
    };
    let (status, body) = post_alert(&api, &p, body).await;
    assert_eq!(status, 202, "{body}");
    eventually("entered at market at once", || async {
        let v = okx.venue();
        v.accounts[OKX_KEY]
            .orders
            .iter()
            .any(|o| {
                o.inst_id == "ETH-USDT-SWAP" && o.cl_ord_id.ends_with('f') && o.state == "filled"
            })
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_limit_entry_left_resting_by_a_kill_is_cancelled_and_what_filled_is_protected() {
    let venue = LocalBinance::start();
    venue.add_account(BINANCE_KEY, BINANCE_SECRET, dec!(10000));
    let (_tmp, dir) = workdir();
    let env = common::venues::polled(&venue, None);
    let bot = Spawned::start(&dir, &env);
    let api = Api::new(&bot);
    let (u, s) = limit_strategy(
        &api,
        "killed-limit@example.com",
        json!({ "order_type": "limit", "limit_offset_pct": 0.5, "limit_expiry_sec": 600 }),
    )
    .await;
    let (status, _) = post_alert(&api, &s, alert(&s, "buy", "long", "k-1")).await;
    assert_eq!(status, 202);
    let id = eventually("the limit entry resting", || async {
        let v = venue.venue();
        v.accounts[BINANCE_KEY]
            .orders
            .iter()
            .find(|o| o.kind == "LIMIT" && o.status == "NEW")
            .map(|o| o.client_id.clone())
    })
    .await;
    // Killed while it rests; a part fills while nobody listens.
    let (status, _) = bot.signal_and_wait("KILL");
    assert!(!status.success());
    venue.venue().fill_partly(&id, dec!(0.05));

    // Back up: the rest is cancelled (its wait died with the process), the
    // 0.05 held is adopted and protected, the trader told.
    let bot = Spawned::start(&dir, &env);
    let api = Api::new(&bot);
    let token = json(
        api.login("killed-limit@example.com", common::api::PASSWORD)
            .await,
    )
    .await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let u = Session { access: token, ..u };
    let pos = protected(&api, &u, "the part adopted and protected", 15).await;
    assert_eq!(num(&pos["quantity"]), dec!(0.05));
    eventually("the rest cancelled", || async {
        (venue_orders(&venue)[0].3 == "CANCELED").then_some(())
    })
    .await;
    // Told although it was found before the notifications recorder started.
    notified(&api, &u.access, "risk_alert", |d| {
        d["kind"] == "entry_expired"
    })
    .await;
    let v = venue.venue();
    assert!(
        v.accounts[BINANCE_KEY]
            .algos
            .iter()
            .any(|a| a.kind == "STOP_MARKET" && a.status == "NEW"),
        "a stop protects what filled"
    );
}
