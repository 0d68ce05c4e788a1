//! Keeps the signals table from growing without end: every alert is a row
//! (700,000 alerts made a 419 MB SQLite file), and most rows of a busy
//! strategy are refusals and duplicates nobody reads after a few months.
//! Refused and duplicate signals older than the retention are deleted, in
//! small batches with pauses (never a long lock on a table the hot path
//! writes to), and never one an order points at. Accepted signals are kept:
//! they are the trades' history.

use crate::store::{Backend, Store};
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use std::time::Duration;

/// Rows deleted per statement.
const BATCH: u64 = 5_000;
/// Between two batches: the hot path's writes get the table.
const PAUSE: Duration = Duration::from_millis(50);

/// Deletes up to `batch` refused or duplicate signals received before
/// `before` that no order points at; how many it deleted.
pub async fn prune_batch(
    store: &Store,
    before: chrono::DateTime<chrono::Utc>,
    batch: u64,
) -> Result<u64, sea_orm::DbErr> {
    let (backend, p1, p2) = match store.backend() {
        Backend::Postgres => (DbBackend::Postgres, "$1", "$2"),
        Backend::Sqlite => (DbBackend::Sqlite, "?", "?"),
    };
    let sql = format!(
        "DELETE FROM signals WHERE id IN (SELECT s.id FROM signals s \
         WHERE s.received_at < {p1} AND s.outcome IN ('rejected', 'duplicate') \
         AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.signal_id = s.id) LIMIT {p2})"
    );
    let done = store
        .conn()
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [Value::from(before), Value::from(batch as i64)],
        ))
        .await?;
    Ok(done.rows_affected())
}

/// Deletes everything due now, batch by batch; how many rows.
pub async fn prune(store: &Store, keep: Duration) -> Result<u64, sea_orm::DbErr> {
    let before =
        chrono::Utc::now() - chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
    let mut total = 0;
    loop {
        let n = prune_batch(store, before, BATCH).await?;
        total += n;
        metrics::counter!("signals_pruned_total").increment(n);
        if n < BATCH {
            return Ok(total);
        }
        tokio::time::sleep(PAUSE).await;
    }
}

/// Prunes a minute after start, then every `every` (`keep` of `None`:
/// signals are kept forever).
pub fn spawn(store: Store, keep: Option<Duration>, every: Duration) {
    let Some(keep) = keep else { return };
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(60).min(every)).await;
        loop {
            match prune(&store, keep).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "old refused and duplicate signals deleted"),
                Err(e) => tracing::warn!(error = %e, "signal retention failed; retrying later"),
            }
            tokio::time::sleep(every).await;
        }
    });
}
