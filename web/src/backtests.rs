//! Backtests as background jobs: a request is checked and resolved when it
//! arrives (so bad input gets its 422 at once), then runs off the request
//! path — candles downloaded when asked, the simulation on a blocking
//! thread, at most one job per core at a time — while its owner polls the
//! progress. Jobs live in memory: finished ones are kept for a day, the
//! newest twenty per user.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;
use tradingbot_actors::candles::KlineSource;
use tradingbot_backtest::data::load_csv;
use tradingbot_backtest::engine::{Series, Settings, run_observed};
use tradingbot_core::market::candle::BUNDLED_BTC_DAILY;
use tradingbot_core::templates::Configured;
use uuid::Uuid;

/// Queued and running jobs one user may have at once.
pub const MAX_ACTIVE_PER_USER: usize = 2;
const KEEP_PER_USER: usize = 20;
const KEEP_FOR: chrono::TimeDelta = chrono::TimeDelta::hours(24);
/// Points of the equity curve in a result (the full curve can be 10⁶).
const EQUITY_POINTS: usize = 1000;

/// Where the candles come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The BTCUSDT daily candles compiled into the binary.
    Bundled,
    /// Binance's public klines.
    Binance { symbol: String, interval: String },
}

/// A request checked and resolved, ready to run.
pub struct Spec {
    pub template_id: &'static str,
    pub configured: Configured,
    pub settings: Settings,
    pub source: Source,
    /// Candles opening in `[from, to)`; `None`: the last six months of the
    /// data (bundled) or up to now (download).
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// What the job shows as its request.
    pub echo: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Queued,
    Running,
    Completed,
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct JobError {
    pub code: &'static str,
    pub detail: String,
}

struct State {
    status: Status,
    /// `waiting`, `download`, `simulation` or `done`.
    phase: &'static str,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    error: Option<JobError>,
    result: Option<Arc<serde_json::Value>>,
}

pub struct Job {
    pub id: Uuid,
    pub user_id: i64,
    pub created_at: DateTime<Utc>,
    echo: serde_json::Value,
    /// Thousandths of the work done.
    permille: AtomicU64,
    state: Mutex<State>,
}

/// What `GET /backtest/{id}` answers.
#[derive(Serialize)]
pub struct JobView {
    pub id: Uuid,
    pub status: Status,
    pub phase: &'static str,
    /// 0 to 1.
    pub progress: f64,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub request: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Arc<serde_json::Value>>,
}

impl Job {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_progress(&self, fraction: f64) {
        let p = (fraction.clamp(0.0, 1.0) * 1000.0) as u64;
        self.permille.fetch_max(p, Ordering::Relaxed);
    }

    fn active(&self) -> bool {
        matches!(self.state().status, Status::Queued | Status::Running)
    }

    pub fn view(&self, with_result: bool) -> JobView {
        let s = self.state();
        JobView {
            id: self.id,
            status: s.status,
            phase: s.phase,
            progress: self.permille.load(Ordering::Relaxed) as f64 / 1000.0,
            created_at: self.created_at,
            started_at: s.started_at,
            finished_at: s.finished_at,
            request: self.echo.clone(),
            error: s.error.clone(),
            result: if with_result { s.result.clone() } else { None },
        }
    }

