//! The world's DNS end to end (issue 3): `memsim up` publishes it in world.json and env.sh;
//! hickory's client and stub resolver, `dig` (UDP and TCP) and curl's DoH resolve every
//! emulated name through it; tenant CNAME chains come back whole; the usgov world has the `.us`
//! variants; and each built-in DNS scenario fails as its name says.

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use harness::world::{World, WorldOptions};
use hickory_net::client::{Client, ClientHandle};
use hickory_net::proto::op::{DnsResponse, ResponseCode};
use hickory_net::proto::rr::{DNSClass, Name, RecordType};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::udp::UdpClientStream;
use hickory_resolver::Resolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use memsim_e2e::{Up, clean_env, text};

fn dns_addr(up: &Up) -> SocketAddr {
    up.world["dns_addr"].as_str().expect("world.json dns_addr is filled").parse().unwrap()
}

/// One question with hickory's client over UDP (`tcp = false`) or TCP.
async fn ask(addr: SocketAddr, tcp: bool, name: &str, qtype: RecordType) -> DnsResponse {
    let provider = TokioRuntimeProvider::default();
    let name = Name::from_ascii(name).unwrap();
    let timeout = Duration::from_secs(5);
    let r = if tcp {
        let (connect, handle) = TcpClientStream::new(addr, None, Some(timeout), provider);
        let (mut c, bg) = Client::<TokioRuntimeProvider>::with_timeout(connect.await.unwrap(), handle, timeout);
        tokio::spawn(bg);
        c.query(name, DNSClass::IN, qtype).await
    } else {
        let stream = UdpClientStream::builder(addr, provider).with_timeout(Some(timeout)).build();
        let (mut c, bg) = Client::<TokioRuntimeProvider>::from_sender(stream);
        tokio::spawn(bg);
        c.query(name, DNSClass::IN, qtype).await
    };
    r.unwrap_or_else(|e| panic!("query over {}: {e}", if tcp { "TCP" } else { "UDP" }))
}

fn answer_lines(r: &DnsResponse) -> Vec<String> {
    r.answers.iter().map(|a| format!("{} {} {}", a.name.to_lowercase(), a.record_type(), a.data.to_string().to_lowercase())).collect()
}

fn stub_resolver(addr: SocketAddr) -> Resolver<TokioRuntimeProvider> {
    let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
    for c in &mut ns.connections {
        c.port = addr.port();
    }
    let mut opts = ResolverOpts::default();
    opts.attempts = 1;
    Resolver::builder_with_config(ResolverConfig::from_parts(None, vec![], vec![ns]), TokioRuntimeProvider::default()).with_options(opts).build().unwrap()
}

#[tokio::test]
async fn memsim_up_publishes_its_dns_and_every_emulated_name_resolves_to_loopback() {
    let up = Up::start(None);
    let addr = dns_addr(&up);
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
    let env = std::fs::read_to_string(up.state.path().join("env.sh")).unwrap();
    assert!(env.contains(&format!("export MEMSIM_DNS='{addr}'")), "{env}");

    let resolver = stub_resolver(addr);
    let hosts = up.hosts();
    assert!(hosts.len() > 100, "{}", hosts.len());
    for host in &hosts {
        // A wildcard answers for any name below it.
        let name = format!("{}.", host.replace("*.", "probe-7."));
        let ips: Vec<IpAddr> = resolver.lookup_ip(name.as_str()).await.unwrap_or_else(|e| panic!("{name}: {e}")).iter().collect();
        assert_eq!(ips, [IpAddr::from([127, 0, 0, 1])], "{name}");
    }
}

#[tokio::test]
async fn tenant_chains_cmg_and_mp_records_over_udp_and_tcp_and_the_borders_of_the_zones() {
    let up = Up::start(None);
    let addr = dns_addr(&up);
    for tcp in [false, true] {
        for domain in ["contoso.com", "us.contoso.com", "eu.contoso.com"] {
            let ee = ask(addr, tcp, &format!("EnterpriseEnrollment.{domain}."), RecordType::A).await;
            assert_eq!(
                answer_lines(&ee),
                [
                    format!("enterpriseenrollment.{domain}. CNAME enterpriseenrollment-s.manage.microsoft.com."),
                    "enterpriseenrollment-s.manage.microsoft.com. A 127.0.0.1".to_string(),
                ],
                "seed 003, whole chain in one answer (tcp={tcp})"
            );
            let er = ask(addr, tcp, &format!("EnterpriseRegistration.{domain}."), RecordType::A).await;
            assert_eq!(answer_lines(&er)[0], format!("enterpriseregistration.{domain}. CNAME enterpriseregistration.windows.net."));
            assert_eq!(er.answers.len(), 2);
        }
        let cmg = ask(addr, tcp, "GraniteFalls.contoso.com.", RecordType::A).await;
        assert_eq!(answer_lines(&cmg), ["granitefalls.contoso.com. CNAME granitefalls.cloudapp.net.", "granitefalls.cloudapp.net. A 127.0.0.1"]);
        let srv = ask(addr, tcp, "_mssms_mp_ABC._tcp.contoso.com.", RecordType::SRV).await;
        assert_eq!(answer_lines(&srv), ["_mssms_mp_abc._tcp.contoso.com. SRV 0 0 443 granitefalls.cloudapp.net."]);

        let nx = ask(addr, tcp, "nothing-here.contoso.com.", RecordType::A).await;
        assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
        assert!(nx.soa().is_some(), "NXDOMAIN inside a zone carries its SOA");
        let refused = ask(addr, tcp, "www.example.org.", RecordType::A).await;
        assert_eq!(refused.metadata.response_code, ResponseCode::Refused, "never recursion, never forwarding");
        let v6 = ask(addr, tcp, "login.microsoftonline.com.", RecordType::AAAA).await;
        assert_eq!((v6.metadata.response_code, v6.answers.len()), (ResponseCode::NoError, 0), "AAAA: NODATA");
    }
}

