//! The emulated services, one module each, each with `router(state) -> axum::Router`.
//! [`routers`] composes them; the front picks one by Host.

pub mod content;
pub mod control;
pub mod crl;
pub mod doh;
pub mod endpoints;
pub mod enrollment;
pub mod generic;
pub mod notification;
pub mod ocsp;
pub mod revocation;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use scenarios::{Journal, WorldSpec};
use serde::{Deserialize, Serialize};

/// A service, named by an enum everywhere: data files, state, journal, reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    /// MS-MDE2 enrollment discovery (`/EnrollmentServer/Discovery.svc`).
    EnrollmentDiscovery,
    /// RFC 8484 DNS over HTTPS: the world's DNS on the HTTPS front (`/dns-query`).
    Doh,
    /// Any emulated host no service claims: reachability only.
    Generic,
    /// RFC 5280 CRL distribution points of the world's CAs (hosts from data/pki.toml).
    Crl,
    /// RFC 6960 OCSP responders of the world's CAs (hosts from data/pki.toml).
    Ocsp,
    /// The content CDNs: ASU storage CDNs, set-170 Win32 CDNs, ConfigMgr servicing (hosts from data/content.toml).
    Content,
    /// The tenant-attach gateway and its notification long-poll (`/api/gateway/…`, seed 000).
    Notification,
    /// The M365 IP and URL web service (`endpoints.office.com`, seed 002's one-liner).
    Endpoints,
}

impl Service {
    pub const ALL: &[Service] = &[
        Service::EnrollmentDiscovery,
        Service::Doh,
        Service::Generic,
        Service::Crl,
        Service::Ocsp,
        Service::Content,
        Service::Notification,
        Service::Endpoints,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Service::EnrollmentDiscovery => "enrollment_discovery",
            Service::Doh => "doh",
            Service::Generic => "generic",
            Service::Crl => "crl",
            Service::Ocsp => "ocsp",
            Service::Content => "content",
            Service::Notification => "notification",
            Service::Endpoints => "endpoints",
        }
    }
}

/// What every service handler may read: the world's tenant and journal.
#[derive(Debug, Clone)]
pub struct ServiceState {
    pub world: Arc<WorldSpec>,
    pub journal: Journal,
}

/// Every service's router, built once per world. `dns` answers DoH queries (none: the DoH
/// service says the world has no DNS).
/// `revocation` is the CRL and OCSP responders' state (the world's PKI and service faults).
pub fn routers(
    state: &ServiceState,
    dns: Option<Arc<dyn crate::DnsWire>>,
    revocation: &revocation::RevocationState,
    content: &Arc<content::Library>,
) -> HashMap<Service, Router> {
    Service::ALL
        .iter()
        .map(|&s| {
            let router = match s {
                Service::EnrollmentDiscovery => enrollment::router(state.clone()),
                Service::Doh => doh::router(state.clone(), dns.clone()),
                Service::Generic => generic::router(state.clone()),
                Service::Crl => crl::router(revocation.clone()),
                Service::Ocsp => ocsp::router(revocation.clone()),
                Service::Content => content::router(state.clone(), content.clone()),
                Service::Notification => notification::router(state.clone()),
                Service::Endpoints => endpoints::router(state.clone()),
            };
            (s, router)
        })
        .collect()
}
