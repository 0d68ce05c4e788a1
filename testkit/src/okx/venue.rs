//! State and rules of the local OKX venue, from the v5 documentation
//! ("REST Authentication", "Place order", "Place algo order", "Error Code").

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::HashMap;
use std::str::FromStr;

pub const TAKER_FEE: Decimal = Decimal::from_parts(5, 0, 0, false, 4);
/// OKX perpetual swaps' base-tier maker fee, 0.02 %.
pub const MAKER_FEE: Decimal = Decimal::from_parts(2, 0, 0, false, 4);

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Option<Value>,
    pub api_key: Option<String>,
    pub status: u16,
    /// OKX code of the answer ("0" for success; the item's sCode on order failures).
    pub code: String,
    /// When it arrived (Unix ms).
    pub at_ms: i64,
}

pub struct Instrument {
    pub ct_val: Decimal,
    pub lot: Decimal,
    pub min_sz: Decimal,
    pub tick: Decimal,
    pub max_lever: u32,
    pub mark: Decimal,
    /// Position tiers: (max size in contracts, maintenance margin rate,
    /// max leverage), smallest first.
    pub tiers: Vec<(Decimal, Decimal, u32)>,
}

#[derive(Debug, Clone, Default)]
pub struct Position {
    /// Contracts, signed (net mode).
    pub pos: Decimal,
    pub avg: Decimal,
    pub mode: String,
}

#[derive(Debug, Clone)]
pub struct VOrder {
    pub ord_id: String,
    pub cl_ord_id: String,
    pub inst_id: String,
    pub side: String,
    pub ord_type: String,
    pub sz: Decimal,
    pub px: Decimal,
    pub state: String,
    pub filled: Decimal,
    pub avg: Decimal,
    pub fee: Decimal,
    pub td_mode: String,
    pub reduce_only: bool,
    pub time: i64,
    /// The algo order whose trigger created this order.
    pub algo_cl_ord_id: String,
    /// PnL this order's fills realized.
    pub pnl: Decimal,
}

#[derive(Debug, Clone)]
pub struct VAlgo {
    pub algo_id: String,
    pub algo_cl_ord_id: String,
    pub inst_id: String,
    pub side: String,
    pub sz: Option<Decimal>,
    pub tp: Option<Decimal>,
    pub sl: Option<Decimal>,
    pub state: String,
    pub actual_sz: Decimal,
    pub actual_px: Decimal,
    pub ord_id: String,
    pub td_mode: String,
    pub time: i64,
    /// `move_order_stop`: the callback ratio (0.01 = 1 %), the activation
    /// price, and the best mark since it armed (`None` until then).
    pub callback: Option<Decimal>,
    pub active_px: Option<Decimal>,
    pub best: Option<Decimal>,
}

pub struct Account {
    pub secret: Vec<u8>,
    pub passphrase: String,
    pub demo: bool,
    pub uid: String,
    pub perm: String,
    pub ip: String,
    pub cash: Decimal,
    pub positions: HashMap<String, Position>,
    pub leverage: HashMap<(String, String), u32>,
    pub orders: Vec<VOrder>,
    pub algos: Vec<VAlgo>,
}

/// An OKX failure: HTTP status, code, message.
pub type Refusal = (u16, String, String);

fn refuse(status: u16, code: &str, msg: &str) -> Refusal {
    (status, code.to_owned(), msg.to_owned())
}

