//! The tunnel copy: the seam where connection faults act. Bytes flow client ⇄ upstream (a
//! world front, or the in-process side of plain-HTTP and inspected connections) through one
//! loop per direction, counting bytes and stamping activity; a watchdog beside them cuts the
//! connection when one of the plan's timers runs out — counted from the start (max_lifetime,
//! reset_peer) or from the last byte either way (idle_timeout, which therefore hits tunnels
//! established for hours) — or a request handler orders a cut. Delay lines (latency), pacing
//! (bandwidth) and the data cap (limit_data) act inside the copy; a swallowing fault (timeout)
//! lets nothing through. The cut is a FIN, a RST (zero linger) or silence. It reads effects
//! from the [`Plan`], never fault kinds: Toxiproxy's toxics are the model; seed 000's "allow 3
//! minutes" is what idle_timeout breaks.

use std::future::pending;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use bytes::Bytes;
use scenarios::{CloseMethod, ProxyFaultKind};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::conn::{Cause, ConnLog, Control, close_str};
use super::plan::{Effect, Plan, Side, Since, Timer};
use super::respond;
use super::splice::Pipe;

/// Bytes read per copy step: a direction starts small and doubles its buffer each time a read
/// fills it, up to `MAX_BUF`, so idle tunnels stay cheap and bulk downloads make few syscalls.
const BUF: usize = 16 * 1024;
const MAX_BUF: usize = 256 * 1024;
/// Chunks a latency delay line holds: bounds its memory at `DELAY_LINE * BUF`.
const DELAY_LINE: usize = 64;

/// What a pump did.
#[derive(Debug)]
pub struct Pumped {
    pub up: u64,
    pub down: u64,
    pub cause: Cause,
}

fn read_error(side: Side, e: std::io::Error) -> Cause {
    match side {
        Side::Up => Cause::ClientError(format!("client read: {e}")),
        Side::Down => Cause::UpstreamError(format!("upstream read: {e}")),
    }
}

fn write_error(side: Side, e: std::io::Error) -> Cause {
    match side {
        Side::Up => Cause::UpstreamError(format!("upstream write: {e}")),
        Side::Down => Cause::ClientError(format!("client write: {e}")),
    }
}

/// Byte counts and the last moment a byte moved either way.
#[derive(Debug)]
struct Activity {
    start: Instant,
    last_nanos: AtomicU64,
    up: AtomicU64,
    down: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        self.last_nanos.store(self.start.elapsed().as_nanos() as u64, Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_nanos(self.last_nanos.load(Relaxed))
    }

    fn count(&self, side: Side) -> &AtomicU64 {
        if side == Side::Up { &self.up } else { &self.down }
    }
}

/// Bandwidth pacing: before `n` bytes go out, wait until the rate allows them.
struct Pacer {
    rate: Option<f64>,
    next: Instant,
}

impl Pacer {
    /// Read at most about 50 ms worth of data at a time, so pacing stays smooth.
    fn chunk(&self) -> usize {
        self.rate.map_or(BUF, |r| (r / 20.0).clamp(1.0, BUF as f64) as usize)
    }

    async fn wait(&mut self, n: usize) {
        let Some(rate) = self.rate else { return };
        self.next = self.next.max(Instant::now());
        tokio::time::sleep_until(self.next).await;
        self.next += Duration::from_secs_f64(n as f64 / rate);
    }
}

/// The far end of a pump: a world front's socket (a tunnel), or an in-process stream (the
/// proxy's own HTTP server) or nothing.
pub trait Upstream: AsyncRead + AsyncWrite + Unpin {
    /// The socket, when the far end is one: bulk between two sockets is spliced.
    fn socket(&mut self) -> Option<&mut TcpStream> {
        None
    }
}

impl Upstream for TcpStream {
    fn socket(&mut self) -> Option<&mut TcpStream> {
        Some(self)
    }
}

impl Upstream for tokio::io::Empty {}

impl Upstream for tokio::io::DuplexStream {}

