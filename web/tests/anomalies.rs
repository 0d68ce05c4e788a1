//! Abnormal trading raises an alert on the real binary: five signals
//! refused in a row (the user's kill switch is on) become an
//! `anomaly_repeated_rejections` risk alert on the websocket, and a strategy
//! whose owner chose it is paused.

mod common;

use common::api::{Api, json_of, notified, post_alert, tv_alert, ws_subscribed};
use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn repeated_rejections_raise_an_alert_and_pause_who_asked() {
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &[("TRADINGBOT_RATE_LIMIT_USER", "100000")]);
    let api = Api::new(&bot);
    let u = api.user("anomaly@example.com").await;
    let (_, watched) = api.paper_strategy(&u, json!({})).await;
    assert_eq!(watched["auto_pause_on_anomaly"], false);
    let (_, guarded) = api
        .paper_strategy(
            &u,
            json!({ "name": "guarded", "auto_pause_on_anomaly": true }),
        )
        .await;
    assert_eq!(guarded["auto_pause_on_anomaly"], true, "{guarded}");
    let res = api
        .call(
            reqwest::Method::PUT,
            &format!("/strategies/{}", guarded["id"]),
            Some(&u.access),
            Some(json!({ "auto_pause_on_anomaly": "yes" })),
        )
        .await;
    assert_eq!(res.status(), 422);
    assert_eq!(
        json_of(res).await["errors"][0]["field"],
        "auto_pause_on_anomaly"
    );
    let mut ws = ws_subscribed(&bot, &u.access, &["alerts"]).await;
    let res = api
        .post(
            "/risk/kill-switch",
            Some(&u.access),
            json!({ "enabled": true }),
        )
        .await;
    assert_eq!(res.status(), 200);
    for s in [&watched, &guarded] {
        for i in 0..5 {
            let (status, body) =
                post_alert(&api, s, tv_alert(s, "buy", "long", &format!("R{i}"))).await;
            assert!(status < 500, "{body}");
        }
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut anomalies = 0;
    let mut paused = Vec::new();
    let mut seen = Vec::new();
    while anomalies < 2 || paused.is_empty() {
        let left = deadline
            .checked_duration_since(Instant::now())
            .unwrap_or_else(|| panic!("anomalies {anomalies}, paused {paused:?}; saw {seen:#?}"));
        match tokio::time::timeout(left, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let f: Value = serde_json::from_str(&t).unwrap();
                if f["event"] == "risk_alert" {
                    let message = f["data"]["message"].as_str().unwrap().to_owned();
                    match f["data"]["kind"].as_str() {
                        Some("anomaly_repeated_rejections") => {
                            assert!(message.contains("5 signals refused in a row"), "{f}");
                            anomalies += 1;
                        }
                        Some("strategy_auto_paused") => paused.push(message),
                        _ => {}
                    }
                }
                seen.push(f);
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("{other:?}; saw {seen:#?}"),
        }
    }
    assert_eq!(paused.len(), 1, "{paused:?}");
    assert!(
        paused[0].contains(&format!("Strategy {} (guarded)", guarded["id"])),
        "{paused:?}"
    );
    let v = json_of(
        api.get(&format!("/strategies/{}", guarded["id"]), &u.access)
            .await,
    )
    .await;
    assert_eq!(v["is_active"], false, "the guarded strategy is paused");
    // Both kinds are kept for the dashboard after a reload.
    let kept = notified(&api, &u.access, "risk_alert", |d| {
        d["kind"] == "strategy_auto_paused"
    })
    .await;
    assert_eq!(kept["severity"], "warning", "{kept}");
    assert!(
        kept["message"].as_str().unwrap().contains("(guarded)"),
        "{kept}"
    );
    notified(&api, &u.access, "risk_alert", |d| {
        d["kind"] == "anomaly_repeated_rejections"
    })
    .await;
    let v = json_of(
        api.get(&format!("/strategies/{}", watched["id"]), &u.access)
            .await,
    )
    .await;
    assert_eq!(v["is_active"], true, "the other only alerted");
    let audit = json_of(api.get("/audit", &u.access).await).await;
    let entry = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "strategy_auto_paused")
        .unwrap_or_else(|| panic!("{audit}"));
    assert_eq!(entry["details"]["strategy"], guarded["id"]);
    assert_eq!(entry["details"]["anomaly"], "repeated_rejections");

    // A paused strategy's alerts are refused as inactive, not executed.
    let res = api
        .post(
            "/risk/kill-switch",
            Some(&u.access),
            json!({ "enabled": false }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let (status, body) =
        post_alert(&api, &guarded, tv_alert(&guarded, "buy", "long", "after")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("strategy_inactive")),
        "{body}"
    );
}
