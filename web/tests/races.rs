//! Alerts and changes racing the orders already in flight, against the
//! local Binance venue: a close while the stop is being placed, a reversal
//! whose new entry risk must approve again, a strategy edited under its
//! open position.

mod common;

use common::api::{Api, Session, json_of as json, post_alert, tv_alert as alert};
use common::venues::{BINANCE_KEY, BINANCE_SECRET};
use common::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tradingbot_testkit::binance::{Failure, LocalBinance};

async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

struct Setup {
    venue: LocalBinance,
    bot: Spawned,
    _tmp: tempfile::TempDir,
}

async fn setup(email: &str) -> (Setup, Session, i64, Value) {
    let venue = LocalBinance::start();
    venue.add_account(
        BINANCE_KEY,
        BINANCE_SECRET,
        rust_decimal_macros::dec!(10000),
    );
    let (tmp, dir) = workdir();
    let env = [
        ("TRADINGBOT_RATE_LIMIT_IP", "100000"),
        ("TRADINGBOT_RATE_LIMIT_USER", "100000"),
        (
            "TRADINGBOT_BINANCE_TESTNET_REST_URL",
            venue.rest_url.as_str(),
        ),
        // REST only: the venue can hold an answer.
        (
            "TRADINGBOT_BINANCE_TESTNET_WS_API_URL",
            "ws://127.0.0.1:9/ws-fapi/v1",
        ),
        (
            "TRADINGBOT_BINANCE_TESTNET_STREAM_URL",
            venue.stream_url.as_str(),
        ),
    ];
    let bot = Spawned::start(&dir, &env);
    let (u, account, s) = {
        let api = Api::new(&bot);
        let u = api.user(email).await;
        let res = api
            .post(
                "/accounts/register",
                Some(&u.access),
                common::venues::binance_account(),
            )
            .await;
        assert_eq!(res.status(), 201);
        let account = json(res).await["id"].as_i64().unwrap();
        let res = api
            .post(
                "/strategies",
                Some(&u.access),
                json!({ "name": "race", "symbol": "BTCUSDT", "account_id": account,
                        "investment_pct": 10, "leverage": 3 }),
            )
            .await;
        assert_eq!(res.status(), 201);
        (u, account, json(res).await)
    };
    (
        Setup {
            venue,
            bot,
            _tmp: tmp,
        },
        u,
        account,
        s,
    )
}

fn live_algos(venue: &LocalBinance) -> Vec<String> {
    venue.venue().accounts[BINANCE_KEY]
        .algos
        .iter()
        .filter(|a| a.status == "NEW")
        .map(|a| a.kind.clone())
        .collect()
}

fn amount(venue: &LocalBinance) -> rust_decimal::Decimal {
    venue.venue().accounts[BINANCE_KEY]
        .positions
        .get("BTCUSDT")
        .map_or(rust_decimal::Decimal::ZERO, |p| p.amt)
}

