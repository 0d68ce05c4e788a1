//! The websocket hub: turns trading events into frames and hands each to the
//! sessions of the user it belongs to, on the channels they chose.
//!
//! Delivery never waits: every session has a bounded queue, and a session
//! whose queue is full is dropped (it reconnects and reloads over REST)
//! rather than allowed to hold events back. With Redis, frames also travel
//! between instances over one pub/sub channel, so a client connected to
//! instance B hears of an order filled on instance A.

use super::protocol::{self, Channel, Outgoing};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tradingbot_actors::execution::bus::EventBus;
use tradingbot_actors::execution::events::Event;
use tradingbot_actors::kv::Redis;

/// Frames a session may have waiting before it counts as too slow.
pub const SESSION_QUEUE: usize = 256;

const REDIS_CHANNEL: &str = "ws";

/// What one session listens to.
#[derive(Debug, Default, Clone)]
pub struct Interests {
    pub channels: HashSet<Channel>,
    /// Price filter; empty: every symbol.
    pub symbols: HashSet<String>,
}

struct Session {
    id: u64,
    tx: mpsc::Sender<Arc<str>>,
    interests: Arc<RwLock<Interests>>,
}

/// A frame between instances.
#[derive(Serialize, Deserialize)]
struct Envelope {
    origin: u64,
    #[serde(flatten)]
    out: Outgoing,
}

pub struct WsHub {
    /// Identifies this instance's frames on Redis.
    origin: u64,
    sessions: RwLock<HashMap<Option<i64>, Vec<Session>>>,
    next_id: AtomicU64,
    redis: Option<Redis>,
    /// Set when the server stops: sessions are told to go elsewhere.
    closing: AtomicBool,
}

impl std::fmt::Debug for WsHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsHub")
            .field("sessions", &self.session_count())
            .finish_non_exhaustive()
    }
}

/// A registered session: where its frames arrive, and what it listens to.
pub struct Registration {
    pub id: u64,
    pub rx: mpsc::Receiver<Arc<str>>,
    pub interests: Arc<RwLock<Interests>>,
}

impl WsHub {
    /// Starts listening to the bus (and to Redis when given).
    pub fn start(bus: &EventBus, redis: Option<Redis>) -> Arc<Self> {
        let hub = Arc::new(Self {
            origin: rand_origin(),
            sessions: RwLock::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            redis,
            closing: AtomicBool::new(false),
        });
        // Woken only for what someone here (or, with Redis, elsewhere)
        // could be watching.
        let watched = Arc::downgrade(&hub);
        let mut rx = bus.subscribe_where(Arc::new(move |e: &Event| {
            watched.upgrade().is_some_and(|h| h.anyone_listening(e))
        }));
        let h = hub.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(event) => {
                        if !h.anyone_listening(&event) {
                            continue;
                        }
                        let out = protocol::outgoing(&event);
                        if let Some(out) = out {
                            h.publish(out).await;
                        }
                    }
                    Err(RecvError::Lagged(n)) => {
                        metrics::counter!("ws_events_lagged_total").increment(n);
                        tracing::warn!(missed = n, "websocket hub fell behind the event bus");
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        });
        if let Some(r) = &hub.redis {
            let mut incoming = r.subscribe(REDIS_CHANNEL);
            let h = hub.clone();
            tokio::spawn(async move {
                while let Some(raw) = incoming.recv().await {
                    match serde_json::from_str::<Envelope>(&raw) {
                        Ok(e) if e.origin != h.origin => h.deliver(&e.out),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "unreadable websocket fan-out frame"),
                    }
                }
            });
        }
        hub
    }

    /// Whether a frame for `event` could reach anyone: a session of its
    /// user here (anyone, for a public frame) or, with Redis, another
    /// instance. Most events of a busy bot have no one watching; building
    /// their JSON frames was a tenth of the server's time under load.
    fn anyone_listening(&self, event: &Event) -> bool {
        if self.redis.is_some() {
            return true;
        }
        let sessions = self.sessions.read().unwrap_or_else(|e| e.into_inner());
        match event.user_id() {
            Some(u) => sessions.get(&Some(u)).is_some_and(|l| !l.is_empty()),
            None => sessions.values().any(|l| !l.is_empty()),
        }
    }

    async fn publish(&self, out: Outgoing) {
        self.deliver(&out);
        if let Some(r) = &self.redis {
            let env = Envelope {
                origin: self.origin,
                out,
            };
            if let Ok(text) = serde_json::to_string(&env)
                && let Err(e) = r.publish(REDIS_CHANNEL, &text).await
            {
                metrics::counter!("ws_fanout_errors_total").increment(1);
                tracing::warn!(error = %e, "cannot fan a websocket frame out over Redis");
            }
        }
    }

    /// Hands a frame to the local sessions that want it.
    fn deliver(&self, out: &Outgoing) {
        let text: Arc<str> = out.text.as_str().into();
        let mut slow: Vec<(Option<i64>, u64)> = Vec::new();
        {
            let sessions = self.sessions.read().unwrap_or_else(|e| e.into_inner());
            let mut send = |key: Option<i64>, list: &Vec<Session>| {
                for s in list {
                    let wants = {
                        let i = s.interests.read().unwrap_or_else(|e| e.into_inner());
                        i.channels.contains(&out.channel)
                            && (out.channel != Channel::Prices
                                || i.symbols.is_empty()
                                || out.symbol.as_ref().is_some_and(|x| i.symbols.contains(x)))
                    };
                    if wants && s.tx.try_send(text.clone()).is_err() {
                        slow.push((key, s.id));
                    }
                }
            };
            match out.user_id {
                Some(u) => {
                    if let Some(list) = sessions.get(&Some(u)) {
                        send(Some(u), list);
                    }
                }
                // Public frames (prices) go to everyone who asked.
                None => {
                    for (k, list) in sessions.iter() {
                        send(*k, list);
                    }
                }
            }
        }
        for (key, id) in slow {
            metrics::counter!("ws_slow_clients_dropped_total").increment(1);
            tracing::info!(session = id, "websocket client too slow; dropped");
            self.unregister(key, id);
        }
    }

    pub fn register(&self, user_id: i64) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(SESSION_QUEUE);
        let interests = Arc::new(RwLock::new(Interests::default()));
        self.sessions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(Some(user_id))
            .or_default()
            .push(Session {
                id,
                tx,
                interests: interests.clone(),
            });
        metrics::gauge!("ws_sessions").set(self.session_count() as f64);
        Registration { id, rx, interests }
    }

    /// Ends every session (the server is stopping): each closes with
    /// "going away" so its client reconnects — to another instance behind
    /// a balancer — instead of holding the shutdown until its timeout.
    pub fn close_all(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.sessions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        metrics::gauge!("ws_sessions").set(0.0);
    }

    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    /// Forgets a session; its queue closes, which ends it.
    pub fn unregister(&self, user_id: Option<i64>, id: u64) {
        let mut sessions = self.sessions.write().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = sessions.get_mut(&user_id) {
            list.retain(|s| s.id != id);
            if list.is_empty() {
                sessions.remove(&user_id);
            }
        }
        drop(sessions);
        metrics::gauge!("ws_sessions").set(self.session_count() as f64);
    }

    pub fn session_count(&self) -> usize {
        self.sessions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(Vec::len)
            .sum()
    }
}

