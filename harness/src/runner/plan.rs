//! Which scenarios this machine runs and in what order (issue 18): `--partition count:K/N` and
//! `hash:K/N` as cargo-nextest defines them (nexte.st, "Partitioning test runs in CI"), and
//! `--shuffle SEED`.
//!
//! - `count:K/N`: the selection sorted by name, scenario `i` (from 0) runs on shard `i % N + 1`
//!   — round-robin, so shards are even; adding a scenario may move others.
//! - `hash:K/N`: scenario runs on shard `xxh64(name, seed 0) % N + 1` — nextest's hash, written
//!   out here so it is the same on every machine, Rust version and run (std's `DefaultHasher`
//!   promises none of that); adding a scenario never moves another.
//!
//! Both apply after every other selection (paths, `--filter`), like nextest's.

use std::fmt;
use std::str::FromStr;

/// One shard of N, as `--partition` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partition {
    Count { shard: u64, total: u64 },
    Hash { shard: u64, total: u64 },
}

impl FromStr for Partition {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let usage = "give `count:K/N` or `hash:K/N` with 1 <= K <= N, e.g. count:1/4";
        let (kind, shards) = s.split_once(':').ok_or_else(|| format!("`{s}` is not a partition: {usage}"))?;
        let (k, n) = shards.split_once('/').ok_or_else(|| format!("`{s}`: expected K/N after `{kind}:`; {usage}"))?;
        let number = |x: &str, what: &str| x.parse::<u64>().map_err(|_| format!("`{s}`: the {what} `{x}` is not a whole number; {usage}"));
        let (shard, total) = (number(k, "shard")?, number(n, "shard count")?);
        if total == 0 || !(1..=total).contains(&shard) {
            return Err(format!("`{s}`: shard {shard} must lie between 1 and the shard count {total}, inclusive"));
        }
        match kind {
            "count" => Ok(Partition::Count { shard, total }),
            "hash" => Ok(Partition::Hash { shard, total }),
            other => Err(format!("`{s}`: unknown partition kind `{other}`; {usage}")),
        }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Partition::Count { shard, total } => write!(f, "count:{shard}/{total}"),
            Partition::Hash { shard, total } => write!(f, "hash:{shard}/{total}"),
        }
    }
}

impl Partition {
    /// The items of this shard, in their given order. `name` gives each item's scenario name;
    /// counting goes by the names sorted, so the caller's order does not move a scenario
    /// between shards.
    pub fn select<T>(&self, items: Vec<T>, name: impl Fn(&T) -> &str) -> Vec<T> {
        match *self {
            Partition::Count { shard, total } => {
                let mut names: Vec<String> = items.iter().map(|i| name(i).to_string()).collect();
                names.sort();
                let index = |n: &str| names.binary_search_by(|x| x.as_str().cmp(n)).unwrap_or(0) as u64;
                items.into_iter().filter(|i| index(name(i)) % total == shard - 1).collect()
            }
            Partition::Hash { shard, total } => items.into_iter().filter(|i| xxh64(name(i).as_bytes(), 0) % total == shard - 1).collect(),
        }
    }
}

