//! The simulation: a template's signals on each bar's close, filled at the
//! next bar's open (or that close), sized, protected and charged exactly as
//! live trading does it — `core`'s sizing, stop-loss/take-profit placement,
//! PnL and liquidation math — with taker fees and slippage on every fill.
//!
//! Inside a bar the engine cannot know the order of prices, so it assumes
//! the worst: a stop-loss (or liquidation) reachable in the bar is taken
//! before a take-profit; a bar opening beyond a stop fills at the open, one
//! opening beyond the liquidation price liquidates. A liquidated isolated
//! position loses its margin: never less, never more.
//! Nothing reads a later bar than the one being simulated.

use rust_decimal::Decimal;
use serde::Serialize;
use tradingbot_core::entry::{self, EntryOrder, Fallback};
use tradingbot_core::exchange::PositionSide;
use tradingbot_core::exchange::instrument::{InstrumentRules, Rounding};
use tradingbot_core::exits::{Ladder, Leg};
use tradingbot_core::indicators::Bar;
use tradingbot_core::market::candle::Candle;
use tradingbot_core::position::{self, Collateral, Holding, Maintenance};
use tradingbot_core::protections::{self, Protections};
use tradingbot_core::sizing;
use tradingbot_core::strategy::{OppositeSignal, Sizing};
use tradingbot_core::templates::{Rule, Signal};
use tradingbot_core::trailing::{Trail, Trailing};

/// When a signal is acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fill {
    /// At the next bar's open: what an alert on a bar's close gets live.
    NextOpen,
    /// At the signal bar's own close (optimistic).
    Close,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub capital: Decimal,
    pub investment_pct: Decimal,
    /// What entries are sized by, as the live strategy does (risk sizing
    /// counts this backtest's `fee_rate` on both sides).
    pub sizing: Sizing,
    /// The strategy's protections, kept with the same ledger as live (the
    /// candle's time is the clock).
    pub protections: Protections,
    /// Take-profit targets in place of the single take-profit, and the
    /// stop they move.
    pub ladder: Option<Ladder>,
    /// A trailing stop beside the stop-loss, followed bar by bar.
    pub trailing: Option<Trailing>,
    /// At market, or limit entries that wait for the price (their expiry
    /// on the candles' clock).
    pub entry: EntryOrder,
    pub leverage: u32,
    pub long_tp_pct: Decimal,
    pub long_sl_pct: Decimal,
    pub short_tp_pct: Decimal,
    pub short_sl_pct: Decimal,
    /// Taker fee, as a fraction (0.0004 = 0.04 %).
    pub fee_rate: Decimal,
    /// Market fills move this many basis points against the taker.
    pub slippage_bps: Decimal,
    pub fill: Fill,
    pub opposite: OppositeSignal,
    pub maintenance_rate: Decimal,
    pub rules: InstrumentRules,
}

impl Settings {
    /// The seed's strategy defaults (10 %, TP 5 %, SL 2 %, 3x) on $10,000,
    /// Binance's BTCUSDT filters and taker fee.
    pub fn defaults() -> Self {
        Self {
            capital: Decimal::from(10_000),
            investment_pct: Decimal::from(10),
            sizing: Sizing::InvestmentPct,
            protections: Protections::default(),
            ladder: None,
            trailing: None,
            entry: EntryOrder::Market,
            leverage: 3,
            long_tp_pct: Decimal::from(5),
            long_sl_pct: Decimal::from(2),
            short_tp_pct: Decimal::from(5),
            short_sl_pct: Decimal::from(2),
            fee_rate: Decimal::new(4, 4),
            slippage_bps: Decimal::ZERO,
            fill: Fill::NextOpen,
            opposite: OppositeSignal::Reverse,
            maintenance_rate: Decimal::new(4, 3),
            rules: btc_rules(),
        }
    }
}

