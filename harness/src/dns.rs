//! The world's DNS: zones derived from the endpoint catalog and the tenant, served by
//! mock-dns on loopback, and the bridge that lets mock-cloud's HTTPS front answer DoH with it.
//!
//! What goes in (all from data, never a hostname in logic):
//! - every emulated host and wildcard of the catalog (`Catalog::hosts_for`): an A record with
//!   the world's address, 127.0.0.1 (the fronts and the proxy are reached there); no AAAA, as
//!   the world does not listen on `::1`, so AAAA questions get NODATA;
//! - seed 003's CNAME rules for every tenant domain (UPN suffix) in the world's cloud:
//!   `EnterpriseEnrollment.<domain>` and `EnterpriseRegistration.<domain>`, TTL 1 h;
//! - the CMG: `<cmg_name>.<first domain>` CNAME to the CMG's cloud service name from seed 001
//!   (`<name>.cloudapp.net`, `<name>.usgovcloudapp.net`), and the management point SRV record
//!   `_mssms_mp_<site code>._tcp.<domain>` pointing at it (protocols.md §13, TTL 14400).
//!
//! Zones: each tenant domain is a zone of its own (the customer's); every other name lives in
//! the zone of its last two labels (`microsoft.com`, `windows.net`, `azureedge.net` …), which
//! is each catalog name's registered domain. Everything else is REFUSED.
//!
//! TTLs are simulated time, written on the wire in wall seconds through the world's clock.
//! This module does not answer queries (mock-dns does) nor speak HTTP (mock-cloud's DoH does).

use std::future::Future;
use std::net::Ipv4Addr;
use std::pin::Pin;

use mock_cloud::Catalog;
use mock_dns::{DnsConfig, DnsError, DnsServer, DnsWireAnswerer, RecordData, WireAnswer, ZoneError, ZoneSet};
use scenarios::{Clock, Journal, Scenario, SimDuration, WorldSpec};

use crate::world::WorldError;

/// Every emulated name resolves here: the world's loopback address.
pub const WORLD_ADDRESS: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// memsim's TTL for the address records of emulated hosts (the seeds give none).
const HOST_TTL: SimDuration = SimDuration(std::time::Duration::from_secs(300));
/// How long a client may cache "no such name" (RFC 2308 §5 leaves it to the zone; kept short
/// so a lab's fix shows up quickly).
const NEGATIVE_TTL: SimDuration = SimDuration(std::time::Duration::from_secs(300));
/// protocols.md §13: ConfigMgr publishes its MP SRV records with TTL 14400, priority unused.
const MP_SRV_TTL: SimDuration = SimDuration(std::time::Duration::from_secs(14_400));
/// Clients reach the CMG (and so the MP) over HTTPS.
const MP_SRV_PORT: u16 = 443;

/// The zone a catalog name lives in: its last two labels.
fn registered_domain(host: &str) -> String {
    let labels: Vec<&str> = host.trim_start_matches("*.").split('.').collect();
    labels[labels.len().saturating_sub(2)..].join(".")
}

/// The CMG's cloud service name (`GraniteFalls.cloudapp.net`) in the world's cloud, from the
/// seed 001 rows the catalog marks `cmg_cloud_service`.
pub fn cmg_host(catalog: &Catalog, spec: &WorldSpec) -> Option<String> {
    catalog.cmg_host(spec.cloud, &spec.cmg_name)
}

/// The name of the world's name server in SOA and NS records: the DoH host (services.toml).
fn nameserver(catalog: &Catalog, spec: &WorldSpec) -> Option<String> {
    catalog.service_hosts(mock_cloud::Service::Doh, spec.cloud).first().cloned()
}

/// Every zone and record of the world's DNS.
pub fn zones_for(catalog: &Catalog, spec: &WorldSpec, clock: &Clock) -> Result<ZoneSet, ZoneError> {
    zones_at(catalog, spec, clock, WORLD_ADDRESS)
}

/// [`zones_for`] with every emulated name at `address` (`--listen`, `--advertise`: issue 19).
pub fn zones_at(catalog: &Catalog, spec: &WorldSpec, clock: &Clock, address: Ipv4Addr) -> Result<ZoneSet, ZoneError> {
    let wall = |d: SimDuration| clock.to_wall(d);
    let ns = nameserver(catalog, spec).unwrap_or_else(|| "localhost".into());
    let mut zones = ZoneSet::new(&ns, &format!("hostmaster.{}", registered_domain(&ns)), wall(NEGATIVE_TTL))?;
    let hosts = catalog.hosts_for(spec);
    for domain in &spec.domains {
        zones.add_zone(domain)?;
    }
    for host in &hosts {
        zones.add_zone(&registered_domain(host))?;
    }
    let cmg = cmg_host(catalog, spec);
    for zone in cmg.iter().map(|c| registered_domain(c)) {
        zones.add_zone(&zone)?;
    }
    // Tenant names first: a CNAME owner may hold nothing else (RFC 1034 §3.6.2), so a catalog
    // host of the same name (none today) would be reported rather than silently shadowed.
    for rule in catalog.cnames.rules.iter().filter(|r| r.cloud.includes(spec.cloud)) {
        for domain in &spec.domains {
            zones.add(&format!("{}.{domain}", rule.label), wall(rule.ttl), RecordData::Cname(rule.target.clone()))?;
        }
    }
    if let (Some(cmg), Some(primary)) = (&cmg, spec.domains.first()) {
        zones.add(&format!("{}.{primary}", spec.cmg_name), wall(HOST_TTL), RecordData::Cname(cmg.clone()))?;
        for domain in &spec.domains {
            let srv = RecordData::Srv { priority: 0, weight: 0, port: MP_SRV_PORT, target: cmg.clone() };
            zones.add(&format!("_mssms_mp_{}._tcp.{domain}", spec.site_code), wall(MP_SRV_TTL), srv)?;
        }
    }
    let mut addressed: Vec<&String> = hosts.iter().collect();
    addressed.extend(cmg.iter().filter(|c| !hosts.iter().any(|h| h.eq_ignore_ascii_case(c))));
    for host in addressed {
        zones.add(host, wall(HOST_TTL), RecordData::A(address))?;
    }
    Ok(zones)
}

