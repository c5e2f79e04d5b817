//! Each DNS fault behaves as named, through hickory's client over UDP and TCP, and is
//! journaled with its kind. Time-dependent faults run on a fast simulated clock.

mod common;

use std::time::{Duration, Instant};

use common::*;
use hickory_net::proto::op::ResponseCode;
use hickory_net::proto::rr::RecordType;

const EE: &str = "EnterpriseEnrollment.contoso.com.";

async fn one(toml: &str, via: Via, name: &str, qtype: RecordType) -> (World, hickory_net::proto::op::DnsResponse) {
    let w = start(faults(toml), 1.0).await;
    let r = ask(w.addr(), via, name, qtype).await.unwrap_or_else(|e| panic!("{toml} {via:?}: {e}"));
    (w, r)
}

fn fault_of(w: &World, host: &str) -> Option<String> {
    w.events_for(host).last().and_then(|e| e.fault.clone())
}

#[tokio::test]
async fn nx_domain_removes_the_name_and_gives_the_zone_soa() {
    for via in BOTH {
        let (w, r) = one("[[fault]]\nkind = \"dns.nx_domain\"\nnames = \"EnterpriseEnrollment.contoso.com\"", via, EE, RecordType::A).await;
        assert_eq!(r.metadata.response_code, ResponseCode::NXDomain, "{via:?}");
        assert!(r.answers.is_empty());
        assert_eq!(r.soa().unwrap().name().to_string(), "contoso.com.");
        assert_eq!(fault_of(&w, "enterpriseenrollment.contoso.com").as_deref(), Some("dns.nx_domain"));
        // Another tenant domain keeps its CNAME.
        let ok = ask(w.addr(), via, "EnterpriseEnrollment.us.contoso.com.", RecordType::A).await.unwrap();
        assert_eq!(lines(&ok).len(), 2);
    }
}

#[tokio::test]
async fn nx_domain_on_a_chain_target_keeps_the_alias_as_rfc_6604_says() {
    let (_w, r) = one("[[fault]]\nkind = \"dns.nx_domain\"\nnames = \"*.manage.microsoft.com\"", Via::Udp, EE, RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(lines(&r), ["enterpriseenrollment.contoso.com. CNAME EnterpriseEnrollment-s.manage.microsoft.com."]);
    assert_eq!(r.soa().unwrap().name().to_string(), "microsoft.com.");
}

#[tokio::test]
async fn serv_fail_and_refused_answer_with_their_code_and_nothing_else() {
    for (kind, code) in [("dns.serv_fail", ResponseCode::ServFail), ("dns.refused", ResponseCode::Refused)] {
        for via in BOTH {
            let (w, r) = one(&format!("[[fault]]\nkind = \"{kind}\"\nnames = \"*.manage.microsoft.com\""), via, EE, RecordType::A).await;
            assert_eq!(r.metadata.response_code, code, "{kind} {via:?}");
            assert!(r.answers.is_empty() && r.authorities.is_empty());
            let e = w.events_for("enterpriseenrollment.contoso.com").pop().unwrap();
            assert_eq!(e.fault.as_deref(), Some(kind));
            assert_eq!(e.detail["rcode"], if kind == "dns.serv_fail" { "SERVFAIL" } else { "REFUSED" });
        }
    }
}

#[tokio::test]
async fn drop_sends_nothing_so_the_client_times_out_and_the_server_keeps_serving() {
    let w = start(faults("[[fault]]\nkind = \"dns.drop\"\nnames = \"*.windows.net\""), 1.0).await;
    for via in BOTH {
        let mut c = client(w.addr(), via, Duration::from_millis(300)).await;
        use hickory_net::client::ClientHandle;
        let name = hickory_net::proto::rr::Name::from_ascii("EnterpriseRegistration.contoso.com.").unwrap();
        let err = c.query(name, hickory_net::proto::rr::DNSClass::IN, RecordType::A).await.unwrap_err();
        assert!(err.to_string().to_lowercase().contains("timed out") || err.to_string().contains("timeout"), "{via:?}: {err}");
        let ok = ask(w.addr(), via, EE, RecordType::A).await.unwrap();
        assert_eq!(lines(&ok).len(), 2, "{via:?}: other names still answer");
    }
    let events = w.events_for("enterpriseregistration.contoso.com");
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.detail["answered"] == false && e.fault.as_deref() == Some("dns.drop")));
}