/// `--shuffle SEED`: the items sorted by name, then in a Fisher–Yates order drawn from
/// SplitMix64 seeded with SEED — the same order for the same seed and selection everywhere.
pub fn shuffle<T>(items: &mut [T], seed: u64, name: impl Fn(&T) -> &str) {
    items.sort_by(|a, b| name(a).cmp(name(b)));
    let mut state = seed;
    for i in (1..items.len()).rev() {
        let j = (splitmix64(&mut state) % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014), the reference constants.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const P1: u64 = 0x9E37_79B1_85EB_CA87;
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const P3: u64 = 0x1656_67B1_9E37_79F9;
const P4: u64 = 0x85EB_CA77_C2B2_AE63;
const P5: u64 = 0x27D4_EB2F_1656_67C5;

fn round(acc: u64, lane: u64) -> u64 {
    acc.wrapping_add(lane.wrapping_mul(P2)).rotate_left(31).wrapping_mul(P1)
}

fn merge(acc: u64, val: u64) -> u64 {
    (acc ^ round(0, val)).wrapping_mul(P1).wrapping_add(P4)
}

fn u64_at(b: &[u8]) -> u64 {
    u64::from_le_bytes(b[..8].try_into().expect("8 bytes"))
}

/// XXH64 as its specification (Cyan4973/xxHash, doc/xxhash_spec.md) defines it: the hash
/// cargo-nextest's `hash:` partitions by.
pub fn xxh64(input: &[u8], seed: u64) -> u64 {
    let mut rest = input;
    let mut h = if input.len() >= 32 {
        let mut v = [seed.wrapping_add(P1).wrapping_add(P2), seed.wrapping_add(P2), seed, seed.wrapping_sub(P1)];
        while rest.len() >= 32 {
            for (i, lane) in v.iter_mut().enumerate() {
                *lane = round(*lane, u64_at(&rest[i * 8..]));
            }
            rest = &rest[32..];
        }
        let h = v[0].rotate_left(1).wrapping_add(v[1].rotate_left(7)).wrapping_add(v[2].rotate_left(12)).wrapping_add(v[3].rotate_left(18));
        v.iter().fold(h, |h, lane| merge(h, *lane))
    } else {
        seed.wrapping_add(P5)
    };
    h = h.wrapping_add(input.len() as u64);
    while rest.len() >= 8 {
        h = (h ^ round(0, u64_at(rest))).rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
        rest = &rest[8..];
    }
    if rest.len() >= 4 {
        let word = u64::from(u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")));
        h = (h ^ word.wrapping_mul(P1)).rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
        rest = &rest[4..];
    }
    for &byte in rest {
        h = (h ^ u64::from(byte).wrapping_mul(P5)).rotate_left(11).wrapping_mul(P1);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(P2);
    h ^= h >> 29;
    h = h.wrapping_mul(P3);
    h ^ (h >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    // issue 18: the reference vectors of XXH64 (xxHash's own sanity checks and python-xxhash),
    // covering every tail length path and the 32-byte stripe loop.
    #[test]
    fn xxh64_matches_the_reference_vectors() {
        assert_eq!(xxh64(b"", 0), 0xEF46_DB37_51D8_E999);
        assert_eq!(xxh64(b"a", 0), 0xD24E_C4F1_A98C_6E5B);
        assert_eq!(xxh64(b"abc", 0), 0x44BC_2CF5_AD77_0999);
        assert_eq!(xxh64(b"Nobody inspects the spammish repetition", 0), 0xFBCE_A83C_8A37_8BF1);
        assert_eq!(xxh64(b"xxhash", 20141025), 0xB559_B98D_844E_0635);
    }

    #[test]
    fn partitions_parse_as_nextest_writes_them() {
        assert_eq!("count:1/4".parse(), Ok(Partition::Count { shard: 1, total: 4 }));
        assert_eq!("hash:99/200".parse(), Ok(Partition::Hash { shard: 99, total: 200 }));
        assert_eq!("hash:1/1".parse::<Partition>().map(|p| p.to_string()), Ok("hash:1/1".into()));
        for bad in
            ["foo", "hash", "hash:", "hash:1", "hash:1/", "hash:0/2", "hash:3/2", "hash:m/2", "hash:1/n", "hash:1/2/3", "count:1/0", "slice:1/2", "count:-1/2"]
        {
            assert!(bad.parse::<Partition>().is_err(), "{bad} must be refused");
        }
        assert!("count:5/4".parse::<Partition>().unwrap_err().contains("between 1 and the shard count 4"));
    }

    #[test]
    fn shards_cover_every_item_once_whatever_the_input_order() {
        let names: Vec<String> = (0..37).map(|i| format!("scenario-{i:02}")).collect();
        for total in 1..=6 {
            for make in [|k, n| Partition::Count { shard: k, total: n }, |k, n| Partition::Hash { shard: k, total: n }] {
                let mut seen: Vec<String> = Vec::new();
                let mut reversed = names.clone();
                reversed.reverse();
                for k in 1..=total {
                    let shard = make(k, total).select(names.clone(), |s| s.as_str());
                    let mut again = make(k, total).select(reversed.clone(), |s| s.as_str());
                    again.reverse();
                    assert_eq!(shard, again, "a shard must not depend on the input order");
                    seen.extend(shard);
                }
                seen.sort();
                assert_eq!(seen, names, "{total} shards");
            }
        }
    }

    #[test]
    fn a_seed_gives_one_order() {
        let names: Vec<String> = (0..20).map(|i| format!("s{i}")).collect();
        let (mut a, mut b, mut c) = (names.clone(), names.iter().rev().cloned().collect::<Vec<_>>(), names.clone());
        shuffle(&mut a, 7, |s| s.as_str());
        shuffle(&mut b, 7, |s| s.as_str());
        shuffle(&mut c, 8, |s| s.as_str());
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mut sorted_back = a.clone();
        sorted_back.sort();
        let mut all = names;
        all.sort();
        assert_eq!(sorted_back, all, "a shuffle keeps every item");
    }
}
