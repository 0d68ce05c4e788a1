//! Exits beyond one stop and one target, end to end: the real binary
//! against the local Binance and OKX, which check every order as the real
//! venues do. Take-profit ladders — each target a reduce-only order resting
//! as soon as the entry fills, filled target by target as the mark moves,
//! the stop moved to break-even after the first (placed before the first
//! stop is cancelled), the position's record adding up every part — and
//! trailing stops held natively by the venue.

mod common;

use common::api::{Api, Session, eventually, json_of as json, num, post_alert, tv_alert as alert};
use common::*;
use reqwest::Method;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use std::time::Duration;
use tradingbot_testkit::binance::LocalBinance;

use common::venues::{BINANCE_KEY, BINANCE_SECRET};

async fn position(api: &Api<'_>, s: &Session, id: &Value) -> Value {
    json(api.get(&format!("/positions/{id}"), &s.access).await).await
}

/// Waits for position `id` to be closed; its record.
async fn until_closed(api: &Api<'_>, s: &Session, id: &Value, what: &str) -> Value {
    eventually(what, || async {
        let p = position(api, s, id).await;
        (p["status"] == "CLOSED").then_some(p)
    })
    .await
}

/// The venue's resting conditional orders: (type, quantity or None for
/// close-position, trigger).
fn resting(venue: &LocalBinance) -> Vec<(String, Option<Decimal>, Decimal)> {
    let v = venue.venue();
    let mut out: Vec<_> = v.accounts[BINANCE_KEY]
        .algos
        .iter()
        .filter(|a| a.status == "NEW")
        .map(|a| (a.kind.clone(), a.qty, a.trigger))
        .collect();
    out.sort_by_key(|(_, _, t)| *t);
    out
}

async fn setup(venue: &LocalBinance, api: &Api<'_>, email: &str) -> (Session, Value) {
    let u = api.user(email).await;
    let account = common::api::venue_account(api, &u, "binance").await;
    let _ = venue;
    // A misspelt ladder is refused field by field.
    let bad = api
        .post(
            "/strategies",
            Some(&u.access),
            json!({ "name": "bad", "symbol": "BTCUSDT", "account_id": account,
                    "tp_levels": [{"gain_pct": 1, "size_pct": 60}, {"gain_pct": 0.5, "size_pct": 30}],
                    "break_even_after": 2 }),
        )
        .await;
    assert_eq!(bad.status(), 422);
    let errors = json(bad).await;
    let fields: Vec<&str> = errors["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["tp_levels[1].gain_pct", "tp_levels", "break_even_after"],
        "{errors}"
    );
    let res = api
        .post(
            "/strategies",
            Some(&u.access),
            json!({ "name": "Ladder", "symbol": "BTCUSDT", "account_id": account,
                    "investment_pct": 10, "leverage": 10, "long_sl_pct": 2,
                    "tp_levels": [{"gain_pct": 1, "size_pct": 50}, {"gain_pct": 2, "size_pct": 30},
                                  {"gain_pct": 3, "size_pct": 20}],
                    "break_even_after": 1 }),
        )
        .await;
    let s = json(res).await;
    assert_eq!(
        s["tp_levels"],
        json!([{"gain_pct": 1.0, "size_pct": 50.0}, {"gain_pct": 2.0, "size_pct": 30.0},
               {"gain_pct": 3.0, "size_pct": 20.0}]),
        "{s}"
    );
    assert_eq!(
        (&s["break_even_after"], &s["break_even_to"]),
        (&json!(1), &json!("entry"))
    );
    (u, s)
}

/// Enters long at 43,000 and waits for the stop and all three targets.
async fn enter(venue: &LocalBinance, api: &Api<'_>, u: &Session, s: &Value, id: &str) -> Value {
    let (status, body) = post_alert(api, s, alert(s, "buy", "long", id)).await;
    assert_eq!(status, 202, "{body}");
    let pos = eventually("a protected position", || async {
        let list = json(api.get("/positions", &u.access).await).await;
        list.as_array()
            .unwrap()
            .iter()
            .find(|p| p["status"] == "OPEN" && !p["stop_loss"].is_null())
            .cloned()
    })
    .await;
    eventually("the stop and three targets on the venue", || async {
        (resting(venue).len() == 4).then_some(())
    })
    .await;
    pos
}

