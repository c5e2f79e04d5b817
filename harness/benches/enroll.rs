//! Complete Windows enrollments per second against one world (issue 14), beside a plain TLS
//! request on the same front in the same run: the `enroll` probe (CNAME lookup, Discover,
//! token, GetPolicies, RSA-2048 key and PKCS#10, RequestSecurityToken, the provisioning
//! document checked, the first OMA-DM session over mutual TLS) against the `discovery` probe
//! (CNAME lookup, CONNECT through the proxy, a fresh TLS handshake, one GET), both through the
//! world's DNS and proxy. Also the client's RSA-2048 key generation alone, the part a device
//! pays itself. Bounded counts; prints a table and one JSON line; `bench/enroll.sh` runs it.
//! Not a test: it asserts nothing beyond every run passing.

use std::time::{Duration, Instant};

use memsim::probes::{self, ProbeTarget};
use scenarios::Probe;

const ENROLLMENTS: usize = 40;
const PLAIN: usize = 400;
const KEYS: usize = 20;
const CONCURRENCY: usize = 2;

async fn rate(target: &ProbeTarget, catalog: &mock_cloud::Catalog, probe: Probe, n: usize) -> f64 {
    let started = Instant::now();
    let per = n / CONCURRENCY;
    let runs = (0..CONCURRENCY).map(|_| async {
        for _ in 0..per {
            let r = probes::run_with(probe, target, catalog).await;
            assert!(r.passed, "{r:?}");
        }
    });
    futures_util::future::join_all(runs).await;
    (per * CONCURRENCY) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let scenario = scenarios::catalog::find("healthy-enroll").unwrap().unwrap();
        let world = memsim::world::World::start(&scenario, memsim::world::WorldOptions::default()).await.unwrap();
        let mut target = ProbeTarget::new(&world.describe(), 1.0);
        if target.enroll_sign_in.is_none() {
            // A world without an Entra authority: a token its keys signed, as a device holds one.
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let tenant = &scenario.world.tenant_id;
            let claims = serde_json::json!({"aud": "https://enrollment.manage.microsoft.com/", "iss": format!("https://sts.windows.net/{tenant}/"), "upn": "adele@contoso.com", "nbf": now, "exp": now + 86400});
            let token = world.cloud().entra_keys.sign(&claims).unwrap();
            target.enroll_sign_in = Some(probes::enroll::TokenSource::Given { upn: "adele@contoso.com".into(), token });
        }
        let catalog = world.cloud().catalog.clone();
        // Warm-up: the world's keys are made on first use.
        assert!(probes::run_with(Probe::Enroll, &target, &catalog).await.passed);
        assert!(probes::run_with(Probe::Discovery, &target, &catalog).await.passed);
        let keygen = {
            let started = Instant::now();
            for _ in 0..KEYS {
                mock_cloud::keys::RsaKey::generate(2048).unwrap();
            }
            started.elapsed() / KEYS as u32
        };
        let enrollments = rate(&target, &catalog, Probe::Enroll, ENROLLMENTS).await;
        let plain = rate(&target, &catalog, Probe::Discovery, PLAIN).await;
        let ratio = enrollments / plain;
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!("complete enrollments (discover → check-in), {CONCURRENCY} at a time: {enrollments:8.1}/s");
        println!("plain TLS request (discovery probe), {CONCURRENCY} at a time:     {plain:8.1}/s");
        println!("ratio enrollment / plain request:                       {ratio:8.4} ({:.1} plain requests per enrollment)", plain / enrollments);
        println!("client RSA-2048 key generation alone:                    {:8.1} ms mean of {KEYS}", ms(keygen));
        println!(
            "{}",
            serde_json::json!({
                "bench": "enroll", "enrollments_per_s": enrollments, "plain_tls_requests_per_s": plain, "ratio": ratio,
                "rsa2048_keygen_ms": ms(keygen), "enrollments": ENROLLMENTS, "plain_requests": PLAIN, "concurrency": CONCURRENCY,
            })
        );
    });
}
