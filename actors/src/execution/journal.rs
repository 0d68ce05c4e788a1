//! The write-ahead journal of trading records.
//!
//! The database is written behind the hot path, in batches; a process
//! killed between an order leaving and its batch committing would lose the
//! record of an order the venue holds. So every durable event (signal,
//! order, position, risk state, risk alert) is appended to a local file —
//! one `write(2)`, no fsync: it survives the process being killed, which
//! is the failure that matters here — *before* anything it describes is
//! sent anywhere. The writer commits the events' sequence number in the
//! same transaction as the rows, so at the next start exactly the events
//! after that checkpoint are written again (the writes are upserts), and
//! files whose events are all committed are deleted as it goes.

use super::bus::Lease;
use super::events::{Event, OrderRecord, PositionRecord, RiskAlert, SignalRecord};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tradingbot_core::risk::RiskLedger;

/// Events per file before a new one starts (so committed ones can go).
const SEGMENT_EVENTS: u64 = 20_000;
const INSTANCE_FILE: &str = "instance";
/// Events the database refused: kept, never dropped, for the operator.
pub const REJECTED_FILE: &str = "rejected.jsonl";

/// A journal line's event, as read back. Lines are the durable `Event`s'
/// own serialization; lines written before order and position changes
/// were facts hold a bare `order` or `position` record: still read, as the
/// upsert of its row they always were.
#[derive(Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
enum Durable {
    Signal(SignalRecord),
    OrderPlaced(OrderRecord),
    OrderFound(OrderRecord),
    OrderUpdated(OrderRecord),
    OrderFilled(OrderRecord),
    OrderRejected(OrderRecord),
    PositionOpened(PositionRecord),
    PositionProtected(PositionRecord),
    PositionReduced(PositionRecord),
    PositionClosed(PositionRecord),
    RiskState {
        user_id: i64,
        ledger: RiskLedger,
    },
    RiskAlert(RiskAlert),
    /// Before facts (journal format 1).
    Order(OrderRecord),
    /// Before facts (journal format 1).
    Position(PositionRecord),
}

impl From<Durable> for Event {
    fn from(d: Durable) -> Self {
        match d {
            Durable::Signal(s) => Event::Signal(s),
            Durable::OrderPlaced(o) => Event::OrderPlaced(o),
            Durable::OrderFound(o) => Event::OrderFound(o),
            Durable::OrderUpdated(o) | Durable::Order(o) => Event::OrderUpdated(o),
            Durable::OrderFilled(o) => Event::OrderFilled(o),
            Durable::OrderRejected(o) => Event::OrderRejected(o),
            Durable::PositionOpened(p) => Event::PositionOpened(p),
            Durable::PositionProtected(p) => Event::PositionProtected(p),
            Durable::PositionReduced(p) => Event::PositionReduced(p),
            Durable::PositionClosed(p) => Event::PositionClosed(p),
            Durable::Position(p) if p.status == crate::store::enums::PositionStatus::Closed => {
                Event::PositionClosed(p)
            }
            Durable::Position(p) => Event::PositionProtected(p),
            Durable::RiskState { user_id, ledger } => Event::RiskState { user_id, ledger },
            Durable::RiskAlert(a) => Event::RiskAlert(a),
        }
    }
}

/// Whether the database writer keeps this kind of event.
pub fn is_durable(event: &Event) -> bool {
    matches!(
        event,
        Event::Signal(_)
            | Event::OrderPlaced(_)
            | Event::OrderFound(_)
            | Event::OrderUpdated(_)
            | Event::OrderFilled(_)
            | Event::OrderRejected(_)
            | Event::PositionOpened(_)
            | Event::PositionProtected(_)
            | Event::PositionReduced(_)
            | Event::PositionClosed(_)
            | Event::RiskState { .. }
            | Event::RiskAlert(_)
    )
}

#[derive(Serialize)]
struct LineOut<'a> {
    seq: u64,
    event: &'a Event,
    #[serde(skip_serializing_if = "Option::is_none")]
    lease: Lease,
}

#[derive(Deserialize)]
struct LineIn {
    seq: u64,
    event: Durable,
    /// Lines written before leases were journaled have none: a lone
    /// instance's, written as they were.
    #[serde(default)]
    lease: Lease,
}

struct Writer {
    file: File,
    next_seq: u64,
    in_segment: u64,
    /// First sequence number of each file, oldest first; the last is open.
    segments: Vec<(u64, PathBuf)>,
}

