//! Backtests as background jobs: a request is checked and resolved when it
//! arrives (so bad input gets its 422 at once), then runs off the request
//! path — candles downloaded when asked, the simulation on a blocking
//! thread, at most one job per core at a time — while its owner polls the
//! progress. Jobs are rows of `backtest_jobs`: every instance sees them,
//! and they survive a restart (a job whose instance stopped while it ran is
//! marked failed, `interrupted`); the instance running a job writes its
//! progress twice a second and its result at the end. Finished jobs are
//! kept for a day, the newest twenty per user.

pub mod jobs;

use crate::candles::KlineSource;
use crate::store::Store;
use chrono::{DateTime, Utc};
use jobs::{Ending, JobRow, JobStore, Progress};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;
use tradingbot_backtest::data::load_csv;
use tradingbot_backtest::engine::{Settings, run_observed};
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

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Completed => "completed",
            Status::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "queued" => Status::Queued,
            "running" => Status::Running,
            "completed" => Status::Completed,
            _ => Status::Failed,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct JobError {
    pub code: String,
    pub detail: String,
}

fn job_error(code: &str, detail: impl Into<String>) -> JobError {
    JobError {
        code: code.to_owned(),
        detail: detail.into(),
    }
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
    pub phase: String,
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

    pub fn view(&self, with_result: bool) -> JobView {
        let s = self.state();
        JobView {
            id: self.id,
            status: s.status,
            phase: s.phase.to_owned(),
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
pub enum SubmitError {
    #[error("{MAX_ACTIVE_PER_USER} backtests are already queued or running")]
    TooMany,
    #[error("database: {0}")]
    Db(#[from] jobs::StoreError),
}

/// The backtest jobs: rows in the store, and the ones this instance runs.
pub struct Backtests {
    /// Jobs running on this instance (fresher than their rows).
    jobs: Arc<Mutex<HashMap<Uuid, Arc<Job>>>>,
    permits: Arc<Semaphore>,
    klines: Arc<KlineSource>,
    store: JobStore,
    /// This instance, named on the rows of the jobs it runs.
    instance: String,
}

/// How often a running job's row is brought up to date.
const WRITE_EVERY: std::time::Duration = std::time::Duration::from_millis(500);
/// A job not written for this long while running lost its instance.
const STALE_AFTER: chrono::TimeDelta = chrono::TimeDelta::minutes(2);

fn view_of(row: JobRow, with_result: bool) -> Option<JobView> {
    let error = row.error_code.map(|code| JobError {
        code,
        detail: row.error_detail.unwrap_or_default(),
    });
    let now = Utc::now();
    let status = Status::parse(&row.status);
    // A job whose runner stopped writing is not running any more.
    let (status, error) = if matches!(status, Status::Queued | Status::Running)
        && now - row.updated_at > STALE_AFTER
    {
        (
            Status::Failed,
            Some(job_error("interrupted", "the instance running it stopped")),
        )
    } else {
        (status, error)
    };
    Some(JobView {
        id: Uuid::parse_str(&row.id).ok()?,
        status,
        phase: row.phase,
        progress: f64::from(row.permille) / 1000.0,
        created_at: row.created_at,
        started_at: row.started_at,
        finished_at: row.finished_at,
        request: serde_json::from_str(&row.request).unwrap_or(serde_json::Value::Null),
        error,
        result: if with_result {
            row.result
                .and_then(|r| serde_json::from_str(&r).ok())
                .map(Arc::new)
        } else {
            None
        },
    })
}

impl Backtests {
    pub fn new(klines: KlineSource, store: Store, instance: String) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            jobs: Arc::new(Mutex::new(HashMap::new())),
            permits: Arc::new(Semaphore::new(cores)),
            klines: Arc::new(klines),
            store: JobStore::new(store),
            instance,
        }
    }

    /// Jobs this instance was running when it stopped are not running any
    /// more: marked failed (`interrupted`).
    pub async fn recover(&self) -> Result<u64, jobs::StoreError> {
        self.store.interrupted(&self.instance).await
    }

    fn jobs(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Arc<Job>>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The job, if it is `user_id`'s (with its result when it has one).
    pub async fn get(&self, user_id: i64, id: Uuid) -> Result<Option<JobView>, jobs::StoreError> {
        if let Some(j) = self.jobs().get(&id).filter(|j| j.user_id == user_id) {
            return Ok(Some(j.view(true)));
        }
        Ok(self
            .store
            .get(user_id, &id.to_string())
            .await?
            .and_then(|r| view_of(r, true)))
    }

    /// The user's jobs, newest first (without results).
    pub async fn list(&self, user_id: i64) -> Result<Vec<JobView>, jobs::StoreError> {
        let rows = self.store.list(user_id, KEEP_PER_USER as u64).await?;
        let live = self.jobs();
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let id = Uuid::parse_str(&r.id).ok()?;
                match live.get(&id) {
                    Some(j) => Some(j.view(false)),
                    None => view_of(r, false),
                }
            })
            .collect())
    }

    /// Queues `spec` for `user_id` and starts it on the current runtime.
    pub async fn submit(&self, user_id: i64, spec: Spec) -> Result<JobView, SubmitError> {
        let now = Utc::now();
        let active = self.store.active(user_id, now - STALE_AFTER).await?;
        if active as usize >= MAX_ACTIVE_PER_USER {
            return Err(SubmitError::TooMany);
        }
        self.store
            .prune(user_id, KEEP_PER_USER - MAX_ACTIVE_PER_USER, now - KEEP_FOR)
            .await?;
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
        self.store
            .insert(
                &job.id.to_string(),
                user_id,
                &job.echo.to_string(),
                &self.instance,
                now,
            )
            .await?;
        self.jobs().insert(job.id, job.clone());
        let view = job.view(false);
        let (permits, klines, j, store) = (
            self.permits.clone(),
            self.klines.clone(),
            job.clone(),
            self.store.clone(),
        );
        // Its row follows it.
        let (watched, watch_store) = (job.clone(), store.clone());
        let writer = actix_rt::spawn(async move {
            let mut every = tokio::time::interval(WRITE_EVERY);
            loop {
                every.tick().await;
                write(&watch_store, &watched, false).await;
            }
        });
        let jobs = self.jobs.clone();
        actix_rt::spawn(async move {
            if let Ok(_permit) = permits.acquire_owned().await {
                let outcome = execute(&j, spec, &klines).await;
                if let Err(e) = &outcome {
                    tracing::info!(job = %j.id, code = %e.code, "backtest failed");
                }
                j.finish(outcome);
            } else {
                j.finish(Err(job_error("internal", "the job runner stopped")));
            }
            writer.abort();
            write(&store, &j, true).await;
            jobs.lock().unwrap_or_else(|e| e.into_inner()).remove(&j.id);
        });
        Ok(view)
    }
}

