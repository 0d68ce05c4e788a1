//! Error reporting against a local server that receives Sentry envelopes
//! the way Sentry's ingest does (`POST /api/<project>/envelope/` with the
//! `X-Sentry-Auth` key): the test event and a panic arrive, scrubbed of the
//! credentials they carried.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// What the server received: (path, `X-Sentry-Auth` header, body).
type Received = Arc<Mutex<Vec<(String, String, String)>>>;

/// Accepts HTTP requests, records them, answers 200.
fn envelope_server() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let store = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or("")
                .to_owned();
            let (mut length, mut auth) = (0usize, String::new());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("x-sentry-auth:") {
                    auth = line.trim().to_owned();
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            store
                .lock()
                .unwrap()
                .push((path, auth, String::from_utf8_lossy(&body).into_owned()));
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}");
        }
    });
    (format!("http://publickey123@{addr}/42"), got)
}

#[test]
fn events_and_panics_arrive_scrubbed() {
    let (dsn, got) = envelope_server();
    let (_tmp, dir) = workdir();
    let (status, out, err) = run_to_end(
        &dir,
        &[("SENTRY_DSN", dsn.as_str())],
        &["check-sentry", "--panic"],
    );
    assert!(status.success(), "{out}{err}");
    assert!(out.contains("sent"));
    let received = got.lock().unwrap().clone();
    assert!(!received.is_empty(), "nothing reached the server");
    let all: String = received
        .iter()
        .map(|r| r.2.clone())
        .collect::<Vec<_>>()
        .join("\n");
    for (path, auth, _) in &received {
        assert_eq!(path, "/api/42/envelope/");
        assert!(auth.contains("sentry_key=publickey123"), "{auth}");
    }
    assert!(all.contains("TradingBot test event"), "{all}");
    assert!(all.contains("TradingBot test panic"), "{all}");
    assert!(all.contains("[scrubbed]"), "{all}");
    for secret in [
        "eyJhbGciOiJIUzI1NiJ9",
        "Abc123Def456Ghi789Jkl012Mno345Pq",
        "hunter2-test",
    ] {
        assert!(!all.contains(secret), "{secret} reached Sentry:\n{all}");
    }
    // Nothing without a DSN: the command says so and fails.
    let (status, _, err) = run_to_end(&dir, &[], &["check-sentry"]);
    assert!(!status.success());
    assert!(err.contains("SENTRY_DSN is not set"));
}
