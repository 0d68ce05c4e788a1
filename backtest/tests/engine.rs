//! The engine on a worked example computed by hand, on the conservative
//! intrabar rules, and on properties that must hold for any market:
//! money conserved, fees on every fill, no look-ahead, never below zero.

use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use tradingbot_backtest::engine::{ExitReason, Fill, Series, Settings, run, run_with};
use tradingbot_core::exchange::PositionSide;
use tradingbot_core::market::candle::Candle;
use tradingbot_core::protections::Protections;
use tradingbot_core::strategy::Sizing;
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
fn risk_sizing_loses_the_stated_share_at_the_stop_as_live() {
    let candles = [
        candle(0, dec!(100), dec!(100), dec!(100), dec!(100)),
        candle(1, dec!(100), dec!(100), dec!(100), dec!(100)),
        candle(2, dec!(100), dec!(100), dec!(94), dec!(96)),
    ];
    let s = Settings {
        sizing: Sizing::RiskPct { risk_pct: dec!(1) },
        ..settings()
    };
    let o = run_with(
        &Series::new(candles.to_vec()),
        |i, _| (i == 0).then_some(Signal::Long),
        &s,
    );
    // 1 % of 10,000 at risk; stop 5 % below 100 at 95; each unit loses
    // 5 + 0.1 % × (100 + 95) = 5.195 → 19.2492… → 19.249 units.
    let t = &o.trades[0];
    assert_eq!((t.quantity, t.stop_loss), (dec!(19.249), Some(dec!(95))));
    // −5 × 19.249 − 1.9249 − 1.828655 (both fees).
    assert_eq!(
        (t.exit_reason, t.pnl),
        (ExitReason::StopLoss, dec!(-99.998555))
    );

    // A fixed notional: 1,000 USDT at 100 is 10 units, whatever the wallet.
    let s = Settings {
        sizing: Sizing::FixedUsdt {
            qty_usdt: dec!(1000),
        },
        ..settings()
    };
    let o = run_with(
        &Series::new(candles.to_vec()),
        |i, _| (i == 0).then_some(Signal::Long),
        &s,
    );
    assert_eq!(o.trades[0].quantity, dec!(10));
}

