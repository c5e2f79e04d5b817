//! The DNS fault layer: a wrapper around the zones' answer that makes it fail the way the
//! scenario says. The zones answer correctly; this layer alone turns that answer into an
//! NXDOMAIN, a SERVFAIL, a silence, a late or truncated answer, a wrong address, a wrong
//! CNAME target or another TTL. Read it top to bottom: select, then apply.
//!
//! A fault hits a query when its `names` pattern covers the query name or any name the
//! answer's CNAME chain walks through (a recursive resolver would meet each of them), and the
//! world's simulated clock lies inside the fault's window. The first such fault in scenario
//! order fires; the others wait for the next query.

use hickory_server::proto::op::{Message, ResponseCode};
use hickory_server::proto::rr::rdata::{A, CNAME};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};
use hickory_server::server::Request;
use std::sync::Arc;

use scenarios::{Clock, DnsEffect, DnsFault, FaultStore, HostPattern};

use crate::answer::{Answer, Reply, Transport, subrequest};
use crate::zones::ttl_secs;

/// Where the layer reads its faults: the scenario's, fixed, or a running world's store (issue
/// 17), loaded per query so that a change applies from the next query on. Cheap to clone: the
/// replay (`replay`) reads the same source to know when its kept answers go stale.
#[derive(Clone)]
pub(crate) enum Faults {
    Fixed(Arc<[DnsFault]>),
    Live(FaultStore),
}

impl Faults {
    fn now(&self) -> Arc<[DnsFault]> {
        self.generation().1
    }

    /// The faults now, with their generation: it moves with every change of a live store
    /// (`FaultSet::generation`); fixed faults never change (generation 0).
    pub(crate) fn generation(&self) -> (u64, Arc<[DnsFault]>) {
        match self {
            Faults::Fixed(f) => (0, f.clone()),
            Faults::Live(store) => {
                let set = store.current();
                (set.generation(), set.dns().clone())
            }
        }
    }
}

pub(crate) struct FaultLayer<A> {
    inner: A,
    faults: Faults,
    clock: Clock,
}

impl<A: Answer> FaultLayer<A> {
    pub(crate) fn new(inner: A, faults: Faults, clock: Clock) -> Self {
        FaultLayer { inner, faults, clock }
    }

    /// The fault that fires for this answer, if any.
    fn select(&self, request: &Request, message: &Message, transport: Transport) -> Option<DnsFault> {
        let faults = self.faults.now();
        if faults.is_empty() {
            return None; // the healthy world pays nothing for this layer
        }
        let qname = request.queries.queries().first()?.name().to_string();
        let chain = message.answers.iter().filter_map(|r| match &r.data {
            RData::CNAME(target) => Some(target.0.to_string()),
            _ => None,
        });
        let names: Vec<String> = std::iter::once(qname).chain(chain).collect();
        let elapsed = self.clock.to_sim(self.clock.wall_elapsed());
        faults
            .iter()
            .find(|f| {
                // RFC 7766: truncation only exists where the datagram size is limited.
                let applies = !matches!(f.effect, DnsEffect::Truncate {}) || transport == Transport::Udp;
                applies && f.is_active(elapsed) && names.iter().any(|n| f.names().matches(n))
            })
            .cloned()
    }

    /// Reshape `message` (the zones' correct answer) as `fault` says; `None`: send nothing.
    async fn apply(&self, fault: &DnsFault, request: &Request, mut message: Message) -> Option<Message> {
        let names = &fault.names;
        match &fault.effect {
            DnsEffect::NxDomain {} => {
                // RFC 6604: the aliases up to the missing name stay; the SOA of the missing
                // name's zone says for how long the client may cache the absence (RFC 2308).
                let (kept, missing) = split_chain(request, &message, names);
                let soa = self.soa_for(request, &missing).await;
                clear(&mut message, ResponseCode::NXDomain);
                message.answers = kept;
                message.authorities.extend(soa);
                Some(message)
            }
            DnsEffect::ServFail {} => Some(cleared(message, ResponseCode::ServFail)),
            DnsEffect::Refused {} => Some(cleared(message, ResponseCode::Refused)),
            DnsEffect::Drop {} => None,
            DnsEffect::Delay { delay } => {
                tokio::time::sleep(self.clock.to_wall(*delay)).await;
                Some(message)
            }
            DnsEffect::WrongAddress { address } => {
                for r in message.answers.iter_mut().chain(message.additionals.iter_mut()) {
                    if r.record_type() == RecordType::A {
                        r.data = RData::A(A(*address));
                    }
                }
                Some(message)
            }
            DnsEffect::CnameTarget { target } => Some(self.retarget(request, message, names, target).await),
            DnsEffect::Truncate {} => {
                // RFC 1035 §4.1.1 TC: the client must ask again over TCP (RFC 7766 §5).
                let mut message = cleared(message, ResponseCode::NoError);
                message.metadata.truncation = true;
                Some(message)
            }
            DnsEffect::Ttl { ttl } => {
                let secs = ttl_secs(self.clock.to_wall(*ttl));
                for r in message.answers.iter_mut().chain(message.authorities.iter_mut()).chain(message.additionals.iter_mut()) {
                    r.ttl = secs;
                }
                Some(message)
            }
        }
    }

