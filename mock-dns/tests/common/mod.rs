//! Test support: a DNS server on loopback serving a small Contoso world (synthetic zone data
//! shaped like the harness's), and hickory clients — the low-level client for exact messages,
//! the stub resolver for what an application sees — over UDP and TCP.
#![allow(dead_code)] // each test file uses part of it

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_net::NetError;
use hickory_net::client::{Client, ClientHandle};
use hickory_net::proto::op::{DnsResponse, Message, MessageType, OpCode, Query};
use hickory_net::proto::rr::{DNSClass, Name, RecordType};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::udp::UdpClientStream;
use mock_dns::{DnsConfig, DnsServer, RecordData, ZoneSet};
use scenarios::{Clock, DnsFault, Journal};

pub const HOUR: Duration = Duration::from_secs(3600);

/// Zones shaped like a public-cloud Contoso world: tenant CNAMEs into Microsoft's zones,
/// a wildcard, an SRV record, and one name with many addresses (to overflow 512 bytes).
pub fn contoso() -> ZoneSet {
    let mut z = ZoneSet::new("doh.memsim.test", "hostmaster.memsim.test", Duration::from_secs(300)).unwrap();
    for zone in ["contoso.com", "us.contoso.com", "microsoft.com", "windows.net", "cloudapp.net", "memsim.test"] {
        z.add_zone(zone).unwrap();
    }
    let lo = RecordData::A(Ipv4Addr::LOCALHOST);
    for domain in ["contoso.com", "us.contoso.com"] {
        z.add(&format!("EnterpriseEnrollment.{domain}"), HOUR, RecordData::Cname("EnterpriseEnrollment-s.manage.microsoft.com".into())).unwrap();
        z.add(&format!("EnterpriseRegistration.{domain}"), HOUR, RecordData::Cname("EnterpriseRegistration.windows.net".into())).unwrap();
    }
    z.add("GraniteFalls.contoso.com", HOUR, RecordData::Cname("GraniteFalls.cloudapp.net".into())).unwrap();
    z.add(
        "_mssms_mp_abc._tcp.contoso.com",
        Duration::from_secs(14_400),
        RecordData::Srv { priority: 0, weight: 0, port: 443, target: "GraniteFalls.cloudapp.net".into() },
    )
    .unwrap();
    for host in ["*.manage.microsoft.com", "manage.microsoft.com", "EnterpriseRegistration.windows.net", "GraniteFalls.cloudapp.net", "doh.memsim.test"] {
        z.add(host, Duration::from_secs(300), lo.clone()).unwrap();
    }
    for i in 1..=60u8 {
        z.add("many.memsim.test", Duration::from_secs(300), RecordData::A(Ipv4Addr::new(127, 0, 1, i))).unwrap();
    }
    z
}

pub struct World {
    pub server: DnsServer,
    pub journal: Journal,
}

impl World {
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The journal's DNS events for `host`, as (rcode, fault) pairs.
    pub fn events_for(&self, host: &str) -> Vec<scenarios::Event> {
        self.journal.snapshot().into_iter().filter(|e| e.host.as_deref() == Some(host)).collect()
    }
}

/// Start a server for `faults` on a world clock running `scale` times real time.
pub async fn start(faults: Vec<DnsFault>, scale: f64) -> World {
    let journal = Journal::new(Clock::new(time::OffsetDateTime::now_utc(), scale));
    let (udp, tcp) = mock_dns::bind_loopback().await.unwrap();
    let server = DnsServer::start(DnsConfig { zones: contoso(), faults, journal: journal.clone(), udp, tcp }).unwrap();
    World { server, journal }
}

/// Faults as a scenario file would declare them.
pub fn faults(toml: &str) -> Vec<DnsFault> {
    let text = format!("name = \"t\"\nsummary = \"s\"\narea = \"dns\"\nsource = \"test\"\n{toml}");
    scenarios::parse_scenario(&text, "test.toml").unwrap().dns_faults()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Udp,
    Tcp,
}

pub const BOTH: [Via; 2] = [Via::Udp, Via::Tcp];

/// hickory's low-level client over `via`, with a `timeout` per query.
pub async fn client(addr: SocketAddr, via: Via, timeout: Duration) -> Client<TokioRuntimeProvider> {
    let provider = TokioRuntimeProvider::default();
    match via {
        Via::Udp => {
            let stream = UdpClientStream::builder(addr, provider).with_timeout(Some(timeout)).build();
            let (client, bg) = Client::<TokioRuntimeProvider>::from_sender(stream);
            tokio::spawn(bg);
            client
        }
        Via::Tcp => {
            let (connect, handle) = TcpClientStream::new(addr, None, Some(timeout), provider);
            let (client, bg) = Client::<TokioRuntimeProvider>::with_timeout(connect.await.unwrap(), handle, timeout);
            tokio::spawn(bg);
            client
        }
    }
}

/// One question over `via`; the whole response message.
pub async fn ask(addr: SocketAddr, via: Via, name: &str, qtype: RecordType) -> Result<DnsResponse, NetError> {
    let mut c = client(addr, via, Duration::from_secs(5)).await;
    c.query(Name::from_ascii(name).unwrap(), DNSClass::IN, qtype).await
}

/// The answer section as `owner TYPE rdata` lines, owners lower-cased.
pub fn lines(m: &Message) -> Vec<String> {
    m.answers.iter().map(|r| format!("{} {} {}", r.name.to_lowercase(), r.record_type(), r.data)).collect()
}

/// A query message without EDNS, as bytes.
pub fn query_bytes(id: u16, name: &str, qtype: RecordType) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    m.to_vec().unwrap()
}

/// Send raw bytes over UDP and wait up to `wait` for one datagram back.
pub async fn udp_raw(addr: SocketAddr, bytes: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let sock = tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    sock.send_to(bytes, addr).await.unwrap();
    let mut buf = vec![0u8; 65_535];
    match tokio::time::timeout(wait, sock.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => Some(buf[..n].to_vec()),
        _ => None,
    }
}
