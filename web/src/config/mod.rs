//! Configuration: one typed [`Config`] read from environment variables and an
//! optional TOML file, with defaults that make the embedded server useful out
//! of the box.
//!
//! Precedence: environment, then file, then default. A bad value stops the
//! start with a [`ConfigError`] naming the key, where the value came from and
//! why it is wrong (secrets are never echoed).

pub mod keys;
pub mod secrets;

use keys::Key;
use rust_decimal::Decimal;
use secrecy::{ExposeSecret, SecretSlice};
use std::collections::HashMap;
use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tradingbot_actors::store::Backend;

/// Where a value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Environment,
    File(PathBuf),
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Environment => f.write_str("environment"),
            Origin::File(p) => write!(f, "config file {}", p.display()),
            Origin::Default => f.write_str("default"),
        }
    }
}

/// Why the configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid {key} (from {origin}){shown}: {reason}")]
    Invalid {
        key: &'static str,
        origin: Origin,
        /// ` = "value"`, or empty for secrets.
        shown: String,
        reason: String,
    },
    #[error("{key} is required when TRADINGBOT_ENV=production: {reason}")]
    RequiredInProduction { key: &'static str, reason: String },
    #[error("cannot read config file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("unknown key `{key}` in config file {path} (known keys: {known})")]
    UnknownFileKey {
        key: String,
        path: PathBuf,
        known: String,
    },
    #[error("{0}")]
    Secret(String),
}

impl ConfigError {
    /// The environment variable the error is about, when there is one.
    pub fn key(&self) -> Option<&'static str> {
        match self {
            ConfigError::Invalid { key, .. } | ConfigError::RequiredInProduction { key, .. } => {
                Some(key)
            }
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// A secret given in the configuration.
pub type SecretBytes = SecretSlice<u8>;

/// The whole configuration of one process.
pub struct Config {
    pub env: Environment,
    pub bind: SocketAddr,
    /// Whether `bind` was given rather than defaulted.
    pub bind_explicit: bool,
    /// `None`: derived from the address actually bound (development only).
    pub public_url: Option<String>,
    /// Where the other instances reach this one (`None`: from the bind address).
    pub internal_url: Option<String>,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub database_backend: Backend,
    pub database_max_connections: u32,
    pub redis_url: Option<String>,
    pub redis_prefix: String,
    /// `None`: generate (development) into the data directory.
    pub jwt_secret: Option<SecretBytes>,
    /// `None`: generate (development) into the data directory.
    pub master_key: Option<SecretBytes>,
    pub log: String,
    pub log_format: LogFormat,
    pub max_body_bytes: usize,
    pub workers: usize,
    pub shutdown_timeout: Duration,
    /// `None`: the public URL.
    pub frontend_url: Option<String>,
    pub smtp_url: Option<String>,
    pub smtp_from: String,
    pub cors_origins: Vec<String>,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub limits: RateLimits,
    /// Empty: any sender.
    pub webhook_allowed_ips: Vec<ipnet::IpNet>,
    pub execution_shards: usize,
    /// Pace of the position monitor: `position_update` throttle, PnL alert step.
    pub monitor: tradingbot_actors::execution::monitor::MonitorSettings,
    pub endpoints: tradingbot_actors::exchange::Endpoints,
    /// The Bot API base URL (a local server in tests).
    pub telegram_api_url: String,
    pub paper: PaperSettings,
    /// Analysis uses only the bundled candles (no klines requests).
    pub market_data_offline: bool,
    pub ai: AiSettings,
    pub balance_refresh: Duration,
    /// Between equity snapshots; divides a day.
    pub equity_snapshot: Duration,
    /// How long refused and duplicate signals are kept (`None`: forever).
    pub signal_retention: Option<Duration>,
    /// How long notifications are kept (`None`: forever).
    pub notification_retention: Option<Duration>,
    /// When an address failing sign-ins across accounts is blocked.
    pub source_policy: tradingbot_core::identity::lockout::SourcePolicy,
    pub login_attempts_per_ip: u32,
    /// Where errors are reported (holds a key: never printed).
    pub sentry_dsn: Option<String>,
}

/// The addresses TradingView sends webhooks from, as it publishes them.
pub const TRADINGVIEW_SENDERS: [&str; 4] = [
    "52.89.214.238",
    "34.212.75.30",
    "54.218.53.128",
    "52.32.178.7",
];

/// The AI advisor's providers and limits.
#[derive(Clone)]
pub struct AiSettings {
    pub openai_key: Option<zeroize::Zeroizing<String>>,
    pub openai_base_url: String,
    pub openai_model: String,
    pub anthropic_key: Option<zeroize::Zeroizing<String>>,
    pub anthropic_base_url: String,
    pub anthropic_model: String,
    pub timeout: Duration,
    pub monthly_tokens: u64,
    pub calls_per_minute: u32,
    pub cache_for: Duration,
    pub watch_every: Duration,
}

impl fmt::Debug for AiSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AiSettings")
            .field("openai_key", &self.openai_key.as_ref().map(|_| "<set>"))
            .field("openai_base_url", &self.openai_base_url)
            .field("openai_model", &self.openai_model)
            .field(
                "anthropic_key",
                &self.anthropic_key.as_ref().map(|_| "<set>"),
            )
            .field("anthropic_base_url", &self.anthropic_base_url)
            .field("anthropic_model", &self.anthropic_model)
            .field("timeout", &self.timeout)
            .field("monthly_tokens", &self.monthly_tokens)
            .field("calls_per_minute", &self.calls_per_minute)
            .field("cache_for", &self.cache_for)
            .field("watch_every", &self.watch_every)
            .finish()
    }
}

