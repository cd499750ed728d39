//! `serve --record DIR`: the reviews the webhook judges, written to size-bounded rotating
//! files of newline-delimited JSON ([`super::record::Record`]).
//!
//! The request path only decides whether to keep a review (a hash of its uid against
//! `--record-sample`; every denial is kept), copies its request and hands it to a bounded
//! queue with `try_send`. A writer thread of its own redacts, encodes and writes. The queue
//! is bounded in records (`queue`) and in the estimated bytes they hold ([`QUEUE_BYTES`]):
//! denials are always recorded, and a tenant sending large objects that are denied must
//! not make the queue hold gigabytes. A full queue, a record larger than the cap, or a
//! write that fails (a full disk) drops the
//! record and counts it in `portcullis_record_dropped_total{reason}`; nothing here can
//! slow or fail an admission.
//!
//! Files are `portcullis-<sequence>.ndjson` in DIR. The current file is closed once the
//! next record would take it past a tenth of `--record-max-bytes`, and the oldest files are
//! removed so that the directory's record files never exceed `--record-max-bytes` in total
//! (files left by an earlier run count, and go first).

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use serde_json::Value;

use super::record::{now_millis, sampled, Endpoint, Record, RecordedDecision};
use crate::metrics::Metrics;

/// Estimated bytes of the requests waiting for the writer at most.
pub const QUEUE_BYTES: usize = 64 << 20;

/// File name prefix and suffix of record files.
const PREFIX: &str = "portcullis-";
const SUFFIX: &str = ".ndjson";

/// How the recorder runs.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// Directory of the record files.
    pub dir: PathBuf,
    /// Share of allowed reviews kept (0 to 1); denials are always kept.
    pub sample: f64,
    /// Total size of the record files at most, in bytes.
    pub max_bytes: u64,
    /// Records waiting for the writer at most; more are dropped.
    pub queue: usize,
}

impl RecordOptions {
    /// Size at which a file is closed and the next one begun: a tenth of the total, so that
    /// removing the oldest file frees a tenth of the space (at least 4 KiB).
    pub fn file_bytes(&self) -> u64 {
        (self.max_bytes / 10).max(4096)
    }
}

/// Why a record was dropped (the `reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The queue to the writer was full: the writer is slower than traffic.
    QueueFull,
    /// The record alone is larger than `--record-max-bytes` allows.
    TooLarge,
    /// Writing failed (a full disk, a removed directory).
    WriteError,
    /// The record could not be encoded.
    Encode,
}

impl DropReason {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::TooLarge => "too_large",
            DropReason::WriteError => "write_error",
            DropReason::Encode => "encode",
        }
    }
}

struct Pending {
    /// Its estimated size, returned to the budget once written.
    bytes: usize,
    time: u64,
    endpoint: Endpoint,
    request: Value,
    decision: RecordedDecision,
}

/// The request path's handle on the recorder.
#[derive(Debug)]
pub struct Recorder {
    tx: SyncSender<Pending>,
    sample: f64,
    metrics: Arc<Metrics>,
    /// Estimated bytes queued, shared with the writer.
    queued: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pending")
    }
}

impl Recorder {
    /// Create the directory if needed and start the writer thread.
    ///
    /// # Errors
    /// The directory cannot be created or listed, or the thread cannot start.
    pub fn start(options: RecordOptions, metrics: Arc<Metrics>) -> std::io::Result<Recorder> {
        std::fs::create_dir_all(&options.dir)?;
        let files = Files::open(&options.dir, options.max_bytes, options.file_bytes())?;
        let (tx, rx) = sync_channel(options.queue.max(1));
        let writer_metrics = metrics.clone();
        let queued = Arc::new(AtomicUsize::new(0));
        let writer_queued = queued.clone();
        std::thread::Builder::new()
            .name("portcullis-recorder".into())
            .spawn(move || write_loop(rx, files, &writer_metrics, &writer_queued))?;
        Ok(Recorder {
            tx,
            sample: options.sample,
            metrics,
            queued,
        })
    }

    /// Whether a review is to be recorded: every denial, and the allowed ones in the sample.
    pub fn wants(&self, uid: &str, allowed: bool) -> bool {
        !allowed || sampled(uid, self.sample)
    }