/// Derive the scenario's zones and serve them, with the world's DNS faults (read from its fault
/// store per query), on `address:port` (UDP and TCP on one port; 0: an ephemeral one).
pub async fn start(
    scenario: &Scenario,
    catalog: &Catalog,
    journal: &Journal,
    faults: &scenarios::FaultStore,
    address: Ipv4Addr,
    port: u16,
) -> Result<DnsServer, WorldError> {
    let zones = zones_at(catalog, &scenario.world, journal.clock(), address).map_err(|e| WorldError::Scenario(format!("{}: DNS zones: {e}", scenario.name)))?;
    let (udp, tcp) = crate::ports::dns(address, port).await?;
    let config = DnsConfig { zones, faults: scenario.dns_faults(), journal: journal.clone(), udp, tcp };
    DnsServer::start_live(config, faults.clone()).map_err(io("start DNS"))
}

fn io(context: &'static str) -> impl FnOnce(DnsError) -> WorldError {
    move |e| WorldError::Io { context: context.into(), error: std::io::Error::other(e.to_string()) }
}

/// mock-dns behind mock-cloud's DoH service: the bytes of a query in, of the answer out.
#[derive(Debug)]
pub struct DohBridge(pub DnsWireAnswerer);

impl mock_cloud::DnsWire for DohBridge {
    fn answer(&self, query: Vec<u8>) -> Pin<Box<dyn Future<Output = mock_cloud::DohAnswer> + Send + '_>> {
        Box::pin(async move {
            match self.0.answer(query).await {
                WireAnswer::Message(m) => mock_cloud::DohAnswer::Message(m),
                WireAnswer::Dropped => mock_cloud::DohAnswer::Dropped,
                WireAnswer::NotAQuery => mock_cloud::DohAnswer::NotAQuery,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use scenarios::Cloud;

    use super::*;

    fn clock() -> Clock {
        Clock::new(time::OffsetDateTime::UNIX_EPOCH, 1.0)
    }

    #[test]
    fn zones_are_the_tenant_domains_and_the_catalog_names_registered_domains() {
        let z = zones_for(&Catalog::builtin().unwrap(), &WorldSpec::default(), &clock()).unwrap();
        let zones: Vec<String> = z.zones().collect();
        for want in [
            "contoso.com",
            "us.contoso.com",
            "eu.contoso.com",
            "microsoft.com",
            "windows.net",
            "azureedge.net",
            "microsoftonline.com",
            "cloudapp.net",
            "memsim.test",
        ] {
            assert!(zones.iter().any(|z| z == want), "{want} in {zones:?}");
        }
        assert!(zones.iter().all(|z| z.split('.').count() <= 3), "{zones:?}");
    }

    #[test]
    fn the_cmg_is_the_cloud_service_name_of_seed_001_in_each_cloud() {
        let c = &Catalog::builtin().unwrap();
        let mut spec = WorldSpec::default();
        assert_eq!(cmg_host(c, &spec).as_deref(), Some("GraniteFalls.cloudapp.net"));
        spec.cloud = Cloud::Usgov;
        assert_eq!(cmg_host(c, &spec).as_deref(), Some("GraniteFalls.usgovcloudapp.net"));
        assert!(zones_for(c, &spec, &clock()).unwrap().zones().any(|z| z == "usgovcloudapp.net"));
    }

    /// Issue 10: a world is built from the catalog it is given, DNS included.
    #[tokio::test]
    async fn a_world_serves_the_names_of_the_catalog_it_is_given() {
        let mut catalog = Catalog::builtin().unwrap();
        let doh = catalog.services.services.iter_mut().find(|s| s.service == scenarios::Service::Doh).unwrap();
        doh.public = vec!["resolver.lab.test".into()];
        let catalog = std::sync::Arc::new(catalog);
        let scenario = scenarios::catalog::find("healthy-discovery").unwrap().unwrap();
        let options = crate::world::WorldOptions { catalog: Some(catalog.clone()), ..Default::default() };
        let world = crate::world::World::start(&scenario, options).await.unwrap();
        assert!(std::sync::Arc::ptr_eq(&world.cloud().catalog, &catalog));
        assert!(world.hosts().iter().any(|h| h == "resolver.lab.test") && !world.hosts().iter().any(|h| h == "doh.memsim.test"));
        let found = crate::dns_client::lookup(world.dns_addr(), "resolver.lab.test").await;
        assert!(matches!(found, crate::dns_client::Lookup::Found { .. }), "{found:?}");
        let gone = crate::dns_client::lookup(world.dns_addr(), "doh.memsim.test").await;
        assert!(!matches!(gone, crate::dns_client::Lookup::Found { .. }), "{gone:?}");
    }

    #[test]
    fn the_name_server_is_the_doh_host() {
        assert_eq!(nameserver(&Catalog::builtin().unwrap(), &WorldSpec::default()).as_deref(), Some("doh.memsim.test"));
        assert_eq!(registered_domain("*.manage.microsoft.com"), "microsoft.com");
        assert_eq!(registered_domain("localhost"), "localhost");
    }
}
