//! memsim's proxy against tinyproxy, side by side in one run, on loopback: added latency per
//! request on a reused tunnel, new tunnels per second, and bulk throughput through a tunnel
//! against direct loopback. Goals (issue 20 and issue 4): added latency <= 50 µs p50, new
//! tunnels/s >= tinyproxy, bulk >= 0.7x direct loopback.
//!
//! One upstream (a thread-per-connection TCP server: ping-pong or bulk) serves every path;
//! memsim's proxy runs in process with no faults, tinyproxy as its own process. Beside them, for
//! the breakdown of bulk: memsim with splice switched off (`Limits::splice`, the user-space
//! copy every tunnel used before), and two floors — a minimal blocking relay in threads that
//! copies through user space (256 KiB reads), and one that splices through a 1 MiB pipe. Bulk
//! rounds are interleaved across paths; each reports MiB/s and the process's CPU seconds per
//! GiB (client, upstream and relay together; tinyproxy's own CPU is not in it). Every loop is
//! bounded in count. Prints a table, the ratio line and one JSON line;
//! `bench/proxy-vs-tinyproxy.sh` runs it. Not a test: it asserts nothing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use memsim::proxy::{CatalogResolver, EmulatedNames, Fronts, Limits, Proxy, ProxyConfig};

const NAME: &str = "bench.memsim.test";
const PINGS: usize = 20_000;
const TUNNELS_PER_THREAD: usize = 500;
const THREADS: usize = 4;
const BULK_BYTES: u64 = 1 << 30;
const BULK_RUNS: usize = 3;

/// Op `p`: echo 64-byte messages until EOF. Op `b` + u64 LE: send that many bytes and close.
fn upstream() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || serve(s));
        }
    });
    addr
}

fn serve(mut s: TcpStream) {
    let _ = s.set_nodelay(true);
    let mut op = [0u8; 1];
    if s.read_exact(&mut op).is_err() {
        return;
    }
    if op[0] == b'p' {
        let mut m = [0u8; 64];
        while s.read_exact(&mut m).is_ok() && s.write_all(&m).is_ok() {}
    } else {
        let mut n = [0u8; 8];
        if s.read_exact(&mut n).is_err() {
            return;
        }
        let chunk = vec![0x5au8; 256 * 1024];
        let mut left = u64::from_le_bytes(n);
        while left > 0 {
            let k = left.min(chunk.len() as u64) as usize;
            if s.write_all(&chunk[..k]).is_err() {
                return;
            }
            left -= k as u64;
        }
    }
}

/// How a client reaches the upstream: directly, or through a proxy with a CONNECT target.
#[derive(Clone)]
enum Path {
    Direct(SocketAddr),
    Proxy { proxy: SocketAddr, target: String },
}

fn open(path: &Path) -> TcpStream {
    match path {
        Path::Direct(a) => {
            let s = TcpStream::connect(a).unwrap();
            s.set_nodelay(true).unwrap();
            s
        }
        Path::Proxy { proxy, target } => {
            let mut s = TcpStream::connect(proxy).unwrap();
            s.set_nodelay(true).unwrap();
            s.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes()).unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            assert!(line.contains(" 200"), "CONNECT {target} via {proxy}: {line}");
            loop {
                line.clear();
                r.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            assert!(r.buffer().is_empty());
            s
        }
    }
}

fn latency_us(path: &Path) -> (f64, f64) {
    let mut s = open(path);
    s.write_all(b"p").unwrap();
    let mut m = [7u8; 64];
    let mut rtts = Vec::with_capacity(PINGS);
    for _ in 0..PINGS {
        let t = Instant::now();
        s.write_all(&m).unwrap();
        s.read_exact(&mut m).unwrap();
        rtts.push(t.elapsed().as_secs_f64() * 1e6);
    }
    rtts.sort_by(f64::total_cmp);
    (rtts[PINGS / 2], rtts[PINGS * 99 / 100])
}

