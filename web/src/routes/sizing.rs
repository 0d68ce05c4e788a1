//! The seed's sizing fields (`investment_pct`, `leverage`, TP/SL for longs
//! and shorts) checked one way for every request that carries them alone —
//! backtests and the risk simulator. Saved strategies go through
//! `core::strategy`, which also knows their defaults.

use crate::problem::FieldError;
use rust_decimal::Decimal;

pub struct Sizing {
    pub investment_pct: Option<Decimal>,
    pub leverage: Option<u32>,
    pub long_tp_pct: Option<Decimal>,
    pub long_sl_pct: Option<Decimal>,
    pub short_tp_pct: Option<Decimal>,
    pub short_sl_pct: Option<Decimal>,
}

/// One error per field out of range; the fields not given are fine.
pub fn errors(s: &Sizing) -> Vec<FieldError> {
    let mut e = Vec::new();
    // A size of 0 % trades nothing; a TP or SL of 0 % means "off".
    let out = |v: Option<Decimal>, zero_allowed: bool| {
        v.is_some_and(|v| {
            v < Decimal::ZERO || v > Decimal::ONE_HUNDRED || (!zero_allowed && v.is_zero())
        })
    };
    if out(s.investment_pct, false) {
        e.push(FieldError::new(
            "investment_pct",
            "a percentage above 0 and at most 100",
        ));
    }
    for (field, v) in [
        ("long_tp_pct", s.long_tp_pct),
        ("long_sl_pct", s.long_sl_pct),
        ("short_tp_pct", s.short_tp_pct),
        ("short_sl_pct", s.short_sl_pct),
    ] {
        if out(v, true) {
            e.push(FieldError::new(field, "a percentage from 0 (off) to 100"));
        }
    }
    if s.leverage.is_some_and(|l| !(1..=125).contains(&l)) {
        e.push(FieldError::new("leverage", "a whole number from 1 to 125"));
    }
    e
}
