//! Issue 4, the customer's proxy, end to end: curl through `memsim up`'s proxy (`-x`, the
//! world's CA given explicitly, the machine's proxy and CA settings removed), the sinkhole
//! refusal in the journal, the idle timeout on a held tunnel timed by the journal's simulated
//! clock, TLS inspection trusted and untrusted, Range stripping, bad input, and (issue 11) a
//! `Host` header or SNI that must not carry a request past a deny rule.

use std::io::{Read, Write};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use harness::world::{World, WorldOptions};
use memsim_e2e::{Up, clean_env, text};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn proxy_url(up: &Up) -> String {
    up.world["proxy_url"].as_str().expect("world.json has proxy_url").to_string()
}

/// curl through the world's proxy, trusting only the world's CA; stdout is the status code.
fn curl(up: &Up, extra: &[&str], url: &str) -> Output {
    clean_env(Command::new("curl"))
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", "-x"])
        .arg(proxy_url(up))
        .arg("--cacert")
        .arg(up.ca())
        .args(extra)
        .arg(url)
        .output()
        .expect("run curl")
}

fn status(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn proxy_events<'a>(journal: &'a [Value], what: &'a str) -> impl Iterator<Item = &'a Value> {
    journal.iter().filter(move |e| e["component"] == "proxy" && e["what"] == what)
}

#[test]
fn curl_reaches_emulated_hosts_and_a_foreign_host_is_refused_without_a_connect() {
    let up = Up::start(None);
    let out = curl(&up, &[], "https://enrollment.manage.microsoft.com/EnrollmentServer/Discovery.svc");
    assert_eq!(status(&out), "200", "{}", text(&out));
    let out = curl(&up, &[], "http://crl3.digicert.com/");
    assert_eq!(status(&out), "200", "{}", text(&out));
    let out = curl(&up, &[], "https://example.org/");
    assert_eq!(out.status.code(), Some(56), "{}", text(&out));
    assert!(text(&out).contains("502"), "{}", text(&out));
    let (_, journal) = up.stop();
    let refused = proxy_events(&journal, "refused").find(|e| e["host"] == "example.org").expect("refusal journaled");
    assert_eq!(refused["detail"]["connect_attempted"], false);
    assert_eq!(refused["detail"]["refusal"], "not_emulated");
    let conn = &refused["detail"]["conn"];
    assert!(!proxy_events(&journal, "upstream").any(|e| &e["detail"]["conn"] == conn), "no upstream connection for the refused request");
    let ok = proxy_events(&journal, "close").find(|e| e["host"] == "enrollment.manage.microsoft.com").expect("tunnel closed");
    assert!(ok["detail"]["bytes_up"].as_u64().unwrap() > 0 && ok["detail"]["bytes_down"].as_u64().unwrap() > 0, "{ok}");
}

#[test]
fn env_sh_sends_clients_through_the_proxy_whatever_no_proxy_says() {
    let up = Up::start(None);
    let env = std::fs::read_to_string(up.state.path().join("env.sh")).unwrap();
    for var in ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"] {
        assert!(env.contains(&format!("export {var}='{}'", proxy_url(&up))), "{var}:\n{env}");
    }
    let script = format!(
        ". '{}' && curl -sS -o /dev/null -w '%{{http_code}}' https://enterpriseenrollment-s.manage.microsoft.com/EnrollmentServer/Discovery.svc",
        up.state.path().join("env.sh").display()
    );
    let out = clean_env(Command::new("sh")).env("NO_PROXY", "*").env("no_proxy", "*").arg("-c").arg(script).output().unwrap();
    assert_eq!(status(&out), "200", "{}", text(&out));
    let (_, journal) = up.stop();
    assert!(proxy_events(&journal, "request").any(|e| e["host"] == "enterpriseenrollment-s.manage.microsoft.com"));
}

#[test]
fn untrusted_inspection_fails_curl_with_60_and_trusted_inspection_succeeds_and_is_journaled() {
    let up = Up::start(Some("proxy-ssl-inspection-manage"));
    let out = curl(&up, &[], "https://enrollment.manage.microsoft.com/EnrollmentServer/Discovery.svc");
    assert_eq!(out.status.code(), Some(60), "{}", text(&out));
    let (_, journal) = up.stop();
    let e = proxy_events(&journal, "tls_inspection").next().expect("inspection journaled");
    assert_eq!((e["fault"].as_str(), e["detail"]["accepted"].as_bool()), (Some("proxy.tls_inspection"), Some(false)));

    let up = Up::start_toml(
        "inspect-trusted",
        "proxy",
        "[[fault]]\nkind = \"proxy.tls_inspection\"\nhosts = \"*.manage.microsoft.com\"\ntrusted = true\nca_name = \"Contoso Proxy Inspection CA\"\n",
    );
    let out = curl(&up, &["-v"], "https://enrollment.manage.microsoft.com/EnrollmentServer/Discovery.svc");
    assert_eq!(status(&out), "200", "{}", text(&out));
    assert!(text(&out).contains("Contoso Proxy Inspection CA"), "curl saw the inspection CA as issuer:\n{}", text(&out));
    let (_, journal) = up.stop();
    let e = proxy_events(&journal, "tls_inspection").next().expect("inspection journaled");
    assert_eq!(e["detail"]["accepted"], true);
    assert!(proxy_events(&journal, "upstream").any(|u| u["detail"]["inspected"] == true), "re-originated to the world");
    assert!(journal.iter().any(|e| e["component"] == "http" && e["what"] == "request" && e["detail"]["status"] == 200));
}

