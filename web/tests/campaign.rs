//! The three promises — a position is never left without a stop-loss, an
//! alert never trades twice, no record is ever lost — tried the way an
//! operator's worst day tries them: the real binary SIGKILLed at points of
//! the entry → protection → close lifecycle (the venue has *executed* the
//! request whose answer the bot never hears), restarted, alerts replayed,
//! alerts racing a kill. Every check reads the local venue's own state,
//! not the service's view; the database is only asked whether it holds
//! every order the venue holds.

mod common;

use common::api::{Api, PASSWORD, Session, json_of as json};
use common::venues::{OKX_PASS, OKX_SECRET};
use common::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};
use tradingbot_testkit::binance::LocalBinance;
use tradingbot_testkit::okx::LocalOkx;

/// Two accounts per venue, each its own user.
const KEYS: [(&str, &str); 2] = [
    (
        "campaignKeyOne0000000000000000000000000000000000000000000000001",
        "campaignSecretOne000000000000000000000000000000000000000000001",
    ),
    (
        "campaignKeyTwo0000000000000000000000000000000000000000000000002",
        "campaignSecretTwo000000000000000000000000000000000000000000002",
    ),
];
const SYMBOLS: [&str; 2] = ["BTCUSDT", "ETHUSDT"];

enum Local {
    Binance(LocalBinance),
    Okx(LocalOkx, LocalBinance),
}

/// Where to kill: the request the venue carries out and whose answer it
/// holds, after letting `skip` of the same kind through.
#[derive(Clone, Copy, Debug)]
enum Point {
    /// An entry or a close (market order).
    Order(u32),
    /// A stop-loss or take-profit.
    Protective(u32),
    /// A cancel of a stop or target.
    Cancel(u32),
}

/// One resting conditional order.
#[derive(Debug, Clone)]
#[allow(dead_code)] // its fields are read in failure messages
struct Resting {
    client_id: String,
    stop: bool,
    /// The side it trades (`BUY`/`SELL`, upper case).
    side: String,
}