#[tokio::test]
async fn a_three_target_ladder_fills_target_by_target_and_the_stop_follows() {
    let venue = LocalBinance::start();
    venue.add_account(BINANCE_KEY, BINANCE_SECRET, dec!(10000));
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &common::venues::polled(&venue, None));
    let api = Api::new(&bot);
    let (u, s) = setup(&venue, &api, "ladder@example.com").await;

    // 10 % of 10,000 at 10x = 10,000 / 43,000 = 0.232 BTC. Targets (rounded
    // down to the 0.001 step, the last takes the rest): 0.116 at +1 %
    // (43,430), 0.069 at +2 % (43,860), 0.047 at +3 % (44,290).
    let pos = enter(&venue, &api, &u, &s, "ladder-1").await;
    assert_eq!(num(&pos["quantity"]), dec!(0.232));
    assert_eq!(num(&pos["stop_loss"]), dec!(42140));
    assert_eq!(num(&pos["take_profit"]), dec!(43430));
    assert_eq!(
        resting(&venue),
        vec![
            ("STOP_MARKET".to_owned(), None, dec!(42140)),
            (
                "TAKE_PROFIT_MARKET".to_owned(),
                Some(dec!(0.116)),
                dec!(43430)
            ),
            (
                "TAKE_PROFIT_MARKET".to_owned(),
                Some(dec!(0.069)),
                dec!(43860)
            ),
            (
                "TAKE_PROFIT_MARKET".to_owned(),
                Some(dec!(0.047)),
                dec!(44290)
            ),
        ]
    );

    // Target 1: half the position goes at 43,450; the stop moves to the
    // entry plus both sides' fees (43,000 + 2 × 0.05 % = 43,043), sized to
    // what remains, and the close-position stop is cancelled after.
    venue.set_mark("BTCUSDT", dec!(43450));
    let p = eventually("target 1 to reduce it and move the stop", || async {
        let p = position(&api, &u, &pos["id"]).await;
        (num(&p["quantity"]) == dec!(0.116) && num(&p["stop_loss"]) == dec!(43043)).then_some(p)
    })
    .await;
    assert_eq!(p["status"], "OPEN");
    assert_eq!(num(&p["take_profit"]), dec!(43860));
    // Each target's state, quantity and fill.
    let states: Vec<(u64, String, Decimal)> = p["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["target"].as_u64().unwrap(),
                t["state"].as_str().unwrap().to_owned(),
                num(&t["quantity"]),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            (1, "filled".to_owned(), dec!(0.116)),
            (2, "resting".to_owned(), dec!(0.069)),
            (3, "resting".to_owned(), dec!(0.047)),
        ],
        "{p}"
    );
    assert_eq!(num(&p["targets"][0]["avg_fill_price"]), dec!(43450));
    // The part closed is realized already: 0.116 × 450 = 52.2 less fees.
    assert!(num(&p["realized_pnl"]) > dec!(45) && num(&p["realized_pnl"]) < dec!(52.2));
    eventually("the moved stop alone on the venue", || async {
        let r = resting(&venue);
        (r == vec![
            ("STOP_MARKET".to_owned(), Some(dec!(0.116)), dec!(43043)),
            (
                "TAKE_PROFIT_MARKET".to_owned(),
                Some(dec!(0.069)),
                dec!(43860),
            ),
            (
                "TAKE_PROFIT_MARKET".to_owned(),
                Some(dec!(0.047)),
                dec!(44290),
            ),
        ])
        .then_some(())
    })
    .await;
    assert_eq!(
        venue.venue().accounts[BINANCE_KEY].positions["BTCUSDT"].amt,
        dec!(0.116)
    );

    // Targets 2 and 3: the last one closes what is left.
    venue.set_mark("BTCUSDT", dec!(43870));
    eventually("target 2", || async {
        let p = position(&api, &u, &pos["id"]).await;
        (num(&p["quantity"]) == dec!(0.047)).then_some(())
    })
    .await;
    venue.set_mark("BTCUSDT", dec!(44300));
    let closed = until_closed(&api, &u, &pos["id"], "target 3 to close it").await;
    assert_eq!(closed["close_reason"], "take_profit");
    // The record is the whole position: its size, its average exit
    // (0.116 × 43,450 + 0.069 × 43,870 + 0.047 × 44,300) / 0.232
    // = 10,149.33 / 0.232 = 43,747.1120…, and its PnL:
    // 52.2 + 60.03 + 61.1 = 173.33 less fees.
    assert_eq!(num(&closed["quantity"]), dec!(0.232));
    assert_eq!(num(&closed["exit_price"]).round_dp(2), dec!(43747.11));
    let pnl = num(&closed["realized_pnl"]);
    let fees = num(&closed["fees"]);
    assert!(fees > Decimal::ZERO, "{closed}");
    assert_eq!((pnl + fees).round_dp(2), dec!(173.33), "{closed}");
    eventually("nothing left on the venue", || async {
        resting(&venue).is_empty().then_some(())
    })
    .await;
    assert!(
        venue.venue().accounts[BINANCE_KEY]
            .positions
            .get("BTCUSDT")
            .is_none_or(|p| p.amt.is_zero())
    );

    // Every target and stop is on record with its leg and quantity.
    let orders = json(api.get("/orders?per_page=200", &u.access).await).await["items"]
        .as_array()
        .unwrap()
        .clone();
    let targets: Vec<Decimal> = orders
        .iter()
        .filter(|o| o["leg"] == "take_profit" && o["status"] == "FILLED")
        .map(|o| num(&o["filled_qty"]))
        .collect();
    assert_eq!(targets.len(), 3, "{orders:?}");
    assert_eq!(targets.iter().copied().sum::<Decimal>(), dec!(0.232));
    // Performance tells the exits apart, and each leg of the ladder.
    let perf = json(api.get("/performance/summary", &u.access).await).await;
    assert_eq!(perf["exit_reasons"]["take_profit"]["trades"], 1, "{perf}");
    assert_eq!(
        perf["targets_filled"],
        json!({ "1": 1, "2": 1, "3": 1 }),
        "{perf}"
    );
}

