//! Reading the JSON bodies the device services take (DRS join and key provisioning, Intune for
//! Linux enroll, details, status): bounded in size, parsed once, members looked up without regard
//! to case (libhimmelblau sends PascalCase where intune-spec's examples show camelCase:
//! protocols.md §7.5), and the encodings inside them — a PKCS#10 request as PEM or bare base64, a
//! `BCRYPT_RSAKEY_BLOB` — decoded with a typed error for each way they can be bad. Nothing here
//! panics on any input (proptest in the tests).

use axum::body::Body;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

/// The largest body a device service reads: a join request with a 2048-bit CSR and transport
/// key is about 3 KiB; a status report with every policy a few KiB.
pub const MAX_BODY: usize = 64 * 1024;

/// Why a request body could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("the request body is larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("the request body is not JSON ({0})")]
    NotJson(String),
    #[error("the request body is not a JSON object")]
    NotObject,
    #[error("`{0}` is missing or empty")]
    Missing(&'static str),
    #[error("`{0}` is not {1}")]
    Invalid(&'static str, &'static str),
}

/// A JSON answer (`application/json; charset=utf-8`), as every device service writes one.
pub fn json(status: axum::http::StatusCode, value: &Value) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let mut res = (status, value.to_string()).into_response();
    res.headers_mut().insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/json; charset=utf-8"));
    res
}

/// Read a body of at most [`MAX_BODY`] bytes and parse it as a JSON object.
pub async fn read_object(body: Body) -> Result<serde_json::Map<String, Value>, InputError> {
    let bytes = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| InputError::TooLarge)?;
    parse_object(&bytes)
}

/// Parse bytes as a JSON object.
pub fn parse_object(bytes: &[u8]) -> Result<serde_json::Map<String, Value>, InputError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(InputError::NotObject),
        Err(e) => Err(InputError::NotJson(e.to_string().chars().take(120).collect())),
    }
}

/// A member of `obj` by name, ignoring case.
pub fn member<'a>(obj: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

/// A non-empty string member.
pub fn string<'a>(obj: &'a serde_json::Map<String, Value>, name: &'static str) -> Result<&'a str, InputError> {
    match member(obj, name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        Some(Value::String(_)) | None | Some(Value::Null) => Err(InputError::Missing(name)),
        Some(_) => Err(InputError::Invalid(name, "a string")),
    }
}

/// An object member.
pub fn object<'a>(obj: &'a serde_json::Map<String, Value>, name: &'static str) -> Result<&'a serde_json::Map<String, Value>, InputError> {
    match member(obj, name) {
        Some(Value::Object(o)) => Ok(o),
        None | Some(Value::Null) => Err(InputError::Missing(name)),
        Some(_) => Err(InputError::Invalid(name, "an object")),
    }
}

/// A PKCS#10 request as DER from PEM (`-----BEGIN CERTIFICATE REQUEST-----`, what libhimmelblau
/// sends) or bare base64 (what intune-spec and aad-join-spec describe).
pub fn csr_der(field: &'static str, text: &str) -> Result<Vec<u8>, InputError> {
    let text = text.trim();
    let body = match text.strip_prefix("-----BEGIN CERTIFICATE REQUEST-----").or_else(|| text.strip_prefix("-----BEGIN NEW CERTIFICATE REQUEST-----")) {
        Some(rest) => {
            let end = rest.find("-----END").ok_or(InputError::Invalid(field, "a PEM certificate request (no END line)"))?;
            &rest[..end]
        }
        None => text,
    };
    let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(b64.as_bytes()).map_err(|_| InputError::Invalid(field, "base64"))
}