/// The paper exchange's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaperSettings {
    /// Follow Binance's live mark prices (else replay the bundled candles).
    pub live_feed: bool,
    pub candle_secs: u64,
    pub balance: rust_decimal::Decimal,
    pub slippage_bps: rust_decimal::Decimal,
}

/// Request budgets per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub per_ip: u32,
    pub per_user: u32,
    pub per_webhook: u32,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("env", &self.env)
            .field("bind", &self.bind)
            .field("public_url", &self.public_url)
            .field("internal_url", &self.internal_url)
            .field("data_dir", &self.data_dir)
            .field("database_url", &redact_url(&self.database_url))
            .field("database_max_connections", &self.database_max_connections)
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("redis_prefix", &self.redis_prefix)
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "<set>"))
            .field("master_key", &self.master_key.as_ref().map(|_| "<set>"))
            .field("log", &self.log)
            .field("log_format", &self.log_format)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("workers", &self.workers)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("frontend_url", &self.frontend_url)
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("smtp_from", &self.smtp_from)
            .field("cors_origins", &self.cors_origins)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("webhook_allowed_ips", &self.webhook_allowed_ips)
            .field("execution_shards", &self.execution_shards)
            .field("monitor", &self.monitor)
            .field("telegram_api_url", &self.telegram_api_url)
            .field("limits", &self.limits)
            .field("endpoints", &self.endpoints)
            .field("paper", &self.paper)
            .field("market_data_offline", &self.market_data_offline)
            .field("ai", &self.ai)
            .field("balance_refresh", &self.balance_refresh)
            .field("equity_snapshot", &self.equity_snapshot)
            .field("signal_retention", &self.signal_retention)
            .field("notification_retention", &self.notification_retention)
            .field("source_policy", &self.source_policy)
            .field("login_attempts_per_ip", &self.login_attempts_per_ip)
            .field("sentry_dsn", &self.sentry_dsn.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// `scheme://user:password@host/…` with the password replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_owned()
            };
            format!(
                "{}{}{}",
                &url[..scheme_end],
                masked,
                &url[scheme_end + at..]
            )
        }
        None => url.to_owned(),
    }
}

/// The raw values: environment variables and, optionally, a TOML file.
pub struct Sources {
    env: HashMap<String, String>,
    file: HashMap<String, String>,
    file_path: Option<PathBuf>,
}

impl Sources {
    /// Reads the file at `path` (when given) next to the environment `env`.
    pub fn new(env: HashMap<String, String>, path: Option<&Path>) -> Result<Self, ConfigError> {
        let path = path
            .map(Path::to_path_buf)
            .or_else(|| env.get("TRADINGBOT_CONFIG").map(PathBuf::from));
        let file = match &path {
            Some(p) => read_toml(p)?,
            None => HashMap::new(),
        };
        Ok(Self {
            env,
            file,
            file_path: path,
        })
    }

