//! PKI build for the whole catalog: how long one world's CAs and leaves take to generate.
//! Prints one JSON line; `bench/pki-vs-openssl.sh` compares it with `openssl speed ecdsap256`.

use std::time::Instant;

use mock_cloud::{Catalog, Pki};
use scenarios::WorldSpec;

fn main() {
    let runs: usize = std::env::var("RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(30);
    let cat = Catalog::builtin().expect("the embedded catalog parses");
    let world = WorldSpec::default();
    let hosts = cat.hosts_for(&world);
    let now = time::OffsetDateTime::now_utc();
    let mut ms = Vec::with_capacity(runs);
    let mut certs = 0;
    for seed in 0..runs {
        let w = WorldSpec { seed: seed as u64, ..world.clone() };
        let t = Instant::now();
        let pki = Pki::build(&cat.pki, &w, vec![], &hosts, now).unwrap();
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        certs = pki.cas().len() + hosts.len();
    }
    ms.sort_by(f64::total_cmp);
    println!(
        "{{\"bench\":\"pki_build\",\"runs\":{runs},\"certificates\":{certs},\"median_ms\":{:.3},\"min_ms\":{:.3},\"p90_ms\":{:.3}}}",
        ms[runs / 2],
        ms[0],
        ms[runs * 9 / 10]
    );
}