impl Local {
    fn name(&self) -> &'static str {
        match self {
            Local::Binance(_) => "binance",
            Local::Okx(..) => "okx",
        }
    }

    fn venue_symbol(&self, symbol: &str) -> String {
        match self {
            Local::Binance(_) => symbol.to_owned(),
            Local::Okx(..) => format!("{}-USDT-SWAP", symbol.trim_end_matches("USDT")),
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("TRADINGBOT_RATE_LIMIT_IP".to_owned(), "100000".to_owned()),
            ("TRADINGBOT_RATE_LIMIT_USER".to_owned(), "100000".to_owned()),
            (
                "TRADINGBOT_RATE_LIMIT_WEBHOOK".to_owned(),
                "100000".to_owned(),
            ),
        ];
        let b = match self {
            Local::Binance(b) => b,
            Local::Okx(o, b) => {
                env.push(("TRADINGBOT_OKX_DEMO_REST_URL".into(), o.rest_url.clone()));
                env.push((
                    "TRADINGBOT_OKX_DEMO_WS_PRIVATE_URL".into(),
                    o.ws_private_url.clone(),
                ));
                env.push((
                    "TRADINGBOT_OKX_DEMO_WS_PUBLIC_URL".into(),
                    o.ws_public_url.clone(),
                ));
                b
            }
        };
        env.push((
            "TRADINGBOT_BINANCE_TESTNET_REST_URL".into(),
            b.rest_url.clone(),
        ));
        // REST only, so the venue can hold an order's answer.
        env.push((
            "TRADINGBOT_BINANCE_TESTNET_WS_API_URL".into(),
            "ws://127.0.0.1:9/ws-fapi/v1".into(),
        ));
        env.push((
            "TRADINGBOT_BINANCE_TESTNET_STREAM_URL".into(),
            b.stream_url.clone(),
        ));
        env
    }

    fn account_body(&self, i: usize) -> Value {
        let (key, secret) = KEYS[i];
        match self {
            Local::Binance(_) => {
                json!({ "exchange": "binance", "api_key": key, "api_secret": secret, "testnet": true })
            }
            Local::Okx(..) => json!({ "exchange": "okx", "api_key": key, "api_secret": OKX_SECRET,
                                       "passphrase": OKX_PASS, "testnet": true }),
        }
    }

    fn hold(&self, point: Point) {
        let ms = 60_000;
        match (self, point) {
            (Local::Binance(b), Point::Order(n)) => b.hold_after("POST /fapi/v1/order", n, ms),
            (Local::Binance(b), Point::Protective(n)) => {
                b.hold_after("POST /fapi/v1/algoOrder", n, ms)
            }
            (Local::Binance(b), Point::Cancel(n)) => {
                b.hold_after("DELETE /fapi/v1/algoOrder", n, ms)
            }
            (Local::Okx(o, _), Point::Order(n)) => {
                o.hold_after("WS order|POST /api/v5/trade/order", n, ms)
            }
            (Local::Okx(o, _), Point::Protective(n)) => {
                o.hold_after("POST /api/v5/trade/order-algo", n, ms)
            }
            (Local::Okx(o, _), Point::Cancel(n)) => {
                o.hold_after("POST /api/v5/trade/cancel-algos", n, ms)
            }
        }
    }

    /// The venue's last requests, for failure messages.
    fn recent(&self) -> String {
        let lines: Vec<String> = match self {
            Local::Binance(b) => b
                .requests()
                .iter()
                .rev()
                .take(12)
                .map(|r| format!("{} {} → {} {}", r.method, r.path, r.status, r.code))
                .collect(),
            Local::Okx(o, _) => o
                .requests()
                .iter()
                .rev()
                .take(12)
                .map(|r| format!("{} {} → {} {}", r.method, r.path, r.status, r.code))
                .collect(),
        };
        lines.join("\n")
    }

    fn reached(&self) -> bool {
        match self {
            Local::Binance(b) => b.venue().holds.is_empty(),
            Local::Okx(o, _) => o.venue().hold_next.is_empty(),
        }
    }

    /// The signed position size on `symbol` (canonical).
    fn position(&self, key: &str, symbol: &str) -> Decimal {
        let vs = self.venue_symbol(symbol);
        match self {
            Local::Binance(b) => b.venue().accounts[key]
                .positions
                .get(&vs)
                .map_or(Decimal::ZERO, |p| p.amt),
            Local::Okx(o, _) => o.venue().accounts[key]
                .positions
                .get(&vs)
                .map_or(Decimal::ZERO, |p| p.pos),
        }
    }

    fn resting(&self, key: &str, symbol: &str) -> Vec<Resting> {
        let vs = self.venue_symbol(symbol);
        match self {
            Local::Binance(b) => b.venue().accounts[key]
                .algos
                .iter()
                .filter(|a| a.symbol == vs && a.status == "NEW")
                .map(|a| Resting {
                    client_id: a.client_id.clone(),
                    stop: a.kind == "STOP_MARKET",
                    side: a.side.clone(),
                })
                .collect(),
            Local::Okx(o, _) => o.venue().accounts[key]
                .algos
                .iter()
                .filter(|a| a.inst_id == vs && a.state == "live")
                .map(|a| Resting {
                    client_id: a.algo_cl_ord_id.clone(),
                    stop: a.sl.is_some(),
                    side: a.side.to_uppercase(),
                })
                .collect(),
        }
    }

    /// Every order and conditional order of ours the venue has ever had.
    fn client_ids(&self, key: &str) -> Vec<String> {
        let ids: Vec<String> = match self {
            Local::Binance(b) => {
                let v = b.venue();
                let a = &v.accounts[key];
                a.orders
                    .iter()
                    .map(|o| o.client_id.clone())
                    .chain(a.algos.iter().map(|x| x.client_id.clone()))
                    .collect()
            }
            Local::Okx(o, _) => {
                let v = o.venue();
                let a = &v.accounts[key];
                a.orders
                    .iter()
                    .map(|o| o.cl_ord_id.clone())
                    .chain(a.algos.iter().map(|x| x.algo_cl_ord_id.clone()))
                    .collect()
            }
        };
        ids.into_iter().filter(|c| c.starts_with("tb")).collect()
    }

    /// Filled entries (client ids ending in `e`).
    fn entries(&self, key: &str) -> Vec<String> {
        match self {
            Local::Binance(b) => b.venue().accounts[key]
                .orders
                .iter()
                .filter(|o| o.client_id.ends_with('e') && o.status == "FILLED")
                .map(|o| o.client_id.clone())
                .collect(),
            Local::Okx(o, _) => o.venue().accounts[key]
                .orders
                .iter()
                .filter(|o| o.cl_ord_id.ends_with('e') && o.state == "filled")
                .map(|o| o.cl_ord_id.clone())
                .collect(),
        }
    }

    /// Closes by client id (ending in `c`) that filled.
    fn closes(&self, key: &str) -> usize {
        match self {
            Local::Binance(b) => b.venue().accounts[key]
                .orders
                .iter()
                .filter(|o| o.client_id.ends_with('c') && o.status == "FILLED")
                .count(),
            Local::Okx(o, _) => o.venue().accounts[key]
                .orders
                .iter()
                .filter(|o| o.cl_ord_id.ends_with('c') && o.state == "filled")
                .count(),
        }
    }
}

/// The signal id an order's client id names.
fn signal_of(client_id: &str) -> i64 {
    tradingbot_core::exchange::ClientOrderId::try_from(client_id.to_owned())
        .ok()
        .and_then(|id| id.parts())
        .map(|(_, signal, _)| signal)
        .unwrap_or_else(|| panic!("{client_id} is not a client order id of ours"))
}

struct Slot {
    user: usize,
    symbol: &'static str,
    strategy: Value,
}

struct Campaign {
    local: Local,
    dir: std::path::PathBuf,
    env: Vec<(String, String)>,
    emails: Vec<String>,
    sessions: Vec<Session>,
    slots: Vec<Slot>,
    /// Every alert sent: (slot, body, answered 2xx before any kill).
    sent: Vec<(usize, String, bool)>,
    /// The side each slot should hold on the venue (`None`: flat).
    expected: BTreeMap<usize, Option<bool>>,
    /// Slots whose state a kill left undecided (a race): any outcome goes.
    loose: BTreeSet<usize>,
    kills: usize,
    seq: usize,
    worst_unprotected: Duration,
    /// The logs of the processes killed so far.
    history: String,
}

