//! The deployment files agree with the service and with each other: every
//! variable the compose file reads is in `.env.example`, every setting it
//! passes is one the binary knows, every file it mounts exists; `docker
//! compose config` validates it where the compose plugin exists; the image's
//! health check command works against the real binary; and the backup
//! script's dump of a real PostgreSQL decrypts into a restorable archive.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn required() -> bool {
    std::env::var("TRADINGBOT_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// `${NAME…}` references in a text.
fn references(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        let after = &rest[i + 2..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        // `$${X}` is compose's escape for the container's own shell.
        if !(i > 0 && rest.as_bytes()[i - 1] == b'$') {
            out.insert(after[..end].to_owned());
        }
        rest = &after[end..];
    }
    out
}

#[test]
fn compose_env_and_mounts_are_consistent() {
    let compose = std::fs::read_to_string(repo().join("docker-compose.yml")).unwrap();
    let example = std::fs::read_to_string(repo().join(".env.example")).unwrap();
    let defined: BTreeSet<&str> = example
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim()))
        .filter(|k| !k.starts_with('#'))
        .collect();
    for var in references(&compose) {
        assert!(
            defined.contains(var.as_str()),
            ".env.example lacks {var}, which docker-compose.yml reads"
        );
    }
    // Settings handed to the backend are ones the binary documents.
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let backend =
        &compose[compose.find("  backend:").unwrap()..compose.find("  prometheus:").unwrap()];
    let env_block =
        &backend[backend.find("environment:").unwrap()..backend.find("volumes:").unwrap()];
    for line in env_block.lines().skip(1) {
        let Some((key, _)) = line.trim().split_once(':') else {
            continue;
        };
        if key.starts_with('#') || key.is_empty() {
            continue;
        }
        assert!(
            readme.contains(&format!("`{key}`")),
            "the backend gets {key}, which README's settings table does not document"
        );
    }
    // Mounted files and the build context exist.
    for line in compose.lines() {
        let t = line.trim().trim_start_matches("- ");
        if let Some(path) = t.strip_prefix("./") {
            let path = path.split(':').next().unwrap();
            if ["deploy/certs", "deploy/certs-le", "backups"].contains(&path) {
                continue; // the operator's, created at deployment
            }
            assert!(
                repo().join(path).exists(),
                "docker-compose.yml mounts ./{path}, which is missing"
            );
        }
    }
    assert!(repo().join("Dockerfile").is_file());
    // Where the compose plugin exists, it validates the file.
    let version = Command::new("docker").args(["compose", "version"]).output();
    match version {
        Ok(v) if v.status.success() => {
            let out = Command::new("docker")
                .current_dir(repo())
                .args(["compose", "--env-file", ".env.example", "config", "--quiet"])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "docker compose config: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        _ => {
            eprintln!("skipped `docker compose config`: this machine has no Docker compose plugin")
        }
    }
}

#[test]
fn the_image_health_check_command_works() {
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &[]);
    let ok = Command::new(BIN)
        .args(["healthcheck", "--url", &bot.url("/api/v1/health")])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let down = Command::new(BIN)
        .args(["healthcheck", "--url", "http://127.0.0.1:1/api/v1/health"])
        .output()
        .unwrap();
    assert!(!down.status.success());
    let missing = Command::new(BIN)
        .args(["healthcheck", "--url", &bot.url("/api/v1/nothing-here")])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("answered 404"));
}

