//! Telegram end to end: the real binary, a local Bot API server that checks
//! what Telegram checks (tokens, HTML entities, one message a second per
//! chat), and a local Binance. Registration, chat linking, every kind of
//! notification, every command, and delivery through rate limits and errors.

mod common;

use common::api::{Api, binance_trader, json_of, post_alert, tv_alert as alert};
use common::*;
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tradingbot_testkit::binance::LocalBinance;
use tradingbot_testkit::telegram::{Failure, LocalTelegram};

use common::venues::{BINANCE_KEY as KEY, BINANCE_SECRET as SECRET};
const BOT_TOKEN: &str = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1";
const CHAT: i64 = 555_001;

struct Chat<'a> {
    tg: &'a LocalTelegram,
    seen: usize,
}

impl Chat<'_> {
    /// Waits for the next message containing every part; returns it.
    async fn expect(&mut self, parts: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let sent = self.tg.sent(BOT_TOKEN);
            if let Some((i, m)) = sent
                .iter()
                .enumerate()
                .skip(self.seen)
                .find(|(_, m)| parts.iter().all(|p| m.text.contains(p)))
            {
                assert_eq!(m.chat_id, CHAT, "sent to the linked chat only");
                assert_eq!(m.parse_mode.as_deref(), Some("HTML"));
                self.seen = i + 1;
                return m.text.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no message with {parts:?}; sent: {:#?}",
                sent.iter().map(|m| &m.text).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn say(&self, text: &str) {
        self.tg.user_says(BOT_TOKEN, CHAT, text);
    }
}

#[tokio::test]
async fn a_bot_links_its_chat_reports_every_trade_and_takes_commands() {
    let venue = LocalBinance::start();
    venue.add_account(KEY, SECRET, dec!(10000));
    venue.set_mark("BTCUSDT", dec!(43000));
    let tg = LocalTelegram::start();
    tg.add_bot(BOT_TOKEN, "alice_trades_bot");
    let (_tmp, dir) = workdir();
    create_admin(&dir);
    let mut env = vec![
        ("TRADINGBOT_RATE_LIMIT_IP", "100000"),
        ("TRADINGBOT_RATE_LIMIT_USER", "100000"),
        ("TRADINGBOT_TELEGRAM_API_URL", tg.url.as_str()),
    ];
    env.extend(common::venues::env(Some(&venue), None));
    let bot = Spawned::start(&dir, &env);
    let api = Api::new(&bot);
    let (u, s) = binance_trader(&api, "tg@example.com", KEY, SECRET).await;

    // Registration: shape checked here, the token by Telegram.
    let res = api
        .post(
            "/telegram/register",
            Some(&u.access),
            json!({ "bot_token": "nonsense" }),
        )
        .await;
    assert_eq!(res.status(), 422);
    let res = api
        .post(
            "/telegram/register",
            Some(&u.access),
            json!({ "bot_token": "7099999999:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw9" }),
        )
        .await;
    assert_eq!(res.status(), 422);
    let p = json_of(res).await;
    assert_eq!(p["errors"][0]["field"], "bot_token");
    assert!(
        !p.to_string()
            .contains("AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw9"),
        "{p}"
    );
    let res = api
        .post(
            "/telegram/register",
            Some(&u.access),
            json!({ "bot_token": BOT_TOKEN }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let v = json_of(res).await;
    assert_eq!(v["bot_username"], "alice_trades_bot");
    assert_eq!(v["status"], "waiting_for_start");
    assert!(
        !v.to_string().contains(BOT_TOKEN),
        "the token never comes back"
    );
    let link = v["start_link"].as_str().unwrap().to_owned();
    assert!(
        link.starts_with("https://t.me/alice_trades_bot?start="),
        "{link}"
    );
    let code = link.split("start=").nth(1).unwrap().to_owned();
    let res = api.post("/telegram/test", Some(&u.access), json!({})).await;
    assert_eq!(res.status(), 409);
    assert!(
        !bot.output().contains(BOT_TOKEN),
        "the token is never logged"
    );

    // The chat links itself with /start and the link's code.
    let mut chat = Chat { tg: &tg, seen: 0 };
    chat.say(&format!("/start {code}"));
    chat.expect(&[
        "This chat now receives your TradingBot notifications",
        "/close",
    ])
    .await;
    let v = json_of(api.get("/telegram", &u.access).await).await;
    assert_eq!(
        (v["status"].as_str(), v["chat_id"].as_i64()),
        (Some("connected"), Some(CHAT))
    );
    let res = api.post("/telegram/test", Some(&u.access), json!({})).await;
    assert_eq!(res.status(), 202);
    chat.expect(&["Test notification"]).await;

    // A trade: the entry with every number. 0.069 BTC at 43,000, 3x;
    // TP 5 % → 45,150 (+148.35), SL 2 % → 42,140 (−59.34).
    let (status, body) = post_alert(&api, &s, alert(&s, "buy", "long", "T1")).await;
    assert_eq!(status, 202, "{body}");
    chat.expect(&[
        "LONG BTCUSDT",
        "opened",
        "43000",
        "0.069",
        "3x",
        "45150",
        "+148.35",
        "42140",
        "-59.34",
    ])
    .await;
    // PnL steps as the mark moves: +3 % of margin at 43,430.
    venue.set_mark("BTCUSDT", dec!(43430));
    chat.expect(&["BTCUSDT", "PnL", "+3.00 %", "+29.67", "43430"])
        .await;

    // Commands, answered in the linked chat only.
    tg.user_says(BOT_TOKEN, 999_999, "/status");
    chat.say("/status");
    chat.expect(&["Open positions: 1", "New entries: allowed"])
        .await;
    chat.say("/positions");
    let listed = chat.expect(&["LONG BTCUSDT", "0.069", "+29.67"]).await;
    let position_id: i64 = listed
        .split('#')
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    chat.say("/pnl");
    chat.expect(&["Performance", "today", "Trades: 0"]).await;

    // Close from Telegram, with confirmation.
    chat.say("/confirm");
    chat.expect(&["Nothing to confirm"]).await;
    chat.say("/close ETHUSDT");
    chat.expect(&["No open position matches"]).await;
    chat.say("/close BTCUSDT");
    chat.expect(&["Close", "BTCUSDT", "/confirm"]).await;
    chat.say("/confirm");
    chat.expect(&[&format!("Closing position #{position_id}")])
        .await;
    chat.expect(&["LONG BTCUSDT", "closed", "+29.67", "ROE +3.00 %", "manual"])
        .await;
    let p = json_of(
        api.get(&format!("/positions/{position_id}"), &u.access)
            .await,
    )
    .await;
    assert_eq!(p["status"], "CLOSED");
    assert_eq!(p["close_reason"], "manual");
    chat.say("/pnl today");
    chat.expect(&["Performance", "Trades: 1", "+29.67"]).await;

    // Pause: new entries are refused, and the refusal is announced.
    chat.say("/pause");
    chat.expect(&["New entries paused"]).await;
    let (status, body) = post_alert(&api, &s, alert(&s, "buy", "long", "T2")).await;
    assert!(status >= 400, "{body}");
    chat.expect(&["Signal refused", "user_kill_switch"]).await;
    chat.say("/status");
    chat.expect(&["New entries: paused"]).await;
    chat.say("/resume");
    chat.expect(&["New entries allowed again"]).await;
    // Audited like the API's switch; the chat that did it gets no alert.
    let audit = json_of(api.get("/audit", &u.access).await).await;
    let switches: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "kill_switch" && e["details"]["via"] == "telegram")
        .collect();
    assert_eq!(switches.len(), 2, "{audit}");
    assert_eq!(switches[1]["details"]["enabled"], true);
    assert_eq!(switches[1]["user_agent"], "Telegram bot");
    // An operator's pause is announced: the user did not do it.
    let res = api
        .login("ops@example.com", "operator passphrase 2026")
        .await;
    let admin = json_of(res).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = json_of(api.get("/users/me", &u.access).await).await;
    let res = api
        .post(
            &format!("/admin/users/{}/kill-switch", me["id"]),
            Some(&admin),
            json!({ "enabled": true }),
        )
        .await;
    assert_eq!(res.status(), 200);
    // Told once, by the security alert (also mailed when SMTP is set).
    chat.expect(&[
        "Kill switch engaged",
        "by an administrator",
        "keep their stop-loss",
    ])
    .await;
    chat.say("/resume");
    chat.expect(&["an administrator has stopped new entries"])
        .await;
    api.post(
        &format!("/admin/users/{}/kill-switch", me["id"]),
        Some(&admin),
        json!({ "enabled": false }),
    )
    .await;
    chat.expect(&["New entries allowed again by an administrator"])
        .await;

    assert!(
        tg.sent(BOT_TOKEN)
            .iter()
            .all(|m| !(m.text.contains("Kill switch engaged") && m.text.contains("by you"))),
        "no alert for the chat's own /pause"
    );
    // Nobody else's chat got a word.
    assert!(tg.sent(BOT_TOKEN).iter().all(|m| m.chat_id == CHAT));
    // Paced: never a 429 for our own speed, and a second between messages.
    let sent = tg.sent(BOT_TOKEN);
    for w in sent.windows(2) {
        assert!(
            w[1].at.duration_since(w[0].at) >= Duration::from_millis(950),
            "two messages less than a second apart"
        );
    }
    assert!(!tg.send_statuses(BOT_TOKEN).contains(&429));

    // Telegram says wait: the message waits and arrives.
    tg.fail_next_send(BOT_TOKEN, Failure::TooManyRequests { retry_after: 2 });
    let asked = Instant::now();
    chat.say("/help");
    chat.expect(&["/pause"]).await;
    assert!(asked.elapsed() >= Duration::from_secs(2));
    // A server error: retried, delivered.
    tg.fail_next_send(BOT_TOKEN, Failure::ServerError);
    chat.say("/status");
    chat.expect(&["Open positions: 0"]).await;
    // Blocked by the user: dropped, counted and shown — not silent.
    tg.fail_next_send(
        BOT_TOKEN,
        Failure::Forbidden("bot was blocked by the user".into()),
    );
    chat.say("/help");
    let deadline = Instant::now() + Duration::from_secs(10);
    let v = loop {
        let v = json_of(api.get("/telegram", &u.access).await).await;
        if v["failed"] == 1 || Instant::now() > deadline {
            break v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(v["failed"], 1, "{v}");
    assert!(v["last_error"].as_str().unwrap().contains("blocked"), "{v}");
    let statuses = tg.send_statuses(BOT_TOKEN);
    assert!(statuses.contains(&429) && statuses.contains(&500) && statuses.contains(&403));

    // Korean, once the user says so.
    let res = api
        .call(
            reqwest::Method::PUT,
            "/users/me",
            Some(&u.access),
            Some(json!({ "language": "ko" })),
        )
        .await;
    assert_eq!(res.status(), 200);
    chat.say("/help");
    chat.expect(&["명령어 목록"]).await;
    let v = json_of(api.get("/telegram", &u.access).await).await;
    assert_eq!(v["last_error"], Value::Null, "a delivery clears the error");

    // Removed: gone, and it stops answering.
    let res = api
        .call(reqwest::Method::DELETE, "/telegram", Some(&u.access), None)
        .await;
    assert_eq!(res.status(), 204);
    let res = api.get("/telegram", &u.access).await;
    assert_eq!(res.status(), 404);
    let before = tg.sent(BOT_TOKEN).len();
    chat.say("/status");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(tg.sent(BOT_TOKEN).len(), before);
}
