//! Starting, feeding and stopping the execution core.
//!
//! At start every strategy route is loaded into the registry, each user with
//! strategies or open positions gets an actor on their shard, each exchange
//! account those need gets an exchange actor, and every account is reconciled
//! against its venue before trading resumes. Afterwards the API tells this
//! type what changed (a strategy saved, an account removed), and it keeps the
//! actors in step.

use super::bus::EventBus;
use super::events::PositionValue;
use super::events::{Event, SignalRecord};
use super::exchange::ExchangeActor;
use super::ids::IdGen;
use super::mailbox::Depth;
use super::monitor::{MonitorSettings, PositionMonitor, Valuations, WatchAccount};
use super::persist::{Drain, PersistActor};
use super::registry::{Destination, Registry, StrategyRoute};
use super::risk::{RiskBook, UserRisk};
use super::shard_of;
use super::user::{
    AccountAttached, AccountDetached, AccountLink, ClosePosition, CloseRefused, CloseSource,
    CloseStarted, OpenPositions, Outcome, Restored, SignalReceived, StrategyChanged, UserActor,
};
use super::view::{AccountView, MarkTable};
use crate::accounts::Accounts;
use crate::cluster::{self, Cluster, Peer, ShardChange};
use crate::exchange::Endpoints;
use crate::store::Store;
use crate::store::entities::{orders, positions, signals, system_settings};
use crate::store::enums::{OrderStatus, PositionStatus};
use crate::strategies::Strategies;
use actix::prelude::*;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tradingbot_core::exchange::Venue;
use tradingbot_core::risk::RiskLimits;
use tradingbot_core::signal::Alert;

const GLOBAL_KILL_KEY: &str = "global_kill_switch";

#[derive(Debug, thiserror::Error)]
pub enum CloseError {
    #[error(transparent)]
    Refused(CloseRefused),
    #[error("the trading core is not running")]
    Unavailable,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecutionError {
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("the trading core is not running")]
    Unavailable,
    #[error("another instance trades for this user")]
    NotOwner,
    #[error("{0}")]
    Setup(String),
}

struct Shard {
    arbiter: ArbiterHandle,
    risk: Arc<RiskBook>,
}

pub struct Execution {
    store: Store,
    accounts: Arc<Accounts>,
    strategies: Arc<Strategies>,
    endpoints: Endpoints,
    registry: Arc<Registry>,
    bus: Arc<EventBus>,
    ids: Arc<IdGen>,
    shards: Vec<Shard>,
    persist: Addr<PersistActor>,
    global_kill: Arc<AtomicBool>,
    attached: Mutex<HashMap<i64, Addr<ExchangeActor>>>,
    /// Prices per venue and network, shared by the accounts on it.
    marks: Mutex<HashMap<(Venue, bool), Arc<MarkTable>>>,
    monitor: Addr<PositionMonitor>,
    valuations: Valuations,
    user_depth: Arc<Depth>,
    exchange_depth: Arc<Depth>,
    persist_depth: Arc<Depth>,
    /// Several instances: who owns which users (`None`: this one owns all).
    cluster: Option<Arc<Cluster>>,
    /// Exchange accounts attached, by user (to stop them with the user).
    accounts_of: Mutex<HashMap<i64, HashSet<i64>>>,
}

/// How the core runs.
#[derive(Debug, Default)]
pub struct ExecutionOptions {
    /// Arbiters (threads) users are spread over.
    pub shards: usize,
    pub monitor: MonitorSettings,
    /// The write-ahead journal of the records (`None`: none).
    pub journal: Option<Arc<super::journal::Journal>>,
    /// The other instances (`None`: this one trades for every user).
    pub cluster: Option<Arc<Cluster>>,
}

/// Where a user's trading is handled right now.
#[derive(Debug, Clone)]
pub enum Placement {
    /// Here.
    Local,
    /// On another instance.
    Remote(Peer),
    /// Nowhere yet: its shard is changing hands.
    Unowned,
}

/// A change made on one instance that the others must apply.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Change {
    StrategySaved {
        strategy_id: i64,
    },
    StrategyRemoved {
        user_id: i64,
        strategy_id: i64,
    },
    AccountChanged {
        user_id: i64,
        account_id: i64,
        deleted: bool,
    },
    RiskChanged {
        user_id: i64,
    },
    GlobalKill {
        on: bool,
    },
}

const CHANGES: &str = "cluster:changes";

impl std::fmt::Debug for Execution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Execution")
            .field("shards", &self.shards.len())
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

