//! The risk simulator against worked examples computed by hand from the
//! exchanges' formulas (Binance USDⓈ-M brackets, OKX's margin-ratio rule),
//! long and short.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use tradingbot_core::exchange::PositionSide;
use tradingbot_core::exchange::instrument::InstrumentRules;
use tradingbot_core::simulator::{
    Inputs, Venue, binance_btcusdt_tiers, okx_default_tiers, simulate, tier_for,
};
use tradingbot_core::strategy::Sizing;

fn binance_btcusdt() -> InstrumentRules {
    InstrumentRules {
        symbol: "BTCUSDT".into(),
        base_asset: "BTC".into(),
        quote_asset: "USDT".into(),
        tick_size: dec!(0.1),
        min_price: dec!(556.8),
        max_price: dec!(4529764),
        step_size: dec!(0.001),
        min_qty: dec!(0.001),
        max_qty: dec!(1000),
        market_step_size: dec!(0.001),
        market_min_qty: dec!(0.001),
        market_max_qty: dec!(120),
        min_notional: dec!(100),
        contract_value: Decimal::ONE,
        max_leverage: Some(125),
    }
}

fn inputs(balance: Decimal, pct: Decimal, leverage: u32) -> Inputs {
    Inputs {
        venue: Venue::Binance,
        rules: binance_btcusdt(),
        tiers: binance_btcusdt_tiers(),
        entry_price: dec!(50000),
        balance,
        investment_pct: pct,
        sizing: Sizing::InvestmentPct,
        ladder: None,
        leverage,
        tp_pct: dec!(5),
        sl_pct: dec!(2),
        fee_rate: dec!(0.0004),
        daily_loss_limit_pct: None,
    }
}

fn codes(s: &tradingbot_core::simulator::Simulation) -> Vec<&'static str> {
    s.warnings.iter().map(|w| w.code).collect()
}

#[test]
fn binance_long_and_short_by_hand() {
    // $10,000, 10 % at 10x: $1,000 margin, $10,000 notional, 0.2 BTC at 50,000.
    let i = inputs(dec!(10000), dec!(10), 10);
    let long = simulate(&i, PositionSide::Long);
    assert_eq!(
        (long.quantity, long.notional, long.margin),
        (dec!(0.2), dec!(10000), dec!(1000))
    );
    assert_eq!(
        (long.stop_loss, long.take_profit),
        (Some(dec!(49000)), Some(dec!(52500)))
    );
    // Stop: −200, fees 4 (entry) + 3.92 (exit) → −207.92 (−2.0792 % of the balance).
    assert_eq!(long.loss_at_stop, Some(dec!(-207.92)));
    assert_eq!(long.loss_at_stop_pct, Some(dec!(-2.0792)));
    // Target: +500 − 4 − 4.2 → 491.8.
    assert_eq!(long.gain_at_target, Some(dec!(491.8)));
    assert_eq!(long.risk_reward, Some(dec!(2.3653)));
    // First bracket (≤ 50,000: 0.4 %, cum 0): (1,000 − 10,000)/(0.2·0.004 − 0.2) = 45,180.72…,
    // shown on the tick toward the entry.
    assert_eq!(long.maintenance_rate, Some(dec!(0.004)));
    assert_eq!(long.liquidation_price_isolated, Some(dec!(45180.8)));
    // Cross with the whole $10,000 behind 0.2 BTC: nothing positive liquidates it.
    assert_eq!(long.liquidation_price_cross, None);
    assert_eq!(codes(&long), ["leverage_above_3x"]);

    let short = simulate(&i, PositionSide::Short);
    assert_eq!(
        (short.stop_loss, short.take_profit),
        (Some(dec!(51000)), Some(dec!(47500)))
    );
    // −200 − 4 − 4.08; +500 − 4 − 3.8.
    assert_eq!(short.loss_at_stop, Some(dec!(-208.08)));
    assert_eq!(short.gain_at_target, Some(dec!(492.2)));
    assert_eq!(short.risk_reward, Some(dec!(2.3654)));
    // (1,000 + 10,000)/(0.0008 + 0.2) = 54,780.87…; cross (10,000 + 10,000)/0.2008 = 99,601.59….
    assert_eq!(short.liquidation_price_isolated, Some(dec!(54780.8)));
    assert_eq!(short.liquidation_price_cross, Some(dec!(99601.5)));
}

#[test]
fn a_large_position_uses_its_bracket() {
    // $1,000,000 notional: third bracket (1 %, cum 50·1 + 2,500 = 2,550, 50x).
    let (t, cum) = tier_for(&binance_btcusdt_tiers(), dec!(1000000)).unwrap();
    assert_eq!((t.rate, cum, t.max_leverage), (dec!(0.01), dec!(2550), 50));
    assert_eq!(
        tier_for(&binance_btcusdt_tiers(), dec!(60000000))
            .unwrap()
            .1,
        dec!(1372550)
    );
    let s = simulate(&inputs(dec!(100000), dec!(50), 20), PositionSide::Long);
    assert_eq!((s.quantity, s.margin), (dec!(20), dec!(50000)));
    // (50,000 + 2,550 − 1,000,000)/(20·0.01 − 20) = 47,851.0101…
    assert_eq!(s.liquidation_price_isolated, Some(dec!(47851.1)));
    let over = simulate(&inputs(dec!(100000), dec!(50), 60), PositionSide::Long);
    assert!(
        codes(&over).contains(&"leverage_above_tier_max"),
        "{:?}",
        codes(&over)
    );
}

