//! The generated PKI, verified by rustls-webpki (the verifier rustls clients use).

use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use scenarios::{WorldSpec, parse_scenario};
use webpki::{EndEntityCert, KeyUsage};

use super::*;
use crate::catalog::Catalog;

/// The default world's PKI, without faults (for the other PKI test modules).
pub(super) fn healthy_pki() -> Pki {
    build("")
}

fn build(faults_toml: &str) -> Pki {
    let text = format!("name = \"t\"\nsummary = \"s\"\narea = \"pki\"\nsource = \"test\"\n{faults_toml}");
    let scenario = parse_scenario(&text, "t.toml").unwrap();
    let faults = scenario.pki_faults();
    let cat = &Catalog::builtin().unwrap();
    let hosts = cat.hosts_for(&scenario.world);
    Pki::build(&cat.pki, &scenario.world, faults, &hosts, OffsetDateTime::now_utc()).unwrap()
}

/// Verify `server_name` as a TLS client trusting the world's bundle would.
fn verify(pki: &Pki, server_name: &str) -> Result<(), webpki::Error> {
    let leaf = pki.leaf_for(server_name).expect("emulated name");
    verify_chain(pki, &leaf.certified.cert, server_name)
}

fn verify_chain(pki: &Pki, chain: &[CertificateDer<'static>], server_name: &str) -> Result<(), webpki::Error> {
    let roots: Vec<CertificateDer<'static>> = pki.cas().iter().filter(|c| c.parent.is_none() && c.trusted).map(|c| c.der.clone()).collect();
    let anchors: Vec<_> = roots.iter().map(|d| webpki::anchor_from_trusted_cert(d).unwrap().to_owned()).collect();
    let ee = EndEntityCert::try_from(&chain[0])?;
    let now = UnixTime::since_unix_epoch(std::time::Duration::from_secs(OffsetDateTime::now_utc().unix_timestamp() as u64));
    ee.verify_for_usage(webpki::ALL_VERIFICATION_ALGS, &anchors, &chain[1..], now, KeyUsage::server_auth(), None, None)?;
    ee.verify_is_valid_for_subject_name(&ServerName::try_from(server_name).unwrap())
}

#[test]
fn every_host_of_the_default_world_verifies() {
    let pki = build("");
    let hosts = Catalog::builtin().unwrap().hosts_for(&WorldSpec::default());
    for host in &hosts {
        let name = host.replace("*.", "x.");
        verify(&pki, &name).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
    // Five TLS roots, the Intune device root (the MDM certificates' anchor, issue 14) and its MDM
    // device CA (what an enrolled device holds in CA/System).
    assert_eq!(pki.bundle_pem().matches("BEGIN CERTIFICATE").count(), 7, "six trust anchors and the MDM device CA");
}

#[test]
fn wildcards_cover_one_label_and_deeper_names_get_their_own_leaf() {
    let pki = build("");
    // (r.manage.microsoft.com is a host of its own since the check-in service, issue 14.)
    let one = pki.leaf_for("portal.manage.microsoft.com").unwrap();
    assert_eq!(one.name, "*.manage.microsoft.com");
    let deep = pki.leaf_for("fef.msua06.manage.microsoft.com").unwrap();
    assert_eq!(deep.name, "fef.msua06.manage.microsoft.com");
    verify(&pki, "fef.msua06.manage.microsoft.com").unwrap();
    assert!(pki.leaf_for("example.org").is_none());
}

#[test]
fn name_constraints_stop_a_lab_ca_vouching_for_other_names() {
    let pki = build("");
    let (leaf, inter) = pki.issue_for_test("example.org", "microsoft-azure-tls-issuing-ca-01").unwrap();
    let err = verify_chain(&pki, &[leaf, inter], "example.org").unwrap_err();
    assert!(matches!(err, webpki::Error::NameConstraintViolation), "{err:?}");
    let (leaf, inter) = pki.issue_for_test("login.microsoftonline.com", "microsoft-azure-tls-issuing-ca-01").unwrap();
    verify_chain(&pki, &[leaf, inter], "login.microsoftonline.com").unwrap();
}

#[test]
fn expired_leaf_fails_and_others_pass() {
    let pki = build("[[fault]]\nkind = \"pki.expired\"\nhosts = \"*.manage.microsoft.com\"\n");
    assert!(matches!(verify(&pki, "r.manage.microsoft.com"), Err(webpki::Error::CertExpired { .. })));
    assert!(matches!(verify(&pki, "fef.msua06.manage.microsoft.com"), Err(webpki::Error::CertExpired { .. })));
    verify(&pki, "login.microsoftonline.com").unwrap();
    assert_eq!(pki.leaf_for("r.manage.microsoft.com").unwrap().faults, [scenarios::PkiFaultKind::Expired]);
}

#[test]
fn expired_intermediate_for_hosts_is_a_shadow_chain() {
    let pki = build("[[fault]]\nkind = \"pki.expired\"\nhosts = \"*.manage.microsoft.com\"\nlevel = \"intermediate\"\n");
    assert!(matches!(verify(&pki, "r.manage.microsoft.com"), Err(webpki::Error::CertExpired { .. })));
    verify(&pki, "manage.microsoft.com").unwrap();
    assert!(pki.cas().iter().any(|c| c.shadow));
}

#[test]
fn expired_root_by_ca_id_changes_the_root_itself() {
    let pki = build("[[fault]]\nkind = \"pki.expired\"\nca = \"baltimore-cybertrust-root\"\nsince = \"30d\"\n");
    let root = pki.cas().iter().find(|c| c.spec.id == "baltimore-cybertrust-root").unwrap();
    assert!(root.validity.1 < OffsetDateTime::now_utc() - std::time::Duration::from_secs(29 * 86400));
    assert!(root.trusted, "an expired root is still in the bundle");
}

#[test]
fn not_valid_yet_and_wrong_name_and_unknown_issuer() {
    let pki = build("[[fault]]\nkind = \"pki.not_valid_yet\"\nhosts = \"login.microsoftonline.com\"\n");
    assert!(matches!(verify(&pki, "login.microsoftonline.com"), Err(webpki::Error::CertNotValidYet { .. })));

    let pki = build("[[fault]]\nkind = \"pki.not_valid_for_name\"\nhosts = \"granitefalls.cloudapp.net\"\npresented = \"cmg.contoso.com\"\n");
    assert!(matches!(verify(&pki, "granitefalls.cloudapp.net"), Err(webpki::Error::CertNotValidForName(_))));

    let pki = build("[[fault]]\nkind = \"pki.unknown_issuer\"\nhosts = \"*.manage.microsoft.com\"\n");
    assert!(matches!(verify(&pki, "r.manage.microsoft.com"), Err(webpki::Error::UnknownIssuer)));
    verify(&pki, "login.microsoftonline.com").unwrap();
    assert_eq!(pki.bundle_pem().matches("BEGIN CERTIFICATE").count(), 7, "shadow root left out");
}

#[test]
fn incomplete_chain_sends_the_leaf_alone() {
    let pki = build("[[fault]]\nkind = \"pki.incomplete_chain\"\nhosts = \"go.microsoft.com\"\n");
    assert_eq!(pki.leaf_for("go.microsoft.com").unwrap().certified.cert.len(), 1);
    assert!(matches!(verify(&pki, "go.microsoft.com"), Err(webpki::Error::UnknownIssuer)));
    assert_eq!(pki.leaf_for("aka.ms").unwrap().certified.cert.len(), 2);
}

#[test]
fn revocations_are_recorded_for_leaves_and_intermediates() {
    let pki = build("[[fault]]\nkind = \"pki.revoked\"\nhosts = \"go.microsoft.com\"\n\n[[fault]]\nkind = \"pki.revoked\"\nca = \"microsoft-rsa-tls-ca-01\"\n");
    let revs = pki.revocations();
    assert_eq!(revs.len(), 2);
    assert!(revs.iter().any(|r| r.subject == "go.microsoft.com"));
    assert!(revs.iter().any(|r| r.subject == "Microsoft RSA TLS CA 01"));
}

#[test]
fn bad_fault_targets_are_errors_not_panics() {
    let cat = &Catalog::builtin().unwrap();
    let world = WorldSpec::default();
    let hosts = cat.hosts_for(&world);
    for toml in [
        "[[fault]]\nkind = \"pki.expired\"\nca = \"no-such-ca\"\n",
        "[[fault]]\nkind = \"pki.revoked\"\nca = \"baltimore-cybertrust-root\"\n",
        "[[fault]]\nkind = \"pki.unknown_issuer\"\nca = \"microsoft-rsa-tls-ca-01\"\n",
        "[[fault]]\nkind = \"pki.revoked\"\nhosts = \"aka.ms\"\nlevel = \"root\"\n",
    ] {
        let text = format!("name = \"t\"\nsummary = \"s\"\narea = \"pki\"\nsource = \"t\"\n{toml}");
        let s = parse_scenario(&text, "t").unwrap();
        let faults = s.pki_faults();
        assert!(Pki::build(&cat.pki, &world, faults, &hosts, OffsetDateTime::now_utc()).is_err(), "{toml}");
    }
}

/// Issue 16: every certificate names its issuer's published certificate (AIA CA Issuers) after
/// its OCSP responder; a shadow chain's does not.
#[test]
fn certificates_carry_their_issuers_ca_issuers_url() {
    use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};
    let urls = |der: &[u8]| -> Vec<(String, String)> {
        let (_, cert) = X509Certificate::from_der(der).unwrap();
        let mut out = Vec::new();
        for ext in cert.extensions() {
            if let ParsedExtension::AuthorityInfoAccess(aia) = ext.parsed_extension() {
                for d in aia.iter() {
                    if let GeneralName::URI(u) = d.access_location {
                        out.push((d.access_method.to_id_string(), u.to_string()));
                    }
                }
            }
        }
        out
    };
    let pki = build("[[fault]]\nkind = \"pki.unknown_issuer\"\nhosts = \"granitefalls.cloudapp.net\"\n");
    let leaf = pki.leaf_for("enterpriseenrollment-s.manage.microsoft.com").unwrap();
    assert_eq!(
        urls(&leaf.certified.cert[0]),
        [
            ("1.3.6.1.5.5.7.48.1".to_string(), "http://oneocsp.microsoft.com/ocsp".to_string()),
            ("1.3.6.1.5.5.7.48.2".to_string(), "http://www.microsoft.com/pkiops/certs/Microsoft%20Azure%20TLS%20Issuing%20CA%2001%20-%20xsign.crt".to_string()),
        ]
    );
    let shadowed = pki.leaf_for("granitefalls.cloudapp.net").unwrap();
    assert!(urls(&shadowed.certified.cert[0]).iter().all(|(m, _)| m != "1.3.6.1.5.5.7.48.2"), "a shadow CA publishes no certificate");
}

/// Issue 16: `pki.staple` changes what the front staples for its hosts alone, never the CA's state.
#[test]
fn staple_faults_change_the_staple_of_their_hosts_only() {
    use der::Decode;
    let status = |der: &[u8]| {
        let res = x509_ocsp::OcspResponse::from_der(der).unwrap();
        let basic = x509_ocsp::BasicOcspResponse::from_der(res.response_bytes.unwrap().response.as_bytes()).unwrap();
        let single = basic.tbs_response_data.responses[0].clone();
        (matches!(single.cert_status, x509_ocsp::CertStatus::Revoked(_)), single.next_update.unwrap().0.to_unix_duration().as_secs() as i64)
    };
    let now = OffsetDateTime::now_utc();
    for (state, host) in [("absent", "granitefalls.cloudapp.net"), ("stale", "granitefalls.cloudapp.net"), ("revoked", "granitefalls.cloudapp.net")] {
        let pki = build(&format!("[[fault]]\nkind = \"pki.staple\"\nhosts = \"{host}\"\nstaple = \"{state}\"\n"));
        let leaf = pki.leaf_for(host).unwrap();
        let stapled = pki.stapled(&leaf, now);
        match state {
            "absent" => assert!(stapled.ocsp.is_none()),
            "stale" => assert!(status(stapled.ocsp.as_deref().unwrap()).1 < now.unix_timestamp()),
            _ => assert!(status(stapled.ocsp.as_deref().unwrap()).0),
        }
        assert_eq!(pki.status(leaf.issuer, leaf.serial.as_ref(), now), CertState::Good, "{state}: the CA's own state is unchanged");
        assert!(leaf.faults.contains(&scenarios::PkiFaultKind::Staple));
        let other = pki.leaf_for("enterpriseenrollment-s.manage.microsoft.com").unwrap();
        let healthy = status(pki.stapled(&other, now).ocsp.as_deref().unwrap());
        assert!(!healthy.0 && healthy.1 > now.unix_timestamp(), "{state}: other hosts keep a current, good staple");
    }
}