    /// The process's environment and the file it names.
    pub fn from_process(path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::new(std::env::vars().collect(), path)
    }

    fn get(&self, key: &Key) -> Option<(String, Origin)> {
        if let Some(v) = self.env.get(key.env).filter(|v| !v.is_empty()) {
            return Some((v.clone(), Origin::Environment));
        }
        let path = self.file_path.clone()?;
        self.file
            .get(key.toml)
            .map(|v| (v.clone(), Origin::File(path)))
    }
}

fn read_toml(path: &Path) -> Result<HashMap<String, String>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::File {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let mut out = HashMap::new();
    for (name, value) in table {
        if !keys::ALL.iter().any(|k| k.toml == name) {
            return Err(ConfigError::UnknownFileKey {
                key: name,
                path: path.to_owned(),
                known: keys::ALL
                    .iter()
                    .map(|k| k.toml)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(ConfigError::File {
                    path: path.to_owned(),
                    reason: format!(
                        "`{name}` must be a string or a number, not {}",
                        other.type_str()
                    ),
                });
            }
        };
        out.insert(name, text);
    }
    Ok(out)
}

fn invalid(key: &Key, origin: Origin, value: &str, reason: impl Into<String>) -> ConfigError {
    let shown = if key.secret {
        String::new()
    } else {
        format!(" = {value:?}")
    };
    ConfigError::Invalid {
        key: key.env,
        origin,
        shown,
        reason: reason.into(),
    }
}

/// One word of a closed set (any case), defaulting to the key table's.
/// Several words may mean the same value (`prod`); the error names the
/// first word of each value.
fn parse_choice<T: Copy + PartialEq>(
    sources: &Sources,
    key: &Key,
    choices: &[(&str, T)],
) -> Result<T, ConfigError> {
    let pick = |word: &str| {
        choices
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(word))
            .map(|(_, v)| *v)
    };
    let Some((raw, origin)) = sources.get(key) else {
        return Ok(pick(key.default)
            .unwrap_or_else(|| panic!("{}: the key table's default is not a choice", key.env)));
    };
    pick(raw.trim()).ok_or_else(|| {
        let mut shown: Vec<String> = Vec::new();
        let mut seen: Vec<T> = Vec::new();
        for (name, v) in choices {
            if !seen.contains(v) {
                seen.push(*v);
                shown.push(format!("`{name}`"));
            }
        }
        let list = match shown.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => shown.concat(),
        };
        invalid(key, origin, &raw, format!("expected {list}"))
    })
}

/// A comma-separated list of IP addresses and CIDR ranges; `named` lists
/// stand for their addresses (`tradingview`).
fn parse_networks(
    sources: &Sources,
    key: &Key,
    named: &[(&str, &[&str])],
) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    let Some((raw, origin)) = sources.get(key) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for p in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some((_, addresses)) = named.iter().find(|(n, _)| p.eq_ignore_ascii_case(n)) {
            for ip in *addresses {
                out.push(ipnet::IpNet::from(
                    ip.parse::<std::net::IpAddr>().expect("a valid address"),
                ));
            }
            continue;
        }
        let net = p
            .parse::<ipnet::IpNet>()
            .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| {
                let names: String = named.iter().map(|(n, _)| format!(" or `{n}`")).collect();
                let what = if names.is_empty() {
                    "an IP address or CIDR range".to_owned()
                } else {
                    format!("an IP address, CIDR range{names}")
                };
                invalid(key, origin.clone(), &raw, format!("`{p}` is not {what}"))
            })?;
        out.push(net);
    }
    Ok(out)
}

/// A whole number in `range`, defaulting to what the key table shows (the
/// default is written once, there).
fn parse_number<T>(
    sources: &Sources,
    key: &Key,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    let default = key
        .default
        .parse()
        .unwrap_or_else(|_| panic!("{}: the key table's default is not a number", key.env));
    parse_number_or(sources, key, default, range)
}