pub struct Venue {
    /// Private websocket connections per API key (pushes go to each).
    pub streams: HashMap<String, Vec<tokio::sync::mpsc::UnboundedSender<String>>>,
    pub instruments: HashMap<String, Instrument>,
    pub accounts: HashMap<String, Account>,
    pub requests: Vec<Recorded>,
    pub clock_skew_ms: i64,
    pub lose_next: Vec<(String, bool)>,
    /// The next request to a path is carried out, then its answer is held
    /// this many ms before a 503 (a process killed meanwhile never hears).
    pub hold_next: Vec<(String, u32, u64)>,
    /// Bumped to drop every private websocket connection.
    pub ws_generation: u64,
    windows: HashMap<(String, &'static str), (i64, u32)>,
    next_id: i64,
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("literal decimal")
}

/// Per-endpoint limits (requests per 2 s), from each endpoint's page.
pub fn endpoint_limit(method: &str, path: &str) -> (&'static str, u32) {
    match (method, path) {
        ("POST", "/api/v5/trade/order") => ("trade/order", 60),
        ("GET", "/api/v5/trade/order") => ("trade/order:get", 60),
        ("POST", "/api/v5/trade/cancel-order") => ("trade/cancel-order", 60),
        ("POST", "/api/v5/trade/order-algo") => ("trade/order-algo", 20),
        ("GET", "/api/v5/trade/order-algo") => ("trade/order-algo:get", 20),
        ("POST", "/api/v5/trade/cancel-algos") => ("trade/cancel-algos", 20),
        ("GET", "/api/v5/trade/orders-pending") => ("trade/orders-pending", 60),
        ("GET", "/api/v5/trade/orders-algo-pending") => ("trade/orders-algo-pending", 20),
        ("POST", "/api/v5/account/set-leverage") => ("account/set-leverage", 20),
        ("GET", "/api/v5/account/balance") => ("account/balance", 10),
        ("GET", "/api/v5/account/positions") => ("account/positions", 10),
        ("GET", "/api/v5/account/config") => ("account/config", 5),
        _ => ("public", 20),
    }
}

impl Venue {
    pub fn new() -> Self {
        let mut instruments = HashMap::new();
        instruments.insert(
            "BTC-USDT-SWAP".to_owned(),
            Instrument {
                ct_val: d("0.01"),
                lot: d("0.01"),
                min_sz: d("0.01"),
                tick: d("0.1"),
                max_lever: 100,
                mark: d("43000"),
                tiers: vec![
                    (d("20"), d("0.004"), 100),
                    (d("30000"), d("0.006"), 75),
                    (d("100000"), d("0.01"), 50),
                ],
            },
        );
        instruments.insert(
            "ETH-USDT-SWAP".to_owned(),
            Instrument {
                ct_val: d("0.1"),
                lot: d("0.01"),
                min_sz: d("0.01"),
                tick: d("0.01"),
                max_lever: 100,
                mark: d("2300"),
                tiers: vec![(d("2000"), d("0.005"), 100), (d("20000"), d("0.008"), 50)],
            },
        );
        Self {
            streams: HashMap::new(),
            instruments,
            accounts: HashMap::new(),
            requests: Vec::new(),
            clock_skew_ms: 0,
            lose_next: Vec::new(),
            hold_next: Vec::new(),
            ws_generation: 0,
            windows: HashMap::new(),
            next_id: 500_000_000,
        }
    }

    pub fn now(&self) -> i64 {
        crate::now_ms() + self.clock_skew_ms
    }

    fn id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    pub fn add_account(
        &mut self,
        api_key: &str,
        secret: &str,
        passphrase: &str,
        usdt: Decimal,
        demo: bool,
    ) {
        self.accounts.insert(
            api_key.to_owned(),
            Account {
                secret: secret.as_bytes().to_vec(),
                passphrase: passphrase.to_owned(),
                demo,
                uid: format!("{}", 44705892343619584i64 + self.accounts.len() as i64),
                perm: "read_only,trade".into(),
                ip: String::new(),
                cash: usdt,
                positions: HashMap::new(),
                leverage: HashMap::new(),
                orders: Vec::new(),
                algos: Vec::new(),
            },
        );
    }

    /// Spends the endpoint's budget for `key`; false when over.
    pub fn spend(&mut self, key: &str, method: &str, path: &str) -> bool {
        let (name, limit) = endpoint_limit(method, path);
        let window = self.now() / 2000;
        let entry = self
            .windows
            .entry((key.to_owned(), name))
            .or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 += 1;
        entry.1 <= limit
    }

