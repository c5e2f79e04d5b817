//! The `scp-validate` probe: what the ConfigMgr service connection point checks before it
//! declares its cloud features healthy (EndpointConnectivityCheckWorker, failure catalog §3,
//! PRX-03, NOT-02, CDN-06). The endpoints are data: the `service_connection_point` rows of
//! configmgr-endpoints.toml (seed 001, the world's cloud) and tenant-attach.toml's endpoints
//! (seed 000). Each is fetched over HTTPS through the world's proxy with TLS verified as Windows
//! does; any HTTP answer from the server counts as reachable, as the connectivity check only
//! validates the path. Seed 000: "Het serviceaansluitpunt controleert de CRL" — so every chain
//! is then checked for revocation as CryptoAPI checks it (per certificate: the leaf's staple,
//! then its own OCSP, then its CRLs, cached answers honoured; `revocation.rs`), and a check
//! that cannot complete fails the endpoint. Chains are built as CryptoAPI builds them, a
//! missing intermediate downloaded from the leaf's CA Issuers URL (`verify.rs`). For updates and servicing, DMPDownloader's first download, the
//! update manifest on download.microsoft.com (world.json `content`), is fetched and hashed.
//!
//! A wildcard row (`*.akamaiedge.net`) is an allow-list entry, not a URL: it is checked through
//! the concrete name the world's services use below it (services.toml; the tenant-attach
//! gateway for `*.manage.microsoft.com`), or reported as not checkable.
//!
//! On any failure: status message 11488, SMS_SERVICE_CONNECTOR critical (seed 001, codes.toml),
//! naming each endpoint and its cause; codes are .NET's WebException (0x80131509) or, for a
//! revocation check, CRYPT_E_REVOCATION_OFFLINE / CRYPT_E_REVOKED.

use std::collections::BTreeMap;

use hyper::Method;
use mock_cloud::Catalog;
use mock_cloud::catalog::{CloudScope, host_of};
use mock_cloud::services::Service;
use mock_cloud::services::content::Kind;
use scenarios::Cloud;

use super::http::{self, Channel};
use super::revocation::{self, Verdict};
use super::{Code, ProbeResult, ProbeTarget, Run, StatusMessage};

const STATUS_MESSAGE: StatusMessage = StatusMessage::SiteCannotConnect;

/// One URL the SCP checks, and the features that need it.
#[derive(Debug, Clone)]
struct Endpoint {
    /// As the data writes it (`https://aka.ms/configmgrgateway`, `go.microsoft.com`).
    listed: String,
    host: String,
    path: String,
    features: Vec<String>,
}

/// A failed check: the step, the code name and the cause.
#[derive(Debug)]
struct Failure {
    endpoint: String,
    step: &'static str,
    code: Code,
    cause: String,
}

/// The concrete name checked for a wildcard row: the tenant-attach gateway first, then any
/// services.toml host below it.
fn representative(cat: &Catalog, wildcard: &str, cloud: Cloud) -> Option<String> {
    let suffix = wildcard.strip_prefix('*')?;
    let mut services: Vec<_> = cat.services.services.iter().collect();
    services.sort_by_key(|s| s.service != Service::Notification);
    services.into_iter().flat_map(|s| s.hosts(cloud)).map(|h| h.to_ascii_lowercase()).find(|h| h.ends_with(suffix))
}

