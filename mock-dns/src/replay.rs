//! Answers replayed as bytes. The zones never change while a world runs, so the response to a
//! datagram is a pure function of its bytes after the message ID, of the world's DNS faults,
//! and of which of their windows are open: the first time a question comes, the pipeline
//! answers it through hickory and the fault layer and keeps the encoded response (or the fact
//! that a fault dropped it) with its journal event; when the very same bytes come again, the
//! response is sent with the new ID and the same event is journaled, without decoding or
//! encoding anything.
//!
//! When the kept answers hold ([`Stamp`]): for one generation of the faults (a running world's
//! fault store bumps it with every change, issue 17: a change is seen by the next query) and
//! for one span of simulated time in which no fault's window opens or closes (`after`,
//! `until`). The first query outside the stamp clears the table. A fault whose effect is not a
//! pure function of the question ([`replayable`]: `dns.delay`, which answers later) is never
//! kept; its queries take the whole pipeline each time, and the other names still replay.
//!
//! The only wire knowledge here is RFC 1035 §4.1.1: a message opens with its 16-bit ID. Any
//! other difference — flags, EDNS, the 0x20 case of the name — is a different key.
//!
//! Why: decode, answer, encode and the journal line cost most of a query's CPU
//! (bench/RESULTS.md). Bounded: past [`CAPACITY`] distinct datagrams, new ones are answered
//! but not kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use scenarios::{Clock, DnsFault, DnsFaultKind, NewEvent, SimDuration};

use crate::answer::Transport;
use crate::faults::Faults;

/// How many distinct datagrams are kept per transport (a world has a few hundred names).
pub(crate) const CAPACITY: usize = 8192;

/// Where the message ID ends (RFC 1035 §4.1.1).
const ID_LEN: usize = 2;

/// May an answer a fault of this kind shaped be replayed? Only when the fault's effect is a
/// pure function of the question (and the faults and their windows, which the [`Stamp`]
/// covers). Every kind is named, so a new one must say.
pub(crate) fn replayable(fault: Option<DnsFaultKind>) -> bool {
    match fault {
        None => true,
        Some(
            DnsFaultKind::NxDomain
            | DnsFaultKind::ServFail
            | DnsFaultKind::Refused
            | DnsFaultKind::Drop
            | DnsFaultKind::WrongAddress
            | DnsFaultKind::CnameTarget
            | DnsFaultKind::Truncate
            | DnsFaultKind::Ttl,
        ) => true,
        // The answer is sent later, by a timer: not a datagram to send at once.
        Some(DnsFaultKind::Delay) => false,
    }
}

/// One generation of the faults and one span `[from, until)` of simulated time since the
/// world started in which no fault's window opens or closes: inside it, whether each fault is
/// active (`Window::contains`) does not change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    generation: u64,
    from: SimDuration,
    until: Option<SimDuration>,
}

impl Stamp {
    fn at(generation: u64, faults: &[DnsFault], now: SimDuration) -> Stamp {
        let (mut from, mut until) = (SimDuration::ZERO, None::<SimDuration>);
        for edge in faults.iter().flat_map(|f| std::iter::once(f.window.after).chain(f.window.until)) {
            if edge <= now {
                from = from.max(edge);
            } else {
                until = Some(until.map_or(edge, |u| u.min(edge)));
            }
        }
        Stamp { generation, from, until }
    }

    fn holds(&self, generation: u64, now: SimDuration) -> bool {
        self.generation == generation && now >= self.from && self.until.is_none_or(|u| now < u)
    }
}

struct Kept {
    /// The encoded response; `None`: a fault drops the query.
    response: Option<Box<[u8]>>,
    event: NewEvent,
}

#[derive(Default)]
struct Table {
    stamp: Option<Stamp>,
    kept: HashMap<Box<[u8]>, Arc<Kept>>,
}

/// What the table knows of one datagram.
pub(crate) enum Lookup {
    /// Kept: `sent` tells whether a response was written to the output (or a fault drops the
    /// query); the event is the one to journal.
    Hit { sent: bool, event: NewEvent },
    /// Not kept; once answered, it may be kept under this stamp (`None`: never, e.g. TCP).
    Miss(Option<Stamp>),
}

/// The kept answers, for UDP and DoH (their size limits differ); TCP goes through hickory's
/// server and is not replayed.
pub(crate) struct Replay {
    faults: Faults,
    clock: Clock,
    udp: Mutex<Table>,
    https: Mutex<Table>,
}

impl Replay {
    pub(crate) fn new(faults: Faults, clock: Clock) -> Replay {
        Replay { faults, clock, udp: Mutex::default(), https: Mutex::default() }
    }

    fn table(&self, transport: Transport) -> Option<&Mutex<Table>> {
        match transport {
            Transport::Udp => Some(&self.udp),
            Transport::Https => Some(&self.https),
            Transport::Tcp => None,
        }
    }