    fn finish(&self, outcome: Result<serde_json::Value, JobError>) {
        let mut s = self.state();
        s.finished_at = Some(Utc::now());
        s.phase = "done";
        match outcome {
            Ok(v) => {
                s.status = Status::Completed;
                s.result = Some(Arc::new(v));
                drop(s);
                self.set_progress(1.0);
            }
            Err(e) => {
                s.status = Status::Failed;
                s.error = Some(e);
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{MAX_ACTIVE_PER_USER} backtests are already queued or running")]
pub struct TooMany;

pub struct Backtests {
    jobs: Mutex<HashMap<Uuid, Arc<Job>>>,
    permits: Arc<Semaphore>,
    klines: Arc<KlineSource>,
}

impl Backtests {
    pub fn new(klines: KlineSource) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            jobs: Mutex::new(HashMap::new()),
            permits: Arc::new(Semaphore::new(cores)),
            klines: Arc::new(klines),
        }
    }

    fn jobs(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Arc<Job>>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The job, if it is `user_id`'s.
    pub fn get(&self, user_id: i64, id: Uuid) -> Option<Arc<Job>> {
        self.jobs()
            .get(&id)
            .filter(|j| j.user_id == user_id)
            .cloned()
    }

    /// The user's jobs, newest first.
    pub fn list(&self, user_id: i64) -> Vec<Arc<Job>> {
        let mut mine: Vec<Arc<Job>> = self
            .jobs()
            .values()
            .filter(|j| j.user_id == user_id)
            .cloned()
            .collect();
        mine.sort_by_key(|j| std::cmp::Reverse(j.created_at));
        mine
    }

    /// Queues `spec` for `user_id` and starts it on the current runtime.
    pub fn submit(&self, user_id: i64, spec: Spec) -> Result<Arc<Job>, TooMany> {
        let now = Utc::now();
        let job = {
            let mut jobs = self.jobs();
            let active = jobs
                .values()
                .filter(|j| j.user_id == user_id && j.active())
                .count();
            if active >= MAX_ACTIVE_PER_USER {
                return Err(TooMany);
            }
            prune(&mut jobs, user_id, now);
            let job = Arc::new(Job {
                id: Uuid::new_v4(),
                user_id,
                created_at: now,
                echo: spec.echo.clone(),
                permille: AtomicU64::new(0),
                state: Mutex::new(State {
                    status: Status::Queued,
                    phase: "waiting",
                    started_at: None,
                    finished_at: None,
                    error: None,
                    result: None,
                }),
            });
            jobs.insert(job.id, job.clone());
            job
        };
        let (permits, klines, j) = (self.permits.clone(), self.klines.clone(), job.clone());
        actix_web::rt::spawn(async move {
            let Ok(_permit) = permits.acquire_owned().await else {
                return;
            };
            let outcome = execute(&j, spec, &klines).await;
            if let Err(e) = &outcome {
                tracing::info!(job = %j.id, code = e.code, "backtest failed");
            }
            j.finish(outcome);
        });
        Ok(job)
    }
}

/// Drops the user's finished jobs past a day, and beyond the newest
/// [`KEEP_PER_USER`].
fn prune(jobs: &mut HashMap<Uuid, Arc<Job>>, user_id: i64, now: DateTime<Utc>) {
    jobs.retain(|_, j| j.active() || now - j.created_at < KEEP_FOR);
    let mut mine: Vec<(DateTime<Utc>, Uuid)> = jobs
        .values()
        .filter(|j| j.user_id == user_id && !j.active())
        .map(|j| (j.created_at, j.id))
        .collect();
    mine.sort();
    let excess = mine
        .len()
        .saturating_sub(KEEP_PER_USER - MAX_ACTIVE_PER_USER);
    for (_, id) in mine.into_iter().take(excess) {
        jobs.remove(&id);
    }
}

async fn execute(
    job: &Arc<Job>,
    spec: Spec,
    klines: &KlineSource,
) -> Result<serde_json::Value, JobError> {
    {
        let mut s = job.state();
        s.status = Status::Running;
        s.started_at = Some(Utc::now());
    }
    let now = Utc::now().timestamp_millis();
    // A download is the first 30 % of the bar; the simulation the rest.
    let (text, sim_from) = match &spec.source {
        Source::Bundled => (BUNDLED_BTC_DAILY.to_owned(), 0.0),
        Source::Binance { symbol, interval } => {
            job.state().phase = "download";
            let to = spec.to_ms.unwrap_or(now);
            let from = spec.from_ms.unwrap_or(to - SIX_MONTHS_MS);
            let progress = |done: u64, total: u64| {
                job.set_progress(0.3 * done as f64 / total.max(1) as f64);
            };
            let fetched = klines
                .fetch(symbol, interval, from, to, now, &progress)
                .await
                .map_err(|e| JobError {
                    code: match e {
                        tradingbot_actors::candles::KlineError::RateLimited { .. } => {
                            "exchange_rate_limited"
                        }
                        _ => "candles_unavailable",
                    },
                    detail: e.to_string(),
                })?;
            (fetched.csv, 0.3)
        }
    };
    job.state().phase = "simulation";
    let worker = job.clone();
    tokio::task::spawn_blocking(move || simulate(&worker, spec, &text, sim_from))
        .await
        .map_err(|e| JobError {
            code: "internal",
            detail: format!("the simulation stopped: {e}"),
        })?
}

const SIX_MONTHS_MS: i64 = 182 * 86_400_000;

fn simulate(
    job: &Job,
    spec: Spec,
    text: &str,
    progress_from: f64,
) -> Result<serde_json::Value, JobError> {
    let (candles, data) = load_csv(text).map_err(|e| JobError {
        code: "no_candles",
        detail: format!("no usable candles: {e}"),
    })?;
    let chosen = tradingbot_backtest::cli::window(&candles, spec.from_ms, spec.to_ms, false);
    if chosen.len() < 2 {
        return Err(JobError {
            code: "empty_window",
            detail: "fewer than two candles in the chosen window".into(),
        });
    }
    let series = Series::new(chosen);
    let total = series.candles.len() as f64;
    let mut rule = spec.configured.rule();
    let outcome = run_observed(
        &series,
        |_, bar| rule.update(*bar),
        &spec.settings,
        |done| job.set_progress(progress_from + (1.0 - progress_from) * done as f64 / total),
    );
    let report = tradingbot_backtest::report(&series.candles, spec.settings.capital, &outcome);
    let stride = outcome.equity.len().div_ceil(EQUITY_POINTS).max(1);
    let mut equity: Vec<serde_json::Value> = outcome
        .equity
        .iter()
        .step_by(stride)
        .map(|(t, e)| serde_json::json!({ "time": iso(*t), "equity": round2(*e) }))
        .collect();
    if let Some((t, e)) = outcome.equity.last()
        && (outcome.equity.len() - 1) % stride != 0
    {
        equity.push(serde_json::json!({ "time": iso(*t), "equity": round2(*e) }));
    }
    let first = series.candles.first().map_or(0, |c| c.time_ms);
    let last = series.candles.last().map_or(0, |c| c.time_ms);
    let (source, symbol, timeframe) = match &spec.source {
        Source::Bundled => ("bundled", "BTCUSDT".to_owned(), "1d".to_owned()),
        Source::Binance { symbol, interval } => ("binance", symbol.clone(), interval.clone()),
    };
    Ok(serde_json::json!({
        "template_id": spec.template_id,
        "params": spec.configured.params,
        "report": report,
        "data": {
            "source": source,
            "symbol": symbol,
            "timeframe": timeframe,
            "bars": series.candles.len(),
            "from": iso(first),
            "to": iso(last),
            "interval_ms": data.interval_ms,
            "missing_bars": data.missing_bars(),
            "gaps": data.gaps.iter().take(50).map(|(t, n)| serde_json::json!({ "after": iso(*t), "missing": n })).collect::<Vec<_>>(),
            "duplicates": data.duplicates,
            "skipped_rows": data.skipped.len(),
        },
        "trades": outcome.trades,
        "equity": equity,
    }))
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn iso(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}
