//! SplitMix64 (Steele, Lea, Flood 2014): the one mixer for everything memsim derives
//! deterministically from the world seed (certificate serials, package bytes, task ids). Not
//! cryptographic, and it does not need to be.

/// The golden-ratio increment of SplitMix64.
pub(crate) const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// One SplitMix64 output for input `x` (the state after its increment is `x + GOLDEN`).
pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
