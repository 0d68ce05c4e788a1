//! `GET /api/v1/health`: is this instance able to serve? The database is
//! required (503 without it); Redis, when configured, degrades the answer but
//! does not fail it. Each check has a deadline so the answer always comes.

use crate::state::AppState;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use std::time::Duration;
use utoipa::ToSchema;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// State of one dependency.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentHealth {
    /// `ok`, `down` or `disabled` (not configured).
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, `degraded` (Redis down) or `down` (database down).
    pub status: &'static str,
    pub version: &'static str,
    pub environment: &'static str,
    pub uptime_seconds: u64,
    pub database: ComponentHealth,
    pub redis: ComponentHealth,
    /// With Redis: this instance's place among the others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterHealth>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterHealth {
    /// This instance's id.
    pub instance: String,
    /// The user shards (of 64) it trades for.
    pub owned_shards: usize,
    /// The instances alive, this one included.
    pub members: usize,
}

fn down(backend: Option<&'static str>, error: &'static str) -> ComponentHealth {
    ComponentHealth {
        status: "down",
        backend,
        latency_ms: None,
        error: Some(error),
    }
}

/// Service health
#[utoipa::path(
    get,
    path = "/api/v1/health",
    tag = "service",
    responses(
        (status = 200, description = "Serving (possibly degraded)", body = Health),
        (status = 503, description = "The database is unreachable", body = Health),
    )
)]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let backend = state.store.backend().as_str();
    let database = match tokio::time::timeout(CHECK_TIMEOUT, state.store.ping()).await {
        Ok(Ok(latency)) => ComponentHealth {
            status: "ok",
            backend: Some(backend),
            latency_ms: Some(latency.as_secs_f64() * 1e3),
            error: None,
        },
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health: database check failed");
            down(Some(backend), "query failed")
        }
        Err(_) => down(Some(backend), "timed out"),
    };
    let redis = match &state.redis {
        None => ComponentHealth {
            status: "disabled",
            backend: None,
            latency_ms: None,
            error: None,
        },
        Some(redis) => match tokio::time::timeout(CHECK_TIMEOUT, redis.ping()).await {
            Ok(Ok(latency)) => ComponentHealth {
                status: "ok",
                backend: Some("redis"),
                latency_ms: Some(latency.as_secs_f64() * 1e3),
                error: None,
            },
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "health: redis check failed");
                down(Some("redis"), "command failed")
            }
            Err(_) => down(Some("redis"), "timed out"),
        },
    };
    let status = match (database.status, redis.status) {
        ("down", _) => "down",
        (_, "down") => "degraded",
        _ => "ok",
    };
    let body = Health {
        status,
        version: env!("CARGO_PKG_VERSION"),
        environment: if state.production {
            "production"
        } else {
            "development"
        },
        uptime_seconds: state.started.elapsed().as_secs(),
        database,
        redis,
        cluster: state.execution.cluster().map(|c| ClusterHealth {
            instance: c.id().to_owned(),
            owned_shards: c.owned().len(),
            members: c.members().len(),
        }),
    };
    let mut res = if status == "down" {
        HttpResponse::ServiceUnavailable()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header(("Cache-Control", "no-store")).json(body)
}
