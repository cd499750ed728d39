//! Reading a policy directory only once it is quiet.
//!
//! A writer that truncates a file and then writes it leaves, for a moment, an empty or half
//! written file; one that copies several files leaves a moment where some are new and some
//! old. [`read_settled`] reads every file, waits, reads again, and returns only content that
//! stayed the same across the wait, so a build never sees a write in progress (a writer
//! slower than the quiet period still can; empty files are handled apart, by the loader).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::manifests;
use crate::policy::PolicyError;

/// Largest policy file read; a bigger one is an error, not a memory spike.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Longest wait for a directory to become quiet before this round gives up (the next
/// event or poll tries again).
const MAX_SETTLE_WAIT: Duration = Duration::from_secs(30);

/// The content of every manifest file of a directory, read at one time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    /// Path and bytes, or why the file could not be read (too large, unreadable), sorted
    /// by path: one unreadable file is that file's problem, not the directory's.
    pub entries: Vec<(PathBuf, Result<Vec<u8>, String>)>,
    /// Hash of the paths and contents.
    pub fingerprint: u64,
}

/// Read every manifest file under `dir` once.
///
/// # Errors
/// When the directory cannot be listed. A file that cannot be read, or is larger than
/// [`MAX_FILE_BYTES`], is an entry with its reason.
pub fn read(dir: &Path) -> Result<Files, PolicyError> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut entries = Vec::new();
    for path in manifests::list_files(dir)? {
        let content = read_file(&path);
        path.hash(&mut h);
        content.hash(&mut h);
        entries.push((path, content));
    }
    Ok(Files {
        entries,
        fingerprint: h.finish(),
    })
}

/// The bytes of one file, at most [`MAX_FILE_BYTES`].
fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    let size = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if size > MAX_FILE_BYTES {
        return Err(format!(
            "file of {size} bytes is larger than the limit of {MAX_FILE_BYTES}"
        ));
    }
    let mut bytes = Vec::new();
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    // The file may grow between the size check and the read.
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, MAX_FILE_BYTES + 1),
        &mut bytes,
    )
    .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "file grew past the limit of {MAX_FILE_BYTES} bytes"
        ));
    }
    Ok(bytes)
}

/// Read `dir` until two reads `quiet` apart agree, and return that content.
///
/// # Errors
/// As [`read`], and when the directory keeps changing for longer than 30 seconds.
pub fn read_settled(dir: &Path, quiet: Duration) -> Result<Files, PolicyError> {
    let started = Instant::now();
    let mut before = read(dir)?;
    loop {
        std::thread::sleep(quiet);
        let now = read(dir)?;
        if now.fingerprint == before.fingerprint && now.entries == before.entries {
            return Ok(now);
        }
        if started.elapsed() > MAX_SETTLE_WAIT {
            return Err(PolicyError::Parse {
                location: dir.display().to_string(),
                message: format!(
                    "still changing after {} s; the change waits for the next event or poll",
                    MAX_SETTLE_WAIT.as_secs()
                ),
            });
        }
        before = now;
    }
}

/// Hash of every manifest's path and content (0 when the directory cannot be read), to
/// skip reloads when nothing changed.
pub fn fingerprint(dir: &Path) -> u64 {
    read(dir).map(|f| f.fingerprint).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settled_read_waits_out_a_rewrite_in_progress() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("p.yaml");
        std::fs::write(&file, "a: 1\n").expect("write");
        let writer = {
            let file = file.clone();
            std::thread::spawn(move || {
                for i in 0..5 {
                    std::fs::write(&file, format!("a: {i}\n")).expect("write");
                    std::thread::sleep(Duration::from_millis(30));
                }
                std::fs::write(&file, "a: final\n").expect("write");
            })
        };
        // The writer changes the file every 30 ms for 150 ms: no two reads 120 ms apart
        // agree before it is done.
        let files = read_settled(dir.path(), Duration::from_millis(120)).expect("settles");
        writer.join().expect("writer");
        assert_eq!(files.entries[0].1, Ok(b"a: final\n".to_vec()));
    }

    #[test]
    fn oversized_files_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = std::fs::File::create(dir.path().join("big.yaml")).expect("create");
        f.set_len(MAX_FILE_BYTES + 1).expect("grow");
        std::fs::write(dir.path().join("small.yaml"), "a: 1\n").expect("write");
        let files = read(dir.path()).expect("the directory reads");
        let err = files.entries[0].1.clone().expect_err("too large");
        assert!(err.contains("larger than the limit"), "{err}");
        assert!(files.entries[1].1.is_ok(), "the other file reads");
    }
}