/// A close alert arrives while the entry's stop is still being placed
/// (its answer held by the venue): the trader's close goes through, no
/// emergency close is added, and the stop placed meanwhile is cancelled.
#[tokio::test]
async fn a_close_racing_the_protection_closes_once_and_leaves_nothing_behind() {
    let (t, _u, _, s) = setup("race-close@example.com").await;
    let api = Api::new(&t.bot);
    // The stop is placed on the venue, its answer takes 1.5 s.
    t.venue.fail_next(
        "/fapi/v1/algoOrder",
        Failure::Unknown {
            execute: true,
            delay_ms: 1500,
        },
    );
    let (status, body) = post_alert(&api, &s, alert(&s, "buy", "long", "r1")).await;
    assert_eq!(status, 202, "{body}");
    eventually("the stop to reach the venue", || async {
        (!live_algos(&t.venue).is_empty()).then_some(())
    })
    .await;
    let (status, body) = post_alert(&api, &s, alert(&s, "sell", "flat", "r2")).await;
    assert_eq!(status, 202, "{body}");
    eventually("flat with nothing resting", || async {
        (amount(&t.venue).is_zero() && live_algos(&t.venue).is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(amount(&t.venue).is_zero());
    assert!(
        live_algos(&t.venue).is_empty(),
        "{:?}",
        live_algos(&t.venue)
    );
    let closes = t.venue.venue().accounts[BINANCE_KEY]
        .orders
        .iter()
        .filter(|o| o.reduce_only)
        .count();
    assert_eq!(closes, 1, "the trader's close, and no other");
    assert!(
        t.bot.logged("trading alert").iter().all(|l| {
            !matches!(
                l["fields"]["kind"].as_str(),
                Some("protection_failed" | "close_failed")
            )
        }),
        "{}",
        t.bot.output()
    );
}

/// A reversal's new entry is approved by risk again when the close has
/// settled: the kill switch engaged meanwhile refuses it.
#[tokio::test]
async fn a_reversal_asks_risk_again_before_its_new_entry() {
    let (t, u, _, s) = setup("race-reverse@example.com").await;
    let api = Api::new(&t.bot);
    let (status, _) = post_alert(&api, &s, alert(&s, "buy", "long", "v1")).await;
    assert_eq!(status, 202);
    eventually("a protected long", || async {
        (live_algos(&t.venue).len() == 2).then_some(())
    })
    .await;
    // The reversal's close is slow to answer; meanwhile the trader stops
    // new entries.
    t.venue.fail_next(
        "/fapi/v1/order",
        Failure::Unknown {
            execute: true,
            delay_ms: 1200,
        },
    );
    let (status, body) = post_alert(&api, &s, alert(&s, "sell", "short", "v2")).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["intent"], "reverse_to_short");
    let res = api
        .post(
            "/risk/kill-switch",
            Some(&u.access),
            json!({ "enabled": true }),
        )
        .await;
    assert_eq!(res.status(), 200);
    eventually("closed", || async {
        (amount(&t.venue).is_zero() && live_algos(&t.venue).is_empty()).then_some(())
    })
    .await;
    let refused = eventually("the reversing entry refused", || async {
        t.bot
            .logged("trading alert")
            .into_iter()
            .find(|l| l["fields"]["kind"] == "reversal_entry_failed")
    })
    .await;
    assert!(
        refused["fields"]["detail"]
            .as_str()
            .unwrap()
            .contains("kill switch"),
        "{refused}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let entries = t.venue.venue().accounts[BINANCE_KEY]
        .orders
        .iter()
        .filter(|o| o.client_id.ends_with('e'))
        .count();
    assert_eq!(entries, 1, "no entry went out without risk's approval");
    assert!(amount(&t.venue).is_zero());
}

/// While a strategy holds a position, its account, symbol and margin mode
/// cannot change (its next close alert would find no account); its
/// leverage can, for the next entry.
#[tokio::test]
async fn a_strategy_holding_a_position_keeps_its_account_symbol_and_margin_mode() {
    let (t, u, account, s) = setup("race-edit@example.com").await;
    let api = Api::new(&t.bot);
    let (status, _) = post_alert(&api, &s, alert(&s, "buy", "long", "e1")).await;
    assert_eq!(status, 202);
    eventually("a protected long", || async {
        (live_algos(&t.venue).len() == 2).then_some(())
    })
    .await;
    let path = format!("/strategies/{}", s["id"]);
    let put = |body: Value| {
        let (url, http, token) = (api.url(&path), api.http.clone(), u.access.clone());
        async move {
            http.put(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    for body in [
        json!({ "account_id": null }),
        json!({ "symbol": "ETHUSDT" }),
        json!({ "margin_mode": "cross" }),
    ] {
        let res = put(body.clone()).await;
        assert_eq!(res.status(), 409, "{body}");
        let v = json(res).await;
        assert_eq!(v["code"], "strategy_has_open_position", "{v}");
    }
    let res = put(json!({ "leverage": 5, "account_id": account })).await;
    assert_eq!(res.status(), 200, "{}", json(res).await);
    // The position keeps its leverage; the close still finds its account.
    let (status, body) = post_alert(&api, &s, alert(&s, "sell", "flat", "e2")).await;
    assert_eq!(status, 202, "{body}");
    eventually("closed", || async {
        (amount(&t.venue).is_zero() && live_algos(&t.venue).is_empty()).then_some(())
    })
    .await;
    // Flat, everything may change.
    let res = put(json!({ "symbol": "ETHUSDT", "margin_mode": "cross" })).await;
    assert_eq!(res.status(), 200, "{}", json(res).await);
}