/// A Win32-apps-and-scripts package of endpoint set 170 (mock-cloud's content service serves
/// ranges on it: 206 with `Content-Range`).
const SCRIPT: &str = "https://swda01-mscdn.azureedge.net/scripts/6c8d2f4a-1e3b-4a5c-9d7e-0f1a2b3c4d5e/remediate.ps1.bin";

#[test]
fn range_is_stripped_through_the_inspecting_gateway_so_the_client_gets_the_full_200() {
    let ranged = ["-r", "0-9", "-w", "%{http_code} %{size_download}"]; // the later -w wins
    let healthy = Up::start(None);
    let out = curl(&healthy, &ranged, SCRIPT);
    assert_eq!(status(&out), "206 10", "a healthy proxy passes the range: {}", text(&out));
    drop(healthy);
    let up = Up::start(Some("proxy-range-stripped"));
    let out = curl(&up, &ranged, SCRIPT);
    assert_eq!(status(&out), "200 65536", "{}", text(&out));
    let (_, journal) = up.stop();
    let e = proxy_events(&journal, "strip_range").next().expect("strip journaled");
    assert_eq!((e["host"].as_str(), e["detail"]["range"].as_str()), (Some("swda01-mscdn.azureedge.net"), Some("bytes=0-9")));
    assert!(proxy_events(&journal, "tls_inspection").any(|e| e["detail"]["accepted"] == true));
}

#[test]
fn auth_scp_block_and_asu_cdn_scenarios_refuse_as_configured() {
    let up = Up::start(Some("proxy-auth-required-system"));
    let url = "https://enrollment.manage.microsoft.com/EnrollmentServer/Discovery.svc";
    let out = curl(&up, &[], url);
    assert!(out.status.code() == Some(56) && text(&out).contains("407"), "{}", text(&out));
    let out = curl(&up, &["--proxy-user", "CONTOSO\\svc-proxy:Summer2026!"], url);
    assert_eq!(status(&out), "200", "{}", text(&out));
    drop(up);
    let up = Up::start(Some("proxy-scp-blocked"));
    let out = curl(&up, &[], "https://go.microsoft.com/");
    assert!(text(&out).contains("403"), "{}", text(&out));
    drop(up);
    let up = Up::start(Some("cdn-asu-blocked"));
    let out = curl(&up, &[], "https://naprodimedatapri.azureedge.net/");
    // block = "reset": curl's CONNECT is answered with a TCP reset (exit 56), not a page.
    assert!(out.status.code() == Some(56) && text(&out).contains("reset"), "{}", text(&out));
    assert_eq!(status(&curl(&up, &[], SCRIPT)), "200");
    let (_, journal) = up.stop();
    let e = proxy_events(&journal, "deny").next().expect("deny journaled");
    assert_eq!((e["host"].as_str(), e["detail"]["block"].as_str()), (Some("naprodimedatapri.azureedge.net"), Some("reset")));
}

