//! Security alerts on the real binary: each kind reaches the user's
//! Telegram chat (local Bot API server) and mailbox (local SMTP server),
//! switched-off kinds stay quiet, critical ones cannot be switched off, and
//! an address failing sign-ins across accounts is blocked and audited.

mod common;

use common::api::{Api, PASSWORD, Session, base32_decode, json_of, notified, totp, ws_subscribed};
use common::*;
use futures_util::StreamExt;
use reqwest::Method;
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tradingbot_testkit::binance::LocalBinance;
use tradingbot_testkit::smtp::{Received, SmtpSink};
use tradingbot_testkit::telegram::LocalTelegram;

use common::venues::{BINANCE_KEY as KEY, BINANCE_SECRET as SECRET};
const BOT_TOKEN: &str = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1";
const CHAT: i64 = 555_077;
const HOME: &str = "198.51.100.10";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// What the user has been told so far, on both channels.
struct Inbox<'a> {
    tg: &'a LocalTelegram,
    smtp: &'a SmtpSink,
    tg_seen: usize,
    mail_seen: usize,
}

impl Inbox<'_> {
    /// Waits for a Telegram message and an email to `to` that both contain
    /// every part; everything before them is returned (for "not sent"
    /// checks).
    async fn expect(&mut self, to: &str, parts: &[&str]) -> (Vec<String>, Vec<Received>) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut tg_found = None;
        let mut mail_found = None;
        loop {
            let sent = self.tg.sent(BOT_TOKEN);
            if tg_found.is_none()
                && let Some(i) = (self.tg_seen..sent.len()).find(|&i| {
                    let text = &sent[i].text;
                    parts.iter().all(|p| text.contains(p))
                })
            {
                assert_eq!(sent[i].chat_id, CHAT);
                assert_eq!(sent[i].parse_mode.as_deref(), Some("HTML"));
                tg_found = Some(i);
            }
            let mails = self.smtp.messages.lock().unwrap().clone();
            if mail_found.is_none()
                && let Some(i) = (self.mail_seen..mails.len()).find(|&i| {
                    let m = &mails[i];
                    m.to.iter().any(|t| t.contains(to))
                        && m.data.contains("Security alert")
                        && parts.iter().all(|p| m.body().contains(p))
                })
            {
                mail_found = Some(i);
            }
            if let (Some(t), Some(m)) = (tg_found, mail_found) {
                let before_tg = sent[self.tg_seen..t]
                    .iter()
                    .map(|s| s.text.clone())
                    .collect();
                let before_mail = mails[self.mail_seen..m].to_vec();
                self.tg_seen = t + 1;
                self.mail_seen = m + 1;
                return (before_tg, before_mail);
            }
            assert!(
                Instant::now() < deadline,
                "no alert with {parts:?} (telegram {tg_found:?}, mail {mail_found:?});\ntelegram: {:#?}\nmail: {:#?}",
                sent.iter().map(|m| &m.text).collect::<Vec<_>>(),
                mails
                    .iter()
                    .map(|m| (m.to.clone(), m.body()))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A request from `ip` (through the trusted local proxy) with browser `ua`.
async fn from(
    api: &Api<'_>,
    ip: &str,
    ua: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut req = api
        .http
        .request(method, api.url(path))
        .header("X-Forwarded-For", ip)
        .header("User-Agent", ua)
        .json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

/// The verification token of the latest mail to `address` at the sink.
async fn mailed_token(smtp: &SmtpSink, address: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = smtp
            .messages
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|m| m.to.iter().any(|t| t.contains(address)) && m.body().contains("token="))
            .map(Received::body);
        if let Some(body) = found {
            let start = body.find("token=").unwrap() + "token=".len();
            return body[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
        }
        assert!(
            Instant::now() < deadline,
            "no verification mail to {address}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn login_from(api: &Api<'_>, ip: &str, ua: &str, email: &str, password: &str) -> Value {
    let res = from(
        api,
        ip,
        ua,
        Method::POST,
        "/auth/login",
        None,
        json!({ "email": email, "password": password }),
    )
    .await;
    let status = res.status();
    let v = json_of(res).await;
    assert_eq!(status, 200, "{v}");
    v
}

#[tokio::test]
async fn every_security_alert_reaches_telegram_and_email() {
    let venue = LocalBinance::start();
    venue.add_account(KEY, SECRET, dec!(10000));
    let tg = LocalTelegram::start();
    tg.add_bot(BOT_TOKEN, "guard_bot");
    let smtp = SmtpSink::start().await;
    let smtp_url = format!("smtp://127.0.0.1:{}", smtp.port);
    let (_tmp, dir) = workdir();
    create_admin(&dir);
    let mut env = vec![
        ("TRADINGBOT_RATE_LIMIT_IP", "100000"),
        ("TRADINGBOT_RATE_LIMIT_USER", "100000"),
        ("TRADINGBOT_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("TRADINGBOT_TELEGRAM_API_URL", tg.url.as_str()),
        ("SMTP_URL", smtp_url.as_str()),
    ];
    env.extend(common::venues::env(Some(&venue), None));
    let bot = Spawned::start(&dir, &env);
    let api = Api::new(&bot);
    let email = "guarded@example.com";

    // Registered and signed in from home with Firefox: nothing new yet.
    let res = from(
        &api,
        HOME,
        FIREFOX,
        Method::POST,
        "/auth/register",
        None,
        json!({ "email": email, "password": PASSWORD }),
    )
    .await;
    assert_eq!(res.status(), 201);
    let token = mailed_token(&smtp, email).await;
    let res = api
        .post("/auth/verify-email", None, json!({ "token": token }))
        .await;
    assert_eq!(res.status(), 200);
    let t = login_from(&api, HOME, FIREFOX, email, PASSWORD).await;
    let mut u = Session {
        id: t["user"]["id"].as_i64().unwrap(),
        email: email.into(),
        password: PASSWORD.into(),
        access: t["access_token"].as_str().unwrap().into(),
        refresh: t["refresh_token"].as_str().unwrap().into(),
    };

    // The settings: every kind on, the critical ones marked.
    let v = json_of(api.get("/users/me/security-alerts", &u.access).await).await;
    assert_eq!(v["channels"]["email"], true);
    assert_eq!(v["channels"]["telegram"], false);
    let kinds: Vec<(&str, bool, bool)> = v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["kind"].as_str().unwrap(),
                a["enabled"].as_bool().unwrap(),
                a["critical"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("new_login", true, false),
            ("failed_logins", true, false),
            ("two_factor_disabled", true, true),
            ("password_changed", true, true),
            ("email_changed", true, true),
            ("exchange_key_added", true, true),
            ("exchange_key_removed", true, false),
            ("webhook_secret_rotated", true, false),
            ("kill_switch_engaged", true, false),
        ]
    );

    // Telegram linked.
    let res = api
        .post(
            "/telegram/register",
            Some(&u.access),
            json!({ "bot_token": BOT_TOKEN }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let link = json_of(res).await["start_link"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = link.split("start=").nth(1).unwrap().to_owned();
    tg.user_says(BOT_TOKEN, CHAT, &format!("/start {code}"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while json_of(api.get("/telegram", &u.access).await).await["chat_id"] != CHAT {
        assert!(Instant::now() < deadline, "the chat never linked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let v = json_of(api.get("/users/me/security-alerts", &u.access).await).await;
    assert_eq!(v["channels"]["telegram"], true);
    let mut ws = ws_subscribed(&bot, &u.access, &["alerts"]).await;
    let mut inbox = Inbox {
        tg: &tg,
        smtp: &smtp,
        tg_seen: tg.sent(BOT_TOKEN).len(),
        mail_seen: smtp.messages.lock().unwrap().len(),
    };

    // A sign-in from elsewhere, on another browser.
    login_from(&api, "203.0.113.50", CHROME, email, PASSWORD).await;
    inbox
        .expect(
            email,
            &[
                "New sign-in",
                "203.0.113.50",
                "Chrome on Windows",
                "change your password",
            ],
        )
        .await;
    // …which is now known: signing in there again is quiet (checked below,
    // when the next alert arrives with nothing before it).
    login_from(&api, "203.0.113.50", CHROME, email, PASSWORD).await;

    // Three wrong passwords.
    for _ in 0..3 {
        let res = from(
            &api,
            "192.0.2.99",
            CHROME,
            Method::POST,
            "/auth/login",
            None,
            json!({ "email": email, "password": "not the password at all" }),
        )
        .await;
        assert_eq!(res.status(), 401);
    }
    let (tg_before, mail_before) = inbox
        .expect(
            email,
            &["Failed sign-in attempts", "3 failed attempts", "192.0.2.99"],
        )
        .await;
    assert!(
        tg_before.is_empty() && mail_before.is_empty(),
        "a known place is not new: {tg_before:?}"
    );

    // 2FA on, then off.
    let setup = json_of(api.get("/auth/2fa/setup", &u.access).await).await;
    let secret = base32_decode(setup["secret"].as_str().unwrap());
    let res = api
        .post(
            "/auth/2fa/enable",
            Some(&u.access),
            json!({ "code": totp(&secret, 0) }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = from(
        &api,
        HOME,
        FIREFOX,
        Method::POST,
        "/auth/2fa/disable",
        Some(&u.access),
        json!({ "password": PASSWORD, "code": totp(&secret, 1) }),
    )
    .await;
    assert_eq!(res.status(), 204);
    inbox
        .expect(
            email,
            &[
                "Two-factor authentication disabled",
                HOME,
                "Firefox on Linux",
            ],
        )
        .await;

    // A new password (the answer carries this session's new tokens).
    let new_password = "an even better passphrase";
    let res = api
        .call(
            Method::PUT,
            "/users/me",
            Some(&u.access),
            Some(json!({ "current_password": PASSWORD, "new_password": new_password })),
        )
        .await;
    assert_eq!(res.status(), 200);
    u.access = json_of(res).await["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    inbox.expect(email, &["Password changed"]).await;

    // Exchange keys added, then removed.
    let res = api
        .post(
            "/accounts/register",
            Some(&u.access),
            common::venues::binance_account(),
        )
        .await;
    assert_eq!(res.status(), 201);
    let account = json_of(res).await["id"].as_i64().unwrap();
    inbox
        .expect(
            email,
            &[
                "Exchange API key added",
                &format!("binance account {account}"),
            ],
        )
        .await;
    let res = api
        .call(
            Method::DELETE,
            &format!("/accounts/{account}"),
            Some(&u.access),
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    inbox.expect(email, &["Exchange API key removed"]).await;

    // A paper account has no key: no alert. Its strategy's secret rotated.
    let (_, s) = api.paper_strategy(&u, json!({})).await;
    let sid = s["id"].as_i64().unwrap();
    let res = api
        .post(
            &format!("/strategies/{sid}/rotate-secret"),
            Some(&u.access),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let (tg_before, _) = inbox
        .expect(
            email,
            &["Webhook secret rotated", &format!("strategy {sid}")],
        )
        .await;
    assert!(tg_before.is_empty(), "{tg_before:?}");

    // Switched off: rotation is quiet; critical kinds refuse to be off.
    let res = from(
        &api,
        HOME,
        FIREFOX,
        Method::PUT,
        "/users/me/security-alerts",
        Some(&u.access),
        json!({ "password_changed": false, "nonsense": true, "new_login": "no" }),
    )
    .await;
    assert_eq!(res.status(), 422);
    let p = json_of(res).await;
    let mut fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(fields, ["new_login", "nonsense", "password_changed"], "{p}");
    let res = api
        .call(
            Method::PUT,
            "/users/me/security-alerts",
            Some(&u.access),
            Some(json!({ "webhook_secret_rotated": false })),
        )
        .await;
    assert_eq!(res.status(), 200);
    let v = json_of(res).await;
    assert_eq!(v["alerts"][7]["kind"], "webhook_secret_rotated");
    assert_eq!(v["alerts"][7]["enabled"], false);
    let res = api
        .post(
            &format!("/strategies/{sid}/rotate-secret"),
            Some(&u.access),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);

    // The kill switch.
    let res = api
        .post(
            "/risk/kill-switch",
            Some(&u.access),
            json!({ "enabled": true }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let (tg_before, mail_before) = inbox
        .expect(email, &["Kill switch engaged", "by you"])
        .await;
    assert!(
        tg_before.iter().all(|t| !t.contains("Webhook secret")),
        "a switched-off kind is not sent: {tg_before:?}"
    );
    assert!(
        mail_before
            .iter()
            .all(|m| !m.body().contains("Webhook secret")),
        "nor mailed"
    );

    // An email change: the old address hears of the request, the new one
    // of the change.
    let res = api
        .call(
            Method::PUT,
            "/users/me",
            Some(&u.access),
            Some(json!({ "current_password": new_password, "email": "moved@example.com" })),
        )
        .await;
    assert_eq!(res.status(), 200);
    inbox
        .expect(email, &["Email address change", "requested"])
        .await;
    let token = mailed_token(&smtp, "moved@example.com").await;
    let res = api
        .post("/auth/verify-email", None, json!({ "token": token }))
        .await;
    assert_eq!(res.status(), 200);
    inbox
        .expect(
            "moved@example.com",
            &["Email address change", "now the account"],
        )
        .await;

    // The websocket heard them too, in the alerts channel.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut kinds = Vec::new();
    while !kinds.contains(&"email_changed".to_owned()) {
        let left = deadline
            .checked_duration_since(Instant::now())
            .unwrap_or_else(|| panic!("security alerts on the websocket: {kinds:?}"));
        if let Ok(Some(Ok(Message::Text(t)))) = tokio::time::timeout(left, ws.next()).await {
            let f: Value = serde_json::from_str(&t).unwrap();
            if f["event"] == "security_alert" {
                assert!(f["data"]["message"].is_string());
                kinds.push(f["data"]["kind"].as_str().unwrap().to_owned());
            }
        }
    }
    assert!(
        kinds.contains(&"kill_switch_engaged".to_owned()),
        "{kinds:?}"
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "webhook_secret_rotated")
            .count(),
        1,
        "the second rotation was switched off: {kinds:?}"
    );

    // Kept for the dashboard, as sent: the switched-off one is not there.
    let kept = notified(&api, &u.access, "security_alert", |d| {
        d["kind"] == "kill_switch_engaged"
    })
    .await;
    assert_eq!(
        kept["data"]["critical"] == true,
        kept["severity"] == "critical",
        "{kept}"
    );
    let stored = json_of(
        api.get("/notifications?kind=security_alert&per_page=200", &u.access)
            .await,
    )
    .await;
    let rotations = stored["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["data"]["kind"] == "webhook_secret_rotated")
        .count();
    assert_eq!(rotations, 1, "{stored}");

    // No secret anywhere in what was sent.
    for m in smtp.messages.lock().unwrap().iter() {
        for s in [KEY, SECRET, BOT_TOKEN, PASSWORD, new_password] {
            assert!(!m.data.contains(s), "a secret in a mail");
        }
    }
    for m in tg.sent(BOT_TOKEN) {
        for s in [KEY, SECRET, PASSWORD, new_password] {
            assert!(!m.text.contains(s), "a secret in a Telegram message");
        }
    }
}

/// Fails `n` sign-ins from `ip` (wrong passwords for `emails` in turn).
async fn fail_from(api: &Api<'_>, ip: &str, emails: &[&str], n: usize) -> Vec<u16> {
    let mut statuses = Vec::new();
    for i in 0..n {
        let res = from(
            api,
            ip,
            FIREFOX,
            Method::POST,
            "/auth/login",
            None,
            json!({ "email": emails[i % emails.len()], "password": "wrong wrong wrong" }),
        )
        .await;
        statuses.push(res.status().as_u16());
    }
    statuses
}

#[tokio::test]
async fn an_address_failing_across_accounts_is_blocked_and_audited() {
    // With Redis configured, two instances share the block.
    let redis = std::env::var("TEST_REDIS_URL").ok();
    let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    let (_tmp, dir) = workdir();
    create_admin(&dir);
    let mut env = vec![
        ("TRADINGBOT_RATE_LIMIT_IP", "100000"),
        ("TRADINGBOT_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("TRADINGBOT_AUTH_BLOCK_FAILURES", "6"),
        ("TRADINGBOT_AUTH_BLOCK_MINUTES", "30"),
    ];
    if let Some(r) = &redis {
        env.push(("REDIS_URL", r.as_str()));
        env.push(("TRADINGBOT_REDIS_PREFIX", prefix.as_str()));
    }
    let bot = Spawned::start(&dir, &env);
    let api = Api::new(&bot);
    let victim = api.user("victim@example.com").await;
    api.user("other@example.com").await;
    let attacker = "192.0.2.66";

    // Six failures over two accounts and one unknown address: no account
    // reaches its own lock (5), the address is blocked at the sixth.
    let statuses = fail_from(
        &api,
        attacker,
        &[
            "victim@example.com",
            "other@example.com",
            "nobody@example.com",
        ],
        6,
    )
    .await;
    assert_eq!(statuses, [401; 6]);
    // Even the right password is refused from there now, with Retry-After.
    let res = from(
        &api,
        attacker,
        FIREFOX,
        Method::POST,
        "/auth/login",
        None,
        json!({ "email": "victim@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1700..=1800).contains(&retry), "{retry}");
    let p = json_of(res).await;
    assert_eq!(p["code"], "source_blocked", "{p}");
    // Other addresses are not affected.
    login_from(&api, HOME, FIREFOX, "victim@example.com", PASSWORD).await;

    // An IPv6 /64 is one source, whichever of its addresses is used.
    for i in 1..=6 {
        let ghost = format!("ghost{i}@example.com");
        let statuses = fail_from(&api, &format!("2001:db8:7:7::{i:x}"), &[ghost.as_str()], 1).await;
        assert_eq!(statuses, [401]);
    }
    let res = from(
        &api,
        "2001:db8:7:7:ffff::1",
        FIREFOX,
        Method::POST,
        "/auth/login",
        None,
        json!({ "email": "victim@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(res.status(), 429);
    login_from(
        &api,
        "2001:db8:7:8::1",
        FIREFOX,
        "victim@example.com",
        PASSWORD,
    )
    .await;

    // Audited once, without an account, seen by the administrator.
    let admin = login_from(
        &api,
        HOME,
        FIREFOX,
        "ops@example.com",
        "operator passphrase 2026",
    )
    .await;
    let admin = admin["access_token"].as_str().unwrap();
    let events = json_of(api.get("/audit?limit=200", admin).await).await;
    let blocks: Vec<&Value> = events
        .as_array()
        .unwrap_or_else(|| panic!("{events}"))
        .iter()
        .filter(|e| e["event"] == "source_blocked")
        .collect();
    assert_eq!(blocks.len(), 2, "{events}");
    // Newest first: the /64, then the IPv4 address.
    assert_eq!(blocks[0]["details"]["source"], "2001:db8:7:7::/64");
    let blocks = &blocks[1..];
    assert_eq!(blocks[0]["ip"], attacker);
    assert_eq!(blocks[0]["user_id"], Value::Null);
    assert_eq!(blocks[0]["details"]["failures"], 6);
    assert!(
        !bot.output().contains("wrong wrong wrong"),
        "passwords are never logged"
    );
    let _ = victim;

    // A second instance on the same Redis refuses the address too.
    if let Some(r) = &redis {
        let (_tmp2, dir2) = workdir();
        let other = Spawned::start(
            &dir2,
            &[
                ("TRADINGBOT_TRUSTED_PROXIES", "127.0.0.1/32"),
                ("REDIS_URL", r.as_str()),
                ("TRADINGBOT_REDIS_PREFIX", prefix.as_str()),
            ],
        );
        let api2 = Api::new(&other);
        let res = from(
            &api2,
            attacker,
            FIREFOX,
            Method::POST,
            "/auth/login",
            None,
            json!({ "email": "anyone@example.com", "password": PASSWORD }),
        )
        .await;
        assert_eq!(res.status(), 429);
        assert_eq!(json_of(res).await["code"], "source_blocked");
        announce("redis: the block is shared between instances");
    } else {
        announce_skip("source block shared through Redis", "TEST_REDIS_URL");
    }
}