async fn max_id<E: EntityTrait>(
    store: &Store,
    col: impl ColumnTrait,
) -> Result<i64, sea_orm::DbErr> {
    let v: Option<Option<i64>> = E::find()
        .select_only()
        .column_as(col.max(), "m")
        .into_tuple()
        .one(store.conn())
        .await?;
    Ok(v.flatten().unwrap_or(0))
}

impl Execution {
    /// Builds the core and brings every user with trading state back up.
    pub async fn start(
        store: Store,
        accounts: Arc<Accounts>,
        strategies: Arc<Strategies>,
        endpoints: Endpoints,
        options: ExecutionOptions,
    ) -> Result<Arc<Self>, ExecutionError> {
        let ExecutionOptions {
            shards,
            monitor,
            journal,
            cluster,
        } = options;
        let floor = max_id::<signals::Entity>(&store, signals::Column::Id)
            .await?
            .max(max_id::<orders::Entity>(&store, orders::Column::Id).await?)
            .max(max_id::<positions::Entity>(&store, positions::Column::Id).await?);
        let slot = match &cluster {
            Some(c) => c
                .claim_id_slot()
                .await
                .map_err(|e| ExecutionError::Setup(e.to_string()))?,
            None => 0,
        };
        let ids = Arc::new(IdGen::with_slot(floor, slot));
        let bus = Arc::new(EventBus::default());
        if let Some(j) = &journal {
            bus.set_journal(j.clone());
        }
        if let Some(c) = &cluster {
            let c = c.clone();
            bus.set_lease_of(Arc::new(move |user_id| c.token_for(user_id).unwrap_or(0)));
        }
        let persist_depth = Arc::new(Depth::new("persist"));
        let persist = {
            let (store, depth, unstored) =
                (store.clone(), persist_depth.clone(), bus.unstored_events());
            PersistActor::start_in_arbiter(&Arbiter::new().handle(), move |_| {
                PersistActor::new(store, depth, journal, unstored)
            })
        };
        bus.subscribe_durable(persist.clone().recipient(), persist_depth.clone());
        {
            let (store, bus) = (store.clone(), bus.clone());
            crate::snapshots::DailyClock::start_in_arbiter(&Arbiter::new().handle(), move |_| {
                crate::snapshots::DailyClock::new(store, bus)
            });
        }
        let valuations = Valuations::default();
        let monitor_actor = {
            let (store, bus, v) = (store.clone(), bus.clone(), valuations.clone());
            PositionMonitor::start_in_arbiter(&Arbiter::new().handle(), move |_| {
                PositionMonitor::new(store, bus, monitor, v)
            })
        };
        let global = system_settings::Entity::find_by_id(GLOBAL_KILL_KEY.to_owned())
            .one(store.conn())
            .await?
            .is_some_and(|r| r.value == "true");
        let global_kill = Arc::new(AtomicBool::new(global));
        let n = shards.max(1);
        let shards: Vec<Shard> = (0..n)
            .map(|i| {
                let arbiter = Arbiter::new().handle();
                let risk = RiskBook::start(i, n, store.clone(), bus.clone(), global_kill.clone());
                Shard { arbiter, risk }
            })
            .collect();
        let exec = Arc::new(Self {
            store,
            accounts,
            strategies,
            endpoints,
            registry: Arc::new(Registry::default()),
            bus,
            ids,
            shards,
            persist,
            global_kill,
            attached: Mutex::new(HashMap::new()),
            marks: Mutex::new(HashMap::new()),
            monitor: monitor_actor,
            valuations,
            user_depth: Arc::new(Depth::new("user")),
            exchange_depth: Arc::new(Depth::new("exchange")),
            persist_depth,
            cluster,
            accounts_of: Mutex::new(HashMap::new()),
        });
        exec.restore().await?;
        if let Some(c) = exec.cluster.clone() {
            // The shards free now are taken before the server listens.
            match c.tick().await {
                Ok((changes, _)) => exec.shards_changed(changes).await,
                Err(e) => tracing::warn!(error = %e, "cluster leases not taken at start; retrying"),
            }
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            c.spawn(tx);
            let me = exec.clone();
            tokio::spawn(async move {
                while let Some(first) = rx.recv().await {
                    // What a tick reports together is handled together.
                    let mut batch = vec![first];
                    while let Ok(more) = rx.try_recv() {
                        batch.push(more);
                    }
                    me.shards_changed(batch).await;
                }
            });
            exec.follow_changes(c);
        }
        Ok(exec)
    }

    async fn restore(&self) -> Result<(), ExecutionError> {
        let routes = self
            .strategies
            .all_routes()
            .await
            .map_err(|e| ExecutionError::Setup(e.to_string()))?;
        for (hash, route) in routes {
            self.registry.put(hash, Arc::new(route));
        }
        if self.cluster.is_none() {
            self.bring_up(None, &HashSet::new()).await?;
        }
        Ok(())
    }

