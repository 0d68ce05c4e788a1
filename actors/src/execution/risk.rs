//! The single writer of risk state for the users of one shard.
//!
//! Every entry passes here before it reaches an exchange; an approved entry
//! takes a position slot at once, so two entries racing for the last slot
//! cannot both pass. The actor runs under an actix `Supervisor`: if it ever
//! stops, it restarts and rebuilds its state from the store, refusing entries
//! (fail closed) until it has. Handlers do not panic — a panic would not
//! restart it, only lose the thread.

use super::bus::EventBus;
use super::events::{Event, RiskAlert};
use crate::store::Store;
use crate::store::entities::{positions, risk_settings};
use crate::store::enums::PositionStatus;
use actix::prelude::*;
use rust_decimal::Decimal;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tradingbot_core::risk::{EntryCheck, RiskLedger, RiskLimits, RiskRejection, RiskRule};

#[derive(Debug, Clone, Default)]
pub struct UserRisk {
    pub limits: RiskLimits,
    pub ledger: RiskLedger,
}

pub struct RiskActor {
    shard: usize,
    shards: usize,
    store: Store,
    bus: Arc<EventBus>,
    global_kill: Arc<AtomicBool>,
    users: HashMap<i64, UserRisk>,
    ready: bool,
}

impl RiskActor {
    pub fn new(
        shard: usize,
        shards: usize,
        store: Store,
        bus: Arc<EventBus>,
        global_kill: Arc<AtomicBool>,
    ) -> Self {
        Self {
            shard,
            shards,
            store,
            bus,
            global_kill,
            users: HashMap::new(),
            ready: false,
        }
    }

    fn user(&mut self, user_id: i64) -> &mut UserRisk {
        self.users.entry(user_id).or_default()
    }

    fn persist(&self, user_id: i64) {
        if let Some(u) = self.users.get(&user_id) {
            self.bus.publish(Event::RiskState {
                user_id,
                ledger: u.ledger.clone(),
            });
        }
    }

    fn reload(&mut self, ctx: &mut Context<Self>) {
        self.ready = false;
        let (store, shard, shards) = (self.store.clone(), self.shard, self.shards);
        ctx.spawn(
            async move { load(&store, shard, shards).await }
                .into_actor(self)
                .map(|loaded, act, ctx| match loaded {
                    Ok(users) => {
                        act.users = users;
                        act.ready = true;
                        tracing::info!(shard = act.shard, users = act.users.len(), "risk state loaded");
                    }
                    Err(e) => {
                        tracing::error!(shard = act.shard, error = %e, "cannot load risk state; retrying");
                        ctx.run_later(std::time::Duration::from_secs(1), |act, ctx| act.reload(ctx));
                    }
                }),
        );
    }
}

/// The risk state of the users of `shard`, from the store.
pub async fn load(
    store: &Store,
    shard: usize,
    shards: usize,
) -> Result<HashMap<i64, UserRisk>, sea_orm::DbErr> {
    let mine = |user_id: i64| super::shard_of(user_id, shards) == shard;
    let mut users: HashMap<i64, UserRisk> = HashMap::new();
    for row in risk_settings::Entity::find().all(store.conn()).await? {
        if !mine(row.user_id) {
            continue;
        }
        users.insert(
            row.user_id,
            UserRisk {
                limits: limits_of(&row),
                ledger: RiskLedger {
                    day: row.day,
                    start_equity: row.day_start_equity.get(),
                    open_positions: 0,
                    kill_switch: row.kill_switch,
                    admin_kill_switch: row.admin_kill_switch,
                    halted_day: row.halted_day,
                },
            },
        );
    }
    for p in positions::Entity::find()
        .filter(positions::Column::Status.eq(PositionStatus::Open))
        .all(store.conn())
        .await?
    {
        if mine(p.user_id) {
            users.entry(p.user_id).or_default().ledger.open_positions += 1;
        }
    }
    Ok(users)
}

