//! Mailbox depth of an actor kind, as a gauge.
//!
//! actix does not expose how many messages wait in a mailbox, so senders
//! count what they send and handlers count what they take; the difference
//! is the depth, summed over the actors of one kind.

use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Debug)]
pub struct Depth {
    actor: &'static str,
    waiting: AtomicI64,
}

impl Depth {
    pub fn new(actor: &'static str) -> Self {
        Self {
            actor,
            waiting: AtomicI64::new(0),
        }
    }

    pub fn sent(&self) {
        let n = self.waiting.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::gauge!("actor_mailbox_depth", "actor" => self.actor).set(n as f64);
    }

    pub fn handled(&self) {
        let n = self.waiting.fetch_sub(1, Ordering::Relaxed) - 1;
        metrics::gauge!("actor_mailbox_depth", "actor" => self.actor).set(n.max(0) as f64);
    }

    pub fn waiting(&self) -> i64 {
        self.waiting.load(Ordering::Relaxed)
    }
}
