//! Garbage and arbitrary well-formed queries never crash the server: malformed packets get
//! FORMERR or silence, every well-formed query gets a response with its id, and the server
//! keeps answering afterwards. Over UDP, TCP and the DoH entry point.

mod common;

use std::time::Duration;

use common::*;
use hickory_net::proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_net::proto::rr::{DNSClass, Name, RecordType};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// 512 cases in CI; PROPTEST_CASES raises it (bench/fuzz-parsers.sh).
fn cases() -> Config {
    Config { cases: Config::default().cases.max(512), failure_persistence: None, ..Config::default() }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// Read datagrams until the response to `id` arrives; every datagram must be a DNS response.
async fn until_answer(sock: &tokio::net::UdpSocket, id: u16) -> Message {
    let mut buf = vec![0u8; 65_535];
    loop {
        let (n, _) = tokio::time::timeout(Duration::from_secs(10), sock.recv_from(&mut buf)).await.expect("server stopped answering").unwrap();
        let m = Message::from_vec(&buf[..n]).expect("every datagram the server sends is DNS");
        assert_eq!(m.metadata.message_type, MessageType::Response);
        if m.metadata.id == id && m.metadata.response_code == ResponseCode::NoError {
            return m;
        }
        assert!(
            matches!(
                m.metadata.response_code,
                ResponseCode::FormErr | ResponseCode::NotImp | ResponseCode::Refused | ResponseCode::NXDomain | ResponseCode::NoError
            ) || u16::from(m.metadata.response_code) == 16,
            "{m:?}"
        );
    }
}

#[test]
fn arbitrary_bytes_over_udp_tcp_and_doh_never_stop_the_server() {
    let rt = rt();
    let w = rt.block_on(start(vec![], 1.0));
    let sock = rt.block_on(tokio::net::UdpSocket::bind("127.0.0.1:0")).unwrap();
    let mut runner = TestRunner::new(cases());
    let garbage = prop::collection::vec(any::<u8>(), 0..600);
    runner
        .run(&garbage, |bytes| {
            rt.block_on(async {
                sock.send_to(&bytes, w.addr()).await.unwrap();
                // TCP: a length prefix that may lie, then the bytes.
                let mut tcp = tokio::net::TcpStream::connect(w.addr()).await.unwrap();
                let len = u16::try_from(bytes.len()).unwrap();
                let _ = tcp.write_all(&len.to_be_bytes()).await;
                let _ = tcp.write_all(&bytes).await;
                if let Some(out) = w.server.wire().answer(bytes.clone()).await.message() {
                    let m = Message::from_vec(&out).expect("DoH answers are DNS");
                    assert_eq!(m.metadata.message_type, MessageType::Response);
                }
            });
            Ok(())
        })
        .unwrap();
    rt.block_on(async {
        // A fresh socket: the fuzzing one holds hundreds of unread FORMERR answers, and a full
        // receive buffer would drop this answer in the kernel, not in the server.
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        sock.send_to(&query_bytes(4242, "EnterpriseEnrollment.contoso.com.", RecordType::A), w.addr()).await.unwrap();
        let m = until_answer(&sock, 4242).await;
        assert_eq!(m.answers.len(), 2, "still answering correctly after the garbage");
        let tcp = ask(w.addr(), Via::Tcp, "EnterpriseEnrollment.contoso.com.", RecordType::A).await.unwrap();
        assert_eq!(tcp.answers.len(), 2);
    });
}

fn name_strategy() -> impl Strategy<Value = String> {
    let label = "[a-zA-Z0-9_][a-zA-Z0-9_-]{0,19}";
    let suffix = prop::sample::select(vec!["contoso.com", "us.contoso.com", "manage.microsoft.com", "windows.net", "example.org", "memsim.test", ""]);
    (prop::collection::vec(label, 0..4), suffix).prop_map(|(labels, suffix)| {
        let mut parts = labels;
        if !suffix.is_empty() {
            parts.push(suffix.to_string());
        }
        if parts.is_empty() { ".".to_string() } else { format!("{}.", parts.join(".")) }
    })
}

#[test]
fn arbitrary_well_formed_queries_each_get_a_response_with_their_id() {
    let rt = rt();
    let w = rt.block_on(start(vec![], 1.0));
    let sock = rt.block_on(tokio::net::UdpSocket::bind("127.0.0.1:0")).unwrap();
    let mut runner = TestRunner::new(cases());
    let query = (any::<u16>(), name_strategy(), any::<u16>(), prop::sample::select(vec![1u16, 3, 4, 254, 255]), any::<bool>(), any::<bool>(), 0u8..6);
    runner
        .run(&query, |(id, name, qtype, class, rd, edns, opcode)| {
            let mut m = Message::new(id, MessageType::Query, OpCode::from_u8(opcode));
            m.metadata.recursion_desired = rd;
            let mut q = Query::query(Name::from_ascii(&name).unwrap(), RecordType::from(qtype));
            q.set_query_class(DNSClass::from(class));
            m.add_query(q);
            if edns {
                m.set_edns(Edns::new());
            }
            let bytes = m.to_vec().unwrap();
            let answer = rt.block_on(async {
                sock.send_to(&bytes, w.addr()).await.unwrap();
                let mut buf = vec![0u8; 65_535];
                let (n, _) = tokio::time::timeout(Duration::from_secs(10), sock.recv_from(&mut buf)).await.expect("every query is answered").unwrap();
                Message::from_vec(&buf[..n]).unwrap()
            });
            prop_assert_eq!(answer.metadata.id, id);
            prop_assert_eq!(answer.metadata.message_type, MessageType::Response);
            prop_assert!(!answer.metadata.recursion_available, "never recursive");
            // An answer, if any, only ever holds loopback addresses: nothing points off the machine.
            for r in &answer.answers {
                if let hickory_net::proto::rr::RData::A(a) = &r.data {
                    prop_assert!(a.0.is_loopback(), "{:?}", r);
                }
            }
            Ok(())
        })
        .unwrap();
    // A TCP stream with a length prefix longer than what follows, then closed: the server
    // drops the connection and keeps serving.
    rt.block_on(async {
        let mut tcp = tokio::net::TcpStream::connect(w.addr()).await.unwrap();
        tcp.write_all(&[0xff, 0xff, 1, 2, 3]).await.unwrap();
        tcp.shutdown().await.unwrap();
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(15), tcp.read_to_end(&mut rest)).await;
        let ok = ask(w.addr(), Via::Udp, "r.manage.microsoft.com.", RecordType::A).await.unwrap();
        assert_eq!(ok.answers.len(), 1);
    });
}
