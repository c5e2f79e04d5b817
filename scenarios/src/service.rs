//! The emulated services, named by one enum everywhere: scenario faults (`service = "ocsp"`),
//! mock-cloud's state and routers, the data file that maps hosts to services
//! (`mock-cloud/data/services.toml`), journal details and reports. Adding a service is one
//! variant here (with its name) plus its module in mock-cloud.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An emulated service of the world's cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    /// MS-MDE2 enrollment discovery (`/EnrollmentServer/Discovery.svc`).
    EnrollmentDiscovery,
    /// MS-XCEP policies and MS-WSTEP enrollment (`fef.<asu>.manage.microsoft.com/StatelessEnrollmentService/…`),
    /// with the federated sign-in page.
    Enrollment,
    /// The OMA-DM check-in after enrollment (`r.manage.microsoft.com/devicegatewayproxy/cimhandler.ashx`), mutual TLS.
    Checkin,
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
    /// The cloud management gateway and the management point behind it (`<cmg_name>.cloudapp.net`,
    /// `/CCM_Proxy_MutualAuth/<id>/…`, protocols.md §8; seed 004).
    Cmg,
    /// Entra ID's authority (`login.microsoftonline.com`): discovery, JWKS, token endpoints.
    Entra,
    /// Entra device registration (DRS, `enterpriseregistration.windows.net`): Discover, nonce,
    /// device join, key provisioning (protocols.md §6).
    Drs,
    /// Microsoft Graph, the one document Intune for Linux reads from it: the Intune service
    /// principal's endpoints (`/v1.0/servicePrincipals/appId=…/endpoints`, protocols.md §7).
    Graph,
    /// Intune for Linux on the tenant's `fef.<scale unit>` front: enroll, details, policies,
    /// status and the IWService compliance query (protocols.md §7).
    IntuneLinux,
}

impl Service {
    pub const ALL: &[Service] = &[
        Service::EnrollmentDiscovery,
        Service::Enrollment,
        Service::Checkin,
        Service::Doh,
        Service::Generic,
        Service::Crl,
        Service::Ocsp,
        Service::Content,
        Service::Notification,
        Service::Endpoints,
        Service::Cmg,
        Service::Entra,
        Service::Drs,
        Service::Graph,
        Service::IntuneLinux,
    ];

    /// The name a scenario, a data file and the journal use, e.g. `enrollment_discovery`.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::EnrollmentDiscovery => "enrollment_discovery",
            Service::Enrollment => "enrollment",
            Service::Checkin => "checkin",
            Service::Doh => "doh",
            Service::Generic => "generic",
            Service::Crl => "crl",
            Service::Ocsp => "ocsp",
            Service::Content => "content",
            Service::Notification => "notification",
            Service::Endpoints => "endpoints",
            Service::Cmg => "cmg",
            Service::Entra => "entra",
            Service::Drs => "drs",
            Service::Graph => "graph",
            Service::IntuneLinux => "intune_linux",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde() {
        for s in Service::ALL {
            let json = serde_json::to_string(s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<Service>(&json).unwrap(), *s);
        }
    }
}
