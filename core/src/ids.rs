//! Newtypes for the identifiers of stored objects.
//!
//! Each table's primary key gets its own type so that a `StrategyId` can never
//! be passed where a `UserId` is expected; the compiler catches the swap that a
//! bare `i64` would let through to an ownership check.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {kind} (expected a positive integer)")]
pub struct ParseIdError {
    kind: &'static str,
    value: String,
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            /// Wraps a database key. Keys are positive; zero and negatives are
            /// never produced by the store.
            pub const fn new(raw: i64) -> Self {
                Self(raw)
            }

            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.parse::<i64>() {
                    Ok(v) if v > 0 => Ok(Self(v)),
                    _ => Err(ParseIdError { kind: $kind, value: s.chars().take(32).collect() }),
                }
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }
    };
}

id_type!(/// A registered user.
    UserId, "user id");
id_type!(/// An exchange account (a row of `api_keys`).
    AccountId, "account id");
id_type!(/// A trading strategy.
    StrategyId, "strategy id");
id_type!(/// A position, open or closed.
    PositionId, "position id");
id_type!(/// An order as we recorded it (not the exchange's order id).
    OrderId, "order id");
id_type!(/// A received webhook signal.
    SignalId, "signal id");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_positive_integers_only() {
        assert_eq!("42".parse::<UserId>().unwrap().get(), 42);
        for bad in ["0", "-1", "abc", "", "1.5", "99999999999999999999"] {
            let err = bad.parse::<StrategyId>().unwrap_err();
            assert!(err.to_string().contains("strategy id"), "{err}");
        }
    }

    #[test]
    fn serializes_as_a_bare_number() {
        let id = PositionId::new(7);
        assert_eq!(serde_json::to_string(&id).unwrap(), "7");
        let back: PositionId = serde_json::from_str("7").unwrap();
        assert_eq!(back, id);
    }
}
