//! The UDP transport: one thread of its own reads datagrams and answers each in place, through
//! the same pipeline as TCP and DoH.
//!
//! Why not hickory's `Server` for UDP, as for TCP: it spawns a task per datagram and sends
//! every answer through a channel to another task, two cross-thread wake-ups per query. Why
//! not a task on the world's runtime either: on the 2-core machines memsim runs on, a hot
//! task keeps waking the runtime's other worker to steal from it, and those wake-ups and
//! context switches cost more than the answer (bench/RESULTS.md). A thread blocked in
//! `recv_from` sleeps until a datagram comes and wakes no one else.
//!
//! A question asked before (the same bytes after the ID, see `replay`) is answered from the
//! kept bytes without a future or an allocation: the common case under load. Under load the
//! thread reads what is already queued behind a datagram without waiting (up to [`BATCH`]) and
//! sends those kept answers in one `sendmmsg` (rustix: no `unsafe` here). Any other answer
//! that is ready at once (every answer but a `dns.delay` fault's) is sent by this thread; one that must wait becomes a task on the world's runtime, so a delay never holds up
//! other queries. A panic while answering is journaled as the world's failure (issue 10) and
//! ends that answer only: the thread goes on answering. The DNS messages themselves are still parsed and built by hickory (see
//! `pipeline`).

use std::future::Future;
use std::io::IoSlice;
use std::net::{SocketAddr, UdpSocket};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Waker};
use std::thread::JoinHandle;
use std::time::Duration;

use rustix::net::{MMsgHdr, RecvFlags, SendAncillaryBuffer, SendFlags, SocketAddrAny};

use crate::answer::Transport;
use crate::pipeline::Pipeline;

/// What a panic while answering is journaled as.
const TASK: &str = "a DNS answer over UDP";
/// Datagrams taken from the socket's queue before their answers go out together.
const BATCH: usize = 32;
/// Largest datagram a client may send (RFC 6891 §6.2.5 lets EDNS ask for up to 65535).
const MAX_DATAGRAM: usize = 65_535;
/// How often the thread looks at its stop flag while no datagram comes.
const STOP_CHECK: Duration = Duration::from_millis(50);
/// The socket's receive buffer (SO_RCVBUF; the kernel caps it at `net.core.rmem_max` and
/// doubles it for its bookkeeping). The default (`rmem_default`, 208 KiB) holds about two
/// hundred small queries as the kernel counts them (each datagram costs its buffer's true
/// size, about 1 KiB on loopback): a load tool with 200 queries in flight lost some whenever
/// this thread was off the CPU for a moment (issue 20: 14–47 lost in a 1M-query burst).
const RECV_BUFFER: usize = 4 << 20;

/// The running UDP thread. Dropping it asks the thread to stop (within [`STOP_CHECK`]).
pub(crate) struct UdpThread {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// The socket's own (loopback) address: `join` wakes the thread with a datagram to it.
    addr: SocketAddr,
}

impl UdpThread {
    /// Serve `socket` (a tokio socket, taken over) with `pipeline`; waiting answers run on
    /// the runtime of the caller.
    pub(crate) fn start(socket: tokio::net::UdpSocket, pipeline: Pipeline) -> std::io::Result<UdpThread> {
        let socket = socket.into_std()?;
        let addr = socket.local_addr()?;
        // Best effort: a smaller buffer still answers, it only absorbs shorter bursts.
        let _ = rustix::net::sockopt::set_socket_recv_buffer_size(&socket, RECV_BUFFER);
        socket.set_nonblocking(false)?;
        socket.set_read_timeout(Some(STOP_CHECK))?;
        let runtime = tokio::runtime::Handle::current();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new().name("memsim-dns-udp".into()).spawn(move || serve(&Arc::new(socket), &pipeline, &runtime, &flag))?;
        Ok(UdpThread { stop, thread: Some(thread), addr })
    }

