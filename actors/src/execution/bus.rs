//! Fan-out of events from the trading actors to whoever listens.
//!
//! Two kinds of listeners: *durable* ones (the database writer) get every
//! event through their actor mailbox, in order, and never miss one;
//! *live* ones (websocket sessions, Telegram) subscribe to a bounded
//! broadcast and may lag — they show the present, the database keeps the past.
//! Publishing never waits, so the hot path is never slowed by a listener.
//! A live listener names what it hears ([`Interest`]) and is woken for
//! that alone: each wake-up of a thread costs tens of microseconds on a
//! small machine, and most events of a busy bot (its orders) interest only
//! the websocket of a trader who is watching.

use super::events::Event;
use actix::prelude::*;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use tokio::sync::broadcast;

/// An event for a durable listener, with its journal number (0 when the
/// process keeps no journal) and the lease it was made under.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Published(pub Arc<Event>, pub u64, pub Lease);

/// The fencing token of the shard lease an event was made under: `None`
/// for a lone instance (nothing to fence), `Some(0)` for an event about a
/// user whose shard this instance does not hold. The database writer
/// checks it against the shard's fence, so an owner that lost its shard
/// cannot overwrite what the next owner wrote.
pub type Lease = Option<u64>;

/// Tells the lease token this instance holds for a user's shard (0: none).
pub type LeaseOf = Arc<dyn Fn(i64) -> u64 + Send + Sync>;

type Durable = (Recipient<Published>, Arc<super::mailbox::Depth>);

/// Which events a live listener hears, asked of each event on the
/// publisher's thread: a match on its kind, or a look at a shared set.
pub type Interest = Arc<dyn Fn(&Event) -> bool + Send + Sync>;

/// A live listener with its own channel, sent only what interests it.
struct Listener {
    interest: Interest,
    tx: broadcast::Sender<Arc<Event>>,
}

/// Events a live listener may fall behind by before it misses some.
const LIVE_CAPACITY: usize = 4096;

/// Durable events handed to the database writer and not stored yet, above
/// which new positions wait (`records_behind`). Each waits in memory
/// (about 0.7 KB); a writer that fell this far behind — a burst beyond what
/// the database absorbs — must catch up before more is added, or memory
/// grows until the process is killed.
pub const UNSTORED_LIMIT: i64 = 100_000;

pub struct EventBus {
    durable: RwLock<Vec<Durable>>,
    /// Durable events delivered and not yet reported stored by the writer.
    unstored: Arc<AtomicI64>,
    live: broadcast::Sender<Arc<Event>>,
    listeners: RwLock<Vec<Listener>>,
    journal: std::sync::OnceLock<Arc<super::journal::Journal>>,
    lease_of: std::sync::OnceLock<LeaseOf>,
    /// What traders must hear (alerts, positions opened or closed) told
    /// while the process starts — the first reconciliation's findings —
    /// kept for the listeners that subscribe once the server is built
    /// (notifications, Telegram), until [`EventBus::started`].
    early: Mutex<Option<Vec<Arc<Event>>>>,
    starting: std::sync::atomic::AtomicBool,
}

/// The most events kept for late listeners while the process starts.
const EARLY_LIMIT: usize = 10_000;

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus")
            .field("live_subscribers", &self.live.receiver_count())
            .finish()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self {
            durable: RwLock::new(Vec::new()),
            unstored: Arc::default(),
            live: broadcast::channel(LIVE_CAPACITY).0,
            listeners: RwLock::new(Vec::new()),
            journal: std::sync::OnceLock::new(),
            lease_of: std::sync::OnceLock::new(),
            early: Mutex::new(Some(Vec::new())),
            starting: std::sync::atomic::AtomicBool::new(true),
        }
    }
}

impl EventBus {
    /// `depth` counts what waits in the subscriber's mailbox.
    pub fn subscribe_durable(&self, r: Recipient<Published>, depth: Arc<super::mailbox::Depth>) {
        self.durable
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push((r, depth));
    }

    /// The count the database writer lowers as it stores what it was
    /// handed.
    pub fn unstored_events(&self) -> Arc<AtomicI64> {
        self.unstored.clone()
    }

    /// Whether the writer is so far behind that new positions must wait.
    pub fn records_behind(&self) -> bool {
        self.unstored.load(Ordering::Relaxed) > UNSTORED_LIMIT
    }

