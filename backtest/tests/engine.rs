//! The engine on a worked example computed by hand, on the conservative
//! intrabar rules, and on properties that must hold for any market:
//! money conserved, fees on every fill, no look-ahead, never below zero.

use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use tradingbot_backtest::engine::{ExitReason, Fill, Series, Settings, run, run_with};
use tradingbot_core::exchange::PositionSide;
use tradingbot_core::market::candle::Candle;
use tradingbot_core::templates::{self, Signal};

const DAY: i64 = 86_400_000;

fn candle(i: i64, o: Decimal, h: Decimal, l: Decimal, c: Decimal) -> Candle {
    Candle {
        time_ms: 1_700_000_000_000 / DAY * DAY + i * DAY,
        open: o,
        high: h,
        low: l,
        close: c,
        volume: dec!(1),
    }
}

fn settings() -> Settings {
    Settings {
        investment_pct: dec!(10),
        leverage: 2,
        long_tp_pct: dec!(10),
        long_sl_pct: dec!(5),
        short_tp_pct: dec!(5),
        short_sl_pct: dec!(5),
        fee_rate: dec!(0.001),
        ..Settings::defaults()
    }
}

#[test]
fn a_worked_example() {
    let candles = [
        candle(0, dec!(100), dec!(101), dec!(99), dec!(100)),
        candle(1, dec!(100), dec!(104), dec!(98), dec!(103)),
        candle(2, dec!(103), dec!(111), dec!(102), dec!(108)),
        candle(3, dec!(108), dec!(109), dec!(100), dec!(101)),
        candle(4, dec!(101), dec!(102), dec!(100), dec!(101)),
    ];
    let script = |i: usize, _: &_| match i {
        0 => Some(Signal::Long),
        2 => Some(Signal::Short),
        _ => None,
    };
    let o = run_with(&Series::new(candles.to_vec()), script, &settings());
    // Long at bar 1's open, 100: $10,000 × 10 % × 2 = $2,000 → 20 units, fee 2.
    // TP 110 reached in bar 2: +200, exit fee 2.2 → net 195.8, wallet 10,195.8.
    // Short at bar 3's open, 108: 10,195.8 × 10 % × 2 / 108 = 18.8811… → 18.881,
    // fee 2.039148; TP 102.6 reached in bar 3: +101.9574, exit fee 1.9371906.
    assert_eq!(o.trades.len(), 2);
    let (a, b) = (&o.trades[0], &o.trades[1]);
    assert_eq!(
        (a.side, a.entry_price, a.quantity),
        (PositionSide::Long, dec!(100), dec!(20))
    );
    assert_eq!(
        (a.exit_price, a.exit_reason),
        (dec!(110), ExitReason::TakeProfit)
    );
    assert_eq!(
        (a.stop_loss, a.take_profit),
        (Some(dec!(95)), Some(dec!(110)))
    );
    assert_eq!(a.pnl, dec!(195.8));
    assert_eq!(
        (b.side, b.entry_price, b.quantity),
        (PositionSide::Short, dec!(108), dec!(18.881))
    );
    assert_eq!(
        (b.exit_price, b.exit_reason),
        (dec!(102.6), ExitReason::TakeProfit)
    );
    assert_eq!(b.pnl, dec!(97.9810614));
    assert_eq!(o.final_wallet, dec!(10293.7810614));
    // Equity at bar 1's close: 9,998 + (103 − 100) × 20.
    assert_eq!(o.equity[1].1, 10058.0);
    let r = tradingbot_backtest::report(&candles, dec!(10000), &o);
    assert_eq!(r.trades, 2);
    assert_eq!(r.win_rate_pct, 100.0);
    assert!((r.total_return_pct - 2.937810614).abs() < 1e-9);
    assert_eq!(r.exit_reasons[&ExitReason::TakeProfit], 2);
    // Buy and hold: 100 → 101.
    assert!((r.buy_and_hold_pct - 1.0).abs() < 1e-12);
}

#[test]
fn a_bar_reaching_both_stop_and_target_is_a_stop() {
    let candles = [
        candle(0, dec!(100), dec!(100), dec!(100), dec!(100)),
        candle(1, dec!(100), dec!(100), dec!(100), dec!(100)),
        // Both 95 (SL) and 110 (TP) inside: the stop is assumed first.
        candle(2, dec!(100), dec!(112), dec!(94), dec!(100)),
    ];
    let o = run_with(
        &Series::new(candles.to_vec()),
        |i, _| (i == 0).then_some(Signal::Long),
        &settings(),
    );
    assert_eq!(o.trades[0].exit_reason, ExitReason::StopLoss);
    assert_eq!(o.trades[0].exit_price, dec!(95));
    // A gap below the stop fills at the open, not at the stop.
    let gap = [
        candle(0, dec!(100), dec!(100), dec!(100), dec!(100)),
        candle(1, dec!(100), dec!(100), dec!(100), dec!(100)),
        candle(2, dec!(90), dec!(91), dec!(89), dec!(90)),
    ];
    let o = run_with(
        &Series::new(gap.to_vec()),
        |i, _| (i == 0).then_some(Signal::Long),
        &settings(),
    );
    assert_eq!(
        (o.trades[0].exit_reason, o.trades[0].exit_price),
        (ExitReason::StopLoss, dec!(90))
    );
}

