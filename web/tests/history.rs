//! The history page's lists over HTTP, on SQLite and on PostgreSQL: the
//! position history filtered by side, exchange and close reason and sorted
//! four ways, orders and signals by date range and symbol, each walked page
//! by page with its cursor and checked against the rows written — including
//! ties on the sort key, PnL that would sort wrong as text, and a position
//! closing while a reader is between pages.

mod common;

use chrono::{DateTime, Duration as Span, Utc};
use common::api::{Api, json_of};
use common::*;
use rust_decimal::Decimal;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::Value;
use std::cmp::Reverse;
use tradingbot_actors::snapshots::snapshot_day;
use tradingbot_actors::store::DbDecimal;
use tradingbot_actors::store::entities::{orders, performances, positions, signals};
use tradingbot_actors::store::enums::{
    MarginMode, OrderLeg, OrderSide, OrderStatus, OrderType, PositionSide, PositionStatus,
    SignalOutcome,
};

const EXCHANGES: [&str; 3] = ["binance", "okx", "paper"];
const REASONS: [&str; 4] = ["stop_loss", "take_profit", "signal", "manual"];

/// Which rows a filter should select.
type Keep = Box<dyn Fn(&Closed) -> bool>;

/// An order written: id, time, symbol.
type OrderRow = (i64, DateTime<Utc>, &'static str);

#[derive(Clone)]
struct Closed {
    id: i64,
    side: &'static str,
    exchange: &'static str,
    reason: &'static str,
    symbol: &'static str,
    closed_at: DateTime<Utc>,
    pnl: Decimal,
}

fn base() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-01T00:00:00.123456Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn closed_row(i: i64) -> Closed {
    Closed {
        id: 1_000_000 + i,
        side: if i % 2 == 0 { "long" } else { "short" },
        exchange: EXCHANGES[(i % 3) as usize],
        reason: REASONS[(i % 4) as usize],
        symbol: if i % 5 == 0 { "ETHUSDT" } else { "BTCUSDT" },
        // Pairs close at the same instant: the id breaks the tie.
        closed_at: base() + Span::hours(7 * (i / 2)),
        // −16.5 … +16.5 with repeats; 10.5 against 9 sorts wrong as text.
        pnl: Decimal::new((i * 37) % 23 - 11, 0) * Decimal::new(15, 1),
    }
}

async fn insert_position(conn: &sea_orm::DatabaseConnection, user: i64, c: &Closed) {
    let d = |v: i64| DbDecimal(Decimal::from(v));
    positions::ActiveModel {
        id: Set(c.id),
        user_id: Set(user),
        strategy_id: Set(None),
        account_id: Set(None),
        exchange: Set(c.exchange.into()),
        symbol: Set(c.symbol.into()),
        side: Set(if c.side == "long" {
            PositionSide::Long
        } else {
            PositionSide::Short
        }),
        entry_price: Set(d(90_000)),
        quantity: Set(DbDecimal(Decimal::new(1, 3))),
        leverage: Set(3),
        margin_mode: Set(MarginMode::Isolated),
        stop_loss: Set(None),
        take_profit: Set(None),
        liquidation_price: Set(None),
        unrealized_pnl: Set(d(0)),
        realized_pnl: Set(DbDecimal(c.pnl)),
        fees: Set(d(0)),
        exit_price: Set(Some(d(91_000))),
        close_reason: Set(Some(c.reason.into())),
        status: Set(PositionStatus::Closed),
        opened_at: Set(c.closed_at - Span::hours(1)),
        closed_at: Set(Some(c.closed_at)),
        updated_at: Set(c.closed_at),
    }
    .insert(conn)
    .await
    .unwrap();
}

fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{page}"))
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect()
}

/// Every id of a list, following `next_cursor` from the first page.
async fn walk(api: &Api<'_>, token: &str, query: &str, per_page: u64) -> Vec<i64> {
    let sep = if query.contains('?') { '&' } else { '?' };
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for n in 0.. {
        let url = match &cursor {
            None => format!("{query}{sep}per_page={per_page}"),
            Some(c) => format!("{query}{sep}per_page={per_page}&cursor={c}"),
        };
        let res = api.get(&url, token).await;
        let status = res.status();
        let page = json_of(res).await;
        assert_eq!(status, 200, "{url}: {page}");
        let got = ids(&page);
        assert!(got.len() as u64 <= per_page, "{page}");
        if n == 0 {
            assert_eq!(page["page"], 1, "{page}");
        } else {
            assert!(page["page"].is_null(), "{page}");
        }
        all.extend(got);
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(
            n < 100,
            "the cursor never ends: {url} {:?}",
            &all[all.len().saturating_sub(20)..]
        );
    }
    all
}

