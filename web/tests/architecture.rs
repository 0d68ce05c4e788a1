//! The rules of ARCHITECTURE.md, checked: which crate may depend on which,
//! and what the pure and runtime crates must never reach for. A new crate
//! fails here until it is given its rule.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

struct Rule {
    krate: &'static str,
    /// Workspace crates it may depend on (outside `dev-dependencies`).
    may_use: &'static [&'static str],
    /// Registry crates it must not depend on.
    never: &'static [&'static str],
}

/// I/O of any kind: the domain (`core`) and the backtester stay pure.
const IO: &[&str] = &[
    "tokio",
    "actix",
    "actix-rt",
    "actix-web",
    "actix-ws",
    "reqwest",
    "sea-orm",
    "deadpool-redis",
    "tokio-tungstenite",
    "teloxide",
    "lettre",
    "metrics",
    "tracing",
];

/// HTTP belongs to the shell (`web`).
const HTTP: &[&str] = &[
    "actix-web",
    "actix-ws",
    "actix-cors",
    "utoipa",
    "utoipa-swagger-ui",
    "jsonwebtoken",
];

const RULES: &[Rule] = &[
    Rule {
        krate: "core",
        may_use: &[],
        never: IO,
    },
    Rule {
        krate: "backtest",
        may_use: &["tradingbot-core"],
        never: IO,
    },
    Rule {
        krate: "migrations",
        may_use: &[],
        never: HTTP,
    },
    Rule {
        krate: "actors",
        may_use: &[
            "tradingbot-core",
            "tradingbot-backtest",
            "tradingbot-migrations",
        ],
        never: HTTP,
    },
    Rule {
        krate: "web",
        may_use: &[
            "tradingbot-core",
            "tradingbot-actors",
            "tradingbot-backtest",
            "tradingbot-migrations",
        ],
        never: &[],
    },
    // The local venues stand in for Binance and OKX: they know the wire
    // protocol (core's types), never the service's runtime.
    Rule {
        krate: "testkit",
        may_use: &["tradingbot-core"],
        never: &["sea-orm", "deadpool-redis", "teloxide"],
    },
    Rule {
        krate: "benches",
        may_use: &[
            "tradingbot-core",
            "tradingbot-actors",
            "tradingbot-testkit",
            "tradingbot-backtest",
        ],
        never: &[],
    },
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn manifest(dir: &Path) -> toml::Table {
    let text = std::fs::read_to_string(dir.join("Cargo.toml")).expect("Cargo.toml");
    text.parse().expect("valid TOML")
}

/// The names under `[dependencies]` (what ships, not what tests use).
fn dependencies(m: &toml::Table) -> BTreeSet<String> {
    m.get("dependencies")
        .and_then(|d| d.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn every_crate_depends_only_on_what_its_rule_allows() {
    let root = root();
    let workspace = manifest(&root);
    let members: BTreeSet<String> = workspace["workspace"]["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m.as_str().expect("a path").to_owned())
        .collect();
    let ruled: BTreeSet<String> = RULES.iter().map(|r| r.krate.to_owned()).collect();
    assert_eq!(
        members, ruled,
        "every workspace member has a rule here (and in ARCHITECTURE.md)"
    );
    let mut broken = Vec::new();
    for rule in RULES {
        let deps = dependencies(&manifest(&root.join(rule.krate)));
        for d in &deps {
            if d.starts_with("tradingbot-") && !rule.may_use.contains(&d.as_str()) {
                broken.push(format!("{} depends on {d}", rule.krate));
            }
            if rule.never.contains(&d.as_str()) {
                broken.push(format!("{} depends on {d}, which it must not", rule.krate));
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("a source folder") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Lines of `crate_dir/src` (below `under`) that contain `needle`, outside
/// comments.
fn mentions(crate_dir: &str, under: &str, needle: &str) -> Vec<String> {
    let mut files = Vec::new();
    sources(&root().join(crate_dir).join("src").join(under), &mut files);
    let mut found = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("source");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains(needle) {
                found.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn the_runtime_never_speaks_http() {
    // The runtime's refusals are typed (`Refusal`); the status each one
    // answers with is chosen in web, in one place.
    let mut found = Vec::new();
    for needle in ["StatusCode", "status: u16", "http::", "HttpResponse"] {
        found.extend(mentions("actors", "execution", needle));
    }
    for needle in ["tradingbot_web", "actix_web", "utoipa"] {
        found.extend(mentions("actors", "", needle));
        found.extend(mentions("core", "", needle));
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_domain_does_no_io() {
    let mut found = Vec::new();
    for needle in [
        "std::fs",
        "TcpStream",
        "TcpListener",
        "UdpSocket",
        "tokio::",
        "std::process",
        "std::env::var",
    ] {
        found.extend(mentions("core", "", needle));
    }
    // Tests in core may read files; the rule is for what ships.
    found.retain(|l| !l.contains("/tests/"));
    assert!(found.is_empty(), "{}", found.join("\n"));
}
