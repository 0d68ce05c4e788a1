//! Telegram: each user registers their own bot (a BotFather token, stored
//! sealed by the vault); the bot is linked to the user's chat by `/start`,
//! tells them what their positions do, and takes a few commands.
//!
//! The notifier listens to the event bus like any other live listener and
//! hands each user's notices to that user's bot actor; neither ever makes
//! trading wait.
//!
//! With several instances, a bot runs on the instance that trades for its
//! user, and only there: Telegram lets one `getUpdates` poll per bot (a
//! second one ends the first with 409 Conflict, and updates would be split
//! between instances), the user's notices are raised there, and `/close`
//! acts there. Bots follow their users' shards as they move.

pub mod bot;
pub mod client;
pub mod format;

use crate::execution::Execution;
use crate::execution::bus::{EventBus, Interest};
use crate::execution::events::{Event, PositionRecord};
use crate::history::{ClosedFilter, History};
use crate::identity::secrets;
use crate::store::Store;
use crate::store::entities::{telegram_bots, users};
use crate::store::enums::PositionStatus;
use actix::prelude::*;
use bot::{BotActor, BotSettings, Delivery, GetDelivery, Notice, Notify, SetLanguage};
use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use client::{BotClient, TgError};
use format::Lang;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tradingbot_core::performance;
use tradingbot_core::vault::{Binding, Vault};

/// What the bot actors need to answer commands.
pub struct Deps {
    pub execution: Arc<Execution>,
    pub history: History,
}

#[derive(Debug, thiserror::Error)]
pub enum TelegramError {
    #[error("Telegram did not accept the bot token")]
    InvalidToken,
    #[error("Telegram cannot be reached: {0}")]
    Unreachable(String),
    #[error("no bot registered")]
    NotRegistered,
    #[error("the bot has no chat yet: send /start to it")]
    NoChat,
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("stored token unreadable: {0}")]
    Vault(String),
}

/// A registered bot as the API shows it.
#[derive(Debug, Clone)]
pub struct BotView {
    pub bot_username: Option<String>,
    pub chat_id: Option<i64>,
    pub is_active: bool,
    /// `https://t.me/<bot>?start=<code>`: opens the chat and links it.
    pub start_link: Option<String>,
    pub delivery: Option<Delivery>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

fn binding(user_id: i64, row_id: i64) -> Binding<'static> {
    Binding {
        user_id,
        table: "telegram_bots",
        row_id,
        column: "bot_token_enc",
    }
}

pub struct Telegram {
    store: Store,
    vault: Arc<Vault>,
    api_url: String,
    deps: Arc<Deps>,
    arbiter: ArbiterHandle,
    bots: Mutex<HashMap<i64, Addr<BotActor>>>,
    poll_timeout_secs: u32,
}

impl std::fmt::Debug for Telegram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telegram")
            .field("bots", &self.bots.lock().map(|b| b.len()).unwrap_or(0))
            .finish_non_exhaustive()
    }
}

impl Telegram {
    /// Brings every active bot back and starts listening to the bus.
    pub async fn start(
        store: Store,
        vault: Arc<Vault>,
        api_url: String,
        execution: Arc<Execution>,
        history: History,
    ) -> Result<Arc<Self>, TelegramError> {
        let bus = execution.bus().clone();
        let me = Arc::new(Self {
            store,
            vault,
            api_url,
            deps: Arc::new(Deps { execution, history }),
            arbiter: Arbiter::new().handle(),
            bots: Mutex::new(HashMap::new()),
            poll_timeout_secs: 10,
        });
        let rows = telegram_bots::Entity::find()
            .filter(telegram_bots::Column::IsActive.eq(true))
            .all(me.store.conn())
            .await?;
        for row in rows {
            if !me.runs_here(row.user_id) {
                continue;
            }
            if let Err(e) = me.spawn(row).await {
                tracing::warn!(error = %e, "a telegram bot cannot start");
            }
        }
        if me.deps.execution.cluster().is_some() {
            let weak = Arc::downgrade(&me);
            actix::spawn(async move {
                let mut tick = tokio::time::interval(FOLLOW_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let Some(me) = weak.upgrade() else { return };
                    if let Err(e) = me.follow_owners().await {
                        tracing::debug!(error = %e, "telegram bots not matched to their instances");
                    }
                }
            });
        }
        // Subscribed here, before the caller goes on: what the start's
        // reconciliation told traders is heard too.
        let subscription = Mutex::new(Some(bus.subscribe_with_early_where(interest(&me))));
        Notifier::start_in_arbiter(&me.arbiter, {
            let me = me.clone();
            move |_| Notifier::new(me, bus, subscription)
        });
        Ok(me)
    }