/// One half of a copy's ends, and the socket under it if it is one.
trait Half {
    fn socket(&self) -> Option<&TcpStream>;
}

impl Half for tokio::net::tcp::ReadHalf<'_> {
    fn socket(&self) -> Option<&TcpStream> {
        Some(self.as_ref())
    }
}

impl Half for tokio::net::tcp::WriteHalf<'_> {
    fn socket(&self) -> Option<&TcpStream> {
        Some(self.as_ref())
    }
}

impl<T> Half for tokio::io::ReadHalf<T> {
    fn socket(&self) -> Option<&TcpStream> {
        None
    }
}

impl<T> Half for tokio::io::WriteHalf<T> {
    fn socket(&self) -> Option<&TcpStream> {
        None
    }
}

/// One client connection's pump: the plan it carries, the cut orders it obeys, its journal.
pub struct Pump<'a> {
    pub plan: &'a Plan,
    pub ctl: &'a Control,
    pub log: &'a ConnLog,
    /// How long a silently dropped connection is held (`Limits::drop_hold`).
    pub hold: Duration,
    /// The upstream is the proxy's own HTTP server (plain or inspected forwarding), so its end
    /// is the connection's end even while the client keeps its side open.
    pub served_here: bool,
    /// Whether bulk between two sockets may be spliced (`Limits::splice`).
    pub splice: bool,
}

/// How the pump stopped copying.
enum Stop {
    Ended(Cause),
    /// A timer of the plan ran out.
    Fired(ProxyFaultKind, Timer),
    /// A request handler ordered the cut (and journaled why).
    Ordered(Cause),
}

