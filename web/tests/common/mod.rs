//! Starting the real `tradingbot` binary for tests: on a free port, in its
//! own empty directory, with only the environment a test gives it.

#![allow(dead_code)]

pub mod api;
pub mod nginx;
pub mod venues;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[allow(unused_imports)]
pub use tradingbot_actors::store::testing::{TestDatabase, announce, announce_skip};

pub const BIN: &str = env!("CARGO_BIN_EXE_tradingbot");

/// A running `tradingbot` process.
pub struct Spawned {
    child: Child,
    pub addr: String,
    pub base: String,
    lines: Arc<Mutex<Vec<String>>>,
}

/// Runs the binary to completion and returns (status, stdout, stderr).
pub fn run_to_end(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> (ExitStatus, String, String) {
    let out = command(dir, env)
        .args(args)
        .output()
        .expect("run tradingbot");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn command(dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir).env_clear();
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

impl Spawned {
    /// Starts the binary in `dir` with `env` (plus a free port and JSON logs)
    /// and waits until it listens.
    pub fn start(dir: &Path, env: &[(&str, &str)]) -> Self {
        let mut full: Vec<(&str, &str)> = vec![
            ("TRADINGBOT_BIND", "127.0.0.1:0"),
            ("TRADINGBOT_LOG_FORMAT", "json"),
        ];
        full.extend_from_slice(env);
        let mut child = command(dir, &full)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tradingbot");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel::<String>();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = lines.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(addr) = listening_addr(&line) {
                        let _ = tx.send(addr);
                    }
                    lines.lock().unwrap().push(line);
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        let addr = loop {
            if let Ok(addr) = rx.recv_timeout(Duration::from_millis(100)) {
                break addr;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "tradingbot exited with {status} before listening:\n{}",
                    lines.lock().unwrap().join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "tradingbot did not start listening:\n{}",
                lines.lock().unwrap().join("\n")
            );
        };
        Self {
            child,
            base: format!("http://{addr}"),
            addr,
            lines,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Everything the process has printed so far.
    pub fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Log lines (JSON objects) whose message is `message`.
    pub fn logged(&self, message: &str) -> Vec<serde_json::Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| {
                v["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(message))
            })
            .collect()
    }

    /// Sends `signal` (e.g. "STOP", "CONT") and returns at once.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Sends `signal` (e.g. "TERM") and waits for the process to exit.
    pub fn signal_and_wait(mut self, signal: &str) -> (ExitStatus, String) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader threads drain the pipes.
                std::thread::sleep(Duration::from_millis(100));
                return (status, self.output());
            }
            assert!(
                Instant::now() < deadline,
                "tradingbot did not stop after SIG{signal}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn listening_addr(line: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    if v["fields"]["message"] != "listening" {
        return None;
    }
    v["fields"]["addr"].as_str().map(str::to_owned)
}

/// A fresh empty directory for one process.
pub fn workdir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    (dir, path)
}

pub fn client() -> reqwest::Client {
    tradingbot_testkit::http_client()
}

/// The first administrator, made with the CLI in `dir` before the server starts.
pub fn create_admin(dir: &std::path::Path) {
    use std::io::Write;
    let mut child = std::process::Command::new(BIN)
        .current_dir(dir)
        .env_clear()
        .args(["create-admin", "--email", "ops@example.com"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"operator passphrase 2026\n")
        .unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
}

/// Waits until `bots` form one cluster: each sees all of them, and
/// together they own every user shard, each some.
pub async fn settled_cluster(bots: &[&Spawned]) {
    let http = client();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut owned = Vec::new();
        let mut members = Vec::new();
        for b in bots {
            let h: serde_json::Value = http
                .get(b.url("/api/v1/health"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            owned.push(h["cluster"]["owned_shards"].as_u64().unwrap_or(0));
            members.push(h["cluster"]["members"].as_u64().unwrap_or(0));
        }
        if owned.iter().sum::<u64>() == 64
            && owned.iter().all(|o| *o > 0)
            && members.iter().all(|m| *m as usize == bots.len())
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the cluster did not settle: owned {owned:?}, members {members:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The secrets every instance of one deployment shares (tests that run
/// several instances, each in its own directory).
pub const SHARED_SECRETS: [(&str, &str); 2] = [
    (
        "TRADINGBOT_JWT_SECRET",
        "9f1c2e3d4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
    ),
    (
        "TRADINGBOT_MASTER_KEY",
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
    ),
];

/// An external tool a test drives: `$env` when set, else the first of
/// `names` on `PATH`; `None` (and said so) where it is missing, which fails
/// the test under `TRADINGBOT_TEST_REQUIRE_SERVICES=1`. `install` says
/// where it comes from.
pub fn tool(env: Option<&str>, names: &[&str], install: &str) -> Option<PathBuf> {
    let found = env
        .and_then(std::env::var_os)
        .map(PathBuf::from)
        .or_else(|| {
            let paths = std::env::var_os("PATH")?;
            std::env::split_paths(&paths)
                .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
                .find(|p| p.is_file())
        });
    if found.is_none() {
        let name = names.first().copied().unwrap_or("a tool");
        assert!(
            !tradingbot_actors::store::testing::services_required(),
            "{name} is not installed ({install})"
        );
        eprintln!("skipped: {name} not installed ({install})");
    }
    found
}