    /// Waits until the writer is no longer [behind](Self::records_behind),
    /// or `deadline`; whether it caught up. A burst the database has not
    /// absorbed yet then delays an entry by a few milliseconds instead of
    /// refusing it — and a sender hammering the webhook is slowed to the
    /// pace records are stored at, rather than answered at once with
    /// refusals that are records too.
    pub async fn caught_up(&self, deadline: tokio::time::Instant) -> bool {
        while self.records_behind() {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        true
    }

    /// Every event, live.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.live.subscribe()
    }

    /// The live events `interest` takes, and no wake-up for the others.
    pub fn subscribe_where(&self, interest: Interest) -> broadcast::Receiver<Arc<Event>> {
        let (tx, rx) = broadcast::channel(LIVE_CAPACITY);
        self.listeners
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(Listener { interest, tx });
        rx
    }

    /// A subscription that also gets what traders were told while the
    /// process started and before it subscribed (in order, none twice).
    pub fn subscribe_with_early(&self) -> (Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>) {
        let early = self.early.lock().unwrap_or_else(|e| e.into_inner());
        (early.clone().unwrap_or_default(), self.live.subscribe())
    }

    /// [`EventBus::subscribe_with_early`] for what `interest` takes.
    pub fn subscribe_with_early_where(
        &self,
        interest: Interest,
    ) -> (Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>) {
        // Under the lock that publishing keeps them under: each event is
        // either in the kept list or on the new channel.
        let early = self.early.lock().unwrap_or_else(|e| e.into_inner());
        let kept = early
            .iter()
            .flatten()
            .filter(|e| interest(e))
            .cloned()
            .collect();
        (kept, self.subscribe_where(interest))
    }

    /// Hands `event` to the live listeners that take it.
    fn send_live(&self, event: Arc<Event>) {
        for l in self
            .listeners
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            if l.tx.receiver_count() > 0 && (l.interest)(&event) {
                let _ = l.tx.send(event.clone());
            }
        }
        if self.live.receiver_count() > 0 {
            let _ = self.live.send(event);
        }
    }

    /// Every late listener has subscribed: nothing more is kept.
    pub fn started(&self) {
        self.starting.store(false, Ordering::Relaxed);
        *self.early.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Journals durable events from now on (set once, at start).
    pub fn set_journal(&self, journal: Arc<super::journal::Journal>) {
        let _ = self.journal.set(journal);
    }

    /// Stamps durable events with the lease they are made under (set
    /// once, at start, when the instance is one of several).
    pub fn set_lease_of(&self, lease_of: LeaseOf) {
        let _ = self.lease_of.set(lease_of);
    }

    /// Publishes `event`: a durable one is journaled first, and handed to
    /// the durable listeners in journal order, before anything it describes
    /// can leave the process.
    pub fn publish(&self, event: Event) {
        count(&event);
        let event = Arc::new(event);
        if super::journal::is_durable(&event) {
            let lease = match (self.lease_of.get(), event.user_id()) {
                (Some(f), Some(user_id)) => Some(f(user_id)),
                _ => None,
            };
            let durable = self.durable.read().unwrap_or_else(|e| e.into_inner());
            let deliver = |seq: u64| {
                if !durable.is_empty() {
                    let n = self.unstored.fetch_add(1, Ordering::Relaxed) + 1;
                    if n % 1024 == 0 {
                        metrics::gauge!("persist_unstored_events").set(n as f64);
                    }
                }
                for r in durable.iter() {
                    r.0.do_send(Published(event.clone(), seq, lease));
                    r.1.sent();
                }
            };
            match self.journal.get() {
                Some(j) => j.append(&event, lease, deliver),
                None => deliver(0),
            }
        }
        if self.starting.load(Ordering::Relaxed) && told_to_traders(&event) {
            // Kept and sent under one lock: a listener subscribing now
            // gets it either in the kept list or from the channel.
            let mut early = self.early.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(kept) = early.as_mut().filter(|k| k.len() < EARLY_LIMIT) {
                kept.push(event.clone());
            }
            self.send_live(event);
            return;
        }
        self.send_live(event);
    }
}

/// What notifications and Telegram tell a trader.
fn told_to_traders(event: &Event) -> bool {
    matches!(
        event,
        Event::RiskAlert(_)
            | Event::PositionOpened(_)
            | Event::PositionProtected(_)
            | Event::PositionReduced(_)
            | Event::PositionClosed(_)
            | Event::SecurityAlert(_)
    )
}

impl EventBus {
    /// For what only the present needs (valuations, prices): live listeners
    /// hear it, the database writer does not.
    pub fn publish_live(&self, event: Event) {
        self.send_live(Arc::new(event));
    }
}

