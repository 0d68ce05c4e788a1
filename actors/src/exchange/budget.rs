//! Rate-limit budgets, held per exchange account, so the client slows down
//! *before* the venue refuses. Binance counts request weight per minute and
//! orders per 10 s and per minute, and tells the usage in response headers;
//! OKX limits each endpoint over 2 s. A 429 pauses sending for its
//! `Retry-After`; a 418 (IP ban) stops sending to the venue until it ends.
//!
//! When a budget is short, protective orders come first: normal requests
//! may only use 90 % of each limit, protective ones all of it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tradingbot_core::exchange::binance::rest::Cost;
use tradingbot_core::exchange::okx::rest::EndpointLimit;

/// Which requests come first when the budget is short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Stop-losses, take-profits, closes and cancels of protection.
    Protective,
    /// Everything else.
    Normal,
}

/// Why a request may not go now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Wait this long (the window refills, or a 429's `Retry-After`).
    Wait(Duration),
    /// The venue banned us (418) for this long more.
    Banned(Duration),
}

/// Share of a limit normal requests may use.
const NORMAL_SHARE: f64 = 0.9;

fn allowance(limit: u32, priority: Priority) -> u32 {
    match priority {
        Priority::Protective => limit,
        Priority::Normal => ((limit as f64) * NORMAL_SHARE).floor() as u32,
    }
}

/// A counter over fixed windows of `len_ms` aligned to the epoch (Binance
/// resets its minute counters on the minute).
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    start_ms: i64,
    used: u32,
}

impl Window {
    fn roll(&mut self, now_ms: i64, len_ms: i64) {
        let start = now_ms - now_ms.rem_euclid(len_ms);
        if start != self.start_ms {
            self.start_ms = start;
            self.used = 0;
        }
    }

    fn left_ms(&self, now_ms: i64, len_ms: i64) -> u64 {
        (self.start_ms + len_ms - now_ms).max(1) as u64
    }
}

#[derive(Debug)]
struct BinanceState {
    weight_limit: u32,
    orders_10s_limit: u32,
    orders_1m_limit: u32,
    weight: Window,
    orders_10s: Window,
    orders_1m: Window,
    paused_until_ms: i64,
    banned_until_ms: i64,
}

/// The Binance budget of one account (Binance counts weight per IP: one
/// process's accounts share the venue's view, each keeps its own estimate).
#[derive(Debug)]
pub struct BinanceBudget {
    state: Mutex<BinanceState>,
}

const MINUTE_MS: i64 = 60_000;
const TEN_S_MS: i64 = 10_000;

/// A snapshot for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BinanceUsage {
    pub weight_used: u32,
    pub weight_limit: u32,
    pub orders_10s: u32,
    pub orders_10s_limit: u32,
    pub orders_1m: u32,
    pub orders_1m_limit: u32,
    pub banned: bool,
}

impl Default for BinanceBudget {
    /// The limits Binance publishes for USDⓈ-M futures (exchangeInfo
    /// `rateLimits`): 2400 weight a minute, 300 orders per 10 s, 1200 a minute.
    fn default() -> Self {
        Self::new(2400, 300, 1200)
    }
}