    /// The chain up to the matching name, then a CNAME from it to `target`, then whatever the
    /// zones answer for `target`: the customer's alias points somewhere else.
    async fn retarget(&self, request: &Request, mut message: Message, names: &HostPattern, target: &HostPattern) -> Message {
        let (mut answers, owner) = split_chain(request, &message, names);
        let Ok(target) = Name::from_ascii(format!("{target}.")) else { return message };
        let ttl = message.answers.iter().find(|r| r.name == owner).map_or(0, |r| r.ttl);
        answers.push(Record::from_rdata(owner, ttl, RData::CNAME(CNAME(target.clone()))));
        let qtype = request.queries.queries().first().map_or(RecordType::A, |q| q.query_type());
        clear(&mut message, ResponseCode::NoError);
        if qtype != RecordType::CNAME
            && let Some(sub) = subrequest(request, &target, qtype)
            && let Some(follow) = self.inner.answer(&sub, Transport::Tcp).await.message
            // A target outside our zones: the alias is all an authoritative server says.
            && follow.metadata.response_code != ResponseCode::Refused
        {
            message.metadata.response_code = follow.metadata.response_code;
            answers.extend(follow.answers);
            message.authorities = follow.authorities;
            message.additionals = follow.additionals;
        }
        message.answers = answers;
        message
    }

    /// The SOA record of `name`'s zone, as the zones give it: the first SOA at `name` or
    /// above (a CNAME at `name` would lead a query for its own SOA elsewhere).
    async fn soa_for(&self, request: &Request, name: &Name) -> Option<Record> {
        let mut at = name.clone();
        while !at.is_root() {
            let sub = subrequest(request, &at, RecordType::SOA)?;
            let m = self.inner.answer(&sub, Transport::Tcp).await.message?;
            let soa = m.answers.into_iter().chain(m.authorities).find(|r| r.record_type() == RecordType::SOA && r.name.zone_of(&at));
            if soa.is_some() {
                return soa;
            }
            at = at.base_name();
        }
        None
    }
}

#[async_trait::async_trait]
impl<A: Answer> Answer for FaultLayer<A> {
    async fn answer(&self, request: &Request, transport: Transport) -> Reply {
        let reply = self.inner.answer(request, transport).await;
        let Some(message) = reply.message else { return reply };
        let Some(fault) = self.select(request, &message, transport) else {
            return Reply { message: Some(message), fault: None };
        };
        Reply { message: self.apply(&fault, request, message).await, fault: Some(fault.kind()) }
    }
}

/// The answer's CNAMEs before the first name `names` covers, and that name (the query name
/// when it is covered itself).
fn split_chain(request: &Request, message: &Message, names: &HostPattern) -> (Vec<Record>, Name) {
    let qname: Name = request.queries.queries().first().map(|q| q.original().name().clone()).unwrap_or_default();
    let mut kept = Vec::new();
    let mut current = qname;
    for r in &message.answers {
        if names.matches(&current.to_string()) {
            break;
        }
        let RData::CNAME(target) = &r.data else { break };
        kept.push(r.clone());
        current = target.0.clone();
    }
    (kept, current)
}

fn clear(message: &mut Message, rcode: ResponseCode) {
    message.metadata.response_code = rcode;
    message.answers.clear();
    message.authorities.clear();
    message.additionals.clear();
}

fn cleared(mut message: Message, rcode: ResponseCode) -> Message {
    clear(&mut message, rcode);
    message
}
