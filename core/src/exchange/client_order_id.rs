//! Client order ids: derived from (strategy, signal, leg), so the same
//! alert can only ever name the same orders. A retry, a restart or a second
//! instance sending "the same" order sends the same id, and the venue (which
//! refuses duplicate client ids among open orders) and our `orders` table
//! (unique column) refuse the copy.
//!
//! Format: `tb0` + the number of digits of the strategy id (one base-36
//! digit) + strategy id (base 36) + signal id (base 36) + leg letter — at
//! most 31 characters of `[0-9a-z]`, valid for Binance
//! (`^[.A-Z:/a-z0-9_-]{1,36}$`) and for OKX (alphanumeric, ≤ 32).
//!
//! The first format, `tb` + strategy + `x` + signal + leg, used a base-36
//! digit as its separator: for strategy 33 (`x`) and every id with an `x`
//! digit it read back the wrong parts, so a stop was taken for an entry and
//! placed again every second. Ids of that format may still rest on a venue
//! and are read as well as they can be (see [`legacy_parts`]); `tb0` never
//! begins one (base-36 numbers have no leading zero, and strategy 0 would
//! be followed by `x`, not a length).

use serde::{Deserialize, Serialize};
use std::fmt;

/// The part of a trade an order is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Leg {
    Entry,
    /// The market entry that completes a limit entry not filled in time.
    FallbackEntry,
    StopLoss,
    /// The take-profit, or the first target of a ladder.
    TakeProfit,
    /// Target 2–5 of a take-profit ladder.
    Target(u8),
    /// The stop once break-even moved it: a new order (a venue cannot move
    /// a resting stop, and Binance refuses a second close-position stop
    /// beside the first), sized to what remains.
    MovedStop,
    /// A trailing stop resting beside the stop-loss.
    TrailingStop,
    /// Closing a position (signal, manual or reversal).
    Close,
}

impl Leg {
    /// Target `n` (1-based) of a ladder.
    pub fn target(n: u8) -> Self {
        if n <= 1 {
            Leg::TakeProfit
        } else {
            Leg::Target(n.min(crate::exits::MAX_TARGETS as u8))
        }
    }

    /// Which target of its ladder a take-profit leg is.
    pub fn target_number(self) -> Option<u8> {
        match self {
            Leg::TakeProfit => Some(1),
            Leg::Target(n) => Some(n),
            _ => None,
        }
    }

    /// An order that opens the position.
    pub fn is_entry(self) -> bool {
        matches!(self, Leg::Entry | Leg::FallbackEntry)
    }

    /// A stop-loss, first or moved.
    pub fn is_stop(self) -> bool {
        matches!(self, Leg::StopLoss | Leg::MovedStop)
    }

    /// A resting order that protects a position (a stop, a target or a
    /// trailing stop).
    pub fn is_protective(self) -> bool {
        self.is_stop() || self.target_number().is_some() || self == Leg::TrailingStop
    }

    fn letter(self) -> char {
        match self {
            Leg::Entry => 'e',
            Leg::FallbackEntry => 'f',
            Leg::StopLoss => 's',
            Leg::TakeProfit => 't',
            // Digits 2–5: a leg letter is the id's last character, read
            // before the base-36 numbers, so a digit there is unambiguous.
            Leg::Target(n) => char::from(b'0' + n.clamp(2, 5)),
            Leg::MovedStop => 'm',
            Leg::TrailingStop => 'r',
            Leg::Close => 'c',
        }
    }

