//! Rate-limit budgets, so the client slows down *before* the venue refuses.
//!
//! Binance counts request weight per **IP address** (every account and
//! every poller of this process share it) and orders per account, over
//! 10 s and a minute, and tells the usage in response headers; a client
//! that keeps sending after a 429 is banned (418) for minutes to days. OKX
//! limits each endpoint per account over 2 s. So:
//!
//! - one [`IpBudget`] per venue address (its REST base URL), shared by every
//!   account of the process ([`ip_budget`]); the order windows per account;
//! - three priorities: protective requests (stops, targets, closes, the
//!   cancels and queries that keep a position safe) may use the whole
//!   limit and *wait* through a pause or a ban — they are queued, never
//!   dropped; entries use 90 % and give up after a short wait (a late
//!   signal is a stale one); background reads (balances, marks, periodic
//!   sweeps) use half and never wait — with many accounts on one address
//!   they thin out rather than crowd out entries;
//! - a 429 pauses everything for its `Retry-After`, and background reads
//!   stay quiet a minute longer; a 418 stops everything until it ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tradingbot_core::exchange::binance::rest::Cost;
use tradingbot_core::exchange::okx::rest::EndpointLimit;

/// Which requests come first when the budget is short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Stop-losses, take-profits, closes, their cancels and the reads that
    /// resolve them: waited for, never refused by our own budget.
    Protective,
    /// Entries and what they need now.
    Normal,
    /// Periodic reads that can be skipped (balances, marks, rules).
    Background,
}

/// Why a request may not go now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Wait this long (the window refills, or a 429's `Retry-After`).
    Wait(Duration),
    /// The venue banned us (418) for this long more.
    Banned(Duration),
}

/// Share of each limit a priority may use, in percent.
fn allowance(limit: u32, priority: Priority) -> u32 {
    let pct = match priority {
        Priority::Protective => 100,
        Priority::Normal => 90,
        Priority::Background => 50,
    };
    (u64::from(limit) * pct / 100) as u32
}

/// How long background reads stay off after a 429 or a ban ends.
const QUIET_AFTER: i64 = 60_000;

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

const MINUTE_MS: i64 = 60_000;
const TEN_S_MS: i64 = 10_000;

/// Pauses and bans, shared by whoever sends to one venue address.
#[derive(Debug, Default, Clone, Copy)]
struct Holds {
    paused_until_ms: i64,
    banned_until_ms: i64,
    quiet_until_ms: i64,
}

impl Holds {
    fn check(&self, priority: Priority, now_ms: i64) -> Result<(), Hold> {
        if self.banned_until_ms > now_ms {
            return Err(Hold::Banned(Duration::from_millis(
                (self.banned_until_ms - now_ms) as u64,
            )));
        }
        if self.paused_until_ms > now_ms {
            return Err(Hold::Wait(Duration::from_millis(
                (self.paused_until_ms - now_ms) as u64,
            )));
        }
        if priority == Priority::Background && self.quiet_until_ms > now_ms {
            return Err(Hold::Wait(Duration::from_millis(
                (self.quiet_until_ms - now_ms) as u64,
            )));
        }
        Ok(())
    }

    fn pause(&mut self, retry_after: Duration, now_ms: i64) {
        let until = now_ms + retry_after.as_millis() as i64;
        self.paused_until_ms = self.paused_until_ms.max(until);
        self.quiet_until_ms = self.quiet_until_ms.max(until + QUIET_AFTER);
    }

    fn ban(&mut self, retry_after: Duration, now_ms: i64) {
        let until = now_ms + retry_after.as_millis() as i64;
        self.banned_until_ms = self.banned_until_ms.max(until);
        self.quiet_until_ms = self.quiet_until_ms.max(until + QUIET_AFTER);
    }
}

#[derive(Debug)]
struct IpState {
    weight_limit: u32,
    weight: Window,
    holds: Holds,
}

/// The request-weight budget of one venue address, shared by every
/// account and poller of the process that sends there.
#[derive(Debug)]
pub struct IpBudget {
    state: Mutex<IpState>,
    /// The venue address it counts for (empty: not shared).
    venue: String,
}

/// A pause (429) or a ban (418).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldKind {
    Pause,
    Ban,
}

type HoldListener = Box<dyn Fn(&str, HoldKind, Duration) + Send + Sync>;

fn listener() -> &'static OnceLock<HoldListener> {
    static LISTENER: OnceLock<HoldListener> = OnceLock::new();
    &LISTENER
}