#[tokio::test]
async fn after_the_first_target_the_moved_stop_closes_the_rest_at_break_even() {
    let venue = LocalBinance::start();
    venue.add_account(BINANCE_KEY, BINANCE_SECRET, dec!(10000));
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &common::venues::polled(&venue, None));
    let api = Api::new(&bot);
    let (u, s) = setup(&venue, &api, "breakeven@example.com").await;
    let pos = enter(&venue, &api, &u, &s, "be-1").await;
    venue.set_mark("BTCUSDT", dec!(43450));
    eventually("the stop moved", || async {
        resting(&venue)
            .iter()
            .any(|(k, q, t)| k == "STOP_MARKET" && *q == Some(dec!(0.116)) && *t == dec!(43043))
            .then_some(())
    })
    .await;

    // Back to 43,000: the moved stop closes the rest; nothing is lost but fees.
    venue.set_mark("BTCUSDT", dec!(43000));
    let closed = until_closed(&api, &u, &pos["id"], "the moved stop to close it").await;
    assert_eq!(closed["close_reason"], "stop_loss");
    assert_eq!(num(&closed["quantity"]), dec!(0.232));
    // 0.116 × 450 = 52.2 from the target, 0 from the rest.
    let gross = num(&closed["realized_pnl"]) + num(&closed["fees"]);
    assert_eq!(gross.round_dp(2), dec!(52.2), "{closed}");
    eventually("the other targets cancelled", || async {
        resting(&venue).is_empty().then_some(())
    })
    .await;

    // A strategy's ladder can be removed: later entries take one target.
    let id = s["id"].as_i64().unwrap();
    let res = api
        .call(
            Method::PUT,
            &format!("/strategies/{id}"),
            Some(&u.access),
            Some(json!({ "tp_levels": [] })),
        )
        .await;
    assert_eq!(res.status(), 200);
    let v = json(res).await;
    assert_eq!(
        (&v["tp_levels"], &v["break_even_after"]),
        (&Value::Null, &Value::Null)
    );
}

