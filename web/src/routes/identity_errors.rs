//! How identity errors read over HTTP: one problem code each.

use crate::problem::ApiError;
use tradingbot_actors::identity::IdentityError;

impl From<IdentityError> for ApiError {
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::InvalidEmail(p) => ApiError::invalid("email", p.to_string()),
            IdentityError::WeakPassword(p) => ApiError::invalid("password", p.to_string()),
            IdentityError::EmailTaken => {
                ApiError::conflict("email_taken", "An account with this email already exists.")
            }
            IdentityError::InvalidCredentials => {
                ApiError::unauthorized("invalid_credentials", "Invalid email or password.")
            }
            IdentityError::Locked { retry_after_secs } => ApiError::RateLimited {
                code: "account_locked",
                detail: format!(
                    "Too many failed attempts. Try again in {} minutes.",
                    retry_after_secs.div_ceil(60)
                ),
                retry_after_secs,
                limit: None,
            },
            IdentityError::RateLimited { retry_after_secs } => ApiError::RateLimited {
                code: "rate_limited",
                detail: format!(
                    "Too many sign-in attempts from this address. Try again in {retry_after_secs} seconds."
                ),
                retry_after_secs,
                limit: None,
            },
            IdentityError::SourceBlocked { retry_after_secs } => ApiError::RateLimited {
                code: "source_blocked",
                detail: format!(
                    "Too many failed sign-ins from this address. Try again in {} minutes.",
                    retry_after_secs.div_ceil(60)
                ),
                retry_after_secs,
                limit: None,
            },
            IdentityError::Deactivated => {
                ApiError::forbidden("account_deactivated", "This account is deactivated.")
            }
            IdentityError::InvalidToken => {
                ApiError::unauthorized("invalid_token", "The token is invalid or has expired.")
            }
            IdentityError::RefreshReused => ApiError::unauthorized(
                "refresh_token_reused",
                "This refresh token was already used. Every session it belongs to has been \
                 signed out; sign in again.",
            ),
            IdentityError::InvalidCode(p) => {
                ApiError::unauthorized("invalid_2fa_code", format!("The two-factor code: {p}."))
            }
            IdentityError::TwoFactorEnabled => ApiError::conflict(
                "2fa_already_enabled",
                "Two-factor authentication is already enabled.",
            ),
            IdentityError::TwoFactorDisabled => ApiError::conflict(
                "2fa_not_enabled",
                "Two-factor authentication is not enabled.",
            ),
            IdentityError::TwoFactorNotSetUp => {
                ApiError::conflict("2fa_not_set_up", "Call GET /api/v1/auth/2fa/setup first.")
            }
            IdentityError::CodeRequired => {
                ApiError::invalid("code", "a two-factor code is required")
            }
            IdentityError::NotFound => ApiError::NotFound,
            IdentityError::Kv(e) => ApiError::Unavailable(format!("shared state unavailable: {e}")),
            IdentityError::Store(e) => ApiError::internal(e),
            IdentityError::Vault(e) => ApiError::internal(e),
            IdentityError::Internal(e) => ApiError::internal(e),
        }
    }
}
