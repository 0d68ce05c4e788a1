//! The real binary, started the way a user starts it: health, metrics, the
//! OpenAPI document, problem+json errors, generated secrets, graceful
//! shutdown and restart, bad configuration — on SQLite, and on PostgreSQL and
//! Redis when CI provides them.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;

const KEY_A: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const KEY_B: &str = "2222222222222222222222222222222222222222222222222222222222222222";

#[tokio::test]
async fn embedded_default_serves_and_restarts_with_the_same_secrets() {
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &[]);
    let http = client();

    // Health on the embedded default: SQLite under ./data, no Redis.
    let res = http.get(bot.url("/api/v1/health")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(request_id.len() >= 8);
    let health: serde_json::Value = res.json().await.unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["database"]["status"], "ok");
    assert_eq!(health["database"]["backend"], "sqlite");
    assert_eq!(health["redis"]["status"], "disabled");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert!(health["uptime_seconds"].is_u64());
    assert!(dir.join("data/tradingbot.db").exists());

    // A request id sent by the caller is echoed.
    let res = http
        .get(bot.url("/api/v1/health"))
        .header("x-request-id", "trace-12345678")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-12345678");

    // The generated secrets: 0600, announced by a warning, never printed.
    let mut secrets = Vec::new();
    for name in ["jwt_secret", "master_key"] {
        let path = dir.join("data").join(name);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name}");
        secrets.push(std::fs::read_to_string(&path).unwrap());
    }
    let dir_mode = std::fs::metadata(dir.join("data"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
    let warnings = bot.logged("generated a new");
    assert_eq!(warnings.len(), 2, "{}", bot.output());
    assert!(warnings.iter().all(|w| w["level"] == "WARN"));

    // Metrics count the requests above, by route template and status.
    let metrics = http.get(bot.url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = metrics.text().await.unwrap();
    let health_count = text
        .lines()
        .find(|l| {
            l.starts_with("http_requests_total{")
                && l.contains(r#"route="/api/v1/health""#)
                && l.contains(r#"status="200""#)
        })
        .unwrap_or_else(|| panic!("no health counter in\n{text}"));
    assert!(health_count.ends_with(" 2"), "{health_count}");
    assert!(
        text.contains("http_request_duration_seconds_bucket{"),
        "{text}"
    );

    // 404 for an unknown path and 405 for a wrong method: problem+json.
    let res = http
        .get(bot.url("/api/v1/no/such/thing"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert!(res.headers().contains_key("x-request-id"));
    let p: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        (p["status"].as_u64(), p["code"].as_str()),
        (Some(404), Some("not_found"))
    );

    let res = http.delete(bot.url("/api/v1/health")).send().await.unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let p: serde_json::Value = res.json().await.unwrap();
    assert_eq!(p["code"], "method_not_allowed");

    // Unknown paths are counted under one label, not one per path.
    let text = http
        .get(bot.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains(r#"route="unmatched""#), "{text}");
    assert!(!text.contains("/no/such/thing"), "{text}");

    // The OpenAPI document and its page.
    let res = http
        .get(bot.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let doc: serde_json::Value = res.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["paths"]["/api/v1/health"]["get"].is_object());
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    // Swagger UI (tests/docs.rs checks it in a browser).
    let res = http.get(bot.url("/api/v1/docs/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    let page = res.text().await.unwrap();
    assert!(page.contains("swagger-initializer.js"), "{page}");

    // Graceful shutdown on SIGTERM.
    let (status, output) = bot.signal_and_wait("TERM");
    assert!(status.success(), "exit {status}:\n{output}");
    assert!(output.contains("shutdown complete"), "{output}");
    for secret in &secrets {
        assert!(!output.contains(secret.trim()), "a secret was printed");
    }

    // Restart: the same secrets are reused, nothing new is generated.
    let bot = Spawned::start(&dir, &[]);
    assert!(bot.logged("generated a new").is_empty(), "{}", bot.output());
    assert_eq!(bot.logged("generated earlier").len(), 2, "{}", bot.output());
    for (i, name) in ["jwt_secret", "master_key"].iter().enumerate() {
        assert_eq!(
            std::fs::read_to_string(dir.join("data").join(name)).unwrap(),
            secrets[i]
        );
    }
    let res = client()
        .get(bot.url("/api/v1/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (status, output) = bot.signal_and_wait("INT");
    assert!(
        status.success(),
        "SIGINT is graceful too: {status}\n{output}"
    );
    assert!(output.contains("shutdown complete"), "{output}");
}

#[test]
fn bad_configuration_stops_the_start_with_its_key() {
    let (_tmp, dir) = workdir();
    for (env, key) in [
        (
            vec![("TRADINGBOT_BIND", "not-an-address")],
            "TRADINGBOT_BIND",
        ),
        (vec![("DATABASE_URL", "mysql://u@h/db")], "DATABASE_URL"),
        (
            vec![("TRADINGBOT_MASTER_KEY", "abcd")],
            "TRADINGBOT_MASTER_KEY",
        ),
        (
            vec![("TRADINGBOT_LOG_FORMAT", "yaml")],
            "TRADINGBOT_LOG_FORMAT",
        ),
        (vec![("TRADINGBOT_ENV", "production")], "TRADINGBOT_BIND"),
    ] {
        let (status, _out, err) = run_to_end(&dir, &env, &[]);
        assert_eq!(status.code(), Some(2), "{env:?}: {err}");
        assert!(err.contains(key), "{env:?}: {err}");
    }
    // Nothing was created for a configuration that was refused.
    assert!(!dir.join("data").exists());

    // A bad key in the TOML file names the file and the key.
    std::fs::write(dir.join("bot.toml"), "bind = \"127.0.0.1:0\"\nlisten = 1\n").unwrap();
    let (status, _out, err) = run_to_end(&dir, &[], &["--config", "bot.toml"]);
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("listen") && err.contains("bot.toml"), "{err}");
}

#[test]
fn production_refuses_generated_secrets() {
    let (_tmp, dir) = workdir();
    let base = [
        ("TRADINGBOT_ENV", "production"),
        ("TRADINGBOT_BIND", "127.0.0.1:0"),
        ("DATABASE_URL", "sqlite://./prod.db?mode=rwc"),
        ("TRADINGBOT_PUBLIC_URL", "https://bot.example.com"),
    ];
    let (status, _out, err) = run_to_end(&dir, &base, &[]);
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains("TRADINGBOT_JWT_SECRET") && err.contains("production"),
        "{err}"
    );
    assert!(!dir.join("data").exists(), "no secret was generated");

    let mut with_secrets = base.to_vec();
    with_secrets.push(("TRADINGBOT_JWT_SECRET", KEY_A));
    with_secrets.push(("TRADINGBOT_MASTER_KEY", KEY_B));
    let (status, out, err) = run_to_end(&dir, &with_secrets, &["check-config"]);
    assert!(status.success(), "{err}");
    assert!(out.contains("Production"), "{out}");
    assert!(
        !out.contains(KEY_A) && !out.contains(KEY_B),
        "check-config printed a secret"
    );
}

#[test]
fn migrate_command_applies_lists_and_reverts() {
    let (_tmp, dir) = workdir();
    let (status, out, err) = run_to_end(&dir, &[], &["migrate", "status"]);
    assert!(status.success(), "{err}");
    let total = out.lines().count();
    assert!(total >= 4, "{out}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("pending ")).count(),
        total,
        "{out}"
    );

    let (status, _, err) = run_to_end(&dir, &[], &["migrate", "up"]);
    assert!(status.success(), "{err}");
    let (_, out, _) = run_to_end(&dir, &[], &["migrate", "status"]);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("applied ")).count(),
        total,
        "{out}"
    );

    let (status, _, err) = run_to_end(&dir, &[], &["migrate", "down"]);
    assert!(status.success(), "{err}");
    let (_, out, _) = run_to_end(&dir, &[], &["migrate", "status"]);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("pending ")).count(),
        1,
        "{out}"
    );

    let (status, _, err) = run_to_end(&dir, &[], &["migrate", "down", "--all"]);
    assert!(status.success(), "{err}");
    let (status, _, err) = run_to_end(&dir, &[], &["migrate"]);
    assert!(status.success(), "{err}");
    let (_, out, _) = run_to_end(&dir, &[], &["migrate", "status"]);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("applied ")).count(),
        total,
        "{out}"
    );
}

#[test]
fn unreachable_redis_stops_the_start() {
    let (_tmp, dir) = workdir();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}");
    let (status, _out, err) = run_to_end(
        &dir,
        &[
            ("TRADINGBOT_BIND", "127.0.0.1:0"),
            ("REDIS_URL", url.as_str()),
        ],
        &[],
    );
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("REDIS_URL"), "{err}");
}

#[tokio::test]
async fn postgres_and_redis_serve_and_health_reports_a_lost_database() {
    let Some(db) = TestDatabase::postgres().await else {
        return announce_skip("postgres_and_redis_serve…", "TEST_DATABASE_URL");
    };
    let Ok(redis_url) = std::env::var("TEST_REDIS_URL") else {
        db.cleanup().await;
        return announce_skip("postgres_and_redis_serve…", "TEST_REDIS_URL");
    };
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(
        &dir,
        &[
            ("DATABASE_URL", db.url.as_str()),
            ("REDIS_URL", redis_url.as_str()),
            ("TRADINGBOT_DATABASE_MAX_CONNECTIONS", "2"),
        ],
    );
    let http = client();
    let health: serde_json::Value = http
        .get(bot.url("/api/v1/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["database"]["backend"], "postgres");
    assert_eq!(health["redis"]["status"], "ok");
    assert!(
        !dir.join("data/tradingbot.db").exists(),
        "no SQLite file when PostgreSQL is configured"
    );
    assert!(!bot.output().contains(&redis_url) || !redis_url.contains('@'));

    // The database goes away: health answers 503, quickly, as problem-free JSON.
    db.cleanup().await;
    let res = http.get(bot.url("/api/v1/health")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    let health: serde_json::Value = res.json().await.unwrap();
    assert_eq!(health["status"], "down", "{health}");
    assert_eq!(health["database"]["status"], "down");
    assert_eq!(health["redis"]["status"], "ok");

    let (status, output) = bot.signal_and_wait("TERM");
    assert!(status.success(), "{output}");
    announce(
        "postgres+redis: the binary served on PostgreSQL and Redis; health saw the database go",
    );
}

/// Three instances started at the same moment on an empty PostgreSQL
/// database: they take turns at the migrations and all serve.
#[tokio::test]
async fn three_instances_cold_start_together_on_an_empty_database() {
    let Some(db) = TestDatabase::postgres().await else {
        return announce_skip(
            "three_instances_cold_start_together_on_an_empty_database",
            "TEST_DATABASE_URL",
        );
    };
    let dirs: Vec<(tempfile::TempDir, std::path::PathBuf)> = (0..3).map(|_| workdir()).collect();
    let url = db.url.clone();
    let bots: Vec<Spawned> = std::thread::scope(|s| {
        let handles: Vec<_> = dirs
            .iter()
            .map(|(_, dir)| {
                let url = url.clone();
                s.spawn(move || Spawned::start(dir, &[("DATABASE_URL", url.as_str())]))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let http = client();
    for bot in &bots {
        let health: serde_json::Value = http
            .get(bot.url("/api/v1/health"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(health["status"], "ok", "{health}");
    }
    let applied = bots
        .iter()
        .filter(|b| {
            b.output()
                .contains("Migration 'm20261124_000001_identity' has been applied")
        })
        .count();
    assert_eq!(
        applied, 1,
        "one instance migrated, the others waited their turn"
    );
    drop(bots);
    db.cleanup().await;
    announce("three instances started together on an empty PostgreSQL database");
}
