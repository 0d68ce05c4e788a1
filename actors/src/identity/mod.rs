//! Accounts, sessions, two-factor authentication and the audit trail: the
//! stateful half of identity. The rules themselves (password policy, email
//! shape, TOTP, lockout) are pure and live in `tradingbot_core::identity`;
//! access tokens (JWT) are the HTTP shell's business.

pub mod admin;
pub mod audit;
pub mod login;
pub mod mailer;
pub mod passwords;
pub mod profile;
pub mod registration;
pub mod secrets;
pub mod sessions;
pub mod two_factor;

use crate::kv::{Blocklist, KvError, RateLimiter, Revocations};
use crate::store::{Store, StoreError};
use sea_orm::DbErr;
use std::sync::Arc;
use tradingbot_core::identity::email::EmailProblem;
use tradingbot_core::identity::lockout::{LockoutPolicy, SourcePolicy};
use tradingbot_core::identity::password::PasswordProblem;
use tradingbot_core::identity::totp::TotpProblem;
use tradingbot_core::vault::{Vault, VaultError};

pub use mailer::Mailer;

/// Who is asking, for the audit trail.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Errors at the identity boundary. Each maps to one problem code.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("email {0}")]
    InvalidEmail(EmailProblem),
    #[error("password {0}")]
    WeakPassword(PasswordProblem),
    #[error("an account with this email already exists")]
    EmailTaken,
    /// Unknown email and wrong password are the same error, on purpose.
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("too many failed attempts; try again in {retry_after_secs} s")]
    Locked { retry_after_secs: u64 },
    #[error("too many failed sign-ins from this address; try again in {retry_after_secs} s")]
    SourceBlocked { retry_after_secs: u64 },
    /// Sign-in attempts from one address beyond its budget (a frontend
    /// server without `TRADINGBOT_TRUSTED_PROXIES` is one address for all
    /// its users): nothing to do with any account's failures.
    #[error("too many sign-in attempts from this address; try again in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("the account is deactivated")]
    Deactivated,
    #[error("the token is invalid or expired")]
    InvalidToken,
    #[error("this refresh token was already used; every session of its family is revoked")]
    RefreshReused,
    #[error("the two-factor code is invalid")]
    InvalidCode(TotpProblem),
    #[error("two-factor authentication is already enabled")]
    TwoFactorEnabled,
    #[error("two-factor authentication is not enabled")]
    TwoFactorDisabled,
    #[error("start two-factor setup first")]
    TwoFactorNotSetUp,
    #[error("a two-factor code is required")]
    CodeRequired,
    #[error("not found")]
    NotFound,
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
    #[error("shared state failed: {0}")]
    Kv(#[from] KvError),
    #[error("a stored secret cannot be decrypted: {0}")]
    Vault(#[from] VaultError),
    #[error("{0}")]
    Internal(String),
}

impl From<DbErr> for IdentityError {
    fn from(e: DbErr) -> Self {
        IdentityError::Store(StoreError::Db(e))
    }
}

/// Everything identity needs, shared by the request handlers.
pub struct Identity {
    pub store: Store,
    pub vault: Arc<Vault>,
    pub revocations: Arc<Revocations>,
    pub limiter: Arc<RateLimiter>,
    pub mailer: Mailer,
    pub lockout: LockoutPolicy,
    /// Addresses blocked after failing across accounts.
    pub blocklist: Arc<Blocklist>,
    pub source_policy: SourcePolicy,
    /// Sign-in attempts (right or wrong) one address may make per
    /// [`login::LOGIN_ATTEMPT_WINDOW`].
    pub login_attempts_per_ip: u32,
    /// Where links in emails point (the frontend).
    pub frontend_url: String,
    /// Name shown in authenticator apps.
    pub issuer: String,
    /// A real hash of a random password: verifying against it for unknown
    /// emails makes them cost the same time as wrong passwords.
    dummy_hash: String,
}

impl Identity {
    pub async fn new(
        store: Store,
        vault: Arc<Vault>,
        revocations: Arc<Revocations>,
        limiter: Arc<RateLimiter>,
        blocklist: Arc<Blocklist>,
        mailer: Mailer,
        frontend_url: String,
    ) -> Result<Self, IdentityError> {
        let random = secrets::token(24);
        let dummy_hash = passwords::hash(random).await?;
        Ok(Self {
            store,
            vault,
            revocations,
            limiter,
            mailer,
            lockout: LockoutPolicy::default(),
            blocklist,
            source_policy: SourcePolicy::default(),
            login_attempts_per_ip: login::LOGIN_ATTEMPTS_PER_IP,
            frontend_url: frontend_url.trim_end_matches('/').to_owned(),
            issuer: "TradingBot".to_owned(),
            dummy_hash,
        })
    }
}
