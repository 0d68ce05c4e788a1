//! Logs (`tracing`, text or JSON) and the Prometheus recorder.

use crate::config::{Config, LogFormat};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::io::IsTerminal;
use std::sync::OnceLock;
use tracing_subscriber::EnvFilter;

/// Installs the global log subscriber. Logs go to stdout, one line per event.
pub fn init_tracing(config: &Config) -> Result<(), String> {
    let filter = EnvFilter::try_new(&config.log).map_err(|e| e.to_string())?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .with_ansi(std::io::stdout().is_terminal());
    let result = match config.log_format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
    result.map_err(|e| e.to_string())
}

/// Latency buckets for HTTP requests, in seconds: half a millisecond to ten
/// seconds, dense where a healthy API answers.
const HTTP_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets for every other `*_seconds` histogram: 50 µs to 10 s, dense
/// around the 1–5 ms the webhook → order path is held to.
const LATENCY_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
];

/// The process-wide Prometheus recorder, installed on first use. One process
/// has one recorder; every server started in it (tests start several) shares it.
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(crate::middleware::observe::REQUEST_DURATION.to_owned()),
                    HTTP_BUCKETS,
                )
                .expect("non-empty buckets")
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), LATENCY_BUCKETS)
                .expect("non-empty buckets")
                .build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first, in which case
            // this handle renders an empty page rather than crashing the server.
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
            }
            handle
        })
        .clone()
}

/// Series the dashboards and alerts read, created at zero so that "none
/// yet" is a 0 and not a missing series (an alert on `increase(…418…)`
/// must see the counter before the first ban, not after).
pub fn register_series() {
    for exchange in ["binance", "okx"] {
        for status in ["429", "418"] {
            metrics::counter!("exchange_rate_limited_total", "exchange" => exchange, "status" => status)
                .absolute(0);
        }
        metrics::counter!("exchange_unknown_outcomes_total", "exchange" => exchange).absolute(0);
        let _ = metrics::histogram!("webhook_to_order_seconds", "exchange" => exchange);
        let _ = metrics::histogram!("exchange_request_duration_seconds", "exchange" => exchange, "path" => "none");
    }
    for (exchange, stream) in [
        ("binance", "ws_api"),
        ("binance", "user_data"),
        ("okx", "private"),
    ] {
        metrics::counter!("exchange_ws_reconnects_total", "exchange" => exchange, "stream" => stream)
            .absolute(0);
    }
    metrics::gauge!("exchange_rate_limit_usage_ratio", "exchange" => "binance", "limit" => "REQUEST_WEIGHT")
        .increment(0.0);
    metrics::counter!("reconciliation_repairs_total").absolute(0);
    // Counted before this runs (the journal's recovery writes): made
    // visible, not reset.
    for name in [
        "persist_failures_total",
        "persist_events_total",
        "journal_write_failures_total",
        "journal_recovered_events_total",
    ] {
        metrics::counter!(name).increment(0);
    }
    metrics::counter!("telegram_messages_sent_total").absolute(0);
    metrics::counter!("telegram_messages_failed_total").absolute(0);
    metrics::counter!("risk_rejections_total", "rule" => "none").absolute(0);
    metrics::counter!("signals_total", "outcome" => "none").absolute(0);
    metrics::counter!("orders_total", "exchange" => "none", "status" => "none").absolute(0);
    metrics::counter!("webhook_requests_total", "outcome" => "none").absolute(0);
    let _ = metrics::histogram!("webhook_response_seconds");
    for action in ["close", "reduce", "reverse"] {
        metrics::counter!("ai_recommendations_total", "action" => action).absolute(0);
    }
    metrics::gauge!("ws_sessions").increment(0.0);
    metrics::gauge!("ws_price_symbols_followed").increment(0.0);
    metrics::counter!("equity_snapshots_written_total").increment(0);
    metrics::gauge!("persist_unstored_events").increment(0.0);
    metrics::counter!("entries_refused_records_behind_total").absolute(0);
    metrics::counter!("paper_books_writes_total").increment(0);
    metrics::gauge!("actor_mailbox_depth", "actor" => "none").increment(0.0);
}

/// Reads the gauges every `every`: the database's view of trading, the
/// connection pool, Redis, and this process's CPU and memory.
pub fn spawn_gauges(
    store: tradingbot_actors::store::Store,
    redis: Option<tradingbot_actors::kv::Redis>,
    every: std::time::Duration,
) {
    actix_web::rt::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        loop {
            ticker.tick().await;
            match tradingbot_actors::gauges::snapshot(&store).await {
                Ok(s) => {
                    metrics::gauge!("positions_open").set(s.positions_open as f64);
                    metrics::gauge!("strategies_active").set(s.strategies_active as f64);
                    metrics::gauge!("realized_pnl_today_usdt").set(s.realized_pnl_today);
                    metrics::gauge!("kill_switch_engaged", "scope" => "user")
                        .set(s.user_kill_switches as f64);
                    metrics::gauge!("kill_switch_engaged", "scope" => "admin")
                        .set(s.admin_kill_switches as f64);
                    metrics::gauge!("db_pool_connections", "state" => "idle")
                        .set(f64::from(s.pool.1));
                    metrics::gauge!("db_pool_connections", "state" => "in_use")
                        .set(f64::from(s.pool.0.saturating_sub(s.pool.1)));
                }
                Err(e) => tracing::warn!(error = %e, "gauges could not be read"),
            }
            match &redis {
                Some(r) => {
                    let up = r.ping().await.is_ok();
                    metrics::gauge!("redis_up").set(if up { 1.0 } else { 0.0 });
                }
                // In-process mode: nothing to be down.
                None => metrics::gauge!("redis_up").set(1.0),
            }
            process_metrics();
        }
    });
}

/// Linux's `/proc/self`: CPU time (in USER_HZ, 100 per second on Linux),
/// resident memory, open descriptors.
fn process_metrics() {
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the parenthesised command name; utime and stime are
        // the 14th and 15th of the whole line.
        if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            // `metrics` counters are whole numbers: CPU in whole seconds,
            // fine for rates over minutes.
            metrics::counter!("process_cpu_seconds_total")
                .absolute(((ticks(11) + ticks(12)) / 100.0) as u64);
        }
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(kb) = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
    {
        metrics::gauge!("process_resident_memory_bytes").set(kb * 1024.0);
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        metrics::gauge!("process_open_fds").set(fds.count() as f64);
    }
}