    /// Queue a record for the writer, or drop and count it when the queue is full.
    pub fn offer(&self, endpoint: Endpoint, request: Value, decision: RecordedDecision) {
        let bytes = estimate(&request);
        let reserved = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                q.checked_add(bytes).filter(|n| *n <= QUEUE_BYTES)
            });
        if reserved.is_err() {
            dropped(&self.metrics, DropReason::QueueFull);
            return;
        }
        let pending = Pending {
            bytes,
            time: now_millis(),
            endpoint,
            request,
            decision,
        };
        let reason = match self.tx.try_send(pending) {
            Ok(()) => return,
            Err(TrySendError::Full(_)) => DropReason::QueueFull,
            // The writer thread is gone (it never stops while this handle lives, unless it
            // panicked): the record is lost like any other dropped one.
            Err(TrySendError::Disconnected(_)) => DropReason::WriteError,
        };
        self.queued.fetch_sub(bytes, Ordering::AcqRel);
        dropped(&self.metrics, reason);
    }
}

/// About the bytes a decoded request holds: its strings and keys, plus a word per value.
/// Walks the request once, like the copy the caller has just made of it.
fn estimate(value: &Value) -> usize {
    8 + match value {
        Value::String(s) => s.len(),
        Value::Array(items) => items.iter().map(estimate).sum(),
        Value::Object(map) => map.iter().map(|(k, v)| k.len() + estimate(v)).sum(),
        _ => 0,
    }
}

fn dropped(metrics: &Metrics, reason: DropReason) {
    metrics.preview.record_dropped(reason.as_str());
}

fn write_loop(rx: Receiver<Pending>, mut files: Files, metrics: &Metrics, queued: &AtomicUsize) {
    while let Ok(p) = rx.recv() {
        queued.fetch_sub(p.bytes, Ordering::AcqRel);
        let mut record = Record {
            time: p.time,
            endpoint: p.endpoint,
            request: p.request,
            decision: p.decision,
        };
        super::redact::redact(&mut record.request, &mut record.decision);
        let mut line = match serde_json::to_vec(&record) {
            Ok(l) => l,
            Err(_) => {
                dropped(metrics, DropReason::Encode);
                continue;
            }
        };
        drop(record);
        line.push(b'\n');
        match files.append(&line) {
            Ok(()) => {
                metrics.preview.records_written.inc();
            }
            Err(reason) => {
                if reason == DropReason::WriteError {
                    tracing::warn!("could not write a review record; dropped");
                }
                dropped(metrics, reason);
            }
        }
    }
}

/// The record files of a directory, oldest first, and the one being written.
struct Files {
    dir: PathBuf,
    max_bytes: u64,
    file_bytes: u64,
    /// (sequence, size) of every record file, oldest first; the last is the current one
    /// when `current` is open.
    files: VecDeque<(u64, u64)>,
    current: Option<File>,
    next: u64,
}

fn sequence_of(name: &str) -> Option<u64> {
    name.strip_prefix(PREFIX)?
        .strip_suffix(SUFFIX)?
        .parse()
        .ok()
}

fn file_name(seq: u64) -> String {
    format!("{PREFIX}{seq:020}{SUFFIX}")
}

impl Files {
    fn open(dir: &Path, max_bytes: u64, file_bytes: u64) -> std::io::Result<Files> {
        let mut files = Files {
            dir: dir.to_path_buf(),
            max_bytes,
            file_bytes,
            files: VecDeque::new(),
            current: None,
            next: 0,
        };
        files.rescan()?;
        Ok(files)
    }