    /// Stop and wait for the thread; a panic in it is raised again here.
    pub(crate) fn join(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the thread now instead of at its next stop check: a world stops (and a scenario
        // ends) that much sooner. The datagram goes to the thread's own loopback socket.
        if let Ok(waker) = UdpSocket::bind((self.addr.ip(), 0)) {
            let _ = waker.send_to(&[], self.addr);
        }
        if let Some(t) = self.thread.take()
            && let Err(panic) = t.join()
        {
            std::panic::resume_unwind(panic);
        }
    }
}

impl Drop for UdpThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(socket: &Arc<UdpSocket>, pipeline: &Pipeline, runtime: &tokio::runtime::Handle, stop: &AtomicBool) {
    // Inside the runtime's context: a delay fault's timer is created here and then moved to it.
    let _context = runtime.enter();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut batch = Batch::default();
    while !stop.load(Ordering::Relaxed) {
        // Wait for one datagram, then take those already queued behind it without waiting (up
        // to BATCH); their kept answers leave together in one `sendmmsg`.
        let mut flags = RecvFlags::empty();
        while batch.len < BATCH {
            let (n, src) = match rustix::net::recvfrom(&**socket, &mut buf[..], flags) {
                Ok((n, _, Some(addr))) => match SocketAddr::try_from(addr) {
                    Ok(src) => (n, src),
                    Err(_) => continue,
                },
                Ok((_, _, None)) => continue,
                // Nothing more queued, the stop check's timeout, or an ICMP error from an earlier
                // send (a client that went away): send what is answered, go on.
                Err(_) => break,
            };
            flags = RecvFlags::DONTWAIT;
            if stop.load(Ordering::Relaxed) {
                batch.send(socket);
                return; // the wake-up of `join`, or a query that came as the world stopped
            }
            // As hickory's server: never answer an address that cannot be answered.
            if src.port() == 0 || src.ip().is_unspecified() {
                continue;
            }
            answer_one(pipeline, socket, runtime, &buf[..n], src, &mut batch);
        }
        batch.send(socket);
    }
}

fn answer_one(pipeline: &Pipeline, socket: &Arc<UdpSocket>, runtime: &tokio::runtime::Handle, raw: &[u8], src: SocketAddr, batch: &mut Batch) {
    // A kept answer: queued in the batch, its event journaled; a panic in it ends this answer only.
    match std::panic::catch_unwind(AssertUnwindSafe(|| pipeline.replayed(raw, Transport::Udp, batch.slot()))) {
        Ok(Some(true)) => return batch.commit(src),
        Ok(Some(false)) => return, // a fault drops it (journaled)
        Ok(None) => {}
        Err(panic) => {
            pipeline.journal().record_panic(TASK, &scenarios::journal::panic_message(&*panic));
            return;
        }
    }
    let answer = answer(pipeline.clone(), socket.clone(), raw.to_vec(), src);
    // `catching` holds the panic of a poll here (on this thread) and in a spawned task alike.
    let mut answer = Box::pin(pipeline.journal().catching(TASK, answer));
    // Poll once here; only an answer that waits (a delay fault) gets a task of its own.
    if answer.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_pending() {
        runtime.spawn(answer);
    }
}

/// Kept answers waiting for one `sendmmsg`: a response buffer per slot, reused.
#[derive(Default)]
struct Batch {
    responses: Vec<Vec<u8>>,
    to: Vec<SocketAddr>,
    len: usize,
}

impl Batch {
    /// The next slot's buffer, for the pipeline to write a response into.
    fn slot(&mut self) -> &mut Vec<u8> {
        if self.responses.len() == self.len {
            self.responses.push(Vec::with_capacity(512));
        }
        &mut self.responses[self.len]
    }

    /// The slot's response is to go to `to`.
    fn commit(&mut self, to: SocketAddr) {
        self.to.truncate(self.len);
        self.to.push(to);
        self.len += 1;
    }

