//! The server through hickory's own client and stub resolver, over UDP and TCP: whole CNAME
//! chains, wildcards, NXDOMAIN with SOA, REFUSED, NODATA, SRV, EDNS, truncation and the TCP
//! retry, and one journal event per question.

mod common;

use std::net::IpAddr;

use common::*;
use hickory_net::proto::op::{Edns, ResponseCode};
use hickory_net::proto::rr::RecordType;
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_resolver::Resolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};

/// hickory's stub resolver pointed at the server only (no system configuration), with `port`.
fn resolver(addr: std::net::SocketAddr, udp_then_tcp: bool) -> Resolver<TokioRuntimeProvider> {
    let mut ns = if udp_then_tcp { NameServerConfig::udp_and_tcp(addr.ip()) } else { NameServerConfig::tcp(addr.ip()) };
    for c in &mut ns.connections {
        c.port = addr.port();
    }
    let mut opts = ResolverOpts::default();
    opts.cache_size = 0;
    opts.attempts = 1;
    Resolver::builder_with_config(ResolverConfig::from_parts(None, vec![], vec![ns]), TokioRuntimeProvider::default()).with_options(opts).build().unwrap()
}

#[tokio::test]
async fn tenant_cname_chains_come_back_whole_in_one_answer_over_udp_and_tcp() {
    let w = start(vec![], 1.0).await;
    for via in BOTH {
        let r = ask(w.addr(), via, "enterpriseenrollment.contoso.com.", RecordType::A).await.unwrap();
        assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{via:?}");
        assert!(r.metadata.authoritative, "{via:?}: authoritative answer");
        assert!(!r.metadata.recursion_available, "{via:?}: never a recursive server");
        assert_eq!(
            lines(&r),
            [
                "enterpriseenrollment.contoso.com. CNAME EnterpriseEnrollment-s.manage.microsoft.com.",
                "enterpriseenrollment-s.manage.microsoft.com. A 127.0.0.1",
            ],
            "{via:?}"
        );
        let reg = ask(w.addr(), via, "EnterpriseRegistration.us.contoso.com.", RecordType::A).await.unwrap();
        assert_eq!(lines(&reg).len(), 2, "{via:?}: {:?}", lines(&reg));
        assert_eq!(reg.answers[0].ttl, 3600, "seed 003: TTL 1 uur");
    }
}

#[tokio::test]
async fn the_stub_resolver_gets_loopback_for_chains_and_wildcards() {
    let w = start(vec![], 1.0).await;
    let r = resolver(w.addr(), true);
    for name in ["EnterpriseEnrollment.contoso.com.", "fef.msua06.manage.microsoft.com.", "GraniteFalls.contoso.com."] {
        let ips: Vec<IpAddr> = r.lookup_ip(name).await.unwrap_or_else(|e| panic!("{name}: {e}")).iter().collect();
        assert_eq!(ips, [IpAddr::from([127, 0, 0, 1])], "{name}");
    }
}

#[tokio::test]
async fn unknown_names_inside_are_nxdomain_with_soa_outside_refused_aaaa_nodata() {
    let w = start(vec![], 1.0).await;
    for via in BOTH {
        let nx = ask(w.addr(), via, "nope.contoso.com.", RecordType::A).await.unwrap();
        assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain, "{via:?}");
        let soa = nx.soa().unwrap_or_else(|| panic!("{via:?}: NXDOMAIN carries the zone's SOA"));
        assert_eq!(soa.name().to_string(), "contoso.com.");
        assert_eq!(soa.data().mname.to_string(), "doh.memsim.test.");

        let out = ask(w.addr(), via, "www.example.org.", RecordType::A).await.unwrap();
        assert_eq!(out.metadata.response_code, ResponseCode::Refused, "{via:?}");
        assert!(out.answers.is_empty() && out.authorities.is_empty());

        let v6 = ask(w.addr(), via, "r.manage.microsoft.com.", RecordType::AAAA).await.unwrap();
        assert_eq!(v6.metadata.response_code, ResponseCode::NoError, "{via:?}: NODATA, not NXDOMAIN");
        assert!(v6.answers.is_empty() && v6.soa().is_some(), "{via:?}");
    }
}

#[tokio::test]
async fn management_point_srv_names_the_cmg_with_its_address() {
    let w = start(vec![], 1.0).await;
    let r = ask(w.addr(), Via::Udp, "_mssms_mp_abc._tcp.contoso.com.", RecordType::SRV).await.unwrap();
    assert_eq!(lines(&r), ["_mssms_mp_abc._tcp.contoso.com. SRV 0 0 443 GraniteFalls.cloudapp.net."]);
    assert_eq!(r.answers[0].ttl, 14_400, "protocols.md §13: TTL 14400");
    assert_eq!(r.additionals.iter().filter(|a| a.record_type() == RecordType::A).count(), 1);
}

#[tokio::test]
async fn edns_is_answered_and_an_unknown_version_gets_badvers() {
    let w = start(vec![], 1.0).await;
    let r = ask(w.addr(), Via::Udp, "r.manage.microsoft.com.", RecordType::A).await.unwrap();
    assert!(r.edns.is_some(), "hickory's client sends EDNS; the answer carries OPT (RFC 6891 §6.1.1)");

    let mut q = hickory_net::proto::op::Message::from_vec(&query_bytes(7, "r.manage.microsoft.com.", RecordType::A)).unwrap();
    let mut edns = Edns::new();
    edns.set_version(1);
    q.set_edns(edns);
    let raw = udp_raw(w.addr(), &q.to_vec().unwrap(), std::time::Duration::from_secs(5)).await.unwrap();
    let m = hickory_net::proto::op::Message::from_vec(&raw).unwrap();
    // 16 is BADVERS in an OPT record and BADSIG in a TSIG one (RFC 6895 §2.3); hickory names it BADSIG.
    assert_eq!(u16::from(m.metadata.response_code), 16, "BADVERS (RFC 6891 §6.1.3)");
}

