//! Ids for signals, orders and positions, made in memory.
//!
//! The hot path cannot wait for the database to hand out a key, yet an
//! order's id must exist before it is sent (its client order id is derived
//! from the signal's). Ids are therefore minted here: milliseconds since
//! 2026-01-01 shifted left 12 bits, then an 8-bit counter and the 4-bit
//! slot of the instance (`cluster::ID_SLOTS`; 0 alone) — strictly
//! increasing within the process, started above every id already stored,
//! never equal to another instance's, and below 2^53 for the next 69 years
//! so that JavaScript clients read them exactly.

use std::sync::atomic::{AtomicI64, Ordering};

/// 2026-01-01T00:00:00Z in Unix milliseconds.
const EPOCH_MS: i64 = 1_767_225_600_000;
const SEQ_BITS: u32 = 12;
const SLOT_BITS: u32 = 4;
const SLOT_MASK: i64 = (1 << SLOT_BITS) - 1;

#[derive(Debug)]
pub struct IdGen {
    last: AtomicI64,
    slot: i64,
}

impl IdGen {
    /// A lone instance's generator, its ids all above `floor` (the largest
    /// stored id).
    pub fn new(floor: i64) -> Self {
        Self::with_slot(floor, 0)
    }

    /// The generator of the instance holding id slot `slot` (below 16).
    pub fn with_slot(floor: i64, slot: u8) -> Self {
        let slot = i64::from(slot) & SLOT_MASK;
        Self {
            // Our slot's last id at or just below `floor`: the next is above it.
            last: AtomicI64::new((floor.max(0) & !SLOT_MASK) | slot),
            slot,
        }
    }

    /// The next id at `now_ms`.
    pub fn next_at(&self, now_ms: i64) -> i64 {
        let candidate = ((now_ms - EPOCH_MS).max(1) << SEQ_BITS) | self.slot;
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let next = candidate.max(last + (1 << SLOT_BITS));
            match self
                .last
                .compare_exchange_weak(last, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }

    pub fn next(&self) -> i64 {
        self.next_at(chrono::Utc::now().timestamp_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increasing_above_the_floor_and_javascript_safe() {
        let now = 1_795_000_000_000; // 2026-11
        let g = IdGen::new(0);
        let a = g.next_at(now);
        let b = g.next_at(now);
        let c = g.next_at(now - 5_000); // the clock stepped back
        assert!(a < b && b < c);
        assert!(a < (1i64 << 53));
        let far = IdGen::new(0).next_at(EPOCH_MS + 69 * 365 * 86_400_000);
        assert!(far < (1i64 << 53));
        let g = IdGen::new(i64::MAX / 4);
        assert!(g.next_at(now) > i64::MAX / 4);
    }

    #[test]
    fn unique_across_threads() {
        let g = std::sync::Arc::new(IdGen::new(0));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let g = g.clone();
                std::thread::spawn(move || (0..10_000).map(|_| g.next()).collect::<Vec<_>>())
            })
            .collect();
        let mut all: Vec<i64> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
    }

    #[test]
    fn two_instances_minting_in_the_same_milliseconds_never_meet() {
        let now = 1_795_000_000_000;
        let floor = 7_000_000_000_123;
        let (a, b) = (IdGen::with_slot(floor, 1), IdGen::with_slot(floor, 2));
        let mut ids = Vec::new();
        // 1,000 each per millisecond: beyond the counter, into the future.
        for ms in 0..5 {
            for _ in 0..1_000 {
                ids.push(a.next_at(now + ms));
                ids.push(b.next_at(now + ms));
            }
        }
        assert!(ids.iter().all(|id| *id > floor));
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n, "an id minted twice");
        // A floor above the clock (ids from a later clock): still above it.
        let g = IdGen::with_slot(i64::MAX / 4 + 5, 3);
        let id = g.next_at(now);
        assert!(id > i64::MAX / 4 + 5 && id & 15 == 3);
    }
}