#[tokio::test]
async fn a_ladder_killed_midway_resumes_from_the_venue_after_a_restart() {
    let venue = LocalBinance::start();
    venue.add_account(BINANCE_KEY, BINANCE_SECRET, dec!(10000));
    let (_tmp, dir) = workdir();
    let env = common::venues::polled(&venue, None);
    let bot = Spawned::start(&dir, &env);
    let api = Api::new(&bot);
    let (u, s) = setup(&venue, &api, "resume@example.com").await;
    let pos = enter(&venue, &api, &u, &s, "resume-1").await;
    venue.set_mark("BTCUSDT", dec!(43450));
    eventually("target 1 and the moved stop", || async {
        let p = position(&api, &u, &pos["id"]).await;
        let r = resting(&venue);
        (num(&p["stop_loss"]) == dec!(43043)
            && r.len() == 3
            && r[0] == ("STOP_MARKET".to_owned(), Some(dec!(0.116)), dec!(43043)))
            .then_some(())
    })
    .await;

    // Killed outright; target 2 fills while nobody listens.
    let (status, _) = bot.signal_and_wait("KILL");
    assert!(!status.success());
    venue.set_mark("BTCUSDT", dec!(43870));
    assert_eq!(
        venue.venue().accounts[BINANCE_KEY].positions["BTCUSDT"].amt,
        dec!(0.047)
    );

    // Back up: the venue says target 2 filled; the moved stop stays the
    // stop (no second one), and target 3 closes the rest.
    let bot = Spawned::start(&dir, &env);
    let api = Api::new(&bot);
    let token =
        json(api.login("resume@example.com", common::api::PASSWORD).await).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
    let u = Session { access: token, ..u };
    eventually("target 2 found filled", || async {
        let p = position(&api, &u, &pos["id"]).await;
        (num(&p["quantity"]) == dec!(0.047)).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        resting(&venue),
        vec![
            ("STOP_MARKET".to_owned(), Some(dec!(0.116)), dec!(43043)),
            (
                "TAKE_PROFIT_MARKET".to_owned(),
                Some(dec!(0.047)),
                dec!(44290)
            ),
        ],
        "the moved stop and the last target, nothing placed twice"
    );
    venue.set_mark("BTCUSDT", dec!(44300));
    let closed = until_closed(&api, &u, &pos["id"], "target 3 to close it").await;
    assert_eq!(closed["close_reason"], "take_profit");
    assert_eq!(num(&closed["quantity"]), dec!(0.232));
    let gross = num(&closed["realized_pnl"]) + num(&closed["fees"]);
    assert_eq!(gross.round_dp(2), dec!(173.33), "{closed}");
    eventually("nothing left on the venue", || async {
        resting(&venue).is_empty().then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_okx_ladder_rests_in_contracts_and_moves_its_stop() {
    use common::venues::{OKX_KEY, OKX_PASS, OKX_SECRET};
    use tradingbot_testkit::okx::LocalOkx;
    let binance = LocalBinance::start();
    let okx = LocalOkx::start();
    okx.add_account(OKX_KEY, OKX_SECRET, OKX_PASS, dec!(7000), true);
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &common::venues::polled(&binance, Some(&okx)));
    let api = Api::new(&bot);
    let u = api.user("okx-ladder@example.com").await;
    let account = common::api::venue_account(&api, &u, "okx").await;
    let s = json(
        api.post(
            "/strategies",
            Some(&u.access),
            json!({ "name": "OKX ladder", "symbol": "BTC-USDT-SWAP", "account_id": account,
                    "investment_pct": 20, "leverage": 5, "margin_mode": "cross",
                    "tp_levels": [{"gain_pct": 1, "size_pct": 50}, {"gain_pct": 2, "size_pct": 50}],
                    "break_even_after": 1 }),
        )
        .await,
    )
    .await;
    // 7,000 × 20 % × 5 / 43,000 = 16.27 contracts of 0.01 BTC: 8.13 at
    // +1 % (43,430), the rest, 8.14, at +2 % (43,860).
    let (status, body) = post_alert(&api, &s, alert(&s, "buy", "long", "okx-l1")).await;
    assert_eq!(status, 202, "{body}");
    let live = |okx: &LocalOkx| {
        let v = okx.venue();
        let mut out: Vec<(Option<Decimal>, Option<Decimal>, Option<Decimal>)> = v.accounts[OKX_KEY]
            .algos
            .iter()
            .filter(|a| a.state == "live")
            .map(|a| (a.sz, a.tp, a.sl))
            .collect();
        out.sort_by_key(|(_, tp, sl)| tp.or(*sl));
        out
    };
    eventually("the stop and both targets on OKX", || async {
        (live(&okx)
            == vec![
                (None, None, Some(dec!(42140))),
                (Some(dec!(8.13)), Some(dec!(43430)), None),
                (Some(dec!(8.14)), Some(dec!(43860)), None),
            ])
        .then_some(())
    })
    .await;
    let pos = json(api.get("/positions", &u.access).await).await[0].clone();

    okx.set_mark("BTC-USDT-SWAP", dec!(43450));
    eventually("target 1 and the stop at break-even, sized", || async {
        let p = position(&api, &u, &pos["id"]).await;
        (num(&p["quantity"]) == dec!(0.0814)
            && live(&okx)
                == vec![
                    (Some(dec!(8.14)), None, Some(dec!(43043))),
                    (Some(dec!(8.14)), Some(dec!(43860)), None),
                ])
        .then_some(())
    })
    .await;
    okx.set_mark("BTC-USDT-SWAP", dec!(43870));
    let closed = until_closed(&api, &u, &pos["id"], "target 2 to close it").await;
    assert_eq!(closed["close_reason"], "take_profit");
    assert_eq!(num(&closed["quantity"]), dec!(0.1627));
    // 0.0813 × 450 + 0.0814 × 870 = 36.585 + 70.818 = 107.403 before fees.
    let gross = num(&closed["realized_pnl"]) + num(&closed["fees"]);
    assert_eq!(gross.round_dp(3), dec!(107.403), "{closed}");
    eventually("nothing left on OKX", || async {
        live(&okx).is_empty().then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_binance_trailing_stop_arms_at_its_activation_and_fires_back_from_the_best_mark() {
    let venue = LocalBinance::start();
    venue.add_account(BINANCE_KEY, BINANCE_SECRET, dec!(10000));
    let (_tmp, dir) = workdir();
    let env = common::venues::polled(&venue, None);
    let bot = Spawned::start(&dir, &env);
    let api = Api::new(&bot);
    let u = api.user("trail@example.com").await;
    let account = common::api::venue_account(&api, &u, "binance").await;
    // Out-of-range callbacks are refused by name.
    let bad = api
        .post(
            "/strategies",
            Some(&u.access),
            json!({ "name": "t", "symbol": "BTCUSDT", "account_id": account, "trail_pct": 12 }),
        )
        .await;
    assert_eq!(bad.status(), 422);
    assert_eq!(json(bad).await["errors"][0]["field"], "trail_pct");
    let s = json(
        api.post(
            "/strategies",
            Some(&u.access),
            json!({ "name": "Trail", "symbol": "BTCUSDT", "account_id": account,
                    "investment_pct": 10, "leverage": 10, "long_sl_pct": 2,
                    "trail_pct": 1, "trail_activation_pct": 2 }),
        )
        .await,
    )
    .await;
    assert_eq!(
        (&s["trail_pct"], &s["trail_activation_pct"]),
        (&json!(1.0), &json!(2.0))
    );
    let (status, body) = post_alert(&api, &s, alert(&s, "buy", "long", "trail-1")).await;
    assert_eq!(status, 202, "{body}");
    // Beside the stop and the target: a TRAILING_STOP_MARKET for the
    // position, 1 % back, armed from 43,000 × 1.02 = 43,860.
    let trail = || {
        let v = venue.venue();
        v.accounts[BINANCE_KEY]
            .algos
            .iter()
            .find(|a| a.kind == "TRAILING_STOP_MARKET")
            .map(|a| {
                (
                    a.status.clone(),
                    a.qty,
                    a.callback,
                    a.activation,
                    a.reduce_only,
                )
            })
    };
    eventually("the trailing stop on the venue", || async {
        (trail()
            == Some((
                "NEW".to_owned(),
                Some(dec!(0.232)),
                Some(dec!(1)),
                Some(dec!(43860)),
                true,
            )))
        .then_some(())
    })
    .await;
    assert_eq!(resting(&venue).len(), 3, "stop, target and trailing stop");
    // A restart finds the trailing stop resting and places nothing again.
    let (status, _) = bot.signal_and_wait("TERM");
    assert!(status.success());
    let bot = Spawned::start(&dir, &env);
    let api = Api::new(&bot);
    let token =
        json(api.login("trail@example.com", common::api::PASSWORD).await).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
    let u = Session { access: token, ..u };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let trails = venue.venue().accounts[BINANCE_KEY]
        .algos
        .iter()
        .filter(|a| a.kind == "TRAILING_STOP_MARKET")
        .count();
    assert_eq!(
        (trails, resting(&venue).len()),
        (1, 3),
        "nothing placed twice"
    );
    let pos = json(api.get("/positions", &u.access).await).await[0].clone();

    // Under the activation nothing follows; from 44,000 it follows up to
    // 44,800 and fires 1 % back, at 44,352 or below.
    for mark in [
        dec!(43500),
        dec!(43100),
        dec!(44000),
        dec!(44800),
        dec!(44400),
    ] {
        venue.set_mark("BTCUSDT", mark);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(position(&api, &u, &pos["id"]).await["status"], "OPEN");
    venue.set_mark("BTCUSDT", dec!(44350));
    let closed = until_closed(&api, &u, &pos["id"], "the trailing stop to close it").await;
    assert_eq!(closed["close_reason"], "trailing_stop");
    assert_eq!(num(&closed["exit_price"]), dec!(44350));
    eventually("the stop and target cancelled", || async {
        resting(&venue).is_empty().then_some(())
    })
    .await;
    // The history filters by the new reason.
    let h = json(
        api.get("/positions/history?close_reason=trailing_stop", &u.access)
            .await,
    )
    .await;
    assert_eq!(h["total"], 1, "{h}");
}

#[tokio::test]
async fn an_okx_trailing_stop_follows_a_short_from_its_entry() {
    use common::venues::{OKX_KEY, OKX_PASS, OKX_SECRET};
    use tradingbot_testkit::okx::LocalOkx;
    let binance = LocalBinance::start();
    let okx = LocalOkx::start();
    okx.add_account(OKX_KEY, OKX_SECRET, OKX_PASS, dec!(7000), true);
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &common::venues::polled(&binance, Some(&okx)));
    let api = Api::new(&bot);
    let u = api.user("okx-trail@example.com").await;
    let account = common::api::venue_account(&api, &u, "okx").await;
    let s = json(
        api.post(
            "/strategies",
            Some(&u.access),
            json!({ "name": "OKX trail", "symbol": "BTC-USDT-SWAP", "account_id": account,
                    "investment_pct": 20, "leverage": 5, "trail_pct": 1 }),
        )
        .await,
    )
    .await;
    let (status, body) = post_alert(&api, &s, alert(&s, "sell", "short", "okx-t1")).await;
    assert_eq!(status, 202, "{body}");
    // A move_order_stop for the 16.27 contracts, 0.01 back, following at once.
    let trail = |okx: &LocalOkx| {
        let v = okx.venue();
        v.accounts[OKX_KEY]
            .algos
            .iter()
            .find(|a| a.callback.is_some())
            .map(|a| {
                (
                    a.state.clone(),
                    a.sz,
                    a.callback,
                    a.active_px,
                    a.side.clone(),
                )
            })
    };
    eventually("the trailing stop on OKX", || async {
        (trail(&okx)
            == Some((
                "live".to_owned(),
                Some(dec!(16.27)),
                Some(dec!(0.01)),
                None,
                "buy".to_owned(),
            )))
        .then_some(())
    })
    .await;
    let pos = json(api.get("/positions", &u.access).await).await[0].clone();
    // Best 42,000: fires at 42,420 (1 % up from it).
    okx.set_mark("BTC-USDT-SWAP", dec!(42000));
    okx.set_mark("BTC-USDT-SWAP", dec!(42400));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(position(&api, &u, &pos["id"]).await["status"], "OPEN");
    okx.set_mark("BTC-USDT-SWAP", dec!(42420));
    let closed = until_closed(&api, &u, &pos["id"], "the trailing stop to close it").await;
    assert_eq!(closed["close_reason"], "trailing_stop");
    eventually("nothing left on OKX", || async {
        let v = okx.venue();
        (!v.accounts[OKX_KEY].algos.iter().any(|a| a.state == "live")).then_some(())
    })
    .await;
}
