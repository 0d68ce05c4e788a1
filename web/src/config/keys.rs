//! The table of configuration keys: one row per setting, with its environment
//! variable, its TOML key, its default, what values it takes, what production
//! demands of it and its meaning. The configuration is read from this table
//! (`Config::from_sources` checks every value by its key's [`Value`] and
//! every production rule from here), and README's configuration table is
//! printed from it (a test keeps them equal).

/// One configuration setting.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// Environment variable name.
    pub env: &'static str,
    /// Key in the TOML file.
    pub toml: &'static str,
    /// The default, as shown to people; for numbers, decimals, choices,
    /// URLs and texts also the value used when the key is unset.
    pub default: &'static str,
    /// What it does.
    pub meaning: &'static str,
    /// Whether the value must never be echoed (errors, logs, `config show`).
    pub secret: bool,
    /// What values it takes: every value is checked against it.
    pub value: Value,
    /// What production (`TRADINGBOT_ENV=production`) demands beyond it.
    pub production: Production,
}

/// The values a key takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// A whole number in `min..=max`.
    Whole { min: u64, max: u64 },
    /// A decimal number in `min..=max` (written as decimals).
    Decimal {
        min: &'static str,
        max: &'static str,
    },
    /// One word of a closed set, any case; each group's later words are
    /// aliases of its first.
    Choice(&'static [&'static [&'static str]]),
    /// A URL with one of these schemes.
    Url(&'static [&'static str]),
    /// `host:port`.
    Address,
    /// A directory (created when missing).
    Directory,
    /// 1–64 letters, digits, `-`, `_` or `.`.
    Name,
    /// A key in hex or base64: exactly `bytes` long, or at least 32 bytes.
    Secret { bytes: Option<usize> },
    /// A secret text (an API key).
    Token,
    /// A `tracing` filter.
    LogFilter,
    /// An email address (with a display name or without).
    Email,
    /// Comma-separated web origins.
    Origins,
    /// Comma-separated IP addresses and CIDR ranges, or these names.
    Networks { named: &'static [&'static str] },
    /// A short text without control characters (a model name).
    Text,
}

/// What production demands of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Production {
    /// Nothing more.
    Same,
    /// It must be given: the default is for development only.
    Required(&'static str),
    /// It must be given, as a URL with one of `schemes`.
    RequiredUrl {
        reason: &'static str,
        schemes: &'static [&'static str],
    },
}

impl Value {
    /// The values, as README's table shows them.
    pub fn describe(&self) -> String {
        let ticked = |words: &[&str], sep: &str| {
            words
                .iter()
                .map(|w| format!("`{w}`"))
                .collect::<Vec<_>>()
                .join(sep)
        };
        match self {
            Value::Whole { min, max } => format!("whole number, {min}–{max}"),
            Value::Decimal { min, max } => format!("number, {min}–{max}"),
            Value::Choice(groups) => groups
                .iter()
                .map(|g| match g.split_first() {
                    Some((first, [])) => format!("`{first}`"),
                    Some((first, aliases)) => format!("`{first}` ({})", ticked(aliases, ", ")),
                    None => String::new(),
                })
                .collect::<Vec<_>>()
                .join(", "),
            Value::Url(schemes) => format!("URL: {}", ticked(schemes, ", ")),
            Value::Address => "host:port".into(),
            Value::Directory => "directory".into(),
            Value::Name => "1–64 letters, digits, `-`, `_`, `.`".into(),
            Value::Secret { bytes: Some(n) } => format!("key, hex or base64, {n} bytes"),
            Value::Secret { bytes: None } => "key, hex or base64, 32 bytes or more".into(),
            Value::Token => "secret text".into(),
            Value::LogFilter => "`tracing` filter".into(),
            Value::Email => "email address".into(),
            Value::Origins => "origins (scheme://host[:port]), comma-separated".into(),
            Value::Networks { named: [] } => "IP addresses and CIDR ranges, comma-separated".into(),
            Value::Networks { named } => format!(
                "IP addresses, CIDR ranges and {}, comma-separated",
                ticked(named, ", ")
            ),
            Value::Text => "text, 1–200 characters".into(),
        }
    }
}

