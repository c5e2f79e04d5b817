//! The journal's memory: the newest events as their JSON lines, bounded in bytes (issue 11,
//! defect 5: a journal bounded by event count held 1.5 GB after a million events).
//!
//! The window holds exactly what the journal file holds for those events — one JSON line
//! each — so its size is the bytes of those lines plus a fixed cost per entry, and a reader
//! parses only what it reads. When it grows past its budget it evicts the oldest events down
//! to three quarters of the budget in one go (so eviction, and the marker the journal writes
//! for it, happen once per quarter window, not once per event). The world's own lifecycle
//! events (`starting`, `ready` …) evicted that way are kept aside, a bounded few, so a
//! window of a long-running world still says which world it is.

use std::collections::VecDeque;

/// The fixed cost counted per event beside its line: the entry (a boxed string and a flag)
/// and the allocator's own header for the line.
pub const ENTRY_OVERHEAD: usize = std::mem::size_of::<Entry>() + 16;
/// World lifecycle events kept after their eviction, at most.
pub const PINNED_MAX: usize = 32;

#[derive(Debug)]
struct Entry {
    line: Box<str>,
    /// Keep aside when evicted (a world lifecycle event).
    pin: bool,
}

/// What one eviction took out of memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eviction {
    /// Events taken out this time.
    pub events: u64,
    /// Their bytes, as the window counts them.
    pub bytes: usize,
    pub first_seq: u64,
    pub last_seq: u64,
}

#[derive(Debug)]
pub struct Window {
    max_bytes: usize,
    kept: VecDeque<Entry>,
    /// The `seq` of `kept[0]` (of the next event when `kept` is empty): seqs in `kept` are
    /// consecutive.
    first_seq: u64,
    bytes: usize,
    /// Evicted lifecycle events, oldest first, with their seqs (all below `first_seq`).
    pinned: Vec<(u64, Box<str>)>,
    /// Events taken out of `kept`, pinned ones included.
    evicted: u64,
}

fn cost(line: &str) -> usize {
    line.len() + ENTRY_OVERHEAD
}

impl Window {
    pub fn new(max_bytes: usize) -> Self {
        Window { max_bytes, kept: VecDeque::new(), first_seq: 0, bytes: 0, pinned: Vec::new(), evicted: 0 }
    }

    /// The seq the next event gets.
    pub fn next_seq(&self) -> u64 {
        self.first_seq + self.kept.len() as u64
    }

    /// Bytes held by the kept events (pinned ones not counted: at most [`PINNED_MAX`] small lines).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Events in memory, pinned ones included.
    pub fn held(&self) -> usize {
        self.pinned.len() + self.kept.len()
    }

    /// Events recorded and no longer in memory.
    pub fn dropped(&self) -> u64 {
        self.evicted - self.pinned.len() as u64
    }

    /// Append the line of the event with seq [`Window::next_seq`]; evicts the oldest events
    /// down to three quarters of the budget when the window is over it.
    pub fn push(&mut self, line: Box<str>, pin: bool) -> Option<Eviction> {
        self.bytes += cost(&line);
        self.kept.push_back(Entry { line, pin });
        if self.bytes <= self.max_bytes {
            return None;
        }
        let target = self.max_bytes / 4 * 3;
        let mut ev = Eviction { events: 0, bytes: 0, first_seq: self.first_seq, last_seq: self.first_seq };
        while self.bytes > target {
            let Some(e) = self.kept.pop_front() else { break };
            let c = cost(&e.line);
            self.bytes -= c;
            ev.bytes += c;
            ev.events += 1;
            ev.last_seq = self.first_seq;
            if e.pin && self.pinned.len() < PINNED_MAX {
                self.pinned.push((self.first_seq, e.line));
            }
            self.first_seq += 1;
        }
        self.evicted += ev.events;
        Some(ev)
    }

    /// Every line in memory with its seq, in seq order (pinned first: they are older).
    pub fn lines(&self) -> impl Iterator<Item = (u64, &str)> {
        self.lines_from(0)
    }

    /// The lines with seq `from` or later, in seq order.
    pub fn lines_from(&self, from: u64) -> impl Iterator<Item = (u64, &str)> {
        let pinned = self.pinned.iter().filter(move |(s, _)| *s >= from).map(|(s, l)| (*s, &**l));
        let skip = from.saturating_sub(self.first_seq) as usize;
        let first = self.first_seq;
        let kept = self.kept.iter().enumerate().skip(skip).map(move |(i, e)| (first + i as u64, &*e.line));
        pinned.chain(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_a_quarter_at_once_and_keeps_lifecycle_lines_aside() {
        let line = "x".repeat(100 - ENTRY_OVERHEAD);
        let mut w = Window::new(1000);
        assert_eq!(w.push("world starting".into(), true), None);
        let mut evictions = Vec::new();
        for _ in 0..20 {
            if let Some(e) = w.push(line.clone().into(), false) {
                evictions.push(e);
            }
            assert!(w.bytes() <= w.max_bytes());
        }
        assert!(!evictions.is_empty());
        let first = evictions[0];
        assert_eq!((first.first_seq, first.events), (0, 4), "from 1054 bytes down to at most 750");
        assert_eq!(w.dropped() + w.held() as u64, 21);
        let seqs: Vec<u64> = w.lines().map(|(s, _)| s).collect();
        assert_eq!(seqs[0], 0, "the lifecycle line stays");
        assert!(seqs.windows(2).all(|p| p[0] < p[1]));
        assert_eq!(*seqs.last().unwrap(), 20);
        assert_eq!(w.lines_from(19).map(|(s, _)| s).collect::<Vec<_>>(), [19, 20]);
    }
}
