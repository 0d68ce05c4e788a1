//! Risk state of the users of one shard, decided where the entry is made.
//!
//! A user's entries are decided by the user's own actor, synchronously, on
//! the user's ledger held here (one mutex per shard, which the shard's user
//! actors — one thread — and the rare API change share): no message round
//! trip per entry. An approval is a [`RiskApproved`], which only
//! [`RiskBook::check_entry`] makes and which sending an entry requires, so
//! no path (a reversal's included) can send an entry risk did not approve.
//! An approved entry takes a position slot at once, so two entries racing
//! for the last slot cannot both pass. Until the book has read the store
//! it refuses every entry (fail closed). The global kill switch is an
//! atomic every book reads.

use super::bus::EventBus;
use super::events::{Event, RiskAlert};
use crate::store::Store;
use crate::store::entities::{positions, risk_settings};
use crate::store::enums::PositionStatus;
use rust_decimal::Decimal;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tradingbot_core::risk::{EntryCheck, RiskLedger, RiskLimits, RiskRejection, RiskRule};

#[derive(Debug, Clone, Default)]
pub struct UserRisk {
    pub limits: RiskLimits,
    pub ledger: RiskLedger,
}

/// Proof that risk approved an entry of this notional and leverage (and
/// took its slot). Made only by [`RiskBook::check_entry`].
#[derive(Debug)]
#[must_use = "an approval holds a position slot: send the entry or release the slot"]
pub struct RiskApproved {
    pub notional: Decimal,
    pub leverage: u32,
    /// Private: only this module can make an approval.
    _by: Approver,
}

#[derive(Debug)]
struct Approver;

/// What an entry asks of risk.
#[derive(Debug, Clone, Copy)]
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

pub struct RiskBook {
    shard: usize,
    shards: usize,
    store: Store,
    bus: Arc<EventBus>,
    global_kill: Arc<AtomicBool>,
    users: Mutex<HashMap<i64, UserRisk>>,
    ready: AtomicBool,
}

impl std::fmt::Debug for RiskBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RiskBook")
            .field("shard", &self.shard)
            .finish_non_exhaustive()
    }
}

impl RiskBook {
    /// A book for `shard` of `shards`, reading the store in the background
    /// (entries are refused until it has).
    pub fn start(
        shard: usize,
        shards: usize,
        store: Store,
        bus: Arc<EventBus>,
        global_kill: Arc<AtomicBool>,
    ) -> Arc<Self> {
        let book = Arc::new(Self {
            shard,
            shards,
            store,
            bus,
            global_kill,
            users: Mutex::new(HashMap::new()),
            ready: AtomicBool::new(false),
        });
        let b = book.clone();
        tokio::spawn(async move {
            loop {
                match load(&b.store, b.shard, b.shards).await {
                    Ok(users) => {
                        let n = users.len();
                        *b.lock() = users;
                        b.ready.store(true, Ordering::Release);
                        tracing::info!(shard = b.shard, users = n, "risk state loaded");
                        return;
                    }
                    Err(e) => {
                        tracing::error!(shard = b.shard, error = %e, "cannot load risk state; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });
        book
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, UserRisk>> {
        self.users.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn persist(&self, user_id: i64, u: &UserRisk) {
        self.bus.publish(Event::RiskState {
            user_id,
            ledger: u.ledger.clone(),
        });
    }

    /// May this entry go out? Approval takes a position slot.
    pub fn check_entry(&self, m: CheckEntry) -> Result<RiskApproved, RiskRejection> {
        if !self.ready.load(Ordering::Acquire) {
            return Err(RiskRejection {
                rule: RiskRule::StateLoading,
                message: "risk state is being rebuilt; try again in a moment".into(),
            });
        }
        let global = self.global_kill.load(Ordering::Acquire);
        let mut users = self.lock();
        let user = users.entry(m.user_id).or_default();
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
            let snapshot = user.clone();
            drop(users);
            self.persist(m.user_id, &snapshot);
        }
        result.map(|()| RiskApproved {
            notional: m.notional,
            leverage: m.leverage,
            _by: Approver,
        })
    }

    /// A slot is free again: an entry failed, or a position closed.
    pub fn release_slot(&self, user_id: i64) {
        let mut users = self.lock();
        let l = &mut users.entry(user_id).or_default().ledger;
        l.open_positions = l.open_positions.saturating_sub(1);
    }

    /// A position appeared without an entry passing here (adopted by
    /// reconciliation): it still counts.
    pub fn take_slot(&self, user_id: i64) {
        self.lock()
            .entry(user_id)
            .or_default()
            .ledger
            .open_positions += 1;
    }

    /// New limits from the API (already stored).
    pub fn set_limits(&self, user_id: i64, limits: RiskLimits) {
        self.lock().entry(user_id).or_default().limits = limits;
    }

    /// Turns a user's kill switch on or off (the user's own, or the
    /// administrator's); persisted through the event bus, heard on the
    /// websocket and Telegram, kept in the audit log.
    pub fn set_kill_switch(
        &self,
        user_id: i64,
        own: Option<bool>,
        admin: Option<bool>,
    ) -> UserRisk {
        let (before, snapshot) = {
            let mut users = self.lock();
            let u = users.entry(user_id).or_default();
            let before = (u.ledger.kill_switch, u.ledger.admin_kill_switch);
            if let Some(v) = own {
                u.ledger.kill_switch = v;
            }
            if let Some(v) = admin {
                u.ledger.admin_kill_switch = v;
            }
            (before, u.clone())
        };
        self.persist(user_id, &snapshot);
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
                    user_id,
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
        snapshot
    }

    /// A user's limits and state, for the API (`None` while the book is
    /// still reading the store).
    pub fn get(&self, user_id: i64) -> Option<UserRisk> {
        self.ready
            .load(Ordering::Acquire)
            .then(|| self.lock().get(&user_id).cloned().unwrap_or_default())
    }

    /// Reads a user's limits and state again from the store (this instance
    /// has just taken the user over, or another instance changed them).
    pub async fn reload_user(&self, user_id: i64) {
        match load_user(&self.store, user_id).await {
            Ok(Some(u)) => {
                self.lock().insert(user_id, u);
            }
            Ok(None) => {
                self.lock().remove(&user_id);
            }
            Err(e) => {
                tracing::error!(user_id, error = %e, "cannot reload a user's risk state")
            }
        }
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
