//! Answers replayed as bytes (issue 20, deliverable 3) go stale exactly when the faults say:
//! when a fault's window opens or closes in simulated time, and when a running world's faults
//! change (issue 17). Real queries over UDP through the server's own thread, where the replay
//! answers every question asked before.

mod common;

use std::time::Duration;

use common::*;
use hickory_net::proto::op::{Message, ResponseCode};
use hickory_net::proto::rr::RecordType;
use mock_dns::{DnsConfig, DnsServer};
use scenarios::{Clock, FaultStore, Journal};

const ER: &str = "EnterpriseRegistration.contoso.com.";

/// One question over UDP, as raw bytes (the same bytes each time but the ID): its rcode.
async fn rcode(w: &World, id: u16) -> ResponseCode {
    let raw = udp_raw(w.addr(), &query_bytes(id, ER, RecordType::A), Duration::from_secs(5)).await.expect("an answer");
    let m = Message::from_vec(&raw).unwrap();
    assert_eq!(m.metadata.id, id);
    m.metadata.response_code
}

/// The window's edge passes while the same question keeps coming: the kept answer from before
/// the edge is not replayed after it.
#[tokio::test]
async fn a_window_that_closes_changes_the_replayed_answer() {
    // 1 h simulated at 7200x: the fault is active for the first 500 ms of wall time.
    let w = start(faults("[[fault]]\nkind = \"dns.serv_fail\"\nnames = \"*.contoso.com\"\nuntil = \"1h\""), 7200.0).await;
    let edge = Duration::from_millis(500);
    assert_eq!(rcode(&w, 1).await, ResponseCode::ServFail);
    assert_eq!(rcode(&w, 2).await, ResponseCode::ServFail, "replayed inside the window");
    assert!(w.journal.clock().wall_elapsed() < edge, "the machine was too slow to ask twice inside the window; the test says nothing");
    // Let the simulated clock pass the edge: time passing is what this test is about, not a
    // peer to synchronise with (the journal's clock runs on wall time).
    tokio::time::sleep(edge.saturating_sub(w.journal.clock().wall_elapsed()) + Duration::from_millis(10)).await;
    assert!(w.journal.clock().wall_elapsed() > edge);
    assert_eq!(rcode(&w, 3).await, ResponseCode::NoError, "the window closed");
    assert_eq!(rcode(&w, 4).await, ResponseCode::NoError);
    let faults: Vec<_> = w.events_for("enterpriseregistration.contoso.com").into_iter().map(|e| e.fault).collect();
    assert_eq!(faults, [Some("dns.serv_fail".to_string()), Some("dns.serv_fail".to_string()), None, None], "every query journaled");
}

/// A fault added to a running world applies from the next query on, though the same question
/// was answered (and kept) a moment before; removing it restores the answer at once.
#[tokio::test]
async fn a_runtime_fault_change_is_seen_by_the_next_query() {
    let journal = Journal::new(Clock::new(time::OffsetDateTime::now_utc(), 1.0));
    let store = FaultStore::fixed(vec![], journal.clone());
    let (udp, tcp) = mock_dns::bind_loopback().await.unwrap();
    let config = DnsConfig { zones: contoso(), faults: vec![], journal: journal.clone(), udp, tcp };
    let w = World { server: DnsServer::start_live(config, store.clone()).unwrap(), journal };
    assert_eq!(rcode(&w, 1).await, ResponseCode::NoError);
    assert_eq!(rcode(&w, 2).await, ResponseCode::NoError);
    let added = store.add("kind = \"dns.nx_domain\"\nnames = \"EnterpriseRegistration.contoso.com\"", "test").unwrap();
    assert_eq!(rcode(&w, 3).await, ResponseCode::NXDomain);
    assert_eq!(rcode(&w, 4).await, ResponseCode::NXDomain);
    store.remove(added[0].id).unwrap();
    assert_eq!(rcode(&w, 5).await, ResponseCode::NoError);
    let events = w.events_for("enterpriseregistration.contoso.com");
    assert_eq!(events.len(), 5, "every query journaled");
    assert_eq!(events[2].fault.as_deref(), Some("dns.nx_domain"));
    assert_eq!(events[4].fault, None);
}