pub struct Journal {
    dir: PathBuf,
    key: String,
    writer: Mutex<Writer>,
    /// Held while the journal is open: one process per data directory.
    _lock: Option<File>,
    id: String,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("dir", &self.dir).finish()
    }
}

/// An event found in the journal at start-up.
pub struct Recovered {
    pub seq: u64,
    pub event: Event,
    /// The lease it was made under: written back with the same fencing.
    pub lease: Lease,
}

/// The journal as found in `dir`: its events in order, and the files that
/// hold them (deleted once written).
pub struct Found {
    /// This data directory's instance id (kept across restarts).
    pub id: String,
    pub key: String,
    pub events: Vec<Recovered>,
    pub files: Vec<PathBuf>,
    pub last_seq: u64,
}

fn segment_path(dir: &Path, start: u64) -> PathBuf {
    dir.join(format!("{start:020}.jsonl"))
}

/// Takes the journal directory for this process alone: a second process
/// on the same data directory would write its own records into ours and
/// share our instance id.
pub fn lock(dir: &Path) -> io::Result<File> {
    fs::create_dir_all(dir)?;
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            format!(
                "another process is using the data directory {} (its journal is locked)",
                dir.display()
            ),
        )),
        Err(fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Reads what an earlier run left in `dir` (creating it when missing).
pub fn read(dir: &Path) -> io::Result<Found> {
    fs::create_dir_all(dir)?;
    let id_path = dir.join(INSTANCE_FILE);
    let id = match fs::read_to_string(&id_path) {
        Ok(s) if !s.trim().is_empty() => s.trim().to_owned(),
        _ => {
            let id = uuid::Uuid::new_v4().simple().to_string();
            fs::write(&id_path, &id)?;
            id
        }
    };
    let mut files: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "jsonl")
                && p.file_name().is_some_and(|n| n != REJECTED_FILE)
        })
        .collect();
    files.sort();
    let mut events = Vec::new();
    let mut last_seq = 0;
    for (i, path) in files.iter().enumerate() {
        let last_file = i + 1 == files.len();
        let lines: Vec<String> = BufReader::new(File::open(path)?)
            .lines()
            .collect::<Result<_, _>>()?;
        let n = lines.len();
        for (j, line) in lines.into_iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<LineIn>(&line) {
                Ok(l) => {
                    last_seq = last_seq.max(l.seq);
                    events.push(Recovered {
                        seq: l.seq,
                        event: l.event.into(),
                        lease: l.lease,
                    });
                }
                // The last line of the last file, cut by the kill: nothing
                // it describes was sent (the send follows the write).
                Err(_) if last_file && j + 1 == n => {
                    tracing::warn!(path = %path.display(), "the journal's last line was cut short; ignored");
                }
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "unreadable journal line kept aside");
                    keep_rejected(dir, &line);
                }
            }
        }
    }
    Ok(Found {
        key: format!("journal:{id}"),
        id,
        events,
        files,
        last_seq,
    })
}

/// Appends a line the database refused (or the journal could not read) to
/// the rejected file: never dropped, there for the operator.
pub fn keep_rejected(dir: &Path, line: &str) {
    let written = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(REJECTED_FILE))
        .and_then(|mut f| writeln!(f, "{line}"));
    if let Err(e) = written {
        tracing::error!(error = %e, "cannot keep a rejected record aside");
    }
}