/// Binance BTCUSDT's filters, without the minimum notional that would stop
/// a small simulated account.
pub fn btc_rules() -> InstrumentRules {
    crate::rules::bundled("BTCUSDT").expect("BTCUSDT is bundled")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitReason {
    Signal,
    Reversal,
    StopLoss,
    TakeProfit,
    TrailingStop,
    Liquidation,
    EndOfData,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trade {
    pub side: PositionSide,
    pub entry_time_ms: i64,
    pub exit_time_ms: i64,
    pub entry_bar: usize,
    pub exit_bar: usize,
    pub entry_price: Decimal,
    pub exit_price: Decimal,
    /// Base asset.
    pub quantity: Decimal,
    pub margin: Decimal,
    pub stop_loss: Option<Decimal>,
    pub take_profit: Option<Decimal>,
    /// Entry and exit fees.
    pub fees: Decimal,
    /// After fees.
    pub pnl: Decimal,
    /// What closed the last of the position (targets before it: `targets_hit`).
    pub exit_reason: ExitReason,
    /// Ladder targets filled (0 without a ladder).
    pub targets_hit: u8,
}

/// Candles with their `f64` view for the indicators, converted once (a
/// sweep runs many strategies over one series).
///
/// The bars before `start` only warm the indicators: a live TradingView
/// indicator always has history, so a window that starts cold would signal
/// differently from the chart the trader trades on.
#[derive(Debug, Clone)]
pub struct Series {
    pub candles: Vec<Candle>,
    pub bars: Vec<Bar>,
    /// The first bar traded; the ones before it are the warm-up.
    pub start: usize,
}

/// At most this many bars before a window warm its indicators (about what
/// a TradingView chart loads; an EMA has long forgotten its seed by then).
pub const MAX_WARMUP_BARS: usize = 5_000;

impl Series {
    pub fn new(candles: Vec<Candle>) -> Self {
        Self::warmed(candles, 0)
    }

    /// `candles[start..]` traded, the bars before warming the indicators.
    pub fn warmed(candles: Vec<Candle>, start: usize) -> Self {
        let bars = candles.iter().map(Bar::from).collect();
        let start = start.min(candles.len());
        Self {
            candles,
            bars,
            start,
        }
    }

    /// The candles of `from..to` (ms; `None`: open), warmed on up to
    /// [`MAX_WARMUP_BARS`] of the bars before `from`.
    pub fn window(all: &[Candle], from: Option<i64>, to: Option<i64>) -> Self {
        let end = to.map_or(all.len(), |to| all.partition_point(|c| c.time_ms < to));
        let first = from.map_or(0, |from| all[..end].partition_point(|c| c.time_ms < from));
        let begin = first.saturating_sub(MAX_WARMUP_BARS);
        Self::warmed(all[begin..end].to_vec(), first - begin)
    }

    /// The traded bars.
    pub fn traded(&self) -> &[Candle] {
        &self.candles[self.start..]
    }

    /// How many bars warmed the indicators.
    pub fn warmup(&self) -> usize {
        self.start
    }
}

/// Everything a run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub trades: Vec<Trade>,
    /// Equity (wallet plus open PnL) at each bar's close: a statistic for
    /// the report, so `f64`; the wallet itself is exact.
    pub equity: Vec<(i64, f64)>,
    pub final_wallet: Decimal,
    /// Bars during which a position was open.
    pub bars_in_market: usize,
    /// The wallet hit zero and trading stopped.
    pub ruined: bool,
    /// Entries not taken because sizing refused them (too small).
    pub skipped_entries: usize,
    /// Entries a protection held back.
    pub held_back_entries: usize,
    /// Limit entries whose time ran out with nothing filled.
    pub expired_entries: usize,
}

#[derive(Debug, Clone)]
struct Open {
    side: PositionSide,
    entry: Decimal,
    qty: Decimal,
    margin: Decimal,
    sl: Option<Decimal>,
    tp: Option<Decimal>,
    liq: Option<Decimal>,
    entry_fee: Decimal,
    bar: usize,
    time_ms: i64,
    /// What is still open (less than `qty` once targets filled).
    left: Decimal,
    /// Targets not filled yet, nearest first, and all of them.
    legs: Vec<Leg>,
    all_legs: Vec<Leg>,
    /// The targets already filled: their PnL, fees and value.
    partial_gross: Decimal,
    partial_fees: Decimal,
    partial_value: Decimal,
    /// The trailing stop, following the bars' favourable extremes.
    trail: Option<Trail>,
}

/// A limit entry waiting for the price.
#[derive(Debug, Clone, Copy)]
struct Waiting {
    side: PositionSide,
    price: Decimal,
    /// Cancelled at the first bar from this time on.
    deadline_ms: i64,
    fallback: Fallback,
}

pub struct Engine<'a> {
    s: &'a Settings,
    wallet: Decimal,
    open: Option<Open>,
    trades: Vec<Trade>,
    ruined: bool,
    skipped: usize,
    held_back: usize,
    /// A limit entry not filled yet.
    waiting: Option<Waiting>,
    /// Limit entries whose time ran out with nothing filled (cancelled or
    /// entered at market).
    expired: usize,
    ledger: protections::Ledger,
    slip: Decimal,
    wallet_f: f64,
    open_f: Option<(f64, f64, f64)>,
    /// The nearest adverse level (stop or liquidation) and the target as
    /// `f64`, to skip the exact check on the many bars reaching neither.
    guard: Option<(f64, f64)>,
}

