//! Property: whatever the one validation step accepts, a world starts (issue 11, defect 3).
//!
//! Scenario files are generated as text across the whole range of every value the world turns
//! into dates, DNS names, timers and limits — including the ends that used to pass `memsim
//! check` and then panic (`now` in year 1 or 9999, a skew of 100 million days, …) — parsed and
//! validated exactly as `memsim check` does, and each accepted one is started with
//! `World::start`. The case count is bounded so the test stays well under a minute.

use std::sync::atomic::{AtomicUsize, Ordering};

use memsim::validate;
use memsim::world::{World, WorldOptions};
use mock_cloud::Catalog;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use scenarios::ScenarioFile;

/// A duration as written, mostly of everyday size, at times up to (and beyond)
/// [`scenarios::SimDuration::MAX`], spread over its orders of magnitude.
fn duration() -> impl Strategy<Value = String> {
    let unit = || prop::sample::select(vec!["ms", "s", "m", "h", "d"]);
    prop_oneof![
        4 => (1u64..1000, unit()).prop_map(|(n, u)| format!("{n}{u}")),
        1 => (0u32..=14, 1u64..10, unit()).prop_map(|(exp, m, u)| format!("{}{u}", m * 10u64.pow(exp))),
    ]
}

/// A date from year 1 to 9999 (mostly this century's), as RFC 3339.
fn date() -> impl Strategy<Value = String> {
    let (first, last) = (-62_135_596_800i64, 253_402_300_799i64);
    prop_oneof![4 => 0i64..4_102_444_800, 1 => first..=last, 1 => Just(first), 1 => Just(last)].prop_map(|t| {
        let d = time::OffsetDateTime::from_unix_timestamp(t).expect("in range");
        d.format(&time::format_description::well_known::Rfc3339).expect("formats")
    })
}

fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?",
        1 => Just("a".repeat(63)),
        1 => Just("a".repeat(64)),
        1 => Just(String::new()),
        1 => Just("-x".to_string()),
        1 => Just("Granite Falls".to_string()),
    ]
}

fn domain() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => prop::collection::vec("[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", 1..3).prop_map(|l| format!("{}.com", l.join("."))),
        1 => label().prop_map(|l| format!("{l}.com")),
        1 => prop::sample::select(vec!["microsoft.com", "manage.microsoft.com", "cloudapp.net", "contoso.com", "..", "a..b", "memsim.test", "com"])
            .prop_map(str::to_string),
        1 => Just(format!("{}.com", vec!["b".repeat(60); 4].join("."))),
    ]
}

fn world() -> impl Strategy<Value = String> {
    (
        prop::option::of(date()),
        prop::option::of(duration()),
        prop::option::of(prop_oneof![4 => 0.01f64..10_000.0, 1 => (-4i32..8).prop_map(|e| 10f64.powi(e)), 1 => 0.0001f64..2_000_000.0]),
        prop_oneof![8 => prop::collection::vec(domain(), 1..3), 1 => Just(Vec::new())],
        label(),
        prop_oneof![8 => "[A-Z0-9]{3}", 1 => "[A-Z0-9]{2,4}"],
        (any::<u64>(), prop_oneof![8 => "[A-Za-z][A-Za-z0-9 .,&-]{0,40}", 1 => "\\PC{0,300}"]),
    )
        .prop_map(|(now, skew, scale, domains, cmg, site, (seed, tenant))| {
            let mut w = format!("[world]\ncmg_name = {cmg:?}\nsite_code = {site:?}\nseed = {seed}\ndomains = {domains:?}\ntenant_name = {tenant:?}\n");
            if let Some(n) = now {
                w.push_str(&format!("now = {n:?}\n"));
            }
            if let Some(s) = skew {
                w.push_str(&format!("skew = {s:?}\n"));
            }
            if let Some(x) = scale {
                w.push_str(&format!("time_scale = {x:e}\n"));
            }
            w
        })
}