#[test]
fn liquidation_ends_the_trade_and_the_wallet_never_goes_below_zero() {
    // 125x, everything in, no stop: a 2 % fall liquidates.
    let s = Settings {
        investment_pct: dec!(100),
        leverage: 125,
        long_sl_pct: Decimal::ZERO,
        long_tp_pct: Decimal::ZERO,
        fee_rate: dec!(0.01),
        ..settings()
    };
    let mut candles = vec![candle(0, dec!(100), dec!(100), dec!(100), dec!(100))];
    for i in 1..30 {
        let p = Decimal::from(100 - i * 3);
        candles.push(candle(i, p + dec!(1), p + dec!(2), p - dec!(1), p));
    }
    let o = run_with(&Series::new(candles), |_, _| Some(Signal::Long), &s);
    assert!(
        o.trades
            .iter()
            .any(|t| t.exit_reason == ExitReason::Liquidation)
    );
    assert!(o.final_wallet >= Decimal::ZERO);
    assert!(o.equity.iter().all(|(_, e)| *e >= 0.0 || o.ruined));
}

fn walk() -> impl Strategy<Value = Vec<Candle>> {
    prop::collection::vec((-300i64..300, 0i64..200, 0i64..200, -300i64..300), 40..300).prop_map(
        |steps| {
            let mut price = dec!(20000);
            steps
                .into_iter()
                .enumerate()
                .map(|(i, (d_open, up, down, d_close))| {
                    let open = (price + Decimal::from(d_open)).max(dec!(100));
                    let close = (open + Decimal::from(d_close)).max(dec!(100));
                    let high = open.max(close) + Decimal::from(up);
                    let low = (open.min(close) - Decimal::from(down)).max(dec!(50));
                    price = close;
                    candle(i as i64, open, high, low, close)
                })
                .collect()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn money_is_conserved_and_every_fill_pays_its_fee(
        candles in walk(),
        leverage in 1u32..50,
        pct in 1u32..100,
        slippage in 0u32..20,
    ) {
        let s = Settings {
            leverage,
            investment_pct: Decimal::from(pct),
            slippage_bps: Decimal::from(slippage),
            ..Settings::defaults()
        };
        let rule = templates::find("ema_crossover").unwrap()
            .configure(serde_json::json!({ "fast": 3, "slow": 8 }).as_object().unwrap())
            .unwrap()
            .rule();
        let o = run(&Series::new(candles), rule, &s);
        let net: Decimal = o.trades.iter().map(|t| t.pnl).sum();
        if !o.ruined {
            prop_assert_eq!(o.final_wallet, s.capital + net);
        }
        prop_assert!(o.final_wallet >= Decimal::ZERO);
        for t in &o.trades {
            let fees = (t.entry_price * t.quantity * s.fee_rate).round_dp(8)
                + (t.exit_price * t.quantity * s.fee_rate).round_dp(8);
            prop_assert_eq!(t.fees, fees);
            prop_assert!(t.fees > Decimal::ZERO);
            prop_assert!(t.exit_bar >= t.entry_bar);
        }
    }

    #[test]
    fn nothing_depends_on_a_later_candle(candles in walk(), cut in 10usize..40) {
        let cut = cut.min(candles.len() - 1);
        let s = Settings { fill: Fill::NextOpen, ..Settings::defaults() };
        let rule = || templates::find("ema_crossover").unwrap()
            .configure(serde_json::json!({ "fast": 3, "slow": 8 }).as_object().unwrap())
            .unwrap()
            .rule();
        let full = run(&Series::new(candles.clone()), rule(), &s);
        let part = run(&Series::new(candles[..cut].to_vec()), rule(), &s);
        // Trades finished before the cut's last bar are the same either way.
        let done = |o: &tradingbot_backtest::Outcome| -> Vec<_> {
            o.trades.iter().filter(|t| t.exit_bar + 1 < cut).cloned().collect()
        };
        prop_assert_eq!(done(&full), done(&part));
        prop_assert_eq!(&full.equity[..cut - 1], &part.equity[..cut - 1]);
    }
}
