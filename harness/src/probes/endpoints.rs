//! The `endpoints` probe: seed 002's PowerShell one-liners, which ask the Microsoft 365 endpoints
//! web service for the Intune sets and keep the MEM ones' IPs and URLs:
//!
//! ```text
//! (invoke-restmethod -Uri ("https://endpoints.office.com/endpoints/WorldWide?ServiceAreas=MEM`&`clientrequestid=" + ([GUID]::NewGuid()).Guid))
//!   | ?{$_.ServiceArea -eq "MEM" -and $_.ips} | select -unique -ExpandProperty ips
//! ```
//!
//! Steps: `connect`, `tls`, `list` (HTTP 200 and a JSON array of endpoint sets), `mem` (at least
//! one MEM set with addresses). Windows PowerShell's Invoke-RestMethod is .NET: failures are
//! WebExceptions (0x80131509) with .NET's text. The client request id is derived from the tenant
//! (nothing random unless a scenario says so), GUID-shaped as the service requires.

use std::collections::BTreeSet;

use hyper::Method;
use mock_cloud::services::Service;
use mock_cloud::services::endpoints::Record;
use scenarios::Cloud;

use super::http::{self, Channel};
use super::{Code, ProbeResult, Run};

/// The instance as the seed's one-liner spells it.
const INSTANCE: &str = "WorldWide";

/// The web service's host (services.toml), for the tenant's cloud.
fn service_host(catalog: &mock_cloud::Catalog, cloud: Cloud) -> Option<String> {
    catalog.service_hosts(Service::Endpoints, cloud).first().map(|h| h.to_ascii_lowercase())
}

/// A GUID-shaped client request id, stable per tenant.
fn client_request_id(tenant: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, format!("memsim endpoints probe {tenant}").as_bytes());
    let h: String = d.as_ref().iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-4{}-8{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}

pub(crate) async fn run(run: &Run<'_>) -> ProbeResult {
    let target = run.target;
    let Some(host) = service_host(run.catalog, target.cloud) else {
        return run.fail("resolve", Code::WININET_E_NAME_NOT_RESOLVED, "no endpoints web service host in the catalog".into());
    };
    let path = format!("/endpoints/{INSTANCE}?ServiceAreas=MEM&clientrequestid={}", client_request_id(&target.tenant_id));
    let url = format!("https://{host}{path}");
    let mut ch = match Channel::open(target, &host).await {
        Ok(c) => c,
        Err(e) => return run.fail(e.step(), Code::WEB_EXCEPTION, format!("Invoke-RestMethod {url}: {} ({})", http::open_text(&e), e.net())),
    };
    let headers =
        [("user-agent", "Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1".to_string()), ("accept", "application/json".to_string())];
    let (res, body) = match ch.exchange(Method::GET, &path, &headers, None, 16 << 20).await {
        Ok(x) => x,
        Err(e) => return run.fail("list", Code::WEB_EXCEPTION, format!("Invoke-RestMethod {url}: {} ({e})", http::cut_text(http::Cut::Other))),
    };
    let status = res.status().as_u16();
    if status != 200 {
        let text = format!("The remote server returned an error: ({status}) {}.", http::reason(status));
        return run.fail("list", Code::WEB_EXCEPTION, format!("Invoke-RestMethod {url}: {text} {}", String::from_utf8_lossy(&body[..body.len().min(300)])));
    }
    let sets: Vec<Record> = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => return run.fail("list", Code::WEB_EXCEPTION, format!("{url} did not answer a JSON array of endpoint sets: {e}")),
    };
    let mem: Vec<&Record> = sets.iter().filter(|s| s.service_area == "MEM").collect();
    let ips: BTreeSet<&str> = mem.iter().flat_map(|s| s.ips.iter().map(String::as_str)).collect();
    let urls: BTreeSet<&str> = mem.iter().flat_map(|s| s.urls.iter().map(String::as_str)).collect();
    if mem.is_empty() || (ips.is_empty() && urls.is_empty()) {
        return run.fail("mem", Code::WEB_EXCEPTION, format!("{url} answered {} endpoint sets, none of them MEM with addresses", sets.len()));
    }
    let ids: Vec<String> = mem.iter().map(|s| s.id.to_string()).collect();
    let list = |v: &BTreeSet<&str>| v.iter().copied().collect::<Vec<_>>().join(", ");
    run.pass("mem", format!("{} MEM endpoint sets ({}); {} IPs: {}; {} URLs: {}", mem.len(), ids.join(", "), ips.len(), list(&ips), urls.len(), list(&urls)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_client_request_id_is_a_guid_per_tenant() {
        let id = super::client_request_id("cdcc5e91-0adf-4a24-82d0-196667f1c081");
        assert!(mock_cloud::services::endpoints::is_guid(&id), "{id}");
        assert_ne!(id, super::client_request_id("00000000-0000-0000-0000-000000000001"), "another tenant, another id");
    }
}
