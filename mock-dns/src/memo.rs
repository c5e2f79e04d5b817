//! A memo of the zones' answers. The zones never change while a world runs, so the answer to
//! a question is a pure function of the question and the header fields the response copies;
//! this layer keeps the answers it has seen and gives a copy (with the request's id) when the
//! same question comes again. It sits inside the fault layer: faults still decide per query,
//! in simulated time, and the journal still records every query.
//!
//! Why: building the answer through hickory's catalog costs a message build, an encode and a
//! decode per query; on a 2-core machine under load that is most of a query's time
//! (bench/RESULTS.md). The memo is bounded: past [`CAPACITY`] questions (a client walking
//! random names) new ones are answered without being kept.

use std::collections::HashMap;
use std::sync::Mutex;

use hickory_server::proto::op::{Message, MessageType, OpCode};
use hickory_server::server::Request;

use crate::answer::{Answer, Reply, Transport};

/// How many distinct questions are kept (a world has a few hundred names).
pub(crate) const CAPACITY: usize = 8192;

/// Everything in a request that the zones' response depends on, except the id (only standard
/// queries are kept: the op code is always QUERY).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    /// As asked, case and all: a different 0x20 spelling is another key (kept to be safe).
    name: String,
    qtype: u16,
    qclass: u16,
    recursion_desired: bool,
    checking_disabled: bool,
    /// EDNS version, payload size and DO bit, when the request has EDNS.
    edns: Option<(u8, u16, bool)>,
}

impl Key {
    fn of(request: &Request) -> Option<Key> {
        let m = &request.metadata;
        let [q] = request.queries.queries() else { return None };
        if m.message_type != MessageType::Query || m.op_code != OpCode::Query {
            return None;
        }
        Some(Key {
            name: q.name().to_string(),
            qtype: q.query_type().into(),
            qclass: q.query_class().into(),
            recursion_desired: m.recursion_desired,
            checking_disabled: m.checking_disabled,
            edns: request.edns.as_ref().map(|e| (e.version(), e.max_payload(), e.flags().dnssec_ok)),
        })
    }
}

pub(crate) struct Memo<A> {
    inner: A,
    kept: Mutex<HashMap<Key, Message>>,
}

impl<A: Answer> Memo<A> {
    pub(crate) fn new(inner: A) -> Self {
        Memo { inner, kept: Mutex::new(HashMap::new()) }
    }
}

#[async_trait::async_trait]
impl<A: Answer> Answer for Memo<A> {
    async fn answer(&self, request: &Request, transport: Transport) -> Reply {
        let Some(key) = Key::of(request) else { return self.inner.answer(request, transport).await };
        let hit = self.kept.lock().unwrap_or_else(|p| p.into_inner()).get(&key).cloned();
        if let Some(mut message) = hit {
            message.metadata.id = request.metadata.id;
            return Reply { message: Some(message), fault: None };
        }
        let reply = self.inner.answer(request, transport).await;
        if let Some(m) = &reply.message {
            let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
            if kept.len() < CAPACITY {
                kept.insert(key, m.clone());
            }
        }
        reply
    }
}
