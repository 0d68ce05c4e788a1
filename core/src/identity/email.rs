//! Email addresses as account identifiers: trimmed and lower-cased so that
//! `Trader@Example.com` and `trader@example.com` are one account, and checked
//! for the shape a deliverable address has.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailProblem {
    #[error("is not an email address")]
    Malformed,
    #[error("is longer than 254 characters")]
    TooLong,
}

/// The canonical form of an address, or why it is not one.
pub fn normalize(raw: &str) -> Result<String, EmailProblem> {
    let email = raw.trim().to_lowercase();
    if email.len() > 254 {
        return Err(EmailProblem::TooLong);
    }
    let (local, domain) = email.rsplit_once('@').ok_or(EmailProblem::Malformed)?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    if local_ok && domain_ok {
        Ok(email)
    } else {
        Err(EmailProblem::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonicalizes() {
        assert_eq!(
            normalize("  Trader@Example.COM ").unwrap(),
            "trader@example.com"
        );
        assert_eq!(
            normalize("a.b+tag@sub.example.co.kr").unwrap(),
            "a.b+tag@sub.example.co.kr"
        );
    }

    #[test]
    fn refuses_what_cannot_be_delivered() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@localhost",
            "a b@example.com",
            "a@exa mple.com",
            "a..b@example.com",
            ".a@example.com",
            "a@-example.com",
            "a@example..com",
            "a@example.com\r\nBcc: x@y.z",
        ] {
            assert!(normalize(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            normalize(&format!("{}@example.com", "a".repeat(250))),
            Err(EmailProblem::TooLong)
        );
    }
}