    /// Whether this instance runs `user_id`'s bot (always, alone).
    fn runs_here(&self, user_id: i64) -> bool {
        self.deps
            .execution
            .cluster()
            .is_none_or(|c| c.acts_for(user_id))
    }

    /// Starts the bots of users this instance now trades for, and stops
    /// the ones whose users moved away or whose bot was removed elsewhere.
    async fn follow_owners(&self) -> Result<(), TelegramError> {
        let rows = telegram_bots::Entity::find()
            .filter(telegram_bots::Column::IsActive.eq(true))
            .all(self.store.conn())
            .await?;
        let wanted: HashMap<i64, telegram_bots::Model> = rows
            .into_iter()
            .filter(|r| self.runs_here(r.user_id))
            .map(|r| (r.user_id, r))
            .collect();
        let gone: Vec<Addr<BotActor>> = {
            let mut bots = self.bots.lock().unwrap_or_else(|e| e.into_inner());
            let leaving: Vec<i64> = bots
                .keys()
                .filter(|u| !wanted.contains_key(u))
                .copied()
                .collect();
            leaving.iter().filter_map(|u| bots.remove(u)).collect()
        };
        for addr in gone {
            stop(addr);
        }
        for (user_id, row) in wanted {
            if self.bot(user_id).is_none() {
                tracing::info!(user_id, "telegram bot taken over by this instance");
                if let Err(e) = self.spawn(row).await {
                    tracing::warn!(error = %e, "a telegram bot cannot start");
                }
            }
        }
        Ok(())
    }

