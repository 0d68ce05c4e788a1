//! The `tradingbot` command line.

use crate::config::Config;
use crate::config::secrets;
use crate::server::Services;
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal, Write as _};
use std::path::PathBuf;
use tradingbot_actors::identity::RequestContext;
use tradingbot_actors::store::enums::Role;
use tradingbot_actors::store::{Store, StoreOptions};
use zeroize::Zeroizing;

#[derive(Debug, Parser)]
#[command(
    name = "tradingbot",
    version,
    about = "TradingView alerts to risk-checked futures orders"
)]
pub struct Cli {
    /// TOML configuration file (also TRADINGBOT_CONFIG); environment variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply, revert or list database migrations.
    Migrate {
        #[command(subcommand)]
        action: Option<MigrateAction>,
    },
    /// Validate the configuration and print it with secrets redacted.
    CheckConfig,
    /// Re-encrypt every stored secret under a new master key. The new key is
    /// read from `--new-key-file` (hex or base64, 32 bytes); on the embedded
    /// default, where the key lives in the data directory, a new one is
    /// generated and the file replaced.
    RotateMasterKey {
        #[arg(long, value_name = "FILE")]
        new_key_file: Option<PathBuf>,
    },
    /// Create an administrator account. The password is prompted for on a
    /// terminal, or read as one line from standard input.
    CreateAdmin {
        #[arg(long)]
        email: String,
    },
    /// Backtest a template on candles (offline; no server, no database).
    /// Prints the report and writes trades.csv and equity.csv to `--out`.
    Backtest(Box<BacktestArgs>),
    /// Send a test event (and, with `--panic`, a panic) to `SENTRY_DSN`, to
    /// check error reporting end to end.
    CheckSentry {
        #[arg(long)]
        panic: bool,
    },
    /// The backup job's tools: seal (encrypt and authenticate) a dump, open
    /// one, upload one to S3-compatible storage. No configuration needed.
    Backup {
        #[command(subcommand)]
        command: crate::backup::BackupCommand,
    },
    /// Print the OpenAPI document of the API (what `/api/v1/openapi.json`
    /// serves), e.g. to generate a client: no configuration, no server.
    Openapi,
    /// Exit 0 when the server at `--url` answers its health check with 200
    /// (the container's HEALTHCHECK: the image has no curl).
    Healthcheck {
        #[arg(long, default_value = "http://127.0.0.1:8001/api/v1/health")]
        url: String,
        #[arg(long, default_value_t = 3)]
        timeout_secs: u64,
    },
}

