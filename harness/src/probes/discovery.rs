//! The `discovery` probe: MS-MDE2 discovery as the Windows enrollment client starts it
//! (protocols.md §2.1). It finds the enrollment server for the user's UPN suffix through the
//! EnterpriseEnrollment CNAME of seed 003 (through the world's DNS) and sends the
//! `GET /EnrollmentServer/Discovery.svc` probe over HTTPS. It connects by the CNAME target's
//! name: Microsoft's certificate covers that name, not the customer's domain. A CNAME to a
//! non-preferred target passes with a warning (Windows asks the user to confirm it).
//!
//! Codes (failure catalog §5, DNS-01, DNS-04): no CNAME → 0x80180010, a failing resolver →
//! 0x80072EE2, certificate dates → 0x8018000D, any other certificate problem → 0x80180012, no
//! connection → 0x80072EFD, an HTTP error → 0x8019 + status.

use scenarios::Cloud;

use super::net::{self, NetError};
use super::resolve;
use super::{Code, ProbeResult, Run};

fn failure(run: &Run<'_>, step: &str, e: &NetError) -> ProbeResult {
    use rustls::CertificateError::*;
    let code = match (e, e.certificate_error()) {
        (_, Some(Expired | ExpiredContext { .. } | NotValidYet | NotValidYetContext { .. })) => Code::MENROLL_E_DISCOVERY_SEC_CERT_DATE_INVALID,
        (NetError::Tls { .. }, Some(_)) => Code::MENROLL_E_INVALIDSSLCERT,
        (NetError::Tls { .. }, None) => Code::ERROR_WINHTTP_SECURE_FAILURE,
        (NetError::Proxy(_, line), _) => {
            // The proxy answered CONNECT itself (407, 403, 502 …): Windows enrollment reports the
            // HTTP status in the low word, e.g. 0x80190197 for 407.
            if let Some(status) = line.split_whitespace().nth(1).and_then(|s| s.parse::<u16>().ok()) {
                return run.fail_http(step, Code::MREGISTER_E_DISCOVERY_HTTP, status, e.to_string());
            }
            Code::WININET_E_CANNOT_CONNECT
        }
        (NetError::Connect(..), _) => Code::WININET_E_CANNOT_CONNECT,
        _ => Code::MENROLL_E_CONNECTIVITY,
    };
    run.fail(step, code, e.to_string())
}

/// Is `name` a non-preferred enrollment target (works after the user confirms a prompt)?
fn nonpreferred(cat: &mock_cloud::Catalog, name: &str) -> bool {
    cat.cnames.nonpreferred_targets.iter().any(|t| t.needs_user_confirmation && t.target.eq_ignore_ascii_case(name))
}

pub(crate) async fn run(run: &Run<'_>) -> ProbeResult {
    let target = run.target;
    let domain = target.domains.first().cloned().unwrap_or_default();
    // The enrollment CNAME of seed 003: its label and its preferred target in the tenant's cloud.
    let rule = run.catalog.cname_rule("enrollment", target.cloud);
    let preferred = rule.map(|r| r.target.to_ascii_lowercase());
    let label = rule.map_or("EnterpriseEnrollment", |r| r.label.as_str());
    let (server, chain) = match resolve::tenant_cname(target.dns_addr, label, &domain, preferred.clone()).await {
        resolve::Found::Server { name, chain } => (name, chain.join(" -> ")),
        resolve::Found::Missing => {
            let manual = &run.catalog.cnames.manual_server;
            let manual = if target.cloud == Cloud::Usgov { &manual.usgov } else { &manual.public };
            let message = format!("{label}.{domain} does not exist (NXDOMAIN): no CNAME, so Windows asks the user to type the MDM server name ({manual})");
            return run.fail("resolve", Code::MENROLL_E_CONNECTIVITY, message);
        }
        resolve::Found::Failed(e) => return run.fail("resolve", Code::WININET_E_TIMEOUT, format!("{label}.{domain}: {e}")),
    };
    let warning = if Some(&server) == preferred.as_ref() {
        String::new()
    } else if nonpreferred(run.catalog, &server) {
        format!(
            "; warning: {server} is a non-preferred target, Windows asks the user to confirm it (point the CNAME at {})",
            preferred.clone().unwrap_or_default()
        )
    } else {
        return run.fail("resolve", Code::MENROLL_E_CONNECTIVITY, format!("{chain}: the CNAME does not lead to an enrollment server"));
    };
    if let Err((missing, why)) = resolve::server(target.dns_addr, &server).await {
        let code = if missing { Code::MENROLL_E_CONNECTIVITY } else { Code::WININET_E_TIMEOUT };
        return run.fail("resolve", code, why);
    }
    let tcp = match net::connect(target, &server, 443).await {
        Ok(s) => s,
        Err(e) => return failure(run, "connect", &e),
    };
    let tls = match net::tls(target, &server, tcp).await {
        Ok(s) => s,
        Err(e) => return failure(run, "tls", &e),
    };
    let path = mock_cloud::services::enrollment::DISCOVERY_PATH;
    match net::get(tls, &server, path).await {
        Ok((200, _)) => run.pass("discovery-get", format!("{chain}: GET {path} answered 200{warning}")),
        Ok((status, _)) => run.fail_http("discovery-get", Code::MREGISTER_E_DISCOVERY_HTTP, status, format!("GET https://{server}{path} answered {status}")),
        Err(e) => failure(run, "discovery-get", &e),
    }
}
