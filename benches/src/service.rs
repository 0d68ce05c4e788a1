//! The release `tradingbot` binary as the load test and the start-up bench
//! drive it: started in its own directory on the embedded default, its
//! output kept (the verification mails are logged there), stopped on drop.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The server, with what it prints.
pub struct Server {
    pub child: Child,
    /// `http://addr/api/v1`.
    pub base: String,
    lines: Arc<Mutex<Vec<String>>>,
    /// From spawn to its "listening" line.
    pub started_in: Duration,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `binary` in `dir` with generous rate limits and `env` on top.
pub fn start_server(binary: &Path, dir: &Path, env: &[(&str, &str)]) -> Server {
    let spawned = Instant::now();
    let mut cmd = Command::new(binary);
    cmd.current_dir(dir)
        .env_clear()
        .env("TRADINGBOT_BIND", "127.0.0.1:0")
        .env("TRADINGBOT_LOG_FORMAT", "json")
        .env(
            "TRADINGBOT_LOG",
            "warn,tradingbot_web::server=info,tradingbot_actors::identity=warn",
        )
        .env("TRADINGBOT_RATE_LIMIT_IP", "1000000")
        .env("TRADINGBOT_RATE_LIMIT_USER", "1000000")
        .env("TRADINGBOT_RATE_LIMIT_WEBHOOK", "1000000")
        // Each simulated trader signs in as its own address (`trader_client`).
        .env("TRADINGBOT_TRUSTED_PROXIES", "127.0.0.1/32");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e} (build it first)", binary.display()));
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let (lines, tx) = (lines.clone(), tx.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && v["fields"]["message"] == "listening"
                {
                    let _ = tx.send(v["fields"]["addr"].as_str().unwrap_or_default().to_owned());
                }
                lines.lock().unwrap().push(line);
            }
        });
    }
    let Ok(addr) = rx.recv_timeout(Duration::from_secs(120)) else {
        let status = child.try_wait();
        panic!(
            "the server did not listen ({status:?}); it printed:\n{}",
            lines.lock().unwrap().join("\n")
        );
    };
    Server {
        child,
        base: format!("http://{addr}/api/v1"),
        lines,
        started_in: spawned.elapsed(),
    }
}

impl Server {
    /// The verification token mailed (logged) to `email`.
    pub fn mailed_token(&self, email: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = self.lines.lock().unwrap().iter().rev().find_map(|l| {
                let v: Value = serde_json::from_str(l).ok()?;
                (v["fields"]["to"] == email)
                    .then(|| v["fields"]["body"].as_str().map(str::to_owned))?
            });
            if let Some(body) = found {
                let start = body.find("token=").expect("a link") + 6;
                return body[start..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect();
            }
            assert!(Instant::now() < deadline, "no mail to {email}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops it with SIGTERM and waits.
    pub fn terminate(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }

    /// Its resident memory now and at its peak, in KiB (`/proc`).
    pub fn memory_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

/// A client for the `i`-th simulated trader: its requests carry the
/// trader's own address, as a trusted proxy forwards it (sign-in budgets
/// are per address).
pub fn trader_client(i: usize) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let addr = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    headers.insert(
        "x-forwarded-for",
        reqwest::header::HeaderValue::from_str(&addr).expect("an address"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("a client")
}

/// POSTs `body` as JSON (with `token` as bearer); the answer, which must
/// be a success.
pub async fn call(http: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> Value {
    let mut req = http.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("request");
    let status = res.status();
    let v: Value = res.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{status}: {v}");
    v
}