    fn from_letter(c: char) -> Option<Self> {
        Some(match c {
            'e' => Leg::Entry,
            'f' => Leg::FallbackEntry,
            's' => Leg::StopLoss,
            't' => Leg::TakeProfit,
            '2'..='5' => Leg::Target(c as u8 - b'0'),
            'm' => Leg::MovedStop,
            'r' => Leg::TrailingStop,
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
        let strategy = base36(strategy_id.unsigned_abs());
        Self(format!(
            "tb0{}{}{}{}",
            base36(strategy.len() as u64),
            strategy,
            base36(signal_id.unsigned_abs()),
            leg.letter()
        ))
    }

    /// (strategy id, signal id, leg) back from an id of ours.
    pub fn parts(&self) -> Option<(i64, i64, Leg)> {
        let body = self.0.strip_prefix("tb")?;
        if !body.is_ascii() || body.len() < 2 {
            return None;
        }
        let leg = Leg::from_letter(body.chars().last()?)?;
        let digits = &body[..body.len() - 1];
        match digits.strip_prefix('0') {
            Some(rest) if !rest.starts_with('x') => {
                let len = usize::from_str_radix(rest.get(..1)?, 36).ok()?;
                let strategy = rest.get(1..1 + len)?;
                let signal = rest.get(1 + len..)?;
                Some((number(strategy)?, number(signal)?, leg))
            }
            _ => legacy_parts(digits).map(|(strategy, signal)| (strategy, signal, leg)),
        }
    }

    pub fn leg(&self) -> Option<Leg> {
        self.parts().map(|(_, _, leg)| leg)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A base-36 number as `derive` writes it: digits, no leading zero.
fn number(s: &str) -> Option<i64> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || s.starts_with('+') {
        return None;
    }
    i64::from_str_radix(s, 36).ok()
}

/// (strategy, signal) of a first-format id's digits, `<strategy>x<signal>`.
/// The `x` separating them is also a digit, so the split is chosen: the
/// first whose strategy is a number and whose signal is one that does not
/// start with `x` (the service's signal ids begin with `x` only after
/// 2050). Right for every strategy id whose `x` digits, if any, all come
/// last (every id below 1,296 among them); an id such as `1x2` stays
/// ambiguous, which is why the format changed.
fn legacy_parts(digits: &str) -> Option<(i64, i64)> {
    digits
        .match_indices('x')
        .filter_map(|(i, _)| {
            let (strategy, signal) = (&digits[..i], &digits[i + 1..]);
            if signal.starts_with('x') {
                return None;
            }
            Some((number(strategy)?, number(signal)?))
        })
        .next()
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

    const ALL: [Leg; 11] = [
        Leg::Entry,
        Leg::FallbackEntry,
        Leg::StopLoss,
        Leg::TakeProfit,
        Leg::Target(2),
        Leg::Target(3),
        Leg::Target(4),
        Leg::Target(5),
        Leg::MovedStop,
        Leg::TrailingStop,
        Leg::Close,
    ];

    #[test]
    fn ladder_legs_are_told_apart() {
        assert_eq!(Leg::target(1), Leg::TakeProfit);
        assert_eq!(Leg::target(3), Leg::Target(3));
        for n in 1..=5 {
            assert_eq!(Leg::target(n).target_number(), Some(n));
            assert!(Leg::target(n).is_protective() && !Leg::target(n).is_stop());
        }
        assert!(Leg::MovedStop.is_stop() && Leg::StopLoss.is_stop());
        assert!(!Leg::Entry.is_protective() && !Leg::Close.is_protective());
        let ids: std::collections::HashSet<String> = ALL
            .iter()
            .map(|l| ClientOrderId::derive(7, 99, *l).to_string())
            .collect();
        assert_eq!(ids.len(), 11, "every leg its own id");
        assert!(Leg::TrailingStop.is_protective() && !Leg::TrailingStop.is_stop());
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
    fn every_strategy_id_round_trips_including_those_with_an_x_digit() {
        // 33 is `x` in base 36: the first format read its stop back as a
        // strategy-less id, and the service placed that stop again and again.
        for strategy in (1..3_000).chain([33, 69, 1_188, 1_223, 2_486, 46_655, i64::MAX]) {
            for signal in [1, 33, 1_223, 120_412_196_343_808, i64::MAX] {
                for leg in ALL {
                    let id = ClientOrderId::derive(strategy, signal, leg);
                    assert_eq!(id.parts(), Some((strategy, signal, leg)), "{id}");
                    assert!(id.as_str().starts_with("tb0"));
                }
            }
        }
    }

    #[test]
    fn first_format_ids_still_resting_on_a_venue_are_read() {
        let legacy = |s: &str| ClientOrderId::try_from(s.to_owned()).map(|i| i.parts());
        // Strategy 33 (`x`), a real signal id: the case that was misread.
        assert_eq!(
            legacy("tbxx16oklkr30gs"),
            Ok(Some((
                33,
                i64::from_str_radix("16oklkr30g", 36).unwrap(),
                Leg::StopLoss
            )))
        );
        assert_eq!(legacy("tb1xae"), Ok(Some((1, 10, Leg::Entry))));
        assert_eq!(legacy("tb3x9s"), Ok(Some((3, 9, Leg::StopLoss))));
        // A strategy ending in `x` (1x = 69), a signal holding an `x`.
        assert_eq!(
            legacy("tb1xx16okxkr30gt"),
            Ok(Some((
                69,
                i64::from_str_radix("16okxkr30g", 36).unwrap(),
                Leg::TakeProfit
            )))
        );
    }

    #[test]
    fn fits_every_venue_even_at_the_largest_ids() {
        for leg in ALL {
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
            "tb0",
            "tb02",
            "tb0311e",
            "tb0e1e",
            "tb0z1e",
            &format!("tb{}x1e", "z".repeat(40)),
        ] {
            assert!(ClientOrderId::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }
}
