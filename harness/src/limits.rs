//! Process limits memsim sets for itself at start (issue 11: a world's listeners ran into the
//! default soft limit of 1,024 descriptors long before their own connection caps).
//!
//! The soft `RLIMIT_NOFILE` is raised to the hard limit (at most [`NOFILE_CEILING`], the
//! kernel's usual `nr_open`), as servers commonly do: the hard limit is what the administrator
//! allows; the soft default of 1,024 is a leftover of `select(2)`, which memsim does not use.
//! Through rustix, a safe wrapper already in the tree (the workspace forbids `unsafe`).

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// The highest soft limit memsim asks for (Linux refuses more than `fs.nr_open`, 1,048,576 by default).
pub const NOFILE_CEILING: u64 = 1 << 20;

/// Raise the soft descriptor limit toward the hard one; gives the soft limit now in force
/// (`None`: unlimited). A refusal leaves the limit as it was.
pub fn raise_nofile() -> Option<u64> {
    let limit = getrlimit(Resource::Nofile);
    let want = limit.maximum.unwrap_or(NOFILE_CEILING).min(NOFILE_CEILING);
    match limit.current {
        Some(current) if current < want => match setrlimit(Resource::Nofile, Rlimit { current: Some(want), maximum: limit.maximum }) {
            Ok(()) => Some(want),
            Err(_) => Some(current),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_reaches_the_hard_one() {
        let now = raise_nofile();
        let limit = getrlimit(Resource::Nofile);
        assert_eq!(now, limit.current);
        if let Some(current) = limit.current {
            assert!(current >= limit.maximum.unwrap_or(NOFILE_CEILING).min(NOFILE_CEILING), "{limit:?}");
        }
    }
}
