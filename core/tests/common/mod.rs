//! What the Pine tests share: a strategy target for template number `i`,
//! cycling through every sizing mode and every kind of exit, so each
//! generated script exercises a different combination.

use rust_decimal::Decimal;
use tradingbot_core::exits::{BreakEven, Ladder, StopTo, Target};
use tradingbot_core::pine::PineTarget;
use tradingbot_core::strategy::Sizing;
use tradingbot_core::trailing::Trailing;

pub fn sizing(i: usize) -> Sizing {
    [
        Sizing::InvestmentPct,
        Sizing::RiskPct {
            risk_pct: Decimal::ONE,
        },
        Sizing::FixedUsdt {
            qty_usdt: Decimal::from(500),
        },
        Sizing::FixedQty {
            qty_base: Decimal::new(1, 2),
        },
    ][i % 4]
}

/// None, a ladder with break-even to the entry, a trailing stop from an
/// activation, and both (break-even to the previous target, trailing at once).
pub fn exits(i: usize) -> (Option<Ladder>, Option<Trailing>) {
    let ladder = |to| Ladder {
        targets: vec![
            Target {
                gain_pct: Decimal::ONE,
                size_pct: Decimal::from(50),
            },
            Target {
                gain_pct: Decimal::TWO,
                size_pct: Decimal::from(30),
            },
            Target {
                gain_pct: Decimal::from(4),
                size_pct: Decimal::from(20),
            },
        ],
        break_even: Some(BreakEven { after: 2, to }),
    };
    let trailing = |activation_pct| Trailing {
        callback_pct: Decimal::new(15, 1),
        activation_pct,
    };
    match i % 4 {
        0 => (None, None),
        1 => (Some(ladder(StopTo::Entry)), None),
        2 => (None, Some(trailing(Some(Decimal::TWO)))),
        _ => (Some(ladder(StopTo::PreviousTarget)), Some(trailing(None))),
    }
}

pub fn target<'a>(name: &'a str, secret: &'a str, i: usize) -> PineTarget<'a> {
    let (ladder, trailing) = exits(i);
    PineTarget {
        name,
        secret,
        webhook_url: "https://example.com/api/v1/webhook/tradingview/tok",
        investment_pct: Decimal::from(10),
        sizing: sizing(i),
        leverage: 3,
        long_tp_pct: Decimal::from(5),
        long_sl_pct: Decimal::from(2),
        short_tp_pct: Decimal::from(5),
        short_sl_pct: Decimal::from(2),
        ladder,
        trailing,
    }
}