#[test]
fn bad_input_gets_a_clear_error_and_the_proxy_keeps_serving() {
    let up = Up::start(None);
    let addr = proxy_url(&up).trim_start_matches("http://").to_string();
    let exchange = |bytes: &[u8]| {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(bytes);
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    assert!(exchange(b"\x00\x01garbage\r\n\r\n").starts_with("HTTP/1.1 400"));
    let endless = format!("GET http://crl3.digicert.com/ HTTP/1.1\r\n{}", "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat(2000));
    assert!(exchange(endless.as_bytes()).starts_with("HTTP/1.1 431"));
    let closed = exchange(b"CONNECT enrollment.manage.microsoft.com:8443 HTTP/1.1\r\n\r\n");
    assert!(closed.starts_with("HTTP/1.1 403") && closed.contains("port 8443 is not served"), "{closed}");
    let out = curl(&up, &[], "https://enrollment.manage.microsoft.com/EnrollmentServer/Discovery.svc");
    assert_eq!(status(&out), "200", "{}", text(&out));
}

fn tls_client(world: &World) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(world.ca_bundle()).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[tokio::test]
async fn the_notification_channel_is_cut_after_sixty_idle_simulated_seconds() {
    let scenario = scenarios::catalog::find("proxy-idle-timeout-notification").unwrap().unwrap();
    let world = World::start(&scenario, WorldOptions { time_scale: Some(60.0), ..WorldOptions::default() }).await.unwrap();
    let host = "fef.msua06.manage.microsoft.com";
    let mut tcp = tokio::net::TcpStream::connect(world.proxy_url().trim_start_matches("http://")).await.unwrap();
    tcp.write_all(format!("CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n").as_bytes()).await.unwrap();
    let mut head = [0u8; 39];
    tcp.read_exact(&mut head).await.unwrap();
    assert!(head.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&head));
    let mut tls = tls_client(&world).connect(ServerName::try_from(host).unwrap(), tcp).await.unwrap();
    tls.write_all(format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tls.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // Now hold the channel open and silent, as the SCP does between notifications.
    let held = world.journal().clock().wall_elapsed();
    let end = tokio::time::timeout(Duration::from_secs(10), tls.read(&mut buf)).await.expect("the proxy cut the channel");
    let wall = world.journal().clock().wall_elapsed() - held;
    assert!(matches!(end, Ok(0)) || end.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::UnexpectedEof), "a FIN, not a reset: {end:?}");
    assert!(wall >= Duration::from_millis(950) && wall < Duration::from_secs(3), "60 s at scale 60 is about one wall second: {wall:?}");
    let fired = world.journal().find(0, |e| e.what == "idle_timeout").expect("journaled");
    assert_eq!((fired.fault.as_deref(), fired.host.as_deref()), (Some("proxy.idle_timeout"), Some(host)));
    let idle_sim = fired.detail["idle_sim_ms"].as_f64().unwrap();
    assert!((60_000.0..=60_600.0 + 60.0 * 30.0).contains(&idle_sim), "within 1% plus scheduling jitter: {idle_sim}");
}

#[tokio::test]
async fn a_customer_allow_list_file_blocks_what_it_misses_and_reports_the_required_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("allow.txt");
    std::fs::write(&list, "# customer egress\n*.manage.microsoft.com\nmanage.microsoft.com\nlogin.microsoftonline.com\n").unwrap();
    let text =
        format!("name = \"allow\"\nsummary = \"s\"\narea = \"proxy\"\nsource = \"t\"\n[[fault]]\nkind = \"proxy.allow_list\"\nfile = \"{}\"\n", list.display());
    let scenario = scenarios::parse_scenario(&text, "t").unwrap();
    let world = World::start(&scenario, WorldOptions::default()).await.unwrap();
    let gaps = world.journal().find(0, |e| e.what == "allow_list_gaps").expect("gaps journaled at start");
    let listed = gaps.detail["gaps"].as_array().unwrap();
    assert!(listed.iter().any(|g| g["host"] == "swda01-mscdn.azureedge.net" && g["required_by"].as_str().unwrap().contains("170")), "{listed:?}");
    assert!(!listed.iter().any(|g| g["host"] == "*.manage.microsoft.com"));
    let ask = |target: &'static str| {
        let addr = world.proxy_url().trim_start_matches("http://").to_string();
        async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(format!("CONNECT {target} HTTP/1.1\r\n\r\n").as_bytes()).await.unwrap();
            let mut b = [0u8; 12];
            s.read_exact(&mut b).await.unwrap();
            String::from_utf8_lossy(&b).to_string()
        }
    };
    assert_eq!(ask("swda01-mscdn.azureedge.net:443").await, "HTTP/1.1 403");
    assert_eq!(ask("r.manage.microsoft.com:443").await, "HTTP/1.1 200");
}

#[test]
fn dns_faults_reach_clients_through_the_proxy() {
    let faults = "[[fault]]\nkind = \"dns.nx_domain\"\nnames = \"enrollment.manage.microsoft.com\"\n\n\
                  [[fault]]\nkind = \"dns.wrong_address\"\nnames = \"r.manage.microsoft.com\"\n";
    let up = Up::start_toml("dns-through-proxy", "proxy", faults);
    let out = curl(&up, &[], "https://enrollment.manage.microsoft.com/EnrollmentServer/Discovery.svc");
    assert!(out.status.code() == Some(56) && text(&out).contains("502"), "{}", text(&out));
    let out = curl(&up, &[], "https://r.manage.microsoft.com/");
    assert!(out.status.code() == Some(56) && text(&out).contains("403"), "{}", text(&out));
    let out = curl(&up, &[], "https://enterpriseenrollment-s.manage.microsoft.com/EnrollmentServer/Discovery.svc");
    assert_eq!(status(&out), "200", "other names still resolve: {}", text(&out));
    let (_, journal) = up.stop();
    let nx = proxy_events(&journal, "refused").find(|e| e["host"] == "enrollment.manage.microsoft.com").expect("journaled");
    assert_eq!(nx["detail"]["refusal"], "dns");
    assert!(nx["detail"]["reason"].as_str().unwrap().to_lowercase().contains("nxdomain"), "{nx}");
    let wrong = proxy_events(&journal, "refused").find(|e| e["host"] == "r.manage.microsoft.com").expect("journaled");
    assert_eq!(wrong["detail"]["refusal"], "sinkhole");
    assert!(wrong["detail"]["reason"].as_str().unwrap().contains("not an address of this world"), "{wrong}");
    assert!(journal.iter().any(|e| e["component"] == "dns" && e["fault"] == "dns.nx_domain"), "the DNS server saw the proxy's query");
}

