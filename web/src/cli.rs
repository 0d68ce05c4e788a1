//! The `tradingbot` command line.

use crate::config::Config;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
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
