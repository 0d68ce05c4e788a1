//! Access tokens: HS256 JWTs, 15 minutes, with `iss`, `aud`, `exp`, `iat`,
//! `nbf` and `jti` all required and checked, and a 30-second allowance for
//! clock skew. Only HS256 is accepted: a token claiming `alg: none`, or any
//! other algorithm, is refused before its signature is even considered.
//!
//! Two-factor login challenges are JWTs too, with their own audience, so one
//! can never be used as the other.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

pub const ISSUER: &str = "tradingbot";
pub const ACCESS_AUDIENCE: &str = "tradingbot-api";
pub const CHALLENGE_AUDIENCE: &str = "tradingbot-2fa";
pub const ACCESS_TTL_SECS: i64 = 15 * 60;
pub const CHALLENGE_TTL_SECS: i64 = 5 * 60;
pub const LEEWAY_SECS: u64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

/// What an access token (or a 2FA challenge) says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The user id.
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    /// `iat` in microseconds: revocations are compared at this precision,
    /// so a token issued just after one in the same second survives it.
    pub iat_us: i64,
    pub role: Role,
    /// The session (refresh-token family) the token belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl Claims {
    pub fn user_id(&self) -> Option<i64> {
        self.sub.parse().ok().filter(|id| *id > 0)
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is invalid")]
    Invalid,
}

/// Signing state prepared once.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    access: Validation,
    challenge: Validation,
}

fn validation(audience: &str) -> Validation {
    let mut v = Validation::new(Algorithm::HS256);
    v.set_issuer(&[ISSUER]);
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["exp", "iat", "nbf", "iss", "aud", "sub"]);
    v.validate_nbf = true;
    v.leeway = LEEWAY_SECS;
    v
}

impl JwtKeys {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            access: validation(ACCESS_AUDIENCE),
            challenge: validation(CHALLENGE_AUDIENCE),
        }
    }

    fn sign(&self, claims: &Claims) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .expect("HS256 signing of serializable claims cannot fail")
    }

    fn claims(
        user_id: i64,
        role: Role,
        audience: &str,
        ttl: i64,
        now_us: i64,
        sid: Option<String>,
    ) -> Claims {
        let now = now_us.div_euclid(1_000_000);
        Claims {
            iss: ISSUER.to_owned(),
            aud: audience.to_owned(),
            sub: user_id.to_string(),
            exp: now + ttl,
            iat: now,
            nbf: now,
            jti: uuid::Uuid::new_v4().to_string(),
            iat_us: now_us,
            role,
            sid,
        }
    }

    /// A 15-minute access token for `user_id` in session `sid`; `now_us` is
    /// Unix microseconds.
    pub fn issue_access(
        &self,
        user_id: i64,
        role: Role,
        sid: &str,
        now_us: i64,
    ) -> (String, Claims) {
        let claims = Self::claims(
            user_id,
            role,
            ACCESS_AUDIENCE,
            ACCESS_TTL_SECS,
            now_us,
            Some(sid.to_owned()),
        );
        (self.sign(&claims), claims)
    }

    /// A 5-minute, single-use proof that the password step of a login passed.
    pub fn issue_challenge(&self, user_id: i64, role: Role, now_us: i64) -> (String, Claims) {
        let claims = Self::claims(
            user_id,
            role,
            CHALLENGE_AUDIENCE,
            CHALLENGE_TTL_SECS,
            now_us,
            None,
        );
        (self.sign(&claims), claims)
    }

    fn verify_with(&self, token: &str, validation: &Validation) -> Result<Claims, TokenError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, validation)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
            .and_then(|c| {
                if c.user_id().is_some() {
                    Ok(c)
                } else {
                    Err(TokenError::Invalid)
                }
            })
    }

    pub fn verify_access(&self, token: &str) -> Result<Claims, TokenError> {
        self.verify_with(token, &self.access)
    }

    pub fn verify_challenge(&self, token: &str) -> Result<Claims, TokenError> {
        self.verify_with(token, &self.challenge)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn now() -> i64 {
        chrono::Utc::now().timestamp_micros()
    }

    fn b64(v: &serde_json::Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    }

    #[test]
    fn issues_and_verifies() {
        let keys = JwtKeys::new(KEY);
        let (token, issued) = keys.issue_access(7, Role::Admin, "s1", now());
        let claims = keys.verify_access(&token).unwrap();
        assert_eq!(claims.user_id(), Some(7));
        assert_eq!(claims.role, Role::Admin);
        assert_eq!(claims.jti, issued.jti);
        assert_eq!(claims.sid.as_deref(), Some("s1"));
        assert_eq!(claims.exp - claims.iat, 900);
    }

    #[test]
    fn refuses_expired_beyond_the_leeway_only() {
        let keys = JwtKeys::new(KEY);
        let (fresh_enough, _) =
            keys.issue_access(7, Role::User, "s", now() - (900 + 20) * 1_000_000);
        assert!(
            keys.verify_access(&fresh_enough).is_ok(),
            "within 30 s of skew"
        );
        let (stale, _) = keys.issue_access(7, Role::User, "s", now() - (900 + 60) * 1_000_000);
        assert_eq!(keys.verify_access(&stale).unwrap_err(), TokenError::Expired);
    }

    #[test]
    fn refuses_other_keys_audiences_and_algorithms() {
        let keys = JwtKeys::new(KEY);
        let other = JwtKeys::new(b"another-key-another-key-another!!");
        let (token, claims) = other.issue_access(7, Role::User, "s", now());
        assert_eq!(keys.verify_access(&token).unwrap_err(), TokenError::Invalid);

        let (challenge, _) = keys.issue_challenge(7, Role::User, now());
        assert_eq!(
            keys.verify_access(&challenge).unwrap_err(),
            TokenError::Invalid
        );
        let (access, _) = keys.issue_access(7, Role::User, "s", now());
        assert_eq!(
            keys.verify_challenge(&access).unwrap_err(),
            TokenError::Invalid
        );

        // `alg: none` with no signature.
        let payload = serde_json::to_value(&claims).unwrap();
        let none = format!(
            "{}.{}.",
            b64(&serde_json::json!({"alg": "none", "typ": "JWT"})),
            b64(&payload)
        );
        assert_eq!(keys.verify_access(&none).unwrap_err(), TokenError::Invalid);
        // HS512 with the right key is still the wrong algorithm.
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(KEY),
        )
        .unwrap();
        assert_eq!(keys.verify_access(&hs512).unwrap_err(), TokenError::Invalid);
        // A tampered payload.
        let (good, _) = keys.issue_access(7, Role::User, "s", now());
        let mut parts: Vec<&str> = good.split('.').collect();
        let mut forged = payload.clone();
        forged["role"] = "admin".into();
        let forged_b64 = b64(&forged);
        parts[1] = &forged_b64;
        assert_eq!(
            keys.verify_access(&parts.join(".")).unwrap_err(),
            TokenError::Invalid
        );
    }
}
