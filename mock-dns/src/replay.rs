//! Answers replayed as bytes, for worlds without DNS faults. There the response to a datagram
//! is a pure function of its bytes after the message ID (the zones never change, and nothing
//! else decides): the first time a question comes, the pipeline answers it through hickory and
//! keeps the encoded response and its journal event; when the very same bytes come again, the
//! response is sent with the new ID and the same event is journaled, without decoding or
//! encoding anything.
//!
//! The only wire knowledge here is RFC 1035 §4.1.1: a message opens with its 16-bit ID. Any
//! other difference — flags, EDNS, the 0x20 case of the name — is a different key. With DNS
//! faults (they decide per query, in simulated time) the world does not replay at all.
//!
//! Why: decode, answer, encode and the journal line cost most of a query's CPU
//! (bench/RESULTS.md). Bounded: past [`CAPACITY`] distinct datagrams, new ones are answered
//! but not kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use scenarios::NewEvent;

use crate::answer::Transport;

/// How many distinct datagrams are kept per transport (a world has a few hundred names).
pub(crate) const CAPACITY: usize = 8192;

/// Where the message ID ends (RFC 1035 §4.1.1).
const ID_LEN: usize = 2;

struct Kept {
    response: Vec<u8>,
    event: NewEvent,
}

/// The kept answers, for UDP and DoH (their size limits differ); TCP goes through hickory's
/// server and is not replayed.
#[derive(Default)]
pub(crate) struct Replay {
    udp: Mutex<HashMap<Vec<u8>, Arc<Kept>>>,
    https: Mutex<HashMap<Vec<u8>, Arc<Kept>>>,
}

impl Replay {
    fn map(&self, transport: Transport) -> Option<&Mutex<HashMap<Vec<u8>, Arc<Kept>>>> {
        match transport {
            Transport::Udp => Some(&self.udp),
            Transport::Https => Some(&self.https),
            Transport::Tcp => None,
        }
    }

    /// The kept response to `raw` with `raw`'s ID, and the event to journal for it.
    pub(crate) fn answer(&self, raw: &[u8], transport: Transport) -> Option<(Vec<u8>, NewEvent)> {
        if raw.len() <= ID_LEN || transport == Transport::Tcp {
            return None;
        }
        let kept = self.map(transport)?.lock().unwrap_or_else(|p| p.into_inner()).get(&raw[ID_LEN..])?.clone();
        let mut response = kept.response.clone();
        response[..ID_LEN].copy_from_slice(&raw[..ID_LEN]);
        Some((response, kept.event.clone()))
    }

    /// Keep `response` (answered without a fault) and its event for datagrams equal to `raw`.
    pub(crate) fn keep(&self, raw: &[u8], transport: Transport, response: &[u8], event: &NewEvent) {
        let Some(map) = self.map(transport) else { return };
        if raw.len() <= ID_LEN || response.len() < ID_LEN || response[..ID_LEN] != raw[..ID_LEN] {
            return;
        }
        let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() < CAPACITY {
            map.insert(raw[ID_LEN..].to_vec(), Arc::new(Kept { response: response.to_vec(), event: event.clone() }));
        }
    }
}
