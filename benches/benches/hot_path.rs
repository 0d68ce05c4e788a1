//! Webhook body → signed order bytes, in process, with the functions the
//! live path uses: parse and authenticate the alert, check its age, size
//! the entry, place its stop and target on the tick grid, pass the risk
//! ledger, and build and sign Binance's order request. Reports criterion's
//! estimate and, separately, p50/p99/p99.9 over single runs.

use criterion::{Criterion, criterion_group, criterion_main};
use rust_decimal::Decimal;
use std::hint::black_box;
use std::time::Instant;
use tradingbot_benches::percentiles;
use tradingbot_core::exchange::binance::rest;
use tradingbot_core::exchange::binance::sign::BinanceSigner;
use tradingbot_core::exchange::instrument::InstrumentRules;
use tradingbot_core::exchange::{
    ClientOrderId, Leg, OrderKind, OrderRequest, OrderSize, PositionSide,
};
use tradingbot_core::risk::{EntryCheck, RiskLedger, RiskLimits};
use tradingbot_core::signal::Alert;
use tradingbot_core::sizing;

const SECRET: &str = "k3Jd8vQpL2mN7xR4tY9wZ1aB6cE5fG0h";
const NOW_MS: i64 = 1_795_000_000_000;

fn btc() -> InstrumentRules {
    InstrumentRules {
        symbol: "BTCUSDT".into(),
        base_asset: "BTC".into(),
        quote_asset: "USDT".into(),
        tick_size: Decimal::new(1, 1),
        min_price: Decimal::new(26110, 2),
        max_price: Decimal::from(809_484),
        step_size: Decimal::new(1, 3),
        min_qty: Decimal::new(1, 3),
        max_qty: Decimal::from(1000),
        market_step_size: Decimal::new(1, 3),
        market_min_qty: Decimal::new(1, 3),
        market_max_qty: Decimal::from(120),
        min_notional: Decimal::from(100),
        contract_value: Decimal::ONE,
        max_leverage: Some(125),
    }
}

fn body(i: u64) -> Vec<u8> {
    format!(
        r#"{{"secret":"{SECRET}","action":"buy","market_position":"long","symbol":"BTCUSDT.P","price":"43210.5","timestamp":"2026-11-18T11:06:40Z","id":"Long-{i}"}}"#
    )
    .into_bytes()
}

struct Ctx {
    rules: InstrumentRules,
    signer: BinanceSigner,
    limits: RiskLimits,
    ledger: RiskLedger,
}

/// One alert, from its bytes to the signed query Binance receives.
fn alert_to_signed_order(ctx: &mut Ctx, body: &[u8]) -> String {
    let alert = Alert::parse(body).expect("a valid alert");
    assert!(alert.secret_matches(SECRET.as_bytes()));
    alert.check_fresh(NOW_MS).expect("fresh");
    let price = Decimal::new(432_105, 1);
    let size = sizing::entry_size(Decimal::from(10_000), Decimal::TEN, 3, price, &ctx.rules)
        .expect("sized");
    let protection = sizing::protection(
        PositionSide::Long,
        price,
        Decimal::from(5),
        Decimal::TWO,
        &ctx.rules,
    );
    ctx.ledger
        .check_entry(
            &ctx.limits,
            false,
            EntryCheck {
                leverage: 3,
                notional: size.notional,
                equity: Decimal::from(10_000),
                now_ms: NOW_MS,
            },
        )
        .expect("allowed");
    black_box(protection);
    let order = OrderRequest {
        client_id: ClientOrderId::derive(7, 115_000_000_000_000, Leg::Entry),
        symbol: "BTCUSDT".into(),
        side: PositionSide::Long.entry_side(),
        kind: OrderKind::Market,
        size: OrderSize::Base(size.base_qty),
        reduce_only: false,
        attach: None,
    };
    let req = rest::new_order(&order, &ctx.rules, price).expect("valid");
    req.query(Some(&ctx.signer), NOW_MS)
}

fn ctx() -> Ctx {
    Ctx {
        rules: btc(),
        signer: BinanceSigner::new(
            "bench-key",
            b"bench-secret-of-64-bytes-for-hmac-sha256-bench-secret-of-64-b",
        ),
        limits: RiskLimits::default(),
        ledger: RiskLedger::default(),
    }
}

fn bench(c: &mut Criterion) {
    let bodies: Vec<Vec<u8>> = (0..1024).map(body).collect();
    let mut ctx = ctx();

    // Single-run percentiles first (criterion reports means).
    let mut samples = Vec::with_capacity(100_000);
    for i in 0..100_000 {
        let b = &bodies[i % bodies.len()];
        let t = Instant::now();
        black_box(alert_to_signed_order(&mut ctx, b));
        samples.push(t.elapsed());
    }
    println!(
        "alert → signed Binance order (single runs): {}",
        percentiles(&mut samples)
    );

    let mut i = 0usize;
    c.bench_function("alert_to_signed_binance_order", |b| {
        b.iter(|| {
            i = (i + 1) % bodies.len();
            alert_to_signed_order(&mut ctx, &bodies[i])
        })
    });
    c.bench_function("parse_and_authenticate_alert", |b| {
        b.iter(|| {
            let a = Alert::parse(black_box(&bodies[7])).unwrap();
            a.secret_matches(SECRET.as_bytes())
        })
    });
    let signer = BinanceSigner::new("k", b"s");
    c.bench_function("sign_binance_query_158_bytes", |b| {
        let q = "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.069&newClientOrderId=tb7x13k4v2tzb4ge&newOrderRespType=RESULT&recvWindow=5000&timestamp=1795000000000";
        b.iter(|| signer.sign(black_box(q)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