/// A local S3-compatible server (moto, PyPI), when installed.
fn moto_server() -> Option<String> {
    tool(
        Some("TRADINGBOT_MOTO_SERVER"),
        &["moto_server"],
        "pip install 'moto[server]'",
    )
    .map(|p| p.display().to_string())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn backups_are_sealed_restorable_and_copied_off_site() {
    let (Ok(db), true) = (
        std::env::var("TEST_DATABASE_URL"),
        Command::new("pg_dump").arg("--version").output().is_ok(),
    ) else {
        assert!(!required(), "TEST_DATABASE_URL and pg_dump are needed");
        eprintln!("skipped: no TEST_DATABASE_URL or pg_dump");
        return;
    };
    // Migrate the database the way the server does, so the dump has tables.
    let (_tmp, dir) = workdir();
    let (status, _, err) = run_to_end(&dir, &[("DATABASE_URL", db.as_str())], &["migrate"]);
    assert!(status.success(), "{err}");

    // An S3-compatible store with a bucket, when moto is there.
    let moto = moto_server().map(|bin| {
        let port = free_port();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let made = Command::new("curl")
                .args(["-sf", "-X", "PUT", &format!("{url}/drill-backups")])
                .output()
                .is_ok_and(|o| o.status.success());
            if made {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "moto_server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        (child, url)
    });

    let backups = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("sh");
    cmd.arg(repo().join("deploy/backup/backup.sh"))
        .arg("--once")
        .env("DATABASE_URL", &db)
        .env("BACKUP_PASSPHRASE", "drill-passphrase-long")
        .env("BACKUP_DIR", backups.path())
        .env("TRADINGBOT_BIN", BIN);
    if let Some((_, url)) = &moto {
        cmd.env("BACKUP_S3_BUCKET", "drill-backups")
            .env("BACKUP_S3_ENDPOINT", url)
            .env("BACKUP_S3_REGION", "eu-central-1")
            .env("AWS_ACCESS_KEY_ID", "AKIDDRILL")
            .env("AWS_SECRET_ACCESS_KEY", "drill-secret-key-not-real");
    }
    let out = cmd.output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(!said.contains("drill-passphrase-long") && !said.contains("drill-secret-key"));
    let files: Vec<_> = std::fs::read_dir(backups.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let file = &files[0];
    assert!(file.to_string_lossy().ends_with(".dump.sealed"));
    let bytes = std::fs::read(file).unwrap();
    assert!(bytes.starts_with(b"TBSEAL01"), "sealed format");
    assert!(
        !bytes.windows(5).any(|w| w == b"PGDMP"),
        "the dump is not readable without the passphrase"
    );
    // The restore drill, minus the restore: open and list the archive.
    let open = |path: &Path, pass: &str| {
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "set -e; '{BIN}' backup open --input '{}' > '{}.dump'; pg_restore --list '{}.dump'",
                path.display(),
                path.display(),
                path.display()
            ))
            .env("BACKUP_PASSPHRASE", pass)
            .output()
            .unwrap()
    };
    let listed = open(file, "drill-passphrase-long");
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let toc = String::from_utf8_lossy(&listed.stdout);
    for table in ["users", "strategies", "positions", "orders"] {
        assert!(
            toc.contains(&format!("TABLE public {table}")),
            "{table} missing from the dump:\n{toc}"
        );
    }
    // A wrong passphrase, a flipped byte, a cut file: nothing opens.
    let wrong = open(file, "another-passphrase");
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("cannot be opened"));
    let work = tempfile::tempdir().unwrap();
    let mut flipped = bytes.clone();
    let at = bytes.len() / 2;
    flipped[at] ^= 0x40;
    let cut = &bytes[..bytes.len() - 100];
    for (name, content) in [("flipped", &flipped[..]), ("cut", cut)] {
        let p = work.path().join(name);
        std::fs::write(&p, content).unwrap();
        let o = open(&p, "drill-passphrase-long");
        assert!(!o.status.success(), "{name} opened");
    }

    // Off site: the same bytes in the bucket.
    if let Some((mut child, url)) = moto {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            said.contains(&format!("s3://drill-backups/tradingbot/{name}")),
            "{said}"
        );
        // Private: not readable without credentials.
        let anonymous = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
            .arg(format!("{url}/drill-backups/tradingbot/{name}"))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&anonymous.stdout), "403");
        // Fetched back with the credentials, as a restore elsewhere would.
        let back = work.path().join("fetched.sealed");
        let got = Command::new(BIN)
            .args(["backup", "download", &name, "--output"])
            .arg(&back)
            .env("BACKUP_S3_BUCKET", "drill-backups")
            .env("BACKUP_S3_ENDPOINT", &url)
            .env("BACKUP_S3_REGION", "eu-central-1")
            .env("AWS_ACCESS_KEY_ID", "AKIDDRILL")
            .env("AWS_SECRET_ACCESS_KEY", "drill-secret-key-not-real")
            .output()
            .unwrap();
        let _ = child.kill();
        assert!(
            got.status.success(),
            "{}",
            String::from_utf8_lossy(&got.stderr)
        );
        assert!(
            std::fs::read(&back).unwrap() == bytes,
            "the object in the bucket differs from the backup"
        );
    }
}

/// Promtail's pipeline reads fields the backend's JSON log lines have.
#[test]
fn promtail_reads_the_fields_the_backend_logs() {
    let config = std::fs::read_to_string(repo().join("deploy/promtail/promtail.yml")).unwrap();
    let after = &config[config.find("expressions:").expect("a json stage")..];
    let paths: Vec<(String, String)> = after
        .lines()
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('-'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    assert!(paths.len() >= 4, "{paths:?}");
    let (_tmp, dir) = workdir();
    let bot = Spawned::start(&dir, &[("TRADINGBOT_LOG_FORMAT", "json")]);
    let output = bot.output();
    let line = output
        .lines()
        .find(|l| l.contains("\"level\":\"INFO\""))
        .unwrap_or_else(|| panic!("no JSON log line: {output}"));
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    for (name, path) in &paths {
        let mut at = &v;
        for part in path.split('.') {
            at = &at[part];
        }
        assert!(
            at.is_string(),
            "`{name}: {path}` is not in the log line {line}"
        );
    }
    let ts = v["timestamp"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(ts).is_ok(),
        "the timestamp stage reads RFC 3339: {ts}"
    );
    let (status, _) = bot.signal_and_wait("TERM");
    assert!(status.success());
}