impl BinanceBudget {
    pub fn new(weight_limit: u32, orders_10s_limit: u32, orders_1m_limit: u32) -> Self {
        Self {
            state: Mutex::new(BinanceState {
                weight_limit,
                orders_10s_limit,
                orders_1m_limit,
                weight: Window::default(),
                orders_10s: Window::default(),
                orders_1m: Window::default(),
                paused_until_ms: 0,
                banned_until_ms: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BinanceState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adopts the limits exchangeInfo announces.
    pub fn set_limits(&self, weight_per_minute: u32, orders_per_10s: u32, orders_per_minute: u32) {
        let mut s = self.lock();
        s.weight_limit = weight_per_minute;
        s.orders_10s_limit = orders_per_10s;
        s.orders_1m_limit = orders_per_minute;
    }

    /// Reserves `cost` at `now_ms`, or says how long to hold.
    pub fn acquire(&self, cost: Cost, priority: Priority, now_ms: i64) -> Result<(), Hold> {
        let mut s = self.lock();
        if s.banned_until_ms > now_ms {
            return Err(Hold::Banned(Duration::from_millis(
                (s.banned_until_ms - now_ms) as u64,
            )));
        }
        if s.paused_until_ms > now_ms {
            return Err(Hold::Wait(Duration::from_millis(
                (s.paused_until_ms - now_ms) as u64,
            )));
        }
        s.weight.roll(now_ms, MINUTE_MS);
        s.orders_10s.roll(now_ms, TEN_S_MS);
        s.orders_1m.roll(now_ms, MINUTE_MS);
        if s.weight.used + cost.weight > allowance(s.weight_limit, priority) {
            return Err(Hold::Wait(Duration::from_millis(
                s.weight.left_ms(now_ms, MINUTE_MS),
            )));
        }
        if cost.order {
            if s.orders_10s.used + 1 > allowance(s.orders_10s_limit, priority) {
                return Err(Hold::Wait(Duration::from_millis(
                    s.orders_10s.left_ms(now_ms, TEN_S_MS),
                )));
            }
            if s.orders_1m.used + 1 > allowance(s.orders_1m_limit, priority) {
                return Err(Hold::Wait(Duration::from_millis(
                    s.orders_1m.left_ms(now_ms, MINUTE_MS),
                )));
            }
            s.orders_10s.used += 1;
            s.orders_1m.used += 1;
        }
        s.weight.used += cost.weight;
        Ok(())
    }

    /// Adopts the usage the venue reported (`X-MBX-USED-WEIGHT-1M`,
    /// `X-MBX-ORDER-COUNT-10S`, `X-MBX-ORDER-COUNT-1M`): the venue's count
    /// includes what other processes on our address spent.
    pub fn observe(
        &self,
        weight: Option<u32>,
        orders_10s: Option<u32>,
        orders_1m: Option<u32>,
        now_ms: i64,
    ) {
        let mut s = self.lock();
        s.weight.roll(now_ms, MINUTE_MS);
        s.orders_10s.roll(now_ms, TEN_S_MS);
        s.orders_1m.roll(now_ms, MINUTE_MS);
        if let Some(w) = weight {
            s.weight.used = s.weight.used.max(w);
        }
        if let Some(o) = orders_10s {
            s.orders_10s.used = s.orders_10s.used.max(o);
        }
        if let Some(o) = orders_1m {
            s.orders_1m.used = s.orders_1m.used.max(o);
        }
    }

    /// A 429: nothing is sent until `retry_after` has passed.
    pub fn rate_limited(&self, retry_after: Duration, now_ms: i64) {
        let mut s = self.lock();
        s.paused_until_ms = s
            .paused_until_ms
            .max(now_ms + retry_after.as_millis() as i64);
    }

    /// A 418: banned until `retry_after` has passed.
    pub fn banned(&self, retry_after: Duration, now_ms: i64) {
        let mut s = self.lock();
        s.banned_until_ms = s
            .banned_until_ms
            .max(now_ms + retry_after.as_millis() as i64);
    }

    pub fn usage(&self, now_ms: i64) -> BinanceUsage {
        let mut s = self.lock();
        s.weight.roll(now_ms, MINUTE_MS);
        s.orders_10s.roll(now_ms, TEN_S_MS);
        s.orders_1m.roll(now_ms, MINUTE_MS);
        BinanceUsage {
            weight_used: s.weight.used,
            weight_limit: s.weight_limit,
            orders_10s: s.orders_10s.used,
            orders_10s_limit: s.orders_10s_limit,
            orders_1m: s.orders_1m.used,
            orders_1m_limit: s.orders_1m_limit,
            banned: s.banned_until_ms > now_ms,
        }
    }
}

/// OKX budgets: one window per endpoint.
#[derive(Debug, Default)]
pub struct OkxBudget {
    windows: Mutex<HashMap<&'static str, Window>>,
    paused_until_ms: Mutex<i64>,
}

impl OkxBudget {
    pub fn acquire(
        &self,
        limit: EndpointLimit,
        priority: Priority,
        now_ms: i64,
    ) -> Result<(), Hold> {
        let paused = *self
            .paused_until_ms
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if paused > now_ms {
            return Err(Hold::Wait(Duration::from_millis((paused - now_ms) as u64)));
        }
        let len = limit.per.as_millis() as i64;
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let w = windows.entry(limit.key).or_default();
        w.roll(now_ms, len);
        if w.used + 1 > allowance(limit.requests, priority) {
            return Err(Hold::Wait(Duration::from_millis(w.left_ms(now_ms, len))));
        }
        w.used += 1;
        Ok(())
    }

    pub fn rate_limited(&self, retry_after: Duration, now_ms: i64) {
        let mut p = self
            .paused_until_ms
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *p = (*p).max(now_ms + retry_after.as_millis() as i64);
    }

    /// Requests spent in the current window of `key`.
    pub fn used(&self, key: &'static str) -> u32 {
        self.windows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .map_or(0, |w| w.used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_080_000; // 40 s into a minute

    fn weight(w: u32) -> Cost {
        Cost {
            weight: w,
            order: false,
        }
    }

    fn order() -> Cost {
        Cost {
            weight: 0,
            order: true,
        }
    }

    #[test]
    fn holds_normal_requests_at_ninety_percent_and_protective_at_the_limit() {
        let b = BinanceBudget::new(100, 10, 100);
        assert!(b.acquire(weight(90), Priority::Normal, T0).is_ok());
        assert_eq!(
            b.acquire(weight(1), Priority::Normal, T0),
            Err(Hold::Wait(Duration::from_secs(20)))
        );
        assert!(b.acquire(weight(10), Priority::Protective, T0).is_ok());
        assert!(b.acquire(weight(1), Priority::Protective, T0).is_err());
        // The next minute refills.
        assert!(b.acquire(weight(90), Priority::Normal, T0 + 20_000).is_ok());
    }

    #[test]
    fn counts_orders_per_ten_seconds() {
        let b = BinanceBudget::new(2400, 10, 1200);
        for _ in 0..9 {
            b.acquire(order(), Priority::Normal, T0).unwrap();
        }
        assert!(matches!(
            b.acquire(order(), Priority::Normal, T0),
            Err(Hold::Wait(_))
        ));
        b.acquire(order(), Priority::Protective, T0).unwrap();
        b.acquire(order(), Priority::Normal, T0 + 10_000).unwrap();
    }

    #[test]
    fn adopts_the_venues_count_and_pauses_on_429_and_418() {
        let b = BinanceBudget::default();
        b.observe(Some(2200), None, None, T0);
        assert!(
            b.acquire(weight(5), Priority::Normal, T0).is_err(),
            "2205 > 90 % of 2400"
        );
        assert!(b.acquire(weight(5), Priority::Protective, T0).is_ok());
        b.rate_limited(Duration::from_secs(3), T0);
        assert_eq!(
            b.acquire(weight(1), Priority::Protective, T0 + 1000),
            Err(Hold::Wait(Duration::from_secs(2)))
        );
        b.banned(Duration::from_secs(120), T0);
        assert_eq!(
            b.acquire(weight(1), Priority::Protective, T0 + 20_000),
            Err(Hold::Banned(Duration::from_secs(100)))
        );
        assert!(b.usage(T0 + 20_000).banned);
        assert!(
            b.acquire(weight(1), Priority::Protective, T0 + 120_001)
                .is_ok()
        );
    }

    #[test]
    fn okx_limits_each_endpoint_separately() {
        let b = OkxBudget::default();
        let place = EndpointLimit {
            key: "trade/order",
            requests: 10,
            per: Duration::from_secs(2),
        };
        let bal = EndpointLimit {
            key: "account/balance",
            requests: 10,
            per: Duration::from_secs(2),
        };
        for _ in 0..9 {
            b.acquire(place, Priority::Normal, T0).unwrap();
        }
        assert!(b.acquire(place, Priority::Normal, T0).is_err());
        assert!(b.acquire(bal, Priority::Normal, T0).is_ok());
        assert!(b.acquire(place, Priority::Protective, T0).is_ok());
        assert!(b.acquire(place, Priority::Normal, T0 + 2_000).is_ok());
        assert_eq!(b.used("trade/order"), 1);
    }
}
