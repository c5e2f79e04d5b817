//! Transparent listeners (issue 19): the customer network as a transparent proxy or firewall
//! sees it. A client that names no proxy connects to port 443 or 80 as to the server itself;
//! the host is taken from the TLS ClientHello's server_name (RFC 6066 §3) or the request's
//! `Host`, and the connection then runs through the same decision and fault pipeline as a
//! CONNECT tunnel or an absolute-form request. A fault only an explicit proxy can show (407)
//! is journaled as not applicable ([`super::decide`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::BytesMut;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::conn::{Cause, ConnLog};
use super::head;
use super::shared::Shared;
use super::{http, tunnel};

/// What a transparent listener's clients speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaks {
    Tls,
    Http,
}

/// Accept until the task is dropped; `port` is the port clients believe they reach.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, speaks: Speaks, port: u16) {
    let mut conns = JoinSet::new();
    let slots = Arc::new(Semaphore::new(shared.limits.max_connections));
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            // Out of descriptors or a reset before accept: back off instead of spinning.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        while conns.try_join_next().is_some() {}
        // Full: a transparent client expects the server, so the connection is just closed.
        let Ok(permit) = slots.clone().try_acquire_owned() else { continue };
        let shared = shared.clone();
        let activity = shared.journal.begin();
        let id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
        let log = Arc::new(ConnLog::open(shared.journal.clone(), id, &peer.to_string(), Some(permit)));
        let connection = shared.journal.clone().catching("the proxy's transparent listener", handle(tcp, peer, shared, log, speaks, port));
        conns.spawn(async move {
            connection.await;
            drop(activity);
        });
    }
}

async fn handle(mut tcp: TcpStream, _peer: SocketAddr, shared: Arc<Shared>, log: Arc<ConnLog>, speaks: Speaks, port: u16) {
    let _ = tcp.set_nodelay(true);
    let mut buf = BytesMut::with_capacity(4096);
    match speaks {
        Speaks::Tls => match read_sni(&mut tcp, &mut buf, &shared).await {
            Ok(host) => tunnel::transparent(shared, log, tcp, &buf, host, port).await,
            Err(reason) => {
                log.record(log.event("bad_request").detail("method", super::decide::TLS).detail("reason", reason.clone()));
                log.close(&Cause::ClientError(reason), buf.len() as u64, 0);
            }
        },
        Speaks::Http => {
            let read = head::read(&mut tcp, &mut buf, shared.limits.max_head_bytes, shared.limits.head_timeout).await;
            let host = read.map_err(|e| e.to_string()).and_then(|h| {
                let raw = h.header("host").ok_or("a request without a Host header names no server")?;
                Ok(head::host_of(&String::from_utf8_lossy(raw)))
            });
            match host {
                Ok(host) => http::serve(shared, log, tcp, buf, (host, port), true).await,
                Err(reason) => {
                    log.record(log.event("bad_request").detail("reason", reason.clone()).detail("status", 400));
                    super::respond::send(&mut tcp, &super::respond::Answer::new(400, reason.clone())).await;
                    log.close(&Cause::ClientError(reason), buf.len() as u64, 0);
                }
            }
        }
    }
}

/// Read the first TLS record (bounded in size and time) and take its ClientHello's host name.
async fn read_sni(tcp: &mut TcpStream, buf: &mut BytesMut, shared: &Shared) -> Result<String, String> {
    let read = async {
        loop {
            match client_hello_sni(buf) {
                Parsed::Name(n) => return Ok(n),
                Parsed::Refused(why) => return Err(why.to_string()),
                Parsed::Incomplete if buf.len() >= shared.limits.max_head_bytes.max(16 * 1024) => {
                    return Err("the ClientHello is larger than the proxy reads".into());
                }
                Parsed::Incomplete => {}
            }
            if tcp.read_buf(buf).await.map_err(|e| e.to_string())? == 0 {
                return Err("the client closed before its ClientHello was complete".into());
            }
        }
    };
    tokio::time::timeout(shared.limits.head_timeout, read).await.map_err(|_| "no complete ClientHello in time".to_string())?
}

#[derive(Debug, PartialEq)]
enum Parsed {
    Name(String),
    Incomplete,
    Refused(&'static str),
}

/// The server_name of a ClientHello in its first TLS record (RFC 8446 §4.1.2, RFC 6066 §3).
fn client_hello_sni(b: &[u8]) -> Parsed {
    if b.len() < 5 {
        return Parsed::Incomplete;
    }
    if b[0] != 22 {
        return Parsed::Refused("not TLS: a transparent port 443 takes TLS only");
    }
    let len = usize::from(u16::from_be_bytes([b[3], b[4]]));
    if b.len() < 5 + len {
        return Parsed::Incomplete;
    }
    let mut r = Reader(&b[5..5 + len]);
    let sni = (|| {
        if r.take(1)?[0] != 1 {
            return None;
        }
        r.take(3 + 2 + 32)?; // handshake length, legacy_version, random
        r.vec(1)?; // legacy_session_id
        r.vec(2)?; // cipher_suites
        r.vec(1)?; // legacy_compression_methods
        let mut exts = Reader(r.vec(2)?);
        while !exts.0.is_empty() {
            let kind = u16::from_be_bytes(exts.take(2)?.try_into().ok()?);
            let body = exts.vec(2)?;
            if kind == 0 {
                let mut list = Reader(Reader(body).vec(2)?);
                while !list.0.is_empty() {
                    let name_type = list.take(1)?[0];
                    let name = list.vec(2)?;
                    if name_type == 0 {
                        return std::str::from_utf8(name).ok().map(str::to_ascii_lowercase);
                    }
                }
            }
        }
        None
    })();
    // A ClientHello split over several records is legal but no client in the tests sends one.
    sni.map_or(Parsed::Refused("the ClientHello names no server (no server_name): a transparent proxy cannot tell where it goes"), Parsed::Name)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }

    /// A vector with a `width`-byte length prefix.
    fn vec(&mut self, width: usize) -> Option<&'a [u8]> {
        let len = self.take(width)?.iter().fold(0usize, |acc, x| acc << 8 | usize::from(*x));
        self.take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello as rustls writes it for `name`.
    fn hello(name: &str) -> Vec<u8> {
        let roots = rustls::RootCertStore::empty();
        let config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
        let mut conn = rustls::ClientConnection::new(Arc::new(config), name.to_string().try_into().unwrap()).unwrap();
        let mut out = Vec::new();
        conn.write_tls(&mut out).unwrap();
        out
    }

    // issue 19: the host of a transparent TLS connection is its ClientHello's server_name.
    #[test]
    fn the_host_is_the_server_name() {
        let b = hello("EnterpriseEnrollment-s.manage.microsoft.com");
        assert_eq!(client_hello_sni(&b), Parsed::Name("enterpriseenrollment-s.manage.microsoft.com".into()));
        assert_eq!(client_hello_sni(&b[..b.len() - 1]), Parsed::Incomplete);
        assert!(matches!(client_hello_sni(b"GET / HTTP/1.1\r\n"), Parsed::Refused(_)));
    }
}