fn registry() -> &'static Mutex<HashMap<String, Arc<IpBudget>>> {
    static BUDGETS: OnceLock<Mutex<HashMap<String, Arc<IpBudget>>>> = OnceLock::new();
    BUDGETS.get_or_init(Default::default)
}

/// Tells `f` of every pause or ban a venue gives this process (so other
/// instances on the same address can hold too). Set once.
pub fn on_hold(f: impl Fn(&str, HoldKind, Duration) + Send + Sync + 'static) {
    let _ = listener().set(Box::new(f));
}

/// The venue addresses this process sends to.
pub fn venues() -> Vec<String> {
    registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .keys()
        .cloned()
        .collect()
}

/// Holds `venue` as another instance was told to (not told on again).
pub fn adopt_hold(venue: &str, kind: HoldKind, left: Duration) {
    let budget = registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(venue)
        .cloned();
    if let Some(b) = budget {
        let now = crate::exchange::http::now_ms();
        let mut s = b.lock();
        match kind {
            HoldKind::Pause => s.holds.pause(left, now),
            HoldKind::Ban => s.holds.ban(left, now),
        }
    }
}

impl IpBudget {
    pub fn new(weight_limit: u32) -> Self {
        Self::for_venue(weight_limit, String::new())
    }

    fn for_venue(weight_limit: u32, venue: String) -> Self {
        Self {
            state: Mutex::new(IpState {
                weight_limit,
                weight: Window::default(),
                holds: Holds::default(),
            }),
            venue,
        }
    }

    fn tell(&self, kind: HoldKind, left: Duration) {
        if !self.venue.is_empty()
            && let Some(f) = listener().get()
        {
            f(&self.venue, kind, left);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, IpState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reserves `weight`, or says how long to hold.
    pub fn acquire(&self, weight: u32, priority: Priority, now_ms: i64) -> Result<(), Hold> {
        let mut s = self.lock();
        s.holds.check(priority, now_ms)?;
        s.weight.roll(now_ms, MINUTE_MS);
        if s.weight.used + weight > allowance(s.weight_limit, priority) {
            return Err(Hold::Wait(Duration::from_millis(
                s.weight.left_ms(now_ms, MINUTE_MS),
            )));
        }
        s.weight.used += weight;
        Ok(())
    }

    /// The venue's own count (it includes what other processes on this
    /// address spent).
    pub fn observe(&self, weight: u32, now_ms: i64) {
        let mut s = self.lock();
        s.weight.roll(now_ms, MINUTE_MS);
        s.weight.used = s.weight.used.max(weight);
    }

    pub fn set_limit(&self, weight_per_minute: u32) {
        self.lock().weight_limit = weight_per_minute;
    }

    /// A 429: nothing goes until `retry_after` has passed.
    pub fn rate_limited(&self, retry_after: Duration, now_ms: i64) {
        self.lock().holds.pause(retry_after, now_ms);
        self.tell(HoldKind::Pause, retry_after);
    }

    /// A 418: banned until `retry_after` has passed.
    pub fn banned(&self, retry_after: Duration, now_ms: i64) {
        self.lock().holds.ban(retry_after, now_ms);
        self.tell(HoldKind::Ban, retry_after);
    }

    fn usage(&self, now_ms: i64) -> (u32, u32, bool) {
        let mut s = self.lock();
        s.weight.roll(now_ms, MINUTE_MS);
        (
            s.weight.used,
            s.weight_limit,
            s.holds.banned_until_ms > now_ms,
        )
    }
}

/// The process-wide budget of the venue address `base_url` (one egress
/// address per process: every account sending there shares it).
pub fn ip_budget(base_url: &str, default_weight_limit: u32) -> Arc<IpBudget> {
    let venue = base_url.trim_end_matches('/').to_owned();
    registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(venue.clone())
        .or_insert_with(|| Arc::new(IpBudget::for_venue(default_weight_limit, venue)))
        .clone()
}

#[derive(Debug)]
struct OrderState {
    orders_10s_limit: u32,
    orders_1m_limit: u32,
    orders_10s: Window,
    orders_1m: Window,
}

/// The Binance budget of one account: its order windows, and the weight
/// of the address it shares with every other account.
#[derive(Debug)]
pub struct BinanceBudget {
    ip: Arc<IpBudget>,
    orders: Mutex<OrderState>,
}

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
    /// `rateLimits`): 2400 weight a minute, 300 orders per 10 s, 1200 a
    /// minute; an address of its own.
    fn default() -> Self {
        Self::new(2400, 300, 1200)
    }
}

impl BinanceBudget {
    /// A budget on an address of its own.
    pub fn new(weight_limit: u32, orders_10s_limit: u32, orders_1m_limit: u32) -> Self {
        Self::shared(
            Arc::new(IpBudget::new(weight_limit)),
            orders_10s_limit,
            orders_1m_limit,
        )
    }