impl Production {
    pub fn describe(&self) -> String {
        match self {
            Production::Same => String::new(),
            Production::Required(_) => "required".into(),
            Production::RequiredUrl { schemes, .. } => format!(
                "required, {}",
                schemes
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// README's configuration table, printed from [`ALL`].
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| environment variable | TOML key | default | values | in production | meaning |\n|---|---|---|---|---|---|\n",
    );
    for k in ALL {
        let default = match k
            .default
            .strip_prefix('(')
            .and_then(|d| d.strip_suffix(')'))
        {
            // A description: its placeholders as code.
            Some(words) => words
                .split(' ')
                .map(|w| {
                    if w.contains('<') {
                        format!("`{w}`")
                    } else {
                        w.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join(" "),
            None => match k.default.split_once(" (") {
                Some((value, note)) => format!("`{value}` ({note}"),
                None => format!("`{}`", k.default),
            },
        };
        out.push_str(&format!(
            "| `{}` | `{}` | {} | {} | {} | {} |\n",
            k.env,
            k.toml,
            default,
            k.value.describe(),
            k.production.describe(),
            k.meaning
        ));
    }
    out
}

pub const ENV: Key = Key {
    env: "TRADINGBOT_ENV",
    toml: "env",
    default: "development",
    meaning: "`development` or `production`. Production refuses generated secrets and the default bind, database and public URL.",
    secret: false,
    value: Value::Choice(&[&["development", "dev"], &["production", "prod"]]),
    production: Production::Same,
};
pub const BIND: Key = Key {
    env: "TRADINGBOT_BIND",
    toml: "bind",
    default: "127.0.0.1:8001",
    meaning: "Address and port the HTTP server listens on (port 0 picks a free port).",
    secret: false,
    value: Value::Address,
    production: Production::Required("choose the listen address explicitly"),
};
pub const PUBLIC_URL: Key = Key {
    env: "TRADINGBOT_PUBLIC_URL",
    toml: "public_url",
    default: "http://<bind>",
    meaning: "Base URL the outside world reaches this server at; webhook URLs are built from it. Must be https in production.",
    secret: false,
    value: Value::Url(&["http", "https"]),
    production: Production::RequiredUrl {
        reason: "TradingView must reach the webhook at an https:// address",
        schemes: &["https"],
    },
};
pub const INTERNAL_URL: Key = Key {
    env: "TRADINGBOT_INTERNAL_URL",
    toml: "internal_url",
    default: "http://<bind> (the host name when bound to every address)",
    meaning: "Where the other instances reach this one (alerts and commands for the users it trades for are forwarded here). Used with REDIS_URL.",
    secret: false,
    value: Value::Url(&["http", "https"]),
    production: Production::Same,
};
pub const DATA_DIR: Key = Key {
    env: "TRADINGBOT_DATA_DIR",
    toml: "data_dir",
    default: "./data",
    meaning: "Directory for the SQLite database and generated secrets (created with mode 0700).",
    secret: false,
    value: Value::Directory,
    production: Production::Same,
};
pub const DATABASE_URL: Key = Key {
    env: "DATABASE_URL",
    toml: "database_url",
    default: "sqlite://<data_dir>/tradingbot.db?mode=rwc",
    meaning: "`sqlite://…` (embedded default) or `postgres://user:pass@host/db`.",
    secret: true,
    value: Value::Url(&["sqlite", "postgres", "postgresql"]),
    production: Production::Required(
        "point it at PostgreSQL (postgres://…) or an explicit sqlite:// file",
    ),
};
pub const DATABASE_MAX_CONNECTIONS: Key = Key {
    env: "TRADINGBOT_DATABASE_MAX_CONNECTIONS",
    toml: "database_max_connections",
    default: "10",
    meaning: "Size of the database connection pool (1–1000).",
    secret: false,
    value: Value::Whole { min: 1, max: 1000 },
    production: Production::Same,
};
pub const REDIS_URL: Key = Key {
    env: "REDIS_URL",
    toml: "redis_url",
    default: "(unset: in-process)",
    meaning: "`redis://…`: shared rate limits, replay cache and websocket fan-out across instances. Unset: in-process equivalents.",
    secret: true,
    value: Value::Url(&["redis", "rediss"]),
    production: Production::Same,
};
pub const REDIS_PREFIX: Key = Key {
    env: "TRADINGBOT_REDIS_PREFIX",
    toml: "redis_prefix",
    default: "tb",
    meaning: "Namespace of every Redis key, so deployments sharing one Redis (staging and production, tests) never read each other's counters or revocations. Letters, digits, `-`, `_`, `.`.",
    secret: false,
    value: Value::Name,
    production: Production::Same,
};
pub const JWT_SECRET: Key = Key {
    env: "TRADINGBOT_JWT_SECRET",
    toml: "jwt_secret",
    default: "(generated into <data_dir>/jwt_secret)",
    meaning: "Signing key of access tokens: at least 32 random bytes, hex or base64 (`openssl rand -hex 32`).",
    secret: true,
    value: Value::Secret { bytes: None },
    production: Production::Required("generated secrets are for development only"),
};
pub const MASTER_KEY: Key = Key {
    env: "TRADINGBOT_MASTER_KEY",
    toml: "master_key",
    default: "(generated into <data_dir>/master_key)",
    meaning: "Master key of the credential vault: exactly 32 random bytes, hex or base64 (`openssl rand -hex 32`).",
    secret: true,
    value: Value::Secret { bytes: Some(32) },
    production: Production::Required("generated secrets are for development only"),
};
pub const LOG: Key = Key {
    env: "TRADINGBOT_LOG",
    toml: "log",
    default: "info",
    meaning: "Log filter in `tracing` syntax, e.g. `info,tradingbot_web=debug`.",
    secret: false,
    value: Value::LogFilter,
    production: Production::Same,
};
pub const LOG_FORMAT: Key = Key {
    env: "TRADINGBOT_LOG_FORMAT",
    toml: "log_format",
    default: "text",
    meaning: "`text` for people, `json` for log collectors (one object per line, on stdout).",
    secret: false,
    value: Value::Choice(&[&["text"], &["json"]]),
    production: Production::Same,
};
pub const MAX_BODY_BYTES: Key = Key {
    env: "TRADINGBOT_MAX_BODY_BYTES",
    toml: "max_body_bytes",
    default: "65536",
    meaning: "Largest request body accepted, in bytes (larger: 413).",
    secret: false,
    value: Value::Whole {
        min: 1_024,
        max: 16_777_216,
    },
    production: Production::Same,
};
pub const WORKERS: Key = Key {
    env: "TRADINGBOT_WORKERS",
    toml: "workers",
    default: "(number of CPU cores)",
    meaning: "HTTP worker threads.",
    secret: false,
    value: Value::Whole { min: 1, max: 256 },
    production: Production::Same,
};
pub const SHUTDOWN_TIMEOUT_SECS: Key = Key {
    env: "TRADINGBOT_SHUTDOWN_TIMEOUT_SECS",
    toml: "shutdown_timeout_secs",
    default: "30",
    meaning: "On SIGINT/SIGTERM, how long in-flight requests get to finish.",
    secret: false,
    value: Value::Whole { min: 0, max: 3600 },
    production: Production::Same,
};

pub const FRONTEND_URL: Key = Key {
    env: "TRADINGBOT_FRONTEND_URL",
    toml: "frontend_url",
    default: "(the public URL)",
    meaning: "Where links in emails point (the web frontend), e.g. `https://app.example.com`.",
    secret: false,
    value: Value::Url(&["http", "https"]),
    production: Production::Same,
};
pub const SMTP_URL: Key = Key {
    env: "SMTP_URL",
    toml: "smtp_url",
    default: "(unset: emails are logged)",
    meaning: "`smtp://user:pass@host:587?tls=required` or `smtps://…`. Unset: verification links are written to the log (development only).",
    secret: true,
    value: Value::Url(&["smtp", "smtps"]),
    production: Production::Same,
};
pub const SMTP_FROM: Key = Key {
    env: "TRADINGBOT_SMTP_FROM",
    toml: "smtp_from",
    default: "TradingBot <no-reply@tradingbot.local>",
    meaning: "Sender of outgoing email.",
    secret: false,
    value: Value::Email,
    production: Production::Same,
};
pub const CORS_ORIGINS: Key = Key {
    env: "TRADINGBOT_CORS_ORIGINS",
    toml: "cors_origins",
    default: "(none)",
    meaning: "Comma-separated origins a browser frontend may call the API from, e.g. `https://app.example.com`.",
    secret: false,
    value: Value::Origins,
    production: Production::Same,
};
pub const TRUSTED_PROXIES: Key = Key {
    env: "TRADINGBOT_TRUSTED_PROXIES",
    toml: "trusted_proxies",
    default: "(none)",
    meaning: "Comma-separated addresses or CIDR ranges of reverse proxies whose `X-Forwarded-For` is believed.",
    secret: false,
    value: Value::Networks { named: &[] },
    production: Production::Same,
};
pub const RATE_LIMIT_IP: Key = Key {
    env: "TRADINGBOT_RATE_LIMIT_IP",
    toml: "rate_limit_ip",
    default: "60",
    meaning: "API requests per minute per client address (health, metrics and webhooks excepted).",
    secret: false,
    value: Value::Whole {
        min: 1,
        max: 1_000_000,
    },
    production: Production::Same,
};
pub const RATE_LIMIT_USER: Key = Key {
    env: "TRADINGBOT_RATE_LIMIT_USER",
    toml: "rate_limit_user",
    default: "100",
    meaning: "Authenticated API requests per minute per user.",
    secret: false,
    value: Value::Whole {
        min: 1,
        max: 1_000_000,
    },
    production: Production::Same,
};
pub const RATE_LIMIT_WEBHOOK: Key = Key {
    env: "TRADINGBOT_RATE_LIMIT_WEBHOOK",
    toml: "rate_limit_webhook",
    default: "10",
    meaning: "Webhook deliveries per minute per strategy token.",
    secret: false,
    value: Value::Whole {
        min: 1,
        max: 1_000_000,
    },
    production: Production::Same,
};
pub const WEBHOOK_ALLOWED_IPS: Key = Key {
    env: "TRADINGBOT_WEBHOOK_ALLOWED_IPS",
    toml: "webhook_allowed_ips",
    default: "(any)",
    meaning: "Comma-separated addresses or CIDR ranges allowed to post webhooks; `tradingview` stands for TradingView's published senders (52.89.214.238, 34.212.75.30, 54.218.53.128, 52.32.178.7). Unset: any sender (the secret still decides).",
    secret: false,
    value: Value::Networks {
        named: &["tradingview"],
    },
    production: Production::Same,
};
pub const EXECUTION_SHARDS: Key = Key {
    env: "TRADINGBOT_EXECUTION_SHARDS",
    toml: "execution_shards",
    default: "(number of CPU cores)",
    meaning: "Threads (actix arbiters) the trading actors are spread over; each user's actors live on one.",
    secret: false,
    value: Value::Whole { min: 1, max: 256 },
    production: Production::Same,
};
pub const POSITION_UPDATE_MS: Key = Key {
    env: "TRADINGBOT_POSITION_UPDATE_MS",
    toml: "position_update_ms",
    default: "1000",
    meaning: "At most one `position_update` per open position this often (milliseconds, 100–60000); prices are read four times a second.",
    secret: false,
    value: Value::Whole {
        min: 100,
        max: 60_000,
    },
    production: Production::Same,
};
pub const PNL_ALERT_STEP_PCT: Key = Key {
    env: "TRADINGBOT_PNL_ALERT_STEP_PCT",
    toml: "pnl_alert_step_pct",
    default: "1",
    meaning: "A position's PnL (percent of its margin) between two alerts: with 1, an alert at ±1 %, ±2 %, … (0.1–100).",
    secret: false,
    value: Value::Decimal {
        min: "0.1",
        max: "100",
    },
    production: Production::Same,
};

pub const BINANCE_LIVE_REST_URL: Key = Key {
    env: "TRADINGBOT_BINANCE_LIVE_REST_URL",
    toml: "binance_live_rest_url",
    default: "https://fapi.binance.com",
    meaning: "Binance USDⓈ-M futures REST (live).",
    secret: false,
    value: Value::Url(&["https", "http"]),
    production: Production::Same,
};
pub const BINANCE_LIVE_WS_API_URL: Key = Key {
    env: "TRADINGBOT_BINANCE_LIVE_WS_API_URL",
    toml: "binance_live_ws_api_url",
    default: "wss://ws-fapi.binance.com/ws-fapi/v1",
    meaning: "Binance websocket API for order placement (live).",
    secret: false,
    value: Value::Url(&["wss", "ws"]),
    production: Production::Same,
};
pub const BINANCE_LIVE_STREAM_URL: Key = Key {
    env: "TRADINGBOT_BINANCE_LIVE_STREAM_URL",
    toml: "binance_live_stream_url",
    default: "wss://fstream.binance.com",
    meaning: "Binance market and user data streams (live).",
    secret: false,
    value: Value::Url(&["wss", "ws"]),
    production: Production::Same,
};
pub const BINANCE_TESTNET_REST_URL: Key = Key {
    env: "TRADINGBOT_BINANCE_TESTNET_REST_URL",
    toml: "binance_testnet_rest_url",
    default: "https://testnet.binancefuture.com",
    meaning: "Binance futures REST (testnet).",
    secret: false,
    value: Value::Url(&["https", "http"]),
    production: Production::Same,
};
pub const BINANCE_TESTNET_WS_API_URL: Key = Key {
    env: "TRADINGBOT_BINANCE_TESTNET_WS_API_URL",
    toml: "binance_testnet_ws_api_url",
    default: "wss://testnet.binancefuture.com/ws-fapi/v1",
    meaning: "Binance websocket API (testnet).",
    secret: false,
    value: Value::Url(&["wss", "ws"]),
    production: Production::Same,
};
pub const BINANCE_TESTNET_STREAM_URL: Key = Key {
    env: "TRADINGBOT_BINANCE_TESTNET_STREAM_URL",
    toml: "binance_testnet_stream_url",
    default: "wss://fstream.binancefuture.com",
    meaning: "Binance streams (testnet).",
    secret: false,
    value: Value::Url(&["wss", "ws"]),
    production: Production::Same,
};
pub const OKX_LIVE_REST_URL: Key = Key {
    env: "TRADINGBOT_OKX_LIVE_REST_URL",
    toml: "okx_live_rest_url",
    default: "https://www.okx.com",
    meaning: "OKX v5 REST (live).",
    secret: false,
    value: Value::Url(&["https", "http"]),
    production: Production::Same,
};
pub const OKX_LIVE_WS_PUBLIC_URL: Key = Key {
    env: "TRADINGBOT_OKX_LIVE_WS_PUBLIC_URL",
    toml: "okx_live_ws_public_url",
    default: "wss://ws.okx.com:8443/ws/v5/public",
    meaning: "OKX public websocket (live).",
    secret: false,
    value: Value::Url(&["wss", "ws"]),
    production: Production::Same,
};
pub const OKX_LIVE_WS_PRIVATE_URL: Key = Key {
    env: "TRADINGBOT_OKX_LIVE_WS_PRIVATE_URL",
    toml: "okx_live_ws_private_url",
    default: "wss://ws.okx.com:8443/ws/v5/private",
    meaning: "OKX private websocket (live).",
    secret: false,
    value: Value::Url(&["wss", "ws"]),
    production: Production::Same,
};
pub const OKX_DEMO_REST_URL: Key = Key {
    env: "TRADINGBOT_OKX_DEMO_REST_URL",
    toml: "okx_demo_rest_url",
    default: "https://www.okx.com",
    meaning: "OKX v5 REST for demo trading (sent with `x-simulated-trading: 1`).",
    secret: false,
    value: Value::Url(&["https", "http"]),
    production: Production::Same,
};
pub const OKX_DEMO_WS_PUBLIC_URL: Key = Key {
    env: "TRADINGBOT_OKX_DEMO_WS_PUBLIC_URL",
    toml: "okx_demo_ws_public_url",
    default: "wss://wspap.okx.com:8443/ws/v5/public",
    meaning: "OKX public websocket (demo).",
    secret: false,
    value: Value::Url(&["wss", "ws"]),
    production: Production::Same,
};
pub const OKX_DEMO_WS_PRIVATE_URL: Key = Key {
    env: "TRADINGBOT_OKX_DEMO_WS_PRIVATE_URL",
    toml: "okx_demo_ws_private_url",
    default: "wss://wspap.okx.com:8443/ws/v5/private",
    meaning: "OKX private websocket (demo).",
    secret: false,
    value: Value::Url(&["wss", "ws"]),
    production: Production::Same,
};
pub const TELEGRAM_API_URL: Key = Key {
    env: "TRADINGBOT_TELEGRAM_API_URL",
    toml: "telegram_api_url",
    default: "https://api.telegram.org",
    meaning: "Telegram Bot API base URL.",
    secret: false,
    value: Value::Url(&["https", "http"]),
    production: Production::Same,
};
pub const PAPER_FEED: Key = Key {
    env: "TRADINGBOT_PAPER_FEED",
    toml: "paper_feed",
    default: "replay",
    meaning: "Prices of the paper exchange: `replay` (bundled real BTC candles: the paper exchange then lists BTCUSDT only) or `binance` (live mark prices of BTCUSDT and ETHUSDT; BTC replayed while unreachable).",
    secret: false,
    value: Value::Choice(&[&["replay"], &["binance"]]),
    production: Production::Same,
};
pub const PAPER_CANDLE_SECS: Key = Key {
    env: "TRADINGBOT_PAPER_CANDLE_SECS",
    toml: "paper_candle_secs",
    default: "60",
    meaning: "How many seconds the replay spends on each daily candle.",
    secret: false,
    value: Value::Whole {
        min: 1,
        max: 86_400,
    },
    production: Production::Same,
};
pub const PAPER_BALANCE: Key = Key {
    env: "TRADINGBOT_PAPER_BALANCE",
    toml: "paper_balance",
    default: "10000",
    meaning: "USDT a new paper account starts with.",
    secret: false,
    value: Value::Decimal {
        min: "1",
        max: "1000000000",
    },
    production: Production::Same,
};
pub const MARKET_DATA: Key = Key {
    env: "TRADINGBOT_MARKET_DATA",
    toml: "market_data",
    default: "binance",
    meaning: "Candles for analysis and charts, and the websocket's prices of any symbol: `binance` (public klines and mark-price stream, no key; the bundled BTCUSDT 1d while unreachable) or `offline` (bundled candles; prices only of symbols being traded).",
    secret: false,
    value: Value::Choice(&[&["binance"], &["offline"]]),
    production: Production::Same,
};
pub const OPENAI_API_KEY: Key = Key {
    env: "OPENAI_API_KEY",
    toml: "openai_api_key",
    default: "(unset: no GPT vote)",
    meaning: "OpenAI API key; with it, GPT votes on recommendations.",
    secret: true,
    value: Value::Token,
    production: Production::Same,
};
pub const OPENAI_BASE_URL: Key = Key {
    env: "TRADINGBOT_OPENAI_BASE_URL",
    toml: "openai_base_url",
    default: "https://api.openai.com",
    meaning: "OpenAI API base URL (a local server in tests).",
    secret: false,
    value: Value::Url(&["https", "http"]),
    production: Production::Same,
};
pub const OPENAI_MODEL: Key = Key {
    env: "TRADINGBOT_OPENAI_MODEL",
    toml: "openai_model",
    default: "gpt-4o-mini",
    meaning: "OpenAI model for recommendations and Pine generation.",
    secret: false,
    value: Value::Text,
    production: Production::Same,
};
pub const ANTHROPIC_API_KEY: Key = Key {
    env: "ANTHROPIC_API_KEY",
    toml: "anthropic_api_key",
    default: "(unset: no Claude vote)",
    meaning: "Anthropic API key; with it, Claude votes on recommendations.",
    secret: true,
    value: Value::Token,
    production: Production::Same,
};
pub const ANTHROPIC_BASE_URL: Key = Key {
    env: "TRADINGBOT_ANTHROPIC_BASE_URL",
    toml: "anthropic_base_url",
    default: "https://api.anthropic.com",
    meaning: "Anthropic API base URL (a local server in tests).",
    secret: false,
    value: Value::Url(&["https", "http"]),
    production: Production::Same,
};
pub const ANTHROPIC_MODEL: Key = Key {
    env: "TRADINGBOT_ANTHROPIC_MODEL",
    toml: "anthropic_model",
    default: "claude-3-5-haiku-latest",
    meaning: "Anthropic model for recommendations and Pine generation.",
    secret: false,
    value: Value::Text,
    production: Production::Same,
};
pub const AI_TIMEOUT_SECS: Key = Key {
    env: "TRADINGBOT_AI_TIMEOUT_SECS",
    toml: "ai_timeout_secs",
    default: "20",
    meaning: "Seconds a model may take before its vote is left out.",
    secret: false,
    value: Value::Whole { min: 1, max: 120 },
    production: Production::Same,
};
pub const AI_MONTHLY_TOKENS: Key = Key {
    env: "TRADINGBOT_AI_MONTHLY_TOKENS",
    toml: "ai_monthly_tokens",
    default: "2000000",
    meaning: "Tokens each provider may use per UTC month; past it, technical analysis only.",
    secret: false,
    value: Value::Whole {
        min: 0,
        max: 10_000_000_000,
    },
    production: Production::Same,
};
pub const AI_CALLS_PER_MINUTE: Key = Key {
    env: "TRADINGBOT_AI_CALLS_PER_MINUTE",
    toml: "ai_calls_per_minute",
    default: "20",
    meaning: "Requests per minute to each provider.",
    secret: false,
    value: Value::Whole { min: 1, max: 1000 },
    production: Production::Same,
};
pub const AI_CACHE_SECS: Key = Key {
    env: "TRADINGBOT_AI_CACHE_SECS",
    toml: "ai_cache_secs",
    default: "300",
    meaning: "Seconds a recommendation's votes are reused for the same symbol, timeframe and side.",
    secret: false,
    value: Value::Whole {
        min: 0,
        max: 86_400,
    },
    production: Production::Same,
};
pub const AI_WATCH_SECS: Key = Key {
    env: "TRADINGBOT_AI_WATCH_SECS",
    toml: "ai_watch_secs",
    default: "900",
    meaning: "Seconds between the AI watch's recommendations for open positions.",
    secret: false,
    value: Value::Whole {
        min: 1,
        max: 86_400,
    },
    production: Production::Same,
};
pub const BALANCE_REFRESH_SECS: Key = Key {
    env: "TRADINGBOT_BALANCE_REFRESH_SECS",
    toml: "balance_refresh_secs",
    default: "30",
    meaning: "Seconds between reads of every exchange account's balances (the dashboard reads memory).",
    secret: false,
    value: Value::Whole { min: 1, max: 3600 },
    production: Production::Same,
};
pub const EQUITY_SNAPSHOT_SECS: Key = Key {
    env: "TRADINGBOT_EQUITY_SNAPSHOT_SECS",
    toml: "equity_snapshot_secs",
    default: "3600",
    meaning: "Seconds between snapshots of every account's equity for the asset chart (a divisor of 86400, so UTC midnight — the day's close — is always one).",
    secret: false,
    value: Value::Whole {
        min: 1,
        max: 86_400,
    },
    production: Production::Same,
};
pub const AUTH_BLOCK_FAILURES: Key = Key {
    env: "TRADINGBOT_AUTH_BLOCK_FAILURES",
    toml: "auth_block_failures",
    default: "20",
    meaning: "Failed sign-ins from one address, across accounts, within 15 minutes that block the address.",
    secret: false,
    value: Value::Whole {
        min: 2,
        max: 10_000,
    },
    production: Production::Same,
};
pub const LOGIN_ATTEMPTS_PER_IP: Key = Key {
    env: "TRADINGBOT_LOGIN_ATTEMPTS_PER_IP",
    toml: "login_attempts_per_ip",
    default: "30",
    meaning: "Sign-in attempts (right or wrong) one address may make per 15 minutes; beyond, `429 rate_limited`. Behind a server-side-rendering frontend set `TRADINGBOT_TRUSTED_PROXIES`, or every user counts as the frontend's one address.",
    secret: false,
    value: Value::Whole {
        min: 1,
        max: 1_000_000,
    },
    production: Production::Same,
};
pub const AUTH_BLOCK_MINUTES: Key = Key {
    env: "TRADINGBOT_AUTH_BLOCK_MINUTES",
    toml: "auth_block_minutes",
    default: "60",
    meaning: "How long a blocked address is refused at sign-in (shared through Redis when configured).",
    secret: false,
    value: Value::Whole {
        min: 1,
        max: 10_080,
    },
    production: Production::Same,
};
pub const SENTRY_DSN: Key = Key {
    env: "SENTRY_DSN",
    toml: "sentry_dsn",
    default: "(unset: no error reporting)",
    meaning: "Sentry DSN: panics and internal errors are reported there, scrubbed of secrets (`tradingbot check-sentry` sends a test event).",
    secret: true,
    value: Value::Url(&["http", "https"]),
    production: Production::Same,
};
pub const NOTIFICATION_RETENTION_DAYS: Key = Key {
    env: "TRADINGBOT_NOTIFICATION_RETENTION_DAYS",
    toml: "notification_retention_days",
    default: "180",
    meaning: "Notifications (PnL steps, risk and security alerts, AI recommendations) older than this many days are deleted, hourly. 0 keeps them all.",
    secret: false,
    value: Value::Whole {
        min: 0,
        max: 36_500,
    },
    production: Production::Same,
};
pub const SIGNAL_RETENTION_DAYS: Key = Key {
    env: "TRADINGBOT_SIGNAL_RETENTION_DAYS",
    toml: "signal_retention_days",
    default: "90",
    meaning: "Refused and duplicate signals older than this many days are deleted (hourly, in batches of 5,000 with pauses; accepted signals and any an order points at are kept). `0` keeps every signal.",
    secret: false,
    value: Value::Whole {
        min: 0,
        max: 36_500,
    },
    production: Production::Same,
};
pub const PAPER_SLIPPAGE_BPS: Key = Key {
    env: "TRADINGBOT_PAPER_SLIPPAGE_BPS",
    toml: "paper_slippage_bps",
    default: "2",
    meaning: "Paper market orders fill this many basis points beyond the mark.",
    secret: false,
    value: Value::Decimal {
        min: "0",
        max: "500",
    },
    production: Production::Same,
};

/// Every key, in README order.
pub const ALL: &[Key] = &[
    ENV,
    BIND,
    PUBLIC_URL,
    INTERNAL_URL,
    DATA_DIR,
    DATABASE_URL,
    DATABASE_MAX_CONNECTIONS,
    REDIS_URL,
    REDIS_PREFIX,
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
    WEBHOOK_ALLOWED_IPS,
    EXECUTION_SHARDS,
    POSITION_UPDATE_MS,
    PNL_ALERT_STEP_PCT,
    TELEGRAM_API_URL,
    BINANCE_LIVE_REST_URL,
    BINANCE_LIVE_WS_API_URL,
    BINANCE_LIVE_STREAM_URL,
    BINANCE_TESTNET_REST_URL,
    BINANCE_TESTNET_WS_API_URL,
    BINANCE_TESTNET_STREAM_URL,
    OKX_LIVE_REST_URL,
    OKX_LIVE_WS_PUBLIC_URL,
    OKX_LIVE_WS_PRIVATE_URL,
    OKX_DEMO_REST_URL,
    OKX_DEMO_WS_PUBLIC_URL,
    OKX_DEMO_WS_PRIVATE_URL,
    PAPER_FEED,
    PAPER_CANDLE_SECS,
    PAPER_BALANCE,
    PAPER_SLIPPAGE_BPS,
    MARKET_DATA,
    BALANCE_REFRESH_SECS,
    EQUITY_SNAPSHOT_SECS,
    SIGNAL_RETENTION_DAYS,
    NOTIFICATION_RETENTION_DAYS,
    AUTH_BLOCK_FAILURES,
    LOGIN_ATTEMPTS_PER_IP,
    AUTH_BLOCK_MINUTES,
    SENTRY_DSN,
    OPENAI_API_KEY,
    OPENAI_BASE_URL,
    OPENAI_MODEL,
    ANTHROPIC_API_KEY,
    ANTHROPIC_BASE_URL,
    ANTHROPIC_MODEL,
    AI_TIMEOUT_SECS,
    AI_MONTHLY_TOKENS,
    AI_CALLS_PER_MINUTE,
    AI_CACHE_SECS,
    AI_WATCH_SECS,
];
