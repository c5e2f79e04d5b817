//! The journal file: every event appended to `journal.jsonl` as it happens (issue 11, defect
//! 5: a journal written only at exit took 7–11 s to write and was lost whole to a SIGKILL).
//!
//! Recording an event only copies its line into a buffer in memory; a writer thread of its
//! own moves the buffer to the file at most [`FLUSH_INTERVAL`] after the first line of a
//! batch arrived (sooner when [`HIGH_WATER`] bytes wait or a flush is asked for). Every
//! `write` lands in the kernel's page cache, so a killed process loses at most the last
//! interval. The file is rotated by size: past [`Rotation::max_file_bytes`] it becomes
//! `journal.1.jsonl` (the older ones move up by one) and a fresh `journal.jsonl` starts; at
//! most [`Rotation::keep`] rotated files are kept, the oldest deleted.
//!
//! If the disk cannot keep up and [`MAX_PENDING`] bytes wait, recording waits for the writer
//! (back-pressure) rather than grow memory without bound or lose events from the file.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The longest an event waits in memory before it is written (the goal: every event up to
/// the last 100 ms is in the file after a SIGKILL; the margin is for the write itself).
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(50);
/// Bytes waiting that make the writer write at once.
pub const HIGH_WATER: usize = 1 << 20;
/// How long recording waits for a writer that makes no progress before giving up on the file.
const STALLED: Duration = Duration::from_secs(5);
/// How long dropping a stream waits for its writer to finish.
const CLOSE_WAIT: Duration = Duration::from_secs(1);
/// Bytes waiting past which recording waits for the writer.
pub const MAX_PENDING: usize = 16 << 20;

/// How big the journal files may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// One file's size limit in bytes (a single longer line still goes whole into a file).
    pub max_file_bytes: u64,
    /// Rotated files kept beside the current one (`journal.1.jsonl` … `journal.<keep>.jsonl`).
    pub keep: usize,
}

/// memsim's default: 64 MiB a file, 4 rotated files kept, so at most 320 MiB on disk.
pub const ROTATION: Rotation = Rotation { max_file_bytes: 64 << 20, keep: 4 };

/// The name of the `n`th rotated file of `path`: `journal.jsonl` → `journal.<n>.jsonl`.
pub fn rotated(path: &Path, n: usize) -> PathBuf {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    match path.extension() {
        Some(ext) => path.with_file_name(format!("{stem}.{n}.{}", ext.to_string_lossy())),
        None => path.with_file_name(format!("{stem}.{n}")),
    }
}

/// The journal files of `path`, oldest first: the rotated ones that exist, then `path`.
pub fn files_oldest_first(path: &Path, rotation: Rotation) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = (1..=rotation.keep).rev().map(|n| rotated(path, n)).filter(|p| p.exists()).collect();
    out.push(path.to_path_buf());
    out
}

#[derive(Debug, Default)]
struct Buf {
    pending: Vec<u8>,
    /// Bytes handed to `pending` so far, and bytes the writer has written (or given up on).
    queued: u64,
    written: u64,
    urgent: bool,
    closing: bool,
    /// The first write error; the writer then discards what comes (the window still holds it).
    error: Option<String>,
    /// The writer thread wrote its last batch and returns.
    finished: bool,
}