#[test]
fn warnings_name_the_problem() {
    // 50x long with a 5 % stop: liquidation at 49,000/0.996 = 49,196.79 comes first.
    let mut i = inputs(dec!(10000), dec!(10), 50);
    i.sl_pct = dec!(5);
    let s = simulate(&i, PositionSide::Long);
    assert_eq!(s.liquidation_price_isolated, Some(dec!(49196.8)));
    assert_eq!(
        codes(&s),
        ["leverage_above_3x", "stop_loss_beyond_liquidation"]
    );

    // $300 · 10 % · 3x = $90 → 0.001 BTC = $50 < $100 minimum order value.
    let small = simulate(&inputs(dec!(300), dec!(10), 3), PositionSide::Long);
    assert_eq!(codes(&small), ["below_min_notional"]);
    let tiny = simulate(&inputs(dec!(100), dec!(10), 3), PositionSide::Long);
    assert_eq!(codes(&tiny), ["below_min_quantity"]);
    assert_eq!(tiny.quantity, Decimal::ZERO);
    assert_eq!(tiny.liquidation_price_isolated, None);

    // One stop loses 2.08 % with a daily limit of 1 %.
    let mut limited = inputs(dec!(10000), dec!(10), 3);
    limited.leverage = 10;
    limited.daily_loss_limit_pct = Some(dec!(1));
    let s = simulate(&limited, PositionSide::Short);
    assert!(codes(&s).contains(&"loss_exceeds_daily_limit"));
}

#[test]
fn okx_by_hand() {
    // BTC-USDT-SWAP: contracts of 0.01 BTC, 0.01-contract steps; fee 0.05 %.
    let mut i = inputs(dec!(10000), dec!(10), 10);
    i.venue = Venue::Okx;
    i.tiers = okx_default_tiers();
    i.fee_rate = dec!(0.0005);
    i.rules.symbol = "BTC-USDT-SWAP".into();
    i.rules.contract_value = dec!(0.01);
    i.rules.step_size = dec!(0.01);
    i.rules.market_step_size = dec!(0.01);
    i.rules.min_qty = dec!(0.01);
    i.rules.market_min_qty = dec!(0.01);
    i.rules.min_notional = Decimal::ZERO;
    let long = simulate(&i, PositionSide::Long);
    assert_eq!((long.venue_quantity, long.quantity), (dec!(20), dec!(0.2)));
    // Liquidated when 1,000 + (P − 50,000)·0.2 = 0.2·P·(0.004 + 0.0005):
    // P = 9,000/(0.2·0.9955) = 45,203.415…
    assert_eq!(long.liquidation_price_isolated, Some(dec!(45203.5)));
    let short = simulate(&i, PositionSide::Short);
    // P = 11,000/(0.2·1.0045) = 54,753.61…
    assert_eq!(short.liquidation_price_isolated, Some(dec!(54753.6)));
    // Fees at 0.05 %: −200 − 5 − 5.1 on the short's stop at 51,000.
    assert_eq!(short.loss_at_stop, Some(dec!(-210.1)));
}

#[test]
fn a_risk_sized_entry_shows_the_stated_loss_at_its_stop() {
    // 1 % of 10,000 at risk; long at 50,000, stop 2 % below at 49,000:
    // 1,000 + 0.04 % × 99,000 = 1,039.6 per BTC → 0.0961… → 0.096 BTC.
    let i = Inputs {
        sizing: Sizing::RiskPct { risk_pct: dec!(1) },
        ..inputs(dec!(10000), dec!(10), 5)
    };
    let s = simulate(&i, PositionSide::Long);
    assert_eq!(s.quantity, dec!(0.096));
    assert_eq!(s.stop_loss, Some(dec!(49000)));
    // −96 − 1.92 − 1.8816: entry and exit fees included.
    assert_eq!(s.loss_at_stop, Some(dec!(-99.8016)));
    // 5 % at risk on a tight stop at 1x: more margin than the balance.
    let i = Inputs {
        sizing: Sizing::RiskPct { risk_pct: dec!(5) },
        sl_pct: dec!(0.1),
        ..inputs(dec!(10000), dec!(10), 1)
    };
    assert!(codes(&simulate(&i, PositionSide::Long)).contains(&"insufficient_margin"));
}

#[test]
fn a_ladder_shows_each_targets_gain_and_the_blended_risk_reward() {
    use tradingbot_core::exits::{Ladder, Target};
    // 0.2 BTC at 50,000 (10 % of 10,000 at 10x): 0.1 at +2 %, 0.1 at +6 %.
    let i = Inputs {
        ladder: Some(Ladder {
            targets: vec![
                Target {
                    gain_pct: dec!(2),
                    size_pct: dec!(50),
                },
                Target {
                    gain_pct: dec!(6),
                    size_pct: dec!(50),
                },
            ],
            break_even: None,
        }),
        ..inputs(dec!(10000), dec!(10), 10)
    };
    let s = simulate(&i, PositionSide::Long);
    assert_eq!(s.quantity, dec!(0.2));
    let t: Vec<(Decimal, Decimal, Decimal)> = s
        .targets
        .iter()
        .map(|t| (t.price, t.quantity, t.gain))
        .collect();
    // +1,000 × 0.1 − fees 2 + 2.04; +3,000 × 0.1 − fees 2 + 2.12.
    assert_eq!(
        t,
        [
            (dec!(51000), dec!(0.1), dec!(95.96)),
            (dec!(53000), dec!(0.1), dec!(295.88)),
        ]
    );
    assert_eq!(s.gain_at_target, Some(dec!(391.84)));
    assert_eq!(s.take_profit, Some(dec!(53000)));
    // The stop at −2 %: −200 − 4 − 3.92 = −207.92.
    assert_eq!(s.loss_at_stop, Some(dec!(-207.92)));
    assert_eq!(s.risk_reward, Some(dec!(1.8846)));
}