impl Journal {
    /// Starts a journal in `dir` whose numbers follow `after`.
    pub fn start(dir: &Path, key: String, after: u64) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let next_seq = after + 1;
        let path = segment_path(dir, next_seq);
        // A file of that name can only be an earlier run's segment that
        // holds no whole event (it died before its first write ended, or
        // wrote nothing); what it held was read before this. Started
        // afresh, so a torn line cannot glue onto this run's first event.
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)?;
        Ok(Self {
            dir: dir.to_owned(),
            key,
            _lock: None,
            id: String::new(),
            writer: Mutex::new(Writer {
                file,
                next_seq,
                in_segment: 0,
                segments: vec![(next_seq, path)],
            }),
        })
    }

    /// Names the instance whose journal this is.
    pub fn with_id(mut self, id: String) -> Self {
        self.id = id;
        self
    }

    /// The instance id of this data directory.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Holds `lock` (the data directory's) as long as the journal lives.
    pub fn hold(mut self, lock: File) -> Self {
        self._lock = Some(lock);
        self
    }

    /// The key of this journal's checkpoint in `system_settings`.
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `event` and hands its sequence number to `deliver` while the
    /// journal is still held, so deliveries happen in journal order. Events
    /// the database does not keep are delivered with number 0, unwritten.
    pub fn append(&self, event: &Event, lease: Lease, deliver: impl FnOnce(u64)) {
        if !is_durable(event) {
            deliver(0);
            return;
        }
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let seq = w.next_seq;
        let mut line = match serde_json::to_vec(&LineOut { seq, event, lease }) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "an event could not be journaled");
                deliver(0);
                return;
            }
        };
        line.push(b'\n');
        if let Err(e) = w.file.write_all(&line) {
            metrics::counter!("journal_write_failures_total").increment(1);
            tracing::error!(error = %e, "the journal could not be written; the record relies on the database writer alone");
        }
        w.next_seq += 1;
        w.in_segment += 1;
        if w.in_segment >= SEGMENT_EVENTS {
            self.rotate(&mut w);
        }
        deliver(seq);
    }

    fn rotate(&self, w: &mut Writer) {
        let start = w.next_seq;
        let path = segment_path(&self.dir, start);
        match OpenOptions::new().create(true).append(true).open(&path) {
            Ok(f) => {
                w.file = f;
                w.in_segment = 0;
                w.segments.push((start, path));
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot start a new journal file; appending to the old one")
            }
        }
    }

    /// Every event up to `seq` is in the database: files holding only such
    /// events go.
    /// Deletes an earlier run's files once their events are stored —
    /// except a file this journal writes to now (an earlier run that
    /// journaled nothing left an empty file under the very name this run's
    /// first segment takes; deleting it would unlink what this run writes).
    pub fn retire(&self, files: Vec<PathBuf>) {
        let open: Vec<PathBuf> = {
            let w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
            w.segments.iter().map(|(_, p)| p.clone()).collect()
        };
        for f in files.into_iter().filter(|f| !open.contains(f)) {
            if let Err(e) = fs::remove_file(&f) {
                tracing::warn!(path = %f.display(), error = %e, "cannot delete a recovered journal file");
            }
        }
    }

    pub fn committed(&self, seq: u64) {
        let done: Vec<PathBuf> = {
            let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
            let mut done = Vec::new();
            while w.segments.len() > 1 && w.segments[1].0 <= seq + 1 {
                done.push(w.segments.remove(0).1);
            }
            done
        };
        for path in done {
            if let Err(e) = fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), error = %e, "cannot delete a written journal file");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::events::tests::order;
    use crate::store::enums::SignalOutcome;

    fn signal(id: i64) -> Event {
        Event::Signal(SignalRecord {
            id,
            user_id: Some(1),
            strategy_id: Some(2),
            signal_key: format!("k{id}"),
            action: Some("long".into()),
            symbol: Some("BTCUSDT".into()),
            price: Some(rust_decimal::Decimal::new(4300012, 2)),
            outcome: SignalOutcome::Accepted,
            reason: None,
            latency_us: 5,
            source_ip: None,
            received_at: chrono::Utc::now(),
        })
    }

    #[test]
    fn events_come_back_in_order_after_a_kill_and_a_torn_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let found = read(dir.path()).unwrap();
        assert!(found.events.is_empty());
        let j = Journal::start(dir.path(), found.key.clone(), 41).unwrap();
        let mut seqs = Vec::new();
        for id in 1..=3 {
            j.append(&signal(id), None, |s| seqs.push(s));
        }
        j.append(
            &Event::DayEnded {
                date: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            },
            None,
            |s| seqs.push(s),
        );
        assert_eq!(
            seqs,
            vec![42, 43, 44, 0],
            "live-only events are not journaled"
        );
        drop(j);
        // The process died mid-write.
        let file = segment_path(dir.path(), 42);
        let mut f = OpenOptions::new().append(true).open(&file).unwrap();
        f.write_all(b"{\"seq\":45,\"event\":{\"type\":\"sig")
            .unwrap();
        let again = read(dir.path()).unwrap();
        assert_eq!(again.key, found.key, "the instance keeps its key");
        assert_eq!(again.last_seq, 44);
        let ids: Vec<(u64, i64)> = again
            .events
            .iter()
            .map(|r| match &r.event {
                Event::Signal(s) => (r.seq, s.id),
                _ => panic!("a signal"),
            })
            .collect();
        assert_eq!(ids, vec![(42, 1), (43, 2), (44, 3)]);
        match &again.events[0].event {
            Event::Signal(s) => {
                assert_eq!(s.price, Some(rust_decimal::Decimal::new(4300012, 2)));
            }
            _ => unreachable!(),
        }
    }

    #[test]
    fn facts_come_back_as_the_facts_they_were_and_format_one_lines_as_upserts() {
        use crate::store::enums::OrderStatus;
        let dir = tempfile::tempdir().unwrap();
        let found = read(dir.path()).unwrap();
        let j = Journal::start(dir.path(), found.key.clone(), 0).unwrap();
        j.append(
            &Event::OrderPlaced(order(OrderStatus::Pending)),
            None,
            |_| {},
        );
        j.append(
            &Event::OrderFilled(order(OrderStatus::Filled)),
            None,
            |_| {},
        );
        drop(j);
        // A line the journal wrote before order changes were facts.
        let legacy = serde_json::json!({
            "seq": 3,
            "event": { "type": "order", "data": order(OrderStatus::Filled) },
        });
        let mut f = OpenOptions::new()
            .append(true)
            .open(segment_path(dir.path(), 1))
            .unwrap();
        f.write_all(format!("{legacy}\n").as_bytes()).unwrap();
        drop(f);
        let kinds: Vec<&str> = read(dir.path())
            .unwrap()
            .events
            .iter()
            .map(|r| match &r.event {
                Event::OrderPlaced(_) => "placed",
                Event::OrderFilled(o) => {
                    assert_eq!(o.filled_qty, rust_decimal::Decimal::new(5, 3));
                    "filled"
                }
                Event::OrderUpdated(o) => {
                    assert_eq!(o.status, OrderStatus::Filled);
                    "updated"
                }
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, vec!["placed", "filled", "updated"]);
    }

    #[test]
    fn an_event_comes_back_with_the_lease_it_was_made_under() {
        let dir = tempfile::tempdir().unwrap();
        let found = read(dir.path()).unwrap();
        let j = Journal::start(dir.path(), found.key.clone(), 0).unwrap();
        j.append(&signal(1), Some(7), |_| {});
        j.append(&signal(2), Some(0), |_| {});
        j.append(&signal(3), None, |_| {});
        drop(j);
        let leases: Vec<Lease> = read(dir.path())
            .unwrap()
            .events
            .iter()
            .map(|r| r.lease)
            .collect();
        assert_eq!(leases, vec![Some(7), Some(0), None]);
    }

    #[test]
    fn a_run_after_one_that_journaled_nothing_keeps_its_file() {
        let dir = tempfile::tempdir().unwrap();
        // A run killed before its first event was whole: its segment holds
        // a torn line and nothing else.
        let first = Journal::start(dir.path(), "journal:t".into(), 7).unwrap();
        drop(first);
        fs::write(segment_path(dir.path(), 8), b"{\"seq\":8,\"eve").unwrap();
        // The next run recovers and starts under the same name.
        let found = read(dir.path()).unwrap();
        assert!(found.events.is_empty());
        let j = Journal::start(dir.path(), found.key.clone(), found.last_seq.max(7)).unwrap();
        assert_eq!(found.files, vec![segment_path(dir.path(), 8)]);
        j.retire(found.files);
        let mut seqs = Vec::new();
        j.append(&signal(1), None, |s| seqs.push(s));
        j.append(&signal(2), None, |s| seqs.push(s));
        assert_eq!(seqs, vec![8, 9]);
        drop(j);
        // Killed again: what it wrote is there, whole.
        let again = read(dir.path()).unwrap();
        let got: Vec<u64> = again.events.iter().map(|r| r.seq).collect();
        assert_eq!(got, vec![8, 9], "the second run's events survive it");
    }

    #[test]
    fn committed_files_are_deleted_and_the_open_one_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::start(dir.path(), "journal:t".into(), 0).unwrap();
        let mut last = 0;
        for id in 0..(SEGMENT_EVENTS * 2 + 10) {
            j.append(&signal(id as i64), None, |s| last = s);
        }
        let count = || {
            fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .path()
                        .extension()
                        .is_some_and(|x| x == "jsonl")
                })
                .count()
        };
        assert_eq!(count(), 3);
        j.committed(SEGMENT_EVENTS - 1);
        assert_eq!(count(), 3, "the first file holds one event not yet written");
        j.committed(SEGMENT_EVENTS);
        assert_eq!(count(), 2);
        j.committed(last);
        assert_eq!(count(), 1, "the open file stays");
    }
}