#[tokio::test]
async fn a_large_answer_is_truncated_over_udp_and_the_resolver_retries_over_tcp() {
    let w = start(vec![], 1.0).await;
    let raw = udp_raw(w.addr(), &query_bytes(9, "many.memsim.test.", RecordType::A), std::time::Duration::from_secs(5)).await.unwrap();
    let m = hickory_net::proto::op::Message::from_vec(&raw).unwrap();
    assert!(m.metadata.truncation, "60 A records do not fit 512 bytes (RFC 1035 §4.2.1)");
    assert!(raw.len() <= 512);
    let tcp = ask(w.addr(), Via::Tcp, "many.memsim.test.", RecordType::A).await.unwrap();
    assert_eq!(tcp.answers.len(), 60);
    let ips = resolver(w.addr(), true).lookup_ip("many.memsim.test.").await.unwrap();
    assert_eq!(ips.iter().count(), 60, "RFC 7766 §5: TC over UDP, the whole answer over TCP");
    let events = w.events_for("many.memsim.test");
    assert!(events.iter().any(|e| e.detail["transport"] == "udp" && e.detail["truncated"] == true), "{events:#?}");
}

#[tokio::test]
async fn every_question_is_one_journal_event_with_what_was_answered() {
    let w = start(vec![], 1.0).await;
    ask(w.addr(), Via::Tcp, "EnterpriseEnrollment.contoso.com.", RecordType::A).await.unwrap();
    ask(w.addr(), Via::Udp, "nope.contoso.com.", RecordType::A).await.unwrap();
    let e = &w.events_for("enterpriseenrollment.contoso.com")[0];
    assert_eq!((e.component.as_str(), e.what.as_str()), ("dns", "query"));
    assert_eq!(e.detail["type"], "A");
    assert_eq!(e.detail["transport"], "tcp");
    assert_eq!(e.detail["rcode"], "NOERROR");
    assert_eq!(e.detail["answered"], true);
    let answer: Vec<&str> = e.detail["answer"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(answer.len(), 2);
    assert!(answer[0].contains("CNAME") && answer[1].ends_with("127.0.0.1"), "{answer:?}");
    assert!(e.fault.is_none());
    let nx = &w.events_for("nope.contoso.com")[0];
    assert_eq!((nx.detail["rcode"].as_str(), nx.detail["transport"].as_str()), (Some("NXDOMAIN"), Some("udp")));
}

#[tokio::test]
async fn doh_bytes_go_through_the_same_pipeline() {
    let w = start(vec![], 1.0).await;
    let wire = w.server.wire();
    let raw = wire.answer(query_bytes(0, "EnterpriseEnrollment.contoso.com.", RecordType::A)).await.message().unwrap();
    let m = hickory_net::proto::op::Message::from_vec(&raw).unwrap();
    assert_eq!(m.metadata.id, 0, "RFC 8484 §4.1: id 0 is echoed");
    assert_eq!(lines(&m).len(), 2);
    let garbage = wire.answer(vec![0xab; 40]).await.message().unwrap();
    let f = hickory_net::proto::op::Message::from_vec(&garbage).unwrap();
    assert_eq!(f.metadata.response_code, ResponseCode::FormErr);
    assert_eq!(wire.answer(vec![1, 2, 3]).await, mock_dns::WireAnswer::NotAQuery, "not even a header");
    let e = &w.events_for("enterpriseenrollment.contoso.com")[0];
    assert_eq!(e.detail["transport"], "https");
    assert!(w.journal.snapshot().iter().any(|e| e.what == "malformed"));
}

#[tokio::test]
async fn a_repeated_question_gets_its_own_id_case_and_edns_from_the_memo() {
    // Each question twice: the second time it is replayed as bytes (a world without DNS
    // faults), and still carries its own ID.
    let w = start(vec![], 1.0).await;
    let wait = std::time::Duration::from_secs(5);
    let mut seen = Vec::new();
    let questions = [("enterpriseenrollment.contoso.com.", false), ("EnterpriseEnrollment.CONTOSO.com.", false), ("enterpriseenrollment.contoso.com.", true)];
    for (id, (name, edns)) in (1u16..).zip(questions.iter().chain(questions.iter())) {
        let (name, edns) = (*name, *edns);
        let mut q = hickory_net::proto::op::Message::from_vec(&query_bytes(id, name, RecordType::A)).unwrap();
        if edns {
            q.set_edns(Edns::new());
        }
        let raw = udp_raw(w.addr(), &q.to_vec().unwrap(), wait).await.unwrap();
        let m = hickory_net::proto::op::Message::from_vec(&raw).unwrap();
        assert_eq!(m.metadata.id, id);
        assert_eq!(m.queries[0].name().to_string(), name, "0x20: the question comes back as asked");
        assert_eq!(m.edns.is_some(), edns, "OPT only when the request had it");
        seen.push(lines(&m));
    }
    assert!(seen.iter().all(|l| l == &seen[0] && l.len() == 2), "{seen:?}");
    let events = w.events_for("enterpriseenrollment.contoso.com");
    assert_eq!(events.len(), 6, "every query journaled, replayed or not");
    assert!(events.iter().all(|e| e.detail["rcode"] == "NOERROR" && e.detail["answer"].as_array().unwrap().len() == 2), "{events:?}");
}
