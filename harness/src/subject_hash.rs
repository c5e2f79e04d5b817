//! OpenSSL's subject-name hash (`X509_NAME_hash_ex`): the name of a certificate's link in a
//! hashed directory (`SSL_CERT_DIR`, what `openssl rehash` makes). memsim computes it itself so
//! that a world's start does not fork and exec `openssl rehash` before its ready line (issue 20
//! item 2), and so that the directory works on a machine without openssl.
//!
//! The hash is SHA-1 over the name's canonical encoding (OpenSSL `crypto/x509/x_name.c`,
//! `x509_name_canon` and `asn1_string_canon`): each RDN's SET OF, in order, without the outer
//! SEQUENCE, where every string value becomes a UTF8String with leading and trailing white space
//! removed, inner runs of white space collapsed to one space and ASCII letters lower-cased;
//! other values are kept as they are. The hash is the digest's first four bytes, little-endian.
//! A test checks it against `openssl x509 -subject_hash` for every root of a world.

use der::asn1::{Any, SetOfVec};
use der::{Decode as _, Encode as _, Tag, Tagged as _};
use x509_cert::Certificate;
use x509_cert::attr::AttributeTypeAndValue;

/// The subject hash of a DER certificate, as `openssl x509 -subject_hash` prints it (`%08x`).
pub fn subject_hash(cert_der: &[u8]) -> Result<String, der::Error> {
    let cert = Certificate::from_der(cert_der)?;
    let mut canon = Vec::new();
    for rdn in cert.tbs_certificate.subject.0.iter() {
        let mut set = SetOfVec::new();
        for atv in rdn.0.iter() {
            set.insert(AttributeTypeAndValue { oid: atv.oid, value: canonical(&atv.value)? })?;
        }
        set.encode_to_vec(&mut canon)?;
    }
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &canon);
    let first: [u8; 4] = digest.as_ref()[..4].try_into().map_err(|_| der::Error::from(der::ErrorKind::Failed))?;
    Ok(format!("{:08x}", u32::from_le_bytes(first)))
}

/// The value as OpenSSL canonicalizes it: string types (`ASN1_MASK_CANON`) to a UTF8String in
/// canonical form, any other type unchanged. (A UniversalString, which `der` cannot decode,
/// fails the certificate's decoding before this.)
fn canonical(value: &Any) -> Result<Any, der::Error> {
    let bytes = value.value();
    let utf8: String = match value.tag() {
        Tag::Utf8String => std::str::from_utf8(bytes).map_err(|_| der::Error::from(der::ErrorKind::Failed))?.to_string(),
        // One byte a character (`ASN1_STRING_to_UTF8`: Latin-1 to UTF-8).
        Tag::PrintableString | Tag::TeletexString | Tag::Ia5String | Tag::VisibleString => bytes.iter().map(|&b| char::from(b)).collect(),
        Tag::BmpString => {
            let units: Vec<u16> = bytes.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
            char::decode_utf16(units).collect::<Result<_, _>>().map_err(|_| der::Error::from(der::ErrorKind::Failed))?
        }
        _ => return Ok(value.clone()),
    };
    Any::new(Tag::Utf8String, canon_text(utf8.as_bytes()))
}

/// `asn1_string_canon` on UTF-8 bytes: trim ASCII white space, collapse inner runs of it to one
/// space, lower-case ASCII; bytes above 0x7f are copied.
fn canon_text(text: &[u8]) -> Vec<u8> {
    let space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let start = text.iter().position(|b| !space(b)).unwrap_or(text.len());
    let end = text.iter().rposition(|b| !space(b)).map_or(start, |i| i + 1);
    let mut out = Vec::with_capacity(end - start);
    let mut in_space = false;
    for &b in &text[start..end] {
        if space(&b) {
            if !in_space {
                out.push(b' ');
            }
            in_space = true;
        } else {
            out.push(b.to_ascii_lowercase());
            in_space = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_text_is_trimmed_collapsed_and_lower_case() {
        assert_eq!(canon_text(b"  DigiCert \t Global  Root G2 \n"), b"digicert global root g2");
        assert_eq!(canon_text("Zürich  AG".as_bytes()), "zürich ag".as_bytes());
        assert_eq!(canon_text(b"   "), b"");
    }

    /// A certificate with `name` as its subject.
    fn cert(name: rcgen::DistinguishedName) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = name;
        params.self_signed(&rcgen::KeyPair::generate().unwrap()).unwrap().der().to_vec()
    }

    /// What OpenSSL says (the real peer: `openssl rehash` names links by it).
    fn openssl_hash(der: &[u8]) -> Option<String> {
        use std::io::Write as _;
        let mut child = std::process::Command::new("openssl")
            .args(["x509", "-inform", "DER", "-noout", "-subject_hash"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .ok()?;
        child.stdin.take().unwrap().write_all(der).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "openssl x509 failed: {out:?}");
        Some(String::from_utf8(out.stdout).unwrap().trim().to_string())
    }

    // issue 20 item 2: the hashed directory is written without `openssl rehash`, so its link
    // names must be OpenSSL's own for every kind of name a certificate may carry.
    #[test]
    fn the_hash_is_openssls() {
        use rcgen::{DistinguishedName, DnType, DnValue};
        let mut names = Vec::new();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, DnValue::PrintableString("US".try_into().unwrap()));
        dn.push(DnType::OrganizationName, DnValue::PrintableString("DigiCert Inc".try_into().unwrap()));
        dn.push(DnType::CommonName, DnValue::PrintableString("DigiCert Global Root G2".try_into().unwrap()));
        names.push(dn);
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, DnValue::Utf8String("  Contoso   Zürich\tAG ".into()));
        dn.push(DnType::CommonName, DnValue::BmpString("Ünïcode Root".try_into().unwrap()));
        dn.push(DnType::OrganizationalUnitName, DnValue::TeletexString("Tele Tex".try_into().unwrap()));
        dn.push(DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 25]), DnValue::Ia5String("Windows".try_into().unwrap()));
        names.push(dn);
        names.push(DistinguishedName::new());
        let mut checked = 0;
        for name in names {
            let der = cert(name);
            let Some(expected) = openssl_hash(&der) else {
                eprintln!("SKIPPED: openssl is not installed (.ci/run installs it)");
                return;
            };
            assert_eq!(subject_hash(&der).unwrap(), expected);
            checked += 1;
        }
        assert_eq!(checked, 3);
    }
}
