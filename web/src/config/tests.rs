//! Each kind of bad value gives an error naming its key and the reason.

use super::*;

fn sources(pairs: &[(&str, &str)]) -> Sources {
    Sources::new(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        None,
    )
    .unwrap()
}

fn err(pairs: &[(&str, &str)]) -> ConfigError {
    Config::from_sources(&sources(pairs)).expect_err("configuration should be refused")
}

const KEY_A: &str = "0000000000000000000000000000000000000000000000000000000000000001";
const KEY_B: &str = "0000000000000000000000000000000000000000000000000000000000000002";

#[test]
fn defaults_are_the_embedded_server() {
    let c = Config::from_sources(&sources(&[])).unwrap();
    assert_eq!(c.env, Environment::Development);
    assert_eq!(c.bind, "127.0.0.1:8001".parse().unwrap());
    assert_eq!(c.data_dir, PathBuf::from("./data"));
    assert_eq!(c.database_url, "sqlite://./data/tradingbot.db?mode=rwc");
    assert_eq!(c.database_backend, Backend::Sqlite);
    assert!(c.redis_url.is_none());
    assert!(c.jwt_secret.is_none() && c.master_key.is_none());
    assert!(c.public_url.is_none());
    assert_eq!(c.log_format, LogFormat::Text);
    assert_eq!(c.max_body_bytes, 65_536);
    assert_eq!(
        c.limits,
        RateLimits {
            per_ip: 60,
            per_user: 100,
            per_webhook: 10
        }
    );
    assert!(c.cors_origins.is_empty() && c.trusted_proxies.is_empty());
    assert!(c.smtp_url.is_none());
    assert_eq!(c.endpoints.binance_live_rest, "https://fapi.binance.com");
    assert_eq!(
        c.endpoints.okx_demo_ws_private,
        "wss://wspap.okx.com:8443/ws/v5/private"
    );
    assert!(!c.paper.live_feed);
    assert_eq!(c.paper.candle_secs, 60);
    // The runtime's own defaults (used by tests and tools that build
    // endpoints without a configuration) are the table's.
    assert_eq!(
        c.endpoints,
        tradingbot_actors::exchange::Endpoints::default()
    );
}

#[test]
fn choices_take_any_case_and_their_aliases() {
    let c = Config::from_sources(&sources(&[
        ("TRADINGBOT_LOG_FORMAT", " JSON "),
        ("TRADINGBOT_PAPER_FEED", "Binance"),
        ("TRADINGBOT_ENV", "Dev"),
    ]))
    .unwrap();
    assert_eq!(c.log_format, LogFormat::Json);
    assert!(c.paper.live_feed);
    assert_eq!(c.env, Environment::Development);
}

#[test]
fn lists_parse() {
    let c = Config::from_sources(&sources(&[
        (
            "TRADINGBOT_CORS_ORIGINS",
            "https://app.example.com, http://localhost:3000/",
        ),
        ("TRADINGBOT_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1 ,::1"),
    ]))
    .unwrap();
    assert_eq!(
        c.cors_origins,
        ["https://app.example.com", "http://localhost:3000"]
    );
    assert_eq!(c.trusted_proxies.len(), 3);
    assert!(c.trusted_proxies[1].contains(&"127.0.0.1".parse::<std::net::IpAddr>().unwrap()));
}

#[test]
fn data_dir_moves_the_default_database() {
    let c = Config::from_sources(&sources(&[("TRADINGBOT_DATA_DIR", "/tmp/tb-x")])).unwrap();
    assert_eq!(c.database_url, "sqlite:///tmp/tb-x/tradingbot.db?mode=rwc");
}

