//! `/api/v1/auth/*`: registration, email verification, login (with the
//! second factor when enabled), token refresh, logout and sessions. Turning
//! the second factor on and off is `two_factor`.

use super::views::UserView;
use crate::auth::jwt::{self, Role};
use crate::auth::{AuthUser, ClientIp};
use crate::extract::{Json, Validate};
use crate::problem::{ApiError, FieldError};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tradingbot_actors::identity::{IdentityError, RequestContext};
use tradingbot_actors::kv::{RateLimit, Revoke};
use tradingbot_actors::store::entities::users;
use tradingbot_actors::store::enums;
use tradingbot_core::identity::{email, password};
use utoipa::ToSchema;

/// The audit context of a request.
pub fn context(req: &HttpRequest, ip: ClientIp) -> RequestContext {
    RequestContext {
        ip: ip.as_string(),
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    }
}

pub fn role_of(user: &users::Model) -> Role {
    match user.role {
        enums::Role::Admin => Role::Admin,
        enums::Role::User => Role::User,
    }
}

#[derive(Deserialize, ToSchema)]
pub struct RegisterRequest {
    #[schema(example = "trader@example.com")]
    pub email: String,
    /// At least 12 characters, not a common password.
    pub password: String,
}

impl Validate for RegisterRequest {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        match email::normalize(&self.email) {
            Err(e) => errors.push(FieldError::new("email", e.to_string())),
            Ok(normalized) => {
                if let Err(e) = password::check(&self.password, &normalized) {
                    errors.push(FieldError::new("password", e.to_string()));
                }
            }
        }
        errors
    }
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    #[schema(pattern = r"\S")]
    pub email: String,
    #[schema(min_length = 1)]
    pub password: String,
}

impl Validate for LoginRequest {
    fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.email.trim().is_empty() {
            errors.push(FieldError::new("email", "is required"));
        }
        if self.password.is_empty() {
            errors.push(FieldError::new("password", "is required"));
        }
        errors
    }
}

#[derive(Deserialize, ToSchema)]
pub struct Verify2faRequest {
    /// The `challenge` a login answered with.
    #[schema(pattern = r"\S")]
    pub challenge: String,
    /// A 6-digit code from the authenticator app, or a recovery code.
    #[schema(pattern = r"\S")]
    pub code: String,
}

impl Validate for Verify2faRequest {
    fn validate(&self) -> Vec<FieldError> {
        required(&[("challenge", &self.challenge), ("code", &self.code)])
    }
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    #[schema(pattern = r"\S")]
    pub refresh_token: String,
}

impl Validate for RefreshRequest {
    fn validate(&self) -> Vec<FieldError> {
        required(&[("refresh_token", &self.refresh_token)])
    }
}

#[derive(Deserialize, ToSchema)]
pub struct LogoutRequest {
    pub refresh_token: Option<String>,
}

impl Validate for LogoutRequest {
    fn validate(&self) -> Vec<FieldError> {
        Vec::new()
    }
}

#[derive(Deserialize, ToSchema)]
pub struct VerifyEmailRequest {
    #[schema(pattern = r"\S")]
    pub token: String,
}

impl Validate for VerifyEmailRequest {
    fn validate(&self) -> Vec<FieldError> {
        required(&[("token", &self.token)])
    }
}

/// Fields that must not be empty.
pub fn required(fields: &[(&str, &str)]) -> Vec<FieldError> {
    fields
        .iter()
        .filter(|(_, v)| v.trim().is_empty())
        .map(|(f, _)| FieldError::new(*f, "is required"))
        .collect()
}

/// Tokens for a signed-in session.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// `authenticated`.
    pub status: &'static str,
    pub access_token: String,
    /// `Bearer`.
    pub token_type: &'static str,
    /// Seconds the access token lives (900).
    pub expires_in: i64,
    pub refresh_token: String,
    /// Seconds the refresh token lives (7 days).
    pub refresh_expires_in: i64,
    pub user: UserView,
}

/// The password was right; a second factor is needed.
#[derive(Serialize, ToSchema)]
pub struct ChallengeResponse {
    /// `2fa_required`.
    pub status: &'static str,
    /// Present it to `POST /api/v1/auth/verify-2fa` with a code.
    pub challenge: String,
    pub expires_in: i64,
}

#[derive(Serialize, ToSchema)]
pub struct SessionView {
    /// The session id (used to revoke it).
    pub id: String,
    pub created_at: chrono::DateTime<Utc>,
    pub last_used_at: chrono::DateTime<Utc>,
    pub expires_at: chrono::DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Whether this is the session making the request.
    pub current: bool,
}

