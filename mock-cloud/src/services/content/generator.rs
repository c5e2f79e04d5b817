//! Deterministic package bytes with random access: byte `i` of a package depends only on the
//! world seed, the package name and `i`, so any range is generated on demand and nothing is
//! stored. Each 8-byte word is SplitMix64 (Steele, Lea & Flood 2014) of a counter keyed by
//! (seed, name): fast (several GB/s), and as featureless as the encrypted .intunewin content it
//! stands for. Not cryptographic, and it does not need to be.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::mix::{GOLDEN, splitmix64};

/// FNV-1a, to turn a package name into a key.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The bytes of one package in one world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generator {
    key: u64,
}

impl Generator {
    pub fn new(seed: u64, name: &str) -> Generator {
        Generator { key: splitmix64(fnv1a(name) ^ seed.rotate_left(29)) }
    }

    pub fn key(&self) -> u64 {
        self.key
    }

    fn word(&self, i: u64) -> [u8; 8] {
        splitmix64(self.key ^ i.wrapping_mul(GOLDEN)).to_le_bytes()
    }

    /// Fill `buf` with the bytes at `offset..offset + buf.len()`.
    pub fn fill(&self, offset: u64, buf: &mut [u8]) {
        let mut pos = offset;
        let mut out = buf;
        // A leading partial word.
        let skip = (pos % 8) as usize;
        if skip != 0 && !out.is_empty() {
            let w = self.word(pos / 8);
            let n = (8 - skip).min(out.len());
            out[..n].copy_from_slice(&w[skip..skip + n]);
            out = &mut out[n..];
            pos += n as u64;
        }
        let mut index = pos / 8;
        let mut chunks = out.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.word(index));
            index += 1;
        }
        let tail = chunks.into_remainder();
        if !tail.is_empty() {
            let n = tail.len();
            tail.copy_from_slice(&self.word(index)[..n]);
        }
    }

    /// A strong entity-tag in Azure Blob's style: `"0x8D` and 13 hex digits.
    pub fn etag(&self, size: u64) -> String {
        format!("\"0x8D{:013X}\"", splitmix64(self.key ^ size) & 0x000F_FFFF_FFFF_FFFF)
    }

    /// The SHA-256 of the first `size` bytes, hex; stops early (empty string) when `cancel` is set.
    pub fn sha256(&self, size: u64, cancel: &AtomicBool) -> String {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        let mut buf = vec![0u8; 1 << 20];
        let mut pos = 0;
        while pos < size {
            if cancel.load(Ordering::Relaxed) {
                return String::new();
            }
            let n = (size - pos).min(buf.len() as u64) as usize;
            self.fill(pos, &mut buf[..n]);
            ctx.update(&buf[..n]);
            pos += n as u64;
        }
        ctx.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_range_equals_the_same_slice_of_the_whole() {
        let g = Generator::new(7, "pkg");
        let mut whole = vec![0u8; 1000];
        g.fill(0, &mut whole);
        for (start, len) in [(0, 1), (3, 5), (7, 9), (8, 8), (13, 200), (999, 1), (5, 0)] {
            let mut part = vec![0u8; len];
            g.fill(start as u64, &mut part);
            assert_eq!(part, whole[start..start + len], "{start}+{len}");
        }
    }

    #[test]
    fn seed_and_name_change_the_bytes_and_the_etag() {
        let (a, b, c) = (Generator::new(0, "a"), Generator::new(1, "a"), Generator::new(0, "b"));
        let bytes = |g: &Generator| {
            let mut v = vec![0u8; 64];
            g.fill(0, &mut v);
            v
        };
        assert_ne!(bytes(&a), bytes(&b));
        assert_ne!(bytes(&a), bytes(&c));
        assert_eq!(bytes(&a), bytes(&Generator::new(0, "a")));
        assert_ne!(a.etag(10), b.etag(10));
        assert!(a.etag(10).starts_with("\"0x8D") && a.etag(10).len() == 19);
    }

    #[test]
    fn sha256_matches_a_one_shot_digest() {
        let g = Generator::new(3, "x");
        let mut v = vec![0u8; (1 << 20) + 12345];
        g.fill(0, &mut v);
        let want: String = ring::digest::digest(&ring::digest::SHA256, &v).as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(g.sha256(v.len() as u64, &AtomicBool::new(false)), want);
        assert_eq!(g.sha256(10, &AtomicBool::new(true)), "");
    }
}