fn dig(addr: SocketAddr, args: &[&str]) -> String {
    let out = clean_env(Command::new("dig"))
        .args(["-p", &addr.port().to_string(), &format!("@{}", addr.ip()), "+norecurse", "+time=5", "+tries=1"])
        .args(args)
        .output()
        .expect("dig (Debian dnsutils; .ci/run installs it)");
    assert!(out.status.success(), "{}", text(&out));
    text(&out)
}

#[test]
fn dig_over_udp_and_tcp_sees_the_chain_the_soa_and_the_refusal() {
    let up = Up::start(None);
    let addr = dns_addr(&up);
    for transport in ["+notcp", "+tcp"] {
        let ee = dig(addr, &[transport, "EnterpriseEnrollment.contoso.com", "A"]);
        assert!(ee.contains("status: NOERROR") && ee.contains("ANSWER: 2"), "{transport}: {ee}");
        assert!(ee.contains("flags: qr aa") && !ee.contains(" ra"), "authoritative, not recursive: {ee}");
        assert!(ee.contains("EnterpriseEnrollment-s.manage.microsoft.com.") && ee.contains("127.0.0.1"), "{ee}");
        let nx = dig(addr, &[transport, "nothing-here.contoso.com"]);
        assert!(nx.contains("status: NXDOMAIN") && nx.contains("IN\tSOA\tdoh.memsim.test."), "{transport}: {nx}");
        let out = dig(addr, &[transport, "www.example.org"]);
        assert!(out.contains("status: REFUSED"), "{transport}: {out}");
    }
}

#[test]
fn dig_retries_a_truncated_answer_over_tcp() {
    // Every UDP answer for the tenant's names is truncated.
    let up = Up::start_toml("dns-truncate", "dns", "[[fault]]\nkind = \"dns.truncate\"\nnames = \"*.contoso.com\"\n");
    let out = dig(dns_addr(&up), &["EnterpriseEnrollment.contoso.com", "A"]);
    assert!(out.contains("Truncated, retrying in TCP mode"), "{out}");
    assert!(out.contains("ANSWER: 2"), "the TCP retry gets the whole chain: {out}");
    let (_, journal) = up.stop();
    let faults: Vec<&str> = journal.iter().filter(|e| e["component"] == "dns").map(|e| e["fault"].as_str().unwrap_or("-")).collect();
    assert_eq!(faults, ["dns.truncate", "-"], "UDP truncated, TCP whole");
}

#[test]
fn curl_resolves_through_doh_on_the_https_front() {
    let up = Up::start(None);
    let port = up.https_addr().rsplit_once(':').unwrap().1.to_string();
    let doh = format!("https://doh.memsim.test:{port}/dns-query");
    let out = clean_env(Command::new("curl"))
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code} %{remote_ip}", "--max-time", "10", "--cacert"])
        .arg(up.ca())
        .args(["--doh-url", &doh, "--resolve", &format!("doh.memsim.test:{port}:127.0.0.1")])
        .arg(format!("https://enterpriseenrollment-s.manage.microsoft.com:{port}/EnrollmentServer/Discovery.svc"))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200 127.0.0.1", "{}", text(&out));
    let (_, journal) = up.stop();
    let doh_queries: Vec<_> = journal
        .iter()
        .filter(|e| e["component"] == "dns" && e["detail"]["transport"] == "https")
        .filter(|e| e["host"] == "enterpriseenrollment-s.manage.microsoft.com")
        .collect();
    assert!(!doh_queries.is_empty(), "curl's DoH questions are journaled as DNS over https");
    assert!(doh_queries.iter().any(|e| e["detail"]["type"] == "A" && e["detail"]["rcode"] == "NOERROR"));
}