pub fn limits_of(row: &risk_settings::Model) -> RiskLimits {
    RiskLimits {
        max_leverage: row.max_leverage.clamp(1, 125) as u32,
        max_open_positions: row.max_open_positions.max(0) as u32,
        max_position_notional: row.max_position_notional.map(|d| d.get()),
        daily_loss_limit_pct: row.daily_loss_limit_pct.map(|d| d.get()),
    }
}

impl Actor for RiskActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.reload(ctx);
    }
}

impl Supervised for RiskActor {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        tracing::warn!(
            shard = self.shard,
            "risk actor restarting; rebuilding from the store"
        );
        self.users.clear();
    }
}

/// May this entry go out? Approval takes a position slot.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Result<(), RiskRejection>")]
pub struct CheckEntry {
    pub user_id: i64,
    pub leverage: u32,
    pub notional: Decimal,
    pub equity: Decimal,
    pub now_ms: i64,
    /// The entry replaces a position being closed (a reversal): that
    /// position's slot is handed over rather than a new one taken.
    pub replacing: bool,
}

impl Handler<CheckEntry> for RiskActor {
    type Result = Result<(), RiskRejection>;

    fn handle(&mut self, m: CheckEntry, _: &mut Self::Context) -> Self::Result {
        if !self.ready {
            return Err(RiskRejection {
                rule: RiskRule::StateLoading,
                message: "risk state is being rebuilt; try again in a moment".into(),
            });
        }
        let global = self.global_kill.load(Ordering::Acquire);
        let user = self.user(m.user_id);
        let before = user.ledger.clone();
        if m.replacing {
            user.ledger.open_positions = user.ledger.open_positions.saturating_sub(1);
        }
        let limits = user.limits.clone();
        let result = user.ledger.check_entry(
            &limits,
            global,
            EntryCheck {
                leverage: m.leverage,
                notional: m.notional,
                equity: m.equity,
                now_ms: m.now_ms,
            },
        );
        // The slot: taken by an approved entry; a refused reversal gives
        // its slot back to the position that stays open until it closes.
        user.ledger.open_positions += 1;
        if result.is_err() && !m.replacing {
            user.ledger.open_positions -= 1;
        }
        let changed = {
            let l = &user.ledger;
            (l.day, l.start_equity, l.halted_day)
                != (before.day, before.start_equity, before.halted_day)
        };
        if changed {
            self.persist(m.user_id);
        }
        result
    }
}

/// A slot is free again: an entry failed, or a position closed.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct ReleaseSlot {
    pub user_id: i64,
}

impl Handler<ReleaseSlot> for RiskActor {
    type Result = ();

    fn handle(&mut self, m: ReleaseSlot, _: &mut Self::Context) {
        let l = &mut self.user(m.user_id).ledger;
        l.open_positions = l.open_positions.saturating_sub(1);
    }
}

/// A position appeared without an entry passing here (adopted by
/// reconciliation): it still counts.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct TakeSlot {
    pub user_id: i64,
}

impl Handler<TakeSlot> for RiskActor {
    type Result = ();

    fn handle(&mut self, m: TakeSlot, _: &mut Self::Context) {
        self.user(m.user_id).ledger.open_positions += 1;
    }
}

/// New limits from the API (already stored).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct SetLimits {
    pub user_id: i64,
    pub limits: RiskLimits,
}

impl Handler<SetLimits> for RiskActor {
    type Result = ();

    fn handle(&mut self, m: SetLimits, _: &mut Self::Context) {
        self.user(m.user_id).limits = m.limits;
    }
}

/// Turns a user's kill switch on or off (the user's own, or the
/// administrator's); persisted through the event bus.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "UserRisk")]
pub struct SetKillSwitch {
    pub user_id: i64,
    pub own: Option<bool>,
    pub admin: Option<bool>,
}