    /// Send every committed response. A failed send is a lost datagram, which UDP clients retry.
    fn send(&mut self, socket: &UdpSocket) {
        let n = std::mem::take(&mut self.len);
        if n == 1 {
            let _ = socket.send_to(&self.responses[0], self.to[0]);
        }
        if n < 2 {
            return;
        }
        let to: Vec<SocketAddrAny> = self.to[..n].iter().map(|a| SocketAddrAny::from(*a)).collect();
        let iovs: Vec<[IoSlice<'_>; 1]> = self.responses[..n].iter().map(|r| [IoSlice::new(r)]).collect();
        let mut controls: Vec<SendAncillaryBuffer<'_, '_, '_>> = (0..n).map(|_| SendAncillaryBuffer::default()).collect();
        let mut msgs: Vec<MMsgHdr<'_>> = to.iter().zip(&iovs).zip(controls.iter_mut()).map(|((a, iov), c)| MMsgHdr::new_with_addr(a, iov, c)).collect();
        let mut at = 0;
        while at < n {
            match rustix::net::sendmmsg(socket, &mut msgs[at..], SendFlags::empty()) {
                Ok(0) => break,
                Ok(k) => at += k,
                Err(_) => at += 1, // that one is lost; the rest still go
            }
        }
    }
}

async fn answer(pipeline: Pipeline, socket: Arc<UdpSocket>, raw: Vec<u8>, src: SocketAddr) {
    if let Some(bytes) = pipeline.answer_bytes(raw, src, Transport::Udp).await.message() {
        // A UDP send does not wait for the peer; a failed one is a lost datagram, which UDP
        // clients retry. (From a delayed answer's task this is the same short, non-waiting
        // call.)
        let _ = socket.send_to(&bytes, src);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use hickory_server::proto::op::{Message, MessageType, OpCode, Query};
    use hickory_server::proto::rr::{Name, RecordType};
    use hickory_server::server::Request;
    use hickory_server::zone_handler::Catalog;
    use scenarios::{Clock, Journal};

    use super::*;
    use crate::answer::{Answer, Reply, Zones};

    /// The zones (empty: every answer is REFUSED), except that the first question panics.
    struct PanicsFirst(AtomicUsize, Zones);

    #[async_trait::async_trait]
    impl Answer for PanicsFirst {
        async fn answer(&self, request: &Request, transport: Transport) -> Reply {
            if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("the first answer panics");
            }
            self.1.answer(request, transport).await
        }
    }

    fn query(id: u16) -> Vec<u8> {
        let mut m = Message::new(id, MessageType::Query, OpCode::Query);
        m.add_query(Query::query(Name::from_ascii("a.example.").unwrap(), RecordType::A));
        m.to_vec().unwrap()
    }

    // issue 20: datagrams queued behind one another are read without waiting and their kept
    // answers leave in one sendmmsg; each still goes to its own sender with its own ID, and
    // each is journaled.
    #[tokio::test]
    async fn queued_datagrams_are_each_answered_to_their_sender() {
        let journal = Journal::new(Clock::new(time::OffsetDateTime::UNIX_EPOCH, 1.0));
        let replay = crate::replay::Replay::new(crate::faults::Faults::Fixed(Vec::new().into()), *journal.clock());
        let pipeline = Pipeline::new(Zones(Catalog::new()), journal.clone(), Some(replay));
        let server = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let udp = UdpThread::start(server, pipeline).unwrap();
        let clients: Vec<UdpSocket> = (0..4).map(|_| UdpSocket::bind("127.0.0.1:0").unwrap()).collect();
        for (c, client) in clients.iter().enumerate() {
            client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            for i in 0..50 {
                client.send_to(&query(c as u16 * 1000 + i), addr).unwrap();
            }
        }
        let mut buf = [0u8; 512];
        for (c, client) in clients.iter().enumerate() {
            let mut ids: Vec<u16> = (0..50)
                .map(|_| {
                    let n = client.recv(&mut buf).expect("answered");
                    Message::from_vec(&buf[..n]).unwrap().metadata.id
                })
                .collect();
            ids.sort_unstable();
            assert_eq!(ids, (0..50).map(|i| c as u16 * 1000 + i).collect::<Vec<_>>());
        }
        udp.join();
        assert_eq!(journal.snapshot().iter().filter(|e| e.what == "query").count(), 200);
    }

    // issue 10 #2 (review): a panic while answering a UDP query is journaled as the world's
    // failure, and the DNS thread goes on answering the next query.
    #[tokio::test]
    async fn a_panicking_answer_is_journaled_and_the_next_query_is_answered() {
        let journal = Journal::new(Clock::new(time::OffsetDateTime::UNIX_EPOCH, 1.0));
        let pipeline = Pipeline::new(PanicsFirst(AtomicUsize::new(0), Zones(Catalog::new())), journal.clone(), None);
        let server = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let udp = UdpThread::start(server, pipeline).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 512];
        client.send_to(&query(1), addr).unwrap();
        client.send_to(&query(2), addr).unwrap();
        let n = client.recv(&mut buf).expect("the query after the panic is answered");
        assert_eq!(Message::from_vec(&buf[..n]).unwrap().metadata.id, 2);
        let failure = journal.failure().expect("the panic is the world's failure");
        assert!(failure.contains("the first answer panics"), "{failure}");
        udp.join();
    }
}
