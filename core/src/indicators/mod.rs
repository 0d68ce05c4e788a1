//! Technical indicators, streaming and batch.
//!
//! Every indicator is a small state machine fed one bar (or value) at a
//! time in O(1), answering `None` until it has warmed up. The batch form is
//! the streaming form run over a slice, so the backtester, live trading and
//! the tests can never disagree. Definitions, seeding and warm-up follow
//! TA-Lib's (SMA-seeded EMA, Wilder's RSI and ATR, population standard
//! deviation, MACD's fast average seeded where the slow one starts);
//! Supertrend and VWAP, which TA-Lib lacks, follow TradingView's Pine
//! reference implementations. Statistics, not money: `f64`.

mod atr;
mod bbands;
mod ma;
mod macd;
mod rsi;
mod stoch;
mod supertrend;
mod vwap;

pub use atr::{Atr, TrueRange};
pub use bbands::{BandsValue, BollingerBands};
pub use ma::{Ema, Sma, Wma};
pub use macd::{Macd, MacdValue};
pub use rsi::Rsi;
pub use stoch::{Stoch, StochValue};
pub use supertrend::{Supertrend, SupertrendValue, Trend};
pub use vwap::{Vwap, VwapAnchor};

use crate::market::candle::Candle;
use rust_decimal::prelude::ToPrimitive;

/// One bar as the indicators read it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    pub time_ms: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

impl From<&Candle> for Bar {
    fn from(c: &Candle) -> Self {
        let f = |d: rust_decimal::Decimal| d.to_f64().unwrap_or(f64::NAN);
        Self {
            time_ms: c.time_ms,
            open: f(c.open),
            high: f(c.high),
            low: f(c.low),
            close: f(c.close),
            volume: f(c.volume),
        }
    }
}

/// A streaming indicator.
pub trait Indicator {
    type Input: Copy;
    type Output: Copy;

    /// Feeds the next input; the value for it once warmed up.
    fn update(&mut self, input: Self::Input) -> Option<Self::Output>;

    /// Inputs consumed before the first value (TA-Lib's "lookback").
    fn lookback(&self) -> usize;

    /// The values for a whole series, aligned with it (`None` while warming up).
    fn batch(mut self, inputs: &[Self::Input]) -> Vec<Option<Self::Output>>
    where
        Self: Sized,
    {
        inputs.iter().map(|i| self.update(*i)).collect()
    }
}

/// A fixed-capacity window of the last `n` values.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    buf: Vec<f64>,
    next: usize,
    len: usize,
}

impl Window {
    pub(crate) fn new(n: usize) -> Self {
        Self {
            buf: vec![0.0; n.max(1)],
            next: 0,
            len: 0,
        }
    }

    /// Adds `v`; returns the value it pushed out once full.
    pub(crate) fn push(&mut self, v: f64) -> Option<f64> {
        let cap = self.buf.len();
        let out = (self.len == cap).then(|| self.buf[self.next]);
        self.buf[self.next] = v;
        self.next = (self.next + 1) % cap;
        self.len = (self.len + 1).min(cap);
        out
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len == self.buf.len()
    }

    /// Oldest to newest.
    pub(crate) fn iter(&self) -> impl Iterator<Item = f64> + '_ {
        let cap = self.buf.len();
        let start = if self.len == cap { self.next } else { 0 };
        (0..self.len).map(move |i| self.buf[(start + i) % cap])
    }
}