/// A whole number in `range`, with a default computed at start (the table
/// describes it in words).
fn parse_number_or<T>(
    sources: &Sources,
    key: &Key,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    let Some((raw, origin)) = sources.get(key) else {
        return Ok(default);
    };
    let value: T = raw.trim().parse().map_err(|_| {
        invalid(
            key,
            origin.clone(),
            &raw,
            format!(
                "not a whole number between {} and {}",
                range.start(),
                range.end()
            ),
        )
    })?;
    if !range.contains(&value) {
        return Err(invalid(
            key,
            origin,
            &raw,
            format!("must be between {} and {}", range.start(), range.end()),
        ));
    }
    Ok(value)
}

/// A decimal in `range`, defaulting to what the key table shows.
fn parse_decimal(
    sources: &Sources,
    key: &Key,
    range: std::ops::RangeInclusive<Decimal>,
) -> Result<Decimal, ConfigError> {
    let Some((raw, origin)) = sources.get(key) else {
        return Ok(key
            .default
            .parse()
            .unwrap_or_else(|_| panic!("{}: the key table's default is not a number", key.env)));
    };
    match raw.trim().parse::<Decimal>() {
        Ok(v) if range.contains(&v) => Ok(v),
        _ => Err(invalid(
            key,
            origin,
            &raw,
            format!("not a number between {} and {}", range.start(), range.end()),
        )),
    }
}

fn parse_secret(
    sources: &Sources,
    key: &Key,
    exact_len: Option<usize>,
) -> Result<Option<SecretBytes>, ConfigError> {
    let Some((raw, origin)) = sources.get(key) else {
        return Ok(None);
    };
    let bytes = secrets::decode_key(raw.trim()).ok_or_else(|| {
        invalid(
            key,
            origin.clone(),
            "",
            "not hex or base64 (generate one with `openssl rand -hex 32`)",
        )
    })?;
    match exact_len {
        Some(n) if bytes.len() != n => Err(invalid(
            key,
            origin,
            "",
            format!("must decode to exactly {n} bytes, got {}", bytes.len()),
        )),
        None if bytes.len() < 32 => Err(invalid(
            key,
            origin,
            "",
            format!("must decode to at least 32 bytes, got {}", bytes.len()),
        )),
        _ => Ok(Some(SecretSlice::from(bytes))),
    }
}

fn parse_bind(raw: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = raw.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if !raw.contains(':') {
        return Err("expected host:port, such as 127.0.0.1:8001".into());
    }
    raw.to_socket_addrs()
        .map_err(|e| format!("expected host:port, such as 127.0.0.1:8001 ({e})"))?
        .next()
        .ok_or_else(|| "the host name resolves to no address".into())
}

fn parse_url(raw: &str, schemes: &[&str]) -> Result<(), String> {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return Err(format!(
            "not a URL (expected {}://…)",
            schemes.join("://… or ")
        ));
    };
    if !schemes.contains(&scheme) {
        return Err(format!(
            "unsupported scheme `{scheme}` (expected {})",
            schemes.join(" or ")
        ));
    }
    if rest.is_empty() || rest.starts_with('/') && !matches!(scheme, "sqlite") {
        return Err("the URL has no host".into());
    }
    if raw.chars().any(char::is_whitespace) {
        return Err("the URL contains whitespace".into());
    }
    Ok(())
}

