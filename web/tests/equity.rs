//! The asset chart: the running binary snapshots every account's equity at
//! each boundary from its balance book, and `GET /dashboard/equity` folds
//! the snapshots into a curve — an account that missed a snapshot carried
//! at its last value — while the summary's 24-hour change reads them too.

mod common;

use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use common::api::{Api, json_of};
use common::*;
use rust_decimal::Decimal;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tradingbot_actors::store::DbDecimal;
use tradingbot_actors::store::entities::equity_snapshots;

fn dec(v: &Value) -> Decimal {
    match v {
        Value::String(s) => s.parse().unwrap(),
        other => other.to_string().parse().unwrap(),
    }
}

async fn put(
    conn: &sea_orm::DatabaseConnection,
    user: i64,
    account: i64,
    at: DateTime<Utc>,
    equity: i64,
) {
    equity_snapshots::ActiveModel {
        user_id: Set(user),
        account_id: Set(account),
        taken_at: Set(at),
        wallet_balance: Set(DbDecimal(Decimal::from(equity - 5))),
        unrealized_pnl: Set(DbDecimal(Decimal::from(5))),
        equity: Set(DbDecimal(Decimal::from(equity))),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(conn)
    .await
    .unwrap();
}

#[tokio::test]
async fn equity_snapshots_feed_the_asset_chart() {
    let db = TestDatabase::sqlite();
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(
        &dir,
        &[
            ("DATABASE_URL", db.url.as_str()),
            ("TRADINGBOT_EQUITY_SNAPSHOT_SECS", "2"),
            ("TRADINGBOT_BALANCE_REFRESH_SECS", "1"),
        ],
    );
    let api = Api::new(&bot);
    let u = api.user("equity@example.com").await;
    let other = api.user("equity-other@example.com").await;
    let mut accounts = Vec::new();
    for _ in 0..2 {
        let a = json_of(
            api.post(
                "/accounts/register",
                Some(&u.access),
                json!({ "exchange": "paper" }),
            )
            .await,
        )
        .await;
        accounts.push(a["id"].as_i64().unwrap());
    }
    let (a, b) = (accounts[0], accounts[1]);
    let store = db.connect().await.unwrap();
    let conn = store.conn();

    // The binary writes a row per account at each 2-second boundary.
    let deadline = Instant::now() + Duration::from_secs(20);
    let live = loop {
        let rows = equity_snapshots::Entity::find()
            .filter(equity_snapshots::Column::AccountId.eq(a))
            .order_by_asc(equity_snapshots::Column::TakenAt)
            .all(conn)
            .await
            .unwrap();
        if rows.len() >= 3 {
            break rows;
        }
        assert!(Instant::now() < deadline, "{} snapshots", rows.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for w in live.windows(2) {
        assert!(w[0].taken_at < w[1].taken_at, "one row per boundary");
    }
    for r in &live {
        assert_eq!(r.taken_at.timestamp() % 2, 0, "{}", r.taken_at);
        assert_eq!(r.taken_at.timestamp_subsec_nanos(), 0);
        assert_eq!(r.equity.get(), Decimal::from(10_000));
        assert_eq!(r.user_id, u.id);
    }

    // History: A every hour, B every 6 hours (it "missed" the others).
    let start = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let mut want: Vec<(DateTime<Utc>, i64, i64)> = Vec::new();
    for h in 0..72i64 {
        let at = start + Span::hours(h);
        put(conn, u.id, a, at, 10_000 + h).await;
        want.push((at, a, 10_000 + h));
        if h % 6 == 0 {
            put(conn, u.id, b, at, 5_000 - 10 * h).await;
            want.push((at, b, 5_000 - 10 * h));
        }
    }
    // The total as of a moment: each account's last snapshot by then.
    let as_of = |end: DateTime<Utc>| -> Decimal {
        [a, b]
            .iter()
            .filter_map(|acc| {
                want.iter()
                    .filter(|(at, x, _)| x == acc && *at < end)
                    .max_by_key(|(at, _, _)| *at)
                    .map(|(_, _, e)| Decimal::from(*e))
            })
            .sum()
    };
    let daily = json_of(
        api.get(
            "/dashboard/equity?from=2026-11-01&to=2026-11-03&interval=1d",
            &u.access,
        )
        .await,
    )
    .await;
    assert_eq!(daily["interval"], "1d");
    assert_eq!(daily["currency"], "USDT");
    let points = daily["points"].as_array().unwrap();
    assert_eq!(points.len(), 3, "{daily}");
    for (i, p) in points.iter().enumerate() {
        let day = start + Span::days(i as i64);
        assert_eq!(p["time"], json!(day), "{p}");
        assert_eq!(dec(&p["equity"]), as_of(day + Span::days(1)), "{p}");
    }
    let first = dec(&points[0]["equity"]);
    let last = dec(&points[2]["equity"]);
    assert_eq!(dec(&daily["change"]), last - first);

    // Every 4 hours: B carried between its 6-hourly snapshots.
    let four = json_of(
        api.get(
            "/dashboard/equity?from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z&interval=4h",
            &u.access,
        )
        .await,
    )
    .await;
    let points = four["points"].as_array().unwrap();
    assert_eq!(points.len(), 6, "{four}");
    for (i, p) in points.iter().enumerate() {
        let end = start + Span::hours(4 * (i as i64 + 1));
        assert_eq!(dec(&p["equity"]), as_of(end), "{p}");
        assert_eq!(p["accounts"].as_array().unwrap().len(), 2, "{p}");
        let sum: Decimal = p["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| dec(&x["equity"]))
            .sum();
        assert_eq!(sum, dec(&p["equity"]));
        assert_eq!(
            dec(&p["wallet_balance"]) + dec(&p["unrealized_pnl"]),
            dec(&p["equity"])
        );
    }

    // The summary's change over a day reads the snapshots of a day ago.
    let day_ago = Utc::now() - Span::hours(25);
    put(conn, u.id, a, day_ago, 9_000).await;
    put(conn, u.id, b, day_ago, 4_000).await;
    let summary = json_of(api.get("/dashboard/summary", &u.access).await).await;
    let total = dec(&summary["total_equity"]);
    assert_eq!(total, Decimal::from(20_000), "{summary}");
    assert_eq!(dec(&summary["equity_change_24h"]), Decimal::from(7_000));
    let pct = dec(&summary["equity_change_24h_pct"]);
    assert_eq!(
        pct,
        (Decimal::from(7_000) / Decimal::from(13_000) * Decimal::ONE_HUNDRED).round_dp(4)
    );

    // Bad ranges are refused with the field named; others see nothing.
    for (url, field) in [
        ("/dashboard/equity?interval=2h", "interval"),
        ("/dashboard/equity?from=2026-11-05&to=2026-11-01", "to"),
        ("/dashboard/equity?from=2000-01-01&interval=1h", "from"),
        ("/dashboard/equity?from=yesterday", "from"),
    ] {
        let res = api.get(url, &u.access).await;
        assert_eq!(res.status(), 422, "{url}");
        let body = json_of(res).await;
        assert_eq!(body["errors"][0]["field"], field, "{url}: {body}");
    }
    let theirs = json_of(
        api.get(
            "/dashboard/equity?from=2026-11-01&to=2026-11-03",
            &other.access,
        )
        .await,
    )
    .await;
    assert_eq!(theirs["points"], json!([]), "{theirs}");
    let unauth = api.get("/dashboard/equity", "nope").await;
    assert_eq!(unauth.status(), 401);

    drop(store);
    let (status, output) = bot.signal_and_wait("TERM");
    assert!(status.success(), "{output}");
    announce("equity: snapshots every boundary, a daily and 4-hourly curve, the 24-hour change");
}
