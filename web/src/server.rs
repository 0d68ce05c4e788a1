//! Start-up and shutdown: secrets, database (migrated), Redis, the HTTP
//! server, and a graceful stop on SIGINT or SIGTERM.

use crate::app::HttpSettings;
use crate::auth::JwtKeys;
use crate::config::Config;
use crate::config::keys;
use crate::config::secrets::{self, SecretSource, Secrets};
use crate::state::AppState;
use crate::{app, telemetry};
use actix_web::dev::ServerHandle;
use actix_web::{HttpServer, web};
use anyhow::Context as _;
use secrecy::ExposeSecret;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Instant;
use tradingbot_actors::accounts::Accounts;
use tradingbot_actors::advisor::watch::AiWatch;
use tradingbot_actors::balances::refresh::BalanceRefresher;
use tradingbot_actors::exchange::paper::PriceFeed;
use tradingbot_actors::exchange::paper::feed::FeedSource;
use tradingbot_actors::execution::Execution;
use tradingbot_actors::identity::{Identity, Mailer};
use tradingbot_actors::kv::Redis;
use tradingbot_actors::kv::{RateLimiter, Revocations, WebhookGate};
use tradingbot_actors::store::{Store, StoreOptions};
use tradingbot_actors::strategies::Strategies;
use tradingbot_core::exchange::paper::PaperConfig;
use tradingbot_core::vault::Vault;

/// A bound, not yet running, server.
pub struct Server {
    pub addr: SocketAddr,
    pub public_url: String,
    pub state: web::Data<AppState>,
    server: actix_web::dev::Server,
    shutdown_timeout: std::time::Duration,
}

fn announce(what: &str, key: &keys::Key, source: &SecretSource) {
    match source {
        SecretSource::Configured => {}
        SecretSource::Loaded(path) => {
            tracing::info!(path = %path.display(), "using the {what} generated earlier");
        }
        SecretSource::Generated(path) => tracing::warn!(
            path = %path.display(),
            "generated a new {what} (mode 0600) because {} is not set; fine for development, \
             set it explicitly in production",
            key.env
        ),
    }
}

impl Server {
    /// Prepares everything and binds the listening socket.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let started = Instant::now();
        let secrets = secrets::resolve(config)?;
        announce("JWT signing key", &keys::JWT_SECRET, &secrets.jwt_source);
        announce(
            "credential master key",
            &keys::MASTER_KEY,
            &secrets.master_source,
        );

        let store = Store::connect(
            &config.database_url,
            &StoreOptions {
                max_connections: config.database_max_connections,
                ..StoreOptions::default()
            },
        )
        .await?;
        store.migrate_up().await?;
        tracing::info!(
            backend = store.backend().as_str(),
            "database ready, migrations applied"
        );
        // Records an earlier run journaled but had not stored go in first.
        let journal = tradingbot_actors::execution::persist::recover(
            &store,
            &config.data_dir.join("journal"),
        )
        .await
        .context("the trading journal")?;

        let redis = connect_redis(config).await?;
        let listener = TcpListener::bind(config.bind)
            .with_context(|| format!("cannot listen on {}", config.bind))?;
        let addr = listener.local_addr()?;
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        let frontend_url = config
            .frontend_url
            .clone()
            .unwrap_or_else(|| public_url.clone());
        let instance_id = journal.id().to_owned();
        // With PostgreSQL and Redis, instances share the users: this one's
        // place among them. (SQLite is one process's database.)
        let shared_store = store.backend() == tradingbot_actors::store::Backend::Postgres;
        let cluster = redis.as_ref().filter(|_| shared_store).map(|r| {
            let url = config
                .internal_url
                .clone()
                .unwrap_or_else(|| internal_url(addr));
            // Kept across restarts with the data directory: a restarted
            // instance takes its own leases back at once.
            let id = journal.id().to_owned();
            tracing::info!(instance = %id, internal_url = %url, "joining the cluster");
            tradingbot_actors::cluster::Cluster::new(r.clone(), id, url)
        });
        let services = Services::build(
            config,
            &secrets,
            store.clone(),
            redis.clone(),
            frontend_url,
            Some(journal),
            cluster,
        )
        .await?;
        let forwarder = Arc::new(crate::cluster::Forwarder::new(
            secrets.jwt_secret.expose_secret(),
        ));

