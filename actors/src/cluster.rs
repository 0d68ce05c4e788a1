//! Several instances on one PostgreSQL and one Redis: who trades for whom.
//!
//! Users are partitioned into [`SHARDS`] shards (`user_id mod 64`). Each
//! shard has one owning instance at a time, holding a lease in Redis
//! (`cluster:shard:{n}` = `"{instance}:{token}"`, 6 s, renewed every
//! second) whose fencing token grows with every new owner. The owner alone
//! runs the shard's users' actors; any other instance forwards their alerts
//! and commands to it. The instances agree on who *should* own each shard
//! by rendezvous hashing over the live members (`cluster:members`, renewed
//! heartbeats), so a joining or leaving instance moves about 1/N of the
//! shards and nothing else; a shard is claimed only once its lease is free,
//! so two owners never overlap.
//!
//! Why Redis and not PostgreSQL leases: the lease is renewed every second
//! by every instance for up to 64 shards; Redis does that in one round trip
//! with TTLs that expire on their own when an owner dies, and it already
//! carries the state instances share (replay cache, limits, fan-out).
//!
//! An instance keeps its id across restarts (it is stored in its data
//! directory, which one process at a time may use), so a restarted
//! instance takes its own leases back at once instead of waiting for them
//! to expire.
//!
//! An owner acts only while its lease is valid *by its own clock* (renewed
//! less than 4 s ago): a process paused past its lease (SIGSTOP, a long GC,
//! a frozen VM) finds it expired when it resumes and sends nothing before
//! it has given the shard up.

use crate::kv::{KvError, Redis};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

pub const SHARDS: u16 = 64;
/// How long a lease lives without renewal.
pub const LEASE: Duration = Duration::from_secs(6);
/// How much of a lease an owner trusts by its own clock: it stops acting
/// well before the lease could pass to another instance.
const TRUST: Duration = Duration::from_secs(4);
/// A member not heard from for this long is gone.
const MEMBER_TTL: Duration = Duration::from_secs(4);
/// How often leases are renewed and the membership read.
pub const TICK: Duration = Duration::from_secs(1);

/// The shard of a user.
pub fn shard_of(user_id: i64) -> u16 {
    (user_id.unsigned_abs() % u64::from(SHARDS)) as u16
}

/// Another instance, as the cluster knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub id: String,
    /// Its internal base URL (`http://10.0.0.5:8001`).
    pub url: String,
}

/// What the execution core must do about a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardChange {
    /// The lease is ours: bring the shard's users up (from the store and
    /// the exchanges).
    /// `clean`: the previous owner released the shard after winding its
    /// users down (nothing of theirs is in flight), or nobody held it
    /// before; otherwise its owner died or lost it, and what it had in
    /// flight is only on the venues until the new owner has reconciled.
    Gained { shard: u16, token: u64, clean: bool },
    /// Another instance should own it: hand it over (stop the users once
    /// their orders in flight are answered), then [`Cluster::release`].
    Release { shard: u16 },
    /// The lease is gone (expired or taken): stop at once.
    Lost { shard: u16 },
}

#[derive(Debug, Clone, Copy)]
struct Lease {
    token: u64,
    /// Renewed at; trusted until `renewed + TRUST`.
    renewed: Instant,
}

#[derive(Debug, Default)]
struct State {
    owned: HashMap<u16, Lease>,
    /// Shards being handed over: renewed until released, never re-claimed.
    releasing: std::collections::HashSet<u16>,
    /// Who owns each shard, as last read.
    owners: HashMap<u16, Peer>,
    members: Vec<Peer>,
}

pub struct Cluster {
    redis: Redis,
    id: String,
    url: String,
    state: RwLock<State>,
    /// This instance's id slot (see [`Cluster::claim_id_slot`]).
    id_slot: std::sync::OnceLock<u8>,
    /// Set by [`Cluster::leave`]: no longer a member, claims nothing, only
    /// renews what it still holds until it has handed it over.
    leaving: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("id", &self.id)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Returns `{token, clean}` (`{0, 0}` when another holds the shard). Clean:
/// the lease before this one was released by its holder (KEYS[3] holds its
/// token), or there was none.
const ACQUIRE: &str = r"
local held = redis.call('GET', KEYS[1])
if held and string.sub(held, 1, string.len(ARGV[1]) + 1) ~= ARGV[1] .. ':' then return {0, 0} end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. token, 'PX', ARGV[2])
local released = redis.call('GET', KEYS[3])
redis.call('DEL', KEYS[3])
local clean = 0
if token == 1 or (released and tonumber(released) == token - 1) then clean = 1 end
return {token, clean}
";

/// Takes the first slot free or already ours; -1 when all are held.
const CLAIM_SLOT: &str = r"
for i = 0, tonumber(ARGV[4]) - 1 do
  local k = ARGV[1] .. i
  local v = redis.call('GET', k)
  if (not v) or v == ARGV[2] then
    redis.call('SET', k, ARGV[2], 'PX', ARGV[3])
    return i
  end
