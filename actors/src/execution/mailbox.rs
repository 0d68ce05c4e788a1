//! Mailbox depth of an actor kind, as a gauge.
//!
//! actix does not expose how many messages wait in a mailbox, so senders
//! count what they send and handlers count what they take; the difference
//! is the depth, summed over the actors of one kind.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Debug)]
pub struct Depth {
    actor: &'static str,
    waiting: AtomicI64,
    /// Looked up once: naming the gauge builds its labelled key and
    /// searches the registry, twice per message otherwise. Taken at the
    /// first message, when the server's recorder is in place.
    gauge: OnceLock<metrics::Gauge>,
}

impl Depth {
    pub fn new(actor: &'static str) -> Self {
        Self {
            actor,
            waiting: AtomicI64::new(0),
            gauge: OnceLock::new(),
        }
    }

    fn gauge(&self) -> &metrics::Gauge {
        self.gauge
            .get_or_init(|| metrics::gauge!("actor_mailbox_depth", "actor" => self.actor))
    }

    pub fn sent(&self) {
        let n = self.waiting.fetch_add(1, Ordering::Relaxed) + 1;
        self.gauge().set(n as f64);
    }

    pub fn handled(&self) {
        let n = self.waiting.fetch_sub(1, Ordering::Relaxed) - 1;
        self.gauge().set(n.max(0) as f64);
    }

    pub fn waiting(&self) -> i64 {
        self.waiting.load(Ordering::Relaxed)
    }
}
