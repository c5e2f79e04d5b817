//! memsim's authoritative DNS: hickory-server answering, for the zones it is given, with
//! the records in them — loopback addresses, CNAME chains returned whole, SRV records — and
//! NXDOMAIN with the zone's SOA for names inside a zone, REFUSED for names outside every zone.
//! DNS faults are a layer around the request handler; every question is journaled.
//!
//! It is not a resolver: it never recurses and never forwards, so nothing leaves the machine.
//! It knows nothing of HTTP or of Microsoft: the harness hands it [`ZoneSet`] data derived
//! from the endpoint catalog, and serves DoH on its HTTPS front through [`DnsServer::wire`].
//!
//! Layout: `zones` (the data given), `store` (the lookup), `authority` (the zones as hickory's
//! `ZoneHandler`s), `memo` (answers kept per question), `faults` (the fault layer), `pipeline`
//! (journal, and the request handler hickory's `Server` runs for TCP), `replay` (UDP and DoH
//! answers kept as bytes while the faults and their windows stay as they were), `udp` (the UDP thread).

mod answer;
mod authority;
mod faults;
mod memo;
mod pipeline;
mod replay;
#[cfg(test)]
mod replay_tests;
mod store;
mod udp;
mod zones;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_server::Server;
use hickory_server::proto::rr::LowerName;
use hickory_server::zone_handler::Catalog;
use scenarios::{DnsFault, Journal};
use tokio::net::{TcpListener, UdpSocket};

pub use answer::Transport;
pub use pipeline::WireAnswer;
pub use zones::{RecordData, ZoneError, ZoneSet};

use crate::answer::Zones;
use crate::authority::WorldZone;
use crate::faults::FaultLayer;
use crate::memo::Memo;
use crate::pipeline::Pipeline;
use crate::replay::Replay;
use crate::store::Store;

/// A TCP connection that sends no query for this long is closed (RFC 7766 §6.2.3 leaves the
/// value to the server; a few seconds is usual).
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Responses queued per TCP connection.
const TCP_RESPONSE_BUFFER: usize = 32;

/// What the server needs: its zones, the DNS faults, the world's journal, and a UDP socket and
/// TCP listener already bound (on one port: see [`bind_loopback`]).
#[derive(Debug)]
pub struct DnsConfig {
    pub zones: ZoneSet,
    pub faults: Vec<DnsFault>,
    pub journal: Journal,
    pub udp: UdpSocket,
    pub tcp: TcpListener,
}

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("bind DNS sockets on loopback: {0}")]
    Bind(std::io::Error),
    #[error("the UDP socket and TCP listener are on different addresses ({udp} and {tcp}); DNS serves both on one")]
    AddrMismatch { udp: SocketAddr, tcp: SocketAddr },
    #[error("DNS server stopped with an error: {0}")]
    Stopped(String),
}

/// Bind a UDP socket and a TCP listener on the same ephemeral port of 127.0.0.1 (a DNS server
/// answers both on one address). Retries when another process holds the TCP half of the port.
pub async fn bind_loopback() -> Result<(UdpSocket, TcpListener), DnsError> {
    let mut last = None;
    for _ in 0..32 {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.map_err(DnsError::Bind)?;
        let addr = udp.local_addr().map_err(DnsError::Bind)?;
        match TcpListener::bind(addr).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = Some(e),
        }
    }
    Err(DnsError::Bind(last.unwrap_or_else(|| std::io::Error::other("no free port"))))
}

/// A running DNS server. Dropping it stops it.
pub struct DnsServer {
    addr: SocketAddr,
    zones: Vec<String>,
    /// hickory's server, for TCP.
    server: Server<Pipeline>,
    udp: Option<udp::UdpThread>,
    pipeline: Pipeline,
}

impl std::fmt::Debug for DnsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsServer").field("addr", &self.addr).field("zones", &self.zones.len()).finish()
    }
}