impl<'a> Engine<'a> {
    fn new(s: &'a Settings) -> Self {
        Self {
            s,
            wallet: s.capital,
            open: None,
            trades: Vec::new(),
            ruined: false,
            skipped: 0,
            held_back: 0,
            waiting: None,
            expired: 0,
            ledger: protections::Ledger::default(),
            slip: s.slippage_bps / Decimal::from(10_000),
            wallet_f: approx(s.capital),
            open_f: None,
            guard: None,
        }
    }

    /// A market fill's price: the reference moved against the taker.
    fn market(&self, price: Decimal, buying: bool) -> Decimal {
        if self.slip.is_zero() {
            return price;
        }
        if buying {
            self.s
                .rules
                .round_price(price * (Decimal::ONE + self.slip), Rounding::Up)
        } else {
            self.s
                .rules
                .round_price(price * (Decimal::ONE - self.slip), Rounding::Down)
        }
    }

    /// An entry signal at `reference`: at market now, or a limit order that
    /// waits (a post-only one that would take at once counts as expired).
    fn enter(&mut self, side: PositionSide, reference: Decimal, bar: usize, time_ms: i64) {
        let EntryOrder::Limit {
            limit_offset_pct,
            limit_expiry_sec,
            limit_fallback,
            post_only,
        } = self.s.entry
        else {
            let price = self.market(reference, side == PositionSide::Long);
            self.open_at(side, price, bar, time_ms);
            return;
        };
        let price = entry::limit_price(side, reference, limit_offset_pct, &self.s.rules);
        let takes = match side {
            PositionSide::Long => price >= reference,
            PositionSide::Short => price <= reference,
        };
        if takes && post_only {
            self.expired += 1;
            if limit_fallback == Fallback::Market {
                let price = self.market(reference, side == PositionSide::Long);
                self.open_at(side, price, bar, time_ms);
            }
            return;
        }
        if takes {
            self.open_at(side, reference, bar, time_ms);
            return;
        }
        self.waiting = Some(Waiting {
            side,
            price,
            deadline_ms: time_ms + i64::from(limit_expiry_sec) * 1000,
            fallback: limit_fallback,
        });
    }

    /// A waiting limit entry in bar `c`: past its time it is cancelled (or
    /// entered at the bar's open, with the market fallback); reached by the
    /// bar it fills at its price (at the open when the bar opened beyond it).
    fn fill_waiting(&mut self, c: &Candle, bar: usize) {
        let Some(w) = self.waiting else { return };
        if self.open.is_some() {
            self.waiting = None;
            return;
        }
        if c.time_ms >= w.deadline_ms {
            self.waiting = None;
            self.expired += 1;
            if w.fallback == Fallback::Market {
                let price = self.market(c.open, w.side == PositionSide::Long);
                self.open_at(w.side, price, bar, c.time_ms);
            }
            return;
        }
        let (reached, opened_beyond) = match w.side {
            PositionSide::Long => (c.low <= w.price, c.open <= w.price),
            PositionSide::Short => (c.high >= w.price, c.open >= w.price),
        };
        if reached {
            self.waiting = None;
            let price = if opened_beyond { c.open } else { w.price };
            self.open_at(w.side, price, bar, c.time_ms);
        }
    }

