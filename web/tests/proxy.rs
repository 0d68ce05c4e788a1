//! Debian's nginx with the repo's `deploy/nginx/tradingbot.conf` (ports,
//! certificate paths and upstream substituted for loopback and a test
//! certificate) in front of the real binary: the HTTP→HTTPS redirect, REST,
//! the websocket upgrade and the webhook path (with its own body limit)
//! work through it, `/metrics` is not exposed, and the backend takes the
//! client's address from `X-Forwarded-For` only when the proxy sends it.

mod common;

use common::api::{Api, tv_alert};
use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn the_repo_nginx_configuration_fronts_the_service() {
    let (_tmp, botdir) = workdir();
    let bot = Spawned::start(
        &botdir,
        &[
            ("TRADINGBOT_TRUSTED_PROXIES", "127.0.0.2/32"),
            ("TRADINGBOT_RATE_LIMIT_USER", "100000"),
        ],
    );
    let backend = bot.url("").trim_start_matches("http://").to_owned();
    let Some(nginx) = common::nginx::Nginx::start(&[backend]) else {
        return;
    };
    let client = nginx.client();
    let (http, https, site, pem) = (nginx.http, nginx.https, nginx.site(), nginx.ca_pem());

    let res = client
        .get(format!("http://127.0.0.1:{http}/api/v1/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 301);
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("https://")
    );
    let res = client
        .get(format!("{site}/api/v1/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("strict-transport-security"));
    assert_eq!(
        client
            .get(format!("{site}/metrics"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // REST through the proxy; the session remembers the client, not the proxy
    // and not what the client claimed.
    let api = Api::new(&bot);
    let u = api.user("proxy@example.com").await;
    let login = |via: String, xff: &'static str| {
        let client = client.clone();
        async move {
            let res = client
                .post(format!("{via}/api/v1/auth/login"))
                .header("x-forwarded-for", xff)
                .json(&json!({ "email": "proxy@example.com", "password": common::api::PASSWORD }))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()["access_token"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let via_proxy = login(site.clone(), "203.0.113.9").await;
    let direct = login(bot.url(""), "203.0.113.9").await;
    let sessions: Value = client
        .get(format!("{site}/api/v1/auth/sessions"))
        .bearer_auth(&via_proxy)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ips: Vec<&str> = sessions
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["ip"].as_str())
        .collect();
    assert!(
        ips.iter().all(|ip| *ip != "203.0.113.9"),
        "a forged header was believed: {ips:?}"
    );
    assert!(
        ips.iter().all(|ip| *ip != "127.0.0.2"),
        "the proxy was taken for the client: {ips:?}"
    );
    assert_eq!(
        ips.iter().filter(|ip| **ip == "127.0.0.3").count(),
        2,
        "{sessions}"
    );
    let _ = direct;

    // The websocket upgrades through the proxy.
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_slice(&pem).unwrap())
        .unwrap();
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let (mut ws, _) = tokio_tungstenite::connect_async_tls_with_config(
        format!("wss://localhost:{https}/api/v1/ws?token={}", u.access),
        None,
        false,
        Some(tokio_tungstenite::Connector::Rustls(Arc::new(tls))),
    )
    .await
    .unwrap();
    ws.send(Message::Text(
        json!({ "event": "subscribe", "data": { "channels": ["positions"] } })
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let reply = loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Text(t))) => break serde_json::from_str::<Value>(&t).unwrap(),
            Some(Ok(_)) => continue,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(reply["event"], "subscribed", "{reply}");

    // The webhook path: an alert goes through; an oversized body stops at nginx.
    let (_, s) = api.paper_strategy(&u, json!({})).await;
    let hook = s["webhook_url"].as_str().unwrap();
    let path = &hook[hook.find("/api/v1/webhook/").unwrap()..];
    let res = client
        .post(format!("{site}{path}"))
        .header("content-type", "text/plain")
        .body(tv_alert(&s, "buy", "long", "NGINX-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
    let res = client
        .post(format!("{site}{path}"))
        .body("x".repeat(20 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
}
