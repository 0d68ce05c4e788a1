//! Persistence: the database connection, its schema migrations and the
//! sea-orm entities of every table.
//!
//! One URL picks the backend: `sqlite://…` for the embedded default,
//! `postgres://…` for production. Everything above this module is written once
//! against sea-orm and works on both.

pub mod decimal;
pub mod entities;
pub mod enums;
pub mod rekey;
pub mod testing;

pub use decimal::DbDecimal;

pub use sea_orm::DbErr;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tradingbot_migrations::{Migrator, MigratorTrait};

/// Which database the URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a database URL names, or `None` for an unsupported scheme.
    pub fn from_url(url: &str) -> Option<Self> {
        let scheme = url.split_once(':')?.0;
        match scheme {
            "sqlite" => Some(Self::Sqlite),
            "postgres" | "postgresql" => Some(Self::Postgres),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// The advisory lock instances take to migrate one at a time ("tbmigr"
/// in ASCII).
const MIGRATION_LOCK: i64 = 0x7462_6d69_6772;

/// Errors at the persistence boundary.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL scheme (expected sqlite:// or postgres://)")]
    UnsupportedUrl,
    #[error("cannot create the database directory {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot connect to the {backend} database: {source}")]
    Connect {
        backend: &'static str,
        source: DbErr,
    },
    #[error("migration failed: {0}")]
    Migration(DbErr),
    #[error("database error: {0}")]
    Db(#[from] DbErr),
}

/// Pool settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: u32,
    pub connect_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// A pooled connection to the application database.
#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseConnection,
    backend: Backend,
    /// Where audit events go once written, for the security alerts.
    audit_tap: Arc<OnceLock<mpsc::Sender<entities::audit_log::Model>>>,
    /// For a connection of its own (the migration lock). May carry a
    /// password: never shown.
    url: Secret,
    timeout: Duration,
    /// SQLite's writers' own connection, made at first use.
    writer: Arc<tokio::sync::OnceCell<DatabaseConnection>>,
}

/// A string kept out of `Debug` output.
#[derive(Clone)]
struct Secret(Arc<str>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Store {
    /// Connects to `url`. For SQLite the file (and its directory) is created
    /// when missing, WAL journaling lets readers proceed during writes, and
    /// foreign keys are enforced (SQLite leaves them off unless asked).
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let backend = Backend::from_url(url).ok_or(StoreError::UnsupportedUrl)?;
        if backend == Backend::Sqlite {
            ensure_sqlite_dir(url)?;
        }
        let db = Database::connect(connect_options(
            url,
            backend,
            options.max_connections,
            options.connect_timeout,
        ))
        .await
        .map_err(|source| StoreError::Connect {
            backend: backend.as_str(),
            source,
        })?;
        Ok(Self {
            db,
            backend,
            audit_tap: Arc::default(),
            url: Secret(Arc::from(url)),
            timeout: options.connect_timeout,
            writer: Arc::default(),
        })
    }

    /// The connection the trading records' and the paper books' writers
    /// commit on. On a SQLite file it is one connection of their own:
    /// spread over the pool, every batch landed on the connection idle
    /// longest, whose page cache the other writer's commits had made
    /// stale, and re-read the tables' pages from the file; the two writers
    /// also met on SQLite's write lock, whose waiting sleeps milliseconds
    /// at a time. On one connection they take turns and its cache stays
    /// warm. PostgreSQL (and an in-memory SQLite, one connection's own)
    /// uses the pool.
    pub async fn writer(&self) -> Result<&DatabaseConnection, DbErr> {
        if self.backend != Backend::Sqlite || is_memory(&self.url.0) {
            return Ok(&self.db);
        }
        self.writer
            .get_or_try_init(|| {
                let mut opts = connect_options(&self.url.0, self.backend, 1, self.timeout);
                // The tables' and indexes' pages the writers touch, kept
                // (filled as touched, not reserved).
                opts.map_sqlx_sqlite_opts(|o| o.pragma("cache_size", WRITER_CACHE_KIB));
                Database::connect(opts)
            })
            .await
    }
}

/// The writers' connection's page cache, in KiB (negative: SQLite's unit).
const WRITER_CACHE_KIB: &str = "-65536";

fn is_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

fn connect_options(
    url: &str,
    backend: Backend,
    max_connections: u32,
    timeout: Duration,
) -> ConnectOptions {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(max_connections)
        .connect_timeout(timeout)
        .acquire_timeout(timeout)
        .sqlx_logging(false);
    if backend == Backend::Sqlite {
        opts.map_sqlx_sqlite_opts(|o| {
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
                // 8 MiB of pages per connection (SQLite's default is
                // 2 MiB): the writer's indexes stay in memory instead
                // of being read back from the file for every batch.
                .pragma("cache_size", "-8192")
                // A statement that may need undoing inside the writer's
                // transaction keeps its undo pages in memory, not in
                // a temporary file written for each multi-row insert.
                .pragma("temp_store", "memory")
        });
    }
    opts
}

impl Store {
    /// Every audit event written from now on, in order. One reader only:
    /// `None` once the feed is taken.
    pub fn audit_feed(
        &self,
        capacity: usize,
    ) -> Option<mpsc::Receiver<entities::audit_log::Model>> {
        let (tx, rx) = mpsc::channel(capacity);
        self.audit_tap.set(tx).ok().map(|()| rx)
    }

    /// Hands a written audit event to the feed without waiting: an audited
    /// action never waits for its alert. A full feed drops (and counts) it.
    pub(crate) fn tap_audit(&self, row: entities::audit_log::Model) {
        if let Some(tx) = self.audit_tap.get()
            && tx.try_send(row).is_err()
        {
            metrics::counter!("audit_feed_dropped_total").increment(1);
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn conn(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Applies every pending migration. On PostgreSQL the instances that
    /// start together take turns (a session advisory lock, released when
    /// done or when the connection drops): the first applies, the others
    /// find nothing pending.
    pub async fn migrate_up(&self) -> Result<(), StoreError> {
        if self.backend != Backend::Postgres {
            let own = self.sqlite_migration_conn().await?;
            let applied = Migrator::up(own.as_ref().map_or(&self.db, |s| &s.db), None)
                .await
                .map_err(StoreError::Migration);
            if let Some(own) = own {
                let _ = own.close().await;
            }
            return applied;
        }
        // On a connection of its own, so a pool of one connection is enough
        // for the migrations themselves.
        let mut opts = ConnectOptions::new(self.url.0.to_string());
        opts.max_connections(1).sqlx_logging(false);
        let lock = Database::connect(opts).await?;
        lock.execute_unprepared(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
            .await?;
        let applied = Migrator::up(&self.db, None)
            .await
            .map_err(StoreError::Migration);
        let _ = lock
            .execute_unprepared(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
            .await;
        let _ = lock.close().await;
        applied
    }

    /// Reverts the last `steps` migrations (all of them when `None`).
    pub async fn migrate_down(&self, steps: Option<u32>) -> Result<(), StoreError> {
        let own = match self.backend {
            Backend::Sqlite => self.sqlite_migration_conn().await?,
            Backend::Postgres => None,
        };
        let reverted = Migrator::down(own.as_ref().map_or(&self.db, |s| &s.db), steps)
            .await
            .map_err(StoreError::Migration);
        if let Some(own) = own {
            let _ = own.close().await;
        }
        reverted
    }

    /// SQLite's migrations run on one connection of their own. Spread over
    /// the pool, a statement may be prepared on a connection whose copy of
    /// the schema predates the last migration step, and SQLite checks
    /// `CREATE INDEX` against that copy: after a table was dropped and made
    /// again, its index was reported as already there (seen once in CI).
    /// An in-memory database is one connection's own: the pool is used.
    async fn sqlite_migration_conn(&self) -> Result<Option<Store>, StoreError> {
        if is_memory(&self.url.0) {
            return Ok(None);
        }
        let one = StoreOptions {
            max_connections: 1,
            ..StoreOptions::default()
        };
        Store::connect(&self.url.0, &one).await.map(Some)
    }

    /// Names of the applied and pending migrations, oldest first.
    pub async fn migration_status(&self) -> Result<Vec<(String, bool)>, StoreError> {
        let applied: Vec<String> = Migrator::get_applied_migrations(&self.db)
            .await
            .map_err(StoreError::Migration)?
            .into_iter()
            .map(|m| m.name().to_owned())
            .collect();
        Ok(Migrator::migrations()
            .iter()
            .map(|m| {
                let name = m.name().to_owned();
                let done = applied.contains(&name);
                (name, done)
            })
            .collect())
    }

    /// Round-trips a trivial query; the time it took is the health check's
    /// database latency.
    pub async fn ping(&self) -> Result<Duration, StoreError> {
        let started = Instant::now();
        let stmt = sea_orm::Statement::from_string(self.db.get_database_backend(), "SELECT 1");
        self.db.execute_raw(stmt).await?;
        Ok(started.elapsed())
    }

    /// The server's version string (`sqlite 3.x` / `PostgreSQL 15.x …`).
    pub async fn server_version(&self) -> Result<String, StoreError> {
        let sql = match self.db.get_database_backend() {
            DbBackend::Sqlite => "SELECT 'sqlite ' || sqlite_version() AS v",
            _ => "SELECT version() AS v",
        };
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                self.db.get_database_backend(),
                sql,
            ))
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("version".into()))?;
        Ok(row.try_get::<String>("", "v")?)
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(self) -> Result<(), StoreError> {
        if let Some(w) = self.writer.get() {
            w.clone().close().await?;
        }
        self.db.close().await.map_err(StoreError::Db)
    }
}

/// Creates the directory that will hold the SQLite file of `url`.
fn ensure_sqlite_dir(url: &str) -> Result<(), StoreError> {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(dir) = Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.display().to_string(),
            source,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_from_url() {
        assert_eq!(
            Backend::from_url("sqlite://./data/x.db"),
            Some(Backend::Sqlite)
        );
        assert_eq!(Backend::from_url("sqlite::memory:"), Some(Backend::Sqlite));
        assert_eq!(
            Backend::from_url("postgres://u@h/db"),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::from_url("postgresql://u@h/db"),
            Some(Backend::Postgres)
        );
        assert_eq!(Backend::from_url("mysql://u@h/db"), None);
        assert_eq!(Backend::from_url("nonsense"), None);
    }
}