    /// Opens a position filled at `price`.
    fn open_at(&mut self, side: PositionSide, price: Decimal, bar: usize, time_ms: i64) {
        if self.ruined {
            return;
        }
        if self.s.protections.any() {
            let now = clock(time_ms);
            if self
                .ledger
                .check(&self.s.protections, now, self.wallet)
                .is_err()
            {
                self.held_back += 1;
                return;
            }
        }
        let (tp_pct, sl_pct) = match side {
            PositionSide::Long => (self.s.long_tp_pct, self.s.long_sl_pct),
            PositionSide::Short => (self.s.short_tp_pct, self.s.short_sl_pct),
        };
        let sized = sizing::budget(
            self.s.sizing,
            self.s.investment_pct,
            side,
            price,
            sl_pct,
            self.wallet,
            self.s.fee_rate,
            &self.s.rules,
        )
        .and_then(|b| sizing::size_entry(b, self.wallet, self.s.leverage, price, &self.s.rules));
        let Ok(size) = sized else {
            self.skipped += 1;
            return;
        };
        let p = sizing::protection(side, price, tp_pct, sl_pct, &self.s.rules);
        let holding = Holding {
            side,
            entry_price: price,
            quantity: size.base_qty,
            leverage: self.s.leverage,
            stop_loss: p.stop_loss,
            take_profit: p.take_profit,
        };
        // On the tick grid, on the side that liquidates sooner.
        let liq = position::liquidation_price(
            &holding,
            Maintenance {
                rate: self.s.maintenance_rate,
                amount: Decimal::ZERO,
            },
            Collateral::Isolated,
        )
        .map(|p| {
            let r = match side {
                PositionSide::Long => Rounding::Up,
                PositionSide::Short => Rounding::Down,
            };
            self.s.rules.round_price(p, r)
        });
        let entry_fee = fee(size.notional, self.s.fee_rate);
        self.wallet -= entry_fee;
        self.ledger.opened(clock(time_ms));
        let legs: Vec<Leg> = self.s.ladder.as_ref().map_or_else(Vec::new, |l| {
            l.legs(side, price, size.venue_qty, &self.s.rules)
                .into_iter()
                .map(|leg| Leg {
                    venue_qty: self.s.rules.base_qty(leg.venue_qty),
                    ..leg
                })
                .collect()
        });
        let tp = if legs.is_empty() {
            p.take_profit.filter(|_| !tp_pct.is_zero())
        } else {
            legs.last().map(|l| l.price)
        };
        self.open = Some(Open {
            side,
            entry: price,
            qty: size.base_qty,
            margin: size.margin,
            sl: p.stop_loss.filter(|_| !sl_pct.is_zero()),
            tp,
            liq,
            entry_fee,
            bar,
            time_ms,
            left: size.base_qty,
            all_legs: legs.clone(),
            legs,
            partial_gross: Decimal::ZERO,
            partial_fees: Decimal::ZERO,
            partial_value: Decimal::ZERO,
            trail: self.s.trailing.map(|t| {
                let mut trail = Trail::new(
                    side,
                    t.callback_pct,
                    t.activation_price(side, price, &self.s.rules),
                );
                // Without an activation it follows from the fill, as the
                // venues' default (the price at placement) does.
                trail.observe(price);
                trail
            }),
        });
        self.mirror();
    }

    fn exit(&mut self, price: Decimal, reason: ExitReason, bar: usize, time_ms: i64) {
        let Some(o) = self.open.take() else { return };
        let closed_at = clock(time_ms);
        let (gross, exit_fee) = if reason == ExitReason::Liquidation {
            // An isolated position liquidated loses its whole margin (what
            // the engine does not need to close it goes to the insurance
            // fund), and never more: the margin of what is still open.
            (-(o.margin * o.left / o.qty).round_dp(8), Decimal::ZERO)
        } else {
            (
                sizing::pnl(o.side, o.entry, price, o.left),
                fee(price * o.left, self.s.fee_rate),
            )
        };
        self.wallet += gross - exit_fee;
        if self.wallet <= Decimal::ZERO {
            // Isolated margin cannot take more than the account holds.
            self.wallet = Decimal::ZERO;
            self.ruined = true;
        }
        self.trades.push(Trade {
            side: o.side,
            entry_time_ms: o.time_ms,
            exit_time_ms: time_ms,
            entry_bar: o.bar,
            exit_bar: bar,
            entry_price: o.entry,
            // The average of every exit, targets included.
            exit_price: if o.left == o.qty {
                price
            } else {
                ((o.partial_value + price * o.left) / o.qty).round_dp(8)
            },
            quantity: o.qty,
            margin: o.margin,
            stop_loss: o.sl,
            take_profit: o.tp,
            fees: o.entry_fee + o.partial_fees + exit_fee,
            pnl: o.partial_gross + gross - o.entry_fee - o.partial_fees - exit_fee,
            exit_reason: reason,
            targets_hit: (o.all_legs.len() - o.legs.len()) as u8,
        });
        self.ledger.closed(
            closed_at,
            o.partial_gross + gross - o.entry_fee - o.partial_fees - exit_fee,
            reason == ExitReason::StopLoss,
        );
        self.mirror();
    }

