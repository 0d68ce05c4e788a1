//! Request extractors that turn bad input into [`ApiError`](crate::problem::ApiError)s.

pub mod json;

pub use json::{BodyLimit, Json, Validate};
