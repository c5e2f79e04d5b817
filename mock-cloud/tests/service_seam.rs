//! The service seam over real sockets (issue 10): a generic service fault reaches the wire
//! through the composition alone (a 503 for one service, a connection closed without an
//! answer), and a world is built from whatever catalog its caller hands over.

use std::sync::Arc;
use std::time::Duration;

use mock_cloud::{Catalog, Cloud, CloudConfig, Service};
use scenarios::{Clock, Journal, ServiceEffect, ServiceFault, ServiceTarget, WorldSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const GATEWAY: &str = "gateway.configmgr.manage.microsoft.com";
const DISCOVERY: &str = "enterpriseenrollment-s.manage.microsoft.com";

async fn cloud(catalog: Catalog, faults: Vec<ServiceFault>) -> (Cloud, Journal) {
    let journal = Journal::new(Clock::new(time::OffsetDateTime::now_utc(), 1.0));
    let config = CloudConfig {
        catalog: Arc::new(catalog),
        world: WorldSpec::default(),
        pki_faults: vec![],
        journal: journal.clone(),
        https: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        http: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        dns: None,
        service_faults: faults,
        cmg_faults: vec![],
        token_faults: vec![],
        entra_faults: vec![],
        enrollment_faults: vec![],
    };
    (Cloud::start(config).unwrap(), journal)
}

fn on(service: Service, effect: ServiceEffect) -> ServiceFault {
    ServiceFault { target: ServiceTarget { service: Some(service), ..Default::default() }, effect, ..ServiceFault::new(ServiceEffect::Close {}) }
}

/// One HTTP/1.1 request over plain TCP; everything the server sent before it closed.
async fn exchange(cloud: &Cloud, host: &str, path: &str) -> String {
    let mut tcp = TcpStream::connect(cloud.http_addr).await.unwrap();
    tcp.write_all(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut got)).await.expect("the server ends the exchange").unwrap();
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn service_close_drops_the_connection_without_an_answer() {
    let (cloud, journal) = cloud(Catalog::builtin().unwrap(), vec![on(Service::Notification, ServiceEffect::Close {})]).await;
    let tenant = WorldSpec::default().tenant_id;
    let got = exchange(&cloud, GATEWAY, &format!("/api/gateway/Notification?TenantId={tenant}&WaitSeconds=0")).await;
    assert_eq!(got, "", "not a byte of an answer");
    let e = journal.find(0, |e| e.what == "request" && e.host.as_deref() == Some(GATEWAY)).expect("the exchange is journaled");
    assert_eq!(e.fault.as_deref(), Some("service.close"));
    // The front still answers the services the fault does not target.
    assert!(exchange(&cloud, DISCOVERY, "/EnrollmentServer/Discovery.svc").await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn service_status_answers_for_one_service_on_the_wire() {
    let (cloud, journal) = cloud(Catalog::builtin().unwrap(), vec![on(Service::EnrollmentDiscovery, ServiceEffect::Status { status: 503 })]).await;
    let got = exchange(&cloud, DISCOVERY, "/EnrollmentServer/Discovery.svc").await;
    assert!(got.starts_with("HTTP/1.1 503 Service Unavailable"), "{got}");
    let e = journal.find(0, |e| e.what == "request" && e.host.as_deref() == Some(DISCOVERY)).unwrap();
    assert_eq!((e.fault.as_deref(), e.detail["status"].as_u64()), (Some("service.status"), Some(503)));
    assert!(exchange(&cloud, "go.microsoft.com", "/").await.starts_with("HTTP/1.1 200"), "other services answer");
}

#[tokio::test]
async fn a_world_is_built_from_the_catalog_it_is_given() {
    let mut catalog = Catalog::builtin().unwrap();
    let doh = catalog.services.services.iter_mut().find(|s| s.service == Service::Doh).unwrap();
    doh.public = vec!["resolver.lab.test".into()];
    let (cloud, _) = cloud(catalog, vec![]).await;
    assert_eq!(cloud.service_for("resolver.lab.test"), Some(Service::Doh));
    assert_eq!(cloud.service_for("doh.memsim.test"), None, "the builtin name is not emulated in this world");
    assert!(cloud.hosts.iter().any(|h| h == "resolver.lab.test"));
}