/// Writes a job's row from the job (how it ended too, when `last`).
async fn write(store: &JobStore, job: &Job, last: bool) {
    let (progress, ending) = {
        let s = job.state();
        let progress = Progress {
            status: s.status.as_str(),
            phase: s.phase,
            permille: job.permille.load(Ordering::Relaxed) as i32,
            started_at: s.started_at,
            finished_at: s.finished_at,
        };
        let ending = last.then(|| Ending {
            error: s.error.clone().map(|e| (e.code, e.detail)),
            result: s.result.as_ref().map(|r| r.to_string()),
        });
        (progress, ending)
    };
    if let Err(e) = store.update(&job.id.to_string(), &progress, ending).await {
        tracing::warn!(job = %job.id, error = %e, "a backtest's row could not be written");
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
    let mut spec = spec;
    let (text, sim_from, venue_rules) = match &spec.source {
        Source::Bundled => (BUNDLED_BTC_DAILY.to_owned(), 0.0, None),
        Source::Binance { symbol, interval } => {
            job.state().phase = "download";
            let to = spec.to_ms.unwrap_or(now);
            let from = spec.from_ms.unwrap_or(to - SIX_MONTHS_MS);
            // The window starts at `from`; bars before it warm the
            // indicators (a chart always has history).
            spec.from_ms = Some(from);
            let warmup = crate::candles::interval_ms(interval).map_or(0, |step| WARMUP_BARS * step);
            let progress = |done: u64, total: u64| {
                job.set_progress(0.3 * done as f64 / total.max(1) as f64);
            };
            let fetched = klines
                .fetch(symbol, interval, from - warmup, to, now, &progress)
                .await
                .map_err(|e| {
                    job_error(
                        match e {
                            crate::candles::KlineError::RateLimited { .. } => {
                                "exchange_rate_limited"
                            }
                            _ => "candles_unavailable",
                        },
                        e.to_string(),
                    )
                })?;
            let rules = match klines.rules(symbol, now).await {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::info!(symbol, error = %e, "the venue's rules are not available; the bundled copy or the data's are used");
                    None
                }
            };
            (fetched.csv, 0.3, rules)
        }
    };
    job.state().phase = "simulation";
    let worker = job.clone();
    tokio::task::spawn_blocking(move || simulate(&worker, spec, &text, sim_from, venue_rules))
        .await
        .map_err(|e| job_error("internal", format!("the simulation stopped: {e}")))?
}