    /// Brings up the users of `shard` (all users with `None`): their open
    /// positions and unfinished orders from the store, their actors, their
    /// exchange accounts — each reconciled with its venue before it trades.
    /// Users of `taken` shards (their owner died or lost them: its orders in
    /// flight are only on the venues) trade only once reconciled.
    async fn bring_up(
        &self,
        shards: Option<&HashSet<u16>>,
        taken: &HashSet<u16>,
    ) -> Result<(), ExecutionError> {
        let mine = |user_id: i64| shards.is_none_or(|s| s.contains(&cluster::shard_of(user_id)));
        let mut by_user: HashMap<i64, Vec<Arc<StrategyRoute>>> = HashMap::new();
        for route in self.registry.all_strategies() {
            if mine(route.user_id) {
                by_user.entry(route.user_id).or_default().push(route);
            }
        }
        let open: Vec<positions::Model> = positions::Entity::find()
            .filter(positions::Column::Status.eq(PositionStatus::Open))
            .all(self.store.conn())
            .await?
            .into_iter()
            .filter(|p| mine(p.user_id))
            .collect();
        // The day so far, for the strategies' protections.
        let midnight = chrono::Utc::now()
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc();
        let today: Vec<positions::Model> = positions::Entity::find()
            .filter(
                sea_orm::Condition::any()
                    .add(positions::Column::OpenedAt.gte(midnight))
                    .add(positions::Column::ClosedAt.gte(midnight)),
            )
            .all(self.store.conn())
            .await?
            .into_iter()
            .filter(|p| mine(p.user_id))
            .collect();
        let open_ids: Vec<i64> = open.iter().map(|p| p.id).collect();
        let unfinished = [
            OrderStatus::Pending,
            OrderStatus::New,
            OrderStatus::PartiallyFilled,
            OrderStatus::Unknown,
        ];
        let mut order_rows: Vec<orders::Model> = orders::Entity::find()
            .filter(orders::Column::Status.is_in(unfinished))
            .all(self.store.conn())
            .await?
            .into_iter()
            .filter(|o| mine(o.user_id))
            .collect();
        for chunk in open_ids.chunks(500) {
            order_rows.extend(
                orders::Entity::find()
                    .filter(orders::Column::PositionId.is_in(chunk.to_vec()))
                    .filter(orders::Column::Status.is_not_in(unfinished))
                    .all(self.store.conn())
                    .await?,
            );
        }
        let mut restored: HashMap<i64, Restored> = HashMap::new();
        let mut needed: HashMap<i64, HashSet<i64>> = HashMap::new();
        for p in open {
            if let Some(a) = p.account_id {
                needed.entry(p.user_id).or_default().insert(a);
            }
            restored.entry(p.user_id).or_default().positions.push(p);
        }
        for p in today {
            restored.entry(p.user_id).or_default().today.push(p);
        }
        for o in order_rows {
            if let Some(a) = o.account_id {
                needed.entry(o.user_id).or_default().insert(a);
            }
            restored.entry(o.user_id).or_default().orders.push(o);
        }
        for routes in by_user.values() {
            for r in routes {
                if let Some(a) = r.account_id {
                    needed.entry(r.user_id).or_default().insert(a);
                }
            }
        }
        let users: HashSet<i64> = by_user.keys().chain(restored.keys()).copied().collect();
        if shards.is_some() {
            // The previous owner kept their risk state in the store.
            for user_id in &users {
                self.risk_of(*user_id).reload_user(*user_id).await;
            }
        }
        for user_id in &users {
            let routes = by_user.remove(user_id).unwrap_or_default();
            let mut r = restored.remove(user_id).unwrap_or_default();
            r.takeover = taken.contains(&cluster::shard_of(*user_id));
            self.spawn_user(*user_id, routes, r);
        }
        for (user_id, accounts) in needed {
            for account_id in accounts {
                if let Err(e) = self.attach(user_id, account_id).await {
                    tracing::error!(user_id, account_id, error = %e, "cannot connect an exchange account");
                }
            }
        }
        tracing::info!(users = users.len(), "execution core brought users up");
        Ok(())
    }

