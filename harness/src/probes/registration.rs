//! The `registration` probe: Entra device registration discovery as `dsregcmd` tests it ("DRS
//! Discovery Test"): the tenant's EnterpriseRegistration CNAME (seed 003) must lead to
//! EnterpriseRegistration.windows.net (the same in the US government cloud), and that service
//! must answer over a channel verified as Windows verifies it. Conditional Access needs the
//! device registered; a missing CNAME fails here while MDM enrollment still works.
//!
//! Code: 0x801C0021 (failure catalog ENR-03: hybrid join discover-phase failure).

use super::net;
use super::resolve::{self, Found};
use super::{Code, ProbeResult, Run};

const CODE: Code = Code::DSREG_E_DISCOVERY_FAILED;

pub(crate) async fn run(run: &Run<'_>) -> ProbeResult {
    let target = run.target;
    let domain = target.domains.first().cloned().unwrap_or_default();
    // The registration CNAME of seed 003: its label and its target in the tenant's cloud.
    let rule = run.catalog.cname_rule("registration", target.cloud);
    let expected = rule.map(|r| r.target.to_ascii_lowercase());
    let label = rule.map_or("EnterpriseRegistration", |r| r.label.as_str());
    let (server, chain) = match resolve::tenant_cname(target.dns_addr, label, &domain, expected.clone()).await {
        Found::Server { name, chain } => (name, chain.join(" -> ")),
        Found::Missing => {
            return run.fail("resolve", CODE, format!("DRS Discovery Test : FAIL — {label}.{domain} does not exist (NXDOMAIN)"));
        }
        Found::Failed(e) => return run.fail("resolve", CODE, format!("DRS Discovery Test : FAIL — {label}.{domain}: {e}")),
    };
    if Some(&server) != expected.as_ref() {
        return run.fail("resolve", CODE, format!("DRS Discovery Test : FAIL — {chain} does not lead to the device registration service"));
    }
    if let Err((_, why)) = resolve::server(target.dns_addr, &server).await {
        return run.fail("resolve", CODE, format!("DRS Discovery Test : FAIL — {why}"));
    }
    let tcp = match net::connect(target, &server, 443).await {
        Ok(s) => s,
        Err(e) => return run.fail("connect", CODE, format!("DRS Discovery Test : FAIL — {e}")),
    };
    let tls = match net::tls(target, &server, tcp).await {
        Ok(s) => s,
        Err(e) => return run.fail("tls", CODE, format!("DRS Discovery Test : FAIL — {e}")),
    };
    match net::get(tls, &server, "/").await {
        Ok((status, _)) => run.pass("drs-discovery", format!("DRS Discovery Test : PASS — {chain} answered {status}")),
        Err(e) => run.fail("drs-discovery", CODE, format!("DRS Discovery Test : FAIL — {e}")),
    }
}