const SIX_MONTHS_MS: i64 = 182 * 86_400_000;
/// Bars downloaded before the window to warm the indicators.
const WARMUP_BARS: i64 = 1_000;

fn simulate(
    job: &Job,
    spec: Spec,
    text: &str,
    progress_from: f64,
    venue_rules: Option<tradingbot_core::exchange::instrument::InstrumentRules>,
) -> Result<serde_json::Value, JobError> {
    let (candles, data) =
        load_csv(text).map_err(|e| job_error("no_candles", format!("no usable candles: {e}")))?;
    let series = tradingbot_backtest::cli::warmed_window(&candles, spec.from_ms, spec.to_ms, false);
    if series.traded().len() < 2 {
        return Err(job_error(
            "empty_window",
            "fewer than two candles in the chosen window",
        ));
    }
    let symbol = match &spec.source {
        Source::Bundled => "BTCUSDT",
        Source::Binance { symbol, .. } => symbol.as_str(),
    };
    let chosen =
        tradingbot_backtest::rules::choose(venue_rules, Some(symbol), &candles, Default::default());
    let settings = Settings {
        rules: chosen.rules.clone(),
        ..spec.settings.clone()
    };
    let total = series.traded().len() as f64;
    let mut rule = spec.configured.rule();
    let outcome = run_observed(
        &series,
        |_, bar| rule.update(*bar),
        &settings,
        |done| job.set_progress(progress_from + (1.0 - progress_from) * done as f64 / total),
    );
    let report = tradingbot_backtest::report(series.traded(), settings.capital, &outcome);
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
    let first = series.traded().first().map_or(0, |c| c.time_ms);
    let last = series.traded().last().map_or(0, |c| c.time_ms);
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
            "bars": series.traded().len(),
            "warmup_bars": series.warmup(),
            "from": iso(first),
            "to": iso(last),
            "interval_ms": data.interval_ms,
            "missing_bars": data.missing_bars(),
            "gaps": data.gaps.iter().take(50).map(|(t, n)| serde_json::json!({ "after": iso(*t), "missing": n })).collect::<Vec<_>>(),
            "duplicates": data.duplicates,
            "skipped_rows": data.skipped.len(),
        },
        "instrument": {
            "source": chosen.origin.as_str(),
            "tick_size": chosen.rules.tick_size.normalize(),
            "step_size": chosen.rules.step_size.normalize(),
            "max_qty": chosen.rules.market_max_qty.normalize(),
            "description": chosen.to_string(),
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