    fn bot(&self, user_id: i64) -> Option<Addr<BotActor>> {
        self.bots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&user_id)
            .cloned()
    }

    fn deliver(&self, user_id: i64, notice: Notice) {
        if let Some(b) = self.bot(user_id) {
            b.do_send(Notify(notice));
        }
    }

    fn users(&self) -> Vec<i64> {
        self.bots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .copied()
            .collect()
    }

    async fn language(&self, user_id: i64) -> Lang {
        users::Entity::find_by_id(user_id)
            .one(self.store.conn())
            .await
            .ok()
            .flatten()
            .map_or(Lang::En, |u| Lang::parse(&u.language))
    }

    async fn spawn(&self, row: telegram_bots::Model) -> Result<(), TelegramError> {
        let token = self
            .vault
            .open(&binding(row.user_id, row.id), &row.bot_token_enc)
            .map_err(|e| TelegramError::Vault(e.to_string()))?;
        let token = String::from_utf8_lossy(&token).into_owned();
        let client = BotClient::new(&token, &self.api_url)
            .map_err(|e| TelegramError::Unreachable(e.to_string()))?;
        let settings = BotSettings {
            row_id: row.id,
            user_id: row.user_id,
            chat_id: row.chat_id,
            link_code: row.link_code.clone(),
            offset: row
                .update_offset
                .and_then(|o| i32::try_from(o).ok())
                .unwrap_or(0),
            lang: self.language(row.user_id).await,
            last_error: row.last_error.clone(),
            poll_timeout_secs: self.poll_timeout_secs,
        };
        let (store, deps) = (self.store.clone(), self.deps.clone());
        let addr = BotActor::start_in_arbiter(&self.arbiter, move |_| {
            BotActor::new(settings, client, store, deps)
        });
        if let Some(old) = self
            .bots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(row.user_id, addr)
        {
            stop(old);
        }
        Ok(())
    }

    /// Checks the token with `getMe`, stores it sealed (replacing an earlier
    /// bot), and starts the bot.
    pub async fn register(&self, user_id: i64, token: &str) -> Result<BotView, TelegramError> {
        let client = BotClient::new(token, &self.api_url)
            .map_err(|e| TelegramError::Unreachable(e.to_string()))?;
        let me = client.get_me().await.map_err(|e| match e {
            TgError::InvalidToken | TgError::Permanent(_) => TelegramError::InvalidToken,
            other => TelegramError::Unreachable(other.to_string()),
        })?;
        self.remove(user_id).await?;
        let now = Utc::now();
        let row = telegram_bots::ActiveModel {
            user_id: Set(user_id),
            bot_token_enc: Set(Vec::new()),
            bot_username: Set(Some(me.username.clone())),
            chat_id: Set(None),
            is_active: Set(true),
            update_offset: Set(None),
            link_code: Set(Some(secrets::token(12))),
            last_error: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(self.store.conn())
        .await?;
        let mut active = row.clone().into_active_model();
        let sealed = self.vault.seal(
            &binding(user_id, row.id),
            token.as_bytes(),
            secrets::nonce(),
        );
        active.bot_token_enc = Set(sealed);
        let row = active.update(self.store.conn()).await?;
        // Elsewhere, the instance trading for the user starts it at its
        // next look (within `FOLLOW_EVERY`).
        if self.runs_here(user_id) {
            self.spawn(row.clone()).await?;
        }
        Ok(self.view_of(row, None))
    }

    fn view_of(&self, row: telegram_bots::Model, delivery: Option<Delivery>) -> BotView {
        let start_link = row
            .bot_username
            .as_ref()
            .zip(row.link_code.as_ref())
            .map(|(u, c)| format!("https://t.me/{u}?start={c}"));
        BotView {
            bot_username: row.bot_username,
            chat_id: delivery.as_ref().and_then(|d| d.chat_id).or(row.chat_id),
            is_active: row.is_active,
            start_link,
            last_error: delivery
                .as_ref()
                .map_or(row.last_error.clone(), |d| d.last_error.clone()),
            delivery,
            created_at: row.created_at,
        }
    }

    pub async fn view(&self, user_id: i64) -> Result<BotView, TelegramError> {
        let row = telegram_bots::Entity::find()
            .filter(telegram_bots::Column::UserId.eq(user_id))
            .one(self.store.conn())
            .await?
            .ok_or(TelegramError::NotRegistered)?;
        let delivery = match self.bot(user_id) {
            Some(b) => b.send(GetDelivery).await.ok(),
            None => None,
        };
        Ok(self.view_of(row, delivery))
    }

    /// Forgets the user's bot; `false` when there was none.
    pub async fn remove(&self, user_id: i64) -> Result<bool, TelegramError> {
        if let Some(old) = self
            .bots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&user_id)
        {
            stop(old);
        }
        let r = telegram_bots::Entity::delete_many()
            .filter(telegram_bots::Column::UserId.eq(user_id))
            .exec(self.store.conn())
            .await?;
        Ok(r.rows_affected > 0)
    }

    /// Queues a test message to the linked chat.
    pub async fn test(&self, user_id: i64) -> Result<(), TelegramError> {
        let view = self.view(user_id).await?;
        if view.chat_id.is_none() {
            return Err(TelegramError::NoChat);
        }
        self.deliver(user_id, Notice::Test);
        Ok(())
    }

    pub fn set_language(&self, user_id: i64, language: &str) {
        if let Some(b) = self.bot(user_id) {
            b.do_send(SetLanguage(Lang::parse(language)));
        }
    }
}

fn stop(addr: Addr<BotActor>) {
    addr.do_send(Stop);
}

#[derive(Message)]
#[rtype(result = "()")]
struct Stop;