/// The hosts the world's fronts served a request for (the `http` component's journal).
fn front_hosts(journal: &[Value]) -> Vec<String> {
    journal.iter().filter(|e| e["component"] == "http" && e["what"] == "request").filter_map(|e| e["host"].as_str().map(str::to_string)).collect()
}

// issue 11, defect 2: under proxy-scp-blocked a `Host` header naming a denied service does not
// carry an absolute-form request to it: the proxy decides on the target and sends its Host.
#[test]
fn a_host_header_does_not_bypass_a_deny_rule_on_plain_http() {
    let up = Up::start(Some("proxy-scp-blocked"));
    let out = curl(&up, &["-H", "Host: enterpriseenrollment-s.manage.microsoft.com"], "http://crl3.digicert.com/EnrollmentServer/Discovery.svc");
    assert_ne!(status(&out), "200", "{}", text(&out));
    let out = curl(
        &up,
        &["-X", "POST", "-d", "{}", "-H", "Host: gateway.configmgr.manage.microsoft.com"],
        "http://crl3.digicert.com/api/gateway/AccountOnboardingInfo",
    );
    assert_ne!(status(&out), "200", "{}", text(&out));
    let (_, journal) = up.stop();
    let served = front_hosts(&journal);
    assert!(!served.is_empty() && served.iter().all(|h| h == "crl3.digicert.com"), "the front served only the requested target: {served:?}");
}

// issue 11, defect 2: inside an inspected tunnel the decision was made on the CONNECT host; a
// `Host` naming another (denied) service is refused by the proxy (409, as Squid's
// host_verify_strict), and a ClientHello naming another host fails its handshake.
#[test]
fn inside_an_inspected_tunnel_neither_host_nor_sni_reaches_another_service() {
    let up = Up::start_toml(
        "inspect-and-deny",
        "proxy",
        "[[fault]]\nkind = \"proxy.tls_inspection\"\nhosts = \"swda01-mscdn.azureedge.net\"\ntrusted = true\n\n\
         [[fault]]\nkind = \"proxy.deny\"\nhosts = \"*.manage.microsoft.com\"\n",
    );
    let out = curl(&up, &[], SCRIPT);
    assert_eq!(status(&out), "200", "the inspected host itself is served: {}", text(&out));
    let smuggled = "https://swda01-mscdn.azureedge.net/EnrollmentServer/Discovery.svc";
    let out = curl(&up, &["-H", "Host: enterpriseenrollment-s.manage.microsoft.com"], smuggled);
    assert_eq!(status(&out), "409", "{}", text(&out));
    // curl tunnels to the allowed host but says the denied one in SNI and Host (-k: the
    // inspection CA's leaf names the tunnel's host, which is the point).
    let denied = "https://enterpriseenrollment-s.manage.microsoft.com/EnrollmentServer/Discovery.svc";
    let out = curl(&up, &["-k", "--connect-to", "enterpriseenrollment-s.manage.microsoft.com:443:swda01-mscdn.azureedge.net:443"], denied);
    assert_eq!(out.status.code(), Some(35), "the handshake is refused: {}", text(&out));
    let (_, journal) = up.stop();
    let served = front_hosts(&journal);
    assert!(!served.is_empty() && served.iter().all(|h| h == "swda01-mscdn.azureedge.net"), "the front served only the tunnel's host: {served:?}");
    let refused: Vec<&Value> = proxy_events(&journal, "refused").filter(|e| e["detail"]["refusal"] == "host_mismatch").collect();
    assert_eq!(refused.len(), 2, "both journaled: {refused:?}");
    assert!(refused[0]["detail"]["reason"].as_str().unwrap().starts_with("the request names enterpriseenrollment-s"), "{}", refused[0]);
    assert!(refused[1]["detail"]["reason"].as_str().unwrap().starts_with("the TLS ClientHello names enterpriseenrollment-s"), "{}", refused[1]);
}
