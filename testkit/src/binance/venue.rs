//! The state and rules of the local venue, written from Binance's USDⓈ-M
//! futures documentation: request security (SIGNED endpoints, timing
//! security), filters, error codes, the Algo Order service and the user
//! data stream's events.

use hmac::{Hmac, KeyInit, Mac};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::{HashMap, VecDeque};
use std::str::FromStr;
use tokio::sync::mpsc::UnboundedSender;

/// Requests arriving this soon after a 429 were sent before the client
/// could have read it: they do not count towards a ban.
const BAN_GRACE_MS: i64 = 100;

/// Taker fee (0.05 %), as on Binance's default tier.
pub const TAKER_FEE: Decimal = Decimal::from_parts(5, 0, 0, false, 4);
/// Binance USDⓈ-M's base-tier maker fee, 0.02 %.
pub const MAKER_FEE: Decimal = Decimal::from_parts(2, 0, 0, false, 4);

/// A way to make the next request to a path fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// 429 with `Retry-After` and code -1003.
    RateLimited { retry_after_secs: u64 },
    /// 418: the address is banned.
    Banned { retry_after_secs: u64 },
    /// The request is carried out (or not) but the answer is 503
    /// "Unknown error" after `delay_ms` — Binance's unknown outcome.
    Unknown { execute: bool, delay_ms: u64 },
    /// A lookup answers -2013 "Order does not exist" whatever the venue
    /// holds: an order not yet visible to queries.
    NotVisible,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub params: Vec<(String, String)>,
    pub api_key: Option<String>,
    /// The answer: HTTP status and Binance error code (0 for success).
    pub status: u16,
    pub code: i64,
}

impl Recorded {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub struct SymbolSpec {
    pub tick: Decimal,
    pub step: Decimal,
    pub min_qty: Decimal,
    pub max_qty: Decimal,
    pub market_max_qty: Decimal,
    pub min_notional: Decimal,
    pub max_leverage: u32,
    pub mark: Decimal,
    /// Leverage brackets: (notional cap, maintenance margin rate, initial
    /// leverage), smallest first.
    pub brackets: Vec<(Decimal, Decimal, u32)>,
}

#[derive(Debug, Clone, Default)]
pub struct Position {
    /// Signed (one-way mode).
    pub amt: Decimal,
    pub entry: Decimal,
}

#[derive(Debug, Clone)]
pub struct VOrder {
    pub id: i64,
    pub client_id: String,
    pub symbol: String,
    pub side: String,
    pub kind: String,
    pub qty: Decimal,
    pub price: Decimal,
    pub status: String,
    pub executed: Decimal,
    pub avg: Decimal,
    pub reduce_only: bool,
    pub time: i64,
}

#[derive(Debug, Clone)]
pub struct VAlgo {
    pub id: i64,
    pub client_id: String,
    pub symbol: String,
    pub side: String,
    pub kind: String,
    pub qty: Option<Decimal>,
    pub close_position: bool,
    pub reduce_only: bool,
    pub trigger: Decimal,
    pub working_type: String,
    pub status: String,
    pub executed: Decimal,
    pub avg: Decimal,
    pub actual_order_id: Option<i64>,
    pub time: i64,
    /// Trailing stops: callback %, activation, and the best mark since it
    /// armed (`None` until then).
    pub callback: Option<Decimal>,
    pub activation: Option<Decimal>,
    pub best: Option<Decimal>,
}

pub struct Account {
    pub secret: Vec<u8>,
    pub can_trade: bool,
    pub can_withdraw: bool,
    pub wallet: Decimal,
    pub positions: HashMap<String, Position>,
    pub leverage: HashMap<String, u32>,
    pub isolated: HashMap<String, bool>,
    pub orders: Vec<VOrder>,
    pub algos: Vec<VAlgo>,
    /// (window, orders) per 10 s and per minute.
    order_windows: ((i64, u32), (i64, u32)),
}

/// An error answer: HTTP status, Binance code, message.
pub type Refusal = (u16, i64, String);

fn refuse(status: u16, code: i64, msg: &str) -> Refusal {
    (status, code, msg.to_owned())
}

pub struct Venue {
    pub symbols: HashMap<String, SymbolSpec>,
    pub accounts: HashMap<String, Account>,
    pub listen_keys: HashMap<String, (String, i64)>,
    pub streams: HashMap<String, Vec<UnboundedSender<String>>>,
    pub failures: VecDeque<(String, Failure)>,
    /// (path, requests to let through first, ms): that request is carried
    /// out, then its answer held before a 503 — the moment to kill a client.
    pub holds: Vec<(String, u32, u64)>,
    pub requests: Vec<Recorded>,
    /// Added to the server's clock (to exercise `-1021` and clock sync).
    pub clock_skew_ms: i64,
    pub weight_limit: u32,
    /// Advertised order limits (per 10 s, per minute), for load tests.
    pub order_limit_10s: u32,
    pub order_limit_1m: u32,
    /// Bumped to drop every websocket API connection.
    pub ws_api_generation: u64,
    /// The websocket API carries requests out but sends no answers.
    pub ws_api_silent: bool,
    /// Candles served by `/fapi/v1/klines`, by (symbol, interval).
    pub klines: HashMap<(String, String), Vec<tradingbot_core::market::candle::Candle>>,
    /// Requests tolerated while a 429's `Retry-After` runs before the
    /// address is banned (418), as Binance bans clients that keep sending;
    /// `None`: never banned.
    pub ban_after: Option<u32>,
    /// How long a ban lasts.
    pub ban_secs: u64,
    /// 429s answered (weight and order limits) and bans given.
    pub rate_limited_count: u32,
    pub bans: u32,
    limited_until: i64,
    /// When the last 429 was answered: requests already on their way then
    /// (within `BAN_GRACE_MS`) are not held against the client.
    limited_at: i64,
    during_limit: u32,
    banned_until: i64,
    weight_minute: i64,
    weight_used: u32,
    orders_10s: (i64, u32),
    orders_1m: (i64, u32),
    next_id: i64,
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("literal decimal")
}

impl Venue {
    pub fn new() -> Self {
        let mut symbols = HashMap::new();
        symbols.insert(
            "BTCUSDT".to_owned(),
            SymbolSpec {
                tick: d("0.10"),
                step: d("0.001"),
                min_qty: d("0.001"),
                max_qty: d("1000"),
                market_max_qty: d("120"),
                min_notional: d("100"),
                max_leverage: 125,
                mark: d("43000"),
                brackets: vec![
                    (d("50000"), d("0.004"), 125),
                    (d("600000"), d("0.005"), 100),
                    (d("3000000"), d("0.01"), 75),
                ],
            },
        );
        symbols.insert(
            "ETHUSDT".to_owned(),
            SymbolSpec {
                tick: d("0.01"),
                step: d("0.001"),
                min_qty: d("0.001"),
                max_qty: d("10000"),
                market_max_qty: d("2000"),
                min_notional: d("20"),
                max_leverage: 100,
                mark: d("2300"),
                brackets: vec![
                    (d("10000"), d("0.005"), 100),
                    (d("100000"), d("0.0065"), 75),
                    (d("500000"), d("0.01"), 50),
                ],
            },
        );
        Self {
            symbols,
            accounts: HashMap::new(),
            listen_keys: HashMap::new(),
            streams: HashMap::new(),
            failures: VecDeque::new(),
            holds: Vec::new(),
            requests: Vec::new(),
            clock_skew_ms: 0,
            weight_limit: 2400,
            order_limit_10s: 300,
            order_limit_1m: 1200,
            ws_api_generation: 0,
            ws_api_silent: false,
            klines: HashMap::new(),
            ban_after: None,
            ban_secs: 120,
            rate_limited_count: 0,
            bans: 0,
            limited_until: 0,
            limited_at: 0,
            during_limit: 0,
            banned_until: 0,
            weight_minute: 0,
            weight_used: 0,
            orders_10s: (0, 0),
            orders_1m: (0, 0),
            next_id: 1_000_000,
        }
    }

