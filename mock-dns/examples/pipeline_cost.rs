//! CPU per query of the DNS pipeline (journal, faults, memo, zones, encode) without sockets,
//! through the DoH entry point: where the time of bench/dns-vs-dnsmasq.py goes that is not
//! the kernel's. Run: `cargo run --release -p mock-dns --example pipeline_cost [QUERIES]`.
//! It is a measurement, not a test: it asserts only that every query is answered.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use mock_dns::{DnsConfig, DnsServer, RecordData, ZoneSet, bind_loopback};
use scenarios::{Clock, Component, Journal, NewEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let mut z = ZoneSet::new("ns.memsim.test", "hostmaster.memsim.test", Duration::from_secs(300)).unwrap();
    z.add_zone("contoso.com").unwrap().add_zone("microsoft.com").unwrap();
    let target = RecordData::Cname("EnterpriseEnrollment-s.manage.microsoft.com".into());
    z.add("EnterpriseEnrollment.contoso.com", Duration::from_secs(3600), target).unwrap();
    z.add("*.manage.microsoft.com", Duration::from_secs(300), RecordData::A(Ipv4Addr::LOCALHOST)).unwrap();
    let journal = Journal::new(Clock::new(time::OffsetDateTime::now_utc(), 1.0));
    let (udp, tcp) = bind_loopback().await.unwrap();
    let server = DnsServer::start(DnsConfig { zones: z, faults: vec![], journal: journal.clone(), udp, tcp }).unwrap();
    let wire = server.wire();
    // EnterpriseEnrollment.contoso.com A, built by hand once so the loop measures the server.
    let mut query = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in ["EnterpriseEnrollment", "contoso", "com"] {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 1, 0, 1]);
    let started = Instant::now();
    for _ in 0..n {
        assert!(wire.answer(query.clone()).await.message().is_some());
    }
    let per = started.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    println!("{per:.2} us per query over {n} queries ({} journal events)", journal.len());
    // The journal's share: the same kind of event (as a replayed answer journals it), cloned
    // and recorded alone.
    let event = NewEvent::new(Component::Dns, "query")
        .detail("transport", "https")
        .detail("answered", true)
        .host("enterpriseenrollment.contoso.com")
        .detail("type", "A")
        .detail("rcode", "NOERROR")
        .detail(
            "answer",
            vec![
                "EnterpriseEnrollment.contoso.com. 3600 IN CNAME EnterpriseEnrollment-s.manage.microsoft.com.",
                "EnterpriseEnrollment-s.manage.microsoft.com. 300 IN A 127.0.0.1",
            ],
        )
        .detail("truncated", false);
    let started = Instant::now();
    for _ in 0..n {
        journal.record(event.clone());
    }
    let journal_per = started.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    println!("{journal_per:.2} us per journal event alone (clone + record), {:.0} % of a query", 100.0 * journal_per / per);
}