impl DnsServer {
    /// Serve `config.zones` on the given sockets. Call inside a tokio runtime.
    pub fn start(config: DnsConfig) -> Result<DnsServer, DnsError> {
        DnsServer::start_with(config, None)
    }

    /// [`DnsServer::start`], reading the faults from a running world's store (issue 17) instead
    /// of `config.faults`: a change applies from the next query on.
    pub fn start_live(config: DnsConfig, store: scenarios::FaultStore) -> Result<DnsServer, DnsError> {
        DnsServer::start_with(config, Some(store))
    }

    fn start_with(config: DnsConfig, live: Option<scenarios::FaultStore>) -> Result<DnsServer, DnsError> {
        let addr = config.udp.local_addr().map_err(DnsError::Bind)?;
        let tcp_addr = config.tcp.local_addr().map_err(DnsError::Bind)?;
        if addr != tcp_addr {
            return Err(DnsError::AddrMismatch { udp: addr, tcp: tcp_addr });
        }
        let clock = *config.journal.clock();
        let faults = match live {
            Some(store) => faults::Faults::Live(store),
            None => faults::Faults::Fixed(config.faults.into()),
        };
        // Answers kept as bytes, valid while the faults and their open windows stay as they were.
        let replay = Replay::new(faults.clone(), clock);
        let pipeline = Pipeline::new(layers(&config.zones, faults, clock), config.journal, Some(replay));
        let mut server = Server::new(pipeline.clone());
        server.register_listener(config.tcp, TCP_IDLE, TCP_RESPONSE_BUFFER);
        let udp = udp::UdpThread::start(config.udp, pipeline.clone()).map_err(DnsError::Bind)?;
        Ok(DnsServer { addr, zones: config.zones.zones().collect(), server, udp: Some(udp), pipeline })
    }

    /// The address both UDP and TCP answer on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The zones served, lower-case.
    pub fn zones(&self) -> &[String] {
        &self.zones
    }

    /// The same pipeline for DNS messages that arrive another way (RFC 8484 DoH).
    pub fn wire(&self) -> DnsWireAnswerer {
        DnsWireAnswerer(self.pipeline.clone())
    }

    /// Stop accepting queries and wait for the server's tasks and UDP thread; an error in one
    /// of them comes back here, and a panic is raised again here.
    pub async fn shutdown(mut self) -> Result<(), DnsError> {
        if let Some(udp) = self.udp.take() {
            // The thread stops within its stop check (50 ms); wait for it off the runtime.
            if let Err(e) = tokio::task::spawn_blocking(move || udp.join()).await
                && e.is_panic()
            {
                std::panic::resume_unwind(e.into_panic());
            }
        }
        self.server.shutdown_gracefully().await.map_err(|e| DnsError::Stopped(e.to_string()))
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        // hickory's server stops with its task set; the UDP thread stops when its handle goes.
        self.udp.take();
    }
}

/// The layers inside the journal: faults ∘ memo ∘ zones.
fn layers(zones: &ZoneSet, faults: faults::Faults, clock: scenarios::Clock) -> FaultLayer<Memo<Zones>> {
    let store = Arc::new(Store::build(zones));
    let mut catalog = Catalog::new();
    for zone in &zones.zones {
        let origin = LowerName::from(zone);
        catalog.upsert(origin.clone(), vec![Arc::new(WorldZone::new(origin, store.clone()))]);
    }
    FaultLayer::new(Memo::new(Zones(catalog)), faults, clock)
}

/// Answers DNS messages given as bytes with the server's zones, faults and journal.
#[derive(Clone)]
pub struct DnsWireAnswerer(Pipeline);

impl std::fmt::Debug for DnsWireAnswerer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DnsWireAnswerer")
    }
}

impl DnsWireAnswerer {
    /// What to do with one DNS message that came over DoH: a response to send, a query a
    /// fault dropped, or bytes that are no query at all.
    pub async fn answer(&self, query: Vec<u8>) -> WireAnswer {
        self.0.answer_doh(query).await
    }
}