    /// "REST Authentication": all four headers, a known key, the right
    /// passphrase, a timestamp within 30 s, the Base64 HMAC-SHA256 of
    /// `timestamp + METHOD + requestPath + body`, and the right environment.
    #[allow(clippy::too_many_arguments)]
    pub fn authenticate(
        &self,
        key: Option<&str>,
        sign: Option<&str>,
        timestamp: Option<&str>,
        passphrase: Option<&str>,
        simulated: bool,
        method: &str,
        path_and_query: &str,
        body: &str,
    ) -> Result<String, Refusal> {
        let key = key.ok_or_else(|| {
            refuse(
                401,
                "50103",
                "Request header OK-ACCESS-KEY cannot be empty.",
            )
        })?;
        let sign = sign.ok_or_else(|| {
            refuse(
                401,
                "50104",
                "Request header OK-ACCESS-SIGN cannot be empty.",
            )
        })?;
        let ts = timestamp.ok_or_else(|| {
            refuse(
                401,
                "50107",
                "Request header OK-ACCESS-TIMESTAMP cannot be empty.",
            )
        })?;
        let pass = passphrase.ok_or_else(|| {
            refuse(
                401,
                "50105",
                "Request header OK-ACCESS-PASSPHRASE incorrect.",
            )
        })?;
        let account = self
            .accounts
            .get(key)
            .ok_or_else(|| refuse(401, "50111", "Invalid OK-ACCESS-KEY."))?;
        if account.passphrase != pass {
            return Err(refuse(
                401,
                "50105",
                "Request header OK-ACCESS-PASSPHRASE incorrect.",
            ));
        }
        let when = chrono::DateTime::parse_from_rfc3339(ts)
            .map_err(|_| refuse(401, "50112", "Invalid OK-ACCESS-TIMESTAMP."))?;
        if !ts.ends_with('Z') || ts.len() != 24 {
            return Err(refuse(401, "50112", "Invalid OK-ACCESS-TIMESTAMP."));
        }
        if (self.now() - when.timestamp_millis()).abs() > 30_000 {
            return Err(refuse(401, "50102", "Timestamp request expired."));
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(&account.secret).expect("any key length");
        mac.update(ts.as_bytes());
        mac.update(method.as_bytes());
        mac.update(path_and_query.as_bytes());
        mac.update(body.as_bytes());
        let given = base64::engine::general_purpose::STANDARD
            .decode(sign)
            .unwrap_or_default();
        if mac.verify_slice(&given).is_err() {
            return Err(refuse(401, "50113", "Invalid Sign."));
        }
        if account.demo != simulated {
            return Err(refuse(
                401,
                "50101",
                "APIKey does not match current environment.",
            ));
        }
        Ok(key.to_owned())
    }

    fn push(&mut self, key: &str, channel: &str, data: Value) {
        if let Some(conns) = self.streams.get_mut(key) {
            let text = json!({ "arg": { "channel": channel, "instType": "SWAP" }, "data": data })
                .to_string();
            conns.retain(|tx| tx.send(text.clone()).is_ok());
        }
    }

    fn push_order(&mut self, key: &str, o: &VOrder) {
        self.push(key, "orders", json!([order_json(o)]));
        let positions = self.positions(key);
        self.push(key, "positions", positions);
    }

    fn inst(&self, id: Option<&str>) -> Result<(String, &Instrument), Refusal> {
        let id = id.ok_or_else(|| refuse(200, "51000", "Parameter instId error"))?;
        self.instruments
            .get(id)
            .map(|i| (id.to_owned(), i))
            .ok_or_else(|| refuse(200, "51001", "Instrument ID does not exist."))
    }

    pub fn set_mark(&mut self, inst_id: &str, price: Decimal) {
        if let Some(i) = self.instruments.get_mut(inst_id) {
            i.mark = price;
        }
        let keys: Vec<String> = self.accounts.keys().cloned().collect();
        for key in keys {
            self.trigger(&key, inst_id, price);
            self.match_limits(&key, inst_id, price);
        }
    }

    /// Resting limit orders the price reached fill at their price, as makers.
    fn match_limits(&mut self, key: &str, inst_id: &str, mark: Decimal) {
        let due: Vec<usize> = self.accounts[key]
            .orders
            .iter()
            .enumerate()
            .filter(|(_, o)| {
                o.inst_id == inst_id
                    && matches!(o.ord_type.as_str(), "limit" | "post_only")
                    && o.state == "live"
                    && ((o.side == "buy" && mark <= o.px) || (o.side == "sell" && mark >= o.px))
            })
            .map(|(i, _)| i)
            .collect();
        for i in due {
            let mut o = self.accounts[key].orders[i].clone();
            let (px, fee, pnl) = self.fill_at(
                key,
                inst_id,
                &o.side,
                o.sz,
                &o.td_mode.clone(),
                o.px,
                MAKER_FEE,
            );
            o.state = "filled".into();
            o.filled = o.sz;
            o.avg = px;
            o.fee = fee;
            o.pnl = pnl;
            self.push_order(key, &o);
            self.accounts.get_mut(key).expect("exists").orders[i] = o;
        }
    }

    fn trigger(&mut self, key: &str, inst_id: &str, mark: Decimal) {
        // Trailing stops arm at their activation and follow the best mark.
        for a in self.accounts.get_mut(key).expect("exists").algos.iter_mut() {
            if a.inst_id != inst_id || a.state != "live" || a.callback.is_none() {
                continue;
            }
            let sell = a.side == "sell";
            match a.best {
                None => {
                    if a.active_px
                        .is_none_or(|p| if sell { mark >= p } else { mark <= p })
                    {
                        a.best = Some(mark);
                    }
                }
                Some(b) if (sell && mark > b) || (!sell && mark < b) => a.best = Some(mark),
                Some(_) => {}
            }
        }
        let due: Vec<usize> = self.accounts[key]
            .algos
            .iter()
            .enumerate()
            .filter(|(_, a)| a.inst_id == inst_id && a.state == "live")
            .filter(|(_, a)| {
                let closes_long = a.side == "sell";
                let tp_hit =
                    a.tp.is_some_and(|tp| if closes_long { mark >= tp } else { mark <= tp });
                let sl_hit =
                    a.sl.is_some_and(|sl| if closes_long { mark <= sl } else { mark >= sl });
                let trail_hit = match (a.callback, a.best) {
                    (Some(r), Some(b)) if closes_long => mark <= b * (Decimal::ONE - r),
                    (Some(r), Some(b)) => mark >= b * (Decimal::ONE + r),
                    _ => false,
                };
                tp_hit || sl_hit || trail_hit
            })
            .map(|(i, _)| i)
            .collect();
        for i in due {
            let a = self.accounts[key].algos[i].clone();
            let pos = self.accounts[key]
                .positions
                .get(inst_id)
                .map_or(Decimal::ZERO, |p| p.pos);
            let reduces = (a.side == "sell" && pos > Decimal::ZERO)
                || (a.side == "buy" && pos < Decimal::ZERO);
            let sz = a.sz.unwrap_or(pos.abs()).min(pos.abs());
            let ord_id = self.id();
            let (state, filled, px) = if reduces && sz > Decimal::ZERO {
                let (px, fee, pnl) = self.fill(key, inst_id, &a.side, sz, &a.td_mode);
                let o = VOrder {
                    ord_id: ord_id.clone(),
                    cl_ord_id: String::new(),
                    inst_id: inst_id.to_owned(),
                    side: a.side.clone(),
                    ord_type: "market".into(),
                    sz,
                    px: Decimal::ZERO,
                    state: "filled".into(),
                    filled: sz,
                    avg: px,
                    fee,
                    td_mode: a.td_mode.clone(),
                    reduce_only: true,
                    time: self.now(),
                    algo_cl_ord_id: a.algo_cl_ord_id.clone(),
                    pnl,
                };
                self.push_order(key, &o);
                self.accounts.get_mut(key).expect("exists").orders.push(o);
                ("effective", sz, px)
            } else {
                ("effective", Decimal::ZERO, Decimal::ZERO)
            };
            let algo = &mut self.accounts.get_mut(key).expect("exists").algos[i];
            algo.state = state.into();
            algo.actual_sz = filled;
            algo.actual_px = px;
            algo.ord_id = ord_id;
        }
    }

    /// A market fill at the mark; returns (price, fee, realized PnL).
    fn fill(
        &mut self,
        key: &str,
        inst_id: &str,
        side: &str,
        sz: Decimal,
        td_mode: &str,
    ) -> (Decimal, Decimal, Decimal) {
        let mark = self.instruments[inst_id].mark;
        self.fill_at(key, inst_id, side, sz, td_mode, mark, TAKER_FEE)
    }

    /// A fill at `px`, paying `fee_rate`.
    #[allow(clippy::too_many_arguments)]
    fn fill_at(
        &mut self,
        key: &str,
        inst_id: &str,
        side: &str,
        sz: Decimal,
        td_mode: &str,
        px: Decimal,
        fee_rate: Decimal,
    ) -> (Decimal, Decimal, Decimal) {
        let ct_val = self.instruments[inst_id].ct_val;
        let acct = self.accounts.get_mut(key).expect("exists");
        let signed = if side == "buy" { sz } else { -sz };
        let p = acct.positions.entry(inst_id.to_owned()).or_default();
        p.mode = td_mode.to_owned();
        let mut realized = Decimal::ZERO;
        if p.pos.is_zero() || p.pos.is_sign_positive() == signed.is_sign_positive() {
            let new = p.pos + signed;
            p.avg = (p.avg * p.pos.abs() + px * sz) / new.abs();
            p.pos = new;
        } else {
            let closing = sz.min(p.pos.abs());
            let dir = if p.pos > Decimal::ZERO {
                Decimal::ONE
            } else {
                -Decimal::ONE
            };
            realized = (px - p.avg) * closing * ct_val * dir;
            let new = p.pos + signed;
            if new.is_zero() {
                p.avg = Decimal::ZERO;
            } else if new.is_sign_positive() != p.pos.is_sign_positive() {
                p.avg = px;
            }
            p.pos = new;
        }
        let fee = (px * sz * ct_val * fee_rate).round_dp(8);
        acct.cash += realized - fee;
        (px, fee, realized)
    }

    /// Takes the hold armed for a request named `names` (`"POST /path"`,
    /// `"/path"`, `"WS order"`; a hold may list alternatives with `|`):
    /// `Some(ms)` when this request is the one to hold.
    pub fn take_hold(&mut self, names: &[&str]) -> Option<u64> {
        let i = self
            .hold_next
            .iter()
            .position(|(p, _, _)| p.split('|').any(|alt| names.contains(&alt)))?;
        if self.hold_next[i].1 == 0 {
            Some(self.hold_next.remove(i).2)
        } else {
            self.hold_next[i].1 -= 1;
            None
        }
    }

    /// `POST /api/v5/trade/order`.
    pub fn place(&mut self, key: &str, b: &Value) -> Result<Value, Refusal> {
        let s = |k: &str| b.get(k).and_then(Value::as_str);
        let (inst_id, inst) = self.inst(s("instId"))?;
        let (tick, lot, min_sz, mark, ct_val) =
            (inst.tick, inst.lot, inst.min_sz, inst.mark, inst.ct_val);
        let td_mode = s("tdMode").unwrap_or_default().to_owned();
        if !matches!(td_mode.as_str(), "isolated" | "cross") {
            return Err(refuse(200, "51000", "Parameter tdMode error"));
        }
        let side = s("side").unwrap_or_default().to_owned();
        if side != "buy" && side != "sell" {
            return Err(refuse(200, "51000", "Parameter side error"));
        }
        let ord_type = s("ordType").unwrap_or_default().to_owned();
        if !matches!(
            ord_type.as_str(),
            "market" | "limit" | "post_only" | "fok" | "ioc"
        ) {
            return Err(refuse(200, "51000", "Parameter ordType error"));
        }
        let sz = s("sz")
            .and_then(|v| Decimal::from_str(v).ok())
            .ok_or_else(|| refuse(200, "51000", "Parameter sz error"))?;
        if !(sz % lot).is_zero() {
            return Err(refuse(
                200,
                "51121",
                "Order quantity must be a multiple of the lot size.",
            ));
        }
        if sz < min_sz {
            return Err(refuse(
                200,
                "51020",
                "Order amount should be greater than the min available amount.",
            ));
        }
        let px = match s("px") {
            Some(p) => {
                let px =
                    Decimal::from_str(p).map_err(|_| refuse(200, "51000", "Parameter px error"))?;
                if !(px % tick).is_zero() {
                    return Err(refuse(200, "51000", "Parameter px error"));
                }
                Some(px)
            }
            None if ord_type != "market" => return Err(refuse(200, "51000", "Parameter px error")),
            None => None,
        };
        let cl = s("clOrdId").unwrap_or_default().to_owned();
        if cl.len() > 32 || !cl.bytes().all(|c| c.is_ascii_alphanumeric()) {
            return Err(refuse(200, "51000", "Parameter clOrdId error"));
        }
        let reduce_only = b
            .get("reduceOnly")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let acct = &self.accounts[key];
        if !cl.is_empty()
            && acct
                .orders
                .iter()
                .any(|o| o.cl_ord_id == cl && o.state == "live")
        {
            return Err(refuse(200, "51016", "Duplicated clOrdId."));
        }
        let pos = acct
            .positions
            .get(&inst_id)
            .map_or(Decimal::ZERO, |p| p.pos);
        let reduces =
            (side == "sell" && pos > Decimal::ZERO) || (side == "buy" && pos < Decimal::ZERO);
        if reduce_only && (!reduces || sz > pos.abs()) {
            return Err(refuse(
                200,
                "51169",
                "Order failed because you don't have any positions in this direction for this contract to reduce or close.",
            ));
        }
        if !reduces {
            let lever = Decimal::from(
                *acct
                    .leverage
                    .get(&(inst_id.clone(), td_mode.clone()))
                    .unwrap_or(&1),
            );
            let price = px.unwrap_or(mark);
            if sz * ct_val * price / lever > acct.cash {
                return Err(refuse(
                    200,
                    "51008",
                    "Order failed. Insufficient USDT margin in account",
                ));
            }
        }
        let ord_id = self.id();
        let mut order = VOrder {
            ord_id: ord_id.clone(),
            cl_ord_id: cl.clone(),
            inst_id: inst_id.clone(),
            side: side.clone(),
            ord_type: ord_type.clone(),
            sz,
            px: px.unwrap_or_default(),
            state: "live".into(),
            filled: Decimal::ZERO,
            avg: Decimal::ZERO,
            fee: Decimal::ZERO,
            td_mode: td_mode.clone(),
            reduce_only,
            time: self.now(),
            algo_cl_ord_id: String::new(),
            pnl: Decimal::ZERO,
        };
        // A limit the price already reached takes at once; a post-only one
        // is cancelled instead (OKX answers it, then cancels it).
        let marketable =
            px.is_some_and(|px| (side == "buy" && px >= mark) || (side == "sell" && px <= mark));
        if ord_type == "market" || (marketable && ord_type == "limit") {
            let (price, fee, pnl) = self.fill(key, &inst_id, &side, sz, &td_mode);
            order.pnl = pnl;
            order.state = "filled".into();
            order.filled = sz;
            order.avg = price;
            order.fee = fee;
        }
        if marketable && ord_type == "post_only" {
            // Accepted, then cancelled at once: it would have taken.
            order.state = "canceled".into();
        }
        if let Some(attached) = b.get("attachAlgoOrds").and_then(Value::as_array) {
            for a in attached {
                let get = |k: &str| {
                    a.get(k)
                        .and_then(Value::as_str)
                        .and_then(|v| Decimal::from_str(v).ok())
                };
                let algo_id = self.id();
                let algo = VAlgo {
                    algo_id,
                    algo_cl_ord_id: a
                        .get("attachAlgoClOrdId")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    inst_id: inst_id.clone(),
                    side: if side == "buy" {
                        "sell".into()
                    } else {
                        "buy".into()
                    },
                    sz: Some(sz),
                    tp: get("tpTriggerPx"),
                    sl: get("slTriggerPx"),
                    state: "live".into(),
                    actual_sz: Decimal::ZERO,
                    actual_px: Decimal::ZERO,
                    ord_id: String::new(),
                    td_mode: td_mode.clone(),
                    time: self.now(),
                    callback: None,
                    active_px: None,
                    best: None,
                };
                self.accounts.get_mut(key).expect("exists").algos.push(algo);
            }
        }
        self.push_order(key, &order);
        self.accounts
            .get_mut(key)
            .expect("exists")
            .orders
            .push(order);
        Ok(
            json!([{"clOrdId": cl, "ordId": ord_id, "tag": "", "ts": self.now().to_string(), "sCode": "0", "sMsg": "Order placed"}]),
        )
    }

    /// `POST /api/v5/trade/order-algo`.
    pub fn place_algo(&mut self, key: &str, b: &Value) -> Result<Value, Refusal> {
        let s = |k: &str| b.get(k).and_then(Value::as_str);
        let (inst_id, inst) = self.inst(s("instId"))?;
        let (tick, lot, mark) = (inst.tick, inst.lot, inst.mark);
        if !matches!(
            s("ordType"),
            Some("conditional") | Some("oco") | Some("move_order_stop")
        ) {
            return Err(refuse(200, "51000", "Parameter ordType error"));
        }
        let trailing = s("ordType") == Some("move_order_stop");
        let side = s("side").unwrap_or_default().to_owned();
        let price = |k: &str| -> Result<Option<Decimal>, Refusal> {
            match s(k) {
                None => Ok(None),
                Some(v) => {
                    let p = Decimal::from_str(v)
                        .map_err(|_| refuse(200, "51000", &format!("Parameter {k} error")))?;
                    if !(p % tick).is_zero() {
                        return Err(refuse(200, "51000", &format!("Parameter {k} error")));
                    }
                    Ok(Some(p))
                }
            }
        };
        let (tp, sl) = (price("tpTriggerPx")?, price("slTriggerPx")?);
        // A trailing stop: a callback ratio and, optionally, where it
        // starts following (by default at once, from the last price).
        let (callback, active_px) = if trailing {
            let ratio = s("callbackRatio")
                .and_then(|v| Decimal::from_str(v).ok())
                .filter(|r| *r >= Decimal::new(1, 3) && *r <= Decimal::ONE)
                .ok_or_else(|| refuse(200, "51000", "Parameter callbackRatio error"))?;
            let active = price("activePx")?;
            let behind = active.is_some_and(|a| if side == "sell" { a <= mark } else { a >= mark });
            if behind {
                return Err(refuse(200, "51000", "Parameter activePx error"));
            }
            (Some(ratio), active)
        } else {
            if tp.is_none() && sl.is_none() {
                return Err(refuse(200, "51000", "Parameter tpTriggerPx error"));
            }
            (None, None)
        };
        // "The SL trigger price must be lower than the last price" (for a long's stop).
        if let Some(sl) = sl
            && ((side == "sell" && sl >= mark) || (side == "buy" && sl <= mark))
        {
            return Err(refuse(
                200,
                "51280",
                "SL trigger price must be less than the last price.",
            ));
        }
        let sz = match (s("sz"), s("closeFraction")) {
            (Some(v), _) => {
                let sz =
                    Decimal::from_str(v).map_err(|_| refuse(200, "51000", "Parameter sz error"))?;
                if !(sz % lot).is_zero() {
                    return Err(refuse(
                        200,
                        "51121",
                        "Order quantity must be a multiple of the lot size.",
                    ));
                }
                Some(sz)
            }
            (None, Some("1")) => None,
            _ => return Err(refuse(200, "51000", "Parameter sz error")),
        };
        let cl = s("algoClOrdId").unwrap_or_default().to_owned();
        if cl.len() > 32 || !cl.bytes().all(|c| c.is_ascii_alphanumeric()) {
            return Err(refuse(200, "51000", "Parameter algoClOrdId error"));
        }
        if !cl.is_empty()
            && self.accounts[key]
                .algos
                .iter()
                .any(|a| a.algo_cl_ord_id == cl && a.state == "live")
        {
            return Err(refuse(200, "51065", "algoClOrdId already exists."));
        }
        let algo_id = self.id();
        let algo = VAlgo {
            algo_id: algo_id.clone(),
            algo_cl_ord_id: cl.clone(),
            inst_id,
            side,
            sz,
            tp,
            sl,
            state: "live".into(),
            actual_sz: Decimal::ZERO,
            actual_px: Decimal::ZERO,
            ord_id: String::new(),
            td_mode: s("tdMode").unwrap_or("cross").to_owned(),
            time: self.now(),
            callback,
            active_px,
            best: (trailing && active_px.is_none()).then_some(mark),
        };
        self.accounts.get_mut(key).expect("exists").algos.push(algo);
        Ok(
            json!([{"algoId": algo_id, "algoClOrdId": cl, "clOrdId": "", "sCode": "0", "sMsg": "", "tag": ""}]),
        )
    }

    pub fn get_order(
        &self,
        key: &str,
        inst_id: Option<&str>,
        cl: Option<&str>,
    ) -> Result<Value, Refusal> {
        let o = self.accounts[key]
            .orders
            .iter()
            .rev()
            .find(|o| Some(o.inst_id.as_str()) == inst_id && Some(o.cl_ord_id.as_str()) == cl)
            .ok_or_else(|| refuse(200, "51603", "Order does not exist"))?;
        Ok(json!([order_json(o)]))
    }

    pub fn get_algo(&self, key: &str, cl: Option<&str>) -> Result<Value, Refusal> {
        let a = self.accounts[key]
            .algos
            .iter()
            .rev()
            .find(|a| Some(a.algo_cl_ord_id.as_str()) == cl)
            .ok_or_else(|| refuse(200, "51603", "Order does not exist"))?;
        Ok(json!([algo_json(a)]))
    }

    /// `GET /api/v5/trade/orders-pending` (`instId` optional).
    pub fn open_orders(&self, key: &str, inst_id: Option<&str>) -> Value {
        Value::Array(
            self.accounts[key]
                .orders
                .iter()
                .filter(|o| inst_id.is_none_or(|i| i == o.inst_id))
                .filter(|o| o.state == "live" || o.state == "partially_filled")
                .map(order_json)
                .collect(),
        )
    }

    /// `GET /api/v5/trade/orders-algo-pending` (`ordType` required).
    pub fn open_algos(
        &self,
        key: &str,
        ord_type: Option<&str>,
        inst_id: Option<&str>,
    ) -> Result<Value, Refusal> {
        if ord_type.is_none() {
            return Err(refuse(400, "50014", "Parameter ordType can not be empty."));
        }
        Ok(Value::Array(
            self.accounts[key]
                .algos
                .iter()
                .filter(|a| inst_id.is_none_or(|i| i == a.inst_id))
                .filter(|a| a.state == "live")
                .map(algo_json)
                .collect(),
        ))
    }

    pub fn cancel_order(&mut self, key: &str, b: &Value) -> Result<Value, Refusal> {
        let inst = b
            .get("instId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let cl = b
            .get("clOrdId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let acct = self.accounts.get_mut(key).expect("exists");
        let o = acct
            .orders
            .iter_mut()
            .rev()
            .find(|o| o.inst_id == inst && o.cl_ord_id == cl)
            .ok_or_else(|| {
                refuse(
                    200,
                    "51400",
                    "Cancellation failed as the order has been filled, canceled or does not exist.",
                )
            })?;
        if o.state != "live" && o.state != "partially_filled" {
            return Err(refuse(
                200,
                "51400",
                "Cancellation failed as the order has been filled, canceled or does not exist.",
            ));
        }
        o.state = "canceled".into();
        Ok(json!([{"clOrdId": cl, "ordId": o.ord_id, "sCode": "0", "sMsg": ""}]))
    }

    pub fn cancel_algos(&mut self, key: &str, b: &Value) -> Result<Value, Refusal> {
        let items = b
            .as_array()
            .ok_or_else(|| refuse(200, "51000", "Parameter error"))?;
        let mut out = Vec::new();
        for item in items {
            let id = item
                .get("algoId")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let acct = self.accounts.get_mut(key).expect("exists");
            let a = acct
                .algos
                .iter_mut()
                .find(|a| a.algo_id == id)
                .ok_or_else(|| refuse(200, "51603", "Order does not exist"))?;
            if a.state != "live" {
                return Err(refuse(
                    200,
                    "51400",
                    "Cancellation failed as the order has been filled, canceled or does not exist.",
                ));
            }
            a.state = "canceled".into();
            out.push(json!({"algoId": id, "sCode": "0", "sMsg": ""}));
        }
        Ok(Value::Array(out))
    }

    pub fn set_leverage(&mut self, key: &str, b: &Value) -> Result<Value, Refusal> {
        let s = |k: &str| b.get(k).and_then(Value::as_str);
        let (inst_id, inst) = self.inst(s("instId"))?;
        let max = inst.max_lever;
        let lever: u32 = s("lever")
            .and_then(|l| l.parse().ok())
            .ok_or_else(|| refuse(200, "51000", "Parameter lever error"))?;
        let mode = s("mgnMode").unwrap_or_default().to_owned();
        if !matches!(mode.as_str(), "isolated" | "cross") {
            return Err(refuse(200, "51000", "Parameter mgnMode error"));
        }
        if lever < 1 || lever > max {
            return Err(refuse(200, "59102", "Leverage exceeds the maximum limit."));
        }
        self.accounts
            .get_mut(key)
            .expect("exists")
            .leverage
            .insert((inst_id.clone(), mode.clone()), lever);
        Ok(
            json!([{"instId": inst_id, "lever": lever.to_string(), "mgnMode": mode, "posSide": "net"}]),
        )
    }

    pub fn balance(&self, key: &str) -> Value {
        let a = &self.accounts[key];
        // Every open position's profit at the mark, in USDT.
        let upl: Decimal = a
            .positions
            .iter()
            .filter_map(|(inst, p)| {
                self.instruments
                    .get(inst)
                    .map(|i| (i.mark - p.avg) * p.pos * i.ct_val)
            })
            .sum();
        let eq = a.cash + upl;
        json!([{"totalEq": eq.to_string(), "uTime": self.now().to_string(), "details": [
            {"ccy": "USDT", "cashBal": a.cash.to_string(), "eq": eq.to_string(), "availEq": a.cash.to_string(),
             "availBal": a.cash.to_string(), "upl": upl.to_string(), "frozenBal": "0"}]}])
    }

    pub fn config(&self, key: &str) -> Value {
        let a = &self.accounts[key];
        json!([{"acctLv": "2", "posMode": "net_mode", "uid": a.uid, "label": "tradingbot", "perm": a.perm, "ip": a.ip,
            "autoLoan": false, "level": "Lv1", "mgnIsoMode": "automatic"}])
    }

    pub fn positions(&self, key: &str) -> Value {
        let a = &self.accounts[key];
        let list: Vec<Value> = a
            .positions
            .iter()
            .filter(|(_, p)| !p.pos.is_zero())
            .map(|(inst, p)| {
                let i = &self.instruments[inst];
                json!({"instId": inst, "instType": "SWAP", "pos": p.pos.to_string(), "posSide": "net",
                    "avgPx": p.avg.to_string(), "markPx": i.mark.to_string(),
                    "upl": ((i.mark - p.avg) * p.pos * i.ct_val).to_string(),
                    "lever": a.leverage.get(&(inst.clone(), p.mode.clone())).unwrap_or(&1).to_string(),
                    "mgnMode": p.mode, "liqPx": ""})
            })
            .collect();
        Value::Array(list)
    }

    /// `/api/v5/public/position-tiers` of an instrument family's swap.
    pub fn position_tiers(&self, inst_family: &str, td_mode: &str) -> Option<Value> {
        let inst = self.instruments.get(&format!("{inst_family}-SWAP"))?;
        let mut min = Decimal::ZERO;
        Some(Value::Array(
            inst.tiers
                .iter()
                .enumerate()
                .map(|(i, (max, mmr, lever))| {
                    let row = json!({"uly": inst_family, "instFamily": inst_family, "instId": "",
                        "tier": (i + 1).to_string(), "tdMode": td_mode,
                        "minSz": min.to_string(), "maxSz": max.to_string(), "mmr": mmr.to_string(),
                        "imr": (Decimal::ONE / Decimal::from(*lever)).round_dp(4).to_string(),
                        "maxLever": lever.to_string(), "optMgnFactor": "0", "quoteMaxLoan": "", "baseMaxLoan": ""});
                    min = *max + Decimal::ONE;
                    row
                })
                .collect(),
        ))
    }

    pub fn instruments_json(&self) -> Value {
        Value::Array(
            self.instruments
                .iter()
                .map(|(id, i)| {
                    json!({"instId": id, "instType": "SWAP", "ctVal": i.ct_val.to_string(), "ctMult": "1",
                        "ctValCcy": id.split('-').next().unwrap_or_default(), "settleCcy": "USDT", "ctType": "linear",
                        "lotSz": i.lot.to_string(), "minSz": i.min_sz.to_string(), "tickSz": i.tick.to_string(),
                        "maxLmtSz": "100000000", "maxMktSz": "12000", "lever": i.max_lever.to_string(), "state": "live",
                        "uly": id.trim_end_matches("-SWAP"), "instFamily": id.trim_end_matches("-SWAP")})
                })
                .collect(),
        )
    }
}

impl Default for Venue {
    fn default() -> Self {
        Self::new()
    }
}

fn order_json(o: &VOrder) -> Value {
    json!({"instType": "SWAP", "instId": o.inst_id, "ordId": o.ord_id, "clOrdId": o.cl_ord_id,
        "px": if o.px.is_zero() { String::new() } else { o.px.to_string() }, "sz": o.sz.to_string(),
        "ordType": o.ord_type, "side": o.side, "posSide": "net", "tdMode": o.td_mode,
        "accFillSz": o.filled.to_string(), "fillPx": o.avg.to_string(), "fillSz": o.filled.to_string(),
        "avgPx": if o.avg.is_zero() { String::new() } else { o.avg.to_string() }, "state": o.state,
        "fee": (-o.fee).to_string(), "feeCcy": "USDT", "reduceOnly": o.reduce_only.to_string(),
        "uTime": o.time.to_string(), "cTime": o.time.to_string(),
        "algoClOrdId": o.algo_cl_ord_id, "pnl": o.pnl.to_string()})
}

fn algo_json(a: &VAlgo) -> Value {
    json!({"algoId": a.algo_id, "algoClOrdId": a.algo_cl_ord_id, "instId": a.inst_id, "instType": "SWAP",
        "ordType": if a.callback.is_some() { "move_order_stop" } else { "conditional" }, "side": a.side,
        "callbackRatio": a.callback.map(|s| s.to_string()).unwrap_or_default(),
        "activePx": a.active_px.map(|s| s.to_string()).unwrap_or_default(), "posSide": "net", "state": a.state,
        "sz": a.sz.map(|s| s.to_string()).unwrap_or_default(),
        "tpTriggerPx": a.tp.map(|s| s.to_string()).unwrap_or_default(), "tpOrdPx": if a.tp.is_some() { "-1" } else { "" },
        "slTriggerPx": a.sl.map(|s| s.to_string()).unwrap_or_default(), "slOrdPx": if a.sl.is_some() { "-1" } else { "" },
        "actualSz": a.actual_sz.to_string(), "actualPx": a.actual_px.to_string(), "ordId": a.ord_id,
        "tdMode": a.td_mode, "cTime": a.time.to_string(), "uTime": a.time.to_string()})
}
