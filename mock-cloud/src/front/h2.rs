//! HTTP/2 on a TLS connection whose ALPN chose `h2` (RFC 9113 §3.2; issue 16 item 5: the real
//! Microsoft endpoints negotiate h2). The limits the HTTP/1.1 side has hold here too, in h2's
//! own terms:
//!
//! - **header size**: `SETTINGS_MAX_HEADER_LIST_SIZE` ([`MAX_HEADER_LIST`]); a larger header block
//!   is refused (hyper answers 431 or resets the stream), never buffered without bound;
//! - **streams**: `SETTINGS_MAX_CONCURRENT_STREAMS` ([`MAX_STREAMS`], nginx's default), and
//!   hyper's rapid-reset cap on streams a client opens and cancels;
//! - **idle and slowloris**: a connection with no exchange in progress — none begun, or every
//!   answer sent — for the idle limit (the fronts' [`super::HANDSHAKE_TIMEOUT`], which is also
//!   HTTP/1.1's wait for a request head) gets GOAWAY and is closed; a client that never
//!   finishes its preface or its first HEADERS is closed the same way. An exchange counts from
//!   its request head until its response body is sent or dropped, so a long-poll or a large
//!   download is never cut for idling;
//! - **dead peers**: PING every idle limit, closed when unanswered for another.
//!
//! The connection cap is the accept loop's, the same for both protocols.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;

/// The largest header block a client may send on one stream (HPACK-decoded size, RFC 9113
/// §6.5.2): 64 KiB, room for the largest tokens memsim's services take in `Authorization`.
pub const MAX_HEADER_LIST: u32 = 64 * 1024;

/// Streams a client may have open at once on one connection (nginx's `http2_max_concurrent_streams`).
pub const MAX_STREAMS: u32 = 128;

/// The HTTP version a connection speaks, chosen by ALPN on TLS (HTTP/1.1 without ALPN and on
/// plain HTTP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    H2,
}

impl Protocol {
    /// The ALPN identifiers a server offers, most preferred first (RFC 7301).
    pub const ALPN: [&'static [u8]; 2] = [b"h2", b"http/1.1"];

    /// The protocol for what ALPN negotiated (`None`: the client offered no ALPN).
    pub fn from_alpn(alpn: Option<&[u8]>) -> Protocol {
        if alpn == Some(b"h2") { Protocol::H2 } else { Protocol::Http1 }
    }

    /// As the journal names it: the ALPN identifier (`h2`, `http/1.1`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http1 => "http/1.1",
            Protocol::H2 => "h2",
        }
    }
}

/// The journal's name for a request's HTTP version.
pub fn version_name(v: hyper::Version) -> &'static str {
    match v {
        hyper::Version::HTTP_2 => "h2",
        hyper::Version::HTTP_10 => "http/1.0",
        hyper::Version::HTTP_09 => "http/0.9",
        _ => "http/1.1",
    }
}

/// Serve h2 on `io` with `svc` until the client goes, the connection idles for `idle`, or a
/// protocol error ends it.
pub async fn serve<I, S, B>(io: I, svc: S, idle: Duration)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let activity = Arc::new(Activity::default());
    let svc = Counted { inner: svc, activity: activity.clone() };
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEADER_LIST)
        .max_concurrent_streams(MAX_STREAMS)
        .keep_alive_interval(idle)
        .keep_alive_timeout(idle);
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = activity.idle_for(idle) => {}
    }
    // GOAWAY, then what is left of the connection, bounded: a client still in its preface
    // never lets hyper finish the handshake it would send GOAWAY after.
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(idle, conn).await;
}

/// Exchanges in progress on one connection, and a wake-up whenever that changes.
#[derive(Debug, Default)]
struct Activity {
    active: AtomicUsize,
    changed: Notify,
}

impl Activity {
    fn begin(self: &Arc<Self>) -> Exchange {
        self.active.fetch_add(1, Ordering::AcqRel);
        self.changed.notify_one();
        Exchange(self.clone())
    }

    /// Resolves once no exchange has been in progress for `limit`.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let changed = self.changed.notified();
            if self.active.load(Ordering::Acquire) == 0 {
                tokio::select! {
                    _ = tokio::time::sleep(limit) => return,
                    _ = changed => {}
                }
            } else {
                changed.await;
            }
        }
    }
}

/// One exchange in progress: from the request head to the last byte (or drop) of the answer.
#[derive(Debug)]
struct Exchange(Arc<Activity>);

impl Drop for Exchange {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
        self.0.changed.notify_one();
    }
}

/// The service, each request counted as an exchange until its response body is done.
struct Counted<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S, B> Service<Request<Incoming>> for Counted<S>
where
    S: Service<Request<Incoming>, Response = Response<B>>,
    S::Future: Send + 'static,
    B: Body,
{
    type Response = Response<Tracked<B>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let exchange = self.activity.begin();
        let answer = self.inner.call(req);
        Box::pin(async move {
            let res = answer.await?;
            Ok(res.map(|body| Tracked { body, _exchange: exchange }))
        })
    }
}

/// A response body that holds its exchange open until it is sent or dropped.
#[derive(Debug)]
pub struct Tracked<B> {
    body: B,
    _exchange: Exchange,
}