    fn act(&mut self, signal: Signal, reference: Decimal, bar: usize, time_ms: i64) {
        let side = match signal {
            Signal::Long => PositionSide::Long,
            Signal::Short => PositionSide::Short,
        };
        if let Some(w) = self.waiting {
            if w.side == side {
                return;
            }
            // The other way: the waiting entry goes, the signal stands.
            self.waiting = None;
        }
        match &self.open {
            Some(o) if o.side == side => {}
            Some(o) => {
                let price = self.market(reference, o.side == PositionSide::Short);
                let reverse = self.s.opposite == OppositeSignal::Reverse;
                let reason = if reverse {
                    ExitReason::Reversal
                } else {
                    ExitReason::Signal
                };
                self.exit(price, reason, bar, time_ms);
                if reverse {
                    self.enter(side, reference, bar, time_ms);
                }
            }
            None => self.enter(side, reference, bar, time_ms),
        }
    }

    /// A bar opening beyond the liquidation price: liquidated at the open,
    /// before a signal acted on at that open could close the position.
    fn gap(&mut self, c: &Candle, bar: usize) {
        let Some(o) = &self.open else { return };
        if let Some(liq) = o.liq {
            let beyond = match o.side {
                PositionSide::Long => c.open <= liq,
                PositionSide::Short => c.open >= liq,
            };
            if beyond {
                self.exit(liq, ExitReason::Liquidation, bar, c.time_ms);
            }
        }
    }

    /// Stops, targets and liquidation inside the bar, worst case first.
    fn protect(&mut self, c: &Candle, b: &Bar, bar: usize) {
        let Some(o) = &self.open else { return };
        let long = o.side == PositionSide::Long;
        if let Some((adverse, target)) = self.guard.filter(|_| o.trail.is_none()) {
            // Clearly inside both levels: nothing to do (the margin covers
            // the conversion to f64; anything closer is checked exactly).
            let eps = 1e-9 * b.close.abs();
            let clear = if long {
                b.low > adverse + eps && b.high < target - eps
            } else {
                b.high < adverse - eps && b.low > target + eps
            };
            if clear {
                return;
            }
        }
        // Prices against the position: a long loses as the price falls.
        let adverse_reached = |level: Decimal| {
            if long {
                c.low <= level
            } else {
                c.high >= level
            }
        };
        let opened_beyond = |level: Decimal| {
            if long {
                c.open <= level
            } else {
                c.open >= level
            }
        };
        let favourable_reached = |level: Decimal| {
            if long {
                c.high >= level
            } else {
                c.low <= level
            }
        };
        // A bar opening beyond the liquidation price liquidates before any
        // stop can fill: the stop's market order would sell below what the
        // margin covers, and the venue's engine takes the position first.
        if let Some(liq) = o.liq
            && opened_beyond(liq)
        {
            self.exit(liq, ExitReason::Liquidation, bar, c.time_ms);
            return;
        }
        // Which adverse level comes first as the price moves against us:
        // the stop, the liquidation, or where the trailing stop stands after
        // the bars before (liquidation first on a tie, as before a stop).
        let trail = o
            .trail
            .as_ref()
            .and_then(Trail::trigger)
            .map(|t| self.trail_level(t, long));
        let first_adverse = [
            (o.liq, ExitReason::Liquidation),
            (o.sl, ExitReason::StopLoss),
            (trail, ExitReason::TrailingStop),
        ]
        .into_iter()
        .filter_map(|(level, reason)| level.map(|l| (l, reason)))
        .reduce(|a, b| {
            let b_first = if long { b.0 > a.0 } else { b.0 < a.0 };
            if b_first { b } else { a }
        });
        if let Some((level, reason)) = first_adverse
            && adverse_reached(level)
        {
            let price = match reason {
                // A stop is a market order once triggered; a gap through it
                // fills at the open.
                ExitReason::Liquidation => level,
                _ if opened_beyond(level) => self.market(c.open, !long),
                _ => self.market(level, !long),
            };
            self.exit(price, reason, bar, c.time_ms);
            return;
        }
        if !o.legs.is_empty() {
            self.climb(c, bar);
            self.follow(c, bar);
            return;
        }
        if let Some(tp) = o.tp
            && favourable_reached(tp)
        {
            let gapped = if long { c.open >= tp } else { c.open <= tp };
            let reference = if gapped { c.open } else { tp };
            let price = self.market(reference, !long);
            self.exit(price, ExitReason::TakeProfit, bar, c.time_ms);
            return;
        }
        self.follow(c, bar);
    }

