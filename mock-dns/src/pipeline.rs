//! The request handler the server runs: journal ∘ faults ∘ zones. Every question that
//! reaches it — over UDP, TCP or DoH — is answered by the layers inside and becomes one
//! journal event (name, type, transport, response code, answer, fault). It holds no DNS
//! logic of its own: it sends what the layers give back, or nothing.
//!
//! Bad input, over UDP and DoH ([`Pipeline::answer_bytes`]): fewer bytes than a DNS header
//! get no answer at all; a header followed by garbage gets FORMERR (RFC 1035 §4.1.1) and a
//! `malformed` journal event. Over TCP hickory's server does the same before any handler.

use std::iter;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{Header, HeaderCounts, Message, MessageType, Metadata, ResponseCode};
use hickory_server::proto::rr::Record;
use hickory_server::proto::serialize::binary::{BinDecodable, BinDecoder, BinEncoder};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use scenarios::{Component, Journal, NewEvent};

use crate::answer::{Answer, Reply, Transport};
use crate::replay::{Lookup, Replay};

/// What the server does with one DNS message that came as bytes (UDP, DoH).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireAnswer {
    /// Send this response (an answer, or FORMERR for a header followed by garbage).
    Message(Vec<u8>),
    /// A fault drops the query: nothing is sent, the client waits.
    Dropped,
    /// Not a query to answer: fewer bytes than a DNS header, or a response message.
    NotAQuery,
}

impl WireAnswer {
    /// The response to send, if any.
    pub fn message(self) -> Option<Vec<u8>> {
        match self {
            WireAnswer::Message(m) => Some(m),
            WireAnswer::Dropped | WireAnswer::NotAQuery => None,
        }
    }
}

/// The whole pipeline; cheap to clone (the UDP/TCP server and the DoH service share it).
#[derive(Clone)]
pub(crate) struct Pipeline(Arc<Inner>);

struct Inner {
    layers: Box<dyn Answer>,
    journal: Journal,
    /// Answers replayed as bytes (see `replay`); `None`: every query takes the layers.
    replay: Option<Replay>,
}

impl Pipeline {
    /// `replay`: the kept answers, over the same faults as the layers' (see `replay`).
    pub(crate) fn new(layers: impl Answer, journal: Journal, replay: Option<Replay>) -> Self {
        Pipeline(Arc::new(Inner { layers: Box::new(layers), journal, replay }))
    }

    /// The kept answer to `raw`, if there is one: its response (with `raw`'s ID) written to
    /// `out`, its event journaled. `Some(true)`: send `out`; `Some(false)`: a fault drops the
    /// query; `None`: not kept, answer it with [`Pipeline::answer_bytes`]. Synchronous, so the
    /// UDP thread answers a kept question without a future or an allocation of its own.
    pub(crate) fn replayed(&self, raw: &[u8], transport: Transport, out: &mut Vec<u8>) -> Option<bool> {
        match self.0.replay.as_ref()?.answer(raw, transport, out) {
            Lookup::Hit { sent, event } => {
                self.0.journal.record(event);
                Some(sent)
            }
            Lookup::Miss(_) => None,
        }
    }

    /// The world's journal (a transport journals a panic in an answer there).
    pub(crate) fn journal(&self) -> &Journal {
        &self.0.journal
    }

    /// Answer one DNS message that arrived as bytes from `src` (a UDP datagram, or an RFC
    /// 8484 DoH body), as bytes: over UDP no larger than the client's EDNS buffer (512 bytes
    /// without EDNS, RFC 1035 §4.2.1), truncated with TC set when it does not fit.
    pub(crate) async fn answer_bytes(&self, raw: Vec<u8>, src: SocketAddr, transport: Transport) -> WireAnswer {
        let mut stamp = None;
        if let Some(replay) = &self.0.replay {
            let mut out = Vec::new();
            match replay.answer(&raw, transport, &mut out) {
                Lookup::Hit { sent, event } => {
                    self.0.journal.record(event);
                    return if sent { WireAnswer::Message(out) } else { WireAnswer::Dropped };
                }
                Lookup::Miss(s) => stamp = s,
            }
        }
        let key = stamp.map(|s| (s, raw.clone()));
        let header: Vec<u8> = raw.iter().take(12).copied().collect();
        let request = match Request::from_bytes(raw, src, transport.protocol()) {
            Ok(r) => r,
            Err(_) => return self.malformed(&header, transport).map_or(WireAnswer::NotAQuery, WireAnswer::Message),
        };
        if request.metadata.message_type == MessageType::Response {
            return WireAnswer::NotAQuery; // never answer a response: no reflection (as hickory's server)
        }
        let reply = self.0.layers.answer(&request, transport).await;
        let encoded = reply.message.as_ref().and_then(|m| {
            let limit = match transport {
                Transport::Udp => m.edns.as_ref().map_or(512, |e| e.max_payload().max(512)),
                Transport::Tcp | Transport::Https => u16::MAX,
            };
            let response = MessageResponseBuilder::new(&request.queries, m.edns.as_ref()).build(
                m.metadata,
                m.answers.iter(),
                m.authorities.iter(),
                iter::empty(),
                m.additionals.iter(),
            );
            let mut bytes = Vec::with_capacity(512);
            let mut encoder = BinEncoder::new(&mut bytes);
            encoder.set_max_size(limit);
            let info = response.destructive_emit(&mut encoder).ok()?;
            Some((info, bytes))
        });
        let event = Self::event(&request, transport, &reply, encoded.as_ref().map(|(i, _)| i));
        // Kept only as built: a response that failed to encode is not a drop to replay.
        if let (Some(replay), Some((stamp, key))) = (&self.0.replay, &key)
            && reply.message.is_some() == encoded.is_some()
        {
            replay.keep(*stamp, key, transport, encoded.as_ref().map(|(_, b)| b.as_slice()), &event, reply.fault);
        }
        self.0.journal.record(event);
        encoded.map_or(WireAnswer::Dropped, |(_, bytes)| WireAnswer::Message(bytes))
    }