    pub fn now(&self) -> i64 {
        crate::now_ms() + self.clock_skew_ms
    }

    fn id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn add_account(&mut self, api_key: &str, secret: &str, usdt: Decimal) {
        self.accounts.insert(
            api_key.to_owned(),
            Account {
                secret: secret.as_bytes().to_vec(),
                can_trade: true,
                can_withdraw: false,
                wallet: usdt,
                positions: HashMap::new(),
                leverage: HashMap::new(),
                isolated: HashMap::new(),
                orders: Vec::new(),
                algos: Vec::new(),
                order_windows: ((0, 0), (0, 0)),
            },
        );
    }

    /// Request weight of an endpoint (from each endpoint's documentation);
    /// klines cost by `limit`: 1 below 100, 2 below 500, 5 up to 1000, 10
    /// beyond.
    pub fn weight(method: &str, path: &str, query: &str) -> u32 {
        match (method, path) {
            ("GET", "/fapi/v1/klines") => {
                let limit = parse_params(query)
                    .iter()
                    .find(|(k, _)| k == "limit")
                    .and_then(|(_, v)| v.parse::<u32>().ok())
                    .unwrap_or(500);
                match limit {
                    0..100 => 1,
                    100..500 => 2,
                    500..=1000 => 5,
                    _ => 10,
                }
            }
            ("GET", "/fapi/v3/balance")
            | ("GET", "/fapi/v2/account")
            | ("GET", "/fapi/v2/positionRisk") => 5,
            ("POST", "/fapi/v1/order") | ("POST", "/fapi/v1/algoOrder") => 0,
            _ => 1,
        }
    }

    /// The address's standing before a request is counted: `Err` with the
    /// HTTP status (418 or 429) and the seconds to wait when it must be
    /// refused. A client that keeps sending during a 429's wait is banned
    /// once it passes `ban_after` requests.
    pub fn admit(&mut self) -> Result<(), (u16, u64)> {
        let now = self.now();
        if self.banned_until > now {
            return Err((418, ((self.banned_until - now) as u64).div_ceil(1000)));
        }
        if self.limited_until > now {
            if now - self.limited_at > BAN_GRACE_MS {
                self.during_limit += 1;
            }
            if self.ban_after.is_some_and(|n| self.during_limit > n) {
                self.banned_until = now + self.ban_secs as i64 * 1000;
                self.bans += 1;
                return Err((418, self.ban_secs));
            }
            self.rate_limited_count += 1;
            return Err((
                429,
                ((self.limited_until - now) as u64).div_ceil(1000).max(1),
            ));
        }
        Ok(())
    }

    /// A 429 was answered: requests are refused for `secs` from now.
    pub fn limited_for(&mut self, secs: u64) {
        let now = self.now();
        let until = now + secs as i64 * 1000;
        if until > self.limited_until {
            if self.limited_until <= now {
                self.limited_at = now;
                self.during_limit = 0;
            }
            self.limited_until = until;
        }
        self.rate_limited_count += 1;
    }

    /// A 418 was answered: everything is refused for `secs` from now.
    pub fn ban_for(&mut self, secs: u64) {
        self.banned_until = self.banned_until.max(self.now() + secs as i64 * 1000);
        self.bans += 1;
    }

    /// Whether the address is banned now.
    pub fn banned(&self) -> bool {
        self.banned_until > self.now()
    }

    /// Counts an order of `key` against the account's order limits
    /// (orders per 10 s and per minute); `Err` with seconds to wait.
    pub fn spend_order(&mut self, key: &str) -> Result<(), u64> {
        let now = self.now();
        let (l10, l1m) = (self.order_limit_10s, self.order_limit_1m);
        let Some(a) = self.accounts.get_mut(key) else {
            return Ok(());
        };
        let (w10, w1m) = (now / 10_000, now / 60_000);
        if a.order_windows.0.0 != w10 {
            a.order_windows.0 = (w10, 0);
        }
        if a.order_windows.1.0 != w1m {
            a.order_windows.1 = (w1m, 0);
        }
        if a.order_windows.0.1 >= l10 {
            return Err((((w10 + 1) * 10_000 - now) as u64).div_ceil(1000));
        }
        if a.order_windows.1.1 >= l1m {
            return Err((((w1m + 1) * 60_000 - now) as u64).div_ceil(1000));
        }
        a.order_windows.0.1 += 1;
        a.order_windows.1.1 += 1;
        Ok(())
    }

    /// The orders of `key` in the current 10 s and minute windows.
    pub fn order_counts(&self, key: &str) -> (u32, u32) {
        self.accounts
            .get(key)
            .map_or((0, 0), |a| (a.order_windows.0.1, a.order_windows.1.1))
    }

    /// Spends request weight; `Err` with seconds to wait when over.
    pub fn spend(&mut self, weight: u32, order: bool) -> Result<(u32, u32, u32), u64> {
        let now = self.now();
        let minute = now / 60_000;
        if minute != self.weight_minute {
            self.weight_minute = minute;
            self.weight_used = 0;
        }
        if self.weight_used + weight > self.weight_limit {
            return Err(((minute + 1) * 60_000 - now).max(1000) as u64 / 1000);
        }
        self.weight_used += weight;
        if order {
            let w10 = now / 10_000;
            if self.orders_10s.0 != w10 {
                self.orders_10s = (w10, 0);
            }
            if self.orders_1m.0 != minute {
                self.orders_1m = (minute, 0);
            }
            self.orders_10s.1 += 1;
            self.orders_1m.1 += 1;
        }
        Ok((self.weight_used, self.orders_10s.1, self.orders_1m.1))
    }

