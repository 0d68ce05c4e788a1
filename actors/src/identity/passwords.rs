//! Argon2id password hashing (the argon2 crate's defaults: 19 MiB, 2 passes,
//! one lane — OWASP's recommended minimum), off the async threads: a hash
//! costs tens of milliseconds of CPU.

use super::IdentityError;
use argon2::{Argon2, PasswordHasher, PasswordVerifier};

pub async fn hash(password: String) -> Result<String, IdentityError> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| IdentityError::Internal(format!("password hashing failed: {e}")))
    })
    .await
    .map_err(|e| IdentityError::Internal(e.to_string()))?
}

pub async fn verify(password: String, hash: String) -> Result<bool, IdentityError> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .verify_password(password.as_bytes(), hash.as_str())
            .is_ok()
    })
    .await
    .map_err(|e| IdentityError::Internal(e.to_string()))
}