/// Every endpoint of the SCP's features for `cloud`, deduplicated; and the wildcards not checked.
fn endpoints(cat: &Catalog, cloud: Cloud, cmg_name: &str) -> (Vec<Endpoint>, Vec<String>) {
    let scope = if cloud == Cloud::Public { CloudScope::Public } else { CloudScope::Usgov };
    let mut rows: Vec<(String, String)> = cat
        .configmgr
        .groups
        .iter()
        .filter(|g| g.role == "service_connection_point" && (g.cloud == CloudScope::Any || g.cloud == scope))
        .flat_map(|g| g.urls.iter().map(move |u| (g.feature.clone(), u.clone())))
        .collect();
    rows.extend(cat.tenant_attach.endpoints.get(cloud).iter().map(|u| ("tenant_attach".to_string(), u.clone())));
    let mut by_key: BTreeMap<(String, String), Endpoint> = BTreeMap::new();
    let mut order = Vec::new();
    let mut skipped = Vec::new();
    for (feature, listed) in rows {
        let Some(host) = host_of(&listed, cmg_name) else { continue };
        let host = if host.starts_with("*.") {
            match representative(cat, &host, cloud) {
                Some(h) => h,
                None => {
                    if !skipped.contains(&listed) {
                        skipped.push(listed);
                    }
                    continue;
                }
            }
        } else {
            host
        };
        let url = if listed.contains("://") { listed.clone() } else { format!("https://{listed}") };
        let path = http::split_https(&url).map_or("/".to_string(), |(_, p)| p);
        let key = (host.clone(), path.clone());
        let e = by_key.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            Endpoint { listed: listed.clone(), host, path, features: Vec::new() }
        });
        if !e.features.contains(&feature) {
            e.features.push(feature);
        }
    }
    (order.into_iter().filter_map(|k| by_key.remove(&k)).collect(), skipped)
}

/// A passed check: what answered, and how revocation was found good.
#[derive(Debug)]
struct Passed {
    what: String,
    revocation: Option<String>,
}

/// One endpoint: reach it, check its chain's revocation, get an HTTP answer.
async fn check(target: &ProbeTarget, codes: &super::CodeBook, e: &Endpoint, crl_check: bool) -> Result<Passed, Failure> {
    let url = format!("https://{}{}", e.host, e.path);
    let failure = |step, code, cause: String| Failure { endpoint: url.clone(), step, code, cause };
    let mut ch =
        Channel::open(target, &e.host).await.map_err(|err| failure(err.step(), Code::WEB_EXCEPTION, format!("{} ({})", http::open_text(&err), err.net())))?;
    let revocation = if crl_check {
        match revocation::check(target, &e.host, &ch.chain).await {
            Verdict::Good(how) => Some(how),
            Verdict::Revoked(why) => return Err(failure("revocation", Code::CRYPT_E_REVOKED, format!("{}: {why}", codes.described(Code::CRYPT_E_REVOKED)))),
            Verdict::Failed(why) => {
                return Err(failure("revocation", Code::CRYPT_E_REVOCATION_OFFLINE, format!("{}: {why}", codes.described(Code::CRYPT_E_REVOCATION_OFFLINE))));
            }
        }
    } else {
        None
    };
    match ch.exchange(Method::GET, &e.path, &[("user-agent", "SMS CCM 5.0".into())], None, 1 << 20).await {
        Ok((res, _)) => Ok(Passed { what: format!("{url} {}", res.status().as_u16()), revocation }),
        Err(why) => Err(failure("http", Code::WEB_EXCEPTION, format!("{} ({why})", http::cut_text(http::Cut::Other)))),
    }
}

/// DMPDownloader's first download: the update manifest, hashed against world.json.
async fn servicing_download(target: &ProbeTarget) -> Option<Result<Passed, Failure>> {
    let pkg = target.content.iter().find(|c| c.kind == Kind::ConfigmgrManifest)?;
    let (host, path) = http::split_https(&pkg.url)?;
    let failure = |step, cause: String| Failure { endpoint: pkg.url.clone(), step, code: Code::WEB_EXCEPTION, cause };
    let result = async {
        let mut ch = Channel::open(target, &host).await.map_err(|e| failure("servicing-download", format!("{} ({})", http::open_text(&e), e.net())))?;
        let (res, body) = ch.exchange(Method::GET, &path, &[], None, pkg.size as usize + 1).await.map_err(|e| failure("servicing-download", e))?;
        let status = res.status().as_u16();
        if status != 200 {
            return Err(failure("servicing-download", format!("The remote server returned an error: ({status}) {}.", http::reason(status))));
        }
        let got: String = ring::digest::digest(&ring::digest::SHA256, &body).as_ref().iter().map(|b| format!("{b:02x}")).collect();
        if got != pkg.sha256 {
            return Err(failure("servicing-download", format!("{} is not signed and trusted: SHA-256 {got}, expected {}", pkg.url, pkg.sha256)));
        }
        Ok(Passed { what: format!("downloaded {} ({} bytes, SHA-256 verified)", pkg.url, pkg.size), revocation: None })
    };
    Some(result.await)
}

