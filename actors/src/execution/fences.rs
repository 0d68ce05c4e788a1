//! The database's half of the cluster's fencing (`shard_fences`).
//!
//! Leases live in Redis, but an owner that was paused past its lease may
//! still hold records in its writer when it resumes, and a killed one
//! leaves journaled records that are written when it starts again — both
//! after the next owner has taken the shard over. The next owner raises
//! the shard's fence to its token *before* it reads the shard's users back;
//! every batch locks the fences of the shards it touches and writes a
//! record made under an older token only where nothing is yet (a new fact
//! is kept, a newer state is never overwritten). The row lock orders the
//! two: a stale batch either commits before the raise (and the new owner
//! reads it) or sees the raised fence.

use super::bus::Lease;
use super::events::Event;
use crate::cluster::shard_of;
use crate::store::{Backend, Store};
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use std::collections::{BTreeSet, HashMap};

/// The fences of the shards a batch touches, locked until it commits.
pub(super) async fn read_locked<'a>(
    txn: &impl ConnectionTrait,
    leases: impl Iterator<Item = (&'a Event, Lease)>,
) -> Result<HashMap<u16, u64>, sea_orm::DbErr> {
    let shards: BTreeSet<u16> = leases
        .filter(|(_, lease)| lease.is_some())
        .filter_map(|(e, _)| e.user_id().map(shard_of))
        .collect();
    if shards.is_empty() {
        return Ok(HashMap::new());
    }
    let backend = txn.get_database_backend();
    let list = shards
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",");
    // Locked in shard order, as `raise` takes them: no deadlock.
    let lock = if backend == DbBackend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let rows = txn
        .query_all_raw(Statement::from_string(
            backend,
            format!(
                "SELECT shard, token FROM shard_fences WHERE shard IN ({list}) ORDER BY shard{lock}"
            ),
        ))
        .await?;
    let mut fences = HashMap::new();
    for row in rows {
        let shard: i32 = row.try_get("", "shard")?;
        let token: i64 = row.try_get("", "token")?;
        fences.insert(shard as u16, token as u64);
    }
    Ok(fences)
}

/// Whether a record made under `lease` is the shard's current owner's.
pub(super) fn current(fences: &HashMap<u16, u64>, event: &Event, lease: Lease) -> bool {
    let (Some(token), Some(user_id)) = (lease, event.user_id()) else {
        return true;
    };
    token > 0 && fences.get(&shard_of(user_id)).is_none_or(|f| *f <= token)
}

/// Raises the fences of the shards this instance has just taken, to their
/// new lease tokens (never lowers one), before their users are read back.
pub async fn raise(
    store: &Store,
    owner: &str,
    shards: &[(u16, u64)],
) -> Result<(), sea_orm::DbErr> {
    let mut shards = shards.to_vec();
    shards.sort_unstable();
    let (backend, p) = match store.backend() {
        Backend::Postgres => (DbBackend::Postgres, ["$1", "$2", "$3", "$4"]),
        Backend::Sqlite => (DbBackend::Sqlite, ["?", "?", "?", "?"]),
    };
    let sql = format!(
        "INSERT INTO shard_fences (shard, token, owner, updated_at) VALUES ({}, {}, {}, {}) \
         ON CONFLICT (shard) DO UPDATE SET token = excluded.token, owner = excluded.owner, \
         updated_at = excluded.updated_at WHERE shard_fences.token < excluded.token",
        p[0], p[1], p[2], p[3]
    );
    let txn = sea_orm::TransactionTrait::begin(store.conn()).await?;
    for (shard, token) in shards {
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            sql.clone(),
            [
                Value::from(i32::from(shard)),
                Value::from(token as i64),
                Value::from(owner.to_owned()),
                Value::from(chrono::Utc::now()),
            ],
        ))
        .await?;
    }
    txn.commit().await
}
