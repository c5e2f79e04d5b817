//! The emulated services, one module each, each with `router(state) -> axum::Router`.
//! [`routers`] composes them; the front picks one by Host.

pub mod enrollment;
pub mod generic;

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
    /// Any emulated host no service claims: reachability only.
    Generic,
}

impl Service {
    pub const ALL: &[Service] = &[Service::EnrollmentDiscovery, Service::Generic];

    pub fn as_str(self) -> &'static str {
        match self {
            Service::EnrollmentDiscovery => "enrollment_discovery",
            Service::Generic => "generic",
        }
    }
}

/// What every service handler may read: the world's tenant and journal.
#[derive(Debug, Clone)]
pub struct ServiceState {
    pub world: Arc<WorldSpec>,
    pub journal: Journal,
}

/// Every service's router, built once per world.
pub fn routers(state: &ServiceState) -> HashMap<Service, Router> {
    Service::ALL
        .iter()
        .map(|&s| {
            let router = match s {
                Service::EnrollmentDiscovery => enrollment::router(state.clone()),
                Service::Generic => generic::router(state.clone()),
            };
            (s, router)
        })
        .collect()
}