/// Starts (or continues) a session and answers with its tokens. The access
/// token is dated after `revoked_at_us` when the caller just revoked the
/// user's older tokens, even within the same microsecond.
pub async fn session_tokens(
    state: &AppState,
    user: users::Model,
    family: Option<String>,
    refresh: Option<tradingbot_actors::identity::sessions::IssuedRefresh>,
    ctx: &RequestContext,
    revoked_at_us: Option<i64>,
) -> Result<TokenResponse, ApiError> {
    let refresh = match refresh {
        Some(r) => r,
        None => state.identity.issue_refresh(user.id, family, ctx).await?,
    };
    let now_us = Utc::now()
        .timestamp_micros()
        .max(revoked_at_us.map_or(i64::MIN, |t| t + 1));
    let (access, _) = state
        .jwt
        .issue_access(user.id, role_of(&user), &refresh.family_id, now_us);
    Ok(TokenResponse {
        status: "authenticated",
        access_token: access,
        token_type: "Bearer",
        expires_in: jwt::ACCESS_TTL_SECS,
        refresh_expires_in: (refresh.expires_at - Utc::now()).num_seconds(),
        refresh_token: refresh.token,
        user: user.into(),
    })
}

/// Register
///
/// Creates an account and emails a verification link. An unverified account
/// can sign in and paper-trade, but cannot add live exchange keys.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, body = UserView),
        (status = 409, description = "`email_taken`", body = crate::problem::Problem),
        (status = 422, description = "`validation_failed`", body = crate::problem::Problem),
    ))]
pub async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    body: Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let ctx = context(&req, ip);
    let user = state
        .identity
        .register(&body.0.email, &body.0.password, &ctx)
        .await?;
    Ok(HttpResponse::Created().json(UserView::from(user)))
}

/// Verify email
#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = "auth",
    request_body = VerifyEmailRequest,
    responses((status = 200, body = UserView), (status = 401, description = "`invalid_token`")))]
pub async fn verify_email(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    body: Json<VerifyEmailRequest>,
) -> Result<HttpResponse, ApiError> {
    let user = state
        .identity
        .verify_email(body.0.token.trim(), &context(&req, ip))
        .await?;
    Ok(HttpResponse::Ok().json(UserView::from(user)))
}

/// Resend the verification email
#[utoipa::path(post, path = "/api/v1/auth/resend-verification", tag = "auth",
    security(("bearer" = [])),
    responses((status = 202), (status = 409, description = "`already_verified`")))]
pub async fn resend_verification(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let account = state.identity.user(user.id).await?;
    if account.email_verified_at.is_some() {
        return Err(ApiError::conflict(
            "already_verified",
            "The email address is already verified.",
        ));
    }
    let d = state
        .limiter
        .hit(
            &format!("verify-mail:{}", user.id),
            5,
            Duration::from_secs(3600),
        )
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    if !d.allowed {
        return Err(ApiError::RateLimited {
            code: "rate_limited",
            detail: "At most 5 verification emails an hour.".into(),
            retry_after_secs: d.reset_after.as_secs().max(1),
            limit: Some(d.limit),
        });
    }
    let address = account.email.clone();
    state.identity.send_verification(&account, &address).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "status": "sent" })))
}

/// Log in
///
/// Answers with tokens, or — when two-factor authentication is on — with
/// `status: "2fa_required"` and a challenge for `POST /auth/verify-2fa`.
/// Unknown emails and wrong passwords give the same `invalid_credentials`.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "`TokenResponse` or `ChallengeResponse`", body = TokenResponse),
        (status = 401, description = "`invalid_credentials`", body = crate::problem::Problem),
        (status = 429, description = "`account_locked` or `rate_limited`", body = crate::problem::Problem),
    ))]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    body: Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let ctx = context(&req, ip);
    let user = state
        .identity
        .authenticate(&body.0.email, &body.0.password, &ctx)
        .await?;
    if user.is_2fa_enabled {
        let (challenge, _) =
            state
                .jwt
                .issue_challenge(user.id, role_of(&user), Utc::now().timestamp_micros());
        return Ok(HttpResponse::Ok().json(ChallengeResponse {
            status: "2fa_required",
            challenge,
            expires_in: jwt::CHALLENGE_TTL_SECS,
        }));
    }
    let id = user.id;
    let tokens = session_tokens(&state, user, None, None, &ctx, None).await?;
    state.identity.record_login(id, &ctx, false).await;
    Ok(HttpResponse::Ok().json(tokens))
}

/// Complete a login with the second factor
#[utoipa::path(post, path = "/api/v1/auth/verify-2fa", tag = "auth",
    request_body = Verify2faRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "`invalid_challenge` or `invalid_2fa_code`", body = crate::problem::Problem),
    ))]