    /// Read the directory again: at start, and after a write error left sizes unknown.
    fn rescan(&mut self) -> std::io::Result<()> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let Some(seq) = entry.file_name().to_str().and_then(sequence_of) else {
                continue;
            };
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            found.push((seq, size));
        }
        found.sort_unstable();
        self.next = found.last().map_or(0, |(s, _)| s.saturating_add(1));
        self.files = found.into();
        self.current = None;
        Ok(())
    }

    fn total(&self) -> u64 {
        self.files.iter().map(|(_, size)| size).sum()
    }

    /// Append one line: begin a new file when the current one would pass its size, remove
    /// the oldest files until the line fits under the total, write.
    fn append(&mut self, line: &[u8]) -> Result<(), DropReason> {
        let len = line.len() as u64;
        if len > self.max_bytes {
            return Err(DropReason::TooLarge);
        }
        let current_size = self.files.back().map_or(0, |(_, s)| *s);
        if self.current.is_some() && current_size > 0 && current_size + len > self.file_bytes {
            self.current = None;
        }
        if self.current.is_none() {
            let seq = self.next;
            self.next = self.next.saturating_add(1);
            let path = self.dir.join(file_name(seq));
            match File::options().create_new(true).append(true).open(&path) {
                Ok(f) => {
                    self.current = Some(f);
                    self.files.push_back((seq, 0));
                }
                Err(_) => {
                    let _ = self.rescan();
                    return Err(DropReason::WriteError);
                }
            }
        }
        // Remove the oldest files (never the current one) until the line fits.
        while self.total() + len > self.max_bytes && self.files.len() > 1 {
            if let Some((seq, _)) = self.files.pop_front() {
                let _ = std::fs::remove_file(self.dir.join(file_name(seq)));
            }
        }
        if self.total() + len > self.max_bytes {
            // Only the current file is left and it is nearly full: start afresh.
            self.current = None;
            if let Some((seq, _)) = self.files.pop_back() {
                let _ = std::fs::remove_file(self.dir.join(file_name(seq)));
            }
            return self.append(line);
        }
        let Some(file) = self.current.as_mut() else {
            return Err(DropReason::WriteError);
        };
        match file.write_all(line) {
            Ok(()) => {
                if let Some((_, size)) = self.files.back_mut() {
                    *size += len;
                }
                Ok(())
            }
            Err(_) => {
                // A part of the line may be on disk: the file's size is unknown now, and a
                // new file starts with the next record (replay skips the broken line).
                let _ = self.rescan();
                Err(DropReason::WriteError)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(dir: &Path) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = std::fs::read_dir(dir)
            .expect("dir")
            .map(|e| {
                let e = e.expect("entry");
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.metadata().expect("meta").len(),
                )
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn rotates_at_a_tenth_and_keeps_the_total_under_the_cap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut files = Files::open(dir.path(), 100_000, 10_000).expect("open");
        let line = [b'x'; 999]
            .iter()
            .copied()
            .chain([b'\n'])
            .collect::<Vec<u8>>();
        for _ in 0..1_000 {
            files.append(&line).expect("append");
            let total: u64 = listing(dir.path()).iter().map(|(_, s)| s).sum();
            assert!(total <= 100_000, "total {total} over the cap");
        }
        let now = listing(dir.path());
        assert!(now.iter().all(|(_, s)| *s <= 10_000), "{now:?}");
        assert!(now.len() >= 9, "{now:?}");
        // The oldest went: a thousand lines written, the last ~100 kept, in order.
        let first = sequence_of(&now[0].0).expect("name");
        assert!(first >= 89, "{now:?}");
        assert_eq!(now.last().map(|(_, s)| *s), Some(10_000));
    }

    #[test]
    fn a_restart_continues_the_sequence_and_counts_old_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(file_name(7)), vec![b'a'; 9_000]).expect("old");
        std::fs::write(dir.path().join("unrelated.txt"), b"keep me").expect("other");
        let mut files = Files::open(dir.path(), 10_000, 5_000).expect("open");
        files.append(&[b'b'; 2_000]).expect("append");
        let now = listing(dir.path());
        assert_eq!(
            now,
            vec![(file_name(8), 2_000), ("unrelated.txt".into(), 7)],
            "the old file went to make room"
        );
    }

    #[test]
    fn a_record_over_the_cap_is_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut files = Files::open(dir.path(), 4_096, 4_096).expect("open");
        assert_eq!(files.append(&[b'x'; 5_000]), Err(DropReason::TooLarge));
        files.append(&[b'x'; 4_000]).expect("fits alone");
        files.append(&[b'y'; 4_000]).expect("replaces the first");
        let now = listing(dir.path());
        assert_eq!(now.len(), 1, "{now:?}");
        assert_eq!(
            std::fs::read(dir.path().join(&now[0].0)).expect("read"),
            vec![b'y'; 4_000]
        );
    }

    #[test]
    fn a_full_disk_drops_the_record_and_the_next_one_starts_a_new_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut files = Files::open(dir.path(), 100_000, 10_000).expect("open");
        files.append(b"one\n").expect("append");
        // The current file's device is full: /dev/full fails every write with ENOSPC.
        files.current = Some(
            File::options()
                .write(true)
                .open("/dev/full")
                .expect("/dev/full (Linux)"),
        );
        assert_eq!(files.append(b"two\n"), Err(DropReason::WriteError));
        files
            .append(b"three\n")
            .expect("the next record goes to a new file");
        let now = listing(dir.path());
        assert_eq!(now.len(), 2, "{now:?}");
        assert_eq!(
            std::fs::read(dir.path().join(&now[0].0)).expect("read"),
            b"one\n"
        );
        assert_eq!(
            std::fs::read(dir.path().join(&now[1].0)).expect("read"),
            b"three\n"
        );
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_blocking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let metrics = Arc::new(Metrics::new());
        let (tx, _rx) = sync_channel(2);
        // No writer drains this queue: the third offer finds it full.
        let recorder = Recorder {
            tx,
            sample: 1.0,
            metrics: metrics.clone(),
            queued: Arc::new(AtomicUsize::new(0)),
        };
        for _ in 0..5 {
            recorder.offer(Endpoint::Validate, Value::Null, RecordedDecision::default());
        }
        let text = metrics.encode();
        assert!(
            text.contains("portcullis_record_dropped_total{reason=\"queue_full\"} 3"),
            "{text}"
        );
        assert_eq!(
            recorder.queued.load(Ordering::Acquire),
            16,
            "two queued records of 8"
        );

        // Room for many records, not for their bytes: a 40 MiB request fits once.
        let (tx, _rx) = sync_channel(100);
        let recorder = Recorder {
            tx,
            sample: 1.0,
            metrics: metrics.clone(),
            queued: Arc::new(AtomicUsize::new(0)),
        };
        let big = Value::String("x".repeat(40 << 20));
        recorder.offer(Endpoint::Validate, big.clone(), RecordedDecision::default());
        recorder.offer(Endpoint::Validate, big, RecordedDecision::default());
        let text = metrics.encode();
        assert!(
            text.contains("portcullis_record_dropped_total{reason=\"queue_full\"} 4"),
            "{text}"
        );
        assert!(recorder.queued.load(Ordering::Acquire) <= QUEUE_BYTES);
        drop(dir);
    }

    #[test]
    fn the_writer_redacts_and_counts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let metrics = Arc::new(Metrics::new());
        let recorder = Recorder::start(
            RecordOptions {
                dir: dir.path().join("records"),
                sample: 0.0,
                max_bytes: 1 << 20,
                queue: 16,
            },
            metrics.clone(),
        )
        .expect("start");
        assert!(recorder.wants("any", false), "denials always");
        assert!(
            !recorder.wants("any", true),
            "sample 0 keeps no allowed review"
        );
        let request = serde_json::json!({"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Secret"},
            "object": {"apiVersion": "v1", "kind": "Secret", "data": {"k": "c2VjcmV0LXZhbHVl"}}});
        recorder.offer(Endpoint::Validate, request, RecordedDecision::default());
        let written = |m: &Metrics| m.encode().contains("portcullis_records_written_total 1");
        let start = std::time::Instant::now();
        while !written(&metrics) && start.elapsed() < std::time::Duration::from_secs(10) {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(written(&metrics), "{}", metrics.encode());
        assert_eq!(
            recorder.queued.load(Ordering::Acquire),
            0,
            "the budget is returned"
        );
        let files = listing(&dir.path().join("records"));
        assert_eq!(files.len(), 1);
        let text =
            std::fs::read_to_string(dir.path().join("records").join(&files[0].0)).expect("read");
        assert!(!text.contains("c2VjcmV0LXZhbHVl"), "{text}");
        let record: Record = serde_json::from_str(text.trim_end()).expect("one record");
        assert_eq!(
            record.request["object"]["data"]["k"],
            super::super::redact::REDACTED
        );
    }
}
