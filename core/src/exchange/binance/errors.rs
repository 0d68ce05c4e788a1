//! Binance's answers that are not successes, as [`ExchangeError`]s.
//!
//! Codes from the USDⓈ-M futures "Error Codes" page. HTTP 5xx, 408 and the
//! "unknown status" codes leave a *mutation* (placing or cancelling) in an
//! unknown state — Binance's own words: "the execution status is UNKNOWN and
//! could have been a success" — so they become `UnknownOutcome`, to be
//! resolved by querying the order, never by sending it again.

use crate::exchange::ExchangeError;
use serde::Deserialize;
use std::time::Duration;

/// Binance's error body: `{"code": -1121, "msg": "Invalid symbol."}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorBody {
    pub code: i64,
    pub msg: String,
}

/// Maps one failed answer.
///
/// `retry_after` comes from the `Retry-After` header of a 429 or 418.
pub fn map(
    http_status: u16,
    body: Option<ErrorBody>,
    mutation: bool,
    retry_after: Option<Duration>,
) -> ExchangeError {
    let retry = retry_after.unwrap_or(Duration::from_secs(60));
    match http_status {
        429 => return ExchangeError::RateLimited { retry_after: retry },
        418 => return ExchangeError::Banned { retry_after: retry },
        _ => {}
    }
    let Some(body) = body else {
        return if http_status >= 500 || http_status == 408 {
            if mutation {
                ExchangeError::UnknownOutcome {
                    message: format!("HTTP {http_status} without an error body"),
                }
            } else {
                ExchangeError::Unreachable(format!("HTTP {http_status}"))
            }
        } else {
            ExchangeError::Malformed(format!("HTTP {http_status} without an error body"))
        };
    };
    let code = body.code.to_string();
    let message = body.msg.clone();
    match body.code {
        -1003 => ExchangeError::RateLimited { retry_after: retry },
        // Timeouts and internal errors: the order may or may not exist.
        -1000 | -1001 | -1006 | -1007 | -1008 if mutation => ExchangeError::UnknownOutcome {
            message: format!("{message} ({code})"),
        },
        -1000 | -1001 | -1006 | -1007 | -1008 => {
            ExchangeError::Unreachable(format!("{message} ({code})"))
        }
        -1021 => ExchangeError::Timestamp { code, message },
        -1022 | -2014 => ExchangeError::InvalidCredentials { code, message },
        // "Invalid API-key, IP, or permissions for action."
        -2015 => ExchangeError::PermissionDenied { code, message },
        -1121 | -4141 => ExchangeError::UnknownSymbol { code, message },
        -1111 | -1013 | -4014 | -4023 | -4029 | -4030 => {
            ExchangeError::BadPrecision { code, message }
        }
        -2018 | -2019 | -2027 | -2028 | -4050 | -4051 => {
            ExchangeError::InsufficientMargin { code, message }
        }
        -4003 | -4164 | -4013 | -4004 => ExchangeError::BelowMinimum { code, message },
        -2022 | -4118 => ExchangeError::ReduceOnlyRejected { code, message },
        -2011 | -2013 => ExchangeError::OrderNotFound { code, message },
        // "ClientOrderId is duplicated": an open order already has it.
        -4116 => ExchangeError::DuplicateClientId { code, message },
        _ if http_status >= 500 && mutation => ExchangeError::UnknownOutcome {
            message: format!("{message} ({code})"),
        },
        _ => ExchangeError::Rejected { code, message },
    }
}

/// Whether an error means "nothing to change" and is really a success
/// (setting the margin type or leverage it already has).
pub fn is_no_op(body: &ErrorBody) -> bool {
    matches!(body.code, -4046 | -4059)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: i64, msg: &str) -> Option<ErrorBody> {
        Some(ErrorBody {
            code,
            msg: msg.into(),
        })
    }

    #[test]
    fn maps_documented_codes() {
        assert!(matches!(
            map(400, body(-2019, "Margin is insufficient."), true, None),
            ExchangeError::InsufficientMargin { .. }
        ));
        assert!(matches!(
            map(
                400,
                body(-4164, "Order's notional must be no smaller than 100"),
                true,
                None
            ),
            ExchangeError::BelowMinimum { .. }
        ));
        assert!(matches!(
            map(
                400,
                body(
                    -1111,
                    "Precision is over the maximum defined for this asset."
                ),
                true,
                None
            ),
            ExchangeError::BadPrecision { .. }
        ));
        assert!(matches!(
            map(
                400,
                body(-2022, "ReduceOnly Order is rejected."),
                true,
                None
            ),
            ExchangeError::ReduceOnlyRejected { .. }
        ));
        assert!(matches!(
            map(400, body(-4116, "ClientOrderId is duplicated."), true, None),
            ExchangeError::DuplicateClientId { .. }
        ));
        assert!(matches!(
            map(400, body(-1121, "Invalid symbol."), false, None),
            ExchangeError::UnknownSymbol { .. }
        ));
        assert!(matches!(
            map(
                401,
                body(-2015, "Invalid API-key, IP, or permissions for action."),
                false,
                None
            ),
            ExchangeError::PermissionDenied { .. }
        ));
        assert!(matches!(
            map(
                400,
                body(-1022, "Signature for this request is not valid."),
                false,
                None
            ),
            ExchangeError::InvalidCredentials { .. }
        ));
        let e = map(
            400,
            body(
                -1021,
                "Timestamp for this request is outside of the recvWindow.",
            ),
            true,
            None,
        );
        assert!(matches!(e, ExchangeError::Timestamp { .. }) && e.retryable());
        assert!(matches!(
            map(400, body(-2013, "Order does not exist."), false, None),
            ExchangeError::OrderNotFound { .. }
        ));
        let e = map(
            400,
            body(
                -4120,
                "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.",
            ),
            true,
            None,
        );
        assert_eq!(e.code(), Some("-4120"));
    }

    #[test]
    fn a_lost_answer_to_a_mutation_is_an_unknown_outcome() {
        let e = map(
            503,
            body(
                -1007,
                "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
            ),
            true,
            None,
        );
        assert!(e.outcome_unknown() && !e.retryable());
        assert!(map(502, None, true, None).outcome_unknown());
        assert!(map(408, None, true, None).outcome_unknown());
        // A lost answer to a read is just a failed read.
        let e = map(502, None, false, None);
        assert!(!e.outcome_unknown() && e.retryable());
    }

    #[test]
    fn rate_limits_and_bans_carry_their_wait() {
        let e = map(
            429,
            body(-1003, "Too many requests"),
            true,
            Some(Duration::from_secs(7)),
        );
        assert_eq!(
            e,
            ExchangeError::RateLimited {
                retry_after: Duration::from_secs(7)
            }
        );
        let e = map(418, None, false, Some(Duration::from_secs(120)));
        assert_eq!(
            e,
            ExchangeError::Banned {
                retry_after: Duration::from_secs(120)
            }
        );
    }
}