impl Config {
    /// Builds the configuration from `sources`, applying defaults and every
    /// validation rule, including production's stricter ones.
    pub fn from_sources(sources: &Sources) -> Result<Self, ConfigError> {
        let env = parse_choice(
            sources,
            &keys::ENV,
            &[
                ("development", Environment::Development),
                ("dev", Environment::Development),
                ("production", Environment::Production),
                ("prod", Environment::Production),
            ],
        )?;
        let production = env == Environment::Production;

        let (bind, bind_explicit) = match sources.get(&keys::BIND) {
            None => ("127.0.0.1:8001".parse().expect("valid default"), false),
            Some((raw, origin)) => (
                parse_bind(raw.trim()).map_err(|r| invalid(&keys::BIND, origin, &raw, r))?,
                true,
            ),
        };
        if production && !bind_explicit {
            return Err(ConfigError::RequiredInProduction {
                key: keys::BIND.env,
                reason: "choose the listen address explicitly".into(),
            });
        }

        let data_dir = match sources.get(&keys::DATA_DIR) {
            None => PathBuf::from("./data"),
            Some((raw, origin)) => {
                let p = PathBuf::from(raw.trim());
                if p.exists() && !p.is_dir() {
                    return Err(invalid(
                        &keys::DATA_DIR,
                        origin,
                        &raw,
                        "exists and is not a directory",
                    ));
                }
                p
            }
        };

        let database_url = match sources.get(&keys::DATABASE_URL) {
            None if production => {
                return Err(ConfigError::RequiredInProduction {
                    key: keys::DATABASE_URL.env,
                    reason: "point it at PostgreSQL (postgres://…) or an explicit sqlite:// file"
                        .into(),
                });
            }
            None => format!("sqlite://{}/tradingbot.db?mode=rwc", data_dir.display()),
            Some((raw, origin)) => {
                let raw = raw.trim().to_owned();
                parse_url(&raw, &["sqlite", "postgres", "postgresql"])
                    .map_err(|r| invalid(&keys::DATABASE_URL, origin, &raw, r))?;
                raw
            }
        };
        let database_backend = Backend::from_url(&database_url).expect("scheme checked above");

        let database_max_connections =
            parse_number::<u32>(sources, &keys::DATABASE_MAX_CONNECTIONS, 1..=1000)?;

        let redis_url = match sources.get(&keys::REDIS_URL) {
            None => None,
            Some((raw, origin)) => {
                let raw = raw.trim().to_owned();
                parse_url(&raw, &["redis", "rediss"])
                    .map_err(|r| invalid(&keys::REDIS_URL, origin, &raw, r))?;
                Some(raw)
            }
        };

        let redis_prefix = match sources.get(&keys::REDIS_PREFIX) {
            None => "tb".to_owned(),
            Some((raw, origin)) => {
                let p = raw.trim();
                let ok = !p.is_empty()
                    && p.len() <= 64
                    && p.bytes()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'));
                if !ok {
                    return Err(invalid(
                        &keys::REDIS_PREFIX,
                        origin,
                        &raw,
                        "expected 1–64 letters, digits, '-', '_' or '.'",
                    ));
                }
                p.to_owned()
            }
        };

        let jwt_secret = parse_secret(sources, &keys::JWT_SECRET, None)?;
        let master_key = parse_secret(sources, &keys::MASTER_KEY, Some(32))?;
        if production {
            for (key, given) in [
                (&keys::JWT_SECRET, jwt_secret.is_some()),
                (&keys::MASTER_KEY, master_key.is_some()),
            ] {
                if !given {
                    return Err(ConfigError::RequiredInProduction {
                        key: key.env,
                        reason: "generated secrets are for development only".into(),
                    });
                }
            }
            if let (Some(a), Some(b)) = (&jwt_secret, &master_key)
                && a.expose_secret() == b.expose_secret()
            {
                return Err(ConfigError::Secret(
                    "TRADINGBOT_JWT_SECRET and TRADINGBOT_MASTER_KEY must be different keys".into(),
                ));
            }
        }

        let internal_url = match sources.get(&keys::INTERNAL_URL) {
            None => None,
            Some((raw, origin)) => {
                let url = raw.trim().trim_end_matches('/').to_owned();
                parse_url(&url, &["http", "https"])
                    .map_err(|r| invalid(&keys::INTERNAL_URL, origin, &raw, r))?;
                Some(url)
            }
        };
        let public_url = match sources.get(&keys::PUBLIC_URL) {
            None if production => {
                return Err(ConfigError::RequiredInProduction {
                    key: keys::PUBLIC_URL.env,
                    reason: "TradingView must reach the webhook at an https:// address".into(),
                });
            }
            None => None,
            Some((raw, origin)) => {
                let url = raw.trim().trim_end_matches('/').to_owned();
                let allowed: &[&str] = if production {
                    &["https"]
                } else {
                    &["http", "https"]
                };
                parse_url(&url, allowed)
                    .map_err(|r| invalid(&keys::PUBLIC_URL, origin, &raw, r))?;
                Some(url)
            }
        };

        let log = match sources.get(&keys::LOG) {
            None => "info".to_owned(),
            Some((raw, origin)) => {
                tracing_subscriber::EnvFilter::try_new(raw.trim())
                    .map_err(|e| invalid(&keys::LOG, origin, &raw, e.to_string()))?;
                raw.trim().to_owned()
            }
        };
        let log_format = parse_choice(
            sources,
            &keys::LOG_FORMAT,
            &[("text", LogFormat::Text), ("json", LogFormat::Json)],
        )?;

        let max_body_bytes =
            parse_number::<usize>(sources, &keys::MAX_BODY_BYTES, 1_024..=16 * 1024 * 1024)?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let workers = parse_number_or(sources, &keys::WORKERS, cores, 1..=256)?;
        let shutdown_timeout_secs =
            parse_number::<u64>(sources, &keys::SHUTDOWN_TIMEOUT_SECS, 0..=3600)?;

        let frontend_url = match sources.get(&keys::FRONTEND_URL) {
            None => None,
            Some((raw, origin)) => {
                let url = raw.trim().trim_end_matches('/').to_owned();
                parse_url(&url, &["http", "https"])
                    .map_err(|r| invalid(&keys::FRONTEND_URL, origin, &raw, r))?;
                Some(url)
            }
        };
        let smtp_url = match sources.get(&keys::SMTP_URL) {
            None => None,
            Some((raw, origin)) => {
                let raw = raw.trim().to_owned();
                parse_url(&raw, &["smtp", "smtps"])
                    .map_err(|r| invalid(&keys::SMTP_URL, origin, &raw, r))?;
                Some(raw)
            }
        };
        let smtp_from = match sources.get(&keys::SMTP_FROM) {
            None => "TradingBot <no-reply@tradingbot.local>".to_owned(),
            Some((raw, origin)) => {
                let v = raw.trim().to_owned();
                if !v.contains('@') || v.contains(['\r', '\n']) {
                    return Err(invalid(
                        &keys::SMTP_FROM,
                        origin,
                        &raw,
                        "not an email address",
                    ));
                }
                v
            }
        };
        let cors_origins = match sources.get(&keys::CORS_ORIGINS) {
            None => Vec::new(),
            Some((raw, origin)) => {
                let mut out = Vec::new();
                for o in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
                    let o = o.trim_end_matches('/');
                    parse_url(o, &["http", "https"]).map_err(|r| {
                        invalid(
                            &keys::CORS_ORIGINS,
                            origin.clone(),
                            &raw,
                            format!("`{o}`: {r}"),
                        )
                    })?;
                    if o.splitn(4, '/').nth(3).is_some() {
                        return Err(invalid(
                            &keys::CORS_ORIGINS,
                            origin,
                            &raw,
                            format!("`{o}` is not an origin (scheme://host[:port], no path)"),
                        ));
                    }
                    out.push(o.to_owned());
                }
                out
            }
        };
        let trusted_proxies = parse_networks(sources, &keys::TRUSTED_PROXIES, &[])?;
        let webhook_allowed_ips = parse_networks(
            sources,
            &keys::WEBHOOK_ALLOWED_IPS,
            &[("tradingview", &TRADINGVIEW_SENDERS)],
        )?;
        let execution_shards = parse_number_or(sources, &keys::EXECUTION_SHARDS, cores, 1..=256)?;
        let monitor = tradingbot_actors::execution::monitor::MonitorSettings {
            throttle: Duration::from_millis(parse_number::<u64>(
                sources,
                &keys::POSITION_UPDATE_MS,
                100..=60_000,
            )?),
            step_pct: parse_decimal(
                sources,
                &keys::PNL_ALERT_STEP_PCT,
                Decimal::new(1, 1)..=Decimal::ONE_HUNDRED,
            )?,
            ..Default::default()
        };
        let limits = RateLimits {
            per_ip: parse_number::<u32>(sources, &keys::RATE_LIMIT_IP, 1..=1_000_000)?,
            per_user: parse_number::<u32>(sources, &keys::RATE_LIMIT_USER, 1..=1_000_000)?,
            per_webhook: parse_number::<u32>(sources, &keys::RATE_LIMIT_WEBHOOK, 1..=1_000_000)?,
        };

