//! The `enroll` probe: what the Windows enrollment client does for "Access work or school →
//! Enroll only in device management" (protocols.md §4.1, the happy-path order fleet's Go test
//! client follows): find the discovery server through the EnterpriseEnrollment CNAME (seed
//! 003), POST Discover, get an Entra token for the enrollment resource from the world's
//! authority, POST GetPolicies, make an RSA-2048 key and a PKCS#10 (a TPM makes 2048-bit keys
//! only, whatever the policy asks), POST RequestSecurityToken, read the provisioning document
//! (the certificate by its thumbprint, its chain to a root of the world's bundle, the w7 ADDR),
//! and open the first OMA-DM session over mutual TLS with the issued certificate.
//!
//! It fails with what the Windows client logs (protocols.md §5): a SOAP fault's ErrorType
//! (0x80180013–0x80180019), else its subcode (0x80180001–0x80180007); an answer that is no SOAP
//! message — wrong content type, chunked — 0x80180001; one cut short 0x80072F78; an HTTP error
//! 0x8019 + status (0x80190193 = HTTP_E_STATUS_FORBIDDEN when the check-in refuses a missing
//! client certificate); connection and certificate failures as the discovery probe reports them.

mod steps;
mod syncml;
pub(crate) mod wire;

use super::{ProbeResult, Run};

/// How the probe gets its Entra token: the world's authority with a user's password (the
/// ROPC grant, as a scripted enrollment does), or a token given by a test.
#[derive(Debug, Clone)]
pub enum TokenSource {
    Authority { authority: String, upn: String, password: String },
    Given { upn: String, token: String },
}

pub(crate) async fn run(run: &Run<'_>) -> ProbeResult {
    match run.target.enroll_sign_in.clone() {
        Some(source) => steps::enroll(run, &source).await,
        None => run.fail(
            "token",
            super::Code::MENROLL_E_DEVICE_AUTHENTICATION_ERROR,
            "world.json names no Entra authority and user: the probe cannot sign in".into(),
        ),
    }
}

#[cfg(test)]
mod tests;