pub(crate) async fn run(run: &Run<'_>) -> ProbeResult {
    let (target, cat) = (run.target, run.catalog);
    let (list, skipped) = endpoints(cat, target.cloud, &target.cmg_name);
    let crl_check = cat.tenant_attach.revocation.scp_checks_crl;
    let servicing = list.iter().any(|e| e.features.iter().any(|f| f == "updates_and_servicing"));
    let checks = futures_util::future::join_all(list.iter().map(|e| check(target, &run.codes, e, crl_check)));
    let download = async { if servicing { servicing_download(target).await } else { None } };
    let (results, download) = tokio::join!(checks, download);
    let mut ok = Vec::new();
    let mut failures = Vec::new();
    for (e, r) in list.iter().zip(results) {
        match r {
            Ok(s) => ok.push(s),
            Err(f) => failures.push((format!("{}; listed as {}", e.features.join(", "), e.listed), f)),
        }
    }
    match download {
        Some(Ok(s)) => ok.push(s),
        Some(Err(f)) => failures.push(("updates_and_servicing".into(), f)),
        None => {}
    }
    let not_checked = if skipped.is_empty() { String::new() } else { format!("; wildcard entries with no concrete name to test: {}", skipped.join(", ")) };
    let Some((_, first)) = failures.first() else {
        let mut hows: Vec<&str> = ok.iter().filter_map(|p| p.revocation.as_deref()).collect();
        let chains = hows.len();
        hows.sort_unstable();
        hows.dedup();
        let what: Vec<&str> = ok.iter().map(|p| p.what.as_str()).collect();
        let revocation = if crl_check { format!("; revocation of {chains} chains checked ({})", hows.join(" / ")) } else { String::new() };
        return run.pass("validate", format!("{} checks passed: {}{revocation}{not_checked}", ok.len(), what.join(", ")));
    };
    let m = run.codes.status_message(STATUS_MESSAGE);
    let header = format!("Status message {} ({} {}): {}", m.id, m.component, m.severity, m.meaning);
    let details: Vec<String> = failures.iter().map(|(features, f)| format!("{} [{features}] failed at {}: {}", f.endpoint, f.step, f.cause)).collect();
    let mut r = run.fail(first.step, first.code, format!("{header}. {}{not_checked}", details.join("; ")));
    r.status_message = Some(STATUS_MESSAGE.id());
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_list_comes_from_both_seeds_without_duplicates() {
        let (list, skipped) = endpoints(&Catalog::builtin().unwrap(), Cloud::Public, "GraniteFalls");
        let urls: Vec<String> = list.iter().map(|e| format!("{}{}", e.host, e.path)).collect();
        for want in [
            "go.microsoft.com/",
            "manage.microsoft.com/",
            "download.microsoft.com/",
            "aka.ms/configmgrgateway",
            "dc.services.visualstudio.com/",
            "gateway.configmgr.manage.microsoft.com/",
        ] {
            assert!(urls.iter().any(|u| u == want), "{want} in {urls:?}");
        }
        let distinct: std::collections::HashSet<&String> = urls.iter().collect();
        assert_eq!(distinct.len(), urls.len(), "each endpoint checked once: {urls:?}");
        let gw = list.iter().find(|e| e.host == "gateway.configmgr.manage.microsoft.com").unwrap();
        assert!(gw.features.contains(&"tenant_attach".to_string()) && gw.features.contains(&"updates_and_servicing".to_string()));
        assert!(skipped.iter().any(|s| s == "*.akamaiedge.net"), "{skipped:?}");
        let (us, _) = endpoints(&Catalog::builtin().unwrap(), Cloud::Usgov, "GraniteFalls");
        assert!(us.iter().any(|e| e.host == "management.usgovcloudapi.net") && !us.iter().any(|e| e.host == "management.azure.com"));
    }
}
