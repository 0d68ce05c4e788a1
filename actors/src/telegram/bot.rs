//! One actor per registered bot: it owns the bot's chat, sends the user's
//! notifications one by one at Telegram's pace (one message a second to a
//! chat, longer when Telegram says `retry_after`, backing off on errors),
//! and answers the user's commands — only in the chat that was linked.
//!
//! Nothing here is awaited by trading: notifications arrive by `do_send`,
//! wait in a bounded queue, and a message that cannot be delivered is
//! counted, logged and shown in `GET /telegram`, never silently lost.

use super::Deps;
use super::client::{BotClient, Incoming, TgError};
use super::format::{self, Lang};
use crate::execution::CloseError;
use crate::execution::events::{PnlStep, PositionRecord, RiskAlert};
use crate::execution::monitor::record_of;
use crate::execution::user::{CloseRefused, CloseSource};
use crate::history::ClosedFilter;
use crate::store::Store;
use crate::store::entities::telegram_bots;
use actix::prelude::*;
use chrono::{Days, NaiveDate, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tradingbot_core::performance::{self, Summary};
use tradingbot_core::symbol::Symbol;

/// Telegram: "avoid sending more than one message per second" to a chat.
const PACE: Duration = Duration::from_secs(1);
/// Messages waiting at most; beyond, the oldest are dropped (and counted).
const QUEUE: usize = 200;
/// Attempts at one message through network or server errors.
const MAX_ATTEMPTS: u32 = 8;
const CONFIRM_WITHIN: Duration = Duration::from_secs(60);

/// Something to tell the user, formatted in their language when sent.
#[derive(Debug, Clone)]
pub enum Notice {
    Opened(PositionRecord),
    /// A target of its ladder filled.
    Reduced(PositionRecord),
    Closed(PositionRecord),
    Step(PnlStep),
    Alert(RiskAlert),
    Security(crate::execution::events::SecurityAlert),
    Ai(crate::execution::events::AiAdvice),
    Report {
        period: &'static str,
        from: NaiveDate,
        to: NaiveDate,
        summary: Box<Summary>,
        open: usize,
    },
    Test,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Notify(pub Notice);

#[derive(Message)]
#[rtype(result = "()")]
pub struct SetLanguage(pub Lang);

/// What `GET /telegram` shows of the bot's delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub chat_id: Option<i64>,
    pub queued: usize,
    pub sent: u64,
    pub failed: u64,
    pub last_error: Option<String>,
    pub polling: bool,
}

#[derive(Message)]
#[rtype(result = "Delivery")]
pub struct GetDelivery;

pub struct BotSettings {
    pub row_id: i64,
    pub user_id: i64,
    pub chat_id: Option<i64>,
    pub link_code: Option<String>,
    pub offset: i32,
    pub lang: Lang,
    pub last_error: Option<String>,
    /// Long-poll wait; below the HTTP client's own timeout (17 s).
    pub poll_timeout_secs: u32,
}

pub struct BotActor {
    s: BotSettings,
    client: BotClient,
    store: Store,
    deps: Arc<Deps>,
    queue: VecDeque<String>,
    sending: bool,
    next_send: Instant,
    attempts: u32,
    sent: u64,
    failed: u64,
    polling: bool,
    pending_close: Option<(i64, Instant)>,
}

impl BotActor {
    pub fn new(s: BotSettings, client: BotClient, store: Store, deps: Arc<Deps>) -> Self {
        Self {
            s,
            client,
            store,
            deps,
            queue: VecDeque::new(),
            sending: false,
            next_send: Instant::now(),
            attempts: 0,
            sent: 0,
            failed: 0,
            polling: false,
            pending_close: None,
        }
    }

    fn text_of(&self, n: &Notice) -> String {
        let l = self.s.lang;
        match n {
            Notice::Opened(p) => format::position_opened(l, p),
            Notice::Reduced(p) => format::target_filled(l, p),
            Notice::Closed(p) => format::position_closed(l, p),
            Notice::Step(s) => format::pnl_step(l, s),
            Notice::Alert(a) => format::risk_alert(l, a),
            Notice::Security(a) => format::security_alert(a),
            Notice::Ai(a) => format::ai_advice(l, a),
            Notice::Report {
                period,
                from,
                to,
                summary,
                open,
            } => format::report(l, period, *from, *to, summary, *open),
            Notice::Test => format::test_message(l),
        }
    }

    fn enqueue(&mut self, text: String, ctx: &mut Context<Self>) {
        if self.queue.len() >= QUEUE {
            self.queue.pop_front();
            self.failed += 1;
            metrics::counter!("telegram_messages_dropped_total", "reason" => "queue_full")
                .increment(1);
            self.record_error("queue full: the oldest notification was dropped".into());
        }
        self.queue.push_back(text);
        self.kick(ctx);
    }

    /// Sends the next message when it is time.
    fn kick(&mut self, ctx: &mut Context<Self>) {
        let Some(chat) = self.s.chat_id else { return };
        if self.sending || self.queue.is_empty() {
            return;
        }
        self.sending = true;
        let wait = self.next_send.saturating_duration_since(Instant::now());
        let client = self.client.clone();
        let text = self.queue[0].clone();
        ctx.spawn(
            async move {
                tokio::time::sleep(wait).await;
                client.send_html(chat, &text).await
            }
            .into_actor(self)
            .map(|res, act, ctx| {
                act.sending = false;
                let now = Instant::now();
                match res {
                    Ok(()) => {
                        act.queue.pop_front();
                        act.attempts = 0;
                        act.sent += 1;
                        act.next_send = now + PACE;
                        metrics::counter!("telegram_messages_sent_total").increment(1);
                        if act.s.last_error.is_some() {
                            act.s.last_error = None;
                            act.persist_error();
                        }
                    }
                    Err(TgError::RetryAfter(secs)) => {
                        metrics::counter!("telegram_rate_limited_total").increment(1);
                        act.next_send = now + Duration::from_secs(u64::from(secs));
                    }
                    Err(TgError::Transient(e)) if act.attempts + 1 < MAX_ATTEMPTS => {
                        act.attempts += 1;
                        let backoff = Duration::from_secs(1u64 << act.attempts.min(6));
                        act.next_send = now + backoff;
                        tracing::info!(user_id = act.s.user_id, error = %e, ?backoff, "telegram send failed; retrying");
                    }
                    Err(e) => {
                        act.queue.pop_front();
                        act.attempts = 0;
                        act.failed += 1;
                        act.next_send = now + PACE;
                        metrics::counter!("telegram_messages_failed_total").increment(1);
                        tracing::warn!(user_id = act.s.user_id, error = %e, "telegram message could not be delivered");
                        act.record_error(e.to_string());
                    }
                }
                act.kick(ctx);
            }),
        );
    }

    fn record_error(&mut self, e: String) {
        self.s.last_error = Some(e.chars().take(250).collect());
        self.persist_error();
    }

    fn persist_error(&self) {
        let (store, id, e) = (self.store.clone(), self.s.row_id, self.s.last_error.clone());
        actix::spawn(async move {
            let _ = telegram_bots::Entity::update_many()
                .col_expr(
                    telegram_bots::Column::LastError,
                    sea_orm::sea_query::Expr::value(e),
                )
                .filter(telegram_bots::Column::Id.eq(id))
                .exec(store.conn())
                .await;
        });
    }

    fn persist(&self, chat: Option<i64>, offset: Option<i32>) {
        let (store, id) = (self.store.clone(), self.s.row_id);
        actix::spawn(async move {
            let mut a = telegram_bots::ActiveModel {
                id: sea_orm::ActiveValue::Unchanged(id),
                updated_at: Set(Utc::now()),
                ..Default::default()
            };
            if let Some(c) = chat {
                a.chat_id = Set(Some(c));
            }
            if let Some(o) = offset {
                a.update_offset = Set(Some(i64::from(o)));
            }
            if let Err(e) = telegram_bots::Entity::update(a).exec(store.conn()).await {
                tracing::warn!(error = %e, "cannot store the telegram bot's state");
            }
        });
    }

    fn poll(&mut self, ctx: &mut Context<Self>) {
        self.polling = true;
        let client = self.client.clone();
        let (offset, timeout) = (self.s.offset, self.s.poll_timeout_secs);
        ctx.spawn(
            async move { client.updates(offset, timeout).await }
                .into_actor(self)
                .map(|res, act, ctx| match res {
                    Ok((messages, next)) => {
                        if next != act.s.offset {
                            act.s.offset = next;
                            act.persist(None, Some(next));
                        }
                        for m in messages {
                            act.on_message(m, ctx);
                        }
                        act.poll(ctx);
                    }
                    Err(TgError::InvalidToken) => {
                        act.polling = false;
                        act.record_error(
                            "the bot token was rejected: register the bot again".into(),
                        );
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "telegram getUpdates failed; retrying");
                        ctx.run_later(Duration::from_secs(3), |act, ctx| act.poll(ctx));
                    }
                }),
        );
    }

    fn reply(&mut self, text: String, ctx: &mut Context<Self>) {
        self.enqueue(text, ctx);
    }

    fn on_message(&mut self, m: Incoming, ctx: &mut Context<Self>) {
        let mut words = m.text.split_whitespace();
        let command = words
            .next()
            .unwrap_or("")
            .split('@')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let args: Vec<String> = words.map(str::to_owned).collect();
        if command == "/start" {
            let code_ok = args
                .first()
                .zip(self.s.link_code.as_ref())
                .is_some_and(|(a, c)| a == c);
            // The first /start links the chat; after that only the link's
            // code moves it elsewhere.
            if self.s.chat_id.is_none() || code_ok {
                self.s.chat_id = Some(m.chat_id);
                self.persist(Some(m.chat_id), None);
                tracing::info!(user_id = self.s.user_id, "telegram chat linked");
                let lang = self.s.lang;
                self.reply(format::welcome(lang), ctx);
                return;
            }
        }
        // Commands are answered only in the linked chat.
        if self.s.chat_id != Some(m.chat_id) {
            return;
        }
        let lang = self.s.lang;
        let user_id = self.s.user_id;
        let deps = self.deps.clone();
        match command.as_str() {
            "/start" | "/help" => self.reply(format::help(lang), ctx),
            "/status" => self.answer(ctx, async move { status(&deps, user_id, lang).await }),
            "/positions" => self.answer(ctx, async move {
                let rows = open_positions(&deps, user_id).await;
                format::positions(lang, &rows)
            }),
            "/pnl" => {
                let which = args.first().map(|s| s.to_ascii_lowercase());
                self.answer(ctx, async move {
                    pnl(&deps, user_id, lang, which.as_deref()).await
                })
            }
            "/close" => {
                let Some(target) = args.first().cloned() else {
                    self.reply(
                        format::plain_text(
                            lang,
                            "Usage: /close BTCUSDT (or a position id)",
                            "사용법: /close BTCUSDT (또는 포지션 ID)",
                        ),
                        ctx,
                    );
                    return;
                };
                ctx.spawn(
                    async move {
                        let rows = open_positions(&deps, user_id).await;
                        let id = target.trim_start_matches('#').parse::<i64>().ok();
                        let symbol = Symbol::parse(&target).ok().map(|s| s.as_str().to_owned());
                        let matches: Vec<_> = rows
                            .into_iter()
                            .filter(|(p, _)| Some(p.id) == id || Some(&p.symbol) == symbol.as_ref())
                            .collect();
                        matches
                    }
                    .into_actor(self)
                    .map(move |matches, act, ctx| match matches.as_slice() {
                        [] => act.reply(
                            format::plain_text(
                                lang,
                                "No open position matches.",
                                "해당하는 보유 포지션이 없습니다.",
                            ),
                            ctx,
                        ),
                        [(p, v)] => {
                            act.pending_close = Some((p.id, Instant::now()));
                            act.reply(format::confirm_close(lang, p, v.as_ref()), ctx);
                        }
                        many => {
                            let mut text = format::plain_text(
                                lang,
                                "Several positions match; send /close with one of these ids:",
                                "여러 포지션이 해당합니다. 다음 ID 중 하나로 /close 를 보내세요:",
                            );
                            text.push('\n');
                            text.push_str(&format::positions(lang, many));
                            act.reply(text, ctx);
                        }
                    }),
                );
            }
            "/confirm" => {
                let Some((position_id, at)) = self.pending_close.take() else {
                    self.reply(
                        format::plain_text(lang, "Nothing to confirm.", "확인할 요청이 없습니다."),
                        ctx,
                    );
                    return;
                };
                if at.elapsed() > CONFIRM_WITHIN {
                    self.reply(
                        format::plain_text(
                            lang,
                            "Too late: send /close again.",
                            "시간이 지났습니다. /close 를 다시 보내세요.",
                        ),
                        ctx,
                    );
                    return;
                }
                self.answer(ctx, async move {
                    match deps
                        .execution
                        .close_position(user_id, position_id, CloseSource::Telegram, None)
                        .await
                    {
                        Ok(_) => format::plain_text(
                            lang,
                            &format!("Closing position #{position_id}…"),
                            &format!("포지션 #{position_id} 청산 중…"),
                        ),
                        Err(CloseError::Refused(CloseRefused::AlreadyClosing)) => {
                            format::plain_text(
                                lang,
                                "It is already being closed.",
                                "이미 청산 중입니다.",
                            )
                        }
                        Err(CloseError::Refused(CloseRefused::StillOpening)) => format::plain_text(
                            lang,
                            "It is still being opened; try again in a moment.",
                            "아직 진입 중입니다. 잠시 후 다시 시도하세요.",
                        ),
                        Err(_) => format::plain_text(
                            lang,
                            "That position is no longer open.",
                            "해당 포지션은 이미 청산되었습니다.",
                        ),
                    }
                });
            }
            "/pause" | "/resume" => {
                let on = command == "/pause";
                let store = self.store.clone();
                self.answer(ctx, async move {
                    let result = deps.execution.set_kill_switch(user_id, Some(on), None).await;
                    if result.is_ok() {
                        crate::identity::audit::record(
                            &store,
                            Some(user_id),
                            "kill_switch",
                            &crate::identity::RequestContext {
                                ip: None,
                                user_agent: Some("Telegram bot".into()),
                            },
                            serde_json::json!({ "enabled": on, "via": "telegram" }),
                        )
                        .await;
                    }
                    match result {
                        Ok(r) if !on && (r.ledger.admin_kill_switch || deps.execution.global_kill_switch()) => {
                            format::plain_text(
                                lang,
                                "Your pause is lifted, but an administrator has stopped new entries.",
                                "일시 중지는 해제되었지만 관리자가 신규 진입을 중지했습니다.",
                            )
                        }
                        Ok(_) if on => format::plain_text(
                            lang,
                            "⏸ New entries paused. Open positions keep their stop-loss and take-profit. /resume to allow entries again.",
                            "⏸ 신규 진입을 중지했습니다. 보유 포지션의 손절/익절은 유지됩니다. /resume 으로 재개하세요.",
                        ),
                        Ok(_) => format::plain_text(lang, "▶️ New entries allowed again.", "▶️ 신규 진입을 재개했습니다."),
                        Err(_) => format::plain_text(
                            lang,
                            "The trading core is unavailable; try again.",
                            "거래 엔진을 사용할 수 없습니다. 다시 시도하세요.",
                        ),
                    }
                });
            }
            _ => self.reply(
                format::plain_text(
                    lang,
                    "Unknown command. Send /help.",
                    "알 수 없는 명령입니다. /help 를 보내세요.",
                ),
                ctx,
            ),
        }
    }

    /// Computes an answer off the actor and sends it.
    fn answer<F>(&mut self, ctx: &mut Context<Self>, f: F)
    where
        F: std::future::Future<Output = String> + 'static,
    {
        ctx.spawn(
            f.into_actor(self)
                .map(|text, act, ctx| act.reply(text, ctx)),
        );
    }
}