#[tokio::test]
async fn delay_answers_correctly_after_the_simulated_delay() {
    // 60 s simulated at 600x is 100 ms of wall time.
    let w = start(faults("[[fault]]\nkind = \"dns.delay\"\nnames = \"EnterpriseEnrollment.contoso.com\"\ndelay = \"60s\""), 600.0).await;
    let started = Instant::now();
    let r = ask(w.addr(), Via::Udp, EE, RecordType::A).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(100), "{:?}", started.elapsed());
    assert_eq!(lines(&r).len(), 2);
    assert_eq!(fault_of(&w, "enterpriseenrollment.contoso.com").as_deref(), Some("dns.delay"));
}

#[tokio::test]
async fn wrong_address_answers_another_loopback_address() {
    let (w, r) = one("[[fault]]\nkind = \"dns.wrong_address\"\nnames = \"*.manage.microsoft.com\"", Via::Tcp, EE, RecordType::A).await;
    assert_eq!(lines(&r)[1], "enterpriseenrollment-s.manage.microsoft.com. A 127.0.0.2");
    let other = ask(w.addr(), Via::Tcp, "GraniteFalls.cloudapp.net.", RecordType::A).await.unwrap();
    assert_eq!(lines(&other), ["granitefalls.cloudapp.net. A 127.0.0.1"], "names outside the pattern are untouched");
}

#[tokio::test]
async fn cname_target_points_the_alias_elsewhere_and_follows_it() {
    let toml = "[[fault]]\nkind = \"dns.cname_target\"\nnames = \"EnterpriseEnrollment.contoso.com\"\ntarget = \"EnterpriseEnrollment.manage.microsoft.com\"";
    for via in BOTH {
        let (w, r) = one(toml, via, EE, RecordType::A).await;
        assert_eq!(
            lines(&r),
            ["enterpriseenrollment.contoso.com. CNAME enterpriseenrollment.manage.microsoft.com.", "enterpriseenrollment.manage.microsoft.com. A 127.0.0.1",],
            "{via:?}"
        );
        assert_eq!(r.answers[0].ttl, 3600, "the alias keeps the TTL of the record it replaces");
        assert_eq!(fault_of(&w, "enterpriseenrollment.contoso.com").as_deref(), Some("dns.cname_target"));
    }
}

#[tokio::test]
async fn truncate_forces_tc_over_udp_and_tcp_still_answers() {
    let w = start(faults("[[fault]]\nkind = \"dns.truncate\"\nnames = \"*.contoso.com\""), 1.0).await;
    let raw = udp_raw(w.addr(), &query_bytes(3, EE, RecordType::A), Duration::from_secs(5)).await.unwrap();
    let m = hickory_net::proto::op::Message::from_vec(&raw).unwrap();
    assert!(m.metadata.truncation && m.answers.is_empty());
    let tcp = ask(w.addr(), Via::Tcp, EE, RecordType::A).await.unwrap();
    assert_eq!(lines(&tcp).len(), 2);
    let events = w.events_for("enterpriseenrollment.contoso.com");
    assert_eq!(events[0].fault.as_deref(), Some("dns.truncate"));
    assert_eq!(events[1].fault, None, "over TCP the fault does not fire");
}

#[tokio::test]
async fn ttl_sets_every_ttl_of_the_answer_in_wall_seconds() {
    let w = start(faults("[[fault]]\nkind = \"dns.ttl\"\nnames = \"*.contoso.com\"\nttl = \"2h\""), 60.0).await;
    let r = ask(w.addr(), Via::Udp, EE, RecordType::A).await.unwrap();
    assert_eq!(r.answers.iter().map(|a| a.ttl).collect::<Vec<_>>(), [120, 120], "2 h simulated at 60x is 120 s");
}

#[tokio::test]
async fn a_fault_outside_its_window_does_not_fire() {
    let w = start(faults("[[fault]]\nkind = \"dns.serv_fail\"\nnames = \"*.contoso.com\"\nafter = \"1h\""), 1.0).await;
    let r = ask(w.addr(), Via::Udp, EE, RecordType::A).await.unwrap();
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert_eq!(fault_of(&w, "enterpriseenrollment.contoso.com"), None);
}

#[tokio::test]
async fn the_first_matching_fault_in_scenario_order_fires() {
    let toml =
        "[[fault]]\nkind = \"dns.refused\"\nnames = \"EnterpriseEnrollment.contoso.com\"\n[[fault]]\nkind = \"dns.serv_fail\"\nnames = \"*.contoso.com\"";
    let (w, r) = one(toml, Via::Udp, EE, RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);
    let other = ask(w.addr(), Via::Udp, "EnterpriseRegistration.contoso.com.", RecordType::A).await.unwrap();
    assert_eq!(other.metadata.response_code, ResponseCode::ServFail);
}
