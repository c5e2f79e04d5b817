//! The `cmg-connect` probe: a ConfigMgr client reaching its cloud management gateway as
//! CCMHTTP does before any management point message — the CMG service name (seed 001:
//! `<name>.cloudapp.net`, `<name>.usgovcloudapp.net`), TLS verified as Windows verifies it, and
//! an HTTP answer from `/CCM_Proxy_ServerAuth/` (any status: MP messaging is not emulated yet).
//!
//! Windows behaviour followed (issue 16): the chain is built as CryptoAPI builds it, a missing
//! intermediate downloaded from the leaf's CA Issuers URL (`verify.rs`, `aia.rs`); revocation is
//! checked after the handshake as CryptoAPI's provider does — staple for the leaf, then each
//! certificate's own OCSP, then its CRLs, cached answers honoured (`revocation.rs`) — and the
//! chain engine's code (CRYPT_E_REVOKED, CRYPT_E_REVOCATION_OFFLINE) is logged with its text.
//! Failures are reported as LocationServices.log does (failure catalog PKI-05..07):
//! `Code=12175, Text=ERROR_WINHTTP_SECURE_FAILURE` with the WinHTTP certificate flag.

use rustls::CertificateError;

use super::net::{self, NetError};
use super::{Code, ProbeResult, ProbeTarget, Run};

const PATH: &str = "/CCM_Proxy_ServerAuth/";

/// The CMG service name from the seed's client endpoints, with the tenant's CMG name.
pub(super) fn cmg_host(target: &ProbeTarget, cat: &mock_cloud::Catalog) -> Option<String> {
    mock_cloud::catalog::host_of(&cat.cmg_host(target.cloud, &target.cmg_name)?, &target.cmg_name)
}

/// The WinHTTP certificate flag for a certificate error, as ConfigMgr logs it.
pub(super) fn winhttp_flag(e: &NetError) -> &'static str {
    match e.certificate_error() {
        Some(CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }) => "WINHTTP_CALLBACK_STATUS_FLAG_CERT_CN_INVALID",
        Some(CertificateError::UnknownIssuer) => "WINHTTP_CALLBACK_STATUS_FLAG_INVALID_CA",
        Some(CertificateError::Revoked) => "WINHTTP_CALLBACK_STATUS_FLAG_CERT_REVOKED",
        Some(
            CertificateError::Expired | CertificateError::ExpiredContext { .. } | CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. },
        ) => "WINHTTP_CALLBACK_STATUS_FLAG_CERT_DATE_INVALID",
        _ => "WINHTTP_CALLBACK_STATUS_FLAG_SECURITY_CHANNEL_ERROR",
    }
}

pub(crate) async fn run(run: &Run<'_>) -> ProbeResult {
    let target = run.target;
    let Some(host) = cmg_host(target, run.catalog) else {
        return run.fail("resolve", Code::WININET_E_NAME_NOT_RESOLVED, "no CMG service name in the catalog for this cloud".into());
    };
    let tcp = match net::connect(target, &host, 443).await {
        Ok(s) => s,
        Err(e) => return run.fail("connect", Code::WININET_E_CANNOT_CONNECT, e.to_string()),
    };
    let tls = match net::tls(target, &host, tcp).await {
        Ok(s) => s,
        Err(e) => {
            let message = format!(
                "[CCMHTTP] ERROR: URL=https://{host}{PATH}, Port=443, Code={}, Text={}; {} is set ({e})",
                run.codes.win32(Code::ERROR_WINHTTP_SECURE_FAILURE),
                Code::ERROR_WINHTTP_SECURE_FAILURE.name(),
                winhttp_flag(&e)
            );
            return run.fail("tls", Code::ERROR_WINHTTP_SECURE_FAILURE, message);
        }
    };
    // CMG clients check revocation by default (protocols.md §1.2; ccmsetup /NoCRLCheck turns it off).
    let revocation = match super::revocation::ccmhttp(run, &host, PATH, &tls).await {
        Ok(how) => how,
        Err(failed) => return failed,
    };
    match net::get(tls, &host, PATH).await {
        Ok((status, _)) => run.pass("http", format!("https://{host}{PATH} answered {status} over a verified TLS channel; revocation: {revocation}")),
        Err(e) => run.fail("http", Code::WININET_E_CANNOT_CONNECT, e.to_string()),
    }
}