impl Pump<'_> {
    /// Copy both ways until both sides finish, a fault fires or a cut is ordered; then close
    /// the client as the cause says. `pre` goes upstream first (bytes read with the request head).
    pub async fn run<U: Upstream>(&self, mut client: TcpStream, pre: &[u8], mut upstream: U) -> Pumped {
        let (plan, log) = (self.plan, self.log);
        record_shaping(log, plan);
        let act = Activity { start: Instant::now(), last_nanos: AtomicU64::new(0), up: AtomicU64::new(0), down: AtomicU64::new(0) };
        if let Some((kind, after)) = plan.swallow() {
            // Toxiproxy's timeout: nothing gets through; the connection closes after `after`.
            log.record(log.fired(kind).detail("close_after_wall_ms", after.map_or(-1.0, |d| d.as_secs_f64() * 1000.0)));
            let discarded = respond::silence(&mut client, after.unwrap_or(self.hold)).await;
            let _ = client.shutdown().await;
            return Pumped { up: discarded, down: 0, cause: Cause::Fault { kind, close: CloseMethod::Fin } };
        }
        if !pre.is_empty() {
            if let Err(e) = upstream.write_all(pre).await {
                return Pumped { up: 0, down: 0, cause: write_error(Side::Up, e) };
            }
            act.up.fetch_add(pre.len() as u64, Relaxed);
        }
        let stop = match upstream.socket().filter(|_| self.splice) {
            Some(socket) => {
                let (mut cr, mut cw) = client.split();
                let (mut ur, mut uw) = socket.split();
                let up = copy(&mut cr, &mut uw, Side::Up, plan, &act);
                let down = copy(&mut ur, &mut cw, Side::Down, plan, &act);
                self.until_done(up, down, &act).await
            }
            None => {
                let (mut cr, mut cw) = client.split();
                let (mut ur, mut uw) = tokio::io::split(&mut upstream);
                let up = copy(&mut cr, &mut uw, Side::Up, plan, &act);
                let down = copy(&mut ur, &mut cw, Side::Down, plan, &act);
                self.until_done(up, down, &act).await
            }
        };
        let (up, down) = (act.up.load(Relaxed), act.down.load(Relaxed));
        let (cause, timer, ordered) = match stop {
            Stop::Ended(cause) => (cause, None, false),
            Stop::Fired(kind, timer) => (Cause::Fault { kind, close: timer.close }, Some(timer), false),
            Stop::Ordered(cause) => (cause, None, true),
        };
        if let (Cause::Fault { kind, close }, false) = (&cause, ordered) {
            // A fault fired here (a timer, or the data cap inside the copy): journaled once, with
            // how idle and how old the connection was.
            let now = Instant::now();
            let idle = now - act.last();
            let mut e = log
                .fired(*kind)
                .detail("close", close_str(*close))
                .detail("idle_wall_ms", idle.as_secs_f64() * 1000.0)
                .detail("idle_sim_ms", log.journal().clock().to_sim(idle).0.as_secs_f64() * 1000.0)
                .detail("age_wall_ms", (now - act.start).as_secs_f64() * 1000.0)
                .detail("bytes_up", up)
                .detail("bytes_down", down);
            if let Some(t) = timer {
                e = e.detail("after", t.sim.to_string());
            }
            log.record(e);
        }
        match &cause {
            Cause::Fault { close: CloseMethod::Rst, .. } => respond::reset(client),
            Cause::Fault { close: CloseMethod::Drop, .. } => {
                drop(upstream);
                respond::silence(&mut client, self.hold).await;
            }
            Cause::Closed if !self.served_here => {}
            _ => {
                // An orderly close; reading what the client still sends (bounded) keeps the
                // kernel from turning the close into a reset.
                let _ = client.shutdown().await;
                respond::silence(&mut client, Duration::from_secs(1)).await;
            }
        }
        Pumped { up, down, cause }
    }

    /// Run both directions and the watchdog until both directions end (or the far end's, when
    /// it is served here), one fails, a timer fires or a cut is ordered.
    async fn until_done(&self, up: impl Future<Output = Result<(), Cause>>, down: impl Future<Output = Result<(), Cause>>, act: &Activity) -> Stop {
        let watch = watchdog(self.plan, act, self.ctl);
        tokio::pin!(up, down, watch);
        let (mut up_done, mut down_done) = (false, false);
        loop {
            tokio::select! {
                r = &mut up, if !up_done => match r { Ok(()) => up_done = true, Err(c) => break Stop::Ended(c) },
                r = &mut down, if !down_done => match r { Ok(()) => down_done = true, Err(c) => break Stop::Ended(c) },
                stop = &mut watch => break stop,
            }
            if down_done && (up_done || self.served_here) {
                break Stop::Ended(Cause::Closed);
            }
        }
    }
}

/// Shaping faults fire when a connection starts carrying them.
fn record_shaping(log: &ConnLog, plan: &Plan) {
    let written = |v: scenarios::Direction| serde_json::to_value(v).unwrap_or_default();
    for f in &plan.faults {
        match f.effect {
            Effect::Delay { wall, direction } => {
                log.record(log.fired(f.kind).detail("wall_ms", wall.as_secs_f64() * 1000.0).detail("direction", written(direction)))
            }
            Effect::Pace { rate, direction } => log.record(log.fired(f.kind).detail("wall_bytes_per_s", rate).detail("direction", written(direction))),
            _ => {}
        }
    }
}

/// The plan's timers and cut orders, whichever comes first.
async fn watchdog(plan: &Plan, act: &Activity, ctl: &Control) -> Stop {
    let timers: Vec<(ProxyFaultKind, Timer)> = plan.timers().collect();
    let fire = async {
        // The earliest deadline wins; an idle timer's moves with every byte, so it is read again.
        let deadline = |t: &Timer| if t.from == Since::Open { act.start } else { act.last() } + t.wall;
        loop {
            let Some((kind, timer)) = timers.iter().min_by_key(|(_, t)| deadline(t)).copied() else { return pending().await };
            let due = deadline(&timer);
            if Instant::now() >= due {
                return Stop::Fired(kind, timer);
            }
            tokio::time::sleep_until(due).await;
        }
    };
    tokio::select! {
        stop = fire => stop,
        c = ctl.ordered() => Stop::Ordered(c),
    }
}

