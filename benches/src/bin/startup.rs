//! Start-up with many strategies: the release binary on its embedded
//! default is given `--users` traders with `--per-user` paper strategies
//! each (through the API, as traders would make them), stopped, and started
//! again; the second start is timed (spawn → listening, every user's actor
//! and account up) and its memory read once it has settled.
//!
//! `cargo build --release -p tradingbot-web -p tradingbot-benches --bin tradingbot --bin startup`
//! then `target/release/startup --users 1000 --per-user 10`.

use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tradingbot_benches::service::{Server, call, start_server, trader_client};

struct Args {
    users: usize,
    per_user: usize,
    binary: PathBuf,
}

fn args() -> Args {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let mut a = Args {
        users: 1000,
        per_user: 10,
        binary: PathBuf::from(target).join("release").join("tradingbot"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().expect("a value after the flag");
        match flag.as_str() {
            "--users" => a.users = value().parse().expect("a number"),
            "--per-user" => a.per_user = value().parse().expect("a number"),
            "--binary" => a.binary = value().into(),
            _ => {
                eprintln!(
                    "usage: startup [--users 1000] [--per-user 10] [--binary target/release/tradingbot]"
                );
                std::process::exit(2);
            }
        }
    }
    a.binary = std::fs::canonicalize(&a.binary)
        .unwrap_or_else(|e| panic!("{}: {e} (build it first)", a.binary.display()));
    a
}

/// One trader: registered, verified, a paper account, `n` strategies.
async fn trader(server: &Server, i: usize, n: usize) {
    let http = &trader_client(i);
    let email = format!("startup{i}@example.com");
    let password = "start-up bench password 2026";
    let base = &server.base;
    call(
        http,
        format!("{base}/auth/register"),
        None,
        json!({ "email": email, "password": password }),
    )
    .await;
    let token = server.mailed_token(&email);
    call(
        http,
        format!("{base}/auth/verify-email"),
        None,
        json!({ "token": token }),
    )
    .await;
    let login = call(
        http,
        format!("{base}/auth/login"),
        None,
        json!({ "email": email, "password": password }),
    )
    .await;
    let access = login["access_token"].as_str().unwrap().to_owned();
    let account = call(
        http,
        format!("{base}/accounts/register"),
        Some(&access),
        json!({ "exchange": "paper" }),
    )
    .await;
    for s in 0..n {
        call(
            http,
            format!("{base}/strategies"),
            Some(&access),
            json!({ "name": format!("s{s}"), "symbol": "BTCUSDT", "account_id": account["id"],
                    "investment_pct": 1, "leverage": 2 }),
        )
        .await;
    }
}

fn main() {
    let args = args();
    tradingbot_actors::exchange::http::install_tls_provider();
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = Arc::new(start_server(&args.binary, dir.path(), &[]));
    let setup = Instant::now();
    runtime.block_on(async {
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let (server, next) = (server.clone(), next.clone());
                let (users, per_user) = (args.users, args.per_user);
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= users {
                            return;
                        }
                        trader(&server, i, per_user).await;
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.unwrap();
        }
    });
    println!(
        "{} traders with {} strategies each made through the API in {:.1} s",
        args.users,
        args.per_user,
        setup.elapsed().as_secs_f64()
    );
    Arc::try_unwrap(server)
        .unwrap_or_else(|_| panic!("the server is still shared"))
        .terminate();

    let again = start_server(&args.binary, dir.path(), &[]);
    let started_in = again.started_in;
    std::thread::sleep(Duration::from_secs(5));
    let (rss, peak) = again.memory_kib();
    // The gauge is refreshed every 15 s.
    let strategies: usize = runtime.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = reqwest::get(again.base.replace("/api/v1", "/metrics"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let n = text
                .lines()
                .find(|l| l.starts_with("strategies_active "))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0) as usize;
            if n > 0 || Instant::now() > deadline {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    println!(
        "restart with {strategies} active strategies of {} traders: listening after {:.2} s; \
         RSS {:.0} MB after 5 s (peak {:.0} MB)",
        args.users,
        started_in.as_secs_f64(),
        rss as f64 / 1024.0,
        peak as f64 / 1024.0
    );
}