impl<B: Body + Unpin> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// How much of an unread request body an h2 stream still takes in after its answer, and for how
/// long (see [`Drained`]).
const DRAIN_MAX_BYTES: usize = 4 << 20;
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// A request body that, dropped before its end on h2 (a handler answered without reading it all:
/// a 413 for a body over its cap, a 401 before the upload), goes on reading and discarding the
/// rest in the background, bounded by [`DRAIN_MAX_BYTES`] and [`DRAIN_TIME`]. Dropping it at once
/// makes hyper reset the stream while the client still uploads, and curl then reports the reset
/// instead of the complete answer RFC 9113 §8.1 lets it keep; a server that reads the upload
/// out, as IIS and the real fronts do, gets the answer read. On HTTP/1.1 it is the body as is.
#[derive(Debug)]
pub struct Drained {
    body: Option<Incoming>,
    drain: bool,
}

impl Drained {
    pub fn new(body: Incoming, protocol: Protocol) -> Drained {
        Drained { body: Some(body), drain: protocol == Protocol::H2 }
    }
}

impl Body for Drained {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.body.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.body.as_ref().map(Body::size_hint).unwrap_or_default()
    }
}

impl Drop for Drained {
    fn drop(&mut self) {
        let Some(mut body) = self.body.take() else { return };
        if !self.drain || body.is_end_stream() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        runtime.spawn(async move {
            let mut seen = 0usize;
            let _ = tokio::time::timeout(DRAIN_TIME, async {
                while let Some(Ok(frame)) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
                    seen += frame.data_ref().map_or(0, Bytes::len);
                    if seen > DRAIN_MAX_BYTES {
                        break;
                    }
                }
            })
            .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http_body_util::{BodyExt, Full, StreamBody};
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    const IDLE: Duration = Duration::from_millis(300);

    /// An h2 server (prior knowledge, no TLS: the limits do not depend on it) on port 0, each
    /// connection served by `serve` with a short idle limit; the body of `/slow` trickles for
    /// several idle limits.
    async fn server() -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let svc = hyper::service::service_fn(|req: Request<Incoming>| async move {
                    let body = if req.uri().path() == "/slow" {
                        let chunks = futures_util_stream(6, IDLE / 2);
                        StreamBody::new(chunks).boxed_unsync()
                    } else {
                        Full::new(Bytes::from_static(b"ok")).map_err(|e| match e {}).boxed_unsync()
                    };
                    Ok::<_, Infallible>(Response::new(body))
                });
                tokio::spawn(serve(tcp, svc, IDLE));
            }
        });
        addr
    }

    /// `n` one-byte frames, `gap` apart (a slow body, not a wait for anything).
    fn futures_util_stream(n: usize, gap: Duration) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> + Send + Unpin {
        Box::pin(futures_util::stream::unfold(0, move |i| async move {
            if i == n {
                return None;
            }
            tokio::time::sleep(gap).await;
            Some((Ok(Frame::data(Bytes::from_static(b"x"))), i + 1))
        }))
    }

    type Sender = hyper::client::conn::http2::SendRequest<Full<Bytes>>;

    /// An h2 client connection and its driver, which ends when the connection does.
    async fn client(addr: std::net::SocketAddr) -> (Sender, tokio::task::JoinHandle<hyper::Result<()>>) {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp)).await.unwrap();
        (sender, tokio::spawn(conn))
    }

    fn get(path: &str) -> Request<Full<Bytes>> {
        Request::get(format!("http://front.test{path}")).body(Full::default()).unwrap()
    }

    #[tokio::test]
    async fn a_client_that_never_sends_its_preface_is_closed_after_the_idle_limit() {
        let addr = server().await;
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let started = std::time::Instant::now();
        let mut buf = Vec::new();
        // The server's SETTINGS arrive, then EOF: the read ends, it does not hang.
        tokio::time::timeout(IDLE * 10, tcp.read_to_end(&mut buf)).await.expect("closed within the bound").unwrap();
        assert!(started.elapsed() >= IDLE, "not before the idle limit: {:?}", started.elapsed());
    }

    #[tokio::test]
    async fn an_idle_connection_gets_goaway_and_a_body_longer_than_the_limit_is_not_cut() {
        let addr = server().await;
        let (mut sender, driver) = client(addr).await;
        let res = sender.send_request(get("/slow")).await.unwrap();
        let body = res.into_body().collect().await.expect("the trickling body completes").to_bytes();
        assert_eq!(&body[..], b"xxxxxx", "3 idle limits of streaming were not cut");
        let res = sender.send_request(get("/")).await.unwrap();
        assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "ok");
        // Now idle: the server says GOAWAY and the connection ends.
        let started = std::time::Instant::now();
        let _ = tokio::time::timeout(IDLE * 10, driver).await.expect("the idle connection was closed");
        assert!(started.elapsed() >= IDLE * 9 / 10, "not before the idle limit: {:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_header_block_over_the_limit_is_refused_and_the_connection_serves_on() {
        let addr = server().await;
        let (mut sender, _driver) = client(addr).await;
        let mut req = get("/");
        req.headers_mut().insert("x-big", hyper::header::HeaderValue::from_str(&"a".repeat(MAX_HEADER_LIST as usize)).unwrap());
        let refused = sender.send_request(req).await;
        assert!(refused.as_ref().map(|r| r.status() == 431).unwrap_or(true), "refused: {refused:?}");
        let (mut sender, _driver) = client(addr).await;
        let res = sender.send_request(get("/")).await.unwrap();
        assert_eq!(res.status(), 200);
    }
}
