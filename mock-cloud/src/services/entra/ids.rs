//! GUIDs as Entra writes them (lower-case `8-4-4-4-12`): random ones for trace ids and token
//! ids, and stable ones derived from a name, so a user a scenario adds keeps one object id in
//! every world built from that scenario.

/// Sixteen bytes as a version-4-shaped GUID string.
fn format(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// A fresh random GUID (the OS's randomness; all zeros if it has none, which only makes trace
/// ids collide).
pub fn random_guid() -> String {
    let mut b = [0u8; 16];
    let _ = getrandom::fill(&mut b);
    format(b)
}

/// A GUID derived from `name` (SHA-256), the same for the same name.
pub fn derived_guid(name: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, name.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d.as_ref()[..16]);
    format(b)
}

pub fn is_guid(s: &str) -> bool {
    scenarios::validate::is_guid(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_are_well_formed_and_derived_ones_stable() {
        assert!(is_guid(&random_guid()));
        assert_eq!(derived_guid("a@b.c"), derived_guid("a@b.c"));
        assert_ne!(derived_guid("a@b.c"), derived_guid("a@b.d"));
        assert!(is_guid(&derived_guid("x")));
    }
}