#[test]
fn bad_values_name_their_key_and_reason() {
    /// (environment, key named, words of the reason)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case] = &[
        (
            &[("TRADINGBOT_ENV", "staging")],
            "TRADINGBOT_ENV",
            "development",
        ),
        (
            &[("TRADINGBOT_LOG_FORMAT", "yaml")],
            "TRADINGBOT_LOG_FORMAT",
            "expected `text` or `json`",
        ),
        (
            &[("TRADINGBOT_MARKET_DATA", "bybit")],
            "TRADINGBOT_MARKET_DATA",
            "expected `binance` or `offline`",
        ),
        (
            &[("TRADINGBOT_ENV", "qa")],
            "TRADINGBOT_ENV",
            "expected `development` or `production`",
        ),
        (
            &[("TRADINGBOT_BIND", "8001")],
            "TRADINGBOT_BIND",
            "host:port",
        ),
        (
            &[("TRADINGBOT_BIND", "127.0.0.1:99999")],
            "TRADINGBOT_BIND",
            "host:port",
        ),
        (
            &[("DATABASE_URL", "mysql://x@h/db")],
            "DATABASE_URL",
            "unsupported scheme",
        ),
        (
            &[("DATABASE_URL", "not a url")],
            "DATABASE_URL",
            "not a URL",
        ),
        (
            &[("REDIS_URL", "http://127.0.0.1")],
            "REDIS_URL",
            "unsupported scheme",
        ),
        (
            &[("TRADINGBOT_REDIS_PREFIX", "tb prod")],
            "TRADINGBOT_REDIS_PREFIX",
            "letters, digits",
        ),
        (
            &[("TRADINGBOT_DATABASE_MAX_CONNECTIONS", "0")],
            "TRADINGBOT_DATABASE_MAX_CONNECTIONS",
            "between 1 and 1000",
        ),
        (
            &[("TRADINGBOT_DATABASE_MAX_CONNECTIONS", "ten")],
            "TRADINGBOT_DATABASE_MAX_CONNECTIONS",
            "whole number",
        ),
        (
            &[("TRADINGBOT_JWT_SECRET", "short")],
            "TRADINGBOT_JWT_SECRET",
            "not hex or base64",
        ),
        (
            &[("TRADINGBOT_JWT_SECRET", "abcd")],
            "TRADINGBOT_JWT_SECRET",
            "at least 32 bytes",
        ),
        (
            &[("TRADINGBOT_MASTER_KEY", "abcd")],
            "TRADINGBOT_MASTER_KEY",
            "exactly 32 bytes",
        ),
        (
            &[("TRADINGBOT_LOG_FORMAT", "xml")],
            "TRADINGBOT_LOG_FORMAT",
            "`text` or `json`",
        ),
        (&[("TRADINGBOT_LOG", "info,[[[")], "TRADINGBOT_LOG", ""),
        (
            &[("TRADINGBOT_MAX_BODY_BYTES", "10")],
            "TRADINGBOT_MAX_BODY_BYTES",
            "between",
        ),
        (
            &[("TRADINGBOT_WORKERS", "-1")],
            "TRADINGBOT_WORKERS",
            "whole number",
        ),
        (
            &[("TRADINGBOT_SHUTDOWN_TIMEOUT_SECS", "1h")],
            "TRADINGBOT_SHUTDOWN_TIMEOUT_SECS",
            "whole number",
        ),
        (
            &[("TRADINGBOT_PNL_ALERT_STEP_PCT", "0.01")],
            "TRADINGBOT_PNL_ALERT_STEP_PCT",
            "not a number between 0.1 and 100",
        ),
        (
            &[("TRADINGBOT_POSITION_UPDATE_MS", "5")],
            "TRADINGBOT_POSITION_UPDATE_MS",
            "between 100 and 60000",
        ),
        (
            &[("TRADINGBOT_PUBLIC_URL", "ftp://x")],
            "TRADINGBOT_PUBLIC_URL",
            "unsupported scheme",
        ),
    ];
    for (pairs, key, reason) in cases {
        let e = err(pairs);
        assert_eq!(e.key(), Some(*key), "{e}");
        let msg = e.to_string();
        assert!(msg.contains(key), "{msg}");
        assert!(msg.contains(reason), "{msg} should mention {reason:?}");
        assert!(msg.contains("(from environment)"), "{msg}");
    }
}

#[test]
fn secrets_are_never_echoed() {
    let secret = "this-is-a-secret-that-is-not-a-valid-key";
    let msg = err(&[("TRADINGBOT_JWT_SECRET", secret)]).to_string();
    assert!(!msg.contains(secret), "{msg}");
    let msg = err(&[("DATABASE_URL", "mysql://u:hunter2@h/db")]).to_string();
    assert!(!msg.contains("hunter2"), "{msg}");
}

