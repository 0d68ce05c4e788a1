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
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

fn required() -> bool {
    std::env::var("TRADINGBOT_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

fn find(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.push("/usr/sbin".into());
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

struct KillOnDrop(Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The repo's server blocks, pointed at loopback and the test's files.
fn config(dir: &Path, http: u16, https: u16, backend: &str) -> String {
    let site = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/nginx/tradingbot.conf"
    ))
    .unwrap();
    let d = dir.display();
    let replaced = [
        ("listen 80;", format!("listen 127.0.0.1:{http};")),
        (
            "listen 443 ssl http2;",
            format!("listen 127.0.0.1:{https} ssl http2;"),
        ),
        ("/etc/nginx/certs/fullchain.pem", format!("{d}/cert.pem")),
        ("/etc/nginx/certs/privkey.pem", format!("{d}/key.pem")),
        ("server backend:8001;", format!("server {backend};")),
        ("root /var/www/certbot;", format!("root {d}/acme;")),
        // The proxy's own address, so the backend can tell it from clients.
        (
            "proxy_http_version 1.1;",
            "proxy_http_version 1.1;\n    proxy_bind 127.0.0.2;".to_owned(),
        ),
    ];
    let mut site = site;
    for (from, to) in replaced {
        assert!(
            site.contains(from),
            "the configuration no longer has `{from}`"
        );
        site = site.replace(from, &to);
    }
    std::fs::write(dir.join("tradingbot.conf"), site).unwrap();
    format!(
        "user root root;\ndaemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
         include {d}/tradingbot.conf;\n}}\n"
    )
}

#[tokio::test]
async fn the_repo_nginx_configuration_fronts_the_service() {
    let (Some(nginx), Some(openssl)) = (find("nginx"), find("openssl")) else {
        assert!(
            !required(),
            "nginx and openssl are needed (Debian packages nginx-light, openssl)"
        );
        eprintln!("skipped: nginx or openssl not installed");
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    // A test CA and a server certificate for localhost signed by it.
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    for args in [
        "req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=tradingbot-test-ca",
        "req -newkey rsa:2048 -nodes -keyout key.pem -out leaf.csr -subj /CN=localhost",
        "x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem -days 2 -extfile leaf.ext",
    ] {
        let out = Command::new(&openssl)
            .current_dir(dir)
            .args(args.split(' '))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let (_tmp, botdir) = workdir();
    let bot = Spawned::start(
        &botdir,
        &[
            ("TRADINGBOT_TRUSTED_PROXIES", "127.0.0.2/32"),
            ("TRADINGBOT_RATE_LIMIT_USER", "100000"),
        ],
    );
    let backend = bot.url("").trim_start_matches("http://").to_owned();
    let (http, https) = (free_port(), free_port());
    std::fs::write(dir.join("nginx.conf"), config(dir, http, https, &backend)).unwrap();
    let check = Command::new(&nginx)
        .args(["-t", "-p"])
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "nginx -t: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let _nginx = KillOnDrop(
        Command::new(&nginx)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", https)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not start: {}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let _ = rustls::crypto::ring::default_provider().install_default();
    let pem = std::fs::read(dir.join("ca.pem")).unwrap();
    // The client connects from 127.0.0.3; nginx reaches the backend from 127.0.0.2.
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .local_address(std::net::IpAddr::from([127, 0, 0, 3]))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let site = format!("https://localhost:{https}");

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