pub async fn verify_2fa(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    body: Json<Verify2faRequest>,
) -> Result<HttpResponse, ApiError> {
    let ctx = context(&req, ip);
    state.identity.check_source(&ctx).await?;
    let invalid = || {
        ApiError::unauthorized(
            "invalid_challenge",
            "The login challenge is invalid or has expired; sign in again.",
        )
    };
    let claims = state
        .jwt
        .verify_challenge(body.0.challenge.trim())
        .map_err(|_| invalid())?;
    let user = state
        .identity
        .user(claims.user_id().ok_or_else(invalid)?)
        .await
        .map_err(|_| invalid())?;
    if let Some(left) = state.identity.locked_for(&user) {
        return Err(IdentityError::Locked {
            retry_after_secs: left,
        }
        .into());
    }
    if !user.is_active {
        return Err(IdentityError::Deactivated.into());
    }
    if let Err(e) = state
        .identity
        .verify_second_factor(&user, &body.0.code)
        .await
    {
        state
            .identity
            .record_login_failure(&user, &ctx, "2fa")
            .await?;
        return Err(e.into());
    }
    let ttl = Duration::from_secs((jwt::CHALLENGE_TTL_SECS as u64) + jwt::LEEWAY_SECS);
    let first = state
        .revocations
        .use_once(&claims.jti, ttl)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    if !first {
        return Err(invalid());
    }
    let id = user.id;
    let tokens = session_tokens(&state, user, None, None, &ctx, None).await?;
    state.identity.record_login(id, &ctx, true).await;
    Ok(HttpResponse::Ok().json(tokens))
}

/// Refresh
///
/// Spends the refresh token and returns a new pair. A refresh token can be
/// used once: presenting it again signs out its whole session family.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "`invalid_token` or `refresh_token_reused`", body = crate::problem::Problem),
    ))]
pub async fn refresh(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    body: Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let ctx = context(&req, ip);
    let (user, next) = state
        .identity
        .rotate_refresh(body.0.refresh_token.trim(), &ctx)
        .await?;
    let tokens = session_tokens(&state, user, None, Some(next), &ctx, None).await?;
    Ok(HttpResponse::Ok().json(tokens))
}

/// Log out
///
/// Ends the session of the access token (its refresh tokens are revoked and
/// the access token is refused from now on), and/or the session of the
/// refresh token in the body.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    request_body(content = LogoutRequest, description = "optional"),
    responses((status = 204), (status = 401, description = "`missing_token`")))]
pub async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    user: Option<AuthUser>,
    body: Option<Json<LogoutRequest>>,
) -> Result<HttpResponse, ApiError> {
    let ctx = context(&req, ip);
    let refresh = body
        .and_then(|b| b.0.refresh_token)
        .filter(|t| !t.trim().is_empty());
    if user.is_none() && refresh.is_none() {
        return Err(ApiError::unauthorized(
            "missing_token",
            "Send the access token or a refresh token.",
        ));
    }
    if let Some(user) = &user {
        let left = (user.claims.exp - Utc::now().timestamp()).max(0) as u64 + jwt::LEEWAY_SECS;
        state
            .revocations
            .deny_token(&user.claims.jti, Duration::from_secs(left))
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        if let Some(sid) = &user.claims.sid {
            state.identity.revoke_family(user.id, sid).await?;
        }
        tradingbot_actors::identity::audit::record(
            &state.store,
            Some(user.id),
            "logout",
            &ctx,
            serde_json::json!({ "session": user.claims.sid }),
        )
        .await;
    }
    if let Some(token) = refresh
        && let Some((owner, family)) = state.identity.revoke_by_refresh(token.trim()).await?
        && user.as_ref().is_none_or(|u| u.id != owner)
    {
        tradingbot_actors::identity::audit::record(
            &state.store,
            Some(owner),
            "logout",
            &ctx,
            serde_json::json!({ "session": family }),
        )
        .await;
    }
    Ok(HttpResponse::NoContent().finish())
}

/// List signed-in sessions
#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "auth",
    security(("bearer" = [])), responses((status = 200, body = [SessionView])))]
pub async fn sessions(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let current = user.claims.sid.clone();
    let list: Vec<SessionView> = state
        .identity
        .sessions(user.id)
        .await?
        .into_iter()
        .map(|s| SessionView {
            current: current.as_deref() == Some(s.id.as_str()),
            id: s.id,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            expires_at: s.expires_at,
            ip: s.ip,
            user_agent: s.user_agent,
        })
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

/// Sign out one session
#[utoipa::path(delete, path = "/api/v1/auth/sessions/{id}", tag = "auth",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "session id")),
    responses((status = 204), (status = 404)))]
pub async fn revoke_session(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    user: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if !state.identity.revoke_family(user.id, &id).await? {
        return Err(ApiError::NotFound);
    }
    if user.claims.sid.as_deref() == Some(id.as_str()) {
        let left = (user.claims.exp - Utc::now().timestamp()).max(0) as u64 + jwt::LEEWAY_SECS;
        state
            .revocations
            .deny_token(&user.claims.jti, Duration::from_secs(left))
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    }
    tradingbot_actors::identity::audit::record(
        &state.store,
        Some(user.id),
        "session_revoked",
        &context(&req, ip),
        serde_json::json!({ "session": id }),
    )
    .await;
    Ok(HttpResponse::NoContent().finish())
}