impl Campaign {
    fn env(&self) -> Vec<(&str, &str)> {
        self.env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    fn alert(&mut self, slot: usize, action: &str, position: &str) -> String {
        self.seq += 1;
        let s = &self.slots[slot];
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        s.strategy["alert_message"]
            .as_str()
            .unwrap()
            .replace("{{strategy.order.action}}", action)
            .replace("{{strategy.market_position}}", position)
            .replace("{{ticker}}", &format!("{}.P", s.symbol))
            .replace("{{close}}", "43000")
            .replace("{{timenow}}", &now)
            .replace(
                "{{strategy.order.id}}",
                &format!("{}-{}-{}", self.local.name(), slot, self.seq),
            )
    }

    /// The slot's webhook URL on this run's port.
    fn hook(&self, base: &str, slot: usize) -> String {
        let url = self.slots[slot].strategy["webhook_url"].as_str().unwrap();
        format!("{base}{}", &url[url.find("/api/").unwrap()..])
    }

    async fn post(&mut self, bot: &Spawned, slot: usize, body: String) -> Option<(u16, Value)> {
        let url = self.hook(&bot.base, slot);
        let res = client()
            .post(url)
            .header("content-type", "text/plain")
            .body(body.clone())
            .send()
            .await;
        let answered = match res {
            Ok(r) => {
                let status = r.status().as_u16();
                let v = r.json().await.unwrap_or(Value::Null);
                Some((status, v))
            }
            Err(_) => None,
        };
        self.sent
            .push((slot, body, answered.as_ref().is_some_and(|(s, _)| *s < 300)));
        answered
    }

    /// Sends `action` to `slot` with a kill point armed, waits until the
    /// venue has carried the request out, and SIGKILLs the bot.
    async fn kill_at(&mut self, bot: Spawned, point: Point, slot: usize, action: (&str, &str)) {
        self.local.hold(point);
        let body = self.alert(slot, action.0, action.1);
        let answer = self.post(&bot, slot, body).await;
        assert!(
            answer.as_ref().is_some_and(|(s, _)| *s == 202),
            "{point:?}: {answer:?}"
        );
        let deadline = Instant::now() + Duration::from_secs(15);
        while !self.local.reached() {
            assert!(
                Instant::now() < deadline,
                "{point:?} was never reached; the venue saw, latest first:\n{}\n{}",
                self.local.recent(),
                bot.output()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let (status, out) = bot.signal_and_wait("KILL");
        assert!(!status.success());
        self.history
            .push_str(&format!("\n=== killed at {point:?}\n{out}"));
        self.kills += 1;
    }

    async fn restart(&mut self) -> Spawned {
        let bot = Spawned::start(&self.dir, &self.env());
        let api = Api::new(&bot);
        for (i, email) in self.emails.iter().enumerate() {
            let res = api.login(email, PASSWORD).await;
            assert_eq!(res.status(), 200);
            self.sessions[i].access = json(res).await["access_token"].as_str().unwrap().to_owned();
        }
        bot
    }

    /// What must hold on the venue, whatever the bot did: every position
    /// has one stop (and at most one target) on its exit side, every flat
    /// symbol has nothing of ours resting, the slots keep what the trader
    /// asked for. `None` when it holds.
    fn violations(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, slot) in self.slots.iter().enumerate() {
            let key = KEYS[slot.user].0;
            let pos = self.local.position(key, slot.symbol);
            let resting = self.local.resting(key, slot.symbol);
            let stops: Vec<&Resting> = resting.iter().filter(|r| r.stop).collect();
            let targets = resting.iter().filter(|r| !r.stop).count();
            if pos.is_zero() {
                if !resting.is_empty() {
                    out.push(format!(
                        "slot {i}: {} orders rest with no position",
                        resting.len()
                    ));
                }
            } else {
                let exit = if pos > Decimal::ZERO { "SELL" } else { "BUY" };
                if stops.len() != 1 || stops[0].side != exit {
                    out.push(format!("slot {i}: position {pos} has stops {stops:?}"));
                }
                if targets > 1 {
                    out.push(format!("slot {i}: {targets} targets"));
                }
            }
            if !self.loose.contains(&i) {
                let want = self.expected.get(&i).copied().flatten();
                let have = (!pos.is_zero()).then_some(pos > Decimal::ZERO);
                if want != have {
                    out.push(format!(
                        "slot {i}: expected {want:?} on the venue, found {pos}"
                    ));
                }
            }
        }
        out
    }

    /// Waits (at most 5 s) for the venue to satisfy the invariants.
    async fn settle(&mut self, bot: &Spawned, what: &str) {
        let started = Instant::now();
        loop {
            let v = self.violations();
            if v.is_empty() {
                if what != "closed again" {
                    self.worst_unprotected = self.worst_unprotected.max(started.elapsed());
                }
                if std::env::var("CAMPAIGN_DEBUG").is_ok() {
                    eprintln!("{what}: settled in {:?}", started.elapsed());
                    if started.elapsed() > Duration::from_millis(500)
                        && let Local::Okx(o, _) = &self.local
                    {
                        for r in o.requests().iter().rev().take(30).rev() {
                            eprintln!(
                                "{} {} {} {} {}",
                                r.at_ms, r.method, r.path, r.status, r.code
                            );
                        }
                    }
                }
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{}: {what}: after 5 s {v:?}\n{}",
                self.local.name(),
                bot.output()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (at most 5 s) until the service, too, holds nothing open on
    /// `slot`: the venue is flat as soon as the close and its cancels are
    /// carried out, the slot frees when their answers are back, and an
    /// entry sent in between is refused `order_in_flight` by design.
    async fn service_flat(&self, bot: &Spawned, slot: usize) {
        let api = Api::new(bot);
        let s = &self.slots[slot];
        let strategy = s.strategy["id"].as_i64().unwrap();
        let started = Instant::now();
        loop {
            let open = json(api.get("/positions", &self.sessions[s.user].access).await).await;
            let held = open
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["strategy_id"].as_i64() == Some(strategy));
            if !held {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "slot {slot}: the venue is flat but the service still shows {open}\n{}",
                bot.output()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every alert sent so far, again: none trades a second time.
    async fn replay_all(&mut self, bot: &Spawned) -> usize {
        let sent = self.sent.clone();
        let mut duplicates = 0;
        for (slot, body, answered) in sent {
            let url = self.hook(&bot.base, slot);
            let res = client()
                .post(url)
                .header("content-type", "text/plain")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let answer = res.text().await.unwrap_or_default();
            if answered {
                assert_eq!(
                    status,
                    200,
                    "an alert answered before the kill was not a duplicate after it: {answer}\n{}",
                    bot.output()
                );
            }
            if status == 202 {
                // Its first attempt died with the process before it was
                // recorded, so it never traded: this is its one trade
                // (the audit checks each alert traded at most once).
                assert!(!answered);
                self.loose.insert(slot);
            }
            duplicates += usize::from(status == 200);
        }
        duplicates
    }

    /// Every venue entry comes from a distinct alert; every venue order is
    /// in the database.
    async fn audit(&self, bot: &Spawned) -> (usize, usize) {
        let api = Api::new(bot);
        let mut entries = 0;
        let mut orders = 0;
        for (u, session) in self.sessions.iter().enumerate() {
            let key = KEYS[u].0;
            // The store is written behind: give it a moment.
            let deadline = Instant::now() + Duration::from_secs(5);
            let (stored, signals) = loop {
                let stored: BTreeSet<String> =
                    json(api.get("/orders?per_page=200", &session.access).await).await["items"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|o| o["client_order_id"].as_str().unwrap().to_owned())
                        .collect();
                let missing: Vec<String> = self
                    .local
                    .client_ids(key)
                    .into_iter()
                    .filter(|c| !stored.contains(c))
                    .collect();
                if missing.is_empty() {
                    let signals: HashMap<i64, String> = json(
                        api.get("/signals?per_page=200", &session.access).await,
                    )
                    .await["items"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| {
                            (
                                s["id"].as_i64().unwrap(),
                                s["signal_key"].as_str().unwrap().to_owned(),
                            )
                        })
                        .collect();
                    break (stored, signals);
                }
                assert!(
                    Instant::now() < deadline,
                    "{}: venue orders missing from the database: {missing:?}\nvenue: {:?}\nstored: {stored:?}\n{}",
                    self.local.name(),
                    self.local.client_ids(key),
                    (self.history.clone() + "\n=== now\n" + &bot.output())
                        .lines()
                        .filter(|l| missing.iter().any(|m| l.contains(m.as_str()))
                            || l.contains("refused")
                            || l.starts_with("===")
                            || l.contains("journal")
                            || l.contains("ERROR")
                            || l.contains("WARN"))
                        .collect::<Vec<_>>()
                        .join("\n")
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            orders += stored.len();
            let all = self.history.clone() + "\n=== now\n" + &bot.output();
            let unlinked: Vec<&str> = all
                .lines()
                .filter(|l| l.contains("stored without links") || l.starts_with("==="))
                .collect();
            assert!(
                !unlinked.iter().any(|l| l.contains("stored without links")),
                "{}: orders stored without their signal or position:\n{}\n{}",
                self.local.name(),
                unlinked.join("\n"),
                all.lines()
                    .filter(|l| l.starts_with("===") || l.contains("WARN") || l.contains("ERROR"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            let mut per_alert: HashMap<String, usize> = HashMap::new();
            for e in self.local.entries(key) {
                let key = signals.get(&signal_of(&e)).unwrap_or_else(|| {
                    panic!("entry {e} names a signal the database does not hold")
                });
                *per_alert.entry(key.clone()).or_default() += 1;
                entries += 1;
            }
            let twice: Vec<_> = per_alert.iter().filter(|(_, n)| **n > 1).collect();
            assert!(twice.is_empty(), "alerts traded twice: {twice:?}");
        }
        (entries, orders)
    }
}

async fn campaign(local: Local, with: &[(&str, &str)]) {
    let (_tmp, dir) = workdir();
    let mut env = local.env();
    env.extend(with.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let mut c = Campaign {
        local,
        dir: dir.clone(),
        env,
        emails: Vec::new(),
        sessions: Vec::new(),
        slots: Vec::new(),
        sent: Vec::new(),
        expected: BTreeMap::new(),
        loose: BTreeSet::new(),
        kills: 0,
        seq: 0,
        worst_unprotected: Duration::ZERO,
        history: String::new(),
    };
    let bot = Spawned::start(&dir, &c.env());
    {
        let api = Api::new(&bot);
        for u in 0..KEYS.len() {
            let email = format!("campaign{u}-{}@example.com", c.local.name());
            let session = api.user(&email).await;
            let res = api
                .post(
                    "/accounts/register",
                    Some(&session.access),
                    c.local.account_body(u),
                )
                .await;
            assert_eq!(res.status(), 201);
            let account = json(res).await["id"].as_i64().unwrap();
            for symbol in SYMBOLS {
                let res = api
                    .post(
                        "/strategies",
                        Some(&session.access),
                        json!({ "name": format!("{symbol} {u}"), "symbol": c.local.venue_symbol(symbol),
                                "account_id": account, "investment_pct": 10, "leverage": 3 }),
                    )
                    .await;
                assert_eq!(res.status(), 201);
                c.slots.push(Slot {
                    user: u,
                    symbol,
                    strategy: json(res).await,
                });
            }
            c.emails.push(email);
            c.sessions.push(session);
        }
    }
    let long = ("buy", "long");
    let close = ("sell", "flat");
    let short = ("sell", "short");

    // 1. The entry executed, its answer lost.
    c.kill_at(bot, Point::Order(0), 0, long).await;
    c.expected.insert(0, Some(true));
    let bot = c.restart().await;
    c.settle(&bot, "entry executed, answer lost").await;
    // 2. The stop placed, its answer lost: between stop and target.
    c.kill_at(bot, Point::Protective(0), 1, long).await;
    c.expected.insert(1, Some(true));
    let bot = c.restart().await;
    c.settle(&bot, "between stop and target").await;
    // 3. The target placed, its answer lost.
    c.kill_at(bot, Point::Protective(1), 2, long).await;
    c.expected.insert(2, Some(true));
    let bot = c.restart().await;
    c.settle(&bot, "target placed, answer lost").await;
    let replayed = c.replay_all(&bot).await;
    // 4. The close executed, its answer lost: stop and target still rest.
    c.kill_at(bot, Point::Order(0), 0, close).await;
    c.expected.insert(0, None);
    let bot = c.restart().await;
    c.settle(&bot, "close executed, cancels not sent").await;
    // 5. The stop cancelled after a close, the target not yet.
    c.kill_at(bot, Point::Cancel(0), 1, close).await;
    c.expected.insert(1, None);
    let bot = c.restart().await;
    c.settle(&bot, "between the two cancels").await;
    // 6. A reversal: closed, the new entry executed, its answer lost.
    c.kill_at(bot, Point::Order(1), 2, short).await;
    c.expected.insert(2, Some(false));
    let mut bot = c.restart().await;
    c.settle(&bot, "reversal's entry executed, answer lost")
        .await;
    // 7. Killed a few milliseconds after an accepted entry.
    for jitter_ms in [0u64, 3, 8] {
        let slot = 3;
        let body = c.alert(slot, long.0, long.1);
        let answer = c.post(&bot, slot, body).await;
        assert_eq!(answer.as_ref().map(|a| a.0), Some(202), "{answer:?}");
        tokio::time::sleep(Duration::from_millis(jitter_ms)).await;
        let (status, out) = bot.signal_and_wait("KILL");
        assert!(!status.success());
        c.history.push_str(&format!(
            "\n=== killed {jitter_ms} ms after an entry\n{out}"
        ));
        c.kills += 1;
        c.expected.insert(slot, Some(true));
        let restarted = c.restart().await;
        c.settle(&restarted, "killed just after an accepted entry")
            .await;
        // Flat again for the next round.
        let body = c.alert(slot, close.0, close.1);
        let answer = c.post(&restarted, slot, body).await;
        assert_eq!(answer.as_ref().map(|a| a.0), Some(202), "{answer:?}");
        c.expected.insert(slot, None);
        c.settle(&restarted, "closed again").await;
        c.service_flat(&restarted, slot).await;
        bot = restarted;
    }
    // 8. Alerts racing a kill on every slot at once.
    let bodies: Vec<(usize, String)> = (0..c.slots.len())
        .map(|slot| {
            let open = c.expected.get(&slot).copied().flatten().is_some();
            let (a, p) = if open { close } else { long };
            (slot, c.alert(slot, a, p))
        })
        .collect();
    let base = bot.base.clone();
    let mut tasks = Vec::new();
    for (slot, body) in bodies.clone() {
        let url = c.hook(&base, slot);
        tasks.push(tokio::spawn(async move {
            client()
                .post(url)
                .header("content-type", "text/plain")
                .body(body)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .ok()
        }));
    }
    tokio::time::sleep(Duration::from_millis(4)).await;
    let (status, out) = bot.signal_and_wait("KILL");
    assert!(!status.success());
    c.history
        .push_str(&format!("\n=== killed with alerts racing\n{out}"));
    c.kills += 1;
    for ((slot, body), t) in bodies.into_iter().zip(tasks) {
        let answered = t.await.unwrap();
        c.sent.push((slot, body, answered.is_some_and(|s| s < 300)));
        c.loose.insert(slot);
    }
    let bot = c.restart().await;
    c.settle(&bot, "alerts racing a kill").await;
    let replayed = replayed + c.replay_all(&bot).await;
    let (entries, orders) = c.audit(&bot).await;
    // The slots the race left open stay open until the trader closes them.
    for slot in 0..c.slots.len() {
        let pos = c
            .local
            .position(KEYS[c.slots[slot].user].0, c.slots[slot].symbol);
        c.expected
            .insert(slot, (!pos.is_zero()).then_some(pos > Decimal::ZERO));
    }
    c.loose.clear();
    c.settle(&bot, "the last state").await;
    let closes: usize = (0..KEYS.len()).map(|u| c.local.closes(KEYS[u].0)).sum();
    let asked_closes = c
        .sent
        .iter()
        .filter(|(_, b, _)| b.contains("\"sell\"") || b.contains("\"flat\""))
        .count();
    assert!(
        closes <= asked_closes,
        "{closes} closes on the venue for {asked_closes} close or reverse alerts: the service closed a position on its own"
    );
    // Nothing the writer was given was refused, across every kill.
    let metrics = client()
        .get(bot.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let refused: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("persist_failures_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(refused, 0.0, "records refused by the database");
    // A clean stop within the shutdown budget.
    let started = Instant::now();
    let (status, out) = bot.signal_and_wait("TERM");
    assert!(status.success(), "{out}");
    assert!(started.elapsed() < Duration::from_secs(30));
    announce(&format!(
        "{} campaign: {} kills, {} alerts sent, {replayed} replays answered duplicate, {entries} entries \
         (none twice), {orders} orders all in the database, every position protected within {} ms of a restart, \
         {closes} closes for {asked_closes} close/reverse alerts",
        c.local.name(),
        c.kills,
        c.sent.len(),
        c.worst_unprotected.as_millis()
    ));
}

fn binance() -> Local {
    let b = LocalBinance::start();
    for (key, secret) in KEYS {
        b.add_account(key, secret, dec!(10000));
    }
    Local::Binance(b)
}

fn okx() -> Local {
    let o = LocalOkx::start();
    for (key, _) in KEYS {
        o.add_account(key, OKX_SECRET, OKX_PASS, dec!(10000), true);
    }
    Local::Okx(o, LocalBinance::start())
}

#[tokio::test]
async fn binance_crash_campaign_keeps_the_three_promises() {
    campaign(binance(), &[]).await;
}

#[tokio::test]
async fn okx_crash_campaign_keeps_the_three_promises() {
    campaign(okx(), &[]).await;
}

/// With Redis for the replay cache and PostgreSQL for the records.
#[tokio::test]
async fn crash_campaign_on_postgres_and_redis() {
    let Some(db) = TestDatabase::postgres().await else {
        return announce_skip("crash_campaign_on_postgres_and_redis", "TEST_DATABASE_URL");
    };
    let Ok(redis) = std::env::var("TEST_REDIS_URL") else {
        db.cleanup().await;
        return announce_skip("crash_campaign_on_postgres_and_redis", "TEST_REDIS_URL");
    };
    let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    campaign(
        binance(),
        &[
            ("DATABASE_URL", db.url.as_str()),
            ("REDIS_URL", redis.as_str()),
            ("TRADINGBOT_REDIS_PREFIX", prefix.as_str()),
        ],
    )
    .await;
    db.cleanup().await;
}

/// Ten accounts trading on one Binance address with tight limits: the
/// address's weight is one budget, a 429 stops everything that is not
/// protective, closes and stops wait out a ban instead of failing, and
/// nothing gets the address banned.
#[tokio::test]
async fn rate_limit_campaign_on_one_address() {
    const N: usize = 10;
    let venue = LocalBinance::start();
    {
        let mut v = venue.venue();
        v.weight_limit = 600;
        v.order_limit_10s = 8;
        v.order_limit_1m = 60;
        v.ban_after = Some(2);
        v.ban_secs = 30;
    }
    let keys: Vec<(String, String)> = (0..N)
        .map(|i| {
            (
                format!("rateLimitKey{i:02}{}", "k".repeat(50)),
                format!("rateLimitSecret{i:02}{}", "s".repeat(47)),
            )
        })
        .collect();
    for (k, s) in &keys {
        venue.add_account(k, s, dec!(10000));
    }
    let (_tmp, dir) = workdir();
    let env = [
        ("TRADINGBOT_RATE_LIMIT_IP", "100000"),
        ("TRADINGBOT_RATE_LIMIT_USER", "100000"),
        ("TRADINGBOT_RATE_LIMIT_WEBHOOK", "100000"),
        (
            "TRADINGBOT_BINANCE_TESTNET_REST_URL",
            venue.rest_url.as_str(),
        ),
        (
            "TRADINGBOT_BINANCE_TESTNET_WS_API_URL",
            "ws://127.0.0.1:9/ws-fapi/v1",
        ),
        (
            "TRADINGBOT_BINANCE_TESTNET_STREAM_URL",
            venue.stream_url.as_str(),
        ),
    ];
    let bot = Spawned::start(&dir, &env);
    let api = Api::new(&bot);
    let mut strategies = Vec::new();
    for (i, (k, s)) in keys.iter().enumerate() {
        let u = api.user(&format!("rl{i}@example.com")).await;
        let res = api
            .post(
                "/accounts/register",
                Some(&u.access),
                json!({ "exchange": "binance", "api_key": k, "api_secret": s, "testnet": true }),
            )
            .await;
        assert_eq!(res.status(), 201, "{}", venue_recent(&venue));
        let account = json(res).await["id"].as_i64().unwrap();
        let res = api
            .post(
                "/strategies",
                Some(&u.access),
                json!({ "name": "rl", "symbol": "BTCUSDT", "account_id": account,
                        "investment_pct": 5, "leverage": 2 }),
            )
            .await;
        assert_eq!(res.status(), 201);
        strategies.push(json(res).await);
    }
    let mut seq = 0;
    let mut alert = |s: &Value, action: &str, position: &str| {
        seq += 1;
        common::api::tv_alert(s, action, position, &format!("rl-{seq}"))
    };
    let position = |i: usize| {
        venue.venue().accounts[keys[i].0.as_str()]
            .positions
            .get("BTCUSDT")
            .map_or(Decimal::ZERO, |p| p.amt)
    };
    let stops = |i: usize| {
        venue.venue().accounts[keys[i].0.as_str()]
            .algos
            .iter()
            .filter(|a| a.status == "NEW" && a.kind == "STOP_MARKET")
            .count()
    };
    let resting = |i: usize| {
        venue.venue().accounts[keys[i].0.as_str()]
            .algos
            .iter()
            .filter(|a| a.status == "NEW")
            .count()
    };
    let mut closes_asked = 0;
    let mut entries_protected = 0;
    for round in 0..3 {
        // Everyone enters at once, at the start of an order window.
        let ms = tradingbot_testkit::now_ms();
        tokio::time::sleep(Duration::from_millis((10_000 - ms % 10_000) as u64 + 100)).await;
        if round == 1 {
            // The venue says "too many requests" to the first stop-loss of
            // the burst: everything pauses, or the address is banned.
            venue.fail_next(
                "/fapi/v1/algoOrder",
                tradingbot_testkit::binance::Failure::RateLimited {
                    retry_after_secs: 3,
                },
            );
        }
        let mut tasks = Vec::new();
        for s in &strategies {
            let body = alert(s, "buy", "long");
            let (url, http) = (s["webhook_url"].as_str().unwrap().to_owned(), client());
            tasks.push(tokio::spawn(async move {
                http.post(url)
                    .header("content-type", "text/plain")
                    .body(body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }));
        }
        for t in tasks {
            let status = t.await.unwrap();
            assert!(matches!(status, 202 | 503 | 422), "{status}");
        }
        // Every entry that filled is protected.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let open: Vec<usize> = (0..N).filter(|i| !position(*i).is_zero()).collect();
            let bare: Vec<usize> = open.iter().copied().filter(|i| stops(*i) != 1).collect();
            if bare.is_empty() && !open.is_empty() {
                entries_protected += open.len();
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: unprotected {bare:?} of {open:?}\n{}\n{}",
                venue_recent(&venue),
                bot.output()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Everyone who holds a position closes it at once.
        if round == 2 {
            // ... and the first close is answered with a ban: that close,
            // and every other, waits for its end and then goes.
            venue.fail_next(
                "/fapi/v1/order",
                tradingbot_testkit::binance::Failure::Banned {
                    retry_after_secs: 8,
                },
            );
        }
        let mut tasks = Vec::new();
        for (i, s) in strategies.iter().enumerate() {
            if position(i).is_zero() {
                continue;
            }
            closes_asked += 1;
            let body = alert(s, "sell", "flat");
            let (url, http) = (s["webhook_url"].as_str().unwrap().to_owned(), client());
            tasks.push(tokio::spawn(async move {
                http.post(url)
                    .header("content-type", "text/plain")
                    .body(body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }));
        }
        for t in tasks {
            assert_eq!(
                t.await.unwrap(),
                202,
                "a close is accepted, even during a ban"
            );
        }
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let open: Vec<usize> = (0..N).filter(|i| !position(*i).is_zero()).collect();
            let left: Vec<usize> = (0..N).filter(|i| resting(*i) > 0).collect();
            if open.is_empty() && left.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: still open {open:?}, resting orders {left:?}\n{}",
                venue_recent(&venue)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let v = venue.venue();
    assert!(v.failures.is_empty(), "every injected failure was met");
    assert_eq!(v.bans, 1, "only the ban the venue was told to give");
    let closes: usize = keys
        .iter()
        .map(|(k, _)| {
            v.accounts[k.as_str()]
                .orders
                .iter()
                .filter(|o| o.client_id.ends_with('c') && o.status == "FILLED")
                .count()
        })
        .sum();
    assert_eq!(closes, closes_asked, "every accepted close executed, once");
    let limited = v.rate_limited_count;
    drop(v);
    announce(&format!(
        "rate-limit campaign: {N} accounts on one address, {entries_protected} entries all protected, \
         {closes_asked} closes all executed (one during a ban), 0 bans earned, {limited} 429s answered \
         (one injected)"
    ));
}

fn venue_recent(venue: &LocalBinance) -> String {
    let requests = venue.requests();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in &requests {
        *counts
            .entry(format!("{} {} {}", r.method, r.path, r.status))
            .or_default() += 1;
    }
    let latest = requests
        .iter()
        .rev()
        .take(20)
        .map(|r| format!("{} {} → {} {}", r.method, r.path, r.status, r.code))
        .collect::<Vec<_>>()
        .join("\n");
    format!("{counts:#?}\nlatest first:\n{latest}")
}

/// Two instances on one Redis, sending from one address: the ban one of
/// them receives holds the other — it sends nothing until the ban ends,
/// and trades again afterwards.
#[tokio::test]
async fn a_ban_one_instance_receives_holds_every_instance() {
    let Some(db) = TestDatabase::postgres().await else {
        return announce_skip(
            "a_ban_one_instance_receives_holds_every_instance",
            "TEST_DATABASE_URL",
        );
    };
    let Ok(redis) = std::env::var("TEST_REDIS_URL") else {
        db.cleanup().await;
        return announce_skip(
            "a_ban_one_instance_receives_holds_every_instance",
            "TEST_REDIS_URL",
        );
    };
    let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    let venue = LocalBinance::start();
    let keys = [KEYS[0], KEYS[1]];
    for (k, s) in keys {
        venue.add_account(k, s, dec!(10000));
    }
    let env = [
        ("TRADINGBOT_RATE_LIMIT_IP", "100000"),
        ("TRADINGBOT_RATE_LIMIT_USER", "100000"),
        (
            "TRADINGBOT_BINANCE_TESTNET_REST_URL",
            venue.rest_url.as_str(),
        ),
        (
            "TRADINGBOT_BINANCE_TESTNET_WS_API_URL",
            "ws://127.0.0.1:9/ws-fapi/v1",
        ),
        (
            "TRADINGBOT_BINANCE_TESTNET_STREAM_URL",
            venue.stream_url.as_str(),
        ),
        ("REDIS_URL", redis.as_str()),
        ("TRADINGBOT_REDIS_PREFIX", prefix.as_str()),
        SHARED_SECRETS[0],
        SHARED_SECRETS[1],
        ("DATABASE_URL", db.url.as_str()),
    ];
    let mut bots = Vec::new();
    let mut strategies = Vec::new();
    let mut dirs = Vec::new();
    for (i, (k, s)) in keys.into_iter().enumerate() {
        let (tmp, dir) = workdir();
        let bot = Spawned::start(&dir, &env);
        let api = Api::new(&bot);
        let u = api.user(&format!("holds{i}@example.com")).await;
        let res = api
            .post(
                "/accounts/register",
                Some(&u.access),
                json!({ "exchange": "binance", "api_key": k, "api_secret": s, "testnet": true }),
            )
            .await;
        assert_eq!(res.status(), 201);
        let account = json(res).await["id"].as_i64().unwrap();
        let res = api
            .post(
                "/strategies",
                Some(&u.access),
                json!({ "name": "holds", "symbol": "BTCUSDT", "account_id": account }),
            )
            .await;
        assert_eq!(res.status(), 201);
        strategies.push(json(res).await);
        bots.push(bot);
        dirs.push(tmp);
    }
    settled_cluster(&bots.iter().collect::<Vec<_>>()).await;
    let sent_by = |key: &str| {
        venue
            .requests()
            .iter()
            .filter(|r| r.api_key.as_deref() == Some(key))
            .count()
    };
    // The first instance's entry is answered with a ban.
    venue.fail_next(
        "/fapi/v1/order",
        tradingbot_testkit::binance::Failure::Banned {
            retry_after_secs: 6,
        },
    );
    let banned_at = Instant::now();
    let (status, _) = common::api::post_alert(
        &Api::new(&bots[0]),
        &strategies[0],
        common::api::tv_alert(&strategies[0], "buy", "long", "h1"),
    )
    .await;
    assert_eq!(status, 202);
    let deadline = Instant::now() + Duration::from_secs(5);
    while venue.venue().bans == 0 {
        assert!(Instant::now() < deadline, "the ban was never given");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The other instance hears of it (it reads every half second) ...
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let before = sent_by(keys[1].0);
    // ... and sends nothing while the ban lasts, whatever it is asked.
    let (status, _) = common::api::post_alert(
        &Api::new(&bots[1]),
        &strategies[1],
        common::api::tv_alert(&strategies[1], "buy", "long", "h2"),
    )
    .await;
    // Accepted (the entry is then refused, unsent), or refused at once when
    // the account's prices or balance could not be read during the ban.
    assert!(status == 202 || status == 503, "{status}");
    while banned_at.elapsed() < Duration::from_millis(5500) {
        assert_eq!(
            sent_by(keys[1].0),
            before,
            "the second instance sent during the first one's ban"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(venue.venue().bans, 1);
    // After the ban both trade again.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    for (i, s) in strategies.iter().enumerate() {
        let body = common::api::tv_alert(s, "buy", "long", &format!("after{i}"));
        let (status, answer) = common::api::post_alert(&Api::new(&bots[i]), s, body).await;
        assert!(status == 202 || status == 409, "{status} {answer}");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let open = keys
            .iter()
            .filter(|(k, _)| {
                !venue.venue().accounts[*k]
                    .positions
                    .get("BTCUSDT")
                    .map_or(Decimal::ZERO, |p| p.amt)
                    .is_zero()
            })
            .count();
        if open == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not both trading after the ban:\n{}\n---\n{}\n---\n{}",
            venue_recent(&venue),
            bots[0].output(),
            bots[1].output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(bots);
    db.cleanup().await;
    announce("two instances on one Redis: a 418 received by one held both until it ended");
}