#[test]
fn protections_hold_entries_back_on_the_candles_clock() {
    let flat = |i| candle(i, dec!(100), dec!(100), dec!(100), dec!(100));
    let candles = [
        flat(0),
        flat(1),
        // The stop (95) is hit on day 2.
        candle(2, dec!(100), dec!(100), dec!(94), dec!(96)),
        flat(3),
        flat(4),
        flat(5),
    ];
    let s = Settings {
        protections: Protections {
            cooldown_after_sl_min: Some(2 * 24 * 60),
            ..Default::default()
        },
        ..settings()
    };
    // Signals on the closes of days 0, 2 and 3: the first enters on day 1,
    // the second would enter on day 3 — inside the two days after the stop
    // on day 2 — and is held back; the third enters on day 4.
    let o = run_with(
        &Series::new(candles.to_vec()),
        |i, _| [0, 2, 3].contains(&i).then_some(Signal::Long),
        &s,
    );
    assert_eq!(o.held_back_entries, 1);
    assert_eq!(o.trades.len(), 2);
    assert_eq!(o.trades[0].exit_reason, ExitReason::StopLoss);
    assert_eq!(o.trades[1].entry_bar, 4);
    // Without the protection the day-3 entry is taken.
    let o = run_with(
        &Series::new(candles.to_vec()),
        |i, _| [0, 2, 3].contains(&i).then_some(Signal::Long),
        &settings(),
    );
    assert_eq!((o.held_back_entries, o.trades[1].entry_bar), (0, 3));
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
            // A liquidation takes the margin; no exit fee on top.
            let exit_fee = if t.exit_reason == ExitReason::Liquidation {
                Decimal::ZERO
            } else {
                (t.exit_price * t.quantity * s.fee_rate).round_dp(8)
            };
            let fees = (t.entry_price * t.quantity * s.fee_rate).round_dp(8) + exit_fee;
            prop_assert_eq!(t.fees, fees);
            // Never more than the margin (and the fees) lost.
            prop_assert!(t.pnl >= -(t.margin + t.fees));
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

/// Issue 19, case 2 and 5: long 10x with its stop (95) above the
/// liquidation price, a bar gapping open far below both. The position is
/// liquidated, not stopped at the open: the loss is its margin, never more.
#[test]
fn a_gap_through_stop_and_liquidation_loses_the_margin_and_no_more() {
    let s = Settings {
        leverage: 10,
        ..settings()
    };
    let candles = [
        candle(0, dec!(100), dec!(100), dec!(100), dec!(100)),
        candle(1, dec!(100), dec!(100), dec!(100), dec!(100)),
        candle(2, dec!(80), dec!(81), dec!(79), dec!(80)),
    ];
    let o = run_with(
        &Series::new(candles.to_vec()),
        |i, _| (i == 0).then_some(Signal::Long),
        &s,
    );
    let t = &o.trades[0];
    // $10,000 × 10 % = $1,000 of margin, × 10 = 100 units at 100, entry fee
    // 10 000 × 0.1 % = 10. Liquidation: 100 × (1 − 1/10) / (1 − 0.4 %) =
    // 90.3614…, on BTCUSDT's 0.1 tick toward the entry: 90.4.
    assert_eq!((t.quantity, t.margin), (dec!(100), dec!(1000)));
    assert_eq!(t.stop_loss, Some(dec!(95)));
    assert_eq!(
        (t.exit_reason, t.exit_price),
        (ExitReason::Liquidation, dec!(90.4))
    );
    // The whole margin and the entry fee; a stop filled at the open (80)
    // would have booked −2,000 − 10 − 8: twice the margin.
    assert_eq!(t.pnl, dec!(-1010));
    assert_eq!(o.final_wallet, dec!(8990));
    // The same gap for a short above its liquidation price.
    let up = [
        candle(0, dec!(100), dec!(100), dec!(100), dec!(100)),
        candle(1, dec!(100), dec!(100), dec!(100), dec!(100)),
        candle(2, dec!(125), dec!(126), dec!(124), dec!(125)),
    ];
    let o = run_with(
        &Series::new(up.to_vec()),
        |i, _| (i == 0).then_some(Signal::Short),
        &s,
    );
    // 100 × (1 + 1/10) / (1 + 0.4 %) = 109.5617…, toward the entry: 109.5.
    assert_eq!(
        (o.trades[0].exit_reason, o.trades[0].exit_price),
        (ExitReason::Liquidation, dec!(109.5))
    );
    assert_eq!(o.trades[0].pnl, dec!(-1010));
    // A gap through the stop alone still fills the stop at the open.
    let shallow = [
        candle(0, dec!(100), dec!(100), dec!(100), dec!(100)),
        candle(1, dec!(100), dec!(100), dec!(100), dec!(100)),
        candle(2, dec!(93), dec!(94), dec!(92), dec!(93)),
    ];
    let o = run_with(
        &Series::new(shallow.to_vec()),
        |i, _| (i == 0).then_some(Signal::Long),
        &s,
    );
    assert_eq!(
        (o.trades[0].exit_reason, o.trades[0].exit_price),
        (ExitReason::StopLoss, dec!(93))
    );
    // −700 gross, fees 10 + 9.3.
    assert_eq!(o.trades[0].pnl, dec!(-719.3));
}

/// A liquidation reached inside a bar books the whole margin too (Binance:
/// the rest of the maintenance margin goes to the insurance fund).
#[test]
fn a_liquidation_inside_a_bar_books_the_whole_margin() {
    let s = Settings {
        leverage: 10,
        long_sl_pct: Decimal::ZERO,
        ..settings()
    };
    let candles = [
        candle(0, dec!(100), dec!(100), dec!(100), dec!(100)),
        candle(1, dec!(100), dec!(100), dec!(100), dec!(100)),
        candle(2, dec!(99), dec!(99), dec!(88), dec!(95)),
    ];
    let o = run_with(
        &Series::new(candles.to_vec()),
        |i, _| (i == 0).then_some(Signal::Long),
        &s,
    );
    assert_eq!(
        (o.trades[0].exit_reason, o.trades[0].exit_price),
        (ExitReason::Liquidation, dec!(90.4))
    );
    assert_eq!(o.trades[0].pnl, dec!(-1010));
}

/// Issue 19, case 1: a window's indicators are warmed on the bars before
/// it, so its entries are the full history's entries inside it.
#[test]
fn a_window_trades_as_the_full_history_does_inside_it() {
    let (all, _) =
        tradingbot_backtest::load_csv(tradingbot_core::market::candle::BUNDLED_BTC_DAILY).unwrap();
    let s = Settings {
        long_tp_pct: Decimal::ZERO,
        long_sl_pct: Decimal::ZERO,
        short_tp_pct: Decimal::ZERO,
        short_sl_pct: Decimal::ZERO,
        leverage: 1,
        ..Settings::defaults()
    };
    let rule = || {
        templates::find("ema_crossover")
            .unwrap()
            .configure(
                serde_json::json!({ "fast": 9, "slow": 21 })
                    .as_object()
                    .unwrap(),
            )
            .unwrap()
            .rule()
    };
    let entries = |o: &tradingbot_backtest::Outcome, from: i64| -> Vec<(i64, PositionSide)> {
        o.trades
            .iter()
            .filter(|t| t.entry_time_ms >= from)
            .map(|t| (t.entry_time_ms, t.side))
            .collect()
    };
    let full = run(&Series::new(all.clone()), rule(), &s);
    let mut checked = 0;
    for from in ["2018-02-03", "2019-06-01", "2020-01-15"] {
        let from = chrono::NaiveDate::parse_from_str(from, "%Y-%m-%d")
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis();
        let series = Series::window(&all, Some(from), None);
        assert!(series.warmup() > 100, "the bars before the window warm it");
        assert_eq!(series.traded()[0].time_ms, from);
        let warm = run(&series, rule(), &s);
        assert_eq!(entries(&warm, from), entries(&full, from));
        assert!(warm.trades.iter().all(|t| t.entry_time_ms >= from));
        assert_eq!(warm.equity.len(), series.traded().len());
        // Cold, the same window starts trading late: the slow EMA needs
        // its 21 bars before the first cross.
        let cold = run(&Series::new(series.traded().to_vec()), rule(), &s);
        if entries(&cold, from) != entries(&full, from) {
            checked += 1;
        }
    }
    assert!(checked > 0, "a cold start differs somewhere");
}

#[test]
fn a_ladder_fills_target_by_target_and_the_stop_follows() {
    use tradingbot_core::exits::{BreakEven, Ladder, StopTo, Target};
    let ladder = Ladder {
        targets: vec![
            Target {
                gain_pct: dec!(2),
                size_pct: dec!(50),
            },
            Target {
                gain_pct: dec!(4),
                size_pct: dec!(30),
            },
            Target {
                gain_pct: dec!(8),
                size_pct: dec!(20),
            },
        ],
        break_even: Some(BreakEven {
            after: 1,
            to: StopTo::Entry,
        }),
    };
    let s = Settings {
        ladder: Some(ladder),
        ..settings()
    };
    let flat = |i| candle(i, dec!(100), dec!(100), dec!(100), dec!(100));
    // Entry at 100 on day 1 (20 units: 10,000 × 10 % × 2 / 100).
    // Day 2 reaches 102 (target 1: 10 units) and 104 (target 2: 6 units);
    // the stop moves to 100 + 2 × 0.1 % = 100.2 after target 1.
    // Day 3 falls to 99: the last 4 units stop out at 100.2.
    let candles = [
        flat(0),
        flat(1),
        candle(2, dec!(100), dec!(104.5), dec!(99.9), dec!(103)),
        candle(3, dec!(103), dec!(103), dec!(99), dec!(99.5)),
    ];
    let o = run_with(
        &Series::new(candles.to_vec()),
        |i, _| (i == 0).then_some(Signal::Long),
        &s,
    );
    let t = &o.trades[0];
    assert_eq!((t.quantity, t.targets_hit), (dec!(20), 2));
    assert_eq!(
        (t.exit_reason, t.stop_loss),
        (ExitReason::StopLoss, Some(dec!(100.2)))
    );
    // 10 × 2 + 6 × 4 + 4 × 0.2 = 44.8; fees 0.1 % of 2,000 + 1,020 + 624 + 400.8.
    assert_eq!(t.pnl, dec!(44.8) - dec!(4.0448));
    // The average exit: (1,020 + 624 + 400.8) / 20.
    assert_eq!(t.exit_price, dec!(102.24));
    assert_eq!(o.final_wallet, dec!(10000) + t.pnl);

    // A bar that comes back below the moved stop after the target: stopped
    // at the stop in the same bar.
    let back = [
        flat(0),
        flat(1),
        candle(2, dec!(100), dec!(102.5), dec!(99.9), dec!(100)),
    ];
    let o = run_with(
        &Series::new(back.to_vec()),
        |i, _| (i == 0).then_some(Signal::Long),
        &s,
    );
    let t = &o.trades[0];
    assert_eq!(
        (t.targets_hit, t.exit_reason, t.exit_bar),
        (1, ExitReason::StopLoss, 2)
    );
    // 10 × 2 + 10 × 0.2 = 22, less fees.
    assert_eq!(t.pnl, dec!(22) - (dec!(2) + dec!(1.02) + dec!(1.002)));
}

#[test]
fn a_trailing_stop_arms_follows_the_best_bar_and_fires_at_its_level() {
    use tradingbot_core::trailing::Trailing;
    let s = Settings {
        trailing: Some(Trailing {
            callback_pct: dec!(2),
            activation_pct: Some(dec!(3)),
        }),
        ..settings()
    };
    let flat = |i| candle(i, dec!(100), dec!(100), dec!(100), dec!(100));
    let long = |candles: &[Candle]| {
        run_with(
            &Series::new(candles.to_vec()),
            |i, _| (i == 0).then_some(Signal::Long),
            &s,
        )
    };
    // Long 20 at 100; armed from 103. Day 2's high 106 arms it: level
    // 106 × 0.98 = 103.88 → 103.8 on the tick (the close, 105, is above).
    // Day 3's high 108 lifts it to 105.84 → 105.8; day 4 falls to 105:
    // out at 105.8. 20 × 5.8 = 116, fees 2 + 2.116.
    let o = long(&[
        flat(0),
        flat(1),
        candle(2, dec!(100), dec!(106), dec!(99), dec!(105)),
        candle(3, dec!(105), dec!(108), dec!(104), dec!(107)),
        candle(4, dec!(107), dec!(107.5), dec!(105), dec!(106)),
    ]);
    let t = &o.trades[0];
    assert_eq!(
        (t.exit_reason, t.exit_bar, t.exit_price),
        (ExitReason::TrailingStop, 4, dec!(105.8))
    );
    assert_eq!(t.pnl, dec!(116) - dec!(4.116));
    // Below the activation it never follows: a bar to 102.9 and back is
    // nothing (the stop at 95 and the target at 110 stand).
    let o = long(&[
        flat(0),
        flat(1),
        candle(2, dec!(100), dec!(102.9), dec!(99), dec!(99.5)),
    ]);
    assert_eq!(o.trades[0].exit_reason, ExitReason::EndOfData);
    // A bar that arms it and closes back through its level: out at the
    // level in the same bar (107 × 0.98 = 104.86 → 104.8; close 104).
    let o = long(&[
        flat(0),
        flat(1),
        candle(2, dec!(100), dec!(107), dec!(99.5), dec!(104)),
    ]);
    let t = &o.trades[0];
    assert_eq!(
        (t.exit_reason, t.exit_bar, t.exit_price),
        (ExitReason::TrailingStop, 2, dec!(104.8))
    );
    assert_eq!(t.pnl, dec!(96) - dec!(4.096));

    // A short without activation follows from its fill: best 97 after day
    // 2 → 97 × 1.02 = 98.94 → 99.0 (rounded up, the trader's worse side);
    // day 3 reaches 99.5: out at 99. 20 × 1 = 20, fees 2 + 1.98.
    let s = Settings {
        trailing: Some(Trailing {
            callback_pct: dec!(2),
            activation_pct: None,
        }),
        ..settings()
    };
    let o = run_with(
        &Series::new(
            [
                flat(0),
                flat(1),
                candle(2, dec!(100), dec!(101), dec!(97), dec!(98)),
                candle(3, dec!(98), dec!(99.5), dec!(97.5), dec!(99.2)),
            ]
            .to_vec(),
        ),
        |i, _| (i == 0).then_some(Signal::Short),
        &s,
    );
    let t = &o.trades[0];
    assert_eq!(
        (t.side, t.exit_reason, t.exit_price),
        (PositionSide::Short, ExitReason::TrailingStop, dec!(99))
    );
    assert_eq!(t.pnl, dec!(20) - dec!(3.98));
}

#[test]
fn a_limit_entry_waits_for_its_price_and_expires_on_the_candles_clock() {
    use tradingbot_core::entry::{EntryOrder, Fallback};
    let limit = |fallback, post_only, offset| Settings {
        entry: EntryOrder::Limit {
            limit_offset_pct: offset,
            limit_expiry_sec: 2 * 86_400,
            limit_fallback: fallback,
            post_only,
        },
        ..settings()
    };
    let flat = |i, p| candle(i, p, p, p, p);
    let long = |s: &Settings, candles: &[Candle]| {
        run_with(
            &Series::new(candles.to_vec()),
            |i, _| (i == 0).then_some(Signal::Long),
            s,
        )
    };
    let s = limit(Fallback::Cancel, false, dec!(2));
    // The signal's open is 100: a buy limit at 98 waits. Day 1 stays above;
    // day 2 reaches 97: filled at 98, sized there (2,000 / 98 → 20.408).
    let o = long(
        &s,
        &[
            flat(0, dec!(100)),
            candle(1, dec!(100), dec!(101), dec!(99), dec!(100)),
            candle(2, dec!(100), dec!(100), dec!(97), dec!(99)),
        ],
    );
    let t = &o.trades[0];
    assert_eq!(
        (t.entry_bar, t.entry_price, t.quantity),
        (2, dec!(98), dec!(20.408))
    );
    // A day opening below it fills at that open (a better price).
    let o = long(
        &s,
        &[
            flat(0, dec!(100)),
            flat(1, dec!(100)),
            candle(2, dec!(97), dec!(99), dec!(96.5), dec!(98)),
        ],
    );
    assert_eq!(o.trades[0].entry_price, dec!(97));
    // Never reached in two days: cancelled at day 3's open, nothing traded.
    let never = [
        flat(0, dec!(100)),
        flat(1, dec!(100)),
        flat(2, dec!(99)),
        flat(3, dec!(101)),
        flat(4, dec!(97)),
    ];
    let o = long(&s, &never);
    assert_eq!((o.trades.len(), o.expired_entries), (0, 1));
    // With the market fallback: entered at day 3's open instead.
    let o = long(&limit(Fallback::Market, false, dec!(2)), &never);
    assert_eq!(o.expired_entries, 1);
    assert_eq!(
        (o.trades[0].entry_bar, o.trades[0].entry_price),
        (3, dec!(101))
    );
    // Post-only at the price itself would take: refused, so the fallback
    // (or nothing).
    let o = long(&limit(Fallback::Cancel, true, dec!(0)), &never);
    assert_eq!((o.trades.len(), o.expired_entries), (0, 1));
    let o = long(&limit(Fallback::Market, true, dec!(0)), &never);
    assert_eq!(
        (o.trades[0].entry_bar, o.trades[0].entry_price),
        (1, dec!(100))
    );
}

proptest! {
    #[test]
    fn ladders_trailing_stops_and_limit_entries_conserve_money_too(
        candles in walk(),
        leverage in 1u32..50,
        first in 1u32..99,
        be in any::<bool>(),
        trail in prop::option::of(1i64..=100),
        limit in prop::option::of(any::<bool>()),
    ) {
        use tradingbot_core::exits::{BreakEven, Ladder, StopTo, Target};
        let s = Settings {
            leverage,
            ladder: Some(Ladder {
                targets: vec![
                    Target { gain_pct: dec!(1), size_pct: Decimal::from(first) },
                    Target { gain_pct: dec!(3), size_pct: Decimal::from(100 - first) },
                ],
                break_even: be.then_some(BreakEven { after: 1, to: StopTo::Entry }),
            }),
            trailing: trail.map(|t| tradingbot_core::trailing::Trailing {
                callback_pct: Decimal::new(t, 1),
                activation_pct: (t % 2 == 0).then_some(Decimal::ONE),
            }),
            entry: limit.map_or(tradingbot_core::entry::EntryOrder::Market, |market| {
                tradingbot_core::entry::EntryOrder::Limit {
                    limit_offset_pct: dec!(0.5),
                    limit_expiry_sec: 3 * 86_400,
                    limit_fallback: if market {
                        tradingbot_core::entry::Fallback::Market
                    } else {
                        tradingbot_core::entry::Fallback::Cancel
                    },
                    post_only: false,
                }
            }),
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
            prop_assert!(t.targets_hit <= 2);
            prop_assert!(t.pnl >= -(t.margin + t.fees));
        }
    }
}
