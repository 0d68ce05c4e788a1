//! The OKX v5 connection: REST (signed, per-endpoint budgets, demo header).

pub mod client;
pub mod private_stream;

pub use client::OkxClient;
