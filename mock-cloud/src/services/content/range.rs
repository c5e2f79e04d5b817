//! `Range` and `If-Range` for one representation of known size (RFC 9110 §14, protocols.md §11).
//!
//! memsim answers single byte ranges with 206. It rejects what it cannot satisfy with 416 and
//! `Content-Range: bytes */SIZE`, as the brief and nginx do: a range starting at or beyond the
//! end, a zero-length suffix, and a malformed byte range such as `bytes=9-3` (RFC 9110 §14.2
//! lets a server "ignore or reject" an invalid ranges-specifier; rejecting tells the client why).
//! It ignores, and so answers 200 with the whole body: a unit other than `bytes` (§14.2: MUST
//! ignore), a request for several ranges (§14.2: MAY ignore; multipart/byteranges is optional,
//! protocols.md §11), and a Range whose `If-Range` validator no longer matches (§13.1.5).

/// What a request's `Range` asks of a representation of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOutcome {
    /// No range, or one the server ignores: 200 with the whole body.
    Full,
    /// One satisfiable range, both ends inclusive: 206.
    Partial { first: u64, last: u64 },
    /// 416 with `Content-Range: bytes */size`.
    Unsatisfiable,
}

/// Interpret a `Range` header value against `size` bytes. Never panics, on any input.
pub fn parse(value: &str, size: u64) -> RangeOutcome {
    let value = value.trim();
    let Some((unit, set)) = value.split_once('=') else {
        return RangeOutcome::Unsatisfiable;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        // An unknown range unit: RFC 9110 §14.2 says the server MUST ignore the field.
        return if is_token(unit.trim()) { RangeOutcome::Full } else { RangeOutcome::Unsatisfiable };
    }
    let specs: Vec<&str> = set.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    match specs.as_slice() {
        [one] => single(one, size),
        [] => RangeOutcome::Unsatisfiable,
        // Several ranges: every one must be well formed, then the whole body is sent.
        many if many.iter().all(|s| !matches!(single(s, u64::MAX), RangeOutcome::Unsatisfiable)) => RangeOutcome::Full,
        _ => RangeOutcome::Unsatisfiable,
    }
}

/// One `first-last`, `first-` or `-suffix`.
fn single(spec: &str, size: u64) -> RangeOutcome {
    let Some((a, b)) = spec.split_once('-') else { return RangeOutcome::Unsatisfiable };
    let (a, b) = (a.trim(), b.trim());
    match (number(a), number(b)) {
        (Some(first), Some(last)) if !a.is_empty() && !b.is_empty() => {
            if last < first || first >= size {
                RangeOutcome::Unsatisfiable
            } else {
                RangeOutcome::Partial { first, last: last.min(size - 1) }
            }
        }
        (Some(first), None) if !a.is_empty() && b.is_empty() => {
            if first >= size {
                RangeOutcome::Unsatisfiable
            } else {
                RangeOutcome::Partial { first, last: size - 1 }
            }
        }
        (None, Some(suffix)) if a.is_empty() && !b.is_empty() => {
            if suffix == 0 || size == 0 {
                RangeOutcome::Unsatisfiable
            } else {
                RangeOutcome::Partial { first: size.saturating_sub(suffix), last: size - 1 }
            }
        }
        _ => RangeOutcome::Unsatisfiable,
    }
}

/// Decimal digits only; a value too large for u64 saturates (it is beyond any size anyway).
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |n, d| n.saturating_mul(10).saturating_add(u64::from(d - b'0'))))
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Does `If-Range` (RFC 9110 §13.1.5) still name this representation? A strong entity-tag must
/// equal ours exactly (a weak one never matches); an HTTP-date must equal Last-Modified.
pub fn if_range_matches(value: &str, etag: &str, last_modified: &str) -> bool {
    let v = value.trim();
    if v.starts_with("W/") {
        false
    } else if v.starts_with('"') {
        v == etag
    } else {
        match (httpdate::parse_http_date(v), httpdate::parse_http_date(last_modified)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::RangeOutcome::*;
    use super::*;

    #[test]
    fn the_forms_of_rfc_9110() {
        assert_eq!(parse("bytes=0-99", 1000), Partial { first: 0, last: 99 });
        assert_eq!(parse("bytes=900-", 1000), Partial { first: 900, last: 999 });
        assert_eq!(parse("bytes=-100", 1000), Partial { first: 900, last: 999 });
        assert_eq!(parse("bytes=-5000", 1000), Partial { first: 0, last: 999 });
        assert_eq!(parse("bytes=990-5000", 1000), Partial { first: 990, last: 999 });
        assert_eq!(parse("Bytes = 5 - 9 ", 1000), Partial { first: 5, last: 9 });
    }

    #[test]
    fn unsatisfiable_and_malformed_ranges_are_rejected() {
        for v in ["bytes=9-3", "bytes=1000-", "bytes=1000-2000", "bytes=-0", "bytes=", "bytes=-", "bytes=a-b", "bytes=1-2-3", "nonsense", "bytes=0x10-"] {
            assert_eq!(parse(v, 1000), Unsatisfiable, "{v}");
        }
        assert_eq!(parse("bytes=-1", 0), Unsatisfiable);
        assert_eq!(parse("bytes=99999999999999999999999-", 1000), Unsatisfiable);
    }

    #[test]
    fn other_units_and_multiple_ranges_are_ignored() {
        assert_eq!(parse("items=0-5", 1000), Full);
        assert_eq!(parse("bytes=0-1,5-9", 1000), Full);
        assert_eq!(parse("bytes=0-1, 9-3", 1000), Unsatisfiable);
    }

    #[test]
    fn if_range_needs_the_strong_etag_or_the_exact_date() {
        let (etag, lm) = ("\"0x8D1\"", "Wed, 21 Oct 2015 07:28:00 GMT");
        assert!(if_range_matches("\"0x8D1\"", etag, lm));
        assert!(!if_range_matches("W/\"0x8D1\"", etag, lm));
        assert!(!if_range_matches("\"0x8D2\"", etag, lm));
        assert!(if_range_matches("Wed, 21 Oct 2015 07:28:00 GMT", etag, lm));
        assert!(!if_range_matches("Wed, 21 Oct 2015 07:28:01 GMT", etag, lm));
        assert!(!if_range_matches("garbage", etag, lm));
    }

    proptest! {
        #[test]
        fn never_panics_and_partials_lie_inside(value in ".{0,40}", size in 0u64..5000) {
            if let Partial { first, last } = parse(&value, size) {
                prop_assert!(first <= last && last < size);
            }
        }

        #[test]
        fn well_formed_ranges_are_exact(first in 0u64..10_000, len in 1u64..10_000, size in 1u64..20_000) {
            let last = first + len - 1;
            let got = parse(&format!("bytes={first}-{last}"), size);
            if first >= size {
                prop_assert_eq!(got, Unsatisfiable);
            } else {
                prop_assert_eq!(got, Partial { first, last: last.min(size - 1) });
            }
        }
    }
}
