//! The tunnel copy: the seam where connection-level faults live. Bytes flow client ⇄ upstream
//! (a world front, or the in-process side of plain-HTTP and inspected connections) through
//! one loop per direction, counting bytes and stamping activity; a watchdog beside them cuts
//! the connection when a timer fault fires — idle_timeout (no byte either way for N), which
//! therefore hits tunnels already established for hours, max_lifetime and reset_peer — or a
//! request handler orders a cut. latency (a pipelined delay line), bandwidth (pacing) and
//! limit_data act inside the copy. The cut is a FIN, a RST (zero linger) or silence.
//! Toxiproxy's toxics are the model; seed 000's "allow 3 minutes" is what idle_timeout breaks.

use std::future::pending;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use bytes::Bytes;
use scenarios::ProxyFaultKind;
use scenarios::{CloseMethod, Direction};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::conn::{Cause, ConnLog, Control, close_str};
use super::respond;
use super::rules::Plan;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// Client to upstream.
    Up,
    /// Upstream to client.
    Down,
}

impl Side {
    fn shaped_by(self, d: Direction) -> bool {
        matches!((self, d), (_, Direction::Both) | (Side::Up, Direction::Upstream) | (Side::Down, Direction::Downstream))
    }

    fn read_error(self, e: std::io::Error) -> Cause {
        match self {
            Side::Up => Cause::ClientError(format!("client read: {e}")),
            Side::Down => Cause::UpstreamError(format!("upstream read: {e}")),
        }
    }

