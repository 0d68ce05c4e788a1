//! Errors as `application/problem+json` (RFC 9457), in one place.
//!
//! Every error the API returns is a [`Problem`] with a stable machine `code`
//! that a frontend can switch on; `detail` is for people and may change.
//! Handlers return [`ApiError`]; errors raised by actix itself (unknown route,
//! wrong method, …) are rewritten into the same shape by
//! [`crate::middleware::problem`].

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// Path of the field in the request body, e.g. `leverage` or `symbols[0]`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the `code` carries the meaning.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The HTTP status phrase.
    pub title: String,
    pub status: u16,
    /// Stable machine-readable code, e.g. `validation_failed`.
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The invalid fields, for `validation_failed`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extension members of particular problems (e.g. the `signal_id` of a
    /// refused webhook): extra top-level fields, which the schema allows.
    #[serde(flatten, skip_serializing_if = "serde_json::Map::is_empty")]
    #[schema(ignore)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

impl Problem {
    pub fn new(status: StatusCode, code: impl Into<String>, detail: Option<String>) -> Self {
        Self {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            code: code.into(),
            detail,
            errors: Vec::new(),
            extensions: serde_json::Map::new(),
        }
    }

    /// The problem for a bare status code (what actix produced on its own).
    pub fn for_status(status: StatusCode) -> Self {
        let (code, detail) = match status {
            StatusCode::NOT_FOUND => ("not_found", "No such resource."),
            StatusCode::METHOD_NOT_ALLOWED => (
                "method_not_allowed",
                "This resource does not accept that method.",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => {
                ("payload_too_large", "The request body is too large.")
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "unsupported_media_type",
                "The request body has an unsupported content type.",
            ),
            StatusCode::BAD_REQUEST => ("bad_request", "The request is malformed."),
            StatusCode::UNAUTHORIZED => ("unauthorized", "Authentication is required."),
            StatusCode::FORBIDDEN => ("forbidden", "Not allowed."),
            StatusCode::TOO_MANY_REQUESTS => ("rate_limited", "Too many requests."),
            StatusCode::REQUEST_TIMEOUT => {
                ("request_timeout", "The request took too long to arrive.")
            }
            StatusCode::URI_TOO_LONG => ("uri_too_long", "The request URI is too long."),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
                ("headers_too_large", "The request headers are too large.")
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                ("service_unavailable", "The service is unavailable.")
            }
            s if s.is_server_error() => ("internal_error", "Something went wrong on our side."),
            _ => ("error", "The request failed."),
        };
        Self::new(status, code, Some(detail.to_owned()))
    }

    pub fn response(&self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        HttpResponse::build(status)
            .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE)))
            .body(serde_json::to_vec(self).unwrap_or_default())
    }
}

/// Errors a handler can return.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("not found")]
    NotFound,
    #[error("the request body exceeds {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("expected a body of type {expected}")]
    UnsupportedMediaType { expected: &'static str },
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("unauthorized: {detail}")]
    Unauthorized { code: &'static str, detail: String },
    #[error("forbidden: {detail}")]
    Forbidden { code: &'static str, detail: String },
    #[error("conflict: {detail}")]
    Conflict { code: &'static str, detail: String },
    #[error("too many requests: {detail}")]
    RateLimited {
        code: &'static str,
        detail: String,
        retry_after_secs: u64,
        limit: Option<u32>,
    },
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// Any other status with its own code and extension members.
    #[error("{code}: {detail}")]
    Other {
        status: u16,
        code: String,
        detail: String,
        extensions: serde_json::Map<String, serde_json::Value>,
    },
    /// A failure of ours. The message is logged, never sent to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        Self::Internal(e.to_string())
    }

    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Unauthorized {
            code,
            detail: detail.into(),
        }
    }

    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Forbidden {
            code,
            detail: detail.into(),
        }
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            detail: detail.into(),
        }
    }

    pub fn problem(&self) -> Problem {
        match self {
            ApiError::NotFound => Problem::for_status(StatusCode::NOT_FOUND),
            ApiError::PayloadTooLarge { limit } => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                Some(format!(
                    "The request body exceeds the limit of {limit} bytes."
                )),
            ),
            ApiError::UnsupportedMediaType { expected } => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                Some(format!("Send the body as {expected}.")),
            ),
            ApiError::MalformedJson(why) => Problem::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                Some(format!("The body is not valid JSON: {why}.")),
            ),
            ApiError::Validation(errors) => {
                let detail = match errors.as_slice() {
                    [one] => format!("`{}`: {}", one.field, one.message),
                    _ => format!("{} fields are invalid.", errors.len()),
                };
                let mut p = Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                    Some(detail),
                );
                p.errors = errors.clone();
                p
            }
            ApiError::Unauthorized { code, detail } => {
                Problem::new(StatusCode::UNAUTHORIZED, *code, Some(detail.clone()))
            }
            ApiError::Forbidden { code, detail } => {
                Problem::new(StatusCode::FORBIDDEN, *code, Some(detail.clone()))
            }
            ApiError::Conflict { code, detail } => {
                Problem::new(StatusCode::CONFLICT, *code, Some(detail.clone()))
            }
            ApiError::RateLimited { code, detail, .. } => {
                Problem::new(StatusCode::TOO_MANY_REQUESTS, *code, Some(detail.clone()))
            }
            ApiError::Unavailable(why) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                Some(why.clone()),
            ),
            ApiError::Other {
                status,
                code,
                detail,
                extensions,
            } => {
                let mut p = Problem::new(
                    StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST),
                    code.clone(),
                    Some(detail.clone()),
                );
                p.extensions = extensions.clone();
                p
            }
            ApiError::Internal(_) => Problem::for_status(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.problem().status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(message) = self {
            tracing::error!(error = %message, "request failed");
            crate::errors::report(message);
        }
        let mut res = self.problem().response();
        let headers = res.headers_mut();
        match self {
            ApiError::Unauthorized { .. } => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::RateLimited {
                retry_after_secs,
                limit,
                ..
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
                if let Some(limit) = limit {
                    crate::middleware::rate_limit::set_headers(
                        headers,
                        *limit,
                        0,
                        *retry_after_secs,
                    );
                }
            }
            _ => {}
        }
        res
    }
}

/// Fields the domain refused (a strategy, its sizing), named as the API
/// names them.
impl From<Vec<tradingbot_core::strategy::FieldError>> for ApiError {
    fn from(errors: Vec<tradingbot_core::strategy::FieldError>) -> Self {
        ApiError::Validation(
            errors
                .into_iter()
                .map(|e| FieldError::new(e.field, e.message))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_problem_names_the_field() {
        let p = ApiError::invalid("leverage", "must be between 1 and 125").problem();
        assert_eq!(p.status, 422);
        assert_eq!(p.code, "validation_failed");
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["type"], "about:blank");
        assert_eq!(json["errors"][0]["field"], "leverage");
        assert!(json["detail"].as_str().unwrap().contains("leverage"));
    }

    #[test]
    fn internal_errors_hide_their_message() {
        let p = ApiError::internal("password=hunter2 in connection string").problem();
        assert_eq!(p.status, 500);
        assert!(!serde_json::to_string(&p).unwrap().contains("hunter2"));
    }
}
