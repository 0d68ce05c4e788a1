//! The metrics, dashboards and alerts agree with the service: a real
//! Prometheus (Debian's `prometheus`) scrapes the real binary while it
//! trades on paper, and every metric any dashboard panel or alert rule
//! reads must exist there with samples; every panel's query must parse and
//! evaluate; `promtool` accepts the repo's configuration and rules.

mod common;

use common::api::{Api, post_alert, tv_alert};
use common::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `promtool`, or `None` (skipped, said so) where Prometheus is not installed.
fn prometheus_tool(name: &str) -> Option<PathBuf> {
    tool(None, &[name], "Debian package `prometheus`")
}

/// Metric names in a PromQL expression: identifiers that are not
/// functions, keywords, label names or durations.
fn metric_names(expr: &str) -> BTreeSet<String> {
    // Strings, label matchers and range durations blanked out.
    let mut text = String::new();
    let (mut brace, mut bracket, mut quote) = (0, 0, None);
    for c in expr.chars() {
        let blank = quote.is_some() || brace > 0 || bracket > 0;
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '{') => brace += 1,
            (None, '}') => brace -= 1,
            (None, '[') => bracket += 1,
            (None, ']') => bracket -= 1,
            _ => {}
        }
        text.push(if blank || "{}[]\"'".contains(c) {
            ' '
        } else {
            c
        });
    }
    let text = blank_grouping(&text);
    const KEYWORDS: [&str; 12] = [
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "bool",
        "inf",
    ];
    let chars: Vec<char> = text.chars().collect();
    let mut out = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let starts_word = (c.is_ascii_alphabetic() || c == '_' || c == ':')
            && (i == 0 || !(chars[i - 1].is_ascii_alphanumeric() || chars[i - 1] == '.'));
        if !starts_word {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len()
            && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
        {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        let call = chars[i..].iter().find(|c| !c.is_whitespace()) == Some(&'(');
        if !call && !KEYWORDS.contains(&word.to_lowercase().as_str()) {
            out.insert(word);
        }
    }
    out
}

/// Blanks `by (…)`, `without (…)`, `on (…)` and `ignoring (…)`.
fn blank_grouping(text: &str) -> String {
    let mut out = text.to_owned();
    for kw in [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ] {
        loop {
            let lower = out.clone();
            let Some(pos) = find_clause(&lower, kw) else {
                break;
            };
            let open = lower[pos..].find('(').map(|o| pos + o).unwrap();
            let close = lower[open..].find(')').map(|c| open + c).unwrap();
            out.replace_range(pos..=close, &" ".repeat(close - pos + 1));
        }
    }
    out
}

fn find_clause(text: &str, kw: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(p) = text[from..].find(kw).map(|p| p + from) {
        let before_ok = p == 0
            || !text.as_bytes()[p - 1].is_ascii_alphanumeric() && text.as_bytes()[p - 1] != b'_';
        let after = &text[p + kw.len()..];
        if before_ok && after.trim_start().starts_with('(') {
            return Some(p);
        }
        from = p + kw.len();
    }
    None
}

/// Every query of the dashboards and the alert rules, with where it is.
fn queries() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(repo().join("grafana/dashboards")).unwrap() {
        let path = entry.unwrap().path();
        let board: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        assert!(
            board["uid"].is_string() && board["title"].is_string(),
            "{}",
            path.display()
        );
        for p in board["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().unwrap() {
                out.push((
                    format!(
                        "{} · {}",
                        path.file_name().unwrap().to_string_lossy(),
                        p["title"]
                    ),
                    t["expr"].as_str().unwrap().to_owned(),
                ));
            }
        }
    }
    let rules = std::fs::read_to_string(repo().join("grafana/prometheus/alerts.yml")).unwrap();
    let mut alert = String::new();
    for line in rules.lines() {
        let l = line.trim();
        if let Some(a) = l.strip_prefix("- alert:") {
            alert = a.trim().to_owned();
        }
        if let Some(e) = l.strip_prefix("expr:") {
            out.push((format!("alert {alert}"), e.trim().to_owned()));
        }
    }
    out
}

