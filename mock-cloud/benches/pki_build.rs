//! PKI build for the whole catalog: how long one world's CAs and every leaf take to generate
//! (each leaf with its own key, issue 16 item 4), and how much of it comes before the ready line
//! (the CAs and the plan; leaves are signed on first use, issue 20 item 2).
//! Prints one JSON line; `bench/pki-vs-openssl.sh` compares it with `openssl speed ecdsap256`.

use std::time::Instant;

use mock_cloud::{Catalog, Pki};
use scenarios::WorldSpec;

fn percentiles(mut ms: Vec<f64>) -> (f64, f64, f64) {
    ms.sort_by(f64::total_cmp);
    (ms[ms.len() / 2], ms[0], ms[ms.len() * 9 / 10])
}

fn main() {
    let runs: usize = std::env::var("RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(30).max(1);
    let cat = Catalog::builtin().expect("the embedded catalog parses");
    let world = WorldSpec::default();
    let hosts = cat.hosts_for(&world);
    let now = time::OffsetDateTime::now_utc();
    let (mut full, mut start) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    let (mut cas, mut leaves) = (0, 0);
    for seed in 0..runs {
        let w = WorldSpec { seed: seed as u64, ..world.clone() };
        let t = Instant::now();
        let pki = Pki::build(&cat.pki, &w, vec![], &hosts, now).unwrap();
        start.push(t.elapsed().as_secs_f64() * 1000.0);
        leaves = pki.issue_all().unwrap();
        full.push(t.elapsed().as_secs_f64() * 1000.0);
        cas = pki.cas().len();
    }
    let (median, min, p90) = percentiles(full);
    let (start_median, _, _) = percentiles(start);
    // Every CA and every leaf has a key of its own and one signature.
    println!(
        "{{\"bench\":\"pki_build\",\"runs\":{runs},\"certificates\":{},\"keys\":{},\"signatures\":{},\"median_ms\":{median:.3},\"min_ms\":{min:.3},\"p90_ms\":{p90:.3},\"start_median_ms\":{start_median:.3}}}",
        cas + leaves,
        cas + leaves,
        cas + leaves,
    );
}