fn expect(rows: &[Closed], keep: impl Fn(&Closed) -> bool, sort: &str) -> Vec<i64> {
    let mut v: Vec<&Closed> = rows.iter().filter(|r| keep(r)).collect();
    match sort {
        "closed_at_desc" => v.sort_by_key(|r| Reverse((r.closed_at, r.id))),
        "closed_at_asc" => v.sort_by_key(|r| (r.closed_at, r.id)),
        "pnl_desc" => v.sort_by_key(|r| Reverse((r.pnl, r.id))),
        "pnl_asc" => v.sort_by_key(|r| (r.pnl, r.id)),
        other => panic!("{other}"),
    }
    v.into_iter().map(|r| r.id).collect()
}

async fn code_of(api: &Api<'_>, token: &str, url: &str) -> (u16, Value) {
    let res = api.get(url, token).await;
    let status = res.status().as_u16();
    (status, json_of(res).await)
}

async fn lists_walk_filter_and_keep_their_place(db: &TestDatabase, backend: &str) {
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(
        &dir,
        &[
            ("DATABASE_URL", db.url.as_str()),
            ("TRADINGBOT_RATE_LIMIT_USER", "100000"),
            ("TRADINGBOT_RATE_LIMIT_IP", "100000"),
        ],
    );
    let api = Api::new(&bot);
    let u = api.user("history@example.com").await;
    let other = api.user("other@example.com").await;
    let store = db.connect().await.unwrap();
    let conn = store.conn();

    let rows: Vec<Closed> = (0..57).map(closed_row).collect();
    for r in &rows {
        insert_position(conn, u.id, r).await;
    }

    // Four orders, walked with pages of 7: every row once, in order.
    for sort in ["closed_at_desc", "closed_at_asc", "pnl_desc", "pnl_asc"] {
        let got = walk(
            &api,
            &u.access,
            &format!("/positions/history?sort={sort}"),
            7,
        )
        .await;
        assert_eq!(got, expect(&rows, |_| true, sort), "{backend} sort={sort}");
    }
    let first = json_of(api.get("/positions/history?per_page=10", &u.access).await).await;
    assert_eq!(first["total"], 57);
    assert_eq!(first["items"][0]["close_reason"], rows[56].reason);
    // The default order is last closed first.
    assert_eq!(
        ids(&first),
        expect(&rows, |_| true, "closed_at_desc")[..10].to_vec()
    );

    // Filters, in any case and spelling, alone and together.
    let cases: Vec<(&str, Keep, &str)> = vec![
        (
            "side=SHORT&exchange=okx",
            Box::new(|r: &Closed| r.side == "short" && r.exchange == "okx"),
            "closed_at_desc",
        ),
        (
            "close_reason=stop_loss&sort=pnl_asc",
            Box::new(|r: &Closed| r.reason == "stop_loss"),
            "pnl_asc",
        ),
        (
            "symbol=eth/usdt&sort=pnl_desc",
            Box::new(|r: &Closed| r.symbol == "ETHUSDT"),
            "pnl_desc",
        ),
        (
            "from=2026-11-03&to=2026-11-05&side=long&sort=closed_at_asc",
            Box::new(|r: &Closed| {
                let day = r.closed_at.date_naive().to_string();
                r.side == "long" && ("2026-11-03".."2026-11-06").contains(&day.as_str())
            }),
            "closed_at_asc",
        ),
    ];
    for (query, keep, sort) in &cases {
        let want = expect(&rows, keep, sort);
        assert!(!want.is_empty(), "{query} selects nothing");
        let got = walk(&api, &u.access, &format!("/positions/history?{query}"), 3).await;
        assert_eq!(got, want, "{backend} {query}");
        let page = json_of(
            api.get(&format!("/positions/history?{query}"), &u.access)
                .await,
        )
        .await;
        assert_eq!(page["total"], want.len(), "{query}");
    }

    // A position closes while the reader is between pages: the cursor goes
    // on where it was — nothing repeated, nothing skipped.
    let page1 = json_of(api.get("/positions/history?per_page=5", &u.access).await).await;
    let late = Closed {
        id: 2_000_000,
        closed_at: Utc::now(),
        ..closed_row(3)
    };
    insert_position(conn, u.id, &late).await;
    let mut seen = ids(&page1);
    let mut cursor = page1["next_cursor"].as_str().unwrap().to_owned();
    loop {
        let page = json_of(
            api.get(
                &format!("/positions/history?per_page=5&cursor={cursor}"),
                &u.access,
            )
            .await,
        )
        .await;
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, expect(&rows, |_| true, "closed_at_desc"), "{backend}");

    // The daily performance bars carry the summary's names and the very
    // numbers of the service's own day-end snapshots.
    let mut snapshots = std::collections::BTreeMap::new();
    for day in base().date_naive().iter_days().take(30) {
        snapshot_day(&store, day).await.unwrap();
    }
    for row in performances::Entity::find()
        .filter(performances::Column::UserId.eq(u.id))
        .all(conn)
        .await
        .unwrap()
    {
        snapshots.insert(row.date.to_string(), row);
    }
    // The closes span nine days.
    assert_eq!(snapshots.len(), 9, "{backend}");
    let daily = json_of(
        api.get(
            "/performance/daily?from=2026-11-01&to=2026-11-30",
            &u.access,
        )
        .await,
    )
    .await;
    let bars = daily["items"].as_array().unwrap();
    assert_eq!(bars.len(), 30);
    for bar in bars {
        let date = bar["date"].as_str().unwrap();
        let Some(snap) = snapshots.get(date) else {
            assert_eq!(bar["total_trades"], 0, "{date}");
            continue;
        };
        assert_eq!(bar["total_trades"], snap.total_trades, "{date}");
        let pnl: Decimal = bar["total_pnl"].to_string().parse().unwrap();
        assert_eq!(pnl, snap.total_pnl.get(), "{date}");
        assert_eq!(bar["win_rate"].as_f64().unwrap(), snap.win_rate, "{date}");
        assert!(
            (bar["roi"].as_f64().unwrap() - snap.roi).abs() < 1e-9,
            "{date}"
        );
        match (bar["sharpe_ratio"].as_f64(), snap.sharpe_ratio) {
            (Some(a), Some(b)) => assert!((a - b).abs() < 1e-9, "{date}: {a} {b}"),
            (a, b) => assert_eq!(a, b, "{date}"),
        }
    }

    // Orders: ties on the time, a date range and a symbol in any spelling.
    let mut order_rows: Vec<OrderRow> = Vec::new();
    for i in 0..23i64 {
        let at = base() + Span::hours(5 * (i / 2));
        let symbol = if i % 3 == 0 { "ETHUSDT" } else { "BTCUSDT" };
        orders::ActiveModel {
            id: Set(3_000_000 + i),
            user_id: Set(u.id),
            position_id: Set(None),
            strategy_id: Set(None),
            signal_id: Set(None),
            account_id: Set(None),
            exchange: Set("binance".into()),
            order_id: Set(Some(format!("{}", 7_000 + i))),
            client_order_id: Set(format!("history-{i}")),
            leg: Set(OrderLeg::Entry),
            symbol: Set(symbol.into()),
            side: Set(OrderSide::Buy),
            order_type: Set(OrderType::Market),
            price: Set(None),
            trigger_price: Set(None),
            quantity: Set(DbDecimal(Decimal::new(1, 3))),
            filled_qty: Set(DbDecimal(Decimal::new(1, 3))),
            avg_fill_price: Set(None),
            fee: Set(DbDecimal(Decimal::ZERO)),
            fee_asset: Set(None),
            reduce_only: Set(false),
            status: Set(OrderStatus::Filled),
            error_code: Set(None),
            error_message: Set(None),
            created_at: Set(at),
            updated_at: Set(at),
            filled_at: Set(Some(at)),
        }
        .insert(conn)
        .await
        .unwrap();
        order_rows.push((3_000_000 + i, at, symbol));
    }
    let by_time = |keep: &dyn Fn(&OrderRow) -> bool| {
        let mut v: Vec<_> = order_rows.iter().filter(|r| keep(r)).collect();
        v.sort_by_key(|r| Reverse((r.1, r.0)));
        v.into_iter().map(|r| r.0).collect::<Vec<_>>()
    };
    assert_eq!(
        walk(&api, &u.access, "/orders", 4).await,
        by_time(&|_| true),
        "{backend} orders"
    );
    let day_from = base() + Span::hours(10);
    let day_to = base() + Span::hours(40);
    let query = format!(
        "/orders?symbol=BTC-USDT-SWAP&from={}&to={}",
        day_from.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        day_to.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    );
    let want = by_time(&|r| r.2 == "BTCUSDT" && r.1 >= day_from && r.1 < day_to);
    assert!(!want.is_empty());
    assert_eq!(walk(&api, &u.access, &query, 2).await, want, "{query}");

    // Signals: newest first by id, by outcome, symbol and day.
    let mut signal_rows = Vec::new();
    for i in 0..19i64 {
        let at = base() + Span::hours(13 * i);
        let outcome = [
            SignalOutcome::Accepted,
            SignalOutcome::Rejected,
            SignalOutcome::Duplicate,
        ][(i % 3) as usize];
        let symbol = if i % 2 == 0 { "ETHUSDT" } else { "BTCUSDT" };
        signals::ActiveModel {
            id: Set(4_000_000 + i),
            user_id: Set(Some(u.id)),
            strategy_id: Set(None),
            signal_key: Set(format!("history-{i}")),
            action: Set(Some("long".into())),
            symbol: Set(Some(symbol.into())),
            price: Set(None),
            outcome: Set(outcome),
            reason: Set(None),
            latency_us: Set(100),
            source_ip: Set(None),
            received_at: Set(at),
        }
        .insert(conn)
        .await
        .unwrap();
        signal_rows.push((4_000_000 + i, at, symbol, outcome));
    }
    let newest: Vec<i64> = signal_rows.iter().rev().map(|r| r.0).collect();
    assert_eq!(walk(&api, &u.access, "/signals", 6).await, newest);
    let want: Vec<i64> = signal_rows
        .iter()
        .rev()
        .filter(|r| {
            r.3 == SignalOutcome::Rejected
                && r.2 == "ETHUSDT"
                && r.1 >= base() + Span::days(2)
                && r.1 < base() + Span::days(8) - Span::microseconds(123_456)
        })
        .map(|r| r.0)
        .collect();
    assert!(!want.is_empty());
    assert_eq!(
        walk(
            &api,
            &u.access,
            "/signals?outcome=rejected&symbol=ethusdt&from=2026-11-03&to=2026-11-08",
            1
        )
        .await,
        want
    );

    // Wrong cursors, orders and words are refused with the field named.
    let orders_cursor =
        json_of(api.get("/orders?per_page=1", &u.access).await).await["next_cursor"]
            .as_str()
            .unwrap()
            .to_owned();
    let pnl_cursor = json_of(
        api.get("/positions/history?per_page=1&sort=pnl_desc", &u.access)
            .await,
    )
    .await["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    for (url, field) in [
        (
            format!("/positions/history?cursor={orders_cursor}"),
            "cursor",
        ),
        (format!("/positions/history?cursor={pnl_cursor}"), "cursor"),
        (format!("/signals?cursor={orders_cursor}"), "cursor"),
        (format!("/orders?page=2&cursor={orders_cursor}"), "cursor"),
        ("/orders?cursor=bm90IGEgY3Vyc29y".to_owned(), "cursor"),
        ("/positions/history?sort=newest".to_owned(), "sort"),
        ("/positions/history?side=up".to_owned(), "side"),
        ("/positions/history?exchange=bybit".to_owned(), "exchange"),
        (
            "/positions/history?close_reason=bored".to_owned(),
            "close_reason",
        ),
        ("/orders?from=2026-11-05&to=2026-11-04".to_owned(), "to"),
        ("/signals?symbol=%21%21".to_owned(), "symbol"),
        ("/signals?per_page=0".to_owned(), "per_page"),
    ] {
        let (status, body) = code_of(&api, &u.access, &url).await;
        assert_eq!(status, 422, "{url}: {body}");
        assert_eq!(body["code"], "validation_failed", "{url}: {body}");
        assert_eq!(body["errors"][0]["field"], field, "{url}: {body}");
    }

    // Someone else's lists stay empty, whatever the cursor says.
    for list in ["/positions/history", "/orders", "/signals"] {
        let page = json_of(api.get(list, &other.access).await).await;
        assert_eq!(page["total"], 0, "{list}: {page}");
        assert!(page["next_cursor"].is_null());
    }
    let page = json_of(
        api.get(&format!("/orders?cursor={orders_cursor}"), &other.access)
            .await,
    )
    .await;
    assert!(ids(&page).is_empty(), "{page}");

    drop(store);
    let (status, output) = bot.signal_and_wait("TERM");
    assert!(status.success(), "{output}");
}

#[tokio::test]
async fn the_history_lists_walk_filter_and_keep_their_place_on_sqlite() {
    let db = TestDatabase::sqlite();
    lists_walk_filter_and_keep_their_place(&db, "sqlite").await;
    announce("history on SQLite: 4 sorts, 4 filter sets, orders and signals walked by cursor");
}

#[tokio::test]
async fn the_history_lists_walk_filter_and_keep_their_place_on_postgres() {
    let Some(db) = TestDatabase::postgres().await else {
        return announce_skip(
            "the_history_lists_walk_filter_and_keep_their_place_on_postgres",
            "TEST_DATABASE_URL",
        );
    };
    lists_walk_filter_and_keep_their_place(&db, "postgres").await;
    db.cleanup().await;
    announce("history on PostgreSQL: 4 sorts, 4 filter sets, orders and signals walked by cursor");
}