fn rand_origin() -> u64 {
    let mut b = [0u8; 8];
    // A collision only makes two instances ignore each other's frames; the
    // OS generator failing is not worth refusing to start over.
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b) ^ u64::from(std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
    use tradingbot_actors::execution::events::{Event, PriceTick};

    fn price(i: i64) -> Event {
        Event::Price(PriceTick {
            exchange: "binance".into(),
            symbol: "BTCUSDT".into(),
            price: Decimal::from(40_000 + i),
            at: chrono::Utc::now(),
        })
    }

    async fn settle(hub: &WsHub, until: impl Fn(&WsHub) -> bool) {
        for _ in 0..200 {
            if until(hub) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn a_session_that_stops_reading_is_dropped_not_waited_for() {
        let bus = EventBus::default();
        let hub = WsHub::start(&bus, None);
        let mut slow = hub.register(1);
        let mut quick = hub.register(2);
        for r in [&slow, &quick] {
            r.interests
                .write()
                .unwrap()
                .channels
                .insert(Channel::Prices);
        }
        // The quick session drains as it goes; the slow one never reads.
        let drained = tokio::spawn(async move {
            let mut n = 0;
            while n < SESSION_QUEUE + 50 {
                if quick.rx.recv().await.is_none() {
                    break;
                }
                n += 1;
            }
            n
        });
        for i in 0..(SESSION_QUEUE as i64 + 50) {
            bus.publish_live(price(i));
            if i % 32 == 0 {
                tokio::task::yield_now().await;
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        }
        settle(&hub, |h| h.session_count() == 1).await;
        assert_eq!(hub.session_count(), 1, "only the slow session goes");
        assert_eq!(drained.await.unwrap(), SESSION_QUEUE + 50);
        // What was queued is still readable; then the queue ends the session.
        let mut got = 0;
        while slow.rx.recv().await.is_some() {
            got += 1;
        }
        assert_eq!(got, SESSION_QUEUE);
    }

    #[tokio::test]
    async fn frames_reach_only_their_user_and_chosen_channels() {
        let bus = EventBus::default();
        let hub = WsHub::start(&bus, None);
        let mut alice = hub.register(1);
        let mut bob = hub.register(2);
        alice
            .interests
            .write()
            .unwrap()
            .channels
            .extend([Channel::Alerts, Channel::Prices]);
        {
            let mut b = bob.interests.write().unwrap();
            b.channels.insert(Channel::Prices);
            b.symbols.insert("ETHUSDT".into());
        }
        bus.publish_live(Event::RiskAlert(
            tradingbot_actors::execution::events::RiskAlert {
                user_id: 1,
                kind: "protection_failed".into(),
                rule: None,
                message: "stop-loss refused".into(),
                position_id: Some(7),
            },
        ));
        bus.publish_live(price(1));
        let first = alice.rx.recv().await.unwrap();
        assert!(first.contains("\"risk_alert\""), "{first}");
        let second = alice.rx.recv().await.unwrap();
        assert!(second.contains("\"price\""), "{second}");
        // Bob filtered prices to ETHUSDT and hears nothing of Alice's alert.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(bob.rx.try_recv().is_err());
    }
}
