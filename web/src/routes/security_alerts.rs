//! `/api/v1/users/me/security-alerts`: which security alerts reach the
//! user, and by which channels. Critical kinds cannot be switched off.

use super::auth::context;
use crate::auth::{AuthUser, ClientIp};
use crate::extract::json::{parse, read_body};
use crate::problem::{ApiError, FieldError};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeSet;
use tradingbot_actors::identity::{Mailer, audit};
use tradingbot_actors::security_alerts;
use tradingbot_core::identity::alerts::AlertKind;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct AlertSetting {
    /// `new_login`, `failed_logins`, `two_factor_disabled`,
    /// `password_changed`, `email_changed`, `exchange_key_added`,
    /// `exchange_key_removed`, `webhook_secret_rotated`, `kill_switch_engaged`.
    pub kind: &'static str,
    pub enabled: bool,
    /// Always sent; cannot be switched off.
    pub critical: bool,
    pub title: &'static str,
    pub description: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct AlertChannels {
    /// A Telegram bot is registered and linked to a chat.
    pub telegram: bool,
    /// The server sends email (SMTP is configured).
    pub email: bool,
    /// Always: the `alerts` channel, event `security_alert`.
    pub websocket: bool,
}

#[derive(Serialize, ToSchema)]
pub struct AlertSettings {
    pub channels: AlertChannels,
    pub alerts: Vec<AlertSetting>,
}

async fn settings(state: &AppState, user_id: i64) -> Result<AlertSettings, ApiError> {
    let muted = security_alerts::muted(&state.store, user_id)
        .await
        .map_err(ApiError::internal)?;
    let telegram = state
        .telegram
        .view(user_id)
        .await
        .is_ok_and(|b| b.is_active && b.chat_id.is_some());
    Ok(AlertSettings {
        channels: AlertChannels {
            telegram,
            email: matches!(state.identity.mailer, Mailer::Smtp { .. }),
            websocket: true,
        },
        alerts: AlertKind::ALL
            .into_iter()
            .map(|k| AlertSetting {
                kind: k.code(),
                enabled: k.critical() || !muted.contains(&k),
                critical: k.critical(),
                title: k.title(false),
                description: k.description(),
            })
            .collect(),
    })
}

/// Read your security alert settings
#[utoipa::path(get, path = "/api/v1/users/me/security-alerts", tag = "users",
    security(("bearer" = [])), responses((status = 200, body = AlertSettings)))]
pub async fn get(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(settings(&state, user.id).await?))
}

/// Switch security alerts on or off
///
/// The body maps kinds to `true`/`false` (`{"new_login": false}`); kinds
/// not named keep their setting. Critical kinds cannot be switched off.
#[utoipa::path(put, path = "/api/v1/users/me/security-alerts", tag = "users",
    security(("bearer" = [])), request_body = Object,
    responses((status = 200, body = AlertSettings),
        (status = 422, description = "`validation_failed`: unknown kind, not a boolean, or a critical kind switched off")))]
pub async fn put(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    user: AuthUser,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let bytes = read_body(&req, &mut payload, 4 * 1024).await?;
    let value: serde_json::Value = parse(&bytes)?;
    let Some(obj) = value.as_object().filter(|o| !o.is_empty()) else {
        return Err(ApiError::invalid(
            "body",
            "an object of alert kinds to true or false",
        ));
    };
    let mut changes = Vec::new();
    let mut errors = Vec::new();
    for (name, v) in obj {
        match (AlertKind::parse(name), v.as_bool()) {
            (None, _) => errors.push(FieldError::new(name.clone(), "unknown alert kind")),
            (Some(_), None) => errors.push(FieldError::new(name.clone(), "true or false")),
            (Some(k), Some(false)) if k.critical() => errors.push(FieldError::new(
                name.clone(),
                "a critical alert cannot be switched off",
            )),
            (Some(k), Some(on)) => changes.push((k, on)),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut muted: BTreeSet<AlertKind> = security_alerts::muted(&state.store, user.id)
        .await
        .map_err(ApiError::internal)?;
    for (k, on) in &changes {
        if *on {
            muted.remove(k);
        } else {
            muted.insert(*k);
        }
    }
    security_alerts::set_muted(&state.store, user.id, &muted)
        .await
        .map_err(ApiError::internal)?;
    audit::record(
        &state.store,
        Some(user.id),
        "security_alerts_changed",
        &context(&req, ip),
        json!({ "muted": muted.iter().map(|k| k.code()).collect::<Vec<_>>() }),
    )
    .await;
    Ok(HttpResponse::Ok().json(settings(&state, user.id).await?))
}
