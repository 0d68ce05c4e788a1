//! OKX's failure answers as [`ExchangeError`]s. OKX wraps every answer in
//! `{"code": "0", "msg": "", "data": [...]}`; order endpoints report the
//! per-order outcome in `sCode`/`sMsg`. Codes from the v5 "Error Code" page.

use crate::exchange::ExchangeError;
use std::time::Duration;

/// Maps a failed answer. `code`/`msg` are the order's `sCode`/`sMsg` when
/// present, else the envelope's.
pub fn map(http_status: u16, code: Option<&str>, msg: &str, mutation: bool) -> ExchangeError {
    let unknown = |why: String| {
        if mutation {
            ExchangeError::UnknownOutcome { message: why }
        } else {
            ExchangeError::Unreachable(why)
        }
    };
    let Some(code) = code else {
        return if http_status >= 500 || http_status == 408 {
            unknown(format!("HTTP {http_status}"))
        } else if http_status == 429 {
            ExchangeError::RateLimited {
                retry_after: Duration::from_secs(2),
            }
        } else {
            ExchangeError::Malformed(format!("HTTP {http_status} without an OKX envelope"))
        };
    };
    let c = code.to_owned();
    let m = msg.to_owned();
    match code {
        "50011" | "50061" => ExchangeError::RateLimited {
            retry_after: Duration::from_secs(2),
        },
        // Timeouts and busy systems: the order may or may not exist.
        "50001" | "50004" | "50013" | "50026" => unknown(format!("{m} ({c})")),
        "50102" | "50112" => ExchangeError::Timestamp {
            code: c,
            message: m,
        },
        "50100" | "50101" | "50103" | "50104" | "50105" | "50106" | "50111" | "50113" | "50119" => {
            ExchangeError::InvalidCredentials {
                code: c,
                message: m,
            }
        }
        "50110" | "50114" | "50120" | "50121" => ExchangeError::PermissionDenied {
            code: c,
            message: m,
        },
        "51001" | "51017" => ExchangeError::UnknownSymbol {
            code: c,
            message: m,
        },
        "51008" | "51004" | "51127" | "51131" => ExchangeError::InsufficientMargin {
            code: c,
            message: m,
        },
        "51020" | "51202" | "51203" => ExchangeError::BelowMinimum {
            code: c,
            message: m,
        },
        "51121" | "51006" | "51010" => ExchangeError::BadPrecision {
            code: c,
            message: m,
        },
        "51169" | "51170" | "51172" => ExchangeError::ReduceOnlyRejected {
            code: c,
            message: m,
        },
        // "Duplicated clOrdId" / "algoClOrdId already exists".
        "51016" | "51065" => ExchangeError::DuplicateClientId {
            code: c,
            message: m,
        },
        "51603" | "51400" | "51401" | "51402" => ExchangeError::OrderNotFound {
            code: c,
            message: m,
        },
        _ if http_status >= 500 => unknown(format!("{m} ({c})")),
        _ => ExchangeError::Rejected {
            code: c,
            message: m,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_documented_codes() {
        assert!(matches!(
            map(
                200,
                Some("51008"),
                "Order failed. Insufficient USDT margin in account",
                true
            ),
            ExchangeError::InsufficientMargin { .. }
        ));
        assert!(matches!(
            map(
                200,
                Some("51020"),
                "Order amount should be greater than the min available amount.",
                true
            ),
            ExchangeError::BelowMinimum { .. }
        ));
        assert!(matches!(
            map(401, Some("50113"), "Invalid Sign", false),
            ExchangeError::InvalidCredentials { .. }
        ));
        assert!(matches!(
            map(401, Some("50102"), "Timestamp request expired", false),
            ExchangeError::Timestamp { .. }
        ));
        assert!(matches!(
            map(200, Some("51603"), "Order does not exist", false),
            ExchangeError::OrderNotFound { .. }
        ));
        assert!(matches!(
            map(429, Some("50011"), "Too Many Requests", true),
            ExchangeError::RateLimited { .. }
        ));
        for code in ["51016", "51065"] {
            let e = map(200, Some(code), "Duplicated clOrdId.", true);
            assert!(
                matches!(e, ExchangeError::DuplicateClientId { .. }),
                "{code}"
            );
            assert!(!e.transient() && !e.outcome_unknown());
        }
        assert!(map(200, Some("50004"), "API endpoint request timeout", true).outcome_unknown());
        assert!(!map(200, Some("50004"), "API endpoint request timeout", false).outcome_unknown());
        assert!(map(502, None, "", true).outcome_unknown());
    }
}
