//! `AuthUser`: what every protected route takes. It proves the bearer token
//! (signature, claims, not revoked) and spends one unit of the user's request
//! budget. `AdminUser` additionally requires the admin role.

use super::jwt::{Claims, Role, TokenError};
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tradingbot_actors::kv::{RateLimit, Revoke};

/// An authenticated user.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: i64,
    pub role: Role,
    pub claims: Claims,
}

impl AuthUser {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// An authenticated administrator.
#[derive(Debug, Clone)]
pub struct AdminUser(pub AuthUser);

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|t| !t.is_empty())
}

async fn authenticate(req: HttpRequest) -> Result<AuthUser, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal("application state missing"))?
        .clone();
    let token = bearer(&req).ok_or_else(|| {
        ApiError::unauthorized(
            "missing_token",
            "Send `Authorization: Bearer <access token>`.",
        )
    })?;
    verify_token(&state, &token).await
}

/// Proves an access token however it arrived (header, or the websocket's
/// query / subprotocol), and spends one unit of the user's request budget.
pub async fn verify_token(state: &AppState, token: &str) -> Result<AuthUser, ApiError> {
    let claims = state.jwt.verify_access(token).map_err(|e| match e {
        TokenError::Expired => {
            ApiError::unauthorized("token_expired", "The access token has expired; refresh it.")
        }
        TokenError::Invalid => {
            ApiError::unauthorized("invalid_token", "The access token is not valid.")
        }
    })?;
    let id = claims
        .user_id()
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "The access token is not valid."))?;
    let revoked = state
        .revocations
        .is_revoked(&claims.jti, id, claims.iat_us)
        .await
        .map_err(|e| ApiError::Unavailable(format!("session store unavailable: {e}")))?;
    if revoked {
        return Err(ApiError::unauthorized(
            "token_revoked",
            "This session has ended; sign in again.",
        ));
    }
    match state
        .limiter
        .hit(
            &format!("user:{id}"),
            state.limits.per_user,
            Duration::from_secs(60),
        )
        .await
    {
        Ok(d) if !d.allowed => {
            return Err(ApiError::RateLimited {
                code: "rate_limited",
                detail: format!("More than {} requests a minute for this account.", d.limit),
                retry_after_secs: d.reset_after.as_secs().max(1),
                limit: Some(d.limit),
            });
        }
        Ok(_) => {}
        // A budget we cannot read does not lock users out of their money.
        Err(e) => tracing::warn!(error = %e, "per-user rate limit unavailable; request allowed"),
    }
    Ok(AuthUser {
        id,
        role: claims.role,
        claims,
    })
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(authenticate(req.clone()))
    }
}

impl FromRequest for AdminUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let user = authenticate(req).await?;
            if user.is_admin() {
                Ok(AdminUser(user))
            } else {
                Err(ApiError::forbidden(
                    "admin_only",
                    "This requires the admin role.",
                ))
            }
        })
    }
}