impl Handler<SetKillSwitch> for RiskActor {
    type Result = MessageResult<SetKillSwitch>;

    fn handle(&mut self, m: SetKillSwitch, _: &mut Self::Context) -> Self::Result {
        let u = self.user(m.user_id);
        let before = (u.ledger.kill_switch, u.ledger.admin_kill_switch);
        if let Some(v) = m.own {
            u.ledger.kill_switch = v;
        }
        if let Some(v) = m.admin {
            u.ledger.admin_kill_switch = v;
        }
        let snapshot = u.clone();
        self.persist(m.user_id);
        // Heard on the websocket and Telegram, kept in the audit log.
        let changes = [
            (
                before.0 != snapshot.ledger.kill_switch,
                "kill_switch_own",
                snapshot.ledger.kill_switch,
                "you",
            ),
            (
                before.1 != snapshot.ledger.admin_kill_switch,
                "kill_switch_admin",
                snapshot.ledger.admin_kill_switch,
                "an administrator",
            ),
        ];
        for (changed, kind, on, by) in changes {
            if changed {
                let message = if on {
                    format!(
                        "New entries paused by {by}; open positions keep their stop-loss and take-profit"
                    )
                } else {
                    format!("New entries allowed again by {by}")
                };
                self.bus.publish(Event::RiskAlert(RiskAlert {
                    user_id: m.user_id,
                    kind: if on {
                        kind.to_owned()
                    } else {
                        format!("{kind}_lifted")
                    },
                    rule: None,
                    message,
                    position_id: None,
                }));
            }
        }
        MessageResult(snapshot)
    }
}

/// A user's limits and state, for the API.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Option<UserRisk>")]
pub struct GetRisk {
    pub user_id: i64,
}

impl Handler<GetRisk> for RiskActor {
    type Result = MessageResult<GetRisk>;

    fn handle(&mut self, m: GetRisk, _: &mut Self::Context) -> Self::Result {
        MessageResult(
            self.ready
                .then(|| self.users.get(&m.user_id).cloned().unwrap_or_default()),
        )
    }
}

/// Reads a user's limits and state again from the store (this instance has
/// just taken the user over, or another instance changed them).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct ReloadUser {
    pub user_id: i64,
}

impl Handler<ReloadUser> for RiskActor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, m: ReloadUser, _: &mut Self::Context) -> Self::Result {
        let store = self.store.clone();
        Box::pin(
            async move { load_user(&store, m.user_id).await }
                .into_actor(self)
                .map(move |loaded, act, _| match loaded {
                    Ok(Some(u)) => {
                        act.users.insert(m.user_id, u);
                    }
                    Ok(None) => {
                        act.users.remove(&m.user_id);
                    }
                    Err(e) => {
                        tracing::error!(user_id = m.user_id, error = %e, "cannot reload a user's risk state")
                    }
                }),
        )
    }
}

/// One user's risk state from the store (`None`: nothing stored).
async fn load_user(store: &Store, user_id: i64) -> Result<Option<UserRisk>, sea_orm::DbErr> {
    let row = risk_settings::Entity::find_by_id(user_id)
        .one(store.conn())
        .await?;
    let open = positions::Entity::find()
        .filter(positions::Column::Status.eq(PositionStatus::Open))
        .filter(positions::Column::UserId.eq(user_id))
        .all(store.conn())
        .await?
        .len() as u32;
    Ok(match row {
        Some(row) => Some(UserRisk {
            limits: limits_of(&row),
            ledger: RiskLedger {
                day: row.day,
                start_equity: row.day_start_equity.get(),
                open_positions: open,
                kill_switch: row.kill_switch,
                admin_kill_switch: row.admin_kill_switch,
                halted_day: row.halted_day,
            },
        }),
        None if open > 0 => Some(UserRisk {
            ledger: RiskLedger {
                open_positions: open,
                ..RiskLedger::default()
            },
            ..UserRisk::default()
        }),
        None => None,
    })
}
