//! The table of configuration keys: one row per setting, with its environment
//! variable, its TOML key, its default and its meaning. README's
//! configuration table is this table (a test keeps them in step).

/// One configuration setting.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// Environment variable name.
    pub env: &'static str,
    /// Key in the TOML file.
    pub toml: &'static str,
    /// The default, as shown to people.
    pub default: &'static str,
    /// What it does.
    pub meaning: &'static str,
    /// Whether the value must never be echoed (errors, logs, `config show`).
    pub secret: bool,
}

pub const ENV: Key = Key {
    env: "TRADINGBOT_ENV",
    toml: "env",
    default: "development",
    meaning: "`development` or `production`. Production refuses generated secrets and the default bind, database and public URL.",
    secret: false,
};
pub const BIND: Key = Key {
    env: "TRADINGBOT_BIND",
    toml: "bind",
    default: "127.0.0.1:8001",
    meaning: "Address and port the HTTP server listens on (port 0 picks a free port).",
    secret: false,
};
pub const PUBLIC_URL: Key = Key {
    env: "TRADINGBOT_PUBLIC_URL",
    toml: "public_url",
    default: "http://<bind>",
    meaning: "Base URL the outside world reaches this server at; webhook URLs are built from it. Must be https in production.",
    secret: false,
};
pub const DATA_DIR: Key = Key {
    env: "TRADINGBOT_DATA_DIR",
    toml: "data_dir",
    default: "./data",
    meaning: "Directory for the SQLite database and generated secrets (created with mode 0700).",
    secret: false,
};
pub const DATABASE_URL: Key = Key {
    env: "DATABASE_URL",
    toml: "database_url",
    default: "sqlite://<data_dir>/tradingbot.db?mode=rwc",
    meaning: "`sqlite://…` (embedded default) or `postgres://user:pass@host/db`.",
    secret: true,
};
pub const DATABASE_MAX_CONNECTIONS: Key = Key {
    env: "TRADINGBOT_DATABASE_MAX_CONNECTIONS",
    toml: "database_max_connections",
    default: "10",
    meaning: "Size of the database connection pool (1–1000).",
    secret: false,
};
pub const REDIS_URL: Key = Key {
    env: "REDIS_URL",
    toml: "redis_url",
    default: "(unset: in-process)",
    meaning: "`redis://…`: shared rate limits, replay cache and websocket fan-out across instances. Unset: in-process equivalents.",
    secret: true,
};
pub const JWT_SECRET: Key = Key {
    env: "TRADINGBOT_JWT_SECRET",
    toml: "jwt_secret",
    default: "(generated into <data_dir>/jwt_secret)",
    meaning: "Signing key of access tokens: at least 32 random bytes, hex or base64 (`openssl rand -hex 32`).",
    secret: true,
};
pub const MASTER_KEY: Key = Key {
    env: "TRADINGBOT_MASTER_KEY",
    toml: "master_key",
    default: "(generated into <data_dir>/master_key)",
    meaning: "Master key of the credential vault: exactly 32 random bytes, hex or base64 (`openssl rand -hex 32`).",
    secret: true,
};
pub const LOG: Key = Key {
    env: "TRADINGBOT_LOG",
    toml: "log",
    default: "info",
    meaning: "Log filter in `tracing` syntax, e.g. `info,tradingbot_web=debug`.",
    secret: false,
};
pub const LOG_FORMAT: Key = Key {
    env: "TRADINGBOT_LOG_FORMAT",
    toml: "log_format",
    default: "text",
    meaning: "`text` for people, `json` for log collectors (one object per line).",
    secret: false,
};
pub const MAX_BODY_BYTES: Key = Key {
    env: "TRADINGBOT_MAX_BODY_BYTES",
    toml: "max_body_bytes",
    default: "65536",
    meaning: "Largest request body accepted, in bytes (larger: 413).",
    secret: false,
};
pub const WORKERS: Key = Key {
    env: "TRADINGBOT_WORKERS",
    toml: "workers",
    default: "(number of CPU cores)",
    meaning: "HTTP worker threads.",
    secret: false,
};
pub const SHUTDOWN_TIMEOUT_SECS: Key = Key {
    env: "TRADINGBOT_SHUTDOWN_TIMEOUT_SECS",
    toml: "shutdown_timeout_secs",
    default: "30",
    meaning: "On SIGINT/SIGTERM, how long in-flight requests get to finish.",
    secret: false,
};

pub const FRONTEND_URL: Key = Key {
    env: "TRADINGBOT_FRONTEND_URL",
    toml: "frontend_url",
    default: "(the public URL)",
    meaning: "Where links in emails point (the web frontend), e.g. `https://app.example.com`.",
    secret: false,
};
pub const SMTP_URL: Key = Key {
    env: "SMTP_URL",
    toml: "smtp_url",
    default: "(unset: emails are logged)",
    meaning: "`smtp://user:pass@host:587?tls=required` or `smtps://…`. Unset: verification links are written to the log (development).",
    secret: true,
};
pub const SMTP_FROM: Key = Key {
    env: "TRADINGBOT_SMTP_FROM",
    toml: "smtp_from",
    default: "TradingBot <no-reply@tradingbot.local>",
    meaning: "Sender of outgoing email.",
    secret: false,
};
pub const CORS_ORIGINS: Key = Key {
    env: "TRADINGBOT_CORS_ORIGINS",
    toml: "cors_origins",
    default: "(none)",
    meaning: "Comma-separated origins a browser frontend may call the API from, e.g. `https://app.example.com`.",
    secret: false,
};
pub const TRUSTED_PROXIES: Key = Key {
    env: "TRADINGBOT_TRUSTED_PROXIES",
    toml: "trusted_proxies",
    default: "(none)",
    meaning: "Comma-separated addresses or CIDR ranges of reverse proxies whose `X-Forwarded-For` is believed.",
    secret: false,
};
pub const RATE_LIMIT_IP: Key = Key {
    env: "TRADINGBOT_RATE_LIMIT_IP",
    toml: "rate_limit_ip",
    default: "60",
    meaning: "API requests per minute per client address (health and webhooks excepted).",
    secret: false,
};
pub const RATE_LIMIT_USER: Key = Key {
    env: "TRADINGBOT_RATE_LIMIT_USER",
    toml: "rate_limit_user",
    default: "100",
    meaning: "Authenticated API requests per minute per user.",
    secret: false,
};
pub const RATE_LIMIT_WEBHOOK: Key = Key {
    env: "TRADINGBOT_RATE_LIMIT_WEBHOOK",
    toml: "rate_limit_webhook",
    default: "10",
    meaning: "Webhook deliveries per minute per strategy token.",
    secret: false,
};

/// Every key, in README order.
pub const ALL: &[Key] = &[
    ENV,
    BIND,
    PUBLIC_URL,
    DATA_DIR,
    DATABASE_URL,
    DATABASE_MAX_CONNECTIONS,
    REDIS_URL,
    JWT_SECRET,
    MASTER_KEY,
    LOG,
    LOG_FORMAT,
    MAX_BODY_BYTES,
    WORKERS,
    SHUTDOWN_TIMEOUT_SECS,
    FRONTEND_URL,
    SMTP_URL,
    SMTP_FROM,
    CORS_ORIGINS,
    TRUSTED_PROXIES,
    RATE_LIMIT_IP,
    RATE_LIMIT_USER,
    RATE_LIMIT_WEBHOOK,
];
