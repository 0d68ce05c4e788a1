//! Configuration: one typed [`Config`] read from environment variables and an
//! optional TOML file, with defaults that make the embedded server useful out
//! of the box.
//!
//! Precedence: environment, then file, then default. A bad value stops the
//! start with a [`ConfigError`] naming the key, where the value came from and
//! why it is wrong (secrets are never echoed).

pub mod keys;
mod read;
pub mod secrets;

use keys::Key;
use secrecy::{ExposeSecret, SecretSlice};
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
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

impl Config {
    /// Builds the configuration from `sources`, applying defaults and every
    /// validation rule, including production's stricter ones.
    pub fn from_sources(sources: &Sources) -> Result<Self, ConfigError> {
        let env = match sources.choice(&keys::ENV)? {
            "production" => Environment::Production,
            _ => Environment::Development,
        };
        let production = env == Environment::Production;
        if production {
            read::production_rules(sources, keys::ALL)?;
        }

        let (bind, bind_explicit) = sources.address(&keys::BIND)?;
        let data_dir = PathBuf::from(sources.text(&keys::DATA_DIR)?);
        let database_url = match sources.url(&keys::DATABASE_URL, production)? {
            Some(url) => url,
            None => format!("sqlite://{}/tradingbot.db?mode=rwc", data_dir.display()),
        };
        let database_backend = Backend::from_url(&database_url).expect("scheme checked");

        let jwt_secret = sources.secret(&keys::JWT_SECRET)?;
        let master_key = sources.secret(&keys::MASTER_KEY)?;
        if let (Some(a), Some(b)) = (&jwt_secret, &master_key)
            && production
            && a.expose_secret() == b.expose_secret()
        {
            return Err(ConfigError::Secret(
                "TRADINGBOT_JWT_SECRET and TRADINGBOT_MASTER_KEY must be different keys".into(),
            ));
        }

        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let monitor = tradingbot_actors::execution::monitor::MonitorSettings {
            throttle: Duration::from_millis(sources.whole(&keys::POSITION_UPDATE_MS)?),
            step_pct: sources.decimal(&keys::PNL_ALERT_STEP_PCT)?,
            ..Default::default()
        };
        let limits = RateLimits {
            per_ip: sources.whole(&keys::RATE_LIMIT_IP)?,
            per_user: sources.whole(&keys::RATE_LIMIT_USER)?,
            per_webhook: sources.whole(&keys::RATE_LIMIT_WEBHOOK)?,
        };
        let url = |key: &Key| sources.url_or_default(key);
        let endpoints = tradingbot_actors::exchange::Endpoints {
            binance_live_rest: url(&keys::BINANCE_LIVE_REST_URL)?,
            binance_live_ws_api: url(&keys::BINANCE_LIVE_WS_API_URL)?,
            binance_live_stream: url(&keys::BINANCE_LIVE_STREAM_URL)?,
            binance_testnet_rest: url(&keys::BINANCE_TESTNET_REST_URL)?,
            binance_testnet_ws_api: url(&keys::BINANCE_TESTNET_WS_API_URL)?,
            binance_testnet_stream: url(&keys::BINANCE_TESTNET_STREAM_URL)?,
            okx_live_rest: url(&keys::OKX_LIVE_REST_URL)?,
            okx_live_ws_public: url(&keys::OKX_LIVE_WS_PUBLIC_URL)?,
            okx_live_ws_private: url(&keys::OKX_LIVE_WS_PRIVATE_URL)?,
            okx_demo_rest: url(&keys::OKX_DEMO_REST_URL)?,
            okx_demo_ws_public: url(&keys::OKX_DEMO_WS_PUBLIC_URL)?,
            okx_demo_ws_private: url(&keys::OKX_DEMO_WS_PRIVATE_URL)?,
        };
        let ai = AiSettings {
            openai_key: sources.token(&keys::OPENAI_API_KEY),
            openai_base_url: url(&keys::OPENAI_BASE_URL)?,
            openai_model: sources.text(&keys::OPENAI_MODEL)?,
            anthropic_key: sources.token(&keys::ANTHROPIC_API_KEY),
            anthropic_base_url: url(&keys::ANTHROPIC_BASE_URL)?,
            anthropic_model: sources.text(&keys::ANTHROPIC_MODEL)?,
            timeout: Duration::from_secs(sources.whole(&keys::AI_TIMEOUT_SECS)?),
            monthly_tokens: sources.whole(&keys::AI_MONTHLY_TOKENS)?,
            calls_per_minute: sources.whole(&keys::AI_CALLS_PER_MINUTE)?,
            cache_for: Duration::from_secs(sources.whole(&keys::AI_CACHE_SECS)?),
            watch_every: Duration::from_secs(sources.whole(&keys::AI_WATCH_SECS)?),
        };
        let equity_every: u64 = sources.whole(&keys::EQUITY_SNAPSHOT_SECS)?;
        if 86_400 % equity_every != 0 {
            let (raw, origin) = sources
                .get(&keys::EQUITY_SNAPSHOT_SECS)
                .unwrap_or_else(|| (equity_every.to_string(), Origin::Default));
            return Err(read::invalid(
                &keys::EQUITY_SNAPSHOT_SECS,
                origin,
                &raw,
                "must divide a day (86400 s): 60, 300, 900, 3600, 86400, …",
            ));
        }
        let days = |key: &Key| -> Result<Option<Duration>, ConfigError> {
            Ok(match sources.whole::<u64>(key)? {
                0 => None,
                days => Some(Duration::from_secs(days * 86_400)),
            })
        };
        let source_policy = tradingbot_core::identity::lockout::SourcePolicy {
            max_failures: sources.whole(&keys::AUTH_BLOCK_FAILURES)?,
            block_for: Duration::from_secs(60 * sources.whole::<u64>(&keys::AUTH_BLOCK_MINUTES)?),
            ..Default::default()
        };
        let paper = PaperSettings {
            live_feed: sources.choice(&keys::PAPER_FEED)? == "binance",
            candle_secs: sources.whole(&keys::PAPER_CANDLE_SECS)?,
            balance: sources.decimal(&keys::PAPER_BALANCE)?,
            slippage_bps: sources.decimal(&keys::PAPER_SLIPPAGE_BPS)?,
        };

        Ok(Self {
            endpoints,
            paper,
            market_data_offline: sources.choice(&keys::MARKET_DATA)? == "offline",
            ai,
            balance_refresh: Duration::from_secs(sources.whole(&keys::BALANCE_REFRESH_SECS)?),
            equity_snapshot: Duration::from_secs(equity_every),
            signal_retention: days(&keys::SIGNAL_RETENTION_DAYS)?,
            notification_retention: days(&keys::NOTIFICATION_RETENTION_DAYS)?,
            source_policy,
            login_attempts_per_ip: sources.whole(&keys::LOGIN_ATTEMPTS_PER_IP)?,
            sentry_dsn: sources.url(&keys::SENTRY_DSN, production)?,
            frontend_url: sources.url(&keys::FRONTEND_URL, production)?,
            smtp_url: sources.url(&keys::SMTP_URL, production)?,
            smtp_from: sources.text(&keys::SMTP_FROM)?,
            cors_origins: sources.origins(&keys::CORS_ORIGINS)?,
            trusted_proxies: sources.networks(&keys::TRUSTED_PROXIES)?,
            webhook_allowed_ips: sources.networks(&keys::WEBHOOK_ALLOWED_IPS)?,
            execution_shards: sources.whole_or(&keys::EXECUTION_SHARDS, cores)?,
            telegram_api_url: url(&keys::TELEGRAM_API_URL)?,
            monitor,
            limits,
            env,
            bind,
            bind_explicit,
            public_url: sources.url(&keys::PUBLIC_URL, production)?,
            internal_url: sources.url(&keys::INTERNAL_URL, production)?,
            data_dir,
            database_url,
            database_backend,
            database_max_connections: sources.whole(&keys::DATABASE_MAX_CONNECTIONS)?,
            redis_url: sources.url(&keys::REDIS_URL, production)?,
            redis_prefix: sources.text(&keys::REDIS_PREFIX)?,
            jwt_secret,
            master_key,
            log: sources.text(&keys::LOG)?,
            log_format: match sources.choice(&keys::LOG_FORMAT)? {
                "json" => LogFormat::Json,
                _ => LogFormat::Text,
            },
            max_body_bytes: sources.whole(&keys::MAX_BODY_BYTES)?,
            workers: sources.whole_or(&keys::WORKERS, cores)?,
            shutdown_timeout: Duration::from_secs(sources.whole(&keys::SHUTDOWN_TIMEOUT_SECS)?),
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