    /// A trailing stop's level on the tick grid, on the trader's worse side
    /// (its market order fills there at best).
    fn trail_level(&self, level: Decimal, long: bool) -> Decimal {
        let r = if long { Rounding::Down } else { Rounding::Up };
        self.s.rules.round_price(level, r)
    }

    /// The trailing stop sees the bar's favourable extreme (after the
    /// adverse one, which the bar is assumed to visit first); a close
    /// already back through its new level is taken there in the same bar.
    fn follow(&mut self, c: &Candle, bar: usize) {
        let Some(o) = self.open.as_mut() else { return };
        let long = o.side == PositionSide::Long;
        let Some(t) = o.trail.as_mut() else { return };
        t.observe(if long { c.high } else { c.low });
        let Some(level) = t.trigger() else { return };
        let level = self.trail_level(level, long);
        let beyond = if long {
            c.close <= level
        } else {
            c.close >= level
        };
        if beyond {
            let price = self.market(level, !long);
            self.exit(price, ExitReason::TrailingStop, bar, c.time_ms);
        }
    }

    /// The ladder's targets the bar reaches, nearest first (after the
    /// adverse side, which the bar is assumed to visit first). A stop the
    /// ladder moves that the bar's close is already beyond is taken at that
    /// stop: the price came back through it after the target.
    fn climb(&mut self, c: &Candle, bar: usize) {
        let Some(o) = &self.open else { return };
        let long = o.side == PositionSide::Long;
        let mut moved = None;
        loop {
            let Some(o) = self.open.as_mut() else { return };
            let Some(&leg) = o.legs.first() else { break };
            let reached = if long {
                c.high >= leg.price
            } else {
                c.low <= leg.price
            };
            if !reached {
                break;
            }
            if o.legs.len() == 1 {
                // The last target closes what is left.
                let gapped = if long {
                    c.open >= leg.price
                } else {
                    c.open <= leg.price
                };
                let reference = if gapped { c.open } else { leg.price };
                let price = self.market(reference, !long);
                self.exit(price, ExitReason::TakeProfit, bar, c.time_ms);
                return;
            }
            let gapped = if long {
                c.open >= leg.price
            } else {
                c.open <= leg.price
            };
            let reference = if gapped { c.open } else { leg.price };
            let price = self.market(reference, !long);
            let o = self.open.as_mut().expect("open");
            let qty = leg.venue_qty.min(o.left);
            let gross = sizing::pnl(o.side, o.entry, price, qty);
            let exit_fee = fee(price * qty, self.s.fee_rate);
            o.partial_gross += gross;
            o.partial_fees += exit_fee;
            o.partial_value += price * qty;
            o.left -= qty;
            o.legs.remove(0);
            self.wallet += gross - exit_fee;
            let o = self.open.as_ref().expect("open");
            if let Some(stop) = self.s.ladder.as_ref().and_then(|l| {
                l.moved_stop(
                    leg.target,
                    o.side,
                    o.entry,
                    &o.all_legs,
                    self.s.fee_rate,
                    &self.s.rules,
                )
            }) {
                moved = Some(stop);
                self.open.as_mut().expect("open").sl = Some(stop);
            }
        }
        if let Some(stop) = moved {
            let beyond = if long {
                c.close <= stop
            } else {
                c.close >= stop
            };
            if beyond {
                let price = self.market(stop, !long);
                self.exit(price, ExitReason::StopLoss, bar, c.time_ms);
                return;
            }
        }
        self.mirror();
    }

    /// Kept beside the exact values so marking to market each bar is
    /// floating-point work only.
    fn mirror(&mut self) {
        self.wallet_f = approx(self.wallet);
        self.guard = self.open.as_ref().map(|o| {
            let long = o.side == PositionSide::Long;
            let f = |d: Option<Decimal>, none: f64| d.map_or(none, approx);
            let (far_down, far_up) = (f64::NEG_INFINITY, f64::INFINITY);
            // The nearest target: the ladder's next one, or the take-profit.
            let target = o.legs.first().map(|l| l.price).or(o.tp);
            if long {
                let adverse = f(o.sl, far_down).max(f(o.liq, far_down));
                (adverse, f(target, far_up))
            } else {
                let adverse = f(o.sl, far_up).min(f(o.liq, far_up));
                (adverse, f(target, far_down))
            }
        });
        self.open_f = self.open.as_ref().map(|o| {
            let sign = if o.side == PositionSide::Long {
                1.0
            } else {
                -1.0
            };
            (sign, approx(o.entry), approx(o.left))
        });
    }