/// `tradingbot healthcheck`: one plain-HTTP GET, no TLS, no runtime.
pub fn healthcheck(url: &str, timeout: std::time::Duration) -> Result<(), String> {
    use std::io::{Read, Write};
    let rest = url
        .strip_prefix("http://")
        .ok_or("only http:// URLs (the check runs beside the server)")?;
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let addr = std::net::ToSocketAddrs::to_socket_addrs(host)
        .map_err(|e| format!("{host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host}: no address"))?;
    let mut s =
        std::net::TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("{host}: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut head = [0u8; 64];
    let n = s.read(&mut head).map_err(|e| e.to_string())?;
    let line = String::from_utf8_lossy(&head[..n]);
    let status = line.split_whitespace().nth(1).unwrap_or("");
    if status == "200" {
        Ok(())
    } else {
        Err(format!(
            "{url} answered {}",
            if status.is_empty() { "nothing" } else { status }
        ))
    }
}

#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    /// Candle CSV: Binance kline file or OHLCV with a header. Default: the
    /// bundled BTC daily candles.
    #[arg(long, value_name = "FILE", conflicts_with = "download")]
    pub data: Option<PathBuf>,
    /// Download this symbol's candles from Binance's public klines
    /// endpoint instead (closed months are cached in `--cache-dir`).
    #[arg(long, value_name = "SYMBOL")]
    pub download: Option<String>,
    /// Candle interval of a download: 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d.
    #[arg(long, default_value = "1h")]
    pub interval: String,
    /// Binance USDⓈ-M REST base for downloads.
    #[arg(long, default_value = "https://fapi.binance.com")]
    pub binance_url: String,
    #[arg(long, default_value = "./data/candles")]
    pub cache_dir: PathBuf,
    /// ema_crossover, rsi_reversal, macd_cross, bollinger or supertrend.
    #[arg(long, default_value = "ema_crossover")]
    pub template: String,
    /// A template parameter, `name=value` (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    #[arg(long, default_value = "10000")]
    pub capital: String,
    #[arg(long, default_value = "10")]
    pub investment_pct: String,
    /// What entries are sized by: `investment_pct`, `risk_pct`, `fixed_usdt`
    /// or `fixed_qty` (with `--risk-pct`, `--qty-usdt` or `--qty-base`).
    #[arg(long, default_value = "investment_pct")]
    pub sizing_mode: String,
    #[arg(long)]
    pub risk_pct: Option<String>,
    #[arg(long)]
    pub qty_usdt: Option<String>,
    #[arg(long)]
    pub qty_base: Option<String>,
    /// Protections, as a strategy's (off unless given).
    #[arg(long)]
    pub max_entries_per_day: Option<i64>,
    #[arg(long)]
    pub cooldown_after_sl_min: Option<i64>,
    #[arg(long)]
    pub pause_after_sl_streak: Option<i64>,
    #[arg(long)]
    pub max_drawdown_pct: Option<String>,
    /// A take-profit target, `GAIN_PCT:SIZE_PCT` (repeatable, nearest
    /// first; sizes add up to 100), in place of the single take-profit.
    #[arg(long = "tp-level", value_name = "GAIN:SIZE")]
    pub tp_levels: Vec<String>,
    /// Move the stop after this target fills…
    #[arg(long)]
    pub break_even_after: Option<u8>,
    /// …to `entry` (plus both fees) or `previous_target`.
    #[arg(long)]
    pub break_even_to: Option<String>,
    /// A trailing stop beside the stop-loss: out once the price comes back
    /// this % from its best (0.1–10).
    #[arg(long)]
    pub trail_pct: Option<String>,
    /// …following once the price is this % in profit (default: at once).
    #[arg(long)]
    pub trail_activation_pct: Option<String>,
    /// `market` (default) or `limit` entries.
    #[arg(long)]
    pub order_type: Option<String>,
    /// A limit entry's distance from the price, % (default 0).
    #[arg(long)]
    pub limit_offset_pct: Option<String>,
    /// How long it waits, seconds of the candles' clock (default 60).
    #[arg(long)]
    pub limit_expiry_sec: Option<i64>,
    /// `cancel` (default) or `market` when it did not fill in time.
    #[arg(long)]
    pub limit_fallback: Option<String>,
    /// Maker only.
    #[arg(long)]
    pub post_only: bool,
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=125))]
    pub leverage: u32,
    #[arg(long, default_value = "5")]
    pub long_tp: String,
    #[arg(long, default_value = "2")]
    pub long_sl: String,
    #[arg(long, default_value = "5")]
    pub short_tp: String,
    #[arg(long, default_value = "2")]
    pub short_sl: String,
    /// Taker fee as a fraction (0.0004 = 0.04 %).
    #[arg(long, default_value = "0.0004")]
    pub fee: String,
    #[arg(long, default_value = "0")]
    pub slippage_bps: String,
    /// `next-open` (as an alert fills live) or `close`.
    #[arg(long, default_value = "next-open")]
    pub fill: String,
    /// What an opposite signal does: `reverse` or `close`.
    #[arg(long, default_value = "reverse")]
    pub opposite: String,
    /// First day (YYYY-MM-DD); default: six months before the data's end.
    #[arg(long)]
    pub from: Option<chrono::NaiveDate>,
    /// Last day, inclusive (YYYY-MM-DD).
    #[arg(long)]
    pub to: Option<chrono::NaiveDate>,
    /// The whole series instead of its last six months.
    #[arg(long)]
    pub all: bool,
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// Sweep a parameter: `NAME=FROM..TO[:STEP]` or `NAME=A,B,C`
    /// (repeatable; combinations run on every core, best printed).
    #[arg(long, value_name = "SPEC")]
    pub sweep: Vec<String>,
    /// How a sweep ranks: return, sharpe, profit-factor, win-rate, drawdown.
    #[arg(long, default_value = "return")]
    pub rank_by: String,
    /// How many of a sweep's best combinations to print.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// The symbol the data is (its instrument rules: tick, step, maximum
    /// quantity). Default: the downloaded symbol, BTCUSDT for the bundled
    /// data, otherwise rules derived from the data.
    #[arg(long, value_name = "SYMBOL")]
    pub symbol: Option<String>,
    /// Price tick, replacing the instrument's.
    #[arg(long)]
    pub tick: Option<String>,
    /// Quantity step, replacing the instrument's.
    #[arg(long)]
    pub step: Option<String>,
    /// Largest quantity one order may carry, replacing the instrument's.
    #[arg(long)]
    pub max_qty: Option<String>,
}