        let history = tradingbot_actors::history::History::new(store.clone());
        let ws = crate::ws::hub::WsHub::start(services.execution.bus(), redis.clone());
        let prices = if config.market_data_offline {
            tradingbot_actors::market_data::prices::PublicPrices::offline()
        } else {
            tradingbot_actors::market_data::prices::PublicPrices::start(
                config.endpoints.binance_live_stream.clone(),
                services.execution.bus().clone(),
            )
        };
        let backtests = Arc::new(tradingbot_actors::backtests::Backtests::new(
            tradingbot_actors::candles::KlineSource::new(
                &config.endpoints.binance_live_rest,
                Some(config.data_dir.join("candles")),
            ),
            store.clone(),
            instance_id,
        ));
        let interrupted = backtests.recover().await?;
        if interrupted > 0 {
            tracing::warn!(
                jobs = interrupted,
                "backtests interrupted by the restart marked failed"
            );
        }
        let balances = Arc::new(tradingbot_actors::balances::BalanceBook::default());
        let balance_refresh = BalanceRefresher {
            accounts: services.accounts.clone(),
            book: balances.clone(),
            bus: services.execution.bus().clone(),
        };
        let state = web::Data::new(AppState {
            store,
            redis,
            metrics: telemetry::prometheus(),
            secrets: Arc::new(secrets),
            identity: services.identity,
            accounts: services.accounts,
            strategies: services.strategies,
            history,
            execution: services.execution,
            telegram: services.telegram,
            ws,
            prices,
            gate: services.gate,
            webhook_allowed_ips: config.webhook_allowed_ips.clone().into(),
            jwt: services.jwt,
            revocations: services.revocations,
            limiter: services.limiter,
            limits: config.limits,
            trusted_proxies: config.trusted_proxies.clone().into(),
            public_url: Arc::from(public_url.as_str()),
            started,
            backtests: backtests.clone(),
            market_data: Arc::new(tradingbot_actors::market_data::MarketData::new(
                tradingbot_actors::candles::KlineSource::new(
                    &config.endpoints.binance_live_rest,
                    None,
                ),
                config.market_data_offline,
            )),
            advisor: Arc::new(advisor(&config.ai)),
            balances: balances.clone(),
            balance_refresh,
            production: config.is_production(),
            forwarder,
        });
        let settings = HttpSettings {
            body_limit: config.max_body_bytes,
            cors_origins: config.cors_origins.clone().into(),
            hsts: public_url.starts_with("https://"),
        };
        tradingbot_actors::advisor::watch::spawn(
            AiWatch {
                store: state.store.clone(),
                execution: state.execution.clone(),
                market_data: state.market_data.clone(),
                advisor: state.advisor.clone(),
            },
            config.ai.watch_every,
        );
        state.balance_refresh.clone().spawn(config.balance_refresh);
        tradingbot_actors::equity::snapshots::spawn(
            state.store.clone(),
            state.balances.clone(),
            config.equity_snapshot,
            config.balance_refresh,
        );
        crate::notifications::spawn(state.clone(), config.notification_retention);
        // Notifications and Telegram listen now: the start's alerts are theirs.
        state.execution.bus().started();
        tradingbot_actors::retention::spawn(
            state.store.clone(),
            config.signal_retention,
            std::time::Duration::from_secs(3600),
        );
        tradingbot_actors::anomalies::spawn(
            state.execution.clone(),
            state.store.clone(),
            tradingbot_core::anomaly::Settings::default(),
        );
        tradingbot_actors::security_alerts::spawn(
            state.identity.clone(),
            state.execution.bus().clone(),
            state
                .execution
                .cluster()
                .map(|c| tradingbot_actors::security_alerts::Relay {
                    redis: c.redis().clone(),
                    origin: c.id().to_owned(),
                }),
        );
        telemetry::register_series();
        telemetry::spawn_gauges(
            state.store.clone(),
            state.redis.clone(),
            std::time::Duration::from_secs(15),
        );
        let app_state = state.clone();
        let server = HttpServer::new(move || app::build(app_state.clone(), settings.clone()))
            .workers(config.workers)
            .shutdown_timeout(config.shutdown_timeout.as_secs())
            // Signals are ours: actix would stop *immediately* on SIGINT.
            .disable_signals()
            .listen(listener)?
            .run();
        Ok(Self {
            addr,
            public_url,
            state,
            server,
            shutdown_timeout: config.shutdown_timeout,
        })
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped, then writes what the trading core still holds
    /// and releases the database.
    pub async fn run(self) -> anyhow::Result<()> {
        tracing::info!(addr = %self.addr, public_url = %self.public_url, "listening");
        let shutdown_timeout = self.shutdown_timeout;
        self.server.await?;
        // Hand this instance's users to the others before going.
        self.state.execution.leave(shutdown_timeout).await;
        // Within the shutdown budget; what is left is in the journal and
        // is written at the next start.
        match tokio::time::timeout(shutdown_timeout, self.state.execution.drain()).await {
            Ok(()) => tracing::info!("trading events written"),
            Err(_) => tracing::warn!(
                waiting = self.state.execution.mailbox_depths()[2].1,
                "shutdown timeout: the records not yet stored are in the journal and are stored at the next start"
            ),
        }
        let store = self.state.store.clone();
        drop(self.state);
        store.close().await?;
        tracing::info!("shutdown complete");
        Ok(())
    }
}

