//! A venue's pause (429) or ban (418), shared by every instance that sends
//! from the same address: the venue counts per address, so an instance
//! that was told to stop must stop the others too. Each hold is a Redis
//! key whose time to live is what is left of it; every instance reads the
//! keys of the venues it sends to twice a second and holds locally.

use super::Redis;
use crate::exchange::budget::{self, HoldKind};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// How often other instances' holds are read.
const POLL: Duration = Duration::from_millis(500);

fn key(redis: &Redis, venue: &str) -> String {
    let digest = Sha256::digest(venue.as_bytes());
    let short: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    redis.key(&format!("venue-hold:{short}"))
}

/// Shares this process's holds through `redis` and adopts the others'.
pub fn share(redis: Redis) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, HoldKind, Duration)>();
    budget::on_hold(move |venue, kind, left| {
        let _ = tx.send((venue.to_owned(), kind, left));
    });
    let writer = redis.clone();
    tokio::spawn(async move {
        while let Some((venue, kind, left)) = rx.recv().await {
            let Ok(mut conn) = writer.pool().get().await else {
                continue;
            };
            let value = match kind {
                HoldKind::Pause => "pause",
                HoldKind::Ban => "ban",
            };
            // Only ever lengthened: a later, shorter pause does not cut a ban.
            let _: Result<i64, _> = deadpool_redis::redis::Script::new(
                r"
local left = redis.call('PTTL', KEYS[1])
if left < tonumber(ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
",
            )
            .key(key(&writer, &venue))
            .arg(value)
            .arg(left.as_millis().max(1) as u64)
            .invoke_async(&mut *conn)
            .await;
        }
    });
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL);
        loop {
            tick.tick().await;
            let venues = budget::venues();
            if venues.is_empty() {
                continue;
            }
            let Ok(mut conn) = redis.pool().get().await else {
                continue;
            };
            for venue in venues {
                let k = key(&redis, &venue);
                let got: Result<(Option<String>, i64), _> = deadpool_redis::redis::pipe()
                    .get(&k)
                    .pttl(&k)
                    .query_async(&mut *conn)
                    .await;
                if let Ok((Some(kind), left)) = got
                    && left > 0
                {
                    let kind = if kind == "ban" {
                        HoldKind::Ban
                    } else {
                        HoldKind::Pause
                    };
                    budget::adopt_hold(&venue, kind, Duration::from_millis(left as u64));
                }
            }
        }
    });
}