/// Bars downloaded before `--from` to warm the indicators.
const WARMUP_BARS: i64 = 1_000;

/// `tradingbot backtest …`: the report on standard output.
pub fn backtest(a: BacktestArgs) -> anyhow::Result<()> {
    use tradingbot_backtest::cli as bt;
    let dec = |name: &str, v: &str| {
        bt::decimal(v).ok_or_else(|| anyhow::anyhow!("--{name}: `{v}` is not a number"))
    };
    let mut params = Vec::new();
    for p in &a.params {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--param {p}: expected NAME=VALUE"))?;
        params.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let opt = |name: &str, v: &Option<String>| v.as_deref().map(|v| dec(name, v)).transpose();
    let draft = tradingbot_core::strategy::StrategyDraft {
        sizing_mode: Some(a.sizing_mode.clone()),
        risk_pct: opt("risk-pct", &a.risk_pct)?,
        qty_usdt: opt("qty-usdt", &a.qty_usdt)?,
        qty_base: opt("qty-base", &a.qty_base)?,
        max_entries_per_day: a.max_entries_per_day,
        cooldown_after_sl_min: a.cooldown_after_sl_min,
        pause_after_sl_streak: a.pause_after_sl_streak,
        max_drawdown_pct: opt("max-drawdown-pct", &a.max_drawdown_pct)?,
        trail_pct: opt("trail-pct", &a.trail_pct)?,
        trail_activation_pct: opt("trail-activation-pct", &a.trail_activation_pct)?,
        order_type: a.order_type.clone(),
        limit_offset_pct: opt("limit-offset-pct", &a.limit_offset_pct)?,
        limit_expiry_sec: a.limit_expiry_sec,
        limit_fallback: a.limit_fallback.clone(),
        post_only: a.post_only.then_some(true),
        ..Default::default()
    };
    let refused = |errors: Vec<tradingbot_core::strategy::FieldError>| {
        let named: Vec<String> = errors
            .iter()
            .map(|e| format!("--{}: {}", e.field.replace('_', "-"), e.message))
            .collect();
        anyhow::anyhow!(named.join("; "))
    };
    let mut levels = Vec::new();
    for l in &a.tp_levels {
        let (gain, size) = l
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("--tp-level {l}: expected GAIN_PCT:SIZE_PCT"))?;
        levels.push(tradingbot_core::exits::Target {
            gain_pct: dec("tp-level", gain.trim())?,
            size_pct: dec("tp-level", size.trim())?,
        });
    }
    let ladder = if levels.is_empty() {
        if a.break_even_after.is_some() {
            anyhow::bail!("--break-even-after needs --tp-level");
        }
        None
    } else {
        Some(
            tradingbot_core::exits::Ladder::from_fields(
                &levels,
                a.break_even_after,
                a.break_even_to.as_deref(),
            )
            .map_err(refused)?,
        )
    };
    let settings = tradingbot_backtest::Settings {
        ladder,
        trailing: tradingbot_core::strategy::resolve_trailing(&draft, None).map_err(refused)?,
        entry: tradingbot_core::strategy::resolve_entry(&draft, None).map_err(refused)?,
        sizing: tradingbot_core::strategy::Sizing::resolve(&draft, None).map_err(refused)?,
        protections: tradingbot_core::strategy::resolve_protections(&draft, None)
            .map_err(refused)?,
        capital: dec("capital", &a.capital)?,
        investment_pct: dec("investment-pct", &a.investment_pct)?,
        leverage: a.leverage,
        long_tp_pct: dec("long-tp", &a.long_tp)?,
        long_sl_pct: dec("long-sl", &a.long_sl)?,
        short_tp_pct: dec("short-tp", &a.short_tp)?,
        short_sl_pct: dec("short-sl", &a.short_sl)?,
        fee_rate: dec("fee", &a.fee)?,
        slippage_bps: dec("slippage-bps", &a.slippage_bps)?,
        fill: bt::fill(&a.fill).ok_or_else(|| anyhow::anyhow!("--fill: `next-open` or `close`"))?,
        opposite: bt::opposite(&a.opposite)
            .ok_or_else(|| anyhow::anyhow!("--opposite: `reverse` or `close`"))?,
        ..tradingbot_backtest::Settings::defaults()
    };
    let day_ms = |d: chrono::NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis())
            .unwrap_or_default()
    };
    let positive = |name: &str,
                    v: &Option<String>|
     -> anyhow::Result<Option<rust_decimal::Decimal>> {
        v.as_deref()
            .map(|v| {
                dec(name, v).and_then(|d| {
                    anyhow::ensure!(d > rust_decimal::Decimal::ZERO, "--{name}: must be above 0");
                    Ok(d)
                })
            })
            .transpose()
    };
    let overrides = tradingbot_backtest::rules::Overrides {
        tick: positive("tick", &a.tick)?,
        step: positive("step", &a.step)?,
        max_qty: positive("max-qty", &a.max_qty)?,
    };
    let rank_by = tradingbot_backtest::sweep::RankBy::parse(&a.rank_by).ok_or_else(|| {
        anyhow::anyhow!("--rank-by: return, sharpe, profit-factor, win-rate or drawdown")
    })?;
    // Drawn only on a terminal, so piped output stays the plain report.
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {msg} [{bar:40}] {pos}/{len} ({eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(if a.sweep.is_empty() {
        "bars"
    } else {
        "combinations"
    });
    let progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let mut symbol = a.symbol.as_deref().map(|s| s.trim().to_ascii_uppercase());
    let mut venue_rules = None;
    let mut from_ms = a.from.map(day_ms);
    let text = match &a.download {
        None => None,
        Some(downloaded) => {
            let now = chrono::Utc::now().timestamp_millis();
            let to = a.to.map_or(now, |d| day_ms(d) + 86_400_000);
            let from = a.from.map_or(to - 183 * 86_400_000, day_ms);
            // The window starts at `from`; the bars before it warm the
            // indicators, as a chart's history does.
            from_ms = Some(from);
            let step = tradingbot_actors::candles::interval_ms(&a.interval).ok_or_else(|| {
                anyhow::anyhow!("--interval: `{}` is not a kline interval", a.interval)
            })?;
            bar.set_message("months");
            let source = tradingbot_actors::candles::KlineSource::new(
                &a.binance_url,
                Some(a.cache_dir.clone()),
            );
            let downloaded = downloaded.trim().to_ascii_uppercase();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let fetched = rt.block_on(source.fetch(
                &downloaded,
                &a.interval,
                from - WARMUP_BARS * step,
                to,
                now,
                &progress,
            ));
            let fetched = fetched?;
            eprintln!(
                "{downloaded} {}: {} months downloaded ({} requests), {} from the cache",
                a.interval, fetched.months_downloaded, fetched.requests, fetched.months_from_cache
            );
            let symbol = symbol.get_or_insert(downloaded);
            match rt.block_on(source.rules(symbol, now)) {
                Ok(r) => venue_rules = Some(r),
                Err(e) => eprintln!("{symbol}: the venue's rules could not be read ({e})"),
            }
            bar.set_message(if a.sweep.is_empty() {
                "bars"
            } else {
                "combinations"
            });
            Some(fetched.csv)
        }
    };
    let done = bt::execute(
        &bt::Request {
            text,
            data: a.data,
            template: a.template,
            params,
            settings,
            from_ms,
            to_ms: a.to.map(|d| day_ms(d) + 86_400_000),
            whole: a.all,
            out: a.out,
            sweep: a.sweep,
            rank_by,
            top: a.top,
            symbol,
            venue_rules,
            overrides,
        },
        &progress,
    );
    bar.finish_and_clear();
    let done = done?;
    let mut text = done.table;
    for f in &done.files {
        let _ = writeln!(text, "wrote {}", f.display());
    }
    // `… | head` closes the pipe early: the reader has what it wanted.
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration (the default).
    Up,
    /// Revert migrations: the last one, `--steps N`, or `--all`.
    Down {
        #[arg(long, default_value_t = 1, conflicts_with = "all")]
        steps: u32,
        #[arg(long)]
        all: bool,
    },
    /// List migrations and whether each is applied.
    Status,
}

/// `tradingbot migrate …`.
pub async fn migrate(config: &Config, action: MigrateAction) -> anyhow::Result<()> {
    let store = Store::connect(
        &config.database_url,
        &StoreOptions {
            max_connections: 1,
            ..StoreOptions::default()
        },
    )
    .await?;
    match action {
        MigrateAction::Up => {
            store.migrate_up().await?;
            println!("migrations applied");
        }
        MigrateAction::Down { steps, all } => {
            store
                .migrate_down(if all { None } else { Some(steps) })
                .await?;
            println!("migrations reverted");
        }
        MigrateAction::Status => {
            for (name, applied) in store.migration_status().await? {
                println!("{} {name}", if applied { "applied" } else { "pending" });
            }
        }
    }
    store.close().await?;
    Ok(())
}

fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password (at least 12 characters): ")?;
        let second = rpassword::prompt_password("Repeat the password: ")?;
        anyhow::ensure!(first == second, "the passwords differ");
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

/// `tradingbot create-admin --email …`.
pub async fn create_admin(config: &Config, email: &str) -> anyhow::Result<()> {
    let password = read_password()?;
    let secrets = secrets::resolve(config)?;
    let store = Store::connect(&config.database_url, &StoreOptions::default()).await?;
    store.migrate_up().await?;
    let services = Services::build(
        config,
        &secrets,
        store.clone(),
        None,
        String::new(),
        None,
        None,
    )
    .await?;
    let ctx = RequestContext {
        ip: None,
        user_agent: Some("tradingbot create-admin".into()),
    };
    let user = services
        .identity
        .create_user(email, &password, Role::Admin, &ctx)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("cannot create the administrator")?;
    println!("created administrator {} (id {})", user.email, user.id);
    store.close().await?;
    Ok(())
}

/// `tradingbot rotate-master-key`.
pub async fn rotate_master_key(
    config: &Config,
    new_key_file: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    use secrecy::ExposeSecret;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let current = secrets::resolve(config)?;
    let old: [u8; 32] = current
        .master_key
        .expose_secret()
        .try_into()
        .context("the current master key must be 32 bytes")?;
    let generated = new_key_file.is_none();
    if generated && config.master_key.is_some() {
        anyhow::bail!(
            "TRADINGBOT_MASTER_KEY is set explicitly: give the new key with --new-key-file, \
             then set TRADINGBOT_MASTER_KEY to it"
        );
    }
    let new: [u8; 32] = match new_key_file {
        Some(path) => {
            let text = Zeroizing::new(
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?,
            );
            secrets::decode_key(text.trim())
                .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                .context("the new key must be 32 bytes, hex or base64")?
        }
        None => loop {
            let mut k = [0u8; 32];
            getrandom::fill(&mut k).context("no randomness available")?;
            if tradingbot_core::vault::key_version(&k) != tradingbot_core::vault::key_version(&old)
            {
                break k;
            }
        },
    };
    anyhow::ensure!(
        tradingbot_core::vault::key_version(&new) != tradingbot_core::vault::key_version(&old),
        "the new key's version byte equals the old one's; generate another key"
    );
    let vault = tradingbot_core::vault::Vault::from_key(new).with_previous(old);
    let store = Store::connect(&config.database_url, &StoreOptions::default()).await?;
    store.migrate_up().await?;
    let moved = tradingbot_actors::store::rekey::reseal_all(&store, &vault).await?;
    store.close().await?;
    if generated {
        let path = config.data_dir.join(secrets::MASTER_KEY_FILE);
        let tmp = config.data_dir.join("master_key.new");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        let mut text = Zeroizing::new(hex::encode(new));
        text.push('\n');
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        println!(
            "re-encrypted {moved} secrets; the new key is in {}",
            path.display()
        );
    } else {
        println!(
            "re-encrypted {moved} secrets; now set TRADINGBOT_MASTER_KEY to the new key and restart"
        );
    }
    Ok(())
}