async fn open_positions(
    deps: &Deps,
    user_id: i64,
) -> Vec<(
    PositionRecord,
    Option<crate::execution::events::PositionValue>,
)> {
    deps.history
        .open_positions(user_id)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(record_of)
        .map(|r| {
            let v = deps.execution.valuation(r.id);
            (r, v)
        })
        .collect()
}

async fn status(deps: &Deps, user_id: i64, lang: Lang) -> String {
    let rows = open_positions(deps, user_id).await;
    let unrealized = rows
        .iter()
        .filter_map(|(_, v)| v.as_ref().map(|v| v.unrealized_pnl))
        .sum();
    let today = Utc::now().date_naive();
    let f = ClosedFilter {
        from: Some(today.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()),
        ..Default::default()
    };
    let realized = deps
        .history
        .closed_trades(user_id, &f)
        .await
        .map(|t| performance::summarize(&t).total_pnl)
        .unwrap_or_default();
    let paused = match deps.execution.risk(user_id).await {
        Ok(Some(r)) => r.ledger.kill_switch || r.ledger.admin_kill_switch,
        _ => false,
    } || deps.execution.global_kill_switch();
    format::status(lang, rows.len(), realized, unrealized, paused)
}

async fn pnl(deps: &Deps, user_id: i64, lang: Lang, which: Option<&str>) -> String {
    let today = Utc::now().date_naive();
    let (from, label) = match which {
        Some("week") | Some("7d") => (today - Days::new(6), "7 days"),
        Some("month") | Some("30d") => (today - Days::new(29), "30 days"),
        _ => (today, "today"),
    };
    let f = ClosedFilter {
        from: Some(from.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()),
        ..Default::default()
    };
    match deps.history.closed_trades(user_id, &f).await {
        Ok(t) => format::pnl(lang, label, &performance::summarize(&t)),
        Err(_) => format::plain_text(
            lang,
            "History is unavailable; try again.",
            "내역을 불러올 수 없습니다.",
        ),
    }
}

impl Actor for BotActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
        self.poll(ctx);
    }
}

impl Handler<Notify> for BotActor {
    type Result = ();
    fn handle(&mut self, msg: Notify, ctx: &mut Self::Context) {
        let text = self.text_of(&msg.0);
        self.enqueue(text, ctx);
    }
}

impl Handler<SetLanguage> for BotActor {
    type Result = ();
    fn handle(&mut self, msg: SetLanguage, _: &mut Self::Context) {
        self.s.lang = msg.0;
    }
}

impl Handler<GetDelivery> for BotActor {
    type Result = MessageResult<GetDelivery>;
    fn handle(&mut self, _: GetDelivery, _: &mut Self::Context) -> Self::Result {
        MessageResult(Delivery {
            chat_id: self.s.chat_id,
            queued: self.queue.len(),
            sent: self.sent,
            failed: self.failed,
            last_error: self.s.last_error.clone(),
            polling: self.polling,
        })
    }
}
