//! The in-process Rust API as another team's test uses it (issue 18, acceptance): only the
//! crate's public items — `World`, `Scenario`, `EventMatcher`, `Component` — and a real HTTP
//! client (reqwest on rustls) through each world's proxy, trusting only that world's CA.
//!
//! Inside this workspace the `harness` package keeps its package name as the dependency's
//! name; a user's crate imports its library as `memsim`, which the alias below mirrors.

use std::process::Command;
use std::time::Duration;

use harness as memsim;
use memsim::{Component, EventMatcher, Fault, Scenario, World};
use memsim_e2e::{clean_env, memsim_bin, text};

const DISCOVERY: &str = "https://enrollment.manage.microsoft.com/EnrollmentServer/Discovery.svc";

/// A reqwest client that goes through the world's proxy and trusts the world's CA alone.
fn client(world: &World) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(world.ca_pem().as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .proxy(reqwest::Proxy::all(world.proxy_url()).unwrap())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

// issue 18 acceptance: three worlds at once in one test process, each reached through its own
// proxy, each journal checked on its own (no world sees another's traffic).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_worlds_at_once_each_reached_through_its_proxy() {
    let (a, b, c) = tokio::try_join!(
        World::start(Scenario::healthy().named("world-a")),
        World::start(Scenario::healthy().named("world-b")),
        World::start(Scenario::healthy().named("world-c").with_fault(Fault::proxy_deny().hosts("*.manage.microsoft.com"))),
    )
    .unwrap();
    let ports: std::collections::HashSet<u16> = [&a, &b, &c].iter().map(|w| w.https_addr().port()).collect();
    assert_eq!(ports.len(), 3, "every world has its own ports");
    let (ra, rb, rc) = tokio::join!(client(&a).get(DISCOVERY).send(), client(&b).get(DISCOVERY).send(), client(&c).get(DISCOVERY).send());
    assert_eq!(ra.unwrap().status(), 200);
    assert_eq!(rb.unwrap().status(), 200);
    // world-c's proxy refuses the tunnel (a 403 to CONNECT): reqwest gets no response at all.
    let err = rc.expect_err("the proxy refuses the tunnel");
    assert!(err.is_connect(), "{err:?}");

    let tunnel = EventMatcher::new(Component::Proxy).what("request").host("enrollment.manage.microsoft.com");
    for w in [&a, &b] {
        w.journal().wait_for(&tunnel, Duration::from_secs(10)).await.unwrap();
        w.expect([tunnel.clone().count(1), EventMatcher::new(Component::Http).what("request").path("/EnrollmentServer/Discovery.svc").status(200)])
            .await
            .unwrap();
    }
    c.expect([
        EventMatcher::new(Component::Proxy).fault("proxy.deny").host("enrollment.manage.microsoft.com"),
        EventMatcher::new(Component::Proxy).what("upstream").absent(),
    ])
    .await
    .unwrap();
    let http = EventMatcher::new(Component::Http).what("request");
    c.expect([http.clone().absent()]).await.unwrap();

    // Dropping a world stops it: its directory goes, its ports close.
    let (dir, proxy) = (a.state_dir().to_path_buf(), a.describe().proxy_addr().unwrap());
    drop(a);
    assert!(!dir.exists(), "the state directory is removed with the world");
    let refused = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match tokio::net::TcpStream::connect(proxy).await {
                Err(_) => break,
                // The accept task is aborted on drop; it ends at its next poll.
                Ok(_) => tokio::task::yield_now().await,
            }
        }
    })
    .await;
    assert!(refused.is_ok(), "the proxy's listener closes when the world is dropped");
}

/// The lines of a near-miss that say what failed: the header, expected, observed and the near
/// events without their seq and wall time (which differ between two runs of one world).
fn verdict_lines(near_miss: &str) -> Vec<String> {
    let mut out = vec![near_miss.lines().next().unwrap_or_default().to_string()];
    for l in near_miss.lines() {
        if l.starts_with("  expected ") || l.starts_with("  observed:") {
            out.push(l.to_string());
        } else if let Some(event) = l.trim_start().strip_prefix("near: ") {
            // `#12   34.5ms proxy request …`: keep from the component on.
            let fields: Vec<&str> = event.split_whitespace().skip(2).collect();
            out.push(format!("near: {}", fields.join(" ")));
        }
    }
    out
}

// issue 18 acceptance: a failed expectation reads as the near-miss `memsim run` prints for the
// same scenario and the same client traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_expectation_is_the_near_miss_the_cli_prints() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("near-miss.toml");
    let scenario = format!(
        r#"# A test scenario: the proxy saw a tunnel, but not to the host expected.
name = "near-miss"
summary = "a tunnel to the wrong cloud"
area = "proxy"
source = "test"

[expect]
outcome = "pass"

[client]
command = ["curl", "-sS", "-o", "/dev/null", "--max-time", "20", "{DISCOVERY}"]

[[expect.events]]
component = "proxy"
what = "request"
host = "enrollment.manage.microsoft.us"
"#
    );
    std::fs::write(&file, scenario).unwrap();

    let world = World::start(Scenario::from_file(&file).unwrap()).await.unwrap();
    assert_eq!(client(&world).get(DISCOVERY).send().await.unwrap().status(), 200);
    let wrong = EventMatcher::new(Component::Proxy).what("request").host("enrollment.manage.microsoft.us");
    let err = world.expect([wrong]).await.expect_err("no tunnel to the US cloud");
    let memsim::Error::Expectation(failed) = &err else { panic!("not an expectation failure: {err}") };

    let out = clean_env(Command::new(memsim_bin())).env("NO_COLOR", "1").arg("run").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "the expectation fails under the CLI too: {}", text(&out));
    let cli = String::from_utf8_lossy(&out.stdout);
    let printed = &cli[cli.find("near-miss (proxy)").expect("the CLI prints the near-miss")..];

    let (api, cli) = (verdict_lines(&failed.message), verdict_lines(printed));
    assert!(api.iter().any(|l| l.starts_with("near: proxy request enrollment.manage.microsoft.com")), "{}", failed.message);
    assert_eq!(api, cli, "API:\n{}\nCLI:\n{printed}", failed.message);
    assert!(
        err.to_string()
            .contains("expected event: an event with component=proxy what=request host=enrollment.manage.microsoft.us\n  observed: 0 matching event(s)"),
        "{err}"
    );
}

// The environment a `Command` client gets: the world's CA and proxy, none of the machine's.
#[tokio::test]
async fn a_command_client_gets_the_worlds_environment() {
    let world = World::start(Scenario::healthy()).await.unwrap();
    let out = world.command("sh").args(["-c", "echo \"$SSL_CERT_FILE $CURL_CA_BUNDLE $HTTPS_PROXY ${NO_PROXY-unset}\""]).env("NO_PROXY", "*").output().unwrap();
    // `Command::env` after the world's is the caller's choice: it wins, as it should.
    let ca = world.ca_bundle().display().to_string();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("{ca} {ca} {} *", world.proxy_url()));
    let out = world.command("sh").args(["-c", "echo \"${NO_PROXY-unset} $REQUESTS_CA_BUNDLE $NODE_EXTRA_CA_CERTS\""]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("unset {ca} {ca}"));
    assert!(world.env().get("SSL_CERT_DIR").is_some_and(|d| std::path::Path::new(d).is_dir()));
}