#[test]
fn production_refuses_shortcuts() {
    let base = [
        ("TRADINGBOT_ENV", "production"),
        ("TRADINGBOT_BIND", "0.0.0.0:8001"),
        ("DATABASE_URL", "postgres://tb@127.0.0.1/tb"),
        ("TRADINGBOT_PUBLIC_URL", "https://bot.example.com"),
        ("TRADINGBOT_JWT_SECRET", KEY_A),
        ("TRADINGBOT_MASTER_KEY", KEY_B),
    ];
    let ok = Config::from_sources(&sources(&base)).unwrap();
    assert!(ok.is_production());
    assert_eq!(ok.public_url.as_deref(), Some("https://bot.example.com"));

    for missing in [
        "TRADINGBOT_BIND",
        "DATABASE_URL",
        "TRADINGBOT_PUBLIC_URL",
        "TRADINGBOT_JWT_SECRET",
        "TRADINGBOT_MASTER_KEY",
    ] {
        let pairs: Vec<_> = base
            .iter()
            .copied()
            .filter(|(k, _)| *k != missing)
            .collect();
        let e = err(&pairs);
        assert!(
            matches!(e, ConfigError::RequiredInProduction { key, .. } if key == missing),
            "{missing}: {e}"
        );
        assert!(e.to_string().contains("production"), "{e}");
    }

    let mut http = base.to_vec();
    http[3] = ("TRADINGBOT_PUBLIC_URL", "http://bot.example.com");
    assert_eq!(err(&http).key(), Some("TRADINGBOT_PUBLIC_URL"));

    let mut same = base.to_vec();
    same[5] = ("TRADINGBOT_MASTER_KEY", KEY_A);
    assert!(err(&same).to_string().contains("different"));
}

#[test]
fn file_values_apply_under_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tradingbot.toml");
    std::fs::write(
        &path,
        "bind = \"127.0.0.1:9000\"\nworkers = 3\nlog_format = \"json\"\n",
    )
    .unwrap();
    let env: HashMap<String, String> = [("TRADINGBOT_WORKERS".to_string(), "5".to_string())].into();
    let c = Config::from_sources(&Sources::new(env, Some(&path)).unwrap()).unwrap();
    assert_eq!(c.bind.port(), 9000);
    assert_eq!(c.workers, 5, "the environment wins over the file");
    assert_eq!(c.log_format, LogFormat::Json);

    // TRADINGBOT_CONFIG names the file when no path is passed.
    let env: HashMap<String, String> =
        [("TRADINGBOT_CONFIG".to_string(), path.display().to_string())].into();
    let c = Config::from_sources(&Sources::new(env, None).unwrap()).unwrap();
    assert_eq!(c.bind.port(), 9000);
}

#[test]
fn file_errors_name_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");

    std::fs::write(&path, "bnd = \"127.0.0.1:9000\"\n").unwrap();
    let e = Sources::new(HashMap::new(), Some(&path)).err().unwrap();
    assert!(
        matches!(&e, ConfigError::UnknownFileKey { key, .. } if key == "bnd"),
        "{e}"
    );

    std::fs::write(&path, "bind = [1, 2]\n").unwrap();
    let e = Sources::new(HashMap::new(), Some(&path)).err().unwrap();
    assert!(e.to_string().contains("bind"), "{e}");

    std::fs::write(&path, "bind = \n").unwrap();
    let e = Sources::new(HashMap::new(), Some(&path)).err().unwrap();
    assert!(e.to_string().contains("bad.toml"), "{e}");

    std::fs::write(&path, "max_body_bytes = 5\n").unwrap();
    let e = Config::from_sources(&Sources::new(HashMap::new(), Some(&path)).unwrap()).unwrap_err();
    assert_eq!(e.key(), Some("TRADINGBOT_MAX_BODY_BYTES"));
    assert!(e.to_string().contains("bad.toml"), "{e}");

    let missing = dir.path().join("missing.toml");
    let e = Sources::new(HashMap::new(), Some(&missing)).err().unwrap();
    assert!(e.to_string().contains("missing.toml"), "{e}");
}

