//! Certificate shape and lazy issuance: issue 16 item 4 (countryName as PrintableString, a key
//! per leaf, the internal root's name) and issue 20 item 2 (a leaf made on first use is the one
//! the start would have made; the responders know it before it exists).

use std::collections::HashSet;
use std::io::Write;
use std::process::{Command, Stdio};

use scenarios::parse_scenario;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::*;
use crate::catalog::Catalog;

const FAULTS: &str = "[[fault]]\nkind = \"pki.unknown_issuer\"\nhosts = \"granitefalls.cloudapp.net\"\n\n\
                      [[fault]]\nkind = \"pki.expired\"\nhosts = \"aka.ms\"\nlevel = \"intermediate\"\n\n\
                      [[fault]]\nkind = \"pki.revoked\"\nhosts = \"go.microsoft.com\"\n";

fn build(faults_toml: &str, secret: [u8; 32]) -> Pki {
    let text = format!("name = \"t\"\nsummary = \"s\"\narea = \"pki\"\nsource = \"test\"\n{faults_toml}");
    let scenario = parse_scenario(&text, "t.toml").unwrap();
    let cat = &Catalog::builtin().unwrap();
    let hosts = cat.hosts_for(&scenario.world);
    let now = time::macros::datetime!(2026-12-01 12:00 UTC);
    Pki::build_with_secret(&cat.pki, &scenario.world, scenario.pki_faults(), &hosts, now, secret).unwrap()
}

/// Every certificate a world holds once every leaf is made: CAs, shadow CAs, catalog leaves and
/// a minted deeper name.
fn every_certificate(pki: &Pki) -> Vec<CertRef> {
    pki.leaf_for("fef.msua06.manage.microsoft.com").expect("a deeper name below a wildcard");
    pki.certificates()
}

fn openssl_asn1parse(der: &[u8]) -> Option<String> {
    let mut child = Command::new("openssl").args(["asn1parse", "-inform", "DER"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().ok()?;
    child.stdin.take().unwrap().write_all(der).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl asn1parse failed");
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn openssl_reads_every_country_name_as_printable_string() {
    let pki = build(FAULTS, [1; 32]);
    let certs = every_certificate(&pki);
    let mut countries = 0;
    for cert in &certs {
        let Some(parsed) = openssl_asn1parse(&cert.der) else {
            // .ci/run installs openssl; a machine without it cannot run this check.
            eprintln!("SKIPPED: openssl is not installed");
            return;
        };
        let lines: Vec<&str> = parsed.lines().collect();
        for (i, _) in lines.iter().enumerate().filter(|(_, l)| l.ends_with(":countryName")) {
            let value = lines.get(i + 1).copied().unwrap_or_default();
            assert!(value.contains("PRINTABLESTRING"), "{}: countryName written as {value}", cert.subject);
            countries += 1;
        }
    }
    // Subject and issuer of each CA with a C, and the issuer of every leaf under one.
    assert!(countries > certs.len(), "{countries} countryName attributes in {} certificates", certs.len());
}

#[test]
fn no_two_leaves_share_a_public_key() {
    let pki = build(FAULTS, [2; 32]);
    let certs = every_certificate(&pki);
    let mut keys = HashSet::new();
    let mut leaves = 0;
    for cert in certs.iter().filter(|c| pki.cas().iter().all(|ca| ca.der != c.der)) {
        let (_, x509) = X509Certificate::from_der(&cert.der).unwrap();
        assert!(keys.insert(x509.public_key().raw.to_vec()), "{} shares its public key with another leaf", cert.subject);
        leaves += 1;
    }
    assert!(leaves > 100, "{leaves} leaves");
    let cas: HashSet<Vec<u8>> = pki.cas().iter().map(|c| X509Certificate::from_der(&c.der).unwrap().1.public_key().raw.to_vec()).collect();
    assert!(cas.is_disjoint(&keys), "a leaf holds a CA's key");
}

/// What makes a certificate the same for a client: name, key, serial, validity, extensions.
fn shape(der: &[u8]) -> (String, Vec<u8>, Vec<u8>, String, String, usize) {
    let (_, c) = X509Certificate::from_der(der).unwrap();
    let v = c.validity();
    (c.subject().to_string(), c.public_key().raw.to_vec(), c.raw_serial().to_vec(), v.not_before.to_string(), v.not_after.to_string(), c.extensions().len())
}

#[test]
fn a_leaf_made_on_first_use_is_the_one_the_start_would_have_made() {
    let eager = build(FAULTS, [3; 32]);
    eager.issue_all().unwrap();
    let lazy = build(FAULTS, [3; 32]);
    assert!(lazy.hosts.values().all(|p| p.leaf.get().is_none()), "nothing is signed at build");
    for host in ["granitefalls.cloudapp.net", "go.microsoft.com", "aka.ms", "login.microsoftonline.com", "portal.manage.microsoft.com"] {
        let (a, b) = (eager.leaf_for(host).unwrap(), lazy.leaf_for(host).unwrap());
        assert_eq!(shape(&a.certified.cert[0]), shape(&b.certified.cert[0]), "{host}");
        assert_eq!(a.faults, b.faults, "{host}");
        assert_eq!(a.certified.cert.len(), b.certified.cert.len(), "{host}");
    }
    // Another world's leaf secret gives other keys, the same serial numbers.
    let other = build(FAULTS, [4; 32]);
    let (a, b) = (eager.leaf_for("aka.ms").unwrap(), other.leaf_for("aka.ms").unwrap());
    assert_eq!(a.serial, b.serial);
    assert_ne!(shape(&a.certified.cert[0]).1, shape(&b.certified.cert[0]).1);
}

#[test]
fn the_responders_know_every_leaf_before_it_is_made() {
    let pki = build(FAULTS, [5; 32]);
    let now = pki.planner.now;
    // The scenario's revoked leaf is on its issuer's CRL before any handshake.
    let planned = &pki.hosts["go.microsoft.com"];
    assert!(planned.leaf.get().is_none());
    assert!(matches!(pki.status(planned.issuer, planned.serial.as_ref(), now), CertState::Revoked { .. }));
    assert!(pki.crl(planned.issuer, now).unwrap().revoked.contains(&serial_hex(planned.serial.as_ref())));
    // Any other planned leaf is good, not unknown, to OCSP; revocation by serial finds it.
    let planned = &pki.hosts["granitefalls.cloudapp.net"];
    assert_eq!(pki.status(planned.issuer, planned.serial.as_ref(), now), CertState::Good);
    assert!(planned.leaf.get().is_none());
    let cert = pki.find(&serial_hex(planned.serial.as_ref())).unwrap();
    assert_eq!(cert.subject, "granitefalls.cloudapp.net");
    pki.revoke(&cert, RevocationReason::KeyCompromise, now).unwrap();
    assert!(matches!(pki.status(planned.issuer, planned.serial.as_ref(), now), CertState::Revoked { .. }));
}

#[test]
fn an_untrusted_root_is_named_like_the_customers_internal_ca() {
    let pki = build(FAULTS, [6; 32]);
    let leaf = pki.leaf_for("granitefalls.cloudapp.net").unwrap();
    let root = &pki.cas()[pki.cas()[leaf.issuer].parent.unwrap()];
    assert!(root.shadow && !root.trusted);
    assert_eq!(root.spec.common_name(), "Contoso Internal Root CA");
    assert!(root.spec.subject.contains(&("O".into(), "Contoso".into())), "{:?}", root.spec.subject);
    assert!(!pki.bundle_pem().contains(&root.pem));
}
