//! The token checks against real signatures: each way a token is bad gets its own verdict, and
//! no input panics (proptest).

use std::sync::LazyLock;

use proptest::prelude::*;
use serde_json::json;
use time::OffsetDateTime;

use super::*;
use crate::keys::RsaKey;

static KEY: LazyLock<RsaKey> = LazyLock::new(|| RsaKey::generate(2048).unwrap());
static OTHER: LazyLock<RsaKey> = LazyLock::new(|| RsaKey::generate(2048).unwrap());

fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap()
}

fn token(claims: serde_json::Value) -> String {
    sign(&claims, &KEY.jwt_encoding_key().unwrap(), Some("k1"), None).unwrap()
}

const EXPECT: Expect<'static> =
    Expect { audiences: &["https://enrollment.manage.microsoft.com/"], issuer: Some("https://sts.windows.net/t/"), leeway_secs: 300 };

fn good() -> serde_json::Value {
    json!({"aud": "https://enrollment.manage.microsoft.com/", "iss": "https://sts.windows.net/t/", "nbf": 1000, "exp": 5000, "upn": "a@b"})
}

#[test]
fn a_good_token_verifies_and_every_bad_one_says_why() {
    let key = KEY.jwt_decoding_key();
    let v: serde_json::Value = verify(&token(good()), &key, &EXPECT, at(2000)).unwrap();
    assert_eq!(v["upn"], "a@b");

    assert!(matches!(verify::<serde_json::Value>(&token(good()), &key, &EXPECT, at(5301)), Err(JwtError::Expired { exp: 5000, .. })));
    assert!(verify::<serde_json::Value>(&token(good()), &key, &EXPECT, at(5299)).is_ok(), "within the leeway");
    assert!(matches!(verify::<serde_json::Value>(&token(good()), &key, &EXPECT, at(600)), Err(JwtError::NotYetValid { nbf: 1000, .. })));
    let mut wrong_aud = good();
    wrong_aud["aud"] = json!("00000003-0000-0000-c000-000000000000");
    assert!(matches!(verify::<serde_json::Value>(&token(wrong_aud), &key, &EXPECT, at(2000)), Err(JwtError::Audience { .. })));
    let mut wrong_iss = good();
    wrong_iss["iss"] = json!("https://sts.windows.net/other/");
    assert!(matches!(verify::<serde_json::Value>(&token(wrong_iss), &key, &EXPECT, at(2000)), Err(JwtError::Issuer { .. })));
    assert_eq!(verify::<serde_json::Value>(&token(good()), &OTHER.jwt_decoding_key(), &EXPECT, at(2000)), Err(JwtError::Signature));
}

#[test]
fn alg_none_and_truncations_are_refused_by_name() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let none = format!("{}.{}.", b64(r#"{"alg":"none","typ":"JWT"}"#), b64(&good().to_string()));
    assert_eq!(header(&none).unwrap_err(), JwtError::Algorithm("none".into()));
    let hs = format!("{}.{}.c2ln", b64(r#"{"alg":"HS256"}"#), b64("{}"));
    assert_eq!(header(&hs).unwrap_err(), JwtError::Algorithm("HS256".into()));
    let t = token(good());
    let cut = &t[..t.rfind('.').unwrap()];
    assert!(matches!(verify::<serde_json::Value>(cut, &KEY.jwt_decoding_key(), &EXPECT, at(2000)), Err(JwtError::Malformed(_))));
    assert!(matches!(header(&"a".repeat(MAX_TOKEN_LEN + 1)), Err(JwtError::TooLong { .. })));
    // A signature over other claims: the payload swapped under a valid signature.
    let parts: Vec<&str> = t.split('.').collect();
    let forged = format!("{}.{}.{}", parts[0], b64(r#"{"aud":"x"}"#), parts[2]);
    assert_eq!(verify::<serde_json::Value>(&forged, &KEY.jwt_decoding_key(), &EXPECT, at(2000)), Err(JwtError::Signature));
}

proptest! {
    #[test]
    fn no_input_panics(s in "\\PC{0,400}", dots in proptest::collection::vec("[A-Za-z0-9_-]{0,60}", 0..5)) {
        let _ = verify::<serde_json::Value>(&s, &KEY.jwt_decoding_key(), &EXPECT, at(2000));
        let joined = dots.join(".");
        let _ = verify::<serde_json::Value>(&joined, &KEY.jwt_decoding_key(), &EXPECT, at(2000));
        let _ = claims_unverified(&joined);
    }
}