#[test]
fn redacts_passwords_in_urls() {
    assert_eq!(
        redact_url("postgres://tb:hunter2@db:5432/tb"),
        "postgres://tb:***@db:5432/tb"
    );
    assert_eq!(
        redact_url("redis://:pw@127.0.0.1:6379/0"),
        "redis://:***@127.0.0.1:6379/0"
    );
    assert_eq!(redact_url("postgres://tb@db/tb"), "postgres://tb@db/tb");
    assert_eq!(redact_url("sqlite://./data/x.db"), "sqlite://./data/x.db");
}

/// A value each kind of key must refuse.
fn refused_by(value: &keys::Value) -> &'static str {
    use keys::Value::*;
    match value {
        Whole { .. } | Decimal { .. } => "99999999999999999999",
        Choice(_) => "neither-of-them",
        Url(_) | Origins => "ftp://example.com",
        Address => "nowhere",
        Name => "a b",
        Secret { .. } => "not a key",
        LogFilter => "a=b=c[",
        Email => "nobody",
        Networks { .. } => "300.1.1.1",
        Text => "\u{7}",
        // Anything goes (an API key is the provider's business).
        Token | Directory => "",
    }
}

#[test]
fn every_key_is_checked_by_the_values_the_table_gives_it() {
    for key in keys::ALL {
        let bad = refused_by(&key.value);
        if bad.is_empty() {
            continue;
        }
        let e = err(&[(key.env, bad)]);
        assert_eq!(e.key(), Some(key.env), "{}: {e}", key.env);
        let range = match key.value {
            keys::Value::Whole { min, max } => Some((min.to_string(), max.to_string())),
            keys::Value::Decimal { min, max } => Some((min.to_owned(), max.to_owned())),
            _ => None,
        };
        if let Some((min, max)) = range {
            assert!(
                e.to_string().contains(&min) && e.to_string().contains(&max),
                "{}: the error names the range: {e}",
                key.env
            );
            // The bounds themselves are taken (a key that also has a rule
            // of its own, like dividing a day, keeps it).
            for edge in [min, max] {
                match Config::from_sources(&sources(&[(key.env, &edge)])) {
                    Ok(_) => {}
                    Err(e) => assert_eq!(key.env, "TRADINGBOT_EQUITY_SNAPSHOT_SECS", "{e}"),
                }
            }
        }
        if let keys::Value::Choice(groups) = key.value {
            for word in groups.iter().flat_map(|g| g.iter()) {
                // Taken (production then asks for its own keys).
                if let Err(e) = Config::from_sources(&sources(&[(key.env, &word.to_uppercase())])) {
                    assert_ne!(e.key(), Some(key.env), "{word}: {e}");
                }
            }
        }
    }
}

#[test]
fn production_requires_what_the_table_says() {
    let required: Vec<&str> = keys::ALL
        .iter()
        .filter(|k| k.production != keys::Production::Same)
        .map(|k| k.env)
        .collect();
    assert_eq!(
        required,
        [
            "TRADINGBOT_BIND",
            "TRADINGBOT_PUBLIC_URL",
            "DATABASE_URL",
            "TRADINGBOT_JWT_SECRET",
            "TRADINGBOT_MASTER_KEY"
        ],
        "production_refuses_shortcuts covers each of these"
    );
}

/// README's configuration table is printed from the key table; with
/// `TRADINGBOT_BLESS=1` this test writes it into README.md.
#[test]
fn readme_table_is_the_key_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let header = "| environment variable | TOML key |";
    let start = readme
        .find(header)
        .expect("README has the configuration table");
    let end = readme[start..]
        .find("\n\n")
        .map_or(readme.len(), |i| start + i + 1);
    let table = keys::markdown_table();
    if readme[start..end] != table {
        if std::env::var_os("TRADINGBOT_BLESS").is_some() {
            let updated = format!("{}{}{}", &readme[..start], table, &readme[end..]);
            std::fs::write(path, updated).unwrap();
        } else {
            panic!(
                "README.md's configuration table differs from web/src/config/keys.rs; \
                 run with TRADINGBOT_BLESS=1 to print it there"
            );
        }
    }
}
