//! `/api/v1/users/me`: the signed-in user's own account.

use super::auth::{context, session_tokens};
use super::views::UserView;
use crate::auth::{AuthUser, ClientIp};
use crate::extract::{Json, Validate};
use crate::problem::{ApiError, FieldError};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Read your profile
#[utoipa::path(get, path = "/api/v1/users/me", tag = "users",
    security(("bearer" = [])), responses((status = 200, body = UserView)))]
pub async fn me(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let account = state.identity.user(user.id).await?;
    let pending = state.identity.pending_email(&account).await?;
    let mut view = UserView::from(account);
    view.pending_email = pending;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateMeRequest {
    /// Your current password: required to change the email or password.
    #[serde(default)]
    pub current_password: String,
    /// A new email address: it becomes yours once its confirmation link is
    /// followed.
    pub email: Option<String>,
    /// A new password: other sessions are signed out.
    pub new_password: Option<String>,
    /// `en` or `ko`: the language of Telegram messages.
    pub language: Option<String>,
    /// 0–1: AI recommendations to close or reduce a position reach you
    /// (websocket, Telegram) from this confidence on.
    pub ai_alert_confidence: Option<f64>,
}

impl Validate for UpdateMeRequest {
    fn validate(&self) -> Vec<FieldError> {
        let sensitive = self.email.is_some() || self.new_password.is_some();
        let mut errors = if sensitive {
            super::auth::required(&[("current_password", &self.current_password)])
        } else {
            Vec::new()
        };
        if !sensitive && self.language.is_none() && self.ai_alert_confidence.is_none() {
            errors.push(FieldError::new(
                "body",
                "give `email`, `new_password`, `language` and/or `ai_alert_confidence`",
            ));
        }
        if self
            .ai_alert_confidence
            .is_some_and(|c| !(0.0..=1.0).contains(&c))
        {
            errors.push(FieldError::new(
                "ai_alert_confidence",
                "a number from 0 to 1",
            ));
        }
        if let Some(l) = &self.language
            && !matches!(l.as_str(), "en" | "ko")
        {
            errors.push(FieldError::new("language", "`en` or `ko`"));
        }
        errors
    }
}

#[derive(Serialize, ToSchema)]
pub struct UpdateMeResponse {
    pub user: UserView,
    /// After a password change: fresh tokens for this session (every other
    /// session, and the access token used for this request, were revoked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<super::auth::TokenResponse>,
}

/// Change your email, password or language
#[utoipa::path(put, path = "/api/v1/users/me", tag = "users",
    security(("bearer" = [])), request_body = UpdateMeRequest,
    responses((status = 200, body = UpdateMeResponse), (status = 401, description = "`invalid_credentials`")))]
pub async fn update_me(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    user: AuthUser,
    body: Json<UpdateMeRequest>,
) -> Result<HttpResponse, ApiError> {
    let ctx = context(&req, ip);
    let body = body.into_inner();
    let mut tokens = None;
    if let Some(new_password) = &body.new_password {
        let account = state
            .identity
            .change_password(user.id, &body.current_password, new_password, &ctx)
            .await?;
        state
            .identity
            .revoke_all_sessions_except(user.id, user.claims.sid.as_deref())
            .await?;
        let revoked_at = state.identity.revoke_access_tokens(user.id).await?;
        // This session goes on with a token issued after the revocation.
        tokens = Some(
            session_tokens(
                &state,
                account,
                user.claims.sid.clone(),
                None,
                &ctx,
                Some(revoked_at),
            )
            .await?,
        );
    }
    if let Some(email) = &body.email {
        let password = body
            .new_password
            .as_deref()
            .unwrap_or(&body.current_password);
        state
            .identity
            .request_email_change(user.id, password, email, &ctx)
            .await?;
    }
    if let Some(language) = &body.language {
        state.identity.set_language(user.id, language).await?;
        state.telegram.set_language(user.id, language);
    }
    if let Some(c) = body.ai_alert_confidence {
        state.identity.set_ai_alert_confidence(user.id, c).await?;
    }
    let account = state.identity.user(user.id).await?;
    let pending = state.identity.pending_email(&account).await?;
    let mut view = UserView::from(account);
    view.pending_email = pending;
    Ok(HttpResponse::Ok().json(UpdateMeResponse { user: view, tokens }))
}

#[derive(Deserialize, ToSchema)]
pub struct DeleteMeRequest {
    pub password: String,
    /// Required when two-factor authentication is on.
    pub code: Option<String>,
}

impl Validate for DeleteMeRequest {
    fn validate(&self) -> Vec<FieldError> {
        super::auth::required(&[("password", &self.password)])
    }
}

/// Delete your account
///
/// Removes the account and everything it owns; every token stops working.
#[utoipa::path(delete, path = "/api/v1/users/me", tag = "users",
    security(("bearer" = [])), request_body = DeleteMeRequest,
    responses((status = 204), (status = 401)))]
pub async fn delete_me(
    state: web::Data<AppState>,
    req: HttpRequest,
    ip: ClientIp,
    user: AuthUser,
    body: Json<DeleteMeRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    state
        .identity
        .delete_account(
            user.id,
            &body.password,
            body.code.as_deref(),
            &context(&req, ip),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
