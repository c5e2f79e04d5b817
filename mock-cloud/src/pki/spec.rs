//! The shape of `data/pki.toml`: certificate authorities, issuance rules, validity windows.

use rcgen::string::{Ia5String, PrintableString};
use rcgen::{DistinguishedName, DnType, DnValue};
use scenarios::{HostPattern, SimDuration};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PkiData {
    #[serde(rename = "ca")]
    pub cas: Vec<CaSpec>,
    #[serde(rename = "issue")]
    pub issue_rules: Vec<IssueRule>,
    pub default_issuer: DefaultIssuer,
    pub validity: ValidityWindows,
    pub revocation: RevocationTimes,
}

/// The lifetimes of what the revocation responders serve (`[revocation]` in pki.toml).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationTimes {
    /// A CRL's nextUpdate − thisUpdate.
    pub crl_validity: SimDuration,
    /// How often a CA issues a fresh CRL when nothing changed.
    pub crl_reissue: SimDuration,
    /// An OCSP answer's nextUpdate − thisUpdate.
    pub ocsp_validity: SimDuration,
    /// How long a responder serves one pre-produced answer before it signs a fresh one (RFC 5019
    /// §2.2) when nothing changed.
    pub ocsp_reissue: SimDuration,
    /// How long the HTTPS front staples one OCSP answer.
    pub staple_refresh: SimDuration,
}

/// One CA as the data names it. A CA without `issuer` is a root.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaSpec {
    pub id: String,
    pub issuer: Option<String>,
    /// `[attribute, value]` pairs in order: C, O, OU, CN.
    pub subject: Vec<(String, String)>,
    /// Where this CA publishes its CRL: the CRL distribution points of what it issues.
    pub crl: Vec<String>,
    /// Its OCSP responder: the AIA OCSP URL of what it issues.
    pub ocsp: String,
    /// Where its own certificate is published: the AIA CA Issuers URL of what it issues
    /// (RFC 5280 §4.2.2.1), from which Windows downloads a missing intermediate.
    #[serde(default)]
    pub ca_issuers: Option<String>,
    /// What the CA issues: TLS server certificates (the default; its root goes into the world's
    /// `ca.pem`), client certificates only (device certificates: kept out of `ca.pem`, published
    /// apart as world.json's `client_ca_bundle`), or client certificates from a root the device
    /// trusts anyway (in both).
    #[serde(default)]
    pub purpose: CaPurpose,
}

/// What a CA is for, and so which bundle its root belongs to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaPurpose {
    /// TLS server certificates: a root of the world's TLS trust bundle (`ca.pem`).
    #[default]
    Tls,
    /// Client certificates only (DRS device certificates, Intune MDM device certificates): a
    /// relying party trusts it to authenticate devices; no TLS client should trust it for servers.
    Client,
    /// Client certificates, and a root of `ca.pem` as well: the Intune root, which a Windows
    /// enrollment's provisioning document installs in the device's Root/System store.
    ClientAndTls,
}

impl CaPurpose {
    /// Whether the CA's root belongs in the world's TLS trust bundle (`ca.pem`).
    pub fn in_tls_bundle(self) -> bool {
        matches!(self, CaPurpose::Tls | CaPurpose::ClientAndTls)
    }

    /// Whether the CA belongs in the client-certificate bundle (`client-ca.pem`).
    pub fn in_client_bundle(self) -> bool {
        matches!(self, CaPurpose::Client | CaPurpose::ClientAndTls)
    }
}

impl CaSpec {
    pub fn is_root(&self) -> bool {
        self.issuer.is_none()
    }

    pub fn common_name(&self) -> &str {
        self.subject.iter().find(|(k, _)| k == "CN").map_or(self.id.as_str(), |(_, v)| v)
    }

    pub fn distinguished_name(&self) -> DistinguishedName {
        let mut dn = DistinguishedName::new();
        for (k, v) in &self.subject {
            let ty = match k.as_str() {
                "C" => DnType::CountryName,
                "O" => DnType::OrganizationName,
                "OU" => DnType::OrganizationalUnitName,
                "L" => DnType::LocalityName,
                "ST" => DnType::StateOrProvinceName,
                // RFC 4519 domainComponent (0.9.2342.19200300.100.1.25), for issuers named like `DC=windows, DC=net`.
                "DC" => DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 25]),
                _ => DnType::CommonName,
            };
            dn.push(ty, dn_value(k, v));
        }
        dn
    }
}

/// The ASN.1 string type RFC 5280 gives an attribute: countryName is a PrintableString (§4.1.2.4
/// and Appendix A, `X520countryName`; GnuTLS prints a UTF8String C as `C=#0c025553`),
/// domainComponent an IA5String (RFC 4519 §2.4); the DirectoryString attributes are written as
/// PrintableString when the value allows, as the public CAs' certificates carry them, else
/// UTF8String (§4.1.2.6).
pub fn dn_value(attribute: &str, value: &str) -> DnValue {
    if attribute == "DC"
        && let Ok(ia5) = Ia5String::try_from(value)
    {
        return DnValue::Ia5String(ia5);
    }
    match PrintableString::try_from(value) {
        Ok(p) => DnValue::PrintableString(p),
        Err(_) => DnValue::Utf8String(value.to_string()),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueRule {
    pub hosts: Vec<HostPattern>,
    pub ca: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultIssuer {
    pub ca: String,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidityWindows {
    pub root: Window,
    pub intermediate: Window,
    pub leaf: Window,
}

/// A validity period around the simulated now: from `now - before` to `now + after`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub before: SimDuration,
    pub after: SimDuration,
}

impl Window {
    pub fn span(&self) -> std::time::Duration {
        self.before.0 + self.after.0
    }
}