    /// Simulated time since the world started, as the fault layer reads it.
    fn now(&self) -> SimDuration {
        self.clock.to_sim(self.clock.wall_elapsed())
    }

    /// The kept answer to `raw`: its response with `raw`'s ID into `out` (cleared first), and
    /// the event to journal. Clears the table first when its stamp no longer holds.
    pub(crate) fn answer(&self, raw: &[u8], transport: Transport, out: &mut Vec<u8>) -> Lookup {
        let Some(table) = self.table(transport) else { return Lookup::Miss(None) };
        if raw.len() <= ID_LEN {
            return Lookup::Miss(None);
        }
        let (generation, faults) = self.faults.generation();
        let now = self.now();
        let mut table = table.lock().unwrap_or_else(|p| p.into_inner());
        let stamp = match table.stamp {
            Some(s) if s.holds(generation, now) => s,
            _ => {
                table.kept.clear();
                *table.stamp.insert(Stamp::at(generation, &faults, now))
            }
        };
        let Some(kept) = table.kept.get(&raw[ID_LEN..]) else { return Lookup::Miss(Some(stamp)) };
        out.clear();
        if let Some(response) = &kept.response {
            out.extend_from_slice(response);
            out[..ID_LEN].copy_from_slice(&raw[..ID_LEN]);
        }
        Lookup::Hit { sent: kept.response.is_some(), event: kept.event.clone() }
    }

    /// Keep `response` (`None`: the query was dropped) and its event for datagrams equal to
    /// `raw`, if the fault that shaped it allows and `stamp` (taken before answering) still
    /// holds now: then every fault decision made in between was made inside it.
    pub(crate) fn keep(&self, stamp: Stamp, raw: &[u8], transport: Transport, response: Option<&[u8]>, event: &NewEvent, fault: Option<DnsFaultKind>) {
        let Some(table) = self.table(transport) else { return };
        if !replayable(fault) || raw.len() <= ID_LEN || response.is_some_and(|r| r.len() < ID_LEN || r[..ID_LEN] != raw[..ID_LEN]) {
            return;
        }
        let (generation, _) = self.faults.generation();
        let now = self.now();
        let mut table = table.lock().unwrap_or_else(|p| p.into_inner());
        if table.stamp != Some(stamp) || !stamp.holds(generation, now) || table.kept.len() >= CAPACITY {
            return;
        }
        let kept = Kept { response: response.map(Box::from), event: event.clone() };
        table.kept.insert(raw[ID_LEN..].into(), Arc::new(kept));
    }
}

#[cfg(test)]
mod tests {
    use scenarios::{DnsEffect, HostPattern, Window};

    use super::*;

    fn fault(after: u64, until: Option<u64>) -> DnsFault {
        DnsFault {
            names: HostPattern::parse("a.example").unwrap(),
            window: Window { after: SimDuration::from_secs(after), until: until.map(SimDuration::from_secs) },
            effect: DnsEffect::ServFail {},
        }
    }

    #[test]
    fn a_stamp_spans_the_time_between_two_window_edges() {
        let faults = [fault(10, Some(20)), fault(15, None)];
        let s = |t| Stamp::at(7, &faults, SimDuration::from_secs(t));
        assert_eq!(s(0), Stamp { generation: 7, from: SimDuration::ZERO, until: Some(SimDuration::from_secs(10)) });
        assert_eq!(s(10), Stamp { generation: 7, from: SimDuration::from_secs(10), until: Some(SimDuration::from_secs(15)) });
        assert_eq!(s(17), Stamp { generation: 7, from: SimDuration::from_secs(15), until: Some(SimDuration::from_secs(20)) });
        assert_eq!(s(99), Stamp { generation: 7, from: SimDuration::from_secs(20), until: None });
        // Inside a stamp every fault's activity is constant; at its edges it changes.
        for t in [0, 9, 10, 14, 15, 19, 20, 21, 99] {
            let stamp = s(t);
            for f in &faults {
                let active = f.is_active(stamp.from);
                for probe in [stamp.from.0.as_secs(), t, stamp.until.map_or(1000, |u| u.0.as_secs()) - 1] {
                    assert!(stamp.holds(7, SimDuration::from_secs(probe)));
                    assert_eq!(f.is_active(SimDuration::from_secs(probe)), active, "t={t} probe={probe}");
                }
            }
            assert!(!stamp.holds(8, SimDuration::from_secs(t)), "another generation");
        }
        assert!(!s(9).holds(7, SimDuration::from_secs(10)) && !s(10).holds(7, SimDuration::from_secs(9)));
    }

    #[test]
    fn without_faults_a_stamp_holds_for_ever() {
        let s = Stamp::at(0, &[], SimDuration::ZERO);
        assert!(s.holds(0, SimDuration::MAX) && s.until.is_none());
    }

    #[test]
    fn only_a_delay_is_not_replayed() {
        assert!(replayable(None) && replayable(Some(DnsFaultKind::Drop)) && !replayable(Some(DnsFaultKind::Delay)));
    }
}
