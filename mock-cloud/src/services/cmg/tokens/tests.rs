//! The site's tokens against seed 004's sample shapes, the simulated clock, and bad input.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use time::OffsetDateTime;

use super::*;
use crate::services::cmg::faults::{OTHER_TENANT, SEED_SAMPLE};

const TENANT: &str = "cdcc5e91-0adf-4a24-82d0-196667f1c081";

/// One site key for every test (RSA generation is the cost).
static SITE: std::sync::LazyLock<SiteKeys> = std::sync::LazyLock::new(|| SiteKeys::new("ABC"));

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn part(token: &str, i: usize) -> serde_json::Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(i).unwrap()).unwrap()).unwrap()
}

#[test]
fn a_bulk_token_has_seed_004s_header_and_claims_in_order() {
    let t = now().unix_timestamp();
    let token = SITE.sign(&Claims::bulk(TENANT, &new_guid(), t, t + 3600)).unwrap();
    let header = String::from_utf8(URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    assert!(header.starts_with(r#"{"typ":"JWT","alg":"RS256","x5t":""#), "{header}");
    let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
    let keys: Vec<&str> = claims.trim_matches(['{', '}']).split(',').filter_map(|kv| kv.split('"').nth(1)).collect();
    assert_eq!(keys, ["SCCMTokenCategory", "Authority", "License", "Type", "TenantId", "UniqueId", "iss", "aud", "exp", "nbf"], "{claims}");
    let c = part(&token, 1);
    assert_eq!(c["TenantId"], TENANT.to_ascii_uppercase());
    assert_eq!(c["iss"], format!("urn:sccm:oauth2:{TENANT}"));
    assert_eq!((c["SCCMTokenCategory"].as_str(), c["aud"].as_str(), c["Type"].as_str()), (Some(PRE_AUTH), Some(AUDIENCE), Some("BulkRegistration")));
    assert_eq!(part(&token, 0)["x5t"], SITE.signer().unwrap().x5t);
    assert!(SITE.verify(&token, Kind::Bulk, TENANT, now()).is_ok());
}

#[test]
fn lifetime_is_checked_against_the_simulated_clock_with_dotnets_skew() {
    let t = now().unix_timestamp();
    let token = SITE.sign(&Claims::bulk(TENANT, &new_guid(), t, t + 60)).unwrap();
    let later = now() + time::Duration::days(5);
    let e = SITE.verify(&token, Kind::Bulk, TENANT, later).unwrap_err();
    assert!(matches!(e, TokenError::Expired { .. }), "{e}");
    assert!(e.exception().contains("IDX10223: Lifetime validation failed. The token is expired. ValidTo: '"), "{}", e.exception());
    assert!(SITE.verify(&token, Kind::Bulk, TENANT, now() + time::Duration::minutes(4)).is_ok(), "within the 5-minute skew");
    let early = now() - time::Duration::hours(2);
    assert!(matches!(SITE.verify(&token, Kind::Bulk, TENANT, early), Err(TokenError::NotYetValid { .. })));
}

#[test]
fn foreign_signers_tenants_and_kinds_are_told_apart() {
    let t = now().unix_timestamp();
    let other = SiteKeys::new("XYZ");
    let foreign = other.sign(&Claims::bulk(TENANT, &new_guid(), t, t + 600)).unwrap();
    assert!(matches!(SITE.verify(&foreign, Kind::Bulk, TENANT, now()), Err(TokenError::UnknownSigner(_))));
    let tenant = SITE.sign(&Claims::bulk(OTHER_TENANT, &new_guid(), t, t + 600)).unwrap();
    let e = SITE.verify(&tenant, Kind::Bulk, TENANT, now()).unwrap_err();
    assert!(matches!(e, TokenError::Issuer { .. }) && e.exception().contains("IDX10205"), "{e}");
    let bulk = SITE.sign(&Claims::bulk(TENANT, &new_guid(), t, t + 600)).unwrap();
    assert!(matches!(SITE.verify(&bulk, Kind::Client, TENANT, now()), Err(TokenError::WrongKind { .. })));
    // The same header and claims with another key's signature: the signature, not the x5t, fails.
    let mut parts: Vec<&str> = bulk.split('.').collect();
    let forged_sig = foreign.split('.').nth(2).unwrap().to_string();
    parts[2] = &forged_sig;
    assert_eq!(SITE.verify(&parts.join("."), Kind::Bulk, TENANT, now()).unwrap_err(), TokenError::Signature);
}

/// Seed 004's published sample: its claims do not decode, and the error says where.
#[test]
fn the_seed_sample_gets_a_precise_error() {
    let e = SITE.verify(SEED_SAMPLE, Kind::Bulk, TENANT, now()).unwrap_err();
    let TokenError::Claims(why) = &e else { panic!("{e:?}") };
    assert!(why.contains("column") && why.contains("1580415"), "{why}");
    assert_eq!(decode(SEED_SAMPLE).unwrap_err(), e);
    for garbage in ["", "abc", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "....", &"x".repeat(20_000)] {
        assert!(SITE.verify(garbage, Kind::Bulk, TENANT, now()).is_err(), "{garbage:.40}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(ProptestConfig::default().cases.max(256)))]
    /// Any string, and any mangling of a good token, gets a `TokenError`, never a panic.
    #[test]
    fn any_token_gets_an_answer(s in ".{0,300}", cut in 0usize..600, flip in 0usize..600, byte in any::<u8>()) {
        let _ = SITE.verify(&s, Kind::Bulk, TENANT, now());
        let t = now().unix_timestamp();
        let good = SITE.sign(&Claims::bulk(TENANT, "db591e33-06fd-4c5b-82f3-bf673e5bd0a2", t, t + 600)).unwrap();
        let mut bytes = good.into_bytes();
        bytes.truncate(cut.max(1).min(bytes.len()));
        let i = flip % bytes.len();
        bytes[i] = byte;
        let mangled = String::from_utf8_lossy(&bytes).into_owned();
        let _ = SITE.verify(&mangled, Kind::Bulk, TENANT, now());
        let _ = decode(&mangled);
    }
}
