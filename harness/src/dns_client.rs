//! Asking the world's DNS server one question, as a stub resolver does: over UDP, again over TCP
//! when the answer is truncated. Used by the proxy (to resolve what clients ask it for) and by
//! the probes (which resolve as the Windows client does). It never asks any other server.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_net::client::{Client, ClientHandle};
use hickory_net::proto::op::{DnsResponse, ResponseCode};
use hickory_net::proto::rr::{DNSClass, Name, RData, RecordType};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::udp::UdpClientStream;

/// How long one query may take before the lookup fails (a stub resolver's first timeout).
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(3);

async fn query_once(server: SocketAddr, name: Name, rtype: RecordType, tcp: bool) -> Result<DnsResponse, String> {
    let provider = TokioRuntimeProvider::default();
    let mut client = if tcp {
        let (connect, handle) = TcpClientStream::new(server, None, Some(QUERY_TIMEOUT), provider);
        let stream = connect.await.map_err(|e| e.to_string())?;
        let (client, bg) = Client::<TokioRuntimeProvider>::with_timeout(stream, handle, QUERY_TIMEOUT);
        tokio::spawn(bg);
        client
    } else {
        let stream = UdpClientStream::builder(server, provider).with_timeout(Some(QUERY_TIMEOUT)).build();
        let (client, bg) = Client::<TokioRuntimeProvider>::from_sender(stream);
        tokio::spawn(bg);
        client
    };
    client.query(name, DNSClass::IN, rtype).await.map_err(|e| e.to_string())
}

/// One query, retried over TCP when the UDP answer is truncated.
pub async fn query(server: SocketAddr, host: &str, rtype: RecordType) -> Result<DnsResponse, String> {
    let name = Name::from_ascii(format!("{}.", host.trim_end_matches('.'))).map_err(|e| e.to_string())?;
    let answer = query_once(server, name.clone(), rtype, false).await?;
    if answer.metadata.truncation {
        return query_once(server, name, rtype, true).await;
    }
    Ok(answer)
}

/// What an A lookup found: the CNAME chain it followed and the address, or why not.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// `chain` starts with the name asked and ends with the name that holds the address.
    Found { chain: Vec<String>, addr: IpAddr },
    /// NXDOMAIN: the name does not exist.
    NoSuchName,
    /// Any other failure: SERVFAIL, REFUSED, no answer in time, an answer without an address.
    Failed(String),
}

/// Resolve `host` to an address through the world's DNS server, keeping the CNAME chain.
pub async fn lookup(server: SocketAddr, host: &str) -> Lookup {
    let answer = match query(server, host, RecordType::A).await {
        Ok(a) => a,
        Err(e) => return Lookup::Failed(e),
    };
    match answer.metadata.response_code {
        ResponseCode::NoError => {}
        ResponseCode::NXDomain => return Lookup::NoSuchName,
        other => return Lookup::Failed(format!("the server answered {other}")),
    }
    let mut chain = vec![host.trim_end_matches('.').to_ascii_lowercase()];
    for record in &answer.answers {
        if let RData::CNAME(target) = &record.data {
            chain.push(target.0.to_ascii().trim_end_matches('.').to_ascii_lowercase());
        }
    }
    match answer.answers.iter().find_map(|r| r.data.ip_addr()) {
        Some(addr) => Lookup::Found { chain, addr },
        None => Lookup::Failed("no address in the answer".into()),
    }
}
