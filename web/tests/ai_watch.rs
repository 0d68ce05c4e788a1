//! The AI watch on the real binary: a paper position, models (local
//! OpenAI and Anthropic servers) that say close, and the user hears it on
//! the websocket (`ai_recommendation`, the seed's shape) and on Telegram
//! (with `/close BTCUSDT`); once the strategy allows it, the watch closes
//! the position itself, through the normal close path, and audits it.

mod common;

use common::api::{Api, Ws, json_of, notified, post_alert, tv_alert, ws_subscribed};
use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tradingbot_testkit::llm::{Api as LlmApi, LocalLlm};
use tradingbot_testkit::telegram::LocalTelegram;

const BOT_TOKEN: &str = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1";
const CHAT: i64 = 555_002;

async fn telegram_says(tg: &LocalTelegram, parts: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(m) = tg
            .sent(BOT_TOKEN)
            .into_iter()
            .find(|m| parts.iter().all(|p| m.text.contains(p)))
        {
            assert_eq!(m.chat_id, CHAT);
            return m.text;
        }
        assert!(
            Instant::now() < deadline,
            "no Telegram message with {parts:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn frame(ws: &mut Ws, event: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .expect("no such frame in time");
        match tokio::time::timeout(left, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let f: Value = serde_json::from_str(&t).unwrap();
                if f["event"] == event && pred(&f["data"]) {
                    return f["data"].clone();
                }
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("no `{event}` frame: {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_watch_advises_then_closes_when_allowed() {
    let openai = LocalLlm::start(LlmApi::OpenAi, "sk-openai-watch", "gpt-test");
    let claude = LocalLlm::start(LlmApi::Anthropic, "sk-ant-watch", "claude-test");
    let close = json!({ "action": "close", "confidence": 0.9, "reasons": ["the rally runs against this short"] });
    openai.set_default_vote(close.clone());
    claude.set_default_vote(close);
    let tg = LocalTelegram::start();
    tg.add_bot(BOT_TOKEN, "watch_bot");
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(
        &dir,
        &[
            ("TRADINGBOT_RATE_LIMIT_USER", "100000"),
            ("TRADINGBOT_RATE_LIMIT_IP", "100000"),
            ("TRADINGBOT_MARKET_DATA", "offline"),
            ("TRADINGBOT_AI_WATCH_SECS", "1"),
            ("OPENAI_API_KEY", "sk-openai-watch"),
            ("TRADINGBOT_OPENAI_BASE_URL", &openai.url),
            ("TRADINGBOT_OPENAI_MODEL", "gpt-test"),
            ("ANTHROPIC_API_KEY", "sk-ant-watch"),
            ("TRADINGBOT_ANTHROPIC_BASE_URL", &claude.url),
            ("TRADINGBOT_ANTHROPIC_MODEL", "claude-test"),
            ("TRADINGBOT_TELEGRAM_API_URL", &tg.url),
        ],
    );
    let api = Api::new(&bot);
    let u = api.user("watch@example.com").await;

    // Telegram linked to the chat.
    let v = json_of(
        api.post(
            "/telegram/register",
            Some(&u.access),
            json!({ "bot_token": BOT_TOKEN }),
        )
        .await,
    )
    .await;
    let code = v["start_link"]
        .as_str()
        .unwrap()
        .split("start=")
        .nth(1)
        .unwrap()
        .to_owned();
    tg.user_says(BOT_TOKEN, CHAT, &format!("/start {code}"));
    telegram_says(&tg, &["This chat now receives"]).await;

    // Tell me from 50 % confidence on.
    let res = api
        .call(
            reqwest::Method::PUT,
            "/users/me",
            Some(&u.access),
            Some(json!({ "ai_alert_confidence": 1.5 })),
        )
        .await;
    assert_eq!(res.status(), 422);
    let me = json_of(
        api.call(
            reqwest::Method::PUT,
            "/users/me",
            Some(&u.access),
            Some(json!({ "ai_alert_confidence": 0.5 })),
        )
        .await,
    )
    .await;
    assert_eq!(me["user"]["ai_alert_confidence"], 0.5);

    let (_, s) = api
        .paper_strategy(&u, json!({ "name": "paper short" }))
        .await;
    assert_eq!(s["ai_auto_exit"], false, "off unless turned on");

    let mut ws = ws_subscribed(&bot, &u.access, &["ai_signals"]).await;

    // A short into the bundled data's year-end rally.
    let (status, body) = post_alert(&api, &s, tv_alert(&s, "sell", "short", "W1")).await;
    assert_eq!(status, 202, "{body}");

    let advice = frame(&mut ws, "ai_recommendation", |d| d["symbol"] == "BTCUSDT").await;
    assert!(
        ["CLOSE_POSITION", "REVERSE_POSITION"].contains(&advice["action"].as_str().unwrap()),
        "{advice}"
    );
    assert!(advice["confidence"].as_f64().unwrap() >= 0.5, "{advice}");
    assert!(!advice["reason"].as_str().unwrap().is_empty());
    assert_eq!(advice["side"], "SHORT");
    assert_eq!(advice["auto_closed"], false);
    let sources: Vec<&str> = advice["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(
        sources.contains(&"openai") && sources.contains(&"anthropic"),
        "{advice}"
    );
    let text = telegram_says(&tg, &["AI recommends", "SHORT BTCUSDT", "/close BTCUSDT"]).await;
    assert!(text.contains("openai"), "{text}");
    // Only advice so far: the position is still open.
    let open: Value = api.get("/positions", &u.access).await.json().await.unwrap();
    assert_eq!(open.as_array().unwrap().len(), 1, "{open}");
    // Kept: the notification holds the frame's data as sent, and the
    // dashboard's insights show the position's latest advice.
    let kept = notified(&api, &u.access, "ai_recommendation", |d| *d == advice).await;
    assert_eq!(kept["severity"], "info", "{kept}");
    assert_eq!(kept["read"], false);
    assert_eq!(kept["position_id"], open[0]["id"]);
    let insights = json_of(api.get("/dashboard/insights", &u.access).await).await;
    let mine = &insights["positions"][0];
    assert_eq!(mine["position_id"], open[0]["id"], "{insights}");
    assert_eq!(mine["latest"]["recommendation"]["symbol"], "BTCUSDT");
    assert!(mine["latest"]["notification_id"].as_i64().unwrap() >= kept["id"].as_i64().unwrap());
    assert_eq!(insights["symbols"][0]["symbol"], "BTCUSDT", "{insights}");
    assert!(insights["symbols"][0]["latest"].is_object(), "{insights}");

    // The user lets the watch act: the next round closes it.
    let res = api
        .call(
            reqwest::Method::PUT,
            &format!("/strategies/{}", s["id"]),
            Some(&u.access),
            Some(json!({ "ai_auto_exit": true })),
        )
        .await;
    assert_eq!(json_of(res).await["ai_auto_exit"], true);
    let closed = frame(&mut ws, "ai_recommendation", |d| d["auto_closed"] == true).await;
    assert_eq!(closed["symbol"], "BTCUSDT");
    let kept = notified(&api, &u.access, "ai_recommendation", |d| *d == closed).await;
    assert_eq!(kept["severity"], "warning", "{kept}");
    telegram_says(&tg, &["AI closed", "SHORT BTCUSDT"]).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let open: Value = api.get("/positions", &u.access).await.json().await.unwrap();
        if open.as_array().unwrap().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "still open: {open}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let history: Value = api
        .get("/positions/history", &u.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history["items"][0]["close_reason"], "manual", "{history}");
    let audit: Value = api.get("/audit", &u.access).await.json().await.unwrap();
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "ai_auto_exit"),
        "{audit}"
    );
}