end
return -1
";

/// How many instances can mint ids at once.
pub const ID_SLOTS: u8 = 16;
/// How long an id slot outlives its instance.
const ID_SLOT_TTL: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    Kv(#[from] KvError),
    #[error("all {ID_SLOTS} id slots are held: at most {ID_SLOTS} instances can run together")]
    NoIdSlot,
}

const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
";

/// Deletes the lease if still ours, and notes (KEYS[2]) that its token was
/// released cleanly.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
";

/// Rendezvous hashing: the member with the highest score for `shard` owns it.
fn score(shard: u16, member: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(shard.to_be_bytes());
    h.update(member.as_bytes());
    let d = h.finalize();
    u64::from_be_bytes(d[..8].try_into().expect("eight bytes"))
}

/// The member that should own `shard`.
pub fn assigned(shard: u16, members: &[String]) -> Option<&String> {
    members.iter().max_by_key(|m| score(shard, m))
}

fn now_ms() -> i64 {
    crate::exchange::http::now_ms()
}

impl Cluster {
    /// This instance, `id`, reachable by the others at `url`.
    pub fn new(redis: Redis, id: String, url: String) -> Arc<Self> {
        Arc::new(Self {
            redis,
            id,
            url,
            state: RwLock::new(State::default()),
            id_slot: std::sync::OnceLock::new(),
            leaving: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Claims one of the [`ID_SLOTS`] slots that keep the ids instances
    /// mint apart (`execution::ids`): two instances minting in the same
    /// millisecond would otherwise make the same signal, order and position
    /// ids, and one's record would land on the other's row. Held like a
    /// lease ([`ID_SLOT_TTL`], renewed every tick); a restarted instance
    /// takes its own slot back.
    pub async fn claim_id_slot(&self) -> Result<u8, ClusterError> {
        if let Some(s) = self.id_slot.get() {
            return Ok(*s);
        }
        let mut conn = self.redis.pool().get().await.map_err(KvError::from)?;
        let slot: i64 = deadpool_redis::redis::Script::new(CLAIM_SLOT)
            .arg(self.redis.key("cluster:id_slot:"))
            .arg(&self.id)
            .arg(ID_SLOT_TTL.as_millis() as u64)
            .arg(i64::from(ID_SLOTS))
            .invoke_async(&mut *conn)
            .await
            .map_err(KvError::from)?;
        let slot = u8::try_from(slot).map_err(|_| ClusterError::NoIdSlot)?;
        Ok(*self.id_slot.get_or_init(|| slot))
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn redis(&self) -> &Redis {
        &self.redis
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether this instance may act for `user_id` now (it holds the
    /// shard's lease, renewed recently enough by its own clock).
    pub fn acts_for(&self, user_id: i64) -> bool {
        self.read()
            .owned
            .get(&shard_of(user_id))
            .is_some_and(|l| l.renewed.elapsed() < TRUST)
    }

    /// The fencing token of the lease this instance holds on the shard of
    /// `user_id`.
    pub fn token_for(&self, user_id: i64) -> Option<u64> {
        self.read().owned.get(&shard_of(user_id)).map(|l| l.token)
    }

    /// Who owns the shard of `user_id`: `None` while nobody does (a
    /// takeover in progress), `Some(None)` when it is this instance.
    pub fn owner_of(&self, user_id: i64) -> Option<Option<Peer>> {
        let shard = shard_of(user_id);
        let s = self.read();
        if s.owned.contains_key(&shard) {
            return Some(None);
        }
        s.owners.get(&shard).cloned().map(Some)
    }

    /// Shards this instance owns.
    pub fn owned(&self) -> Vec<u16> {
        let mut v: Vec<u16> = self.read().owned.keys().copied().collect();
        v.sort_unstable();
        v
    }

    pub fn members(&self) -> Vec<Peer> {
        self.read().members.clone()
    }

    fn key(&self, shard: u16) -> String {
        self.redis.key(&format!("cluster:shard:{shard}"))
    }

    /// The token of the shard's last lease released by its holder.
    fn released_key(&self, shard: u16) -> String {
        self.redis.key(&format!("cluster:released:{shard}"))
    }

    fn lease_value(&self, token: u64) -> String {
        format!("{}:{token}", self.id)
    }

    /// Renews, claims and hands over; reports what changed, and whether
    /// shards are still changing hands (then call again soon). Call every
    /// [`TICK`].
    pub async fn tick(&self) -> Result<(Vec<ShardChange>, bool), KvError> {
        let mut conn = self.redis.pool().get().await?;
        let now = now_ms();
        // Membership.
        let members_key = self.redis.key("cluster:members");
        let peers_key = self.redis.key("cluster:peers");
        let leaving = self.leaving.load(std::sync::atomic::Ordering::Acquire);
        let mut pipe = deadpool_redis::redis::pipe();
        if leaving {
            pipe.zrem(&members_key, &self.id);
        } else {
            pipe.zadd(&members_key, &self.id, now + MEMBER_TTL.as_millis() as i64);
        }
        let (_, _, _, alive, urls): (i64, i64, i64, Vec<String>, HashMap<String, String>) = pipe
            .hset(&peers_key, &self.id, &self.url)
            .zrembyscore(&members_key, "-inf", now)
            .zrangebyscore(&members_key, now, "+inf")
            .hgetall(&peers_key)
            .query_async(&mut *conn)
            .await?;
        if let Some(slot) = self.id_slot.get() {
            let ok: i64 = deadpool_redis::redis::Script::new(RENEW)
                .key(self.redis.key(&format!("cluster:id_slot:{slot}")))
                .arg(&self.id)
                .arg(ID_SLOT_TTL.as_millis() as u64)
                .invoke_async(&mut *conn)
                .await?;
            if ok != 1 {
                // Lost only after a pause of a minute, when every shard
                // lease is long gone too: taken back unless another
                // instance took it meanwhile (then the operator must know).
                metrics::counter!("cluster_id_slot_lost_total").increment(1);
                let back: Option<String> = deadpool_redis::redis::cmd("SET")
                    .arg(self.redis.key(&format!("cluster:id_slot:{slot}")))
                    .arg(&self.id)
                    .arg("NX")
                    .arg("PX")
                    .arg(ID_SLOT_TTL.as_millis() as u64)
                    .query_async(&mut *conn)
                    .await?;
                if back.is_none() {
                    tracing::error!(
                        slot,
                        "this instance's id slot expired and another instance took it: restart this instance"
                    );
                } else {
                    tracing::warn!(slot, "this instance's id slot had expired; taken back");
                }
            }
        }
        let mut changes = Vec::new();
        // Renew what we own; notice what we lost.
        let owned: Vec<(u16, Lease)> = self.read().owned.iter().map(|(k, v)| (*k, *v)).collect();
        let renew = deadpool_redis::redis::Script::new(RENEW);
        for (shard, lease) in owned {
            let asked = Instant::now();
            let ok: i64 = renew
                .key(self.key(shard))
                .arg(self.lease_value(lease.token))
                .arg(LEASE.as_millis() as u64)
                .invoke_async(&mut *conn)
                .await?;
            let mut s = self.write();
            if ok == 1 {
                if let Some(l) = s.owned.get_mut(&shard) {
                    l.renewed = asked;
                }
                metrics::counter!("cluster_lease_renewals_total").increment(1);
            } else {
                s.owned.remove(&shard);
                s.releasing.remove(&shard);
                changes.push(ShardChange::Lost { shard });
                metrics::counter!("cluster_leases_lost_total").increment(1);
            }
        }
        // What should be ours.
        let acquire = deadpool_redis::redis::Script::new(ACQUIRE);
        let mut unsettled = !self.read().releasing.is_empty();
        for shard in 0..SHARDS {
            if leaving {
                // `Execution::leave` hands everything over itself.
                break;
            }
            let mine = assigned(shard, &alive).is_some_and(|m| *m == self.id);
            let (holds, releasing) = {
                let s = self.read();
                (s.owned.contains_key(&shard), s.releasing.contains(&shard))
            };
            if holds && !mine && !releasing {
                self.write().releasing.insert(shard);
                changes.push(ShardChange::Release { shard });
            } else if !holds && mine {
                let asked = Instant::now();
                let (token, clean): (u64, i64) = acquire
                    .key(self.key(shard))
                    .key(self.redis.key(&format!("cluster:epoch:{shard}")))
                    .key(self.released_key(shard))
                    .arg(&self.id)
                    .arg(LEASE.as_millis() as u64)
                    .invoke_async(&mut *conn)
                    .await?;
                if token > 0 {
                    self.write().owned.insert(
                        shard,
                        Lease {
                            token,
                            renewed: asked,
                        },
                    );
                    changes.push(ShardChange::Gained {
                        shard,
                        token,
                        clean: clean == 1,
                    });
                } else {
                    unsettled = true;
                }
            }
        }
        // Who owns the rest.
        let keys: Vec<String> = (0..SHARDS).map(|s| self.key(s)).collect();
        let values: Vec<Option<String>> = deadpool_redis::redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut *conn)
            .await?;
        let mut owners = HashMap::new();
        for (shard, v) in values.into_iter().enumerate() {
            let Some(v) = v else { continue };
            let Some((id, _)) = v.rsplit_once(':') else {
                continue;
            };
            if id == self.id {
                continue;
            }
            if let Some(url) = urls.get(id) {
                owners.insert(
                    shard as u16,
                    Peer {
                        id: id.to_owned(),
                        url: url.clone(),
                    },
                );
            }
        }
        let members = alive
            .iter()
            .filter_map(|id| {
                urls.get(id).map(|url| Peer {
                    id: id.clone(),
                    url: url.clone(),
                })
            })
            .collect();
        {
            let mut s = self.write();
            s.owners = owners;
            s.members = members;
            metrics::gauge!("cluster_owned_shards").set(s.owned.len() as f64);
            metrics::gauge!("cluster_members").set(s.members.len() as f64);
        }
        let unsettled = unsettled
            || changes
                .iter()
                .any(|c| matches!(c, ShardChange::Release { .. }));
        Ok((changes, unsettled))
    }

    /// Reads who owns the shard of `user_id` now (a router waiting for a
    /// shard that changes hands does not wait for its own next tick).
    pub async fn refresh_owner(&self, user_id: i64) -> Result<(), KvError> {
        let shard = shard_of(user_id);
        let mut conn = self.redis.pool().get().await?;
        let value: Option<String> = deadpool_redis::redis::cmd("GET")
            .arg(self.key(shard))
            .query_async(&mut *conn)
            .await?;
        let Some((id, _)) = value.as_deref().and_then(|v| v.rsplit_once(':')) else {
            self.write().owners.remove(&shard);
            return Ok(());
        };
        if id == self.id {
            return Ok(());
        }
        let url: Option<String> = deadpool_redis::redis::cmd("HGET")
            .arg(self.redis.key("cluster:peers"))
            .arg(id)
            .query_async(&mut *conn)
            .await?;
        let mut s = self.write();
        match url {
            Some(url) => {
                s.owners.insert(
                    shard,
                    Peer {
                        id: id.to_owned(),
                        url,
                    },
                );
            }
            None => {
                s.owners.remove(&shard);
            }
        }
        Ok(())
    }

    /// Gives a shard up (after its users were handed over).
    pub async fn release(&self, shard: u16) -> Result<(), KvError> {
        let lease = {
            let mut s = self.write();
            s.releasing.remove(&shard);
            s.owned.remove(&shard)
        };
        let Some(lease) = lease else { return Ok(()) };
        let mut conn = self.redis.pool().get().await?;
        let _: i64 = deadpool_redis::redis::Script::new(RELEASE)
            .key(self.key(shard))
            .key(self.released_key(shard))
            .arg(self.lease_value(lease.token))
            .arg(lease.token)
            // Long enough for the next owner to claim it.
            .arg(10 * LEASE.as_millis() as u64)
            .invoke_async(&mut *conn)
            .await?;
        Ok(())
    }

    /// Leaves the cluster (a graceful stop): no longer a member, so the
    /// others claim its shards as soon as they are released.
    pub async fn leave(&self) -> Result<(), KvError> {
        self.leaving
            .store(true, std::sync::atomic::Ordering::Release);
        let mut conn = self.redis.pool().get().await?;
        let _: i64 = deadpool_redis::redis::cmd("ZREM")
            .arg(self.redis.key("cluster:members"))
            .arg(&self.id)
            .query_async(&mut *conn)
            .await?;
        Ok(())
    }

    /// Runs [`tick`](Self::tick) every second and hands the changes to `to`.
    pub fn spawn(self: &Arc<Self>, to: mpsc::UnboundedSender<ShardChange>) {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                // While shards change hands, sooner: alerts for them wait.
                let wait = match me.tick().await {
                    Ok((changes, unsettled)) => {
                        for c in changes {
                            if to.send(c).is_err() {
                                return;
                            }
                        }
                        if unsettled { TICK / 5 } else { TICK }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cluster leases could not be renewed");
                        TICK
                    }
                };
                tokio::time::sleep(wait).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendezvous_moves_few_shards_when_a_member_joins() {
        let two: Vec<String> = vec!["a".into(), "b".into()];
        let three: Vec<String> = vec!["a".into(), "b".into(), "c".into()];
        let moved = (0..SHARDS)
            .filter(|s| assigned(*s, &two) != assigned(*s, &three))
            .count();
        // Every moved shard goes to the newcomer; about a third move.
        for s in 0..SHARDS {
            if assigned(s, &two) != assigned(s, &three) {
                assert_eq!(assigned(s, &three).unwrap(), "c");
            }
        }
        assert!((10..=35).contains(&moved), "{moved}");
        let per: HashMap<&String, usize> = (0..SHARDS).fold(HashMap::new(), |mut m, s| {
            *m.entry(assigned(s, &three).unwrap()).or_default() += 1;
            m
        });
        assert!(per.values().all(|n| (10..=35).contains(n)), "{per:?}");
        assert_eq!(shard_of(65), 1);
        assert_eq!(shard_of(-65), 1);
    }
}
