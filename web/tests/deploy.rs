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
            if ["deploy/certs", "backups"].contains(&path) {
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

#[test]
fn backups_decrypt_into_a_restorable_dump() {
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
    let backups = tempfile::tempdir().unwrap();
    let out = Command::new("sh")
        .arg(repo().join("deploy/backup/backup.sh"))
        .arg("--once")
        .env("DATABASE_URL", &db)
        .env("BACKUP_PASSPHRASE", "drill-passphrase")
        .env("BACKUP_DIR", backups.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files: Vec<_> = std::fs::read_dir(backups.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let file = &files[0];
    assert!(file.to_string_lossy().ends_with(".dump.enc"));
    let bytes = std::fs::read(file).unwrap();
    assert!(
        bytes.starts_with(b"Salted__"),
        "encrypted with openssl's salted format"
    );
    assert!(
        !bytes.windows(5).any(|w| w == b"PGDMP"),
        "the dump is not readable without the passphrase"
    );
    // The restore drill, minus the restore: decrypt and list the archive.
    let listed = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl enc -d -aes-256-cbc -pbkdf2 -iter 200000 -pass env:BACKUP_PASSPHRASE -in '{}' | pg_restore --list",
            file.display()
        ))
        .env("BACKUP_PASSPHRASE", "drill-passphrase")
        .output()
        .unwrap();
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
    let wrong = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl enc -d -aes-256-cbc -pbkdf2 -iter 200000 -pass pass:wrong -in '{}' | pg_restore --list",
            file.display()
        ))
        .output()
        .unwrap();
    assert!(
        !wrong.status.success(),
        "a wrong passphrase must not yield a dump"
    );
}