    /// A budget whose weight is `ip`'s, shared with other accounts.
    pub fn shared(ip: Arc<IpBudget>, orders_10s_limit: u32, orders_1m_limit: u32) -> Self {
        Self {
            ip,
            orders: Mutex::new(OrderState {
                orders_10s_limit,
                orders_1m_limit,
                orders_10s: Window::default(),
                orders_1m: Window::default(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OrderState> {
        self.orders.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn ip(&self) -> &Arc<IpBudget> {
        &self.ip
    }

    /// Adopts the limits exchangeInfo announces.
    pub fn set_limits(&self, weight_per_minute: u32, orders_per_10s: u32, orders_per_minute: u32) {
        self.ip.set_limit(weight_per_minute);
        let mut s = self.lock();
        s.orders_10s_limit = orders_per_10s;
        s.orders_1m_limit = orders_per_minute;
    }

    /// Reserves `cost` at `now_ms`, or says how long to hold.
    pub fn acquire(&self, cost: Cost, priority: Priority, now_ms: i64) -> Result<(), Hold> {
        let mut s = self.lock();
        if cost.order {
            s.orders_10s.roll(now_ms, TEN_S_MS);
            s.orders_1m.roll(now_ms, MINUTE_MS);
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
        }
        self.ip.acquire(cost.weight, priority, now_ms)?;
        if cost.order {
            s.orders_10s.used += 1;
            s.orders_1m.used += 1;
        }
        Ok(())
    }

    /// Adopts the usage the venue reported (`X-MBX-USED-WEIGHT-1M`,
    /// `X-MBX-ORDER-COUNT-10S`, `X-MBX-ORDER-COUNT-1M`).
    pub fn observe(
        &self,
        weight: Option<u32>,
        orders_10s: Option<u32>,
        orders_1m: Option<u32>,
        now_ms: i64,
    ) {
        if let Some(w) = weight {
            self.ip.observe(w, now_ms);
        }
        let mut s = self.lock();
        s.orders_10s.roll(now_ms, TEN_S_MS);
        s.orders_1m.roll(now_ms, MINUTE_MS);
        if let Some(o) = orders_10s {
            s.orders_10s.used = s.orders_10s.used.max(o);
        }
        if let Some(o) = orders_1m {
            s.orders_1m.used = s.orders_1m.used.max(o);
        }
    }

    /// A 429: the whole address pauses for `retry_after`.
    pub fn rate_limited(&self, retry_after: Duration, now_ms: i64) {
        self.ip.rate_limited(retry_after, now_ms);
    }

    /// A 418: the whole address is banned for `retry_after`.
    pub fn banned(&self, retry_after: Duration, now_ms: i64) {
        self.ip.banned(retry_after, now_ms);
    }

    pub fn usage(&self, now_ms: i64) -> BinanceUsage {
        let (weight_used, weight_limit, banned) = self.ip.usage(now_ms);
        let mut s = self.lock();
        s.orders_10s.roll(now_ms, TEN_S_MS);
        s.orders_1m.roll(now_ms, MINUTE_MS);
        BinanceUsage {
            weight_used,
            weight_limit,
            orders_10s: s.orders_10s.used,
            orders_10s_limit: s.orders_10s_limit,
            orders_1m: s.orders_1m.used,
            orders_1m_limit: s.orders_1m_limit,
            banned,
        }
    }
}

/// OKX budgets: one window per endpoint (OKX counts trading endpoints per
/// account), and the pause a 429 asks for.
#[derive(Debug, Default)]
pub struct OkxBudget {
    windows: Mutex<HashMap<&'static str, Window>>,
    holds: Mutex<Holds>,
}

impl OkxBudget {
    pub fn acquire(
        &self,
        limit: EndpointLimit,
        priority: Priority,
        now_ms: i64,
    ) -> Result<(), Hold> {
        self.holds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .check(priority, now_ms)?;
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
        self.holds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pause(retry_after, now_ms);
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

/// What a client does with a hold, by priority: protective requests wait
/// it out (queued, never dropped); entries wait up to `max_normal_wait`;
/// background reads never wait.
pub fn decide(hold: Hold, priority: Priority, max_normal_wait: Duration) -> HoldAction {
    match (hold, priority) {
        (Hold::Banned(d), Priority::Protective) | (Hold::Wait(d), Priority::Protective) => {
            HoldAction::Sleep(d)
        }
        (Hold::Wait(d), Priority::Normal) if d <= max_normal_wait => HoldAction::Sleep(d),
        (Hold::Banned(d), _) => HoldAction::Banned(d),
        (Hold::Wait(d), _) => HoldAction::Refuse(d),
    }
}

/// See [`decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldAction {
    Sleep(Duration),
    Refuse(Duration),
    Banned(Duration),
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
    fn accounts_on_one_address_share_its_weight_but_not_their_order_counts() {
        let ip = Arc::new(IpBudget::new(100));
        let a = BinanceBudget::shared(ip.clone(), 10, 100);
        let b = BinanceBudget::shared(ip, 10, 100);
        a.acquire(weight(60), Priority::Normal, T0).unwrap();
        assert!(
            b.acquire(weight(40), Priority::Normal, T0).is_err(),
            "100 > 90 % of the address's 100"
        );
        b.acquire(weight(30), Priority::Normal, T0).unwrap();
        for _ in 0..9 {
            a.acquire(order(), Priority::Normal, T0).unwrap();
        }
        assert!(a.acquire(order(), Priority::Normal, T0).is_err());
        assert!(
            b.acquire(order(), Priority::Normal, T0).is_ok(),
            "orders count per account"
        );
        // A 429 seen by one account stops the other.
        a.rate_limited(Duration::from_secs(5), T0);
        assert_eq!(
            b.acquire(weight(1), Priority::Protective, T0 + 1000),
            Err(Hold::Wait(Duration::from_secs(4)))
        );
        assert_eq!(
            ip_budget("http://venue.example/", 2400).usage(T0),
            ip_budget("http://venue.example", 2400).usage(T0),
        );
        assert!(Arc::ptr_eq(
            &ip_budget("http://venue.example/", 2400),
            &ip_budget("http://venue.example", 2400)
        ));
    }

    #[test]
    fn background_reads_stay_quiet_a_minute_after_a_pause_and_a_ban() {
        let b = BinanceBudget::default();
        assert!(b.acquire(weight(1), Priority::Background, T0).is_ok());
        b.rate_limited(Duration::from_secs(2), T0);
        let after = T0 + 2_001;
        assert!(b.acquire(weight(1), Priority::Normal, after).is_ok());
        assert!(b.acquire(weight(1), Priority::Background, after).is_err());
        assert!(
            b.acquire(weight(1), Priority::Background, T0 + 62_001)
                .is_ok()
        );
        b.banned(Duration::from_secs(10), T0 + 70_000);
        assert!(
            b.acquire(weight(1), Priority::Background, T0 + 80_001)
                .is_err()
        );
        assert!(b.acquire(weight(1), Priority::Normal, T0 + 80_001).is_ok());
        // Half for background reads.
        let b = BinanceBudget::new(100, 10, 100);
        assert!(b.acquire(weight(50), Priority::Background, T0).is_ok());
        assert!(b.acquire(weight(1), Priority::Background, T0).is_err());
        assert!(b.acquire(weight(40), Priority::Normal, T0).is_ok());
    }

    #[test]
    fn protective_requests_wait_out_bans_entries_give_up_background_never_waits() {
        let max = Duration::from_secs(2);
        let ban = Hold::Banned(Duration::from_secs(120));
        let short = Hold::Wait(Duration::from_secs(1));
        let long = Hold::Wait(Duration::from_secs(30));
        assert_eq!(
            decide(ban, Priority::Protective, max),
            HoldAction::Sleep(Duration::from_secs(120))
        );
        assert_eq!(
            decide(ban, Priority::Normal, max),
            HoldAction::Banned(Duration::from_secs(120))
        );
        assert_eq!(
            decide(short, Priority::Normal, max),
            HoldAction::Sleep(Duration::from_secs(1))
        );
        assert_eq!(
            decide(long, Priority::Normal, max),
            HoldAction::Refuse(Duration::from_secs(30))
        );
        assert_eq!(
            decide(short, Priority::Background, max),
            HoldAction::Refuse(Duration::from_secs(1))
        );
        assert_eq!(
            decide(long, Priority::Protective, max),
            HoldAction::Sleep(Duration::from_secs(30))
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