    fn equity(&self, close: f64) -> f64 {
        match self.open_f {
            Some((sign, entry, qty)) => self.wallet_f + sign * (close - entry) * qty,
            None => self.wallet_f,
        }
    }
}

/// A candle's time as the protections' clock.
fn clock(time_ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(time_ms).unwrap_or_default()
}

/// `d` as `f64`, within a few ulps: for statistics and the guard, whose
/// margins cover it (rust_decimal's exact conversion costs more than the
/// rest of a bar).
fn approx(d: Decimal) -> f64 {
    const POW10: [f64; 29] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28,
    ];
    d.mantissa() as f64 / POW10[d.scale().min(28) as usize]
}

/// A taker fee on `notional`, to the 8 decimals exchanges charge in.
pub fn fee(notional: Decimal, rate: Decimal) -> Decimal {
    (notional * rate).round_dp(8)
}

/// Runs `rule` over the series (oldest first).
pub fn run(series: &Series, mut rule: Rule, s: &Settings) -> Outcome {
    run_with(series, |_, bar| rule.update(*bar), s)
}

/// Runs any signal source: `signal(i, bar)` is asked on each bar's close,
/// in order, and sees nothing later.
pub fn run_with(
    series: &Series,
    signal: impl FnMut(usize, &Bar) -> Option<Signal>,
    s: &Settings,
) -> Outcome {
    run_observed(series, signal, s, |_| {})
}

/// How many bars pass between two progress reports.
pub const PROGRESS_EVERY: usize = 1 << 16;

/// [`run_with`], telling `progress` how many bars are done every
/// [`PROGRESS_EVERY`] bars and at the end.
pub fn run_observed(
    series: &Series,
    mut signal: impl FnMut(usize, &Bar) -> Option<Signal>,
    s: &Settings,
    mut progress: impl FnMut(usize),
) -> Outcome {
    let start = series.start;
    let all = &series.candles;
    let candles = &all[start..];
    let mut pending: Option<Signal> = None;
    // Warm-up: the indicators see every bar; nothing trades. A signal on
    // the last warm-up bar is acted on at the window's first open, as the
    // full history would.
    for (i, bar) in series.bars[..start].iter().enumerate() {
        pending = signal(i, bar);
    }
    let mut e = Engine::new(s);
    let mut equity = Vec::with_capacity(candles.len());
    let mut in_market = 0;
    for (i, (c, bar)) in candles.iter().zip(&series.bars[start..]).enumerate() {
        if i % PROGRESS_EVERY == 0 && i > 0 {
            progress(i);
        }
        if let Some(sig) = pending.take() {
            e.gap(c, i);
            e.act(sig, c.open, i, c.time_ms);
        }
        e.fill_waiting(c, i);
        e.protect(c, bar, i);
        if e.open.is_some() {
            in_market += 1;
        }
        if let Some(sig) = signal(start + i, bar) {
            match s.fill {
                Fill::NextOpen => pending = Some(sig),
                Fill::Close => {
                    e.act(sig, c.close, i, c.time_ms);
                }
            }
        }
        equity.push((c.time_ms, e.equity(bar.close)));
    }
    if let Some(last) = candles.last() {
        let long = e
            .open
            .as_ref()
            .is_some_and(|o| o.side == PositionSide::Long);
        if e.open.is_some() {
            let price = e.market(last.close, !long);
            e.exit(
                price,
                ExitReason::EndOfData,
                candles.len() - 1,
                last.time_ms,
            );
            if let Some(x) = equity.last_mut() {
                x.1 = e.wallet_f;
            }
        }
    }
    progress(candles.len());
    Outcome {
        trades: e.trades,
        equity,
        final_wallet: e.wallet,
        bars_in_market: in_market,
        ruined: e.ruined,
        skipped_entries: e.skipped,
        held_back_entries: e.held_back,
        expired_entries: e.expired,
    }
}