fn count(event: &Event) {
    match event {
        Event::Signal(s) => {
            metrics::counter!("signals_total", "outcome" => s.outcome.as_label()).increment(1);
        }
        Event::OrderPlaced(o)
        | Event::OrderFound(o)
        | Event::OrderUpdated(o)
        | Event::OrderFilled(o)
        | Event::OrderRejected(o) => {
            metrics::counter!("orders_total", "exchange" => o.exchange.clone(), "status" => o.status.as_label())
                .increment(1);
        }
        Event::RiskAlert(a) => {
            if let Some(rule) = a.rule {
                metrics::counter!("risk_rejections_total", "rule" => rule.as_str()).increment(1);
            } else {
                metrics::counter!("risk_alerts_total", "kind" => a.kind.clone()).increment(1);
            }
        }
        Event::PnlStep(_) => metrics::counter!("pnl_step_alerts_total").increment(1),
        Event::AiRecommendation(a) => {
            metrics::counter!("ai_recommendations_total", "action" => a.action.clone())
                .increment(1);
        }
        Event::PositionOpened(_)
        | Event::PositionProtected(_)
        | Event::PositionReduced(_)
        | Event::PositionClosed(_)
        | Event::AccountUpdate(_)
        | Event::SecurityAlert(_)
        | Event::RiskState { .. }
        | Event::PositionValue(_)
        | Event::Price(_)
        | Event::DayEnded { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::events::RiskAlert;

    fn alert(kind: &str) -> Event {
        Event::RiskAlert(RiskAlert {
            user_id: 1,
            kind: kind.into(),
            rule: None,
            message: String::new(),
            position_id: None,
        })
    }

    fn kind(e: &Event) -> &str {
        match e {
            Event::RiskAlert(a) => &a.kind,
            _ => "",
        }
    }

    #[test]
    fn what_the_start_told_reaches_listeners_that_subscribe_later_once() {
        let bus = EventBus::default();
        bus.publish(alert("position_adopted"));
        let (early, mut rx) = bus.subscribe_with_early();
        bus.publish(alert("later"));
        assert_eq!(
            early.iter().map(|e| kind(e)).collect::<Vec<_>>(),
            ["position_adopted"]
        );
        // The later one comes on the channel, not twice.
        assert_eq!(kind(&rx.try_recv().unwrap()), "later");
        assert!(rx.try_recv().is_err());
        // Once started, nothing more is kept.
        bus.started();
        bus.publish(alert("after start"));
        let (early, _) = bus.subscribe_with_early();
        assert!(early.is_empty());
    }

    #[tokio::test]
    async fn an_entry_waits_for_the_writer_to_catch_up_until_its_deadline() {
        let bus = Arc::new(EventBus::default());
        let unstored = bus.unstored_events();
        let soon = || tokio::time::Instant::now() + std::time::Duration::from_millis(50);
        assert!(bus.caught_up(soon()).await, "not behind: no wait");
        unstored.store(UNSTORED_LIMIT + 1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        assert!(!bus.caught_up(soon()).await, "still behind at the deadline");
        assert!(started.elapsed() >= std::time::Duration::from_millis(50));
        let u = unstored.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            u.store(UNSTORED_LIMIT, Ordering::Relaxed);
        });
        let started = std::time::Instant::now();
        let far = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        assert!(bus.caught_up(far).await, "caught up meanwhile");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn a_listener_hears_what_interests_it_and_nothing_else() {
        let bus = EventBus::default();
        bus.publish(alert("kept early"));
        bus.publish(alert("not for it"));
        let (early, mut mine) = bus.subscribe_with_early_where(Arc::new(
            |e: &Event| matches!(e, Event::RiskAlert(a) if a.kind != "not for it"),
        ));
        let mut all = bus.subscribe();
        assert_eq!(
            early.iter().map(|e| kind(e)).collect::<Vec<_>>(),
            ["kept early"]
        );
        bus.publish(alert("not for it"));
        bus.publish(alert("later"));
        assert_eq!(kind(&mine.try_recv().unwrap()), "later");
        assert!(mine.try_recv().is_err());
        // The unfiltered subscription still hears everything.
        assert_eq!(kind(&all.try_recv().unwrap()), "not for it");
        assert_eq!(kind(&all.try_recv().unwrap()), "later");
        // A listener gone costs nothing more and breaks nothing.
        drop(mine);
        bus.publish(alert("after"));
        assert_eq!(kind(&all.try_recv().unwrap()), "after");
    }
}
