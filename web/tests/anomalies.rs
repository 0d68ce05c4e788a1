//! Abnormal trading raises an alert on the real binary: five signals
//! refused in a row (the user's kill switch is on) become an
//! `anomaly_repeated_rejections` risk alert on the websocket.

mod common;

use common::api::{Api, post_alert, tv_alert, ws_subscribed};
use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn repeated_rejections_raise_an_alert() {
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &[("TRADINGBOT_RATE_LIMIT_USER", "100000")]);
    let api = Api::new(&bot);
    let u = api.user("anomaly@example.com").await;
    let (_, s) = api.paper_strategy(&u, json!({})).await;
    let mut ws = ws_subscribed(&bot, &u.access, &["alerts"]).await;
    let res = api
        .post(
            "/risk/kill-switch",
            Some(&u.access),
            json!({ "enabled": true }),
        )
        .await;
    assert_eq!(res.status(), 200);
    for i in 0..5 {
        let (status, body) =
            post_alert(&api, &s, tv_alert(&s, "buy", "long", &format!("R{i}"))).await;
        assert!(status < 500, "{body}");
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = Vec::new();
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .unwrap_or_else(|| panic!("no anomaly alert; saw {seen:#?}"));
        match tokio::time::timeout(left, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let f: Value = serde_json::from_str(&t).unwrap();
                if f["event"] == "risk_alert" && f["data"]["kind"] == "anomaly_repeated_rejections"
                {
                    assert!(
                        f["data"]["message"]
                            .as_str()
                            .unwrap()
                            .contains("5 signals refused in a row"),
                        "{f}"
                    );
                    break;
                }
                seen.push(f);
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("{other:?}; saw {seen:#?}"),
        }
    }
}