    fn write_error(self, e: std::io::Error) -> Cause {
        match self {
            Side::Up => Cause::UpstreamError(format!("upstream write: {e}")),
            Side::Down => Cause::ClientError(format!("client write: {e}")),
        }
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

/// Copy both ways until both sides finish, a fault fires or a cut is ordered; then close the
/// client as the cause says. `pre` goes upstream first (bytes read along with the request head).
/// `served_here`: the upstream is the proxy's own HTTP server (plain or inspected forwarding),
/// so its end is the connection's end even while the client keeps its side open.
#[allow(clippy::too_many_arguments)]
pub async fn run<U>(mut client: TcpStream, pre: &[u8], mut upstream: U, plan: &Plan, ctl: &Control, log: &ConnLog, hold: Duration, served_here: bool) -> Pumped
where
    U: AsyncRead + AsyncWrite + Unpin,
{
    let act = Activity { start: Instant::now(), last_nanos: AtomicU64::new(0), up: AtomicU64::new(0), down: AtomicU64::new(0) };
    if let Some(after) = plan.timeout {
        // Toxiproxy's timeout: nothing gets through; the connection closes after `after`.
        log.record(log.fired(ProxyFaultKind::Timeout).detail("close_after_wall_ms", after.map_or(-1.0, |d| d.as_secs_f64() * 1000.0)));
        let discarded = respond::silence(&mut client, after.unwrap_or(hold)).await;
        let _ = client.shutdown().await;
        return Pumped { up: discarded, down: 0, cause: Cause::Fault { kind: ProxyFaultKind::Timeout, close: CloseMethod::Fin } };
    }
    if !pre.is_empty() {
        if let Err(e) = upstream.write_all(pre).await {
            return Pumped { up: 0, down: 0, cause: Side::Up.write_error(e) };
        }
        act.up.fetch_add(pre.len() as u64, Relaxed);
    }
    let (cause, ordered) = {
        let (mut cr, mut cw) = client.split();
        let (mut ur, mut uw) = tokio::io::split(&mut upstream);
        let up = copy(&mut cr, &mut uw, Side::Up, plan, &act);
        let down = copy(&mut ur, &mut cw, Side::Down, plan, &act);
        let watch = watchdog(plan, &act, ctl);
        tokio::pin!(up, down, watch);
        let (mut up_done, mut down_done) = (false, false);
        loop {
            tokio::select! {
                r = &mut up, if !up_done => match r { Ok(()) => up_done = true, Err(c) => break (c, false) },
                r = &mut down, if !down_done => match r { Ok(()) => down_done = true, Err(c) => break (c, false) },
                fired = &mut watch => break fired,
            }
            if down_done && (up_done || served_here) {
                break (Cause::Closed, false);
            }
        }
    };
    let (up, down) = (act.up.load(Relaxed), act.down.load(Relaxed));
    if let (Cause::Fault { kind, close }, false) = (&cause, ordered) {
        let now = Instant::now();
        let idle = now - act.last();
        let mut e = log
            .event(kind.event())
            .fault(*kind)
            .detail("close", close_str(*close))
            .detail("idle_wall_ms", idle.as_secs_f64() * 1000.0)
            .detail("idle_sim_ms", log.journal().clock().to_sim(idle).0.as_secs_f64() * 1000.0)
            .detail("age_wall_ms", (now - act.start).as_secs_f64() * 1000.0)
            .detail("bytes_up", up)
            .detail("bytes_down", down);
        let after = match kind {
            ProxyFaultKind::IdleTimeout => plan.idle.map(|t| t.sim),
            ProxyFaultKind::MaxLifetime => plan.lifetime.map(|t| t.sim),
            ProxyFaultKind::ResetPeer => plan.reset_peer.map(|t| t.sim),
            _ => None,
        };
        if let Some(a) = after {
            e = e.detail("after", a.to_string());
        }
        log.record(e);
    }
    match &cause {
        Cause::Fault { close: CloseMethod::Rst, .. } => respond::reset(client),
        Cause::Fault { close: CloseMethod::Drop, .. } => {
            drop(upstream);
            respond::silence(&mut client, hold).await;
        }
        Cause::Closed if !served_here => {}
        _ => {
            // An orderly close; reading what the client still sends keeps the kernel from
            // turning the close into a reset.
            let _ = client.shutdown().await;
            respond::silence(&mut client, Duration::from_secs(1)).await;
        }
    }
    Pumped { up, down, cause }
}

/// Timer faults and cut orders. `(cause, true)` when a handler ordered the cut (it journaled it).
async fn watchdog(plan: &Plan, act: &Activity, ctl: &Control) -> (Cause, bool) {
    let idle = async {
        let Some(t) = plan.idle else { return pending().await };
        loop {
            let deadline = act.last() + t.wall;
            if Instant::now() >= deadline {
                return Cause::Fault { kind: ProxyFaultKind::IdleTimeout, close: t.close };
            }
            tokio::time::sleep_until(deadline).await;
        }
    };
    let lifetime = async {
        let Some(t) = plan.lifetime else { return pending().await };
        tokio::time::sleep_until(act.start + t.wall).await;
        Cause::Fault { kind: ProxyFaultKind::MaxLifetime, close: t.close }
    };
    let reset = async {
        let Some(t) = plan.reset_peer else { return pending().await };
        tokio::time::sleep_until(act.start + t.wall).await;
        Cause::Fault { kind: ProxyFaultKind::ResetPeer, close: CloseMethod::Rst }
    };
    tokio::select! {
        c = idle => (c, false),
        c = lifetime => (c, false),
        c = reset => (c, false),
        c = ctl.ordered() => (c, true),
    }
}

/// One direction. With latency, reading and writing are decoupled by a bounded delay line so
/// that latency delays data without cutting throughput, as a long link does.
async fn copy<R, W>(r: &mut R, w: &mut W, side: Side, plan: &Plan, act: &Activity) -> Result<(), Cause>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let rate = plan.bandwidth.filter(|(_, d)| side.shaped_by(*d)).map(|(r, _)| r);
    let mut pacer = Pacer { rate, next: Instant::now() };
    let limit = if side == Side::Down { plan.limit_data } else { None };
    let chunk = pacer.chunk();
    let Some(latency) = plan.latency.filter(|(_, d)| side.shaped_by(*d)).map(|(l, _)| l) else {
        let mut buf = vec![0u8; chunk];
        loop {
            let n = match r.read(&mut buf).await {
                Ok(0) => return finish(w).await,
                Ok(n) => n,
                Err(e) => return Err(side.read_error(e)),
            };
            act.touch();
            deliver(w, &buf[..n], side, &mut pacer, limit, act).await?;
            if n == buf.len() && n < MAX_BUF && pacer.rate.is_none() {
                buf.resize(n * 2, 0);
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
                Err(e) => return Err(side.read_error(e)),
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

/// Write one chunk, paced, stopping at the data limit.
async fn deliver<W: AsyncWrite + Unpin>(
    w: &mut W,
    data: &[u8],
    side: Side,
    pacer: &mut Pacer,
    limit: Option<(u64, CloseMethod)>,
    act: &Activity,
) -> Result<(), Cause> {
    pacer.wait(data.len()).await;
    let sent = act.count(side).load(Relaxed);
    let (data, cut) = match limit {
        Some((max, close)) if sent + data.len() as u64 >= max => {
            let take = max.saturating_sub(sent) as usize;
            (&data[..take.min(data.len())], Some(Cause::Fault { kind: ProxyFaultKind::LimitData, close }))
        }
        _ => (data, None),
    };
    w.write_all(data).await.map_err(|e| side.write_error(e))?;
    act.count(side).fetch_add(data.len() as u64, Relaxed);
    act.touch();
    cut.map_or(Ok(()), Err)
}

/// The reading side ended: pass the end on (half-close).
async fn finish<W: AsyncWrite + Unpin>(w: &mut W) -> Result<(), Cause> {
    let _ = w.shutdown().await;
    Ok(())
}