/// The public key of a `BCRYPT_RSAKEY_BLOB` (magic `RSA1`, six little-endian u32 headers,
/// exponent, modulus; no primes: aad-join-spec §2.1.1.1.1): (bit length, exponent, modulus).
pub fn rsa_key_blob(field: &'static str, b64: &str) -> Result<(u32, Vec<u8>, Vec<u8>), InputError> {
    let bad = InputError::Invalid(field, "a base64 BCRYPT_RSAKEY_BLOB (RSA1, public exponent and modulus only)");
    let blob = STANDARD.decode(b64.trim().as_bytes()).map_err(|_| bad.clone())?;
    if blob.len() < 24 || &blob[..4] != b"RSA1" {
        return Err(bad);
    }
    let u = |i: usize| u32::from_le_bytes([blob[i], blob[i + 1], blob[i + 2], blob[i + 3]]);
    let (bits, exp_len, mod_len, p1, p2) = (u(4), u(8) as usize, u(12) as usize, u(16), u(20));
    if p1 != 0 || p2 != 0 || exp_len == 0 || mod_len == 0 || blob.len() != 24usize.saturating_add(exp_len).saturating_add(mod_len) {
        return Err(bad);
    }
    let exponent = blob[24..24 + exp_len].to_vec();
    let modulus = blob[24 + exp_len..].to_vec();
    if bits == 0 || bits as usize > modulus.len() * 8 {
        return Err(bad);
    }
    Ok((bits, exponent, modulus))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn blob(bits: u32, e: &[u8], n: &[u8]) -> String {
        let mut b = b"RSA1".to_vec();
        for v in [bits, e.len() as u32, n.len() as u32, 0, 0] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(e);
        b.extend_from_slice(n);
        STANDARD.encode(b)
    }

    #[test]
    fn members_are_found_in_any_case_and_typed() {
        let o = parse_object(br#"{"deviceid":"x","DeviceName":"","Policy":{},"N":1}"#).unwrap();
        assert_eq!(string(&o, "DeviceId"), Ok("x"));
        assert_eq!(string(&o, "DeviceName"), Err(InputError::Missing("DeviceName")));
        assert_eq!(string(&o, "N"), Err(InputError::Invalid("N", "a string")));
        assert!(object(&o, "policy").is_ok());
        assert_eq!(parse_object(b"[1]"), Err(InputError::NotObject));
        assert!(matches!(parse_object(b"{garbage"), Err(InputError::NotJson(_))));
    }

    #[test]
    fn csrs_come_as_pem_or_bare_base64() {
        let der = vec![0x30, 0x03, 0x02, 0x01, 0x00];
        let b64 = STANDARD.encode(&der);
        assert_eq!(csr_der("c", &b64).unwrap(), der);
        let pem = format!("-----BEGIN CERTIFICATE REQUEST-----\n{b64}\n-----END CERTIFICATE REQUEST-----\n");
        assert_eq!(csr_der("c", &pem).unwrap(), der);
        assert!(csr_der("c", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA").is_err());
        assert!(csr_der("c", "not base64!").is_err());
    }

    #[test]
    fn key_blobs_are_checked() {
        let (bits, e, n) = rsa_key_blob("k", &blob(2048, &[1, 0, 1], &[0xAB; 256])).unwrap();
        assert_eq!((bits, e, n.len()), (2048, vec![1, 0, 1], 256));
        assert!(rsa_key_blob("k", &blob(4096, &[1, 0, 1], &[0xAB; 256])).is_err(), "more bits than the modulus has");
        assert!(rsa_key_blob("k", &STANDARD.encode(b"RSA2xxxxxxxxxxxxxxxxxxxxxxxxxx")).is_err());
        let mut with_prime = STANDARD.decode(blob(8, &[3], &[0xFF])).unwrap();
        with_prime[16] = 1;
        assert!(rsa_key_blob("k", &STANDARD.encode(with_prime)).is_err(), "primes are refused");
    }

    proptest! {
        // Bad input gets an error, never a panic (issue 12).
        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), text in ".{0,300}") {
            let _ = parse_object(&bytes);
            let _ = csr_der("c", &text);
            let _ = rsa_key_blob("k", &text);
            let _ = rsa_key_blob("k", &STANDARD.encode(&bytes));
            let mut rsa1 = b"RSA1".to_vec();
            rsa1.extend_from_slice(&bytes);
            let _ = rsa_key_blob("k", &STANDARD.encode(&rsa1));
            if let Ok(der) = csr_der("c", &STANDARD.encode(&bytes)) {
                let _ = crate::pki::check_csr(&der);
            }
        }
    }
}
