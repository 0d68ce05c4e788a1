//! Start-up and shutdown: secrets, database (migrated), Redis, the HTTP
//! server, and a graceful stop on SIGINT or SIGTERM.

use crate::config::Config;
use crate::config::keys;
use crate::config::secrets::{self, SecretSource};
use crate::state::AppState;
use crate::{app, telemetry};
use actix_web::dev::ServerHandle;
use actix_web::{HttpServer, web};
use anyhow::Context as _;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Instant;
use tradingbot_actors::kv::Redis;
use tradingbot_actors::store::{Store, StoreOptions};

/// A bound, not yet running, server.
pub struct Server {
    pub addr: SocketAddr,
    pub public_url: String,
    pub state: web::Data<AppState>,
    server: actix_web::dev::Server,
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

        let redis = match &config.redis_url {
            Some(url) => {
                let redis = Redis::connect(url, config.database_max_connections as usize * 2)
                    .await
                    .context("REDIS_URL")?;
                tracing::info!("redis ready");
                Some(redis)
            }
            None => {
                tracing::info!("REDIS_URL not set: using in-process rate limits and caches");
                None
            }
        };

        let listener = TcpListener::bind(config.bind)
            .with_context(|| format!("cannot listen on {}", config.bind))?;
        let addr = listener.local_addr()?;
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));

        let state = web::Data::new(AppState {
            store,
            redis,
            metrics: telemetry::prometheus(),
            secrets: Arc::new(secrets),
            public_url: Arc::from(public_url.as_str()),
            started,
            production: config.is_production(),
        });
        let body_limit = config.max_body_bytes;
        let app_state = state.clone();
        let server = HttpServer::new(move || app::build(app_state.clone(), body_limit))
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
        })
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped, then releases the database.
    pub async fn run(self) -> anyhow::Result<()> {
        tracing::info!(addr = %self.addr, public_url = %self.public_url, "listening");
        self.server.await?;
        let store = self.state.store.clone();
        drop(self.state);
        store.close().await?;
        tracing::info!("shutdown complete");
        Ok(())
    }
}

/// Stops `handle` gracefully on the first SIGINT or SIGTERM.
fn stop_on_signal(handle: ServerHandle) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    actix_web::rt::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(signal = name, "shutting down gracefully");
        handle.stop(true).await;
    });
    Ok(())
}

/// `tradingbot serve`.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let server = Server::build(&config).await?;
    stop_on_signal(server.handle())?;
    server.run().await
}
