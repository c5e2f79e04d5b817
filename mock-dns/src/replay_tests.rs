//! The replay (issue 20, deliverable 3) changes nothing a client or the journal can see: a
//! world with DNS faults answers every datagram, first time or replayed, with the same bytes
//! and the same journal event as the same world answering everything through the layers.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_server::proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_server::proto::rr::{Name, RecordType};
use proptest::prelude::*;
use scenarios::{Clock, DnsEffect, DnsFault, Event, HostPattern, Journal, SimDuration, Window};

use crate::answer::Transport;
use crate::faults::Faults;
use crate::pipeline::{Pipeline, WireAnswer};
use crate::replay::Replay;
use crate::{RecordData, ZoneSet};

const NAMES: &[&str] = &[
    "EnterpriseEnrollment.contoso.com",
    "enterpriseENROLLMENT.Contoso.com",
    "EnterpriseRegistration.contoso.com",
    "EnterpriseEnrollment.us.contoso.com",
    "x.manage.microsoft.com",
    "manage.microsoft.com",
    "missing.contoso.com",
    "_mssms_mp_abc._tcp.contoso.com",
    "many.contoso.com",
    "outside.example.org",
];
const TYPES: &[RecordType] = &[RecordType::A, RecordType::AAAA, RecordType::CNAME, RecordType::SRV, RecordType::SOA, RecordType::NS, RecordType::TXT];
const PATTERNS: &[&str] = &["*.contoso.com", "EnterpriseEnrollment.contoso.com", "*.manage.microsoft.com", "many.contoso.com", "outside.example.org"];

fn zones() -> ZoneSet {
    let mut z = ZoneSet::new("doh.memsim.test", "hostmaster.memsim.test", Duration::from_secs(300)).unwrap();
    for zone in ["contoso.com", "us.contoso.com", "microsoft.com", "memsim.test"] {
        z.add_zone(zone).unwrap();
    }
    for domain in ["contoso.com", "us.contoso.com"] {
        z.add(&format!("EnterpriseEnrollment.{domain}"), Duration::from_secs(3600), RecordData::Cname("EnterpriseEnrollment-s.manage.microsoft.com".into()))
            .unwrap();
    }
    let srv = RecordData::Srv { priority: 0, weight: 0, port: 443, target: "mp.contoso.com".into() };
    z.add("_mssms_mp_abc._tcp.contoso.com", Duration::from_secs(14_400), srv).unwrap();
    for host in ["*.manage.microsoft.com", "manage.microsoft.com", "EnterpriseRegistration.contoso.com", "mp.contoso.com", "doh.memsim.test"] {
        z.add(host, Duration::from_secs(300), RecordData::A(Ipv4Addr::LOCALHOST)).unwrap();
    }
    for i in 1..=40u8 {
        z.add("many.contoso.com", Duration::from_secs(300), RecordData::A(Ipv4Addr::new(127, 0, 1, i))).unwrap();
    }
    z
}

/// A fault of every kind whose effect the replay may keep, open for the whole test, not yet
/// open, or closing long after it.
fn fault() -> impl Strategy<Value = DnsFault> {
    let effect = prop_oneof![
        Just(DnsEffect::NxDomain {}),
        Just(DnsEffect::ServFail {}),
        Just(DnsEffect::Refused {}),
        Just(DnsEffect::Drop {}),
        Just(DnsEffect::WrongAddress { address: DnsFault::DEFAULT_WRONG_ADDRESS }),
        Just(DnsEffect::CnameTarget { target: HostPattern::parse("EnterpriseEnrollment.manage.microsoft.com").unwrap() }),
        Just(DnsEffect::Truncate {}),
        Just(DnsEffect::Ttl { ttl: SimDuration::from_secs(7) }),
    ];
    let far = SimDuration::from_days(1000);
    let window = prop_oneof![Just(Window::default()), Just(Window { after: far, until: None }), Just(Window { after: SimDuration::ZERO, until: Some(far) }),];
    (0..PATTERNS.len(), window, effect).prop_map(|(p, window, effect)| DnsFault { names: HostPattern::parse(PATTERNS[p]).unwrap(), window, effect })
}

/// One datagram: a question (with or without EDNS), sometimes cut short (FORMERR or nothing).
fn datagram() -> impl Strategy<Value = (Vec<u8>, bool)> {
    (any::<u16>(), 0..NAMES.len(), 0..TYPES.len(), prop::option::of(512u16..4096), prop::option::of(0usize..40), any::<bool>()).prop_map(
        |(id, n, t, edns, cut, https)| {
            let mut m = Message::new(id, MessageType::Query, OpCode::Query);
            m.add_query(Query::query(Name::from_ascii(NAMES[n]).unwrap(), TYPES[t]));
            if let Some(payload) = edns {
                let mut e = Edns::new();
                e.set_max_payload(payload);
                m.set_edns(e);
            }
            let mut bytes = m.to_vec().unwrap();
            if let Some(cut) = cut.filter(|c| *c < bytes.len()) {
                bytes.truncate(cut);
            }
            (bytes, https)
        },
    )
}