/// Where the other instances reach this one, from the bound address (the
/// host's name when bound to every address).
fn internal_url(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "localhost".into());
        format!("http://{host}:{}", addr.port())
    } else {
        format!("http://{addr}")
    }
}

async fn connect_redis(config: &Config) -> anyhow::Result<Option<Redis>> {
    match &config.redis_url {
        Some(url) => {
            let redis = Redis::connect(
                url,
                &config.redis_prefix,
                config.database_max_connections as usize * 2,
            )
            .await
            .context("REDIS_URL")?;
            tracing::info!("redis ready");
            // A venue's pause or ban holds every instance on this address.
            tradingbot_actors::kv::venue_holds::share(redis.clone());
            Ok(Some(redis))
        }
        None => {
            tracing::info!("REDIS_URL not set: using in-process rate limits and caches");
            Ok(None)
        }
    }
}

/// The long-lived services behind the routes.
pub struct Services {
    pub identity: Arc<Identity>,
    pub accounts: Arc<Accounts>,
    pub strategies: Arc<Strategies>,
    pub execution: Arc<Execution>,
    pub telegram: Arc<tradingbot_actors::telegram::Telegram>,
    pub gate: Arc<WebhookGate>,
    pub jwt: Arc<JwtKeys>,
    pub revocations: Arc<Revocations>,
    pub limiter: Arc<RateLimiter>,
}

