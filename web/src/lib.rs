//! The HTTP shell of TradingBot and its `tradingbot` binary.
//!
//! This crate holds actix-web routing, extractors, middleware (request ids,
//! metrics, problem+json, security headers, later auth and rate limits),
//! websocket sessions, the OpenAPI document, configuration loading and `main`.
//!
//! It must not hold domain rules (it calls `tradingbot-core`) or order logic
//! (it sends messages to the actors in `tradingbot-actors`): a handler parses,
//! delegates and shapes the answer.

pub mod app;
pub mod auth;
pub mod backup;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod errors;
pub mod extract;
pub mod middleware;
pub mod notifications;
pub mod openapi;
pub mod problem;
pub mod routes;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod ws;
