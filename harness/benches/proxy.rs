//! memsim's proxy against tinyproxy, side by side in one run, on loopback: added latency per
//! request on a reused tunnel, new tunnels per second, and bulk throughput through a tunnel
//! against direct loopback. One upstream (a thread-per-connection TCP server: ping-pong or
//! bulk) serves all three paths; memsim's proxy runs in process with no faults, tinyproxy as
//! its own process. Every loop is bounded in count. Prints a table and one JSON line;
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

fn bulk_mib_s(path: &Path) -> f64 {
    let mut rates: Vec<f64> = (0..BULK_RUNS)
        .map(|_| {
            let mut s = open(path);
            s.write_all(b"b").unwrap();
            s.write_all(&BULK_BYTES.to_le_bytes()).unwrap();
            let mut buf = vec![0u8; 256 * 1024];
            let (mut got, t) = (0u64, Instant::now());
            while got < BULK_BYTES {
                match s.read(&mut buf).unwrap() {
                    0 => break,
                    n => got += n as u64,
                }
            }
            assert_eq!(got, BULK_BYTES);
            got as f64 / (1 << 20) as f64 / t.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[BULK_RUNS / 2]
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

fn main() {
    let up = upstream();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let proxy = runtime.block_on(async {
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
            limits: Limits { max_connections: 4096, ..Limits::default() },
            catalog: Arc::new(mock_cloud::Catalog::builtin().unwrap()),
        })
        .unwrap()
    });
    let dir = tempfile::tempdir().unwrap();
    let (mut tiny, tiny_addr) = tinyproxy(dir.path());
    let paths = [
        ("direct", Path::Direct(up)),
        // memsim routes an emulated name on port 443 to its "HTTPS front": here, the upstream.
        ("memsim", Path::Proxy { proxy: proxy.addr(), target: format!("{NAME}:443") }),
        ("tinyproxy", Path::Proxy { proxy: tiny_addr, target: up.to_string() }),
    ];
    let mut rows = Vec::new();
    for (name, path) in &paths {
        let (p50, p99) = latency_us(path);
        let tps = if matches!(path, Path::Direct(_)) { f64::NAN } else { tunnels_per_s(path) };
        let bulk = bulk_mib_s(path);
        rows.push((*name, p50, p99, tps, bulk));
    }
    let _ = tiny.kill();
    let _ = tiny.wait();
    println!("{:<10} {:>10} {:>10} {:>12} {:>12}", "path", "rtt p50 µs", "rtt p99 µs", "tunnels/s", "bulk MiB/s");
    for (n, p50, p99, tps, bulk) in &rows {
        println!("{n:<10} {p50:>10.1} {p99:>10.1} {tps:>12.0} {bulk:>12.0}");
    }
    let (d, m, t) = (&rows[0], &rows[1], &rows[2]);
    println!("memsim added latency p50   {:.1} µs   (tinyproxy {:.1} µs; goal <= 50 µs)", m.1 - d.1, t.1 - d.1);
    println!("memsim new tunnels/s       {:.0}   ({:.2}x tinyproxy; goal >= 1x)", m.3, m.3 / t.3);
    println!("memsim bulk / direct       {:.2}x  (tinyproxy {:.2}x; goal >= 0.7x)", m.4 / d.4, t.4 / d.4);
    println!(
        "{{\"bench\":\"proxy\",\"added_p50_us\":{:.1},\"tinyproxy_added_p50_us\":{:.1},\"tunnels_per_s\":{:.0},\"tinyproxy_tunnels_per_s\":{:.0},\"bulk_ratio\":{:.3},\"tinyproxy_bulk_ratio\":{:.3}}}",
        m.1 - d.1,
        t.1 - d.1,
        m.3,
        t.3,
        m.4 / d.4,
        t.4 / d.4
    );
    drop(proxy);
}
