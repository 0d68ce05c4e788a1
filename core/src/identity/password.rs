//! Password policy: long enough to resist guessing (12 characters, as NIST
//! SP 800-63B recommends for user-chosen secrets at this risk level), not on
//! the lists attackers try first, not built from the account's own email.

/// Below this many characters a password is refused.
pub const MIN_CHARS: usize = 12;
/// Above this many bytes a password is refused: hashing unbounded input is a
/// denial-of-service vector, and no password manager needs more.
pub const MAX_BYTES: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordProblem {
    #[error("must be at least {MIN_CHARS} characters long")]
    TooShort,
    #[error("must be at most {MAX_BYTES} bytes long")]
    TooLong,
    #[error("is one of the most common passwords; choose another")]
    Common,
    #[error("uses too few different characters")]
    LowVariety,
    #[error("must not contain your email address")]
    ContainsEmail,
}

/// Passwords of 12 or more characters that lead the public breach corpora
/// (shorter ones are refused by length already). Compared lower-cased.
const COMMON: &[&str] = &[
    "123456789012",
    "1234567890123",
    "12345678901234",
    "123456789012345",
    "1234567890qwerty",
    "qwerty123456",
    "qwertyuiopas",
    "qwertyuiopasdfgh",
    "qwertyuiop123",
    "qwerty1234567",
    "1q2w3e4r5t6y",
    "1q2w3e4r5t6y7u",
    "q1w2e3r4t5y6",
    "1qaz2wsx3edc",
    "zaq12wsxcde3",
    "password1234",
    "password12345",
    "password123456",
    "passwordpassword",
    "password!234",
    "p@ssw0rd1234",
    "p@ssword1234",
    "iloveyou1234",
    "iloveyouforever",
    "welcome12345",
    "welcome123456",
    "letmein12345",
    "administrator",
    "administrator1",
    "changeme1234",
    "trustno1trustno1",
    "football1234",
    "baseball1234",
    "basketball12",
    "superman1234",
    "starwars1234",
    "abcdefghijkl",
    "abcdefghijklm",
    "abc123456789",
    "abcd12345678",
    "monkey123456",
    "dragon123456",
    "sunshine1234",
    "princess1234",
    "michael12345",
    "jennifer1234",
    "asdfghjkl123",
    "asdfghjklqwe",
    "zxcvbnm12345",
    "zxcvbnmasdfg",
    "000000000000",
    "111111111111",
    "121212121212",
    "123123123123",
    "123321123321",
    "147258369147",
    "987654321098",
    "0987654321qw",
    "bitcoin12345",
    "bitcoinbitcoin",
    "cryptocurrency",
    "tradingbot123",
    "tradingbot1234",
    "binance12345",
    "tradingview123",
    "satoshinakamoto",
    "hodlhodlhodl",
    "tothemoon1234",
];

/// Checks `password` for the account `email` (already normalized).
pub fn check(password: &str, email: &str) -> Result<(), PasswordProblem> {
    if password.len() > MAX_BYTES {
        return Err(PasswordProblem::TooLong);
    }
    if password.chars().count() < MIN_CHARS {
        return Err(PasswordProblem::TooShort);
    }
    let lower = password.to_lowercase();
    if COMMON.contains(&lower.as_str()) {
        return Err(PasswordProblem::Common);
    }
    let mut distinct: Vec<char> = lower.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 5 {
        return Err(PasswordProblem::LowVariety);
    }
    let local = email.split('@').next().unwrap_or_default();
    if local.len() >= 4 && lower.contains(local) || lower.contains(email) && !email.is_empty() {
        return Err(PasswordProblem::ContainsEmail);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_reasonable_passphrase() {
        assert_eq!(check("correct horse battery", "trader@example.com"), Ok(()));
        assert_eq!(check("Tr4d1ng-Bot!x", "trader@example.com"), Ok(()));
    }

    #[test]
    fn refuses_weak_ones() {
        let email = "trader@example.com";
        assert_eq!(check("short1!", email), Err(PasswordProblem::TooShort));
        assert_eq!(check("ünïcödé1234", email), Err(PasswordProblem::TooShort));
        assert_eq!(check("Password1234", email), Err(PasswordProblem::Common));
        assert_eq!(check("QWERTY123456", email), Err(PasswordProblem::Common));
        assert_eq!(
            check("aaaaaaaaaaaaaaab", email),
            Err(PasswordProblem::LowVariety)
        );
        assert_eq!(
            check("my-trader-password", email),
            Err(PasswordProblem::ContainsEmail)
        );
        assert_eq!(
            check(&"x1".repeat(200), email),
            Err(PasswordProblem::TooLong)
        );
    }

    #[test]
    fn the_list_holds_only_what_length_alone_would_pass() {
        for p in COMMON {
            assert!(
                p.chars().count() >= MIN_CHARS,
                "{p} is refused by length already"
            );
            assert_eq!(*p, p.to_lowercase());
        }
    }
}