fn tunnels_per_s(path: &Path) -> f64 {
    let t = Instant::now();
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || {
                for _ in 0..TUNNELS_PER_THREAD {
                    drop(open(&path));
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    (THREADS * TUNNELS_PER_THREAD) as f64 / t.elapsed().as_secs_f64()
}

/// This process's CPU time so far (every thread, live or ended), seconds: utime + stime of
/// /proc/self/stat in USER_HZ (100) ticks.
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let f: Vec<f64> = after_name.split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
    // Fields 14 and 15 of the whole line are the 12th and 13th after the name.
    (f.get(11).unwrap_or(&0.0) + f.get(12).unwrap_or(&0.0)) / 100.0
}

/// One bulk download: (MiB/s, CPU seconds of this process per GiB).
fn bulk_once(path: &Path) -> (f64, f64) {
    let mut s = open(path);
    s.write_all(b"b").unwrap();
    s.write_all(&BULK_BYTES.to_le_bytes()).unwrap();
    let mut buf = vec![0u8; 256 * 1024];
    let (mut got, t, cpu) = (0u64, Instant::now(), cpu_s());
    while got < BULK_BYTES {
        match s.read(&mut buf).unwrap() {
            0 => break,
            n => got += n as u64,
        }
    }
    assert_eq!(got, BULK_BYTES);
    let gib = got as f64 / (1u64 << 30) as f64;
    (got as f64 / (1 << 20) as f64 / t.elapsed().as_secs_f64(), (cpu_s() - cpu) / gib)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// A minimal relay to `up`: per connection, two blocking threads, each moving one direction
/// with `step` until its end — the floor a user-space proxy (or a splicing one) can reach here.
fn relay(up: SocketAddr, step: fn(&mut TcpStream, &mut TcpStream)) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let u = TcpStream::connect(up).unwrap();
            let _ = (c.set_nodelay(true), u.set_nodelay(true));
            let (mut c2, mut u2) = (c.try_clone().unwrap(), u.try_clone().unwrap());
            let (mut c, mut u) = (c, u);
            std::thread::spawn(move || step(&mut c2, &mut u2));
            std::thread::spawn(move || step(&mut u, &mut c));
        }
    });
    addr
}

