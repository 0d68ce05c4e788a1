//! What every handler can reach: the store, the optional Redis, the metrics
//! handle, the secrets, and when the process started.

use crate::config::secrets::Secrets;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;
use std::time::Instant;
use tradingbot_actors::kv::Redis;
use tradingbot_actors::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub redis: Option<Redis>,
    pub metrics: PrometheusHandle,
    pub secrets: Arc<Secrets>,
    /// Base URL the outside world reaches this server at (webhook URLs).
    pub public_url: Arc<str>,
    pub started: Instant,
    pub production: bool,
}