    /// Applies changes of shard ownership: shards lost stop at once, shards
    /// to hand over are wound down together (one write of the records) and
    /// released, shards gained are brought up together.
    async fn shards_changed(&self, changes: Vec<ShardChange>) {
        let (mut lost, mut release, mut gained) = (Vec::new(), Vec::new(), Vec::new());
        let mut taken: HashSet<u16> = HashSet::new();
        for c in changes {
            match c {
                ShardChange::Lost { shard } => lost.push(shard),
                ShardChange::Release { shard } => release.push(shard),
                ShardChange::Gained {
                    shard,
                    token,
                    clean,
                } => {
                    gained.push((shard, token));
                    if !clean {
                        taken.insert(shard);
                    }
                }
            }
        }
        if !lost.is_empty() {
            tracing::warn!(shards = ?lost, "shard leases lost; their users stop here at once");
            self.wind_down(&lost, false).await;
        }
        if !release.is_empty() {
            tracing::info!(shards = ?release, "handing shards over");
            self.wind_down(&release, true).await;
            if let Some(c) = &self.cluster {
                for shard in release {
                    if let Err(e) = c.release(shard).await {
                        tracing::warn!(shard, error = %e, "cannot release a shard; it expires on its own");
                    }
                }
            }
        }
        if !gained.is_empty() {
            let started = Instant::now();
            tracing::info!(shards = ?gained.iter().map(|g| g.0).collect::<Vec<_>>(), "shards taken");
            let shards: HashSet<u16> = gained.iter().map(|g| g.0).collect();
            // The database learns the new tokens before the users are read
            // back: whatever an older owner writes from now on cannot
            // overwrite what is read and written here.
            if let Some(c) = &self.cluster {
                let mut delay = std::time::Duration::from_millis(100);
                for attempt in 1..=5 {
                    match super::fences::raise(&self.store, c.id(), &gained).await {
                        Ok(()) => break,
                        Err(e) => {
                            tracing::warn!(attempt, error = %e, "cannot raise the shards' fences; retrying");
                            tokio::time::sleep(delay).await;
                            delay *= 2;
                        }
                    }
                }
            }
            if !taken.is_empty() {
                tracing::info!(shards = ?taken, "taken over from an owner that did not hand them over: their users trade once reconciled");
            }
            if let Err(e) = self.bring_up(Some(&shards), &taken).await {
                tracing::error!(error = %e, "cannot bring the shards' users up");
            }
            metrics::histogram!("cluster_takeover_seconds").record(started.elapsed().as_secs_f64());
        }
    }