fn fault(cas: Vec<String>) -> impl Strategy<Value = String> {
    let target = prop_oneof![
        prop::sample::select(cas).prop_map(|c| format!("ca = {c:?}")),
        Just("hosts = \"login.microsoftonline.com\"".to_string()),
        prop::sample::select(vec!["leaf", "intermediate", "root"]).prop_map(|l| format!("hosts = \"*.manage.microsoft.com\"\nlevel = {l:?}")),
    ];
    prop_oneof![
        (prop::sample::select(vec!["pki.expired", "pki.revoked"]), target.clone(), duration())
            .prop_map(|(k, t, d)| format!("kind = {k:?}\n{t}\nsince = {d:?}")),
        (target, duration()).prop_map(|(t, d)| format!("kind = \"pki.not_valid_yet\"\n{t}\nuntil = {d:?}")),
        (prop::sample::select(vec!["service.ocsp_stale", "service.crl_stale"]), duration()).prop_map(|(k, d)| format!("kind = {k:?}\nsince = {d:?}")),
        (prop::sample::select(vec!["service.ocsp_slow", "service.crl_slow"]), duration()).prop_map(|(k, d)| format!("kind = {k:?}\ndelay = {d:?}")),
        prop_oneof![400u16..600, any::<u16>()].prop_map(|s| format!("kind = \"service.crl_unavailable\"\nstatus = {s}")),
        (duration(), duration()).prop_map(|(d, t)| format!("kind = \"dns.delay\"\nnames = \"*.contoso.com\"\ndelay = {d:?}\nuntil = {t:?}")),
        duration().prop_map(|t| format!("kind = \"dns.ttl\"\nnames = \"*.contoso.com\"\nttl = {t:?}")),
        prop_oneof![any::<[u8; 3]>().prop_map(|[a, b, c]| [127, a, b, c]), any::<[u8; 4]>()]
            .prop_map(|a| format!("kind = \"dns.wrong_address\"\nnames = \"*.contoso.com\"\naddress = \"{}\"", std::net::Ipv4Addr::from(a))),
        duration().prop_map(|d| format!("kind = \"proxy.latency\"\nlatency = {d:?}")),
        (any::<bool>(), prop::option::of("\\PC{0,300}")).prop_map(|(trusted, name)| {
            let name = name.map(|n| format!("\nca_name = {n:?}")).unwrap_or_default();
            format!("kind = \"proxy.tls_inspection\"\ntrusted = {trusted}{name}")
        }),
        ("\\PC{0,64}", "\\PC{0,64}").prop_map(|(u, p)| format!("kind = \"proxy.auth_required\"\nuser = {u:?}\npassword = {p:?}")),
        duration().prop_map(|d| format!("kind = \"proxy.idle_timeout\"\nafter = {d:?}")),
        any::<u64>().prop_map(|b| format!("kind = \"proxy.bandwidth\"\nbytes_per_second = {b}")),
        any::<u64>().prop_map(|b| format!("kind = \"proxy.limit_data\"\nbytes = {b}")),
        (prop_oneof![400u16..600, any::<u16>()], prop::collection::vec(0u32..400, 0..3), prop::collection::vec(any::<u16>(), 1..3))
            .prop_map(|(s, sets, ports)| format!("kind = \"proxy.status\"\nstatus = {s}\nendpoint_sets = {sets:?}\nports = {ports:?}")),
    ]
}

fn scenario(cas: Vec<String>) -> impl Strategy<Value = String> {
    (world(), prop::collection::vec(fault(cas), 0..4)).prop_map(|(world, faults)| {
        let mut s = format!("name = \"prop\"\nsummary = \"s\"\narea = \"baseline\"\nsource = \"proptest\"\n{world}");
        for f in faults {
            s.push_str(&format!("[[fault]]\n{f}\n"));
        }
        s
    })
}

#[test]
fn what_validation_accepts_starts() {
    let catalog = &Catalog::builtin().unwrap();
    let mut cas: Vec<String> = catalog.pki.cas.iter().map(|c| c.id.clone()).collect();
    cas.push("no-such-ca".into());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (tried, started) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let config = Config { cases: 256, max_shrink_iters: 64, failure_persistence: None, ..Config::default() };
    let result = TestRunner::new(config).run(&scenario(cas), |text| {
        tried.fetch_add(1, Ordering::Relaxed);
        let Ok(file) = ScenarioFile::parse(&text, "prop.toml") else { return Ok(()) };
        let Ok(checked) = validate(&file, catalog) else { return Ok(()) };
        let world = runtime.block_on(World::start(checked.scenario(), WorldOptions::default()));
        prop_assert!(world.is_ok(), "validation accepted what the world cannot start:\n{text}\n{:?}", world.err());
        started.fetch_add(1, Ordering::Relaxed);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let (tried, started) = (tried.into_inner(), started.into_inner());
    eprintln!("{started} of {tried} generated scenarios passed validation and started");
    // The property means nothing if validation refuses (nearly) everything generated.
    assert!(started * 10 >= tried, "only {started} of {tried} generated scenarios passed validation");
}