fn copy_step(from: &mut TcpStream, to: &mut TcpStream) {
    let mut buf = vec![0u8; 256 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf) {
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

fn splice_step(from: &mut TcpStream, to: &mut TcpStream) {
    use rustix::pipe::{PipeFlags, SpliceFlags, fcntl_setpipe_size, pipe_with, splice};
    let (r, w) = pipe_with(PipeFlags::CLOEXEC).unwrap();
    let size = fcntl_setpipe_size(&w, 1 << 20).unwrap_or(64 * 1024);
    'outer: while let Ok(n @ 1..) = splice(&*from, None, &w, None, size, SpliceFlags::MOVE) {
        let mut left = n;
        while left > 0 {
            match splice(&r, None, &*to, None, left, SpliceFlags::MOVE) {
                Ok(k @ 1..) => left -= k,
                _ => break 'outer,
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

fn tinyproxy(dir: &std::path::Path) -> (Child, SocketAddr) {
    // tinyproxy needs a fixed port: take one the kernel hands out, then give it over.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let conf = dir.join("tinyproxy.conf");
    std::fs::write(
        &conf,
        format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 600\nMaxClients 1000\nLogLevel Critical\nLogFile \"{}\"\nAllow 127.0.0.1\nDisableViaHeader Yes\n",
            dir.join("tinyproxy.log").display()
        ),
    )
    .unwrap();
    let child = Command::new("tinyproxy")
        .arg("-d")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tinyproxy (apt-get install tinyproxy)");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "tinyproxy did not start listening");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, addr)
}

fn memsim_proxy(runtime: &tokio::runtime::Runtime, up: SocketAddr, splice: bool) -> Proxy {
    runtime.block_on(async {
        let journal = scenarios::Journal::new(scenarios::Clock::new(time::OffsetDateTime::now_utc(), 1.0));
        Proxy::start(ProxyConfig {
            listener: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            faults: vec![],
            world: Default::default(),
            journal,
            fronts: Fronts { https: up, http: up, advertised: None },
            resolver: Arc::new(CatalogResolver::new(EmulatedNames::new(&[NAME.to_string()]), up.ip())),
            upstream_roots_pem: String::new(),
            permitted_subtrees: vec![],
            limits: Limits { max_connections: 4096, splice, ..Limits::default() },
            catalog: Arc::new(mock_cloud::Catalog::builtin().unwrap()),
        })
        .unwrap()
    })
}

fn main() {
    let up = upstream();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (proxy, proxy_copy) = (memsim_proxy(&runtime, up, true), memsim_proxy(&runtime, up, false));
    let dir = tempfile::tempdir().unwrap();
    let (mut tiny, tiny_addr) = tinyproxy(dir.path());
    // memsim routes an emulated name on port 443 to its "HTTPS front": here, the upstream.
    let target = format!("{NAME}:443");
    let paths = [
        ("direct", Path::Direct(up)),
        ("memsim", Path::Proxy { proxy: proxy.addr(), target: target.clone() }),
        ("tinyproxy", Path::Proxy { proxy: tiny_addr, target: up.to_string() }),
        ("memsim-copy", Path::Proxy { proxy: proxy_copy.addr(), target }),
        ("floor-copy", Path::Direct(relay(up, copy_step))),
        ("floor-splice", Path::Direct(relay(up, splice_step))),
    ];
    let mut rows = Vec::new();
    for (name, path) in &paths[..3] {
        let (p50, p99) = latency_us(path);
        let tps = if matches!(path, Path::Direct(_)) { f64::NAN } else { tunnels_per_s(path) };
        rows.push((*name, p50, p99, tps));
    }
    // Bulk rounds interleaved across the paths, so each sees the same machine.
    let mut bulk: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); paths.len()];
    for _ in 0..BULK_RUNS {
        for (i, (_, path)) in paths.iter().enumerate() {
            let (rate, cpu) = bulk_once(path);
            bulk[i].0.push(rate);
            bulk[i].1.push(cpu);
        }
    }
    let bulk: Vec<(f64, f64)> = bulk.into_iter().map(|(r, c)| (median(r), median(c))).collect();
    let _ = tiny.kill();
    let _ = tiny.wait();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load1: f64 = load.split_whitespace().next().and_then(|x| x.parse().ok()).unwrap_or(f64::NAN);
    println!("{:<12} {:>10} {:>10} {:>12} {:>12} {:>14}", "path", "rtt p50 µs", "rtt p99 µs", "tunnels/s", "bulk MiB/s", "CPU s per GiB");
    for (i, (n, _)) in paths.iter().enumerate() {
        let (p50, p99, tps) = rows.get(i).map_or((f64::NAN, f64::NAN, f64::NAN), |r| (r.1, r.2, r.3));
        println!("{n:<12} {p50:>10.1} {p99:>10.1} {tps:>12.0} {:>12.0} {:>14.2}", bulk[i].0, bulk[i].1);
    }
    println!(
        "(bulk: median of {BULK_RUNS} interleaved rounds of {} MiB; CPU is this process's, so tinyproxy's own is not counted; load average {load1})",
        BULK_BYTES >> 20
    );
    let (d, m, t) = (&rows[0], &rows[1], &rows[2]);
    let ratio = |i: usize| bulk[i].0 / bulk[0].0;
    println!("memsim added latency p50   {:.1} µs   (tinyproxy {:.1} µs; goal <= 50 µs)", m.1 - d.1, t.1 - d.1);
    println!("memsim new tunnels/s       {:.0}   ({:.2}x tinyproxy; goal >= 1x)", m.3, m.3 / t.3);
    println!(
        "memsim bulk / direct       {:.2}x  (goal >= 0.7x; memsim without splice {:.2}x, floors: copy {:.2}x, splice {:.2}x; tinyproxy {:.2}x)",
        ratio(1),
        ratio(3),
        ratio(4),
        ratio(5),
        ratio(2)
    );
    println!(
        "{{\"bench\":\"proxy\",\"ratio\":{:.3},\"goal\":0.7,\"bulk_mib_s\":{{\"direct\":{:.0},\"memsim\":{:.0},\"tinyproxy\":{:.0},\"memsim_copy\":{:.0},\"floor_copy\":{:.0},\"floor_splice\":{:.0}}},\"cpu_s_per_gib\":{{\"direct\":{:.3},\"memsim\":{:.3},\"memsim_copy\":{:.3},\"floor_copy\":{:.3},\"floor_splice\":{:.3}}},\"memsim_copy_ratio\":{:.3},\"tinyproxy_bulk_ratio\":{:.3},\"added_p50_us\":{:.1},\"added_p50_goal_us\":50,\"tinyproxy_added_p50_us\":{:.1},\"tunnels_per_s\":{:.0},\"tinyproxy_tunnels_per_s\":{:.0},\"tunnels_ratio\":{:.3},\"tunnels_goal\":1.0,\"load_avg_1m\":{load1}}}",
        ratio(1),
        bulk[0].0,
        bulk[1].0,
        bulk[2].0,
        bulk[3].0,
        bulk[4].0,
        bulk[5].0,
        bulk[0].1,
        bulk[1].1,
        bulk[3].1,
        bulk[4].1,
        bulk[5].1,
        ratio(3),
        ratio(2),
        m.1 - d.1,
        t.1 - d.1,
        m.3,
        t.3,
        m.3 / t.3,
    );
    drop((proxy, proxy_copy));
}