#[derive(Debug, Default)]
struct Shared {
    buf: Mutex<Buf>,
    /// Wakes the writer.
    wake: Condvar,
    /// Wakes those waiting for the writer (flush, back-pressure).
    done: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Buf> {
        self.buf.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// An open journal file and its writer thread. Dropping it writes what waits and stops.
#[derive(Debug)]
pub struct Stream {
    path: PathBuf,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Stream {
    /// Start `path` afresh (and remove rotated files a previous journal there left).
    pub fn create(path: &Path, rotation: Rotation) -> std::io::Result<Stream> {
        for n in 1..=rotation.keep {
            match std::fs::remove_file(rotated(path, n)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        let file = File::create(path)?;
        let shared = Arc::new(Shared::default());
        let mut writer = Writer { path: path.to_path_buf(), file, size: 0, rotation };
        let s = shared.clone();
        let thread = std::thread::Builder::new().name("memsim-journal".into()).spawn(move || writer.run(&s))?;
        Ok(Stream { path: path.to_path_buf(), shared, thread: Some(thread) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queue one line (a newline is added).
    ///
    /// Back-pressure: past [`MAX_PENDING`] waiting bytes this waits for the writer. Its caller
    /// holds the journal's state lock (so that the file keeps `seq` order), and other recorders
    /// wait for it in turn; the writer thread takes no lock but this stream's own, so it always
    /// progresses. A writer that makes no progress for [`STALLED`] (a stalled disk) is given
    /// up on, as on a write error: the file ends there, the window keeps the events, and no
    /// recorder (nor `close_file`, which needs the state lock) waits on it again.
    pub fn push(&self, line: &str) {
        let mut b = self.shared.lock();
        let mut deadline = Instant::now() + STALLED;
        while b.pending.len() >= MAX_PENDING && b.error.is_none() && !b.closing {
            b.urgent = true;
            self.shared.wake.notify_one();
            let now = Instant::now();
            if now >= deadline {
                b.error = Some(format!("the journal writer made no progress for {STALLED:?}; the file stops here"));
                // Given up on: counted as written, so that a flush does not wait for them.
                b.written += b.pending.len() as u64;
                b.pending.clear();
                break;
            }
            let written = b.written;
            b = self.shared.done.wait_timeout(b, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
            if b.written > written {
                deadline = Instant::now() + STALLED;
            }
        }
        let was_empty = b.pending.is_empty();
        b.pending.extend_from_slice(line.as_bytes());
        b.pending.push(b'\n');
        b.queued += line.len() as u64 + 1;
        if b.pending.len() >= HIGH_WATER && !b.urgent {
            b.urgent = true;
            self.shared.wake.notify_one();
        } else if was_empty {
            // The writer sleeps until a batch begins; then it gathers for FLUSH_INTERVAL.
            self.shared.wake.notify_one();
        }
    }

    /// A handle that waits for the writer without holding on to the stream.
    pub fn flusher(&self) -> Flusher {
        Flusher { path: self.path.clone(), shared: self.shared.clone() }
    }

    /// Wait (at most `timeout`) until every line queued so far is written; the first write
    /// error, if there was one.
    pub fn flush(&self, timeout: Duration) -> std::io::Result<()> {
        self.flusher().flush(timeout)
    }
}

/// Waits for a stream's writer (see [`Stream::flusher`]).
#[derive(Debug)]
pub struct Flusher {
    path: PathBuf,
    shared: Arc<Shared>,
}

impl Flusher {
    /// Wait (at most `timeout`) until every line queued so far is written; the first write
    /// error, if there was one.
    pub fn flush(&self, timeout: Duration) -> std::io::Result<()> {
        let deadline = Instant::now() + timeout;
        let mut b = self.shared.lock();
        let target = b.queued;
        b.urgent = true;
        self.shared.wake.notify_one();
        while b.written < target {
            let now = Instant::now();
            if now >= deadline {
                return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, format!("the journal writer did not finish within {timeout:?}")));
            }
            b = self.shared.done.wait_timeout(b, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
        match &b.error {
            Some(e) => Err(std::io::Error::other(format!("{}: {e}", self.path.display()))),
            None => Ok(()),
        }
    }
}

impl Drop for Stream {
    /// Waits at most [`CLOSE_WAIT`] for the writer to write what waits; a writer stuck on a
    /// stalled disk is left to finish (or not) on its own, so that stopping a world stays
    /// bounded (SIGTERM promises about a second).
    fn drop(&mut self) {
        let deadline = Instant::now() + CLOSE_WAIT;
        let mut b = self.shared.lock();
        b.closing = true;
        self.shared.wake.notify_one();
        while !b.finished {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            b = self.shared.done.wait_timeout(b, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
        drop(b);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Writer {
    path: PathBuf,
    file: File,
    size: u64,
    rotation: Rotation,
}

impl Writer {
    fn run(&mut self, shared: &Shared) {
        let mut spare = Vec::new();
        let mut b = shared.lock();
        loop {
            while b.pending.is_empty() && !b.closing {
                b = shared.wake.wait(b).unwrap_or_else(|p| p.into_inner());
            }
            // Gather a batch: one write per interval, not one per event.
            let deadline = Instant::now() + FLUSH_INTERVAL;
            while !b.urgent && !b.closing {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                b = shared.wake.wait_timeout(b, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
            }
            std::mem::swap(&mut b.pending, &mut spare);
            b.urgent = false;
            let closing = b.closing;
            let failed = b.error.is_some();
            drop(b);
            let result = if failed { Ok(()) } else { self.write(&spare) };
            let n = spare.len() as u64;
            spare.clear();
            if spare.capacity() > 4 * HIGH_WATER {
                spare.shrink_to(HIGH_WATER);
            }
            b = shared.lock();
            b.written += n;
            if let Err(e) = result {
                b.error.get_or_insert(e.to_string());
            }
            if closing && b.pending.is_empty() {
                b.finished = true;
                shared.done.notify_all();
                return;
            }
            shared.done.notify_all();
        }
    }

    /// Write whole lines, rotating when the next line would pass the size limit.
    fn write(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        while !bytes.is_empty() {
            let room = self.rotation.max_file_bytes.saturating_sub(self.size);
            if bytes.len() as u64 <= room {
                return self.put(bytes);
            }
            let fits = bytes[..room as usize].iter().rposition(|b| *b == b'\n').map(|i| i + 1);
            let cut = match fits {
                Some(cut) => cut,
                // A line longer than a whole file goes whole into a fresh one.
                None if self.size == 0 => bytes.iter().position(|b| *b == b'\n').map_or(bytes.len(), |i| i + 1),
                None => 0,
            };
            self.put(&bytes[..cut])?;
            bytes = &bytes[cut..];
            self.rotate()?;
        }
        Ok(())
    }

    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.write_all(bytes)?;
        self.size += bytes.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        if self.rotation.keep > 0 {
            let _ = std::fs::remove_file(rotated(&self.path, self.rotation.keep));
            for n in (1..self.rotation.keep).rev() {
                match std::fs::rename(rotated(&self.path, n), rotated(&self.path, n + 1)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            std::fs::rename(&self.path, rotated(&self.path, 1))?;
        }
        self.file = File::create(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(p: &Path) -> String {
        std::fs::read_to_string(p).unwrap_or_default()
    }

    // issue 11 follow-up: dropping a stream joined its writer with no bound, so a stalled disk
    // held a world's stop (and SIGTERM's promised second) forever. A FIFO nobody reads from
    // stands in for the stalled disk: the writer blocks in `write` once the pipe is full.
    #[test]
    fn dropping_a_stream_with_a_stalled_writer_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stalled.jsonl");
        assert!(std::process::Command::new("mkfifo").arg(&path).status().unwrap().success());
        // A reader that never reads (read-write: opening it does not wait for a writer).
        let held = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
        let stream = Stream::create(&path, Rotation { max_file_bytes: u64::MAX, keep: 0 }).unwrap();
        let line = "x".repeat(64 << 10);
        for _ in 0..8 {
            stream.push(&line);
        }
        assert!(stream.flush(Duration::from_millis(300)).is_err(), "the writer is stalled");
        let (done, dropped) = std::sync::mpsc::channel();
        let start = Instant::now();
        std::thread::spawn(move || {
            drop(stream);
            let _ = done.send(());
        });
        dropped.recv_timeout(Duration::from_secs(10)).expect("dropping the stream waited for a stalled writer");
        assert!(start.elapsed() < CLOSE_WAIT + Duration::from_millis(500), "{:?}", start.elapsed());
        // The reader goes: the writer's next write fails and its thread ends.
        drop(held);
    }

    #[test]
    fn rotates_by_size_at_line_boundaries_and_keeps_a_bounded_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let rotation = Rotation { max_file_bytes: 100, keep: 2 };
        let s = Stream::create(&path, rotation).unwrap();
        // 10 lines of 30 bytes: 3 a file, 4 files' worth; the oldest file goes.
        for i in 0..10 {
            s.push(&format!("{i:029}"));
        }
        s.flush(Duration::from_secs(10)).unwrap();
        drop(s);
        let files = files_oldest_first(&path, rotation);
        assert_eq!(files, [rotated(&path, 2), rotated(&path, 1), path.clone()]);
        let all: String = files.iter().map(|f| read(f)).collect();
        let nums: Vec<u32> = all.lines().map(|l| l.parse().unwrap()).collect();
        assert_eq!(nums, (3..10).collect::<Vec<_>>());
        assert!(files.iter().all(|f| read(f).len() <= 100 && read(f).ends_with('\n')));
        // A new stream starts afresh: no rotated file of the old one is left to mislead.
        let s = Stream::create(&path, rotation).unwrap();
        drop(s);
        assert_eq!(files_oldest_first(&path, rotation), [path]);
    }

    #[test]
    fn a_line_longer_than_a_file_is_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let s = Stream::create(&path, Rotation { max_file_bytes: 10, keep: 3 }).unwrap();
        s.push("short");
        s.push(&"y".repeat(25));
        s.push("after");
        drop(s);
        let all: Vec<String> = files_oldest_first(&path, Rotation { max_file_bytes: 10, keep: 3 }).iter().map(|f| read(f)).collect();
        assert_eq!(all.concat(), format!("short\n{}\nafter\n", "y".repeat(25)));
    }
}