#[tokio::test]
async fn a_usgov_world_has_the_us_variants_of_seed_003_and_seed_001() {
    let mut s = harness::resolve_scenario(None, &mock_cloud::Catalog::builtin().unwrap()).unwrap();
    s.world.cloud = scenarios::Cloud::Usgov;
    let world = World::start(&s, WorldOptions::default()).await.unwrap();
    let ee = ask(world.dns_addr(), false, "EnterpriseEnrollment.contoso.com.", RecordType::A).await;
    assert_eq!(answer_lines(&ee)[0], "enterpriseenrollment.contoso.com. CNAME enterpriseenrollment-s.manage.microsoft.us.");
    assert_eq!(ee.answers.len(), 2);
    let er = ask(world.dns_addr(), true, "EnterpriseRegistration.us.contoso.com.", RecordType::A).await;
    assert_eq!(answer_lines(&er)[0], "enterpriseregistration.us.contoso.com. CNAME enterpriseregistration.windows.net.");
    let cmg = ask(world.dns_addr(), false, "GraniteFalls.contoso.com.", RecordType::A).await;
    assert_eq!(answer_lines(&cmg)[0], "granitefalls.contoso.com. CNAME granitefalls.usgovcloudapp.net.");
    assert_eq!(world.describe().dns_addr, world.dns_addr());
}

#[tokio::test]
async fn each_built_in_dns_scenario_fails_as_named_and_journals_its_fault() {
    let cases = [
        ("dns-enrollment-cname-missing", "EnterpriseEnrollment.eu.contoso.com.", ResponseCode::NXDomain, 0, "dns.nx_domain"),
        ("dns-enrollment-cname-nonpreferred", "EnterpriseEnrollment.contoso.com.", ResponseCode::NoError, 2, "dns.cname_target"),
        ("dns-registration-cname-missing", "EnterpriseRegistration.contoso.com.", ResponseCode::NXDomain, 0, "dns.nx_domain"),
        ("dns-servfail-oobe", "EnterpriseEnrollment.contoso.com.", ResponseCode::ServFail, 0, "dns.serv_fail"),
    ];
    let catalog = mock_cloud::Catalog::builtin().unwrap();
    for (name, qname, rcode, answers, fault) in cases {
        let s = harness::resolve_scenario(Some(name), &catalog).unwrap();
        let world = World::start(&s, WorldOptions::default()).await.unwrap();
        let r = ask(world.dns_addr(), false, qname, RecordType::A).await;
        assert_eq!((r.metadata.response_code, r.answers.len()), (rcode, answers), "{name}: {:?}", answer_lines(&r));
        let host = qname.trim_end_matches('.').to_ascii_lowercase();
        let event = world.journal().find(0, |e| e.host.as_deref() == Some(host.as_str())).unwrap();
        assert_eq!(event.fault.as_deref(), Some(fault), "{name}");
        if name == "dns-enrollment-cname-nonpreferred" {
            assert_eq!(answer_lines(&r)[0], "enterpriseenrollment.contoso.com. CNAME enterpriseenrollment.manage.microsoft.com.");
        }
    }
}

/// Issue 17: a DNS fault added to a running world answers from the next query on (UDP and TCP
/// alike, as hickory's client sees them), and its removal ends it; each change is journaled.
#[tokio::test(flavor = "multi_thread")]
async fn a_dns_fault_added_while_the_world_runs_answers_the_next_query() {
    let catalog = mock_cloud::Catalog::builtin().unwrap();
    let s = harness::resolve_scenario(None, &catalog).unwrap();
    let world = World::start(&s, WorldOptions::default()).await.unwrap();
    let qname = "EnterpriseEnrollment.contoso.com.";
    for tcp in [false, true] {
        assert_eq!(ask(world.dns_addr(), tcp, qname, RecordType::CNAME).await.metadata.response_code, ResponseCode::NoError);
    }
    let added = world.faults().add("kind = \"dns.nx_domain\"\nnames = \"enterpriseenrollment.contoso.com\"\n", "test").unwrap();
    for tcp in [false, true] {
        let r = ask(world.dns_addr(), tcp, qname, RecordType::CNAME).await;
        assert_eq!((r.metadata.response_code, r.answers.len()), (ResponseCode::NXDomain, 0), "tcp {tcp}");
    }
    world.faults().remove(added[0].id).unwrap();
    assert_eq!(ask(world.dns_addr(), false, qname, RecordType::CNAME).await.metadata.response_code, ResponseCode::NoError);
    let changes: Vec<String> = world.journal().snapshot().into_iter().filter(|e| e.component == scenarios::Component::Control).map(|e| e.what).collect();
    assert_eq!(changes, ["fault_added", "fault_removed"]);
}