    /// SIGNED request security: the key exists, the signature (HMAC-SHA256
    /// of the total parameter string without `signature`) matches, and the
    /// timestamp is inside `recvWindow` (Binance's "Timing security").
    pub fn authenticate(
        &self,
        api_key: Option<&str>,
        total_params: &str,
    ) -> Result<String, Refusal> {
        let key = api_key.ok_or_else(|| refuse(401, -2014, "API-key format invalid."))?;
        let account = self.accounts.get(key).ok_or_else(|| {
            refuse(
                401,
                -2015,
                "Invalid API-key, IP, or permissions for action.",
            )
        })?;
        let (payload, signature) = total_params.rsplit_once("&signature=").ok_or_else(|| {
            refuse(
                400,
                -1102,
                "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
            )
        })?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&account.secret).expect("any key length");
        mac.update(payload.as_bytes());
        let given = hex::decode(signature.to_ascii_lowercase()).unwrap_or_default();
        if mac.verify_slice(&given).is_err() {
            return Err(refuse(
                400,
                -1022,
                "Signature for this request is not valid.",
            ));
        }
        let params = parse_params(payload);
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let timestamp: i64 = get("timestamp")
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| {
                refuse(
                    400,
                    -1102,
                    "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
                )
            })?;
        let recv_window: i64 = get("recvWindow")
            .and_then(|w| w.parse().ok())
            .unwrap_or(5000);
        if recv_window > 60_000 {
            return Err(refuse(400, -1131, "recvWindow must be less than 60000"));
        }
        let server = self.now();
        if !(timestamp < server + 1000 && server - timestamp <= recv_window) {
            return Err(refuse(
                400,
                -1021,
                "Timestamp for this request is outside of the recvWindow.",
            ));
        }
        Ok(key.to_owned())
    }

    pub fn set_mark(&mut self, symbol: &str, price: Decimal) {
        if let Some(s) = self.symbols.get_mut(symbol) {
            s.mark = price;
        }
        let keys: Vec<String> = self.accounts.keys().cloned().collect();
        for key in keys {
            self.trigger_algos(&key, symbol, price);
            self.match_limits(&key, symbol, price);
        }
    }

    /// Resting limit orders the price reached fill at their own price, as
    /// makers.
    fn match_limits(&mut self, api_key: &str, symbol: &str, mark: Decimal) {
        let due: Vec<usize> = self.accounts[api_key]
            .orders
            .iter()
            .enumerate()
            .filter(|(_, o)| {
                o.symbol == symbol
                    && o.kind == "LIMIT"
                    && (o.status == "NEW" || o.status == "PARTIALLY_FILLED")
                    && ((o.side == "BUY" && mark <= o.price)
                        || (o.side == "SELL" && mark >= o.price))
            })
            .map(|(i, _)| i)
            .collect();
        for i in due {
            let mut o = self.accounts[api_key].orders[i].clone();
            let qty = o.qty - o.executed;
            let (price, realized, fee) =
                self.fill_at(api_key, symbol, &o.side, qty, o.price, MAKER_FEE);
            o.avg = if o.executed.is_zero() {
                price
            } else {
                (o.avg * o.executed + price * qty) / o.qty
            };
            o.executed = o.qty;
            o.status = "FILLED".into();
            self.order_event(api_key, &o, qty, realized, fee);
            self.accounts.get_mut(api_key).expect("exists").orders[i] = o;
        }
    }

    /// Fills part of a resting limit order now (a thin book), for tests of
    /// partial fills: `qty` at its price.
    pub fn fill_partly(&mut self, client_id: &str, qty: Decimal) {
        let keys: Vec<String> = self.accounts.keys().cloned().collect();
        for key in keys {
            let found = self.accounts[&key]
                .orders
                .iter()
                .position(|o| o.client_id == client_id && o.status == "NEW");
            let Some(i) = found else { continue };
            let mut o = self.accounts[&key].orders[i].clone();
            let qty = qty.min(o.qty);
            let (price, realized, fee) =
                self.fill_at(&key, &o.symbol.clone(), &o.side, qty, o.price, MAKER_FEE);
            o.avg = price;
            o.executed = qty;
            o.status = if qty == o.qty {
                "FILLED".into()
            } else {
                "PARTIALLY_FILLED".into()
            };
            self.order_event(&key, &o, qty, realized, fee);
            self.accounts.get_mut(&key).expect("exists").orders[i] = o;
        }
    }

    fn push(&mut self, api_key: &str, event: Value) {
        if let Some(conns) = self.streams.get_mut(api_key) {
            let text = event.to_string();
            conns.retain(|tx| tx.send(text.clone()).is_ok());
        }
    }

    /// Executes a market fill of `qty` on `side`; returns (avg price, realized pnl, fee).
    fn fill(
        &mut self,
        api_key: &str,
        symbol: &str,
        side: &str,
        qty: Decimal,
    ) -> (Decimal, Decimal, Decimal) {
        let price = self.symbols[symbol].mark;
        self.fill_at(api_key, symbol, side, qty, price, TAKER_FEE)
    }

    /// A fill of `qty` on `side` at `price`, paying `fee_rate`.
    fn fill_at(
        &mut self,
        api_key: &str,
        symbol: &str,
        side: &str,
        qty: Decimal,
        price: Decimal,
        fee_rate: Decimal,
    ) -> (Decimal, Decimal, Decimal) {
        let acct = self.accounts.get_mut(api_key).expect("account exists");
        let signed = if side == "BUY" { qty } else { -qty };
        let pos = acct.positions.entry(symbol.to_owned()).or_default();
        let mut realized = Decimal::ZERO;
        if pos.amt.is_zero() || pos.amt.is_sign_positive() == signed.is_sign_positive() {
            let new_amt = pos.amt + signed;
            pos.entry = (pos.entry * pos.amt.abs() + price * qty) / new_amt.abs();
            pos.amt = new_amt;
        } else {
            let closing = qty.min(pos.amt.abs());
            let direction = if pos.amt > Decimal::ZERO {
                Decimal::ONE
            } else {
                -Decimal::ONE
            };
            realized = (price - pos.entry) * closing * direction;
            let new_amt = pos.amt + signed;
            if new_amt.is_zero() {
                pos.entry = Decimal::ZERO;
            } else if new_amt.is_sign_positive() != pos.amt.is_sign_positive() {
                pos.entry = price;
            }
            pos.amt = new_amt;
        }
        let fee = (price * qty * fee_rate).round_dp(8);
        acct.wallet += realized - fee;
        let pos = pos.clone();
        let wallet = acct.wallet;
        let isolated = acct.isolated.get(symbol).copied().unwrap_or(false);
        let now = self.now();
        self.push(
            api_key,
            json!({"e": "ACCOUNT_UPDATE", "E": now, "T": now, "a": {"m": "ORDER",
                "B": [{"a": "USDT", "wb": wallet.to_string(), "cw": wallet.to_string(), "bc": "0"}],
                "P": [{"s": symbol, "pa": pos.amt.to_string(), "ep": pos.entry.to_string(), "bep": "0", "cr": "0",
                       "up": "0", "mt": if isolated { "isolated" } else { "cross" }, "iw": "0", "ps": "BOTH"}]}}),
        );
        (price, realized, fee)
    }

    fn order_event(
        &mut self,
        api_key: &str,
        o: &VOrder,
        last_qty: Decimal,
        realized: Decimal,
        fee: Decimal,
    ) {
        let now = self.now();
        let event = json!({"e": "ORDER_TRADE_UPDATE", "E": now, "T": now, "o": {
            "s": o.symbol, "c": o.client_id, "S": o.side, "o": o.kind, "f": "GTC", "q": o.qty.to_string(),
            "p": o.price.to_string(), "ap": o.avg.to_string(), "sp": "0", "x": if last_qty > Decimal::ZERO { "TRADE" } else { "NEW" },
            "X": o.status, "i": o.id, "l": last_qty.to_string(), "z": o.executed.to_string(), "L": o.avg.to_string(),
            "N": "USDT", "n": fee.to_string(), "T": now, "t": now, "b": "0", "a": "0", "m": false, "R": o.reduce_only,
            "wt": "CONTRACT_PRICE", "ot": o.kind, "ps": "BOTH", "cp": false, "rp": realized.to_string(),
            "pP": false, "si": 0, "ss": 0, "V": "NONE", "pm": "NONE", "gtd": 0}});
        self.push(api_key, event);
    }

    fn algo_event(&mut self, api_key: &str, a: &VAlgo) {
        let now = self.now();
        let event = json!({"e": "ALGO_UPDATE", "T": now, "E": now, "o": {
            "caid": a.client_id, "aid": a.id, "at": "CONDITIONAL", "o": a.kind, "s": a.symbol, "S": a.side,
            "ps": "BOTH", "f": "GTC", "q": a.qty.unwrap_or_default().to_string(), "X": a.status,
            "ai": a.actual_order_id.map(|i| i.to_string()).unwrap_or_default(), "ap": a.avg.to_string(),
            "aq": a.executed.to_string(), "act": "MARKET", "tp": a.trigger.to_string(), "p": "0",
            "V": "EXPIRE_MAKER", "wt": a.working_type, "pm": "NONE", "cp": a.close_position, "pP": false,
            "R": a.reduce_only, "tt": now, "gtd": 0}});
        self.push(api_key, event);
    }

    fn triggered(a: &VAlgo, mark: Decimal) -> bool {
        if let (Some(cb), Some(best)) = (a.callback, a.best) {
            // Follows the highest mark (a SELL) or the lowest (a BUY)
            // since it armed; fires `callbackRate` % back from it.
            let back = cb / Decimal::ONE_HUNDRED;
            return match a.side.as_str() {
                "SELL" => mark <= best * (Decimal::ONE - back),
                _ => mark >= best * (Decimal::ONE + back),
            };
        }
        match (a.kind.as_str(), a.side.as_str()) {
            ("STOP_MARKET", "SELL") | ("TAKE_PROFIT_MARKET", "BUY") => mark <= a.trigger,
            ("STOP_MARKET", "BUY") | ("TAKE_PROFIT_MARKET", "SELL") => mark >= a.trigger,
            _ => false,
        }
    }

    /// Arms trailing stops whose activation the mark reached and moves
    /// their best price, before any fires.
    fn follow_trails(&mut self, api_key: &str, symbol: &str, mark: Decimal) {
        for a in self
            .accounts
            .get_mut(api_key)
            .expect("exists")
            .algos
            .iter_mut()
        {
            if a.symbol != symbol || a.status != "NEW" || a.callback.is_none() {
                continue;
            }
            let sell = a.side == "SELL";
            match a.best {
                None => {
                    let reached = a
                        .activation
                        .is_none_or(|act| if sell { mark >= act } else { mark <= act });
                    if reached {
                        a.best = Some(mark);
                    }
                }
                Some(b) if (sell && mark > b) || (!sell && mark < b) => a.best = Some(mark),
                Some(_) => {}
            }
        }
    }

    fn trigger_algos(&mut self, api_key: &str, symbol: &str, mark: Decimal) {
        self.follow_trails(api_key, symbol, mark);
        let due: Vec<usize> = self.accounts[api_key]
            .algos
            .iter()
            .enumerate()
            .filter(|(_, a)| a.symbol == symbol && a.status == "NEW" && Self::triggered(a, mark))
            .map(|(i, _)| i)
            .collect();
        for i in due {
            let mut a = self.accounts[api_key].algos[i].clone();
            a.status = "TRIGGERED".into();
            let order_id = self.id();
            a.actual_order_id = Some(order_id);
            self.algo_event(api_key, &a);
            let amt = self.accounts[api_key]
                .positions
                .get(symbol)
                .map_or(Decimal::ZERO, |p| p.amt);
            let reduces = (a.side == "SELL" && amt > Decimal::ZERO)
                || (a.side == "BUY" && amt < Decimal::ZERO);
            let qty = if a.close_position {
                amt.abs()
            } else {
                a.qty.unwrap_or_default().min(amt.abs())
            };
            if (a.close_position || a.reduce_only) && (!reduces || qty.is_zero()) {
                a.status = "FINISHED".into();
                a.executed = Decimal::ZERO;
            } else {
                let (price, realized, fee) = self.fill(api_key, symbol, &a.side, qty);
                a.status = "FINISHED".into();
                a.executed = qty;
                a.avg = price;
                let o = VOrder {
                    id: order_id,
                    client_id: format!("autoclose-{}", a.id),
                    symbol: symbol.to_owned(),
                    side: a.side.clone(),
                    kind: "MARKET".into(),
                    qty,
                    price: Decimal::ZERO,
                    status: "FILLED".into(),
                    executed: qty,
                    avg: price,
                    reduce_only: true,
                    time: self.now(),
                };
                self.order_event(api_key, &o, qty, realized, fee);
                self.accounts
                    .get_mut(api_key)
                    .expect("exists")
                    .orders
                    .push(o);
            }
            self.algo_event(api_key, &a);
            self.accounts.get_mut(api_key).expect("exists").algos[i] = a;
        }
    }

    fn spec(&self, symbol: Option<&str>) -> Result<(&str, &SymbolSpec), Refusal> {
        let s = symbol.ok_or_else(|| {
            refuse(
                400,
                -1102,
                "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
            )
        })?;
        self.symbols
            .get_key_value(s)
            .map(|(k, v)| (k.as_str(), v))
            .ok_or_else(|| refuse(400, -1121, "Invalid symbol."))
    }

    fn decimal(v: Option<&str>, name: &str) -> Result<Decimal, Refusal> {
        let v = v.ok_or_else(|| {
            refuse(
                400,
                -1102,
                &format!(
                    "Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
                ),
            )
        })?;
        Decimal::from_str(v).map_err(|_| {
            refuse(
                400,
                -1100,
                &format!("Illegal characters found in parameter '{name}'."),
            )
        })
    }

    fn check_client_id(id: &str) -> Result<(), Refusal> {
        let ok = (1..=36).contains(&id.len())
            && id.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'/' | b'_' | b'-')
            });
        if ok {
            Ok(())
        } else {
            Err(refuse(
                400,
                -1100,
                "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.",
            ))
        }
    }

    fn check_qty(spec: &SymbolSpec, qty: Decimal, market: bool) -> Result<(), Refusal> {
        if qty <= Decimal::ZERO {
            return Err(refuse(400, -4003, "Quantity less than or equal to zero."));
        }
        if qty.scale() > spec.step.normalize().scale() {
            return Err(refuse(
                400,
                -1111,
                "Precision is over the maximum defined for this asset.",
            ));
        }
        if !(qty % spec.step).is_zero() {
            return Err(refuse(400, -4023, "Quantity not increased by step size."));
        }
        let max = if market {
            spec.market_max_qty
        } else {
            spec.max_qty
        };
        if qty < spec.min_qty {
            return Err(refuse(400, -4004, "Quantity less than minimum quantity."));
        }
        if qty > max {
            return Err(refuse(
                400,
                -4005,
                "Quantity greater than maximum quantity.",
            ));
        }
        Ok(())
    }

    fn check_price(spec: &SymbolSpec, price: Decimal) -> Result<(), Refusal> {
        if price.scale() > spec.tick.normalize().scale() {
            return Err(refuse(
                400,
                -1111,
                "Precision is over the maximum defined for this asset.",
            ));
        }
        if !(price % spec.tick).is_zero() {
            return Err(refuse(400, -4014, "Price not increased by tick size."));
        }
        Ok(())
    }

    /// `POST /fapi/v1/order`.
    pub fn new_order(&mut self, key: &str, p: &Params) -> Result<Value, Refusal> {
        let (symbol, spec) = self.spec(p.get("symbol"))?;
        let symbol = symbol.to_owned();
        let side = p
            .get("side")
            .ok_or_else(|| {
                refuse(
                    400,
                    -1102,
                    "Mandatory parameter 'side' was not sent, was empty/null, or malformed.",
                )
            })?
            .to_owned();
        if side != "BUY" && side != "SELL" {
            return Err(refuse(400, -1117, "Invalid side."));
        }
        let kind = p.get("type").unwrap_or_default().to_owned();
        match kind.as_str() {
            "MARKET" | "LIMIT" => {}
            "STOP"
            | "STOP_MARKET"
            | "TAKE_PROFIT"
            | "TAKE_PROFIT_MARKET"
            | "TRAILING_STOP_MARKET" => {
                return Err(refuse(
                    400,
                    -4120,
                    "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.",
                ));
            }
            _ => return Err(refuse(400, -1116, "Invalid orderType.")),
        }
        let qty = Self::decimal(p.get("quantity"), "quantity")?;
        Self::check_qty(spec, qty, kind == "MARKET")?;
        let price = if kind == "LIMIT" {
            let price = Self::decimal(p.get("price"), "price")?;
            Self::check_price(spec, price)?;
            if p.get("timeInForce").is_none() {
                return Err(refuse(
                    400,
                    -1102,
                    "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.",
                ));
            }
            price
        } else {
            Decimal::ZERO
        };
        let mark = spec.mark;
        let reduce_only = p.get("reduceOnly") == Some("true");
        let client_id = match p.get("newClientOrderId") {
            Some(id) => {
                Self::check_client_id(id)?;
                id.to_owned()
            }
            None => format!("web_{}", self.next_id),
        };
        let acct = self.accounts.get(key).expect("authenticated");
        if !acct.can_trade {
            return Err(refuse(
                401,
                -2015,
                "Invalid API-key, IP, or permissions for action.",
            ));
        }
        if acct.orders.iter().any(|o| {
            o.client_id == client_id && (o.status == "NEW" || o.status == "PARTIALLY_FILLED")
        }) {
            return Err(refuse(400, -4116, "ClientOrderId is duplicated."));
        }
        let amt = acct.positions.get(&symbol).map_or(Decimal::ZERO, |p| p.amt);
        let reduces =
            (side == "SELL" && amt > Decimal::ZERO) || (side == "BUY" && amt < Decimal::ZERO);
        if reduce_only && (!reduces || qty > amt.abs()) {
            return Err(refuse(400, -2022, "ReduceOnly Order is rejected."));
        }
        let ref_price = if kind == "LIMIT" { price } else { mark };
        if !reduce_only && qty * ref_price < spec.min_notional {
            return Err(refuse(
                400,
                -4164,
                &format!(
                    "Order's notional must be no smaller than {} (unless you choose reduce only).",
                    spec.min_notional.normalize()
                ),
            ));
        }
        if !reduces {
            let leverage = Decimal::from(*acct.leverage.get(&symbol).unwrap_or(&20));
            let used: Decimal = acct
                .positions
                .iter()
                .map(|(s, p)| {
                    p.amt.abs() * self.symbols[s].mark
                        / Decimal::from(*acct.leverage.get(s).unwrap_or(&20))
                })
                .sum();
            let need = qty * ref_price / leverage + qty * ref_price * TAKER_FEE;
            if need > acct.wallet - used {
                return Err(refuse(400, -2019, "Margin is insufficient."));
            }
        }
        let id = self.id();
        let mut order = VOrder {
            id,
            client_id,
            symbol: symbol.clone(),
            side: side.clone(),
            kind: kind.clone(),
            qty,
            price,
            status: "NEW".into(),
            executed: Decimal::ZERO,
            avg: Decimal::ZERO,
            reduce_only,
            time: self.now(),
        };
        // A limit the price has already reached takes at once, as a market
        // order would; a post-only one (GTX) is refused instead.
        let marketable = kind == "LIMIT"
            && ((side == "BUY" && price >= mark) || (side == "SELL" && price <= mark));
        if marketable && p.get("timeInForce") == Some("GTX") {
            return Err(refuse(
                400,
                -5022,
                "Due to the order could not be executed as maker, the Post Only order will be rejected. The order will not be recorded in the order history",
            ));
        }
        if kind == "MARKET" || marketable {
            let (avg, realized, fee) = self.fill(key, &symbol, &side, qty);
            order.status = "FILLED".into();
            order.executed = qty;
            order.avg = avg;
            self.order_event(key, &order, qty, realized, fee);
        } else {
            self.order_event(key, &order, Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        }
        let value = order_json(&order);
        self.accounts
            .get_mut(key)
            .expect("exists")
            .orders
            .push(order);
        Ok(value)
    }

    /// `POST /fapi/v1/algoOrder`.
    pub fn new_algo(&mut self, key: &str, p: &Params) -> Result<Value, Refusal> {
        if p.get("algoType") != Some("CONDITIONAL") {
            return Err(refuse(
                400,
                -1102,
                "Mandatory parameter 'algoType' was not sent, was empty/null, or malformed.",
            ));
        }
        let (symbol, spec) = self.spec(p.get("symbol"))?;
        let symbol = symbol.to_owned();
        let side = p.get("side").unwrap_or_default().to_owned();
        if side != "BUY" && side != "SELL" {
            return Err(refuse(400, -1117, "Invalid side."));
        }
        let kind = p.get("type").unwrap_or_default().to_owned();
        if !matches!(
            kind.as_str(),
            "STOP_MARKET" | "TAKE_PROFIT_MARKET" | "STOP" | "TAKE_PROFIT" | "TRAILING_STOP_MARKET"
        ) {
            return Err(refuse(400, -1116, "Invalid orderType."));
        }
        let trailing = kind == "TRAILING_STOP_MARKET";
        // A trailing stop has no trigger: a callback and, optionally, an
        // activation price (by default the latest price: armed at once).
        let (trigger, callback, activation) = if trailing {
            let callback = Self::decimal(p.get("callbackRate"), "callbackRate")?;
            if callback < Decimal::new(1, 1) || callback > Decimal::TEN {
                return Err(refuse(400, -2007, "Invalid callBack rate."));
            }
            let activation = match p.get("activationPrice") {
                Some(v) => {
                    let a = Self::decimal(Some(v), "activationPrice")?;
                    Self::check_price(spec, a)?;
                    Some(a)
                }
                None => None,
            };
            (Decimal::ZERO, Some(callback), activation)
        } else {
            let trigger = Self::decimal(p.get("triggerPrice"), "triggerPrice")?;
            Self::check_price(spec, trigger)?;
            (trigger, None, None)
        };
        let close_position = p.get("closePosition") == Some("true");
        if trailing && close_position {
            return Err(refuse(
                400,
                -1106,
                "Parameter 'closePosition' sent when not required.",
            ));
        }
        let qty = match (close_position, p.get("quantity")) {
            (true, Some(_)) => {
                return Err(refuse(
                    400,
                    -1106,
                    "Parameter 'quantity' sent when not required.",
                ));
            }
            (true, None) => None,
            (false, q) => {
                let q = Self::decimal(q, "quantity")?;
                Self::check_qty(spec, q, true)?;
                Some(q)
            }
        };
        let mark = spec.mark;
        let would_trigger = match (kind.as_str(), side.as_str()) {
            ("STOP_MARKET", "SELL") | ("TAKE_PROFIT_MARKET", "BUY") => mark <= trigger,
            ("STOP_MARKET", "BUY") | ("TAKE_PROFIT_MARKET", "SELL") => mark >= trigger,
            // "SELL: activationPrice should be larger than latest price";
            // BUY: smaller.
            ("TRAILING_STOP_MARKET", "SELL") => activation.is_some_and(|a| a <= mark),
            ("TRAILING_STOP_MARKET", "BUY") => activation.is_some_and(|a| a >= mark),
            _ => false,
        };
        if would_trigger {
            return Err(refuse(400, -2021, "Order would immediately trigger."));
        }
        let client_id = p.get("clientAlgoId").unwrap_or_default().to_owned();
        Self::check_client_id(&client_id)?;
        let acct = self.accounts.get(key).expect("authenticated");
        if acct
            .algos
            .iter()
            .any(|a| a.client_id == client_id && a.status == "NEW")
        {
            return Err(refuse(400, -4116, "ClientOrderId is duplicated."));
        }
        let id = self.id();
        let algo = VAlgo {
            id,
            client_id,
            symbol,
            side,
            kind,
            qty,
            close_position,
            reduce_only: p.get("reduceOnly") == Some("true"),
            trigger,
            working_type: p.get("workingType").unwrap_or("CONTRACT_PRICE").to_owned(),
            status: "NEW".into(),
            executed: Decimal::ZERO,
            avg: Decimal::ZERO,
            actual_order_id: None,
            time: self.now(),
            callback,
            activation,
            best: (trailing && activation.is_none()).then_some(mark),
        };
        self.algo_event(key, &algo);
        let value = algo_json(&algo);
        self.accounts.get_mut(key).expect("exists").algos.push(algo);
        Ok(value)
    }

    pub fn get_order(&self, key: &str, p: &Params) -> Result<Value, Refusal> {
        let id = p.get("origClientOrderId").unwrap_or_default();
        self.accounts[key]
            .orders
            .iter()
            .rev()
            .find(|o| o.client_id == id && Some(o.symbol.as_str()) == p.get("symbol"))
            .map(order_json)
            .ok_or_else(|| refuse(400, -2013, "Order does not exist."))
    }

    /// `GET /fapi/v1/openOrders` (`symbol` optional).
    pub fn open_orders(&self, key: &str, p: &Params) -> Value {
        Value::Array(
            self.accounts[key]
                .orders
                .iter()
                .filter(|o| p.get("symbol").is_none_or(|s| s == o.symbol))
                .filter(|o| o.status == "NEW" || o.status == "PARTIALLY_FILLED")
                .map(order_json)
                .collect(),
        )
    }

    /// `GET /fapi/v1/openAlgoOrders` (`symbol` optional).
    pub fn open_algos(&self, key: &str, p: &Params) -> Value {
        Value::Array(
            self.accounts[key]
                .algos
                .iter()
                .filter(|a| p.get("symbol").is_none_or(|s| s == a.symbol))
                .filter(|a| a.status == "NEW")
                .map(algo_json)
                .collect(),
        )
    }

    pub fn cancel_order(&mut self, key: &str, p: &Params) -> Result<Value, Refusal> {
        let id = p.get("origClientOrderId").unwrap_or_default().to_owned();
        let symbol = p.get("symbol").unwrap_or_default().to_owned();
        let acct = self.accounts.get_mut(key).expect("authenticated");
        let Some(o) = acct
            .orders
            .iter_mut()
            .rev()
            .find(|o| o.client_id == id && o.symbol == symbol)
        else {
            return Err(refuse(400, -2011, "Unknown order sent."));
        };
        if o.status != "NEW" && o.status != "PARTIALLY_FILLED" {
            return Err(refuse(400, -2011, "Unknown order sent."));
        }
        o.status = "CANCELED".into();
        let o = o.clone();
        self.order_event(key, &o, Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        Ok(order_json(&o))
    }

    pub fn get_algo(&self, key: &str, p: &Params) -> Result<Value, Refusal> {
        let acct = &self.accounts[key];
        let found = match (p.get("clientAlgoId"), p.get("algoId")) {
            (Some(c), _) => acct.algos.iter().rev().find(|a| a.client_id == c),
            (None, Some(i)) => acct
                .algos
                .iter()
                .find(|a| Some(a.id.to_string().as_str()) == Some(i)),
            _ => {
                return Err(refuse(
                    400,
                    -1102,
                    "Mandatory parameter 'algoId' was not sent, was empty/null, or malformed.",
                ));
            }
        };
        found
            .map(algo_json)
            .ok_or_else(|| refuse(400, -2013, "Order does not exist."))
    }

    pub fn cancel_algo(&mut self, key: &str, p: &Params) -> Result<Value, Refusal> {
        let client = p.get("clientAlgoId").map(str::to_owned);
        let algo_id = p.get("algoId").map(str::to_owned);
        let acct = self.accounts.get_mut(key).expect("authenticated");
        let found = acct.algos.iter_mut().rev().find(|a| {
            client.as_deref() == Some(a.client_id.as_str())
                || algo_id.as_deref() == Some(a.id.to_string().as_str())
        });
        let Some(a) = found else {
            return Err(refuse(400, -2011, "Unknown order sent."));
        };
        if a.status != "NEW" {
            return Err(refuse(400, -2011, "Unknown order sent."));
        }
        a.status = "CANCELED".into();
        let a = a.clone();
        self.algo_event(key, &a);
        Ok(json!({"algoId": a.id, "clientAlgoId": a.client_id, "code": "200", "msg": "success"}))
    }

    pub fn set_leverage(&mut self, key: &str, p: &Params) -> Result<Value, Refusal> {
        let (symbol, spec) = self.spec(p.get("symbol"))?;
        let symbol = symbol.to_owned();
        let max = spec.max_leverage;
        let lev: u32 = p
            .get("leverage")
            .and_then(|l| l.parse().ok())
            .ok_or_else(|| {
                refuse(
                    400,
                    -1102,
                    "Mandatory parameter 'leverage' was not sent, was empty/null, or malformed.",
                )
            })?;
        if lev < 1 || lev > max {
            return Err(refuse(400, -4028, &format!("Leverage {lev} is not valid")));
        }
        self.accounts
            .get_mut(key)
            .expect("authenticated")
            .leverage
            .insert(symbol.clone(), lev);
        Ok(json!({"leverage": lev, "maxNotionalValue": "1000000", "symbol": symbol}))
    }

    pub fn set_margin_type(&mut self, key: &str, p: &Params) -> Result<Value, Refusal> {
        let (symbol, _) = self.spec(p.get("symbol"))?;
        let symbol = symbol.to_owned();
        let isolated = match p.get("marginType") {
            Some("ISOLATED") => true,
            Some("CROSSED") => false,
            _ => {
                return Err(refuse(
                    400,
                    -1102,
                    "Mandatory parameter 'marginType' was not sent, was empty/null, or malformed.",
                ));
            }
        };
        let acct = self.accounts.get_mut(key).expect("authenticated");
        if acct.isolated.get(&symbol).copied().unwrap_or(false) == isolated {
            return Err(refuse(400, -4046, "No need to change margin type."));
        }
        if acct
            .positions
            .get(&symbol)
            .is_some_and(|p| !p.amt.is_zero())
        {
            return Err(refuse(
                400,
                -4048,
                "Margin type cannot be changed if there exists position.",
            ));
        }
        if acct
            .orders
            .iter()
            .any(|o| o.symbol == symbol && (o.status == "NEW" || o.status == "PARTIALLY_FILLED"))
            || acct
                .algos
                .iter()
                .any(|a| a.symbol == symbol && a.status == "NEW")
        {
            return Err(refuse(
                400,
                -4047,
                "Margin type cannot be changed if there exists open orders.",
            ));
        }
        acct.isolated.insert(symbol, isolated);
        Ok(json!({"code": 200, "msg": "success"}))
    }

    /// Unrealized profit of the account's positions at the marks: all of
    /// them, or only the cross ones.
    fn unrealized(&self, key: &str, cross_only: bool) -> Decimal {
        let a = &self.accounts[key];
        a.positions
            .iter()
            .filter(|(s, _)| !cross_only || !a.isolated.get(*s).copied().unwrap_or(false))
            .filter_map(|(s, p)| {
                self.symbols
                    .get(s)
                    .map(|spec| (spec.mark - p.entry) * p.amt)
            })
            .sum()
    }

    pub fn balance(&self, key: &str) -> Value {
        let a = &self.accounts[key];
        json!([{"accountAlias": "SgsR", "asset": "USDT", "balance": a.wallet.to_string(),
            "crossWalletBalance": a.wallet.to_string(), "crossUnPnl": self.unrealized(key, true).to_string(),
            "availableBalance": a.wallet.to_string(), "maxWithdrawAmount": a.wallet.to_string(),
            "marginAvailable": true, "updateTime": self.now()}])
    }

    pub fn account(&self, key: &str) -> Value {
        let a = &self.accounts[key];
        let upl = self.unrealized(key, false);
        json!({"feeTier": 0, "canTrade": a.can_trade, "canDeposit": true, "canWithdraw": a.can_withdraw,
            "updateTime": 0, "totalWalletBalance": a.wallet.to_string(),
            "totalUnrealizedProfit": upl.to_string(),
            "assets": [{"asset": "USDT", "walletBalance": a.wallet.to_string(),
                "unrealizedProfit": upl.to_string(), "marginBalance": (a.wallet + upl).to_string(),
                "crossWalletBalance": a.wallet.to_string(),
                "crossUnPnl": self.unrealized(key, true).to_string(),
                "availableBalance": a.wallet.to_string(), "maxWithdrawAmount": a.wallet.to_string(),
                "marginAvailable": true, "updateTime": self.now()}],
            "positions": []})
    }

    pub fn position_risk(&self, key: &str, symbol: Option<&str>) -> Value {
        let a = &self.accounts[key];
        let list: Vec<Value> = self
            .symbols
            .iter()
            .filter(|(s, _)| symbol.is_none_or(|x| x == s.as_str()))
            .map(|(s, spec)| {
                let p = a.positions.get(s).cloned().unwrap_or_default();
                let upl = (spec.mark - p.entry) * p.amt;
                json!({"entryPrice": p.entry.to_string(), "breakEvenPrice": "0.0",
                    "marginType": if a.isolated.get(s).copied().unwrap_or(false) { "isolated" } else { "cross" },
                    "isAutoAddMargin": "false", "isolatedMargin": "0", "leverage": a.leverage.get(s).unwrap_or(&20).to_string(),
                    "liquidationPrice": "0", "markPrice": spec.mark.to_string(), "maxNotionalValue": "1000000",
                    "positionAmt": p.amt.to_string(), "notional": (p.amt * spec.mark).to_string(), "isolatedWallet": "0",
                    "symbol": s, "unRealizedProfit": if p.amt.is_zero() { "0".to_owned() } else { upl.to_string() },
                    "positionSide": "BOTH", "updateTime": 0})
            })
            .collect();
        Value::Array(list)
    }

    pub fn exchange_info(&self) -> Value {
        let symbols: Vec<Value> = self
            .symbols
            .iter()
            .map(|(s, spec)| {
                json!({"symbol": s, "pair": s, "contractType": "PERPETUAL", "status": "TRADING",
                    "baseAsset": s.trim_end_matches("USDT"), "quoteAsset": "USDT", "marginAsset": "USDT",
                    "pricePrecision": spec.tick.normalize().scale(), "quantityPrecision": spec.step.normalize().scale(),
                    "filters": [
                        {"filterType": "PRICE_FILTER", "maxPrice": "4529764", "minPrice": "0.10", "tickSize": spec.tick.to_string()},
                        {"filterType": "LOT_SIZE", "maxQty": spec.max_qty.to_string(), "minQty": spec.min_qty.to_string(), "stepSize": spec.step.to_string()},
                        {"filterType": "MARKET_LOT_SIZE", "maxQty": spec.market_max_qty.to_string(), "minQty": spec.min_qty.to_string(), "stepSize": spec.step.to_string()},
                        {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                        {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
                        {"filterType": "MIN_NOTIONAL", "notional": spec.min_notional.to_string()},
                        {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500", "multiplierDecimal": 4}
                    ]})
            })
            .collect();
        json!({"timezone": "UTC", "serverTime": self.now(), "futuresType": "U_MARGINED",
            "rateLimits": [
                {"interval": "MINUTE", "intervalNum": 1, "limit": self.weight_limit, "rateLimitType": "REQUEST_WEIGHT"},
                {"interval": "MINUTE", "intervalNum": 1, "limit": self.order_limit_1m, "rateLimitType": "ORDERS"},
                {"interval": "SECOND", "intervalNum": 10, "limit": self.order_limit_10s, "rateLimitType": "ORDERS"}],
            "exchangeFilters": [], "assets": [], "symbols": symbols})
    }

    pub fn brackets(&self, symbol: Option<&str>) -> Result<Value, Refusal> {
        let (s, spec) = self.spec(symbol)?;
        let mut floor = Decimal::ZERO;
        let mut cum = Decimal::ZERO;
        let mut prev_rate = Decimal::ZERO;
        let list: Vec<Value> = spec
            .brackets
            .iter()
            .enumerate()
            .map(|(i, (cap, rate, lev))| {
                cum += floor * (rate - prev_rate);
                let b = json!({"bracket": i + 1, "initialLeverage": lev,
                    "notionalCap": cap.to_string().parse::<f64>().unwrap_or_default(),
                    "notionalFloor": floor.to_string().parse::<f64>().unwrap_or_default(),
                    "maintMarginRatio": rate.to_string().parse::<f64>().unwrap_or_default(),
                    "cum": cum.to_string().parse::<f64>().unwrap_or_default()});
                floor = *cap;
                prev_rate = *rate;
                b
            })
            .collect();
        Ok(json!({"symbol": s, "notionalCoef": 1.0, "brackets": list}))
    }
}

impl Default for Venue {
    fn default() -> Self {
        Self::new()
    }
}

fn order_json(o: &VOrder) -> Value {
    json!({"clientOrderId": o.client_id, "cumQty": o.executed.to_string(), "cumQuote": (o.executed * o.avg).to_string(),
        "executedQty": o.executed.to_string(), "orderId": o.id, "avgPrice": o.avg.to_string(), "origQty": o.qty.to_string(),
        "price": o.price.to_string(), "reduceOnly": o.reduce_only, "side": o.side, "positionSide": "BOTH",
        "status": o.status, "stopPrice": "0", "closePosition": false, "symbol": o.symbol, "timeInForce": "GTC",
        "type": o.kind, "origType": o.kind, "updateTime": o.time, "workingType": "CONTRACT_PRICE", "priceProtect": false,
        "priceMatch": "NONE", "selfTradePreventionMode": "NONE", "goodTillDate": 0})
}

fn algo_json(a: &VAlgo) -> Value {
    json!({"algoId": a.id, "clientAlgoId": a.client_id, "algoType": "CONDITIONAL", "orderType": a.kind,
        "symbol": a.symbol, "side": a.side, "positionSide": "BOTH", "timeInForce": "GTC",
        "quantity": a.qty.unwrap_or_default().to_string(), "algoStatus": a.status, "triggerPrice": a.trigger.to_string(),
        "price": "0", "icebergQuantity": null, "selfTradePreventionMode": "EXPIRE_MAKER", "workingType": a.working_type,
        "priceMatch": "NONE", "closePosition": a.close_position, "priceProtect": false, "reduceOnly": a.reduce_only,
        "activatePrice": a.activation.map(|d| d.to_string()).unwrap_or_default(),
        "callbackRate": a.callback.map(|d| d.to_string()).unwrap_or_default(), "createTime": a.time, "updateTime": a.time, "triggerTime": 0,
        "goodTillDate": 0, "actualOrderId": a.actual_order_id.map(|i| i.to_string()).unwrap_or_default(),
        "executedQty": a.executed.to_string(), "avgPrice": a.avg.to_string()})
}

/// Decoded `k=v&k=v` parameters.
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(v) => {
                    out.push(v);
                    i += 3;
                }
                Err(_) => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits a query string (keeping the given order).
pub fn parse_params(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (unescape(k), unescape(v)),
            None => (unescape(p), String::new()),
        })
        .collect()
}
