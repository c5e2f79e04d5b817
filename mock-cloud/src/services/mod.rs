//! The emulated services, one module each, each with `router(&AppState) -> axum::Router`.
//! [`routers`] composes them and puts the generic service-fault layer ([`faults`]) in front of
//! every one; the front picks one by Host.
//!
//! The pattern a service follows (a SOAP service included, when it comes):
//! - its paths are constants at the top of its module, its handlers next to its router;
//! - its substate is one field of [`AppState`], built once per world in `Cloud::start`, so
//!   adding a service changes no signature elsewhere;
//! - its one error type implements `IntoResponse` and renders the protocol's own error (plain
//!   text, JSON, Azure Storage XML here; a SOAP fault for a SOAP service); handlers return
//!   `Result<Response, ThatError>`;
//! - its service-specific faults, if any, are its own layer (`revocation.rs`); the generic ones
//!   (status, delay, malformed body, close) it gets from the composition without a line of its own.

pub mod bearer;
pub mod cmg;
pub mod content;
pub mod control;
pub mod control_faults;
pub mod crl;
pub mod devices;
pub mod doh;
pub mod drs;
pub mod endpoints;
pub mod enrollment;
pub mod entra;
pub mod faults;
pub mod generic;
pub mod graph;
pub mod intune_linux;
pub mod json_input;
pub mod notification;
pub mod ocsp;
pub mod revocation;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use scenarios::{Journal, ServiceFault, WorldSpec};

pub use scenarios::Service;

use crate::Catalog;

/// The one application state of a world's services: what every handler may read (the tenant,
/// the journal, the catalog), and one substate per stateful service.
#[derive(Debug, Clone)]
pub struct AppState {
    pub world: Arc<WorldSpec>,
    pub journal: Journal,
    pub catalog: Arc<Catalog>,
    /// Every service fault of the scenario (generic and service-specific), in file order.
    pub faults: Arc<[ServiceFault]>,
    /// DoH: the world's DNS (none: the DoH service says the world has no DNS).
    pub dns: Option<Arc<dyn crate::DnsWire>>,
    /// CRL and OCSP: the world's PKI and the responders' fault layer.
    pub revocation: revocation::RevocationState,
    /// The content CDNs' packages.
    pub content: Arc<content::Library>,
    /// The notification gateway's hold and heartbeat.
    pub notification: notification::Config,
    /// Entra ID: the tenant's token-signing keys, its directory and its authority's faults.
    pub entra: entra::EntraState,
    /// Windows enrollment: its faults and the devices it enrolled.
    pub enrollment: enrollment::EnrollmentState,
    /// Devices joined through DRS and enrolled in Intune for Linux (bounded world state).
    pub devices: devices::Devices,
    /// The cloud management gateway: the site's token-signing keys, registry and CMG faults.
    pub cmg: cmg::CmgState,
}

/// A plain-text error answer: `message` and a newline, with the methods the path allows when
/// the status is 405 (RFC 9110 §15.5.6 requires `Allow` there). The shape most services' error
/// types render (`DiscoveryError`, `CrlError`, `OcspError`, `EndpointsError`).
pub(crate) fn plain_error(status: axum::http::StatusCode, message: impl std::fmt::Display, allow: &'static str) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let mut res = (status, format!("{message}\n")).into_response();
    if status == axum::http::StatusCode::METHOD_NOT_ALLOWED {
        res.headers_mut().insert(axum::http::header::ALLOW, axum::http::HeaderValue::from_static(allow));
    }
    res
}

