//! rustls (the TLS stack of Rust clients) against worlds started in process: the healthy chain
//! verifies, and the CAs' name constraints stop them vouching for names outside the world.

use std::sync::Arc;

use harness::world::{World, WorldOptions};
use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use scenarios::parse_scenario;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn healthy() -> scenarios::Scenario {
    parse_scenario("name = \"h\"\nsummary = \"s\"\narea = \"baseline\"\nsource = \"t\"\n", "t").unwrap()
}

fn roots(world: &World) -> Arc<RootCertStore> {
    let mut store = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(world.ca_bundle()).unwrap() {
        store.add(cert.unwrap()).unwrap();
    }
    Arc::new(store)
}

fn verifier(world: &World) -> Arc<WebPkiServerVerifier> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    WebPkiServerVerifier::builder_with_provider(roots(world), provider).build().unwrap()
}

#[tokio::test]
async fn name_constraints_reject_a_certificate_for_example_org() {
    let world = World::start(&healthy(), WorldOptions::default()).await.unwrap();
    let (leaf, inter) = world.cloud().pki.issue_for_test("example.org", "microsoft-azure-tls-issuing-ca-01").unwrap();
    let err = verifier(&world).verify_server_cert(&leaf, &[inter], &ServerName::try_from("example.org").unwrap(), &[], UnixTime::now()).unwrap_err();
    assert!(format!("{err:?}").contains("NameConstraint"), "{err:?}");
    // The same CA vouches for an emulated name.
    let (leaf, inter) = world.cloud().pki.issue_for_test("login.microsoftonline.com", "microsoft-azure-tls-issuing-ca-01").unwrap();
    verifier(&world).verify_server_cert(&leaf, &[inter], &ServerName::try_from("login.microsoftonline.com").unwrap(), &[], UnixTime::now()).unwrap();
}

#[tokio::test]
async fn a_rustls_client_completes_a_discovery_probe_over_tls13_and_tls12() {
    let world = World::start(&healthy(), WorldOptions::default()).await.unwrap();
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[version])
            .unwrap()
            .with_root_certificates(roots(&world))
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(world.https_addr()).await.unwrap();
        let name = ServerName::try_from("enterpriseenrollment-s.manage.microsoft.com").unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
        tls.write_all(b"GET /EnrollmentServer/Discovery.svc HTTP/1.1\r\nHost: enterpriseenrollment-s.manage.microsoft.com\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut resp = String::new();
        tls.read_to_string(&mut resp).await.unwrap();
        assert!(resp.starts_with("HTTP/1.1 200 OK"), "{version:?}: {resp}");
    }
}

#[tokio::test]
async fn several_worlds_run_side_by_side_on_their_own_ports() {
    let (sa, sb) = (healthy(), parse_scenario(scenarios::catalog::FILES[0].1, "x").unwrap());
    let a = World::start(&sa, WorldOptions::default());
    let b = World::start(&sb, WorldOptions::default());
    let (a, b) = tokio::join!(a, b);
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.https_addr(), b.https_addr());
    assert_ne!(std::fs::read(a.ca_bundle()).unwrap(), std::fs::read(b.ca_bundle()).unwrap(), "each world has its own keys");
    let dir = a.state_dir().to_path_buf();
    drop(a);
    assert!(!dir.exists(), "a world's temporary state goes with it");
    assert!(tokio::net::TcpStream::connect(b.https_addr()).await.is_ok());
}