fn pipeline(faults: &[DnsFault], replay: bool) -> (Pipeline, Journal) {
    let journal = Journal::new(Clock::new(time::OffsetDateTime::UNIX_EPOCH, 1.0));
    let faults = Faults::Fixed(faults.into());
    let clock = *journal.clock();
    let kept = replay.then(|| Replay::new(faults.clone(), clock));
    (Pipeline::new(crate::layers(&zones(), faults, clock), journal.clone(), kept), journal)
}

async fn ask(p: &Pipeline, raw: &[u8], https: bool) -> WireAnswer {
    let transport = if https { Transport::Https } else { Transport::Udp };
    // As the UDP thread does: the kept answer first, then the whole pipeline.
    let mut out = Vec::new();
    match p.replayed(raw, transport, &mut out) {
        Some(true) => WireAnswer::Message(out),
        Some(false) => WireAnswer::Dropped,
        None => p.answer_bytes(raw.to_vec(), SocketAddr::from((Ipv4Addr::LOCALHOST, 5353)), transport).await,
    }
}

/// What a reader of the journal sees of an event, without its sequence number and times.
fn seen(events: Vec<Event>) -> Vec<String> {
    events.into_iter().map(|e| format!("{:?} {} {:?} {:?} {:?}", e.component, e.what, e.host, e.fault, e.detail)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn a_world_with_dns_faults_answers_the_same_with_and_without_the_replay(
        faults in prop::collection::vec(fault(), 0..4),
        queries in prop::collection::vec(datagram(), 1..24),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let (kept, kept_journal) = pipeline(&faults, true);
            let (plain, plain_journal) = pipeline(&faults, false);
            // Each question twice (the second comes from the kept bytes), with another ID.
            for (raw, https) in queries.iter().flat_map(|(raw, h)| {
                let mut again = raw.clone();
                if again.len() >= 2 {
                    again[0] ^= 0x5a;
                }
                [(raw.clone(), *h), (again, *h)]
            }) {
                let (a, b) = (ask(&kept, &raw, https).await, ask(&plain, &raw, https).await);
                prop_assert_eq!(a, b, "{:?} over {}", raw, if https { "DoH" } else { "UDP" });
            }
            prop_assert_eq!(seen(kept_journal.snapshot()), seen(plain_journal.snapshot()));
            Ok::<(), TestCaseError>(())
        })?;
    }
}

/// The replay does answer from its table (else the property above proves nothing).
#[tokio::test]
async fn a_question_asked_again_is_answered_from_the_kept_bytes_with_its_fault() {
    let f = DnsFault { names: HostPattern::parse("*.contoso.com").unwrap(), window: Window::default(), effect: DnsEffect::ServFail {} };
    let (p, journal) = pipeline(&[f], true);
    let mut m = Message::new(1, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(Name::from_ascii("EnterpriseRegistration.contoso.com").unwrap(), RecordType::A));
    let raw = m.to_vec().unwrap();
    let mut out = Vec::new();
    assert_eq!(p.replayed(&raw, Transport::Udp, &mut out), None, "not kept before it is answered");
    let first = p.answer_bytes(raw.clone(), SocketAddr::from((Ipv4Addr::LOCALHOST, 5353)), Transport::Udp).await;
    let mut again = raw.clone();
    again[..2].copy_from_slice(&[0xbe, 0xef]);
    assert_eq!(p.replayed(&again, Transport::Udp, &mut out), Some(true));
    let replayed = Message::from_vec(&out).unwrap();
    assert_eq!(replayed.metadata.id, 0xbeef);
    assert_eq!(replayed.metadata.response_code, hickory_server::proto::op::ResponseCode::ServFail);
    assert_eq!(&out[2..], &first.message().unwrap()[2..]);
    assert_eq!(p.replayed(&again, Transport::Https, &mut out), None, "each transport keeps its own");
    let events = journal.snapshot();
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.fault.as_deref() == Some("dns.serv_fail")), "{events:?}");
}

/// A `dns.delay` answer is never kept: each query waits again.
#[tokio::test]
async fn a_delayed_answer_is_not_kept() {
    let f = DnsFault {
        names: HostPattern::parse("*.contoso.com").unwrap(),
        window: Window::default(),
        effect: DnsEffect::Delay { delay: SimDuration::from_millis(20) },
    };
    let (p, _journal) = pipeline(&[f], true);
    let mut m = Message::new(1, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(Name::from_ascii("EnterpriseRegistration.contoso.com").unwrap(), RecordType::A));
    let raw = m.to_vec().unwrap();
    assert!(p.answer_bytes(raw.clone(), SocketAddr::from((Ipv4Addr::LOCALHOST, 5353)), Transport::Udp).await.message().is_some());
    assert_eq!(p.replayed(&raw, Transport::Udp, &mut Vec::new()), None);
}