/// Every service's router, built once per world, each behind the generic service-fault layer.
pub fn routers(state: &AppState) -> HashMap<Service, Router> {
    Service::ALL
        .iter()
        .map(|&s| {
            let router = match s {
                Service::EnrollmentDiscovery => enrollment::discovery::router(state),
                Service::Enrollment => enrollment::router(state),
                Service::Checkin => enrollment::checkin::router(state),
                Service::Doh => doh::router(state),
                Service::Generic => generic::router(state),
                Service::Crl => crl::router(state),
                Service::Ocsp => ocsp::router(state),
                Service::Content => content::router(state),
                Service::Notification => notification::router(state),
                Service::Endpoints => endpoints::router(state),
                Service::Cmg => cmg::router(state),
                Service::Entra => entra::router(state),
                Service::Drs => drs::router(state),
                Service::Graph => graph::router(state),
                Service::IntuneLinux => intune_linux::router(state),
            };
            (s, faults::layer(router, s, state))
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod test_support {
    //! A default world's application state, for router tests.
    use super::*;

    /// A default world at `now` running `scale` times faster than the wall, with `faults`.
    pub(crate) fn app_state_with(now: time::OffsetDateTime, scale: f64, pki_faults: Vec<scenarios::PkiFault>, faults: Vec<ServiceFault>) -> AppState {
        app_state_for(WorldSpec::default(), now, scale, pki_faults, faults, vec![])
    }

    /// A world of `world` at `now`, with certificate, service and Entra faults.
    pub(crate) fn app_state_for(
        world: WorldSpec,
        now: time::OffsetDateTime,
        scale: f64,
        pki_faults: Vec<scenarios::PkiFault>,
        faults: Vec<ServiceFault>,
        entra_faults: Vec<scenarios::EntraFault>,
    ) -> AppState {
        app_state_all(world, now, scale, pki_faults, faults, entra_faults, vec![])
    }

    /// A default world with enrollment faults too.
    pub(crate) fn app_state_full(
        now: time::OffsetDateTime,
        scale: f64,
        pki_faults: Vec<scenarios::PkiFault>,
        faults: Vec<ServiceFault>,
        enrollment_faults: Vec<scenarios::EnrollmentFault>,
    ) -> AppState {
        app_state_all(WorldSpec::default(), now, scale, pki_faults, faults, vec![], enrollment_faults)
    }

    /// A world of `world` at `now` with faults of every layer the services read.
    pub(crate) fn app_state_all(
        world: WorldSpec,
        now: time::OffsetDateTime,
        scale: f64,
        pki_faults: Vec<scenarios::PkiFault>,
        faults: Vec<ServiceFault>,
        entra_faults: Vec<scenarios::EntraFault>,
        enrollment_faults: Vec<scenarios::EnrollmentFault>,
    ) -> AppState {
        let catalog = Arc::new(Catalog::builtin().expect("the embedded catalog parses"));
        let hosts = catalog.hosts_for(&world);
        let journal = Journal::new(scenarios::Clock::new(now, scale));
        let pki = Arc::new(crate::Pki::build(&catalog.pki, &world, pki_faults, &hosts, now).expect("the default PKI builds"));
        let faults: Arc<[ServiceFault]> = faults.into();
        let revocation = revocation::RevocationState { pki, journal: journal.clone(), faults: faults.clone() };
        let content = Arc::new(content::Library::new(&catalog, &world, now));
        let notification = notification::Config::from_catalog(&catalog);
        let entra = entra::EntraState::new(&catalog.entra, &world, entra_faults, journal.clone()).expect("the default directory builds");
        let cmg = cmg::CmgState::new(&catalog, &world, journal.clone(), vec![], vec![], entra.clone());
        let enrollment = enrollment::EnrollmentState::new(enrollment_faults);
        AppState {
            world: Arc::new(world),
            journal,
            catalog,
            faults,
            dns: None,
            revocation,
            content,
            notification,
            entra,
            enrollment,
            devices: Default::default(),
            cmg,
        }
    }

    /// A default world now, at wall speed, without faults.
    pub(crate) fn app_state() -> AppState {
        app_state_with(time::OffsetDateTime::now_utc(), 1.0, vec![], vec![])
    }

    /// An access token the world's Entra signed for `aud` (a v1 token of the world's tenant),
    /// valid for an hour from the world's now; `extra` claims are added or replace these.
    pub(crate) fn entra_token(state: &AppState, aud: &str, extra: serde_json::Value) -> String {
        let now = state.journal.clock().now().unix_timestamp();
        let mut claims = serde_json::json!({
            "aud": aud, "iss": format!("https://sts.windows.net/{}/", state.world.tenant_id), "tid": state.world.tenant_id,
            "upn": "adele@contoso.com", "iat": now, "nbf": now, "exp": now + 3600,
        });
        if let (Some(c), serde_json::Value::Object(more)) = (claims.as_object_mut(), extra) {
            c.extend(more);
        }
        state.entra.keys.sign(&claims).expect("the world's key signs")
    }

    /// A PKCS#10 request (DER) for `key` with subject CN `cn`, without attributes.
    pub(crate) fn csr(key: &crate::keys::RsaKey, cn: &str) -> Vec<u8> {
        let mut p = rcgen::CertificateParams::default();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
        p.serialize_request(key).expect("rcgen writes the request").der().to_vec()
    }

    /// A fresh RSA-2048 key, as a device makes one.
    pub(crate) fn rsa_2048() -> crate::keys::RsaKey {
        crate::keys::RsaKey::generate(2048).expect("RSA key")
    }
}
