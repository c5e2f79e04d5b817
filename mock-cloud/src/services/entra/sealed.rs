//! The authority's opaque grants — refresh tokens, authorization codes, device codes — sealed
//! with an HMAC-SHA256 key made per world, so the authority keeps no table of them and a client
//! cannot forge or alter one. Real Entra's are opaque encrypted blobs; clients never look
//! inside (protocols.md §7: libhimmelblau only passes them back), so memsim's format is its
//! own: `<kind>.<base64url JSON>.<base64url MAC>`.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The longest sealed grant accepted (a refresh token is about 300 bytes).
const MAX_LEN: usize = 8 * 1024;

/// One world's sealing key.
#[derive(Clone)]
pub struct Sealer(Arc<ring::hmac::Key>);

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Default for Sealer {
    fn default() -> Self {
        let mut key = [0u8; 32];
        // Without OS randomness the key is all zeros: grants stay unforgeable only to clients
        // that do not know memsim; a world still works.
        let _ = getrandom::fill(&mut key);
        Sealer(Arc::new(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key)))
    }
}

impl Sealer {
    /// Seal `claims` as a grant of `kind` (`rt`, `code`, `dc`).
    pub fn seal(&self, kind: &str, claims: &serde_json::Value) -> String {
        let body = format!("{kind}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
        let tag = ring::hmac::sign(&self.0, body.as_bytes());
        format!("{body}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// The claims of a grant of `kind` this world sealed; `None` for anything else.
    pub fn open(&self, kind: &str, grant: &str) -> Option<serde_json::Value> {
        if grant.len() > MAX_LEN {
            return None;
        }
        let (body, tag) = grant.rsplit_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        ring::hmac::verify(&self.0, body.as_bytes(), &tag).ok()?;
        let (k, json) = body.split_once('.')?;
        (k == kind).then_some(())?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(json).ok()?).ok()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn grants_open_only_as_sealed_by_this_world() {
        let s = Sealer::default();
        let g = s.seal("rt", &serde_json::json!({"oid": "x"}));
        assert_eq!(s.open("rt", &g).unwrap()["oid"], "x");
        assert!(s.open("code", &g).is_none(), "a refresh token is no code");
        assert!(Sealer::default().open("rt", &g).is_none(), "another world's key");
        let (body, _) = g.rsplit_once('.').unwrap();
        let forged = format!("rt.{}.{}", URL_SAFE_NO_PAD.encode(r#"{"oid":"admin"}"#), body.rsplit_once('.').unwrap().1);
        assert!(s.open("rt", &forged).is_none());
    }

    proptest! {
        #[test]
        fn any_string_opens_or_is_refused(g in "\\PC{0,300}") {
            prop_assert!(Sealer::default().open("rt", &g).is_none());
        }
    }
}