    /// Answer one DoH body (no client address: the HTTPS front knows it, and journals it).
    pub(crate) async fn answer_doh(&self, raw: Vec<u8>) -> WireAnswer {
        self.answer_bytes(raw, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), Transport::Https).await
    }

    /// A header we can answer, then garbage: FORMERR (RFC 1035 §4.1.1), and a journal line.
    fn malformed(&self, header: &[u8], transport: Transport) -> Option<Vec<u8>> {
        let header = Header::read(&mut BinDecoder::new(header)).ok()?;
        self.0.journal.record(NewEvent::new(Component::Dns, "malformed").detail("transport", transport.as_str()).detail("rcode", "FORMERR"));
        let m = header.metadata;
        Message::error_msg(m.id, m.op_code, ResponseCode::FormErr).to_vec().ok()
    }

    /// One journal event per question: what was asked, over what, and what went back. Kept
    /// to what a support engineer reads (every query of a load test pays for it).
    fn event(request: &Request, transport: Transport, reply: &Reply, sent: Option<&ResponseInfo>) -> NewEvent {
        let mut e = NewEvent::new(Component::Dns, "query").detail("transport", transport.as_str()).detail("answered", reply.message.is_some());
        if let Some(q) = request.queries.queries().first() {
            e = e.host(q.name().to_string().trim_end_matches('.')).detail("type", q.query_type().to_string());
        }
        if let Some(m) = &reply.message {
            let shown = |rs: &[Record]| rs.iter().map(|r| r.to_string()).collect::<Vec<_>>();
            e = e
                .detail("rcode", rcode_name(m.metadata.response_code))
                .detail("answer", shown(&m.answers))
                .detail("truncated", sent.map_or(m.metadata.truncation, |i| i.truncation));
            if m.answers.is_empty() {
                // A negative answer's SOA says how long the client may cache the absence.
                e = e.detail("authority", shown(&m.authorities));
            }
        }
        if let Some(f) = reply.fault {
            e = e.fault(f);
        }
        e
    }
}

#[async_trait::async_trait]
impl RequestHandler for Pipeline {
    async fn handle_request<R: ResponseHandler, T: Time>(&self, request: &Request, mut response_handle: R) -> ResponseInfo {
        let transport = if request.protocol() == Protocol::Udp { Transport::Udp } else { Transport::Tcp };
        let reply = self.0.layers.answer(request, transport).await;
        let sent = match &reply.message {
            Some(m) => {
                let builder = MessageResponseBuilder::new(&request.queries, m.edns.as_ref());
                let response = builder.build(m.metadata, m.answers.iter(), m.authorities.iter(), iter::empty(), m.additionals.iter());
                response_handle.send_response(response).await.ok()
            }
            None => None,
        };
        self.0.journal.record(Self::event(request, transport, &reply, sent.as_ref()));
        sent.unwrap_or_else(|| {
            let metadata = Metadata::response_from_request(&request.metadata);
            ResponseInfo::from(Header { metadata, counts: HeaderCounts::default() })
        })
    }
}

/// The mnemonic `dig` prints (RFC 1035 §4.1.1, RFC 6895 §2.3; 16 is BADVERS in an OPT
/// record, which is the only place this server sets it).
pub(crate) fn rcode_name(code: ResponseCode) -> String {
    match u16::from(code) {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        16 => "BADVERS".into(),
        n => format!("RCODE{n}"),
    }
}
