//! Time-based one-time passwords (RFC 6238: SHA-1, 6 digits, 30-second
//! steps — what Google Authenticator and its peers implement), checked with
//! one step of clock skew either way, and never accepted twice: the caller
//! stores the last accepted step and passes it back.

use totp_rs::{Algorithm, Builder, Totp};

pub const DIGITS: u8 = 6;
pub const STEP_SECONDS: u64 = 30;
/// Bytes of a generated secret (160 bits, as RFC 4226 recommends).
pub const SECRET_LEN: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TotpProblem {
    #[error("the code is not valid")]
    Invalid,
    #[error("the code was already used")]
    Reused,
    #[error("the secret is unusable")]
    BadSecret,
}

fn totp(secret: &[u8], account: &str, issuer: &str) -> Result<Totp, TotpProblem> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS)
        .with_skew(1)
        .with_step_duration(STEP_SECONDS)
        .with_secret(secret.to_vec())
        .with_account_name(account)
        .with_issuer(Some(issuer))
        .build()
        .map_err(|_| TotpProblem::BadSecret)
}

/// The `otpauth://totp/…` URI an authenticator app scans.
pub fn provisioning_uri(secret: &[u8], account: &str, issuer: &str) -> Result<String, TotpProblem> {
    totp(secret, account, issuer)?
        .to_url()
        .map_err(|_| TotpProblem::BadSecret)
}

/// The base32 form of a secret, for people who type it in.
pub fn secret_base32(secret: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &byte in secret {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The code for `unix_time` (for tests and for people's clocks).
pub fn code_at(secret: &[u8], unix_time: u64) -> Result<String, TotpProblem> {
    Ok(totp(secret, "x", "x")?.generate(unix_time).to_string())
}

/// Checks `code` at `unix_time`; returns the step it belongs to, which must
/// be stored so the same code (or an older one) is refused next time.
pub fn verify(
    secret: &[u8],
    code: &str,
    unix_time: u64,
    last_step: Option<u64>,
) -> Result<u64, TotpProblem> {
    let code = code.trim().replace(' ', "");
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TotpProblem::Invalid);
    }
    let step = totp(secret, "x", "x")?
        .check(&code, unix_time)
        .ok_or(TotpProblem::Invalid)?;
    match last_step {
        Some(last) if step <= last => Err(TotpProblem::Reused),
        _ => Ok(step),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 seed, last 6 of the 8 published digits.
    const RFC_SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn matches_rfc6238_test_vectors() {
        for (time, eight_digits) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            assert_eq!(
                code_at(RFC_SEED, time).unwrap(),
                eight_digits[2..],
                "t={time}"
            );
        }
    }

    #[test]
    fn accepts_one_step_of_skew_and_never_twice() {
        let t = 1_234_567_890;
        let code = code_at(RFC_SEED, t).unwrap();
        let step = verify(RFC_SEED, &code, t, None).unwrap();
        assert_eq!(step, t / 30);
        assert_eq!(verify(RFC_SEED, &code, t + 30, None), Ok(step));
        assert_eq!(
            verify(RFC_SEED, &code, t + 90, None),
            Err(TotpProblem::Invalid)
        );
        assert_eq!(
            verify(RFC_SEED, &code, t, Some(step)),
            Err(TotpProblem::Reused)
        );
        let next = code_at(RFC_SEED, t + 30).unwrap();
        assert_eq!(verify(RFC_SEED, &next, t + 30, Some(step)), Ok(step + 1));
        assert_eq!(
            verify(RFC_SEED, "12345", t, None),
            Err(TotpProblem::Invalid)
        );
        assert_eq!(
            verify(RFC_SEED, "abcdef", t, None),
            Err(TotpProblem::Invalid)
        );
    }

    #[test]
    fn base32_matches_rfc4648() {
        assert_eq!(secret_base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(secret_base32(RFC_SEED), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn provisioning_uri_names_issuer_and_account() {
        let uri = provisioning_uri(RFC_SEED, "trader@example.com", "TradingBot").unwrap();
        assert!(
            uri.starts_with("otpauth://totp/TradingBot:trader%40example.com?"),
            "{uri}"
        );
        assert!(
            uri.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
            "{uri}"
        );
        assert!(uri.contains("issuer=TradingBot"), "{uri}");
    }
}
