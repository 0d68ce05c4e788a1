//! The `tradingbot` command line.

use crate::config::Config;
use crate::config::secrets;
use crate::server::Services;
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use tradingbot_actors::identity::RequestContext;
use tradingbot_actors::store::enums::Role;
use tradingbot_actors::store::{Store, StoreOptions};

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
    /// Create an administrator account. The password is prompted for on a
    /// terminal, or read as one line from standard input.
    CreateAdmin {
        #[arg(long)]
        email: String,
    },
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
    let services = Services::build(config, &secrets, store.clone(), None, String::new()).await?;
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
