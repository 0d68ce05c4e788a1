//! Security alerts: reads the audit trail as it is written, picks out the
//! events `core::identity::alerts` says the account's owner must hear about,
//! and tells them — on the event bus (the websocket's `alerts` channel and
//! their Telegram bot, when registered) and by email when SMTP is
//! configured. Kinds the user switched off are skipped, critical ones never.
//! Runs as its own task: an audited action never waits for its alert.
//!
//! With several instances the audit event is read by the instance it was
//! written on, which may not run the user's Telegram bot: the alert also
//! goes out on Redis ([`RELAY`]) and the instance that runs the bot sends
//! it (websocket frames already travel between instances on their own).

use crate::execution::bus::EventBus;
use crate::execution::events::{Event, SecurityAlert};
use crate::identity::{Identity, Mailer};
use crate::kv::Redis;
use crate::store::Store;
use crate::store::entities::{audit_log, security_alert_settings as settings, users};
use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, Set};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::sync::mpsc;
use tradingbot_core::identity::alerts::{self, AlertKind, Recipients, Trigger};

/// Audit events waiting for the alert task at most.
const FEED: usize = 10_000;
/// Alert mails waiting for the mail server at most.
const MAIL_QUEUE: usize = 1_000;

/// The Redis channel security alerts travel on between instances.
pub const RELAY: &str = "security_alerts";

/// A security alert between instances.
#[derive(Debug, Serialize, Deserialize)]
pub struct Relayed {
    /// The instance that raised it (which ignores its own).
    pub origin: String,
    pub user_id: i64,
    pub kind: String,
    pub critical: bool,
    pub title: String,
    pub message: String,
    pub ip: Option<String>,
    pub at: chrono::DateTime<Utc>,
}

impl Relayed {
    /// The alert, when its kind is one this build knows.
    pub fn into_alert(self) -> Option<SecurityAlert> {
        Some(SecurityAlert {
            user_id: self.user_id,
            kind: AlertKind::parse(&self.kind)?.code(),
            critical: self.critical,
            title: self.title,
            message: self.message,
            ip: self.ip,
            at: self.at,
        })
    }
}

/// Where alerts go besides this instance's bus: the other instances.
#[derive(Clone)]
pub struct Relay {
    pub redis: Redis,
    pub origin: String,
}

pub fn spawn(identity: Arc<Identity>, bus: Arc<EventBus>, relay: Option<Relay>) {
    let Some(mut feed) = identity.store.audit_feed(FEED) else {
        tracing::warn!("security alerts already running for this store");
        return;
    };
    // Mails leave in order from a task of their own: a slow mail server
    // delays mail, not the next alert on the websocket and Telegram.
    let (mail, mut outbox) = mpsc::channel::<Mail>(MAIL_QUEUE);
    let mailer = identity.clone();
    tokio::spawn(async move {
        while let Some((to, subject, body)) = outbox.recv().await {
            mailer.mailer.send(&to, &subject, &body).await;
        }
    });
    tokio::spawn(async move {
        while let Some(row) = feed.recv().await {
            let details = row
                .details
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok())
                .unwrap_or(serde_json::Value::Null);
            if let Some(trigger) = alerts::classify(&row.event, row.user_id, &details) {
                deliver(&identity, &bus, relay.as_ref(), &mail, &row, trigger).await;
            }
        }
    });
}

/// A mail to send: address, subject, body.
type Mail = (String, String, String);

async fn deliver(
    identity: &Identity,
    bus: &EventBus,
    relay: Option<&Relay>,
    mail: &mpsc::Sender<Mail>,
    row: &audit_log::Model,
    t: Trigger,
) {
    let recipients = match t.recipients {
        Recipients::User(id) => {
            users::Entity::find_by_id(id)
                .filter(users::Column::IsActive.eq(true))
                .all(identity.store.conn())
                .await
        }
        Recipients::Everyone => {
            users::Entity::find()
                .filter(users::Column::IsActive.eq(true))
                .all(identity.store.conn())
                .await
        }
    };
    let recipients = match recipients {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, event = row.event, "security alert recipients unreadable");
            return;
        }
    };
    for user in recipients {
        if !t.kind.critical() {
            match muted(&identity.store, user.id).await {
                Ok(m) if m.contains(&t.kind) => {
                    metrics::counter!("security_alerts_muted_total", "kind" => t.kind.code())
                        .increment(1);
                    continue;
                }
                Ok(_) => {}
                // Better an unwanted alert than a missed one.
                Err(e) => {
                    tracing::warn!(error = %e, user_id = user.id, "alert settings unreadable")
                }
            }
        }
        let korean = user.language == "ko";
        let message = alerts::message(
            t.kind,
            t.subject.as_deref(),
            row.ip.as_deref(),
            row.user_agent.as_deref(),
            row.created_at,
            korean,
        );
        let title = t.kind.title(korean).to_owned();
        metrics::counter!("security_alerts_total", "kind" => t.kind.code()).increment(1);
        let alert = SecurityAlert {
            user_id: user.id,
            kind: t.kind.code(),
            critical: t.kind.critical(),
            title: title.clone(),
            message: message.clone(),
            ip: row.ip.clone(),
            at: row.created_at,
        };
        if let Some(r) = relay {
            let relayed = Relayed {
                origin: r.origin.clone(),
                user_id: alert.user_id,
                kind: alert.kind.to_owned(),
                critical: alert.critical,
                title: alert.title.clone(),
                message: alert.message.clone(),
                ip: alert.ip.clone(),
                at: alert.at,
            };
            if let Ok(text) = serde_json::to_string(&relayed)
                && let Err(e) = r.redis.publish(RELAY, &text).await
            {
                metrics::counter!("security_alert_relay_errors_total").increment(1);
                tracing::warn!(error = %e, user_id = user.id, "security alert not relayed to the other instances");
            }
        }
        bus.publish_live(Event::SecurityAlert(alert));
        if matches!(identity.mailer, Mailer::Smtp { .. }) {
            let subject = if korean {
                format!("[TradingBot] 보안 알림: {title}")
            } else {
                format!("[TradingBot] Security alert: {title}")
            };
            if mail.try_send((user.email, subject, message)).is_err() {
                metrics::counter!("security_alert_mails_dropped_total").increment(1);
                tracing::warn!(
                    user_id = user.id,
                    "security alert mail dropped: the mail queue is full"
                );
            }
        }
    }
}

/// The kinds a user switched off.
pub async fn muted(store: &Store, user_id: i64) -> Result<BTreeSet<AlertKind>, sea_orm::DbErr> {
    let row: Option<String> = settings::Entity::find_by_id(user_id)
        .select_only()
        .column(settings::Column::Muted)
        .into_tuple()
        .one(store.conn())
        .await?;
    Ok(row
        .unwrap_or_default()
        .split(',')
        .filter_map(AlertKind::parse)
        .filter(|k| !k.critical())
        .collect())
}

/// Replaces the kinds a user switched off (critical kinds are ignored:
/// the caller refuses them before).
pub async fn set_muted(
    store: &Store,
    user_id: i64,
    kinds: &BTreeSet<AlertKind>,
) -> Result<(), sea_orm::DbErr> {
    let muted: Vec<&str> = kinds
        .iter()
        .filter(|k| !k.critical())
        .map(|k| k.code())
        .collect();
    settings::Entity::insert(settings::ActiveModel {
        user_id: Set(user_id),
        muted: Set(muted.join(",")),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(settings::Column::UserId)
            .update_columns([settings::Column::Muted, settings::Column::UpdatedAt])
            .to_owned(),
    )
    .exec_without_returning(store.conn())
    .await?;
    Ok(())
}
