//! Client order ids: derived from (strategy, signal, leg), so the same
//! alert can only ever name the same orders. A retry, a restart or a second
//! instance sending "the same" order sends the same id, and the venue (which
//! refuses duplicate client ids among open orders) and our `orders` table
//! (unique column) refuse the copy.
//!
//! Format: `tb` + strategy id (base 36) + `x` + signal id (base 36) + leg
//! letter — at most 30 characters of `[0-9a-z]`, valid for Binance
//! (`^[.A-Z:/a-z0-9_-]{1,36}$`) and for OKX (alphanumeric, ≤ 32).

use serde::{Deserialize, Serialize};
use std::fmt;

/// The part of a trade an order is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Leg {
    Entry,
    StopLoss,
    TakeProfit,
    /// Closing a position (signal, manual or reversal).
    Close,
}

impl Leg {
    fn letter(self) -> char {
        match self {
            Leg::Entry => 'e',
            Leg::StopLoss => 's',
            Leg::TakeProfit => 't',
            Leg::Close => 'c',
        }
    }

    fn from_letter(c: char) -> Option<Self> {
        Some(match c {
            'e' => Leg::Entry,
            's' => Leg::StopLoss,
            't' => Leg::TakeProfit,
            'c' => Leg::Close,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a client order id of ours")]
pub struct BadClientOrderId(String);

/// A client order id of ours, checked once at construction.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientOrderId(String);

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    if n == 0 {
        return "0".into();
    }
    let mut out = Vec::new();
    while n > 0 {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).expect("ascii digits")
}

impl ClientOrderId {
    /// The id of `leg` of the order `signal_id` produced for `strategy_id`.
    pub fn derive(strategy_id: i64, signal_id: i64, leg: Leg) -> Self {
        Self(format!(
            "tb{}x{}{}",
            base36(strategy_id.unsigned_abs()),
            base36(signal_id.unsigned_abs()),
            leg.letter()
        ))
    }

    /// (strategy id, signal id, leg) back from an id of ours.
    pub fn parts(&self) -> Option<(i64, i64, Leg)> {
        let body = self.0.strip_prefix("tb")?;
        let leg = Leg::from_letter(body.chars().last()?)?;
        let (strategy, signal) = body[..body.len() - 1].split_once('x')?;
        Some((
            i64::from_str_radix(strategy, 36).ok()?,
            i64::from_str_radix(signal, 36).ok()?,
            leg,
        ))
    }

    pub fn leg(&self) -> Option<Leg> {
        self.parts().map(|(_, _, leg)| leg)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ClientOrderId {
    type Error = BadClientOrderId;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        let id = Self(s);
        if id.0.len() <= 32
            && id.0.bytes().all(|b| b.is_ascii_alphanumeric())
            && id.parts().is_some()
        {
            Ok(id)
        } else {
            Err(BadClientOrderId(id.0))
        }
    }
}

impl From<ClientOrderId> for String {
    fn from(id: ClientOrderId) -> String {
        id.0
    }
}

impl fmt::Display for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binance_ok(s: &str) -> bool {
        (1..=36).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'/' | b'_' | b'-'))
    }

    fn okx_ok(s: &str) -> bool {
        (1..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
    }

    #[test]
    fn derives_deterministically_and_round_trips() {
        let a = ClientOrderId::derive(42, 1_000_007, Leg::Entry);
        assert_eq!(a, ClientOrderId::derive(42, 1_000_007, Leg::Entry));
        assert_ne!(a, ClientOrderId::derive(42, 1_000_007, Leg::StopLoss));
        assert_ne!(a, ClientOrderId::derive(43, 1_000_007, Leg::Entry));
        assert_eq!(a.parts(), Some((42, 1_000_007, Leg::Entry)));
        let back = ClientOrderId::try_from(a.to_string()).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn fits_every_venue_even_at_the_largest_ids() {
        for leg in [Leg::Entry, Leg::StopLoss, Leg::TakeProfit, Leg::Close] {
            let id = ClientOrderId::derive(i64::MAX, i64::MAX, leg);
            assert!(binance_ok(id.as_str()) && okx_ok(id.as_str()), "{id}");
            assert_eq!(id.parts(), Some((i64::MAX, i64::MAX, leg)));
        }
    }

    #[test]
    fn refuses_foreign_ids() {
        for bad in [
            "",
            "web_123",
            "tbx",
            "tb1x2q",
            "tb1x2e-",
            &format!("tb{}x1e", "z".repeat(40)),
        ] {
            assert!(ClientOrderId::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }
}