        // Defaults are the key table's.
        let url_key = |key: &Key, schemes: &[&str]| -> Result<String, ConfigError> {
            match sources.get(key) {
                None => Ok(key.default.to_owned()),
                Some((raw, origin)) => {
                    let url = raw.trim().trim_end_matches('/').to_owned();
                    parse_url(&url, schemes).map_err(|r| invalid(key, origin, &raw, r))?;
                    Ok(url)
                }
            }
        };
        let http: &[&str] = &["https", "http"];
        let ws: &[&str] = &["wss", "ws"];
        let endpoints = tradingbot_actors::exchange::Endpoints {
            binance_live_rest: url_key(&keys::BINANCE_LIVE_REST_URL, http)?,
            binance_live_ws_api: url_key(&keys::BINANCE_LIVE_WS_API_URL, ws)?,
            binance_live_stream: url_key(&keys::BINANCE_LIVE_STREAM_URL, ws)?,
            binance_testnet_rest: url_key(&keys::BINANCE_TESTNET_REST_URL, http)?,
            binance_testnet_ws_api: url_key(&keys::BINANCE_TESTNET_WS_API_URL, ws)?,
            binance_testnet_stream: url_key(&keys::BINANCE_TESTNET_STREAM_URL, ws)?,
            okx_live_rest: url_key(&keys::OKX_LIVE_REST_URL, http)?,
            okx_live_ws_public: url_key(&keys::OKX_LIVE_WS_PUBLIC_URL, ws)?,
            okx_live_ws_private: url_key(&keys::OKX_LIVE_WS_PRIVATE_URL, ws)?,
            okx_demo_rest: url_key(&keys::OKX_DEMO_REST_URL, http)?,
            okx_demo_ws_public: url_key(&keys::OKX_DEMO_WS_PUBLIC_URL, ws)?,
            okx_demo_ws_private: url_key(&keys::OKX_DEMO_WS_PRIVATE_URL, ws)?,
        };
        let telegram_api_url = url_key(&keys::TELEGRAM_API_URL, http)?;
        let live_feed = parse_choice(
            sources,
            &keys::PAPER_FEED,
            &[("replay", false), ("binance", true)],
        )?;
        let market_data_offline = parse_choice(
            sources,
            &keys::MARKET_DATA,
            &[("binance", false), ("offline", true)],
        )?;
        let secret_text = |key: &Key| {
            sources
                .get(key)
                .map(|(raw, _)| raw.trim().to_owned())
                .filter(|v| !v.is_empty())
                .map(zeroize::Zeroizing::new)
        };
        let text = |key: &Key| -> Result<String, ConfigError> {
            match sources.get(key) {
                None => Ok(key.default.to_owned()),
                Some((raw, origin)) => {
                    let v = raw.trim().to_owned();
                    if v.is_empty() || v.len() > 200 || v.chars().any(char::is_control) {
                        return Err(invalid(key, origin, &raw, "a model name"));
                    }
                    Ok(v)
                }
            }
        };
        let ai = AiSettings {
            openai_key: secret_text(&keys::OPENAI_API_KEY),
            openai_base_url: url_key(&keys::OPENAI_BASE_URL, http)?,
            openai_model: text(&keys::OPENAI_MODEL)?,
            anthropic_key: secret_text(&keys::ANTHROPIC_API_KEY),
            anthropic_base_url: url_key(&keys::ANTHROPIC_BASE_URL, http)?,
            anthropic_model: text(&keys::ANTHROPIC_MODEL)?,
            timeout: Duration::from_secs(parse_number::<u64>(
                sources,
                &keys::AI_TIMEOUT_SECS,
                1..=120,
            )?),
            monthly_tokens: parse_number::<u64>(
                sources,
                &keys::AI_MONTHLY_TOKENS,
                0..=10_000_000_000,
            )?,
            calls_per_minute: parse_number::<u32>(sources, &keys::AI_CALLS_PER_MINUTE, 1..=1000)?,
            cache_for: Duration::from_secs(parse_number::<u64>(
                sources,
                &keys::AI_CACHE_SECS,
                0..=86_400,
            )?),
            watch_every: Duration::from_secs(parse_number::<u64>(
                sources,
                &keys::AI_WATCH_SECS,
                1..=86_400,
            )?),
        };
        let balance_refresh = Duration::from_secs(parse_number::<u64>(
            sources,
            &keys::BALANCE_REFRESH_SECS,
            1..=3600,
        )?);
        let equity_every = parse_number::<u64>(sources, &keys::EQUITY_SNAPSHOT_SECS, 1..=86_400)?;
        if 86_400 % equity_every != 0 {
            let (raw, origin) = sources
                .get(&keys::EQUITY_SNAPSHOT_SECS)
                .unwrap_or_else(|| (equity_every.to_string(), Origin::Default));
            return Err(invalid(
                &keys::EQUITY_SNAPSHOT_SECS,
                origin,
                &raw,
                "must divide a day (86400 s): 60, 300, 900, 3600, 86400, …",
            ));
        }
        let equity_snapshot = Duration::from_secs(equity_every);
        let login_attempts_per_ip =
            parse_number::<u32>(sources, &keys::LOGIN_ATTEMPTS_PER_IP, 1..=1_000_000)?;
        let notification_retention =
            match parse_number::<u64>(sources, &keys::NOTIFICATION_RETENTION_DAYS, 0..=36_500)? {
                0 => None,
                days => Some(Duration::from_secs(days * 86_400)),
            };
        let signal_retention =
            match parse_number::<u64>(sources, &keys::SIGNAL_RETENTION_DAYS, 0..=36_500)? {
                0 => None,
                days => Some(Duration::from_secs(days * 86_400)),
            };
        let source_policy = tradingbot_core::identity::lockout::SourcePolicy {
            max_failures: parse_number::<u32>(sources, &keys::AUTH_BLOCK_FAILURES, 2..=10_000)?,
            block_for: Duration::from_secs(
                60 * parse_number::<u64>(sources, &keys::AUTH_BLOCK_MINUTES, 1..=10_080)?,
            ),
            ..Default::default()
        };
        let sentry_dsn = match sources.get(&keys::SENTRY_DSN) {
            None => None,
            Some((raw, origin)) => {
                let v = raw.trim().to_owned();
                if v.is_empty() {
                    None
                } else {
                    parse_url(&v, &["http", "https"])
                        .map_err(|r| invalid(&keys::SENTRY_DSN, origin, "(hidden)", r))?;
                    Some(v)
                }
            }
        };
        let paper = PaperSettings {
            live_feed,
            candle_secs: parse_number::<u64>(sources, &keys::PAPER_CANDLE_SECS, 1..=86_400)?,
            balance: parse_decimal(
                sources,
                &keys::PAPER_BALANCE,
                Decimal::ONE..=Decimal::from(1_000_000_000),
            )?,
            slippage_bps: parse_decimal(
                sources,
                &keys::PAPER_SLIPPAGE_BPS,
                Decimal::ZERO..=Decimal::from(500),
            )?,
        };

        Ok(Self {
            endpoints,
            paper,
            market_data_offline,
            ai,
            balance_refresh,
            equity_snapshot,
            signal_retention,
            notification_retention,
            source_policy,
            login_attempts_per_ip,
            sentry_dsn,
            frontend_url,
            smtp_url,
            smtp_from,
            cors_origins,
            trusted_proxies,
            webhook_allowed_ips,
            execution_shards,
            telegram_api_url,
            monitor,
            limits,
            env,
            bind,
            bind_explicit,
            public_url,
            internal_url,
            data_dir,
            database_url,
            database_backend,
            database_max_connections,
            redis_url,
            redis_prefix,
            jwt_secret,
            master_key,
            log,
            log_format,
            max_body_bytes,
            workers,
            shutdown_timeout: Duration::from_secs(shutdown_timeout_secs),
        })
    }

    /// Reads the process environment and the optional file.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::from_sources(&Sources::from_process(path)?)
    }

    pub fn is_production(&self) -> bool {
        self.env == Environment::Production
    }
}

#[cfg(test)]
mod tests;