impl Handler<Stop> for BotActor {
    type Result = ();
    fn handle(&mut self, _: Stop, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

/// How often an instance matches the bots it runs to the users it trades for.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

/// How long an opened position may wait for its stop-loss and take-profit
/// before it is announced without them.
const PROTECTION_GRACE: Duration = Duration::from_secs(3);

/// Turns bus events into notices for the users who have a bot.
type Subscription = (
    Vec<Arc<Event>>,
    tokio::sync::broadcast::Receiver<Arc<Event>>,
);

struct Notifier {
    telegram: Arc<Telegram>,
    bus: Arc<EventBus>,
    subscription: Mutex<Option<Subscription>>,
    announced: HashSet<i64>,
    waiting: HashMap<i64, PositionRecord>,
}

impl Notifier {
    fn new(
        telegram: Arc<Telegram>,
        bus: Arc<EventBus>,
        subscription: Mutex<Option<Subscription>>,
    ) -> Self {
        Self {
            telegram,
            bus,
            subscription,
            announced: HashSet::new(),
            waiting: HashMap::new(),
        }
    }

    fn on_event(&mut self, e: &Event, ctx: &mut Context<Self>) {
        let Some(user_id) = e.user_id().or(match e {
            Event::DayEnded { .. } => Some(0),
            _ => None,
        }) else {
            return;
        };
        if !matches!(e, Event::DayEnded { .. }) && self.telegram.bot(user_id).is_none() {
            return;
        }
        match e {
            // Announced once its stop and target rest (or after a grace,
            // without them).
            Event::PositionOpened(p) | Event::PositionProtected(p)
                if p.status == PositionStatus::Open =>
            {
                if self.announced.contains(&p.id) {
                    return;
                }
                if p.stop_loss.is_some() && p.take_profit.is_some() {
                    self.waiting.remove(&p.id);
                    self.announced.insert(p.id);
                    self.telegram.deliver(p.user_id, Notice::Opened(p.clone()));
                } else {
                    let first = self.waiting.insert(p.id, p.clone()).is_none();
                    if first {
                        let id = p.id;
                        ctx.run_later(PROTECTION_GRACE, move |act, _| {
                            if let Some(p) = act.waiting.remove(&id)
                                && act.announced.insert(id)
                            {
                                act.telegram.deliver(p.user_id, Notice::Opened(p));
                            }
                        });
                    }
                }
            }
            Event::PositionReduced(p) => {
                self.telegram.deliver(p.user_id, Notice::Reduced(p.clone()))
            }
            Event::PositionClosed(p) => {
                self.waiting.remove(&p.id);
                self.announced.remove(&p.id);
                self.telegram.deliver(p.user_id, Notice::Closed(p.clone()));
            }
            Event::PnlStep(s) => self.telegram.deliver(s.user_id, Notice::Step(s.clone())),
            // Their own switch is the user's doing (and `/pause` answers
            // it); an administrator's is told by the security alert.
            Event::RiskAlert(a)
                if a.kind.starts_with("kill_switch_own") || a.kind == "kill_switch_admin" => {}
            Event::SecurityAlert(a) => self
                .telegram
                .deliver(a.user_id, Notice::Security(a.clone())),
            Event::RiskAlert(a) => self.telegram.deliver(a.user_id, Notice::Alert(a.clone())),
            Event::AiRecommendation(a) => self.telegram.deliver(a.user_id, Notice::Ai(a.clone())),
            Event::DayEnded { date } => self.reports(*date, ctx),
            _ => {}
        }
    }

    /// The day's report to everyone with a bot; the week's on Sundays, the
    /// month's on its last day.
    fn reports(&self, day: NaiveDate, ctx: &mut Context<Self>) {
        let mut periods: Vec<(&'static str, NaiveDate)> = vec![("day", day)];
        if day.weekday() == chrono::Weekday::Sun {
            periods.push(("week", day - Days::new(6)));
        }
        if day
            .checked_add_days(Days::new(1))
            .is_some_and(|d| d.day() == 1)
        {
            periods.push(("month", day.with_day(1).unwrap_or(day)));
        }
        let telegram = self.telegram.clone();
        ctx.spawn(
            async move {
                for user_id in telegram.users() {
                    let open = telegram
                        .deps
                        .history
                        .open_positions(user_id)
                        .await
                        .map_or(0, |v| v.len());
                    for (period, from) in &periods {
                        let f = ClosedFilter {
                            from: Some(from.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()),
                            to: day
                                .checked_add_days(Days::new(1))
                                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()),
                            ..Default::default()
                        };
                        match telegram.deps.history.closed_trades(user_id, &f).await {
                            Ok(trades) => telegram.deliver(
                                user_id,
                                Notice::Report {
                                    period,
                                    from: *from,
                                    to: day,
                                    summary: Box::new(performance::summarize(&trades)),
                                    open,
                                },
                            ),
                            Err(e) => tracing::warn!(user_id, error = %e, "report not sent"),
                        }
                    }
                }
            }
            .into_actor(self),
        );
    }
}

impl Actor for Notifier {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
        let me = ctx.address();
        let (early, mut rx) = self
            .subscription
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or_else(|| {
                (
                    Vec::new(),
                    self.bus.subscribe_where(interest(&self.telegram)),
                )
            });
        actix::spawn(async move {
            let mut early = early.into_iter();
            loop {
                let next = match early.next() {
                    Some(e) => Ok(e),
                    None => rx.recv().await,
                };
                match next {
                    Ok(e) => {
                        if me.try_send(Observed(e)).is_err() && !me.connected() {
                            break;
                        }
                    }
                    Err(RecvError::Lagged(n)) => {
                        metrics::counter!("telegram_events_lagged_total").increment(n);
                        tracing::warn!(missed = n, "telegram notifier fell behind the event bus");
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        });
        // Security alerts raised on another instance (the login landed
        // there): the bot runs here only on the user's instance.
        if let Some(c) = self.telegram.deps.execution.cluster() {
            let (mut relayed, me, own) = (
                c.redis().subscribe(crate::security_alerts::RELAY),
                ctx.address(),
                c.id().to_owned(),
            );
            actix::spawn(async move {
                while let Some(text) = relayed.recv().await {
                    let alert = match serde_json::from_str::<crate::security_alerts::Relayed>(&text)
                    {
                        Ok(r) if r.origin != own => r.into_alert(),
                        Ok(_) => None,
                        Err(e) => {
                            tracing::warn!(error = %e, "unreadable relayed security alert");
                            None
                        }
                    };
                    if let Some(a) = alert
                        && me
                            .try_send(Observed(Arc::new(Event::SecurityAlert(a))))
                            .is_err()
                        && !me.connected()
                    {
                        break;
                    }
                }
            });
        }
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Observed(Arc<Event>);

impl Handler<Observed> for Notifier {
    type Result = ();
    fn handle(&mut self, msg: Observed, ctx: &mut Self::Context) {
        self.on_event(&msg.0, ctx);
    }
}

/// What the notifier is woken for: what Telegram tells, about a trader
/// whose bot runs here (or the day's end, for the reports).
fn interest(telegram: &Arc<Telegram>) -> Interest {
    let telegram = Arc::downgrade(telegram);
    Arc::new(move |e: &Event| {
        told(e)
            && (matches!(e, Event::DayEnded { .. })
                || e.user_id()
                    .zip(telegram.upgrade())
                    .is_some_and(|(user_id, t)| t.bot(user_id).is_some()))
    })
}

/// What Telegram tells a trader.
fn told(e: &Event) -> bool {
    matches!(
        e,
        Event::PositionOpened(_)
            | Event::PositionProtected(_)
            | Event::PositionReduced(_)
            | Event::PositionClosed(_)
            | Event::PnlStep(_)
            | Event::RiskAlert(_)
            | Event::SecurityAlert(_)
            | Event::AiRecommendation(_)
            | Event::DayEnded { .. }
    )
}
