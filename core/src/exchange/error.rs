//! Exchange errors, typed. Each keeps the venue's own code and message for
//! the user, and says the two things the execution core must know: may the
//! request be retried, and is its outcome *unknown* (a timeout, a 5xx) — in
//! which case the order must be looked up by its client id, never re-sent.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
    #[error("insufficient margin: {message} ({code})")]
    InsufficientMargin { code: String, message: String },
    #[error("order below the minimum: {message} ({code})")]
    BelowMinimum { code: String, message: String },
    #[error("price or quantity precision refused: {message} ({code})")]
    BadPrecision { code: String, message: String },
    #[error("reduce-only order refused: {message} ({code})")]
    ReduceOnlyRejected { code: String, message: String },
    #[error("unknown symbol: {message} ({code})")]
    UnknownSymbol { code: String, message: String },
    #[error("the API key or signature was refused: {message} ({code})")]
    InvalidCredentials { code: String, message: String },
    #[error("the API key lacks a permission: {message} ({code})")]
    PermissionDenied { code: String, message: String },
    #[error("the request's timestamp is outside the venue's window: {message} ({code})")]
    Timestamp { code: String, message: String },
    #[error("no such order: {message} ({code})")]
    OrderNotFound { code: String, message: String },
    /// An open order already carries this client id: ours, from an
    /// earlier attempt whose answer was lost. It is looked up, never
    /// treated as a failure.
    #[error("the client order id is already in use: {message} ({code})")]
    DuplicateClientId { code: String, message: String },
    #[error("rate limited; retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    #[error("banned by the venue for {retry_after:?} (HTTP 418)")]
    Banned { retry_after: Duration },
    #[error("the outcome is unknown: {message}")]
    UnknownOutcome { message: String },
    #[error("refused by the venue: {message} ({code})")]
    Rejected { code: String, message: String },
    #[error("the request is invalid: {0}")]
    InvalidRequest(String),
    #[error("the venue's answer could not be understood: {0}")]
    Malformed(String),
    #[error("the venue is unreachable: {0}")]
    Unreachable(String),
}

impl ExchangeError {
    /// The venue's error code, when there is one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::InsufficientMargin { code, .. }
            | Self::BelowMinimum { code, .. }
            | Self::BadPrecision { code, .. }
            | Self::ReduceOnlyRejected { code, .. }
            | Self::UnknownSymbol { code, .. }
            | Self::InvalidCredentials { code, .. }
            | Self::PermissionDenied { code, .. }
            | Self::Timestamp { code, .. }
            | Self::OrderNotFound { code, .. }
            | Self::DuplicateClientId { code, .. }
            | Self::Rejected { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether sending the same request again may succeed. Never true for an
    /// unknown outcome: that is resolved by a query.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Unreachable(_) | Self::Timestamp { .. }
        )
    }

    /// Whether the request may have taken effect without our knowing.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, Self::UnknownOutcome { .. })
    }

    /// Whether the request was turned away by a rate limit or a ban
    /// before the venue acted on it: the same request may go again once
    /// the limit allows.
    pub fn throttled(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Banned { .. })
    }

    /// Whether a protective order or a close refused this way is worth
    /// sending again later (nothing about the order itself was refused).
    pub fn transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::Banned { .. }
                | Self::Unreachable(_)
                | Self::Timestamp { .. }
                | Self::UnknownOutcome { .. }
                | Self::Malformed(_)
        )
    }

    /// A stable machine code for our API and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InsufficientMargin { .. } => "insufficient_margin",
            Self::BelowMinimum { .. } => "below_minimum",
            Self::BadPrecision { .. } => "bad_precision",
            Self::ReduceOnlyRejected { .. } => "reduce_only_rejected",
            Self::UnknownSymbol { .. } => "unknown_symbol",
            Self::InvalidCredentials { .. } => "invalid_credentials",
            Self::PermissionDenied { .. } => "permission_denied",
            Self::Timestamp { .. } => "timestamp_out_of_window",
            Self::OrderNotFound { .. } => "order_not_found",
            Self::DuplicateClientId { .. } => "duplicate_client_id",
            Self::RateLimited { .. } => "rate_limited",
            Self::Banned { .. } => "banned",
            Self::UnknownOutcome { .. } => "unknown_outcome",
            Self::Rejected { .. } => "rejected",
            Self::InvalidRequest(_) => "invalid_request",
            Self::Malformed(_) => "malformed_response",
            Self::Unreachable(_) => "unreachable",
        }
    }
}