/// One direction. With latency, reading and writing are decoupled by a bounded delay line so
/// that latency delays data without cutting throughput, as a long link does.
async fn copy<R, W>(r: &mut R, w: &mut W, side: Side, plan: &Plan, act: &Activity) -> Result<(), Cause>
where
    R: AsyncRead + Unpin + Half,
    W: AsyncWrite + Unpin + Half,
{
    let mut pacer = Pacer { rate: plan.pace(side), next: Instant::now() };
    let limit = if side == Side::Down { plan.cap_down() } else { None };
    let chunk = pacer.chunk();
    let Some(latency) = plan.delay(side) else {
        let mut buf = vec![0u8; chunk];
        loop {
            let n = match r.read(&mut buf).await {
                Ok(0) => return finish(w).await,
                Ok(n) => n,
                Err(e) => return Err(read_error(side, e)),
            };
            act.touch();
            deliver(w, &buf[..n], side, &mut pacer, limit, act).await?;
            if n == buf.len() && n < MAX_BUF && pacer.rate.is_none() {
                buf.resize(n * 2, 0);
            } else if n == MAX_BUF
                && pacer.rate.is_none()
                && limit.is_none()
                && let (Some(from), Some(to)) = (r.socket(), w.socket())
                && let Some(pipe) = Pipe::new()
            {
                // Bulk between two sockets with nothing to shape: let the kernel move it.
                drop(buf);
                spliced(&pipe, from, to, side, act).await?;
                return finish(w).await;
            }
        }
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Instant, Bytes)>(DELAY_LINE);
    let reader = async move {
        let mut buf = vec![0u8; chunk];
        loop {
            let n = match r.read(&mut buf).await {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) => return Err(read_error(side, e)),
            };
            act.touch();
            if tx.send((Instant::now() + latency, Bytes::copy_from_slice(&buf[..n]))).await.is_err() {
                return Ok(());
            }
        }
    };
    let writer = async {
        while let Some((due, data)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            deliver(w, &data, side, &mut pacer, limit, act).await?;
        }
        finish(w).await
    };
    tokio::try_join!(reader, writer).map(|_| ())
}

/// An unshaped direction between two sockets, spliced to its end (see [`super::splice`]):
/// counted and stamped per step as the copy is.
async fn spliced(pipe: &Pipe, from: &TcpStream, to: &TcpStream, side: Side, act: &Activity) -> Result<(), Cause> {
    loop {
        let n = pipe.fill(from).await.map_err(|e| read_error(side, e))?;
        if n == 0 {
            return Ok(());
        }
        act.touch();
        pipe.drain(to, n, |k| {
            act.count(side).fetch_add(k as u64, Relaxed);
            act.touch();
        })
        .await
        .map_err(|e| write_error(side, e))?;
    }
}

/// Write one chunk, paced, stopping at the data limit.
async fn deliver<W: AsyncWrite + Unpin>(
    w: &mut W,
    data: &[u8],
    side: Side,
    pacer: &mut Pacer,
    limit: Option<(ProxyFaultKind, u64, CloseMethod)>,
    act: &Activity,
) -> Result<(), Cause> {
    pacer.wait(data.len()).await;
    let sent = act.count(side).load(Relaxed);
    let (data, cut) = match limit {
        Some((kind, max, close)) if sent + data.len() as u64 >= max => {
            let take = max.saturating_sub(sent) as usize;
            (&data[..take.min(data.len())], Some(Cause::Fault { kind, close }))
        }
        _ => (data, None),
    };
    w.write_all(data).await.map_err(|e| write_error(side, e))?;
    act.count(side).fetch_add(data.len() as u64, Relaxed);
    act.touch();
    cut.map_or(Ok(()), Err)
}

/// The reading side ended: pass the end on (half-close).
async fn finish<W: AsyncWrite + Unpin>(w: &mut W) -> Result<(), Cause> {
    let _ = w.shutdown().await;
    Ok(())
}
