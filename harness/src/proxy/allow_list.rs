//! A customer's allow-list: reading the file (one host or wildcard a line, `#` comments, URLs
//! as customers paste them accepted) and reporting which endpoints the catalog calls required
//! it leaves blocked — the question a support engineer asks first (failure catalog PRX-03,
//! CDN-01, CDN-02). It decides nothing per request: the policy ([`super::rules`]) does.

use mock_cloud::Catalog;
use mock_cloud::catalog::host_of;
use scenarios::{HostPattern, WorldSpec};
use serde::Serialize;

use super::error::ProxyError;

/// Parse allow-list text. `origin` names it in errors, which carry the line number.
pub fn parse(text: &str, origin: &str) -> Result<Vec<HostPattern>, ProxyError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        // Customers paste URLs (`https://*.manage.microsoft.com/`) and ports; keep the host.
        let pattern = host_of(line, "").and_then(|h| HostPattern::parse(&h).ok()).ok_or_else(|| ProxyError::AllowList {
            path: origin.to_string(),
            message: format!("line {}: `{line}` is not a host name or wildcard such as *.manage.microsoft.com", i + 1),
        })?;
        out.push(pattern);
    }
    Ok(out)
}

/// Read and parse an allow-list file.
pub fn load(path: &str) -> Result<Vec<HostPattern>, ProxyError> {
    // A customer's allow-list is outside input: bounded like a scenario file (issue 11).
    let text =
        scenarios::read_bounded(std::path::Path::new(path), "an allow-list").map_err(|message| ProxyError::AllowList { path: path.to_string(), message })?;
    parse(&text, path)
}

/// One required endpoint an allow-list does not cover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// Where the catalog requires it, e.g. `endpoint set 170 (MEM - PowerShell en Win32Apps)`.
    pub required_by: String,
    /// The host or wildcard as the catalog lists it.
    pub host: String,
}

/// The required endpoints of the catalog for this world that `allowed` does not let through:
/// the required Intune endpoint sets on TCP 80/443 (seed 002), the tenant's ASU CDN hosts
/// (seed 002), the tenant-attach endpoints and the CRL/OCSP hosts (seed 000).
pub fn gaps(allowed: impl Fn(&str) -> bool, world: &WorldSpec, catalog: &Catalog) -> Vec<Gap> {
    let mut out: Vec<Gap> = Vec::new();
    let mut check = |required_by: &str, raw: &str| {
        if let Some(host) = host_of(raw, &world.cmg_name)
            && !allowed(&host)
            && !out.iter().any(|g| g.host == host)
        {
            out.push(Gap { required_by: required_by.to_string(), host });
        }
    };
    for set in catalog.intune.sets.iter().filter(|s| s.required && s.tcp_ports.iter().any(|p| *p == 80 || *p == 443)) {
        let by = format!("endpoint set {} ({})", set.id, set.description);
        set.urls.iter().for_each(|u| check(&by, u));
    }
    if let Some(region) = catalog.asu_region(&world.asu) {
        let by = format!("ASU {} content CDN ({})", world.asu, region.name);
        region.stores.iter().for_each(|s| check(&by, &s.cdn));
    }
    let by = "tenant attach (seed 000)";
    catalog.tenant_attach.endpoints.get(world.cloud).iter().for_each(|u| check(by, u));
    let by = "CRL/OCSP (seed 000)";
    catalog.tenant_attach.revocation.urls.iter().for_each(|u| check(by, u));
    out
}

/// `allowed` for a list of patterns: a catalog wildcard is covered only by a pattern that
/// covers all of it (`*.manage.microsoft.com` or wider), never by one name below it.
pub fn covered_by(list: &[HostPattern]) -> impl Fn(&str) -> bool + '_ {
    move |host| list.iter().any(|p| p.matches(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_wildcards_urls_and_comments_with_line_numbers() {
        let text = "# customer egress list\n*.manage.microsoft.com\nhttps://login.microsoftonline.com/  # Entra\n\ngo.microsoft.com:443\n";
        let list = parse(text, "allow.txt").unwrap();
        let shown: Vec<String> = list.iter().map(|p| p.to_string()).collect();
        assert_eq!(shown, ["*.manage.microsoft.com", "login.microsoftonline.com", "go.microsoft.com"]);
        let e = parse("ok.com\nnot a host\n", "allow.txt").unwrap_err().to_string();
        assert!(e.contains("allow.txt") && e.contains("line 2") && e.contains("not a host"), "{e}");
        assert!(load("/nonexistent/allow.txt").unwrap_err().to_string().contains("cannot read"));
    }

    /// Issue 11: a customer's allow-list is read bounded, as a scenario is (it was read whole).
    #[test]
    fn a_list_larger_than_a_mib_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("allow.txt");
        std::fs::write(&path, "a.example.com\n".repeat(80_000)).unwrap();
        let e = load(path.to_str().unwrap()).unwrap_err().to_string();
        assert!(e.contains("larger than 1024 KiB") && e.contains("allow-list"), "{e}");
        assert!(load("/dev/zero").unwrap_err().to_string().contains("larger than"), "a file whose size says nothing is read bounded");
    }

    #[test]
    fn reports_the_required_endpoints_a_list_blocks() {
        let world = WorldSpec::default();
        let catalog = &Catalog::builtin().unwrap();
        let list = parse("*.manage.microsoft.com\nmanage.microsoft.com\n", "t").unwrap();
        let g = gaps(covered_by(&list), &world, catalog);
        assert!(g.iter().any(|g| g.host == "swda01-mscdn.azureedge.net" && g.required_by.starts_with("endpoint set 170")), "{g:?}");
        assert!(g.iter().any(|g| g.host == "naprodimedatapri.azureedge.net" && g.required_by.contains("AMSUA0101")), "{g:?}");
        assert!(g.iter().any(|g| g.host == "crl3.digicert.com"), "{g:?}");
        assert!(!g.iter().any(|g| g.host.ends_with("manage.microsoft.com")), "{g:?}");
        // A name below a wildcard does not cover the wildcard.
        let narrow = parse("r.manage.microsoft.com\n", "t").unwrap();
        assert!(gaps(covered_by(&narrow), &world, catalog).iter().any(|g| g.host == "*.manage.microsoft.com"));
    }
}