#[test]
fn query_names_are_read_right() {
    let names = metric_names(
        r#"(sum(strategies_active) > 0) and on() (sum by (le, route) (rate(http_requests_total{status=~"5.."}[5m])) == 0)"#,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["http_requests_total", "strategies_active"]
    );
    assert!(queries().len() >= 30);
}

#[test]
fn promtool_accepts_the_configuration_and_rules() {
    let Some(promtool) = prometheus_tool("promtool") else {
        return;
    };
    for args in [
        vec!["check", "config", "grafana/prometheus/prometheus.yml"],
        vec!["check", "rules", "grafana/prometheus/alerts.yml"],
    ] {
        let out = Command::new(&promtool)
            .current_dir(repo())
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
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

#[tokio::test]
async fn every_dashboard_and_alert_metric_is_exported() {
    let Some(prometheus) = prometheus_tool("prometheus") else {
        return;
    };
    let (_tmp, dir) = workdir();
    let redis = std::env::var("TEST_REDIS_URL").ok();
    let mut env = vec![("TRADINGBOT_RATE_LIMIT_USER", "100000")];
    if let Some(r) = &redis {
        env.push(("REDIS_URL", r.as_str()));
    }
    let bot = Spawned::start(&dir, &env);
    let api = Api::new(&bot);

    // A little trading on paper, so the execution metrics move.
    let u = api.user("metrics@example.com").await;
    let (_, s) = api.paper_strategy(&u, json!({})).await;
    for (i, (action, position)) in [("buy", "long"), ("sell", "flat"), ("sell", "short")]
        .iter()
        .enumerate()
    {
        let (status, body) =
            post_alert(&api, &s, tv_alert(&s, action, position, &format!("M{i}"))).await;
        assert_eq!(status, 202, "{body}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Prometheus on loopback, scraping the binary every second, with the repo's rules.
    let work = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo().join("grafana/prometheus/alerts.yml"),
        work.path().join("alerts.yml"),
    )
    .unwrap();
    let target = bot.url("").trim_start_matches("http://").to_owned();
    std::fs::write(
        work.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - alerts.yml\nscrape_configs:\n  - job_name: tradingbot\n    metrics_path: /metrics\n    static_configs:\n      - targets: [\"{target}\"]\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let _prom = KillOnDrop(
        Command::new(prometheus)
            .arg(format!(
                "--config.file={}",
                work.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                work.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let http = reqwest::Client::new();
    let prom = format!("http://127.0.0.1:{port}");
    let query = |q: String| {
        let http = http.clone();
        let prom = prom.clone();
        async move {
            let url = reqwest::Url::parse_with_params(
                &format!("{prom}/api/v1/query"),
                [("query", q.as_str())],
            )
            .unwrap();
            let res = http.get(url).send().await;
            match res {
                Ok(r) => r.json::<Value>().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            }
        }
    };
    // Until a scrape of the binary has landed.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = query("up{job=\"tradingbot\"} == 1".into()).await;
        if v["data"]["result"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never scraped the binary: {v}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let mut missing = Vec::new();
    let mut names = BTreeSet::new();
    for (where_, expr) in queries() {
        let v = query(expr.clone()).await;
        assert_eq!(
            v["status"], "success",
            "{where_}: `{expr}` does not evaluate: {v}"
        );
        for name in metric_names(&expr) {
            names.insert(name.clone());
            let v = query(format!("count({{__name__=\"{name}\"}})")).await;
            if v["data"]["result"].as_array().is_none_or(|r| r.is_empty()) {
                missing.push(format!("{name} ({where_})"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "metrics read by dashboards or alerts but not exported: {missing:#?}"
    );
    assert!(names.len() >= 25, "{names:?}");
    // The check can fail: a name nobody exports has no series.
    let v = query("count({__name__=\"tradingbot_no_such_metric_total\"})".into()).await;
    assert_eq!(v["data"]["result"], json!([]));

    // The rules loaded and evaluate without error.
    let rules: Value = http
        .get(format!("{prom}/api/v1/rules"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let loaded: Vec<&Value> = rules["data"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(loaded.len(), 9);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rules: Value = http
        .get(format!("{prom}/api/v1/rules"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for r in rules["data"]["groups"][0]["rules"].as_array().unwrap() {
        assert_ne!(r["health"], "err", "{r}");
    }
}