impl Services {
    pub async fn build(
        config: &Config,
        secrets: &Secrets,
        store: Store,
        redis: Option<Redis>,
        frontend_url: String,
        journal: Option<Arc<tradingbot_actors::execution::journal::Journal>>,
        cluster: Option<Arc<tradingbot_actors::cluster::Cluster>>,
    ) -> anyhow::Result<Self> {
        let master: [u8; 32] = secrets
            .master_key
            .expose_secret()
            .try_into()
            .context("TRADINGBOT_MASTER_KEY must be 32 bytes")?;
        let vault = Arc::new(Vault::from_key(master));
        let revocations = Arc::new(Revocations::new(redis.as_ref()));
        let limiter = Arc::new(RateLimiter::new(redis.as_ref()));
        let mailer = match &config.smtp_url {
            Some(url) => Mailer::smtp(url, &config.smtp_from).context("SMTP_URL")?,
            None => {
                if config.is_production() {
                    tracing::warn!("SMTP_URL is not set: verification emails cannot be sent");
                }
                Mailer::Log {
                    production: config.is_production(),
                }
            }
        };
        let candle_ms = config.paper.candle_secs as i64 * 1000;
        let feed = PriceFeed::start(if config.paper.live_feed {
            FeedSource::Binance {
                stream_url: config.endpoints.binance_live_stream.clone(),
                candle_ms,
            }
        } else {
            FeedSource::Replay { candle_ms }
        });
        let paper = PaperConfig {
            slippage_bps: config.paper.slippage_bps,
            ..PaperConfig::default()
        };
        let accounts = Arc::new(Accounts::new(
            store.clone(),
            vault.clone(),
            config.endpoints.clone(),
            feed,
            paper,
            config.paper.balance,
        ));
        let strategies = Arc::new(Strategies::new(store.clone(), vault.clone()));
        let execution = Execution::start(
            store.clone(),
            accounts.clone(),
            strategies.clone(),
            config.endpoints.clone(),
            tradingbot_actors::execution::ExecutionOptions {
                shards: config.execution_shards,
                monitor: config.monitor,
                journal,
                cluster,
            },
        )
        .await
        .context("starting the execution core")?;
        let telegram = tradingbot_actors::telegram::Telegram::start(
            store.clone(),
            vault.clone(),
            config.telegram_api_url.clone(),
            execution.clone(),
            tradingbot_actors::history::History::new(store.clone()),
        )
        .await
        .context("starting the Telegram bots")?;
        let gate = Arc::new(WebhookGate::new(redis.as_ref()));
        // The alerts admitted before this start stay admitted.
        let seeded = tradingbot_actors::kv::webhook_gate::seed(
            gate.as_ref(),
            &store,
            std::time::Duration::from_millis(2 * tradingbot_core::signal::MAX_SKEW_MS as u64),
        )
        .await
        .context("seeding the webhook replay cache")?;
        if seeded > 0 {
            tracing::info!(
                alerts = seeded,
                "replay cache seeded from the signals table"
            );
        }
        let mut identity = Identity::new(
            store,
            vault,
            revocations.clone(),
            limiter.clone(),
            Arc::new(tradingbot_actors::kv::Blocklist::new(redis.as_ref())),
            mailer,
            frontend_url,
        )
        .await?;
        identity.source_policy = config.source_policy;
        identity.login_attempts_per_ip = config.login_attempts_per_ip;
        Ok(Self {
            identity: Arc::new(identity),
            accounts,
            strategies,
            execution,
            telegram,
            gate,
            jwt: Arc::new(JwtKeys::new(secrets.jwt_secret.expose_secret())),
            revocations,
            limiter,
        })
    }
}

/// Stops gracefully on the first SIGINT or SIGTERM: with other instances,
/// this one's users are handed over first, while it still answers (an
/// alert forwarded here meanwhile is executed or sent on to the new owner,
/// never refused by a closed port); then the HTTP server stops.
fn stop_on_signal(
    handle: ServerHandle,
    execution: Arc<tradingbot_actors::execution::Execution>,
    ws: Arc<crate::ws::hub::WsHub>,
    within: std::time::Duration,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    actix_web::rt::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(signal = name, "shutting down gracefully");
        execution.leave(within).await;
        // Open websockets would hold the graceful stop until its timeout.
        ws.close_all();
        handle.stop(true).await;
    });
    Ok(())
}

/// `tradingbot serve`.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let server = Server::build(&config).await?;
    stop_on_signal(
        server.handle(),
        server.state.execution.clone(),
        server.state.ws.clone(),
        server.shutdown_timeout,
    )?;
    server.run().await
}

/// The providers whose keys are configured.
fn advisor(ai: &crate::config::AiSettings) -> tradingbot_actors::advisor::Advisor {
    use tradingbot_actors::advisor::{Advisor, Anthropic, Limits, OpenAi, Provider};
    let mut providers: Vec<Box<dyn Provider>> = Vec::new();
    if let Some(key) = &ai.openai_key {
        providers.push(Box::new(OpenAi::new(
            &ai.openai_base_url,
            &ai.openai_model,
            key.clone(),
            ai.timeout,
        )));
    }
    if let Some(key) = &ai.anthropic_key {
        providers.push(Box::new(Anthropic::new(
            &ai.anthropic_base_url,
            &ai.anthropic_model,
            key.clone(),
            ai.timeout,
        )));
    }
    Advisor::new(
        providers,
        Limits {
            monthly_tokens: ai.monthly_tokens,
            calls_per_minute: ai.calls_per_minute,
            cache_for: ai.cache_for,
        },
    )
}
