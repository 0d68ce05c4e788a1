//! `/api/v1/telegram`: the user's notification bot.

use super::auth::context;
use crate::auth::{AuthUser, ClientIp};
use crate::extract::{Json, Validate};
use crate::problem::{ApiError, FieldError};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tradingbot_actors::identity::audit;
use tradingbot_actors::telegram::{BotView, TelegramError};
use utoipa::ToSchema;

// Named apart in the document: `auth::RegisterRequest` is another body.
#[derive(Deserialize, ToSchema)]
#[schema(as = TelegramRegisterRequest)]
pub struct RegisterRequest {
    /// The token BotFather gave (`123456789:AA…`).
    #[schema(pattern = r"^[0-9]+:[A-Za-z0-9_-]{30,}$")]
    pub bot_token: String,
}

impl Validate for RegisterRequest {
    fn validate(&self) -> Vec<FieldError> {
        let t = self.bot_token.trim();
        let shaped = t.split_once(':').is_some_and(|(id, secret)| {
            !id.is_empty()
                && id.chars().all(|c| c.is_ascii_digit())
                && secret.len() >= 30
                && secret
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        });
        if shaped {
            Vec::new()
        } else {
            vec![FieldError::new(
                "bot_token",
                "a BotFather token: digits, a colon, then at least 30 letters, digits, `_` or `-`",
            )]
        }
    }
}

/// The bot, never its token.
#[derive(Serialize, ToSchema)]
pub struct TelegramView {
    pub bot_username: Option<String>,
    /// Set once you send `/start` to the bot (or open `start_link`).
    pub chat_id: Option<i64>,
    pub is_active: bool,
    /// `waiting_for_start` until the chat is linked, then `connected`.
    pub status: &'static str,
    /// Opens the bot in Telegram and links the chat.
    pub start_link: Option<String>,
    /// Notifications waiting to be sent.
    pub queued: usize,
    pub sent: u64,
    pub failed: u64,
    /// Why the last notification could not be delivered, if it could not.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

fn view(b: BotView) -> TelegramView {
    let d = b.delivery.clone();
    TelegramView {
        status: if b.chat_id.is_some() {
            "connected"
        } else {
            "waiting_for_start"
        },
        bot_username: b.bot_username,
        chat_id: b.chat_id,
        is_active: b.is_active,
        start_link: b.start_link,
        queued: d.as_ref().map_or(0, |d| d.queued),
        sent: d.as_ref().map_or(0, |d| d.sent),
        failed: d.as_ref().map_or(0, |d| d.failed),
        last_error: b.last_error,
        created_at: b.created_at,
    }
}

fn problem(e: TelegramError) -> ApiError {
    match e {
        TelegramError::InvalidToken => {
            ApiError::invalid("bot_token", "Telegram did not accept this token")
        }
        TelegramError::Unreachable(why) => {
            ApiError::Unavailable(format!("Telegram cannot be reached: {why}"))
        }
        TelegramError::NotRegistered => ApiError::NotFound,
        TelegramError::NoChat => ApiError::conflict(
            "telegram_chat_missing",
            "Send /start to your bot (or open start_link) first.",
        ),
        other => ApiError::internal(other),
    }
}

/// Register your Telegram bot
///
/// The token is checked with Telegram's `getMe`, stored encrypted, and
/// replaces any bot registered before. Then send `/start` to the bot (or
/// open `start_link`) to link your chat.
#[utoipa::path(post, path = "/api/v1/telegram/register", tag = "telegram",
    security(("bearer" = [])), request_body = RegisterRequest,
    responses((status = 201, body = TelegramView), (status = 422, description = "`validation_failed`: the token"),
        (status = 503, description = "Telegram unreachable")))]
pub async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    user: AuthUser,
    body: Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = state
        .telegram
        .register(user.id, body.0.bot_token.trim())
        .await
        .map_err(problem)?;
    audit::record(
        &state.store,
        Some(user.id),
        "telegram_bot_registered",
        &context(&req, ip),
        json!({ "bot": b.bot_username }),
    )
    .await;
    Ok(HttpResponse::Created().json(view(b)))
}

/// Your Telegram bot and its delivery status
#[utoipa::path(get, path = "/api/v1/telegram", tag = "telegram",
    security(("bearer" = [])), responses((status = 200, body = TelegramView), (status = 404)))]
pub async fn get(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let b = state.telegram.view(user.id).await.map_err(problem)?;
    Ok(HttpResponse::Ok().json(view(b)))
}

/// Remove your Telegram bot
#[utoipa::path(delete, path = "/api/v1/telegram", tag = "telegram",
    security(("bearer" = [])), responses((status = 204), (status = 404)))]
pub async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    if !state.telegram.remove(user.id).await.map_err(problem)? {
        return Err(ApiError::NotFound);
    }
    audit::record(
        &state.store,
        Some(user.id),
        "telegram_bot_removed",
        &context(&req, ip),
        json!({}),
    )
    .await;
    Ok(HttpResponse::NoContent().finish())
}

/// Send a test notification
#[utoipa::path(post, path = "/api/v1/telegram/test", tag = "telegram",
    security(("bearer" = [])),
    responses((status = 202, description = "queued"), (status = 404), (status = 409, description = "`telegram_chat_missing`")))]
pub async fn test(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    // The bot runs where the user's trading does.
    if let Some(answer) = crate::cluster::to_owner(&state, &req, user.id, Vec::new()).await {
        return answer;
    }
    state.telegram.test(user.id).await.map_err(problem)?;
    Ok(HttpResponse::Accepted().json(json!({ "status": "queued" })))
}
