//! A JSON body extractor whose every failure is a precise problem:
//! 415 for the wrong content type, 413 past the size limit (checked against
//! `Content-Length` before reading, and while reading), 400 for broken JSON,
//! and 422 naming the field for well-formed JSON of the wrong shape — then the
//! type's own [`Validate`] rules, also 422 with the fields named.

use crate::problem::{ApiError, FieldError};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::pin::Pin;

/// The largest body a route accepts, in bytes (an app-wide `web::Data`).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// Rules a request body must satisfy beyond its shape.
pub trait Validate {
    /// Every violated rule, each naming its field; empty when valid.
    fn validate(&self) -> Vec<FieldError>;
}

/// A validated JSON body.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

fn is_json(req: &HttpRequest) -> bool {
    let Some(ct) = req.headers().get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(ct) = ct.to_str() else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Reads the body, refusing it as soon as it is known to exceed `limit`.
pub async fn read_body<S>(
    req: &HttpRequest,
    payload: &mut S,
    limit: usize,
) -> Result<web::BytesMut, ApiError>
where
    S: futures_util::Stream<Item = Result<web::Bytes, actix_web::error::PayloadError>> + Unpin,
{
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && len > limit
    {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::MalformedJson(e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Parses `bytes` as `T`, naming the offending field of a shape error.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let message = strip_position(&inner.to_string());
                // A missing field is reported by serde at the parent's path.
                let field = missing_field(&message)
                    .map(|f| {
                        if path == "." {
                            f.to_owned()
                        } else {
                            format!("{path}.{f}")
                        }
                    })
                    .unwrap_or(if path == "." { "body".to_owned() } else { path });
                ApiError::invalid(field, message)
            }
            _ => ApiError::MalformedJson(strip_position(&inner.to_string())),
        }
    })?;
    de.end()
        .map_err(|e| ApiError::MalformedJson(strip_position(&e.to_string())))?;
    Ok(value)
}

/// [`parse`] for a request body, which is always a JSON object: serde
/// would read a struct from an array of its fields in order, so
/// `[null, null]` would pass for `{}` and change nothing — or worse, assign
/// values to fields by position.
pub fn parse_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{')
        && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
    {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    }
    parse(bytes)
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
}

impl<T> FromRequest for Json<T>
where
    T: DeserializeOwned + Validate + 'static,
{
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            if !is_json(&req) {
                return Err(ApiError::UnsupportedMediaType {
                    expected: "application/json",
                });
            }
            let limit = req
                .app_data::<web::Data<BodyLimit>>()
                .map_or(65_536, |l| l.0);
            let body = read_body(&req, &mut payload, limit).await?;
            let value: T = parse_object(&body)?;
            let errors = value.validate();
            if errors.is_empty() {
                Ok(Json(value))
            } else {
                Err(ApiError::Validation(errors))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        email: String,
        inner: Inner,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        leverage: u8,
    }

    #[test]
    fn a_body_is_an_object_not_an_array_of_its_fields() {
        let e = parse_object::<Inner>(b" [7] ").unwrap_err();
        assert_eq!(field_of(e), "body");
        assert!(
            parse::<Inner>(b"[7]").is_ok(),
            "what serde alone would take"
        );
        assert_eq!(
            parse_object::<Inner>(b"{\"leverage\": 7}")
                .unwrap()
                .leverage,
            7
        );
        assert!(matches!(
            parse_object::<Inner>(b"[7"),
            Err(ApiError::MalformedJson(_))
        ));
    }

    fn field_of(e: ApiError) -> String {
        match e {
            ApiError::Validation(v) => v[0].field.clone(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn names_the_missing_field() {
        let e = parse::<Body>(br#"{"inner":{"leverage":3}}"#).unwrap_err();
        assert_eq!(field_of(e), "email");
        let e = parse::<Body>(br#"{"email":"a","inner":{}}"#).unwrap_err();
        assert_eq!(field_of(e), "inner.leverage");
    }

    #[test]
    fn names_the_mistyped_field() {
        let e = parse::<Body>(br#"{"email":"a","inner":{"leverage":300}}"#).unwrap_err();
        assert_eq!(field_of(e), "inner.leverage");
        let e = parse::<Body>(br#"{"email":5,"inner":{"leverage":3}}"#).unwrap_err();
        assert_eq!(field_of(e), "email");
    }

    #[test]
    fn broken_json_is_malformed_not_invalid() {
        assert!(matches!(
            parse::<Body>(b"{\"email\":"),
            Err(ApiError::MalformedJson(_))
        ));
        assert!(matches!(
            parse::<Body>(b"nope"),
            Err(ApiError::MalformedJson(_))
        ));
        assert!(matches!(
            parse::<Body>(br#"{"email":"a","inner":{"leverage":3}} trailing"#),
            Err(ApiError::MalformedJson(_))
        ));
    }
}
