//! The proxy's side toward the world's fronts for requests it reads itself (plain and inspected
//! forwarding): a bounded TCP connect, one reused HTTP/1.1 client connection per client
//! connection ([`Slot`]), sending a request over it, and telling a failure of the client's own
//! request body (the client's 400) from a failure of the front (the proxy's 502).

use std::net::SocketAddr;

use hyper::Request;
use hyper::Response;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use scenarios::Journal;
use tokio::net::TcpStream;

use super::conn::ConnLog;
use super::request::remove_hop_by_hop;
use super::respond::{Answer, ProxyBody};
use super::shared::Shared;

/// One reused upstream HTTP/1.1 connection per client connection.
pub type Slot = tokio::sync::Mutex<Option<SendRequest<Incoming>>>;

/// A TCP connection to one of the world's fronts, bounded by the connect timeout.
pub async fn connect(shared: &Shared, addr: SocketAddr) -> Result<TcpStream, String> {
    let tcp = tokio::time::timeout(shared.limits.connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

/// An HTTP/1.1 client connection over any stream, its driver spawned (it ends with the sender);
/// a panic in the driver is journaled as the world's failure (issue 10), not dropped.
pub async fn handshake<T>(journal: &Journal, io: T) -> Result<SendRequest<Incoming>, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(|e| e.to_string())?;
    tokio::spawn(journal.catching("the proxy's upstream connection", async move {
        let _ = conn.await;
    }));
    Ok(sender)
}

/// Why a forwarded request got no response.
#[derive(Debug)]
pub enum SendError {
    /// The client's own request body could not be read (e.g. malformed chunking).
    ClientBody(String),
    /// The front could not be reached or failed.
    Upstream(String),
}

/// Send over the slot's connection, (re)connecting when it has none or it closed.
pub async fn send(
    slot: &Slot,
    req: Request<Incoming>,
    connect: impl Future<Output = Result<SendRequest<Incoming>, String>>,
) -> Result<Response<ProxyBody>, SendError> {
    use http_body_util::BodyExt as _;
    let mut guard = slot.lock().await;
    if guard.as_ref().is_none_or(|s| s.is_closed()) {
        *guard = Some(connect.await.map_err(SendError::Upstream)?);
    }
    let sender = guard.as_mut().expect("just filled");
    sender.ready().await.map_err(|e| SendError::Upstream(e.to_string()))?;
    let mut res = sender.send_request(req).await.map_err(classify)?;
    remove_hop_by_hop(res.headers_mut());
    Ok(res.map(|b| b.boxed()))
}

/// The answer to a request that got no response, journaled: the client's bad body is the
/// client's 400 (`bad_request`), anything else the front's 502 (`upstream_failed`, its text
/// from `describe`).
pub fn failed(log: &ConnLog, addr: SocketAddr, e: SendError, describe: impl FnOnce(&str) -> String) -> Response<ProxyBody> {
    let answer = match e {
        SendError::ClientBody(reason) => {
            log.record(log.event("bad_request").detail("reason", reason.clone()).detail("status", 400));
            Answer::new(400, reason)
        }
        SendError::Upstream(reason) => {
            log.record(log.event("upstream_failed").detail("addr", addr.to_string()).detail("error", reason.clone()));
            Answer::new(502, describe(&reason))
        }
    };
    answer.to_response()
}

/// A send error of hyper's client: a user error with a cause is the request body the client
/// sent failing to read (hyper: "error from user's Body stream"); the rest is the front's.
fn classify(e: hyper::Error) -> SendError {
    let mut causes = Vec::new();
    let mut next = std::error::Error::source(&e);
    while let Some(c) = next {
        causes.push(c.to_string());
        next = c.source();
    }
    if e.is_user() && !causes.is_empty() {
        return SendError::ClientBody(format!("the client's request body could not be read: {}", causes.join(": ")));
    }
    SendError::Upstream(std::iter::once(e.to_string()).chain(causes).collect::<Vec<_>>().join(": "))
}