    /// Stops the actors of the users of `shards` here: after the orders they
    /// have in flight are answered (`graceful`, at most a few seconds), or
    /// at once. What they wrote is in the store before the shards are given up.
    async fn wind_down(&self, shards: &[u16], graceful: bool) {
        let users: Vec<(i64, Addr<UserActor>)> = self
            .registry
            .local_users()
            .into_iter()
            .filter(|(u, _)| shards.contains(&cluster::shard_of(*u)))
            .collect();
        let mut retiring = Vec::new();
        let mut exchanges = Vec::new();
        for (user_id, addr) in users {
            self.registry.remove_destination(user_id);
            self.user_depth.sent();
            retiring.push(addr.send(super::user::Retire { graceful }));
            let accounts = self
                .accounts_of
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&user_id)
                .unwrap_or_default();
            for account_id in accounts {
                let old = self
                    .attached
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&account_id);
                exchanges.extend(old);
            }
        }
        // The exchange actors go last: a user waiting for its orders in
        // flight hears their answers through them.
        if !graceful {
            for x in exchanges.drain(..) {
                x.do_send(super::exchange::Retire);
            }
        }
        futures_util::future::join_all(retiring).await;
        for x in exchanges {
            x.do_send(super::exchange::Retire);
        }
        self.drain().await;
    }

    /// Applies the changes other instances make, and publishes ours.
    fn follow_changes(self: &Arc<Self>, cluster: Arc<Cluster>) {
        let me = self.clone();
        let mut rx = cluster.redis().subscribe(CHANGES);
        tokio::spawn(async move {
            while let Some(text) = rx.recv().await {
                let Ok(change) = serde_json::from_str::<Change>(&text) else {
                    continue;
                };
                me.apply(change).await;
            }
        });
        // A message lost while Redis was away is made up for here.
        let me = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(30));
            every.tick().await;
            loop {
                every.tick().await;
                if let Ok(routes) = me.strategies.all_routes().await {
                    for (hash, route) in routes {
                        me.registry.put(hash, Arc::new(route));
                    }
                }
            }
        });
    }

    fn announce(&self, change: Change) {
        if let Some(c) = &self.cluster {
            let (redis, text) = (
                c.redis().clone(),
                serde_json::to_string(&change).unwrap_or_default(),
            );
            tokio::spawn(async move {
                if let Err(e) = redis.publish(CHANGES, &text).await {
                    tracing::warn!(error = %e, "a change could not be announced to the other instances");
                }
            });
        }
    }

    async fn apply(&self, change: Change) {
        match change {
            Change::StrategySaved { strategy_id } => {
                if let Err(e) = self.apply_strategy_saved(strategy_id).await {
                    tracing::warn!(strategy_id, error = %e, "a strategy change could not be applied");
                }
            }
            Change::StrategyRemoved {
                user_id,
                strategy_id,
            } => self.apply_strategy_removed(user_id, strategy_id),
            Change::AccountChanged {
                user_id,
                account_id,
                deleted,
            } => {
                self.apply_account_changed(user_id, account_id, deleted)
                    .await
            }
            Change::RiskChanged { user_id } => {
                if self.is_local(user_id) {
                    self.risk_of(user_id).reload_user(user_id).await;
                }
            }
            Change::GlobalKill { on } => self.global_kill.store(on, Ordering::Release),
        }
    }

    fn is_local(&self, user_id: i64) -> bool {
        self.registry.destination(user_id).is_some()
    }

    /// Where `user_id`'s trading is handled now.
    pub fn placement(&self, user_id: i64) -> Placement {
        let Some(c) = &self.cluster else {
            return Placement::Local;
        };
        match c.owner_of(user_id) {
            Some(None) if c.acts_for(user_id) && self.is_local(user_id) => Placement::Local,
            Some(None) => Placement::Unowned,
            Some(Some(peer)) => Placement::Remote(peer),
            None => Placement::Unowned,
        }
    }

    /// A graceful stop: with other instances, leaves the cluster and hands
    /// every owned shard over (orders in flight answered first), within
    /// `within`; alone, nothing to do.
    pub async fn leave(&self, within: std::time::Duration) {
        let Some(c) = self.cluster.clone() else {
            return;
        };
        if let Err(e) = c.leave().await {
            tracing::warn!(error = %e, "cannot leave the cluster; its leases expire on their own");
        }
        let hand_over = async {
            let shards = c.owned();
            self.wind_down(&shards, true).await;
            for shard in shards {
                let _ = c.release(shard).await;
            }
        };
        if tokio::time::timeout(within, hand_over).await.is_err() {
            tracing::warn!("shards not all handed over in time; their leases expire on their own");
        }
    }

    /// With other instances, a webhook token this one does not know yet
    /// may belong to a strategy just made elsewhere (its announcement on
    /// its way): the store says, and the registry learns it. Alone, the
    /// registry is complete and nothing is asked.
    pub async fn route_from_store(&self, token: &str) -> Option<Arc<StrategyRoute>> {
        self.cluster.as_ref()?;
        let (hash, route) = self.strategies.route_by_token(token).await.ok()??;
        let route = Arc::new(route);
        self.registry.put(hash, route.clone());
        // Owned here: its account is connected before the alert arrives.
        if self
            .cluster
            .as_ref()
            .is_some_and(|c| c.acts_for(route.user_id))
            && let Err(e) = self.apply_strategy_saved(route.strategy_id).await
        {
            tracing::warn!(strategy_id = route.strategy_id, error = %e, "a new strategy could not be set up");
        }
        Some(route)
    }

    /// Asks the cluster who owns `user_id`'s shard now (after a forward found
    /// nobody there, or while nobody owns it).
    pub async fn refresh_placement(&self, user_id: i64) {
        if let Some(c) = &self.cluster
            && let Err(e) = c.refresh_owner(user_id).await
        {
            tracing::debug!(error = %e, "shard owner not refreshed");
        }
    }

    /// This instance's id in the cluster (`None` alone).
    pub fn instance_id(&self) -> Option<&str> {
        self.cluster.as_deref().map(Cluster::id)
    }

    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.as_ref()
    }

    fn spawn_user(
        &self,
        user_id: i64,
        routes: Vec<Arc<StrategyRoute>>,
        restored: Restored,
    ) -> Addr<UserActor> {
        let shard = &self.shards[shard_of(user_id, self.shards.len())];
        let (ids, bus, risk) = (self.ids.clone(), self.bus.clone(), shard.risk.clone());
        let (ud, ed) = (self.user_depth.clone(), self.exchange_depth.clone());
        let addr = UserActor::start_in_arbiter(&shard.arbiter, move |_| {
            UserActor::new(user_id, ids, bus, risk, routes, restored, ud, ed)
        });
        self.registry
            .set_destination(user_id, Destination::Local(addr.clone()));
        addr
    }

    /// The user's actor here, started when this instance owns the user
    /// and it is not running yet; `None` when another instance owns it.
    fn user(&self, user_id: i64) -> Option<Addr<UserActor>> {
        match self.registry.destination(user_id) {
            Some(Destination::Local(a)) => Some(a),
            None if self.cluster.as_ref().is_none_or(|c| c.acts_for(user_id)) => {
                Some(self.spawn_user(
                    user_id,
                    self.registry.user_strategies(user_id),
                    Restored::default(),
                ))
            }
            None => None,
        }
    }

    /// Connects an account and gives it to its user's actor (once).
    async fn attach(&self, user_id: i64, account_id: i64) -> Result<(), ExecutionError> {
        if self
            .attached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&account_id)
        {
            return Ok(());
        }
        let Ok(model) = self.accounts.get(user_id, account_id).await else {
            return Ok(());
        };
        let Some(user) = self.user(user_id) else {
            return Ok(());
        };
        let conn = self
            .accounts
            .connection(&model)
            .await
            .map_err(|e| ExecutionError::Setup(e.to_string()))?;
        let venue = Venue::from(model.exchange);
        let marks = self
            .marks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((venue, model.testnet))
            .or_insert_with(|| {
                let table = Arc::new(MarkTable::default());
                let e = &self.endpoints;
                let url = match (venue, model.testnet) {
                    (Venue::Binance, false) => e.binance_live_stream.clone(),
                    (Venue::Binance, true) => e.binance_testnet_stream.clone(),
                    (Venue::Okx, false) => e.okx_live_ws_public.clone(),
                    (Venue::Okx, true) => e.okx_demo_ws_public.clone(),
                    (Venue::Paper, _) => String::new(),
                };
                crate::exchange::marks::spawn(venue, url, &table);
                table
            })
            .clone();
        let view = Arc::new(AccountView::new(
            account_id,
            user_id,
            venue,
            model.testnet,
            marks,
        ));
        let shard = &self.shards[shard_of(user_id, self.shards.len())];
        let fence = self.fence(user_id);
        let (endpoints, depth, owner, v) = (
            self.endpoints.clone(),
            self.exchange_depth.clone(),
            user.clone().recipient(),
            view.clone(),
        );
        let mut attached = self.attached.lock().unwrap_or_else(|e| e.into_inner());
        if attached.contains_key(&account_id) {
            return Ok(());
        }
        let exchange = ExchangeActor::start_in_arbiter(&shard.arbiter, move |_| {
            ExchangeActor::new(v, conn, endpoints, owner, depth, fence)
        });
        attached.insert(account_id, exchange.clone());
        self.accounts_of
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(user_id)
            .or_default()
            .insert(account_id);
        self.user_depth.sent();
        self.monitor.do_send(WatchAccount(view.clone()));
        // Queued before the lock is let go: whoever finds the account
        // attached and then sends the user a signal sends it after this.
        user.do_send(AccountAttached {
            link: AccountLink { view, exchange },
        });
        drop(attached);
        Ok(())
    }

    /// What decides, right before an order leaves, whether this instance
    /// may still send for `user_id` (always, alone).
    fn fence(&self, user_id: i64) -> super::exchange::Fence {
        match &self.cluster {
            Some(c) => {
                let c = c.clone();
                Arc::new(move || c.acts_for(user_id))
            }
            None => Arc::new(|| true),
        }
    }

    /// The monitor's latest valuation of an open position.
    pub fn valuation(&self, position_id: i64) -> Option<PositionValue> {
        self.valuations
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&position_id)
            .cloned()
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    pub fn bus(&self) -> &Arc<EventBus> {
        &self.bus
    }

    /// A fresh signal id.
    pub fn next_signal_id(&self) -> i64 {
        self.ids.next()
    }

    /// Hands an authenticated, first-seen alert to its user's actor;
    /// `destination` is where the registry said the user is handled when
    /// the route was found (read again only when not given).
    #[allow(clippy::too_many_arguments)]
    pub async fn submit(
        &self,
        route: Arc<StrategyRoute>,
        destination: Option<Destination>,
        signal_id: i64,
        alert: Alert,
        received: Instant,
        received_at: DateTime<Utc>,
        source_ip: Option<String>,
    ) -> Result<Outcome, ExecutionError> {
        let addr = match destination.or_else(|| self.registry.destination(route.user_id)) {
            Some(Destination::Local(a)) => a,
            None => self.user(route.user_id).ok_or(ExecutionError::NotOwner)?,
        };
        // A strategy routed an instant ago (its announcement being applied,
        // or just taken over) may still be connecting its account: the
        // alert waits for it rather than being refused.
        let connecting = route.account_id.filter(|id| {
            !self
                .attached
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(id)
        });
        if let Some(account_id) = connecting
            && let Err(e) = self.attach(route.user_id, account_id).await
        {
            // The actor answers `account_unavailable`.
            tracing::warn!(account_id, error = %e, "the account could not be connected");
        }
        self.user_depth.sent();
        addr.send(SignalReceived {
            route,
            signal_id,
            alert,
            received,
            received_at,
            source_ip,
            warmed: false,
        })
        .await
        .map_err(|_| ExecutionError::Unavailable)
    }

    /// Records a signal that never reached a strategy's actor (unknown
    /// token, failed authentication, duplicate, throttled).
    pub fn record_signal(&self, record: SignalRecord) {
        self.bus.publish(Event::Signal(record));
    }

    /// A strategy was created or changed: route it, tell its user's actor,
    /// and the other instances.
    pub async fn strategy_saved(&self, strategy_id: i64) -> Result<(), ExecutionError> {
        self.apply_strategy_saved(strategy_id).await?;
        self.announce(Change::StrategySaved { strategy_id });
        Ok(())
    }

    /// The route of a strategy an alert was forwarded for. Missing here
    /// only when the strategy was saved on the forwarding instance a moment
    /// ago and its announcement has not arrived yet: read from the store
    /// (and given to the user's actor) rather than refused as unknown.
    pub async fn route_for_forwarded(&self, strategy_id: i64) -> Option<Arc<StrategyRoute>> {
        if let Some(r) = self.registry.strategy(strategy_id) {
            return Some(r);
        }
        if let Err(e) = self.apply_strategy_saved(strategy_id).await {
            tracing::warn!(strategy_id, error = %e, "a forwarded alert's strategy could not be loaded");
        }
        self.registry.strategy(strategy_id)
    }

    async fn apply_strategy_saved(&self, strategy_id: i64) -> Result<(), ExecutionError> {
        let Some((hash, route)) = self
            .strategies
            .route(strategy_id)
            .await
            .map_err(|e| ExecutionError::Setup(e.to_string()))?
        else {
            return Ok(());
        };
        let route = Arc::new(route);
        let user_id = route.user_id;
        self.registry.put(hash, route.clone());
        let Some(user) = self.user(user_id) else {
            return Ok(());
        };
        if let Some(account_id) = route.account_id {
            self.attach(user_id, account_id).await?;
        }
        self.user_depth.sent();
        user.do_send(StrategyChanged {
            strategy_id,
            route: Some(route),
        });
        Ok(())
    }

    pub fn strategy_removed(&self, user_id: i64, strategy_id: i64) {
        self.apply_strategy_removed(user_id, strategy_id);
        self.announce(Change::StrategyRemoved {
            user_id,
            strategy_id,
        });
    }

    fn apply_strategy_removed(&self, user_id: i64, strategy_id: i64) {
        self.registry.remove_strategy(strategy_id);
        if let Some(Destination::Local(a)) = self.registry.destination(user_id) {
            self.user_depth.sent();
            a.do_send(StrategyChanged {
                strategy_id,
                route: None,
            });
        }
    }

    /// An account's credentials changed or it was deleted: its actor stops
    /// (and, if still needed, a new one starts with the new credentials).
    pub async fn account_changed(&self, user_id: i64, account_id: i64, deleted: bool) {
        self.apply_account_changed(user_id, account_id, deleted)
            .await;
        self.announce(Change::AccountChanged {
            user_id,
            account_id,
            deleted,
        });
    }

    async fn apply_account_changed(&self, user_id: i64, account_id: i64, deleted: bool) {
        self.accounts.forget_connection(account_id);
        let old = self
            .attached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&account_id);
        if let Some(old) = old {
            if let Some(Destination::Local(a)) = self.registry.destination(user_id) {
                self.user_depth.sent();
                a.do_send(AccountDetached { account_id });
            }
            old.do_send(super::exchange::Retire);
        }
        if !deleted && self.is_local(user_id) {
            let used = self
                .registry
                .user_strategies(user_id)
                .iter()
                .any(|s| s.account_id == Some(account_id));
            if used && let Err(e) = self.attach(user_id, account_id).await {
                tracing::warn!(user_id, account_id, error = %e, "cannot reconnect the account");
            }
        }
    }

    fn risk_of(&self, user_id: i64) -> &Arc<RiskBook> {
        &self.shards[shard_of(user_id, self.shards.len())].risk
    }

    pub async fn risk(&self, user_id: i64) -> Result<Option<UserRisk>, ExecutionError> {
        Ok(self.risk_of(user_id).get(user_id))
    }

    /// Stores a user's new limits and applies them to the next entry.
    pub async fn set_limits(&self, user_id: i64, limits: RiskLimits) -> Result<(), ExecutionError> {
        use crate::store::entities::risk_settings::{ActiveModel, Column as C, Entity};
        Entity::insert(ActiveModel {
            user_id: Set(user_id),
            max_leverage: Set(limits.max_leverage as i32),
            max_open_positions: Set(limits.max_open_positions as i32),
            max_position_notional: Set(limits.max_position_notional.map(crate::store::DbDecimal)),
            daily_loss_limit_pct: Set(limits.daily_loss_limit_pct.map(crate::store::DbDecimal)),
            kill_switch: Set(false),
            admin_kill_switch: Set(false),
            day: Set(0),
            day_start_equity: Set(crate::store::DbDecimal(rust_decimal::Decimal::ZERO)),
            halted_day: Set(None),
            updated_at: Set(Utc::now()),
        })
        .on_conflict(
            OnConflict::column(C::UserId)
                .update_columns([
                    C::MaxLeverage,
                    C::MaxOpenPositions,
                    C::MaxPositionNotional,
                    C::DailyLossLimitPct,
                    C::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(self.store.conn())
        .await?;
        self.announce(Change::RiskChanged { user_id });
        self.risk_of(user_id).set_limits(user_id, limits);
        Ok(())
    }

    pub async fn set_kill_switch(
        &self,
        user_id: i64,
        own: Option<bool>,
        admin: Option<bool>,
    ) -> Result<UserRisk, ExecutionError> {
        Ok(self.risk_of(user_id).set_kill_switch(user_id, own, admin))
    }

    pub fn global_kill_switch(&self) -> bool {
        self.global_kill.load(Ordering::Acquire)
    }

    /// Halts (or resumes) new entries for everyone; stored so it survives a restart.
    pub async fn set_global_kill_switch(&self, on: bool) -> Result<(), ExecutionError> {
        system_settings::Entity::insert(system_settings::ActiveModel {
            key: Set(GLOBAL_KILL_KEY.to_owned()),
            value: Set(on.to_string()),
            updated_at: Set(Utc::now()),
        })
        .on_conflict(
            OnConflict::column(system_settings::Column::Key)
                .update_columns([
                    system_settings::Column::Value,
                    system_settings::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(self.store.conn())
        .await?;
        self.global_kill.store(on, Ordering::Release);
        self.announce(Change::GlobalKill { on });
        tracing::warn!(on, "global kill switch changed");
        Ok(())
    }

    /// How many positions a user's actor holds (open or in flight).
    /// Closes an open position of the user now (reduce-only market order,
    /// protective orders cancelled).
    pub async fn close_position(
        &self,
        user_id: i64,
        position_id: i64,
        source: CloseSource,
        source_ip: Option<String>,
    ) -> Result<CloseStarted, CloseError> {
        let Some(Destination::Local(user)) = self.registry.destination(user_id) else {
            return Err(CloseError::Refused(CloseRefused::NotFound));
        };
        user.send(ClosePosition {
            position_id,
            source,
            source_ip,
        })
        .await
        .map_err(|_| CloseError::Unavailable)?
        .map_err(CloseError::Refused)
    }

    /// The positions a strategy holds right now (its user's actor is asked:
    /// the store is written behind and may not show one just opened).
    pub async fn positions_of(
        &self,
        user_id: i64,
        strategy_id: i64,
    ) -> Result<Vec<super::user::HeldPosition>, ExecutionError> {
        match self.registry.destination(user_id) {
            Some(Destination::Local(a)) => {
                self.user_depth.sent();
                a.send(super::user::PositionsOf { strategy_id })
                    .await
                    .map_err(|_| ExecutionError::Unavailable)
            }
            None => Ok(Vec::new()),
        }
    }

    pub async fn open_positions(&self, user_id: i64) -> usize {
        match self.registry.destination(user_id) {
            Some(Destination::Local(a)) => {
                self.user_depth.sent();
                a.send(OpenPositions).await.unwrap_or(0)
            }
            None => 0,
        }
    }

    /// Waits until every event so far is in the database.
    pub async fn drain(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.persist_depth.sent();
        self.persist.do_send(Drain(tx));
        let _ = rx.await;
    }

    pub fn mailbox_depths(&self) -> [(&'static str, i64); 3] {
        [
            ("user", self.user_depth.waiting()),
            ("exchange", self.exchange_depth.waiting()),
            ("persist", self.persist_depth.waiting()),
        ]
    }

    /// Accounts of a user that trade (have an exchange actor).
    pub fn attached_accounts(&self) -> Vec<i64> {
        self.attached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .copied()
            .collect()
    }
}
