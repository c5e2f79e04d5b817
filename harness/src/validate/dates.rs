//! The dates a world's PKI will write, checked before it is built (issue 11: `now =
//! "9999-12-31T23:59:59Z"`, `now = "0001-01-01T00:00:00Z"`, `skew = "100000000d"`, `pki.expired
//! since = "100000000d"` and `pki.not_valid_yet until = "3000000d"` passed `check` and panicked).
//!
//! Every certificate date lies in 1950..=9999: RFC 5280 §4.1.2.5 writes years up to 2049 as
//! UTCTime (from 1950) and later ones as GeneralizedTime (four digits). OCSP answers
//! (RFC 6960) carry GeneralizedTime built from seconds since 1970, so what an OCSP answer dates
//! — now, a revocation, a stale answer's thisUpdate — lies from 1970. The spans come from the
//! catalog's pki.toml: the validity windows around now and the CRL/OCSP lifetimes.

use mock_cloud::Catalog;
use scenarios::{CertLevel, CertTarget, Fault, PkiFault, Problem, Scenario, ServiceEffect, ServiceFault, SimDuration, place};
use time::OffsetDateTime;
use time::macros::datetime;

/// The first date a certificate or CRL can carry.
pub const EARLIEST_CERT: OffsetDateTime = datetime!(1950-01-01 0:00 UTC);
/// The first date an OCSP answer can carry.
pub const EARLIEST_OCSP: OffsetDateTime = datetime!(1970-01-01 0:00 UTC);
/// The last date any of them can carry.
pub const LATEST: OffsetDateTime = datetime!(9999-12-31 23:59:59 UTC);

fn later(t: OffsetDateTime, d: SimDuration) -> Option<OffsetDateTime> {
    t.checked_add(time::Duration::try_from(d.0).ok()?).filter(|t| *t <= LATEST)
}

fn earlier(t: OffsetDateTime, d: SimDuration) -> Option<OffsetDateTime> {
    t.checked_sub(time::Duration::try_from(d.0).ok()?)
}

fn day(t: OffsetDateTime) -> String {
    t.date().to_string()
}

/// Date problems of a scenario, with the world's now taken from the wall clock when the
/// scenario gives none (as `World::start` does).
pub fn problems(s: &Scenario, catalog: &Catalog) -> Vec<Problem> {
    problems_at(s, catalog, OffsetDateTime::now_utc())
}

pub fn problems_at(s: &Scenario, catalog: &Catalog, wall_now: OffsetDateTime) -> Vec<Problem> {
    let pki = &catalog.pki;
    let v = pki.validity;
    let windows = [v.root, v.intermediate, v.leaf];
    let before = windows.iter().map(|w| w.before).max().unwrap_or_default();
    let after = [pki.revocation.crl_validity, pki.revocation.ocsp_validity].into_iter().chain(windows.iter().map(|w| w.after)).max().unwrap_or_default();
    // The world's now must leave room for every healthy certificate and answer around it.
    let lowest = later(EARLIEST_CERT, before).map_or(EARLIEST_OCSP, |t| t.max(EARLIEST_OCSP));
    let highest = earlier(LATEST, after).map_or(LATEST, |t| t.min(scenarios::Clock::LATEST));
    let w = &s.world;
    let start = w.now.unwrap_or(wall_now);
    let now = w.skew.map_or(Some(start), |skew| later(start, skew)).filter(|n| (lowest..=highest).contains(n));
    let Some(now) = now else {
        let why = format!(
            "the world's certificates (valid {before} before to {after} after now, pki.toml) must be dated within {}..{} (X.509), so now (plus skew) must lie from {} to {}",
            day(EARLIEST_CERT),
            day(LATEST),
            day(lowest),
            day(highest)
        );
        let key = if w.now.is_some_and(|n| !(lowest..=highest).contains(&n)) || w.skew.is_none() { "now" } else { "skew" };
        return vec![Problem::new(place!["world", key], why)];
    };
    let mut problems = Vec::new();
    for (i, fault) in s.faults.iter().enumerate() {
        let found = match fault {
            Fault::Pki(f) => pki_fault(f, now, catalog),
            Fault::Service(ServiceFault { effect: ServiceEffect::OcspStale { since }, .. }) => {
                floor("since", now, pki.revocation.ocsp_validity, *since, EARLIEST_OCSP, "a stale OCSP answer's thisUpdate (now − ocsp_validity − since)")
            }
            Fault::Service(ServiceFault { effect: ServiceEffect::CrlStale { since }, .. }) => {
                floor("since", now, pki.revocation.crl_validity, *since, EARLIEST_CERT, "a stale CRL's thisUpdate (now − crl_validity − since)")
            }
            _ => None,
        };
        problems.extend(found.map(|(key, m)| Problem::new(place!["fault", i, key], m)));
    }
    problems
}

/// `now − fixed − value` must not fall before `earliest`; `value` is the scenario's, at `key`.
fn floor(
    key: &'static str,
    now: OffsetDateTime,
    fixed: SimDuration,
    value: SimDuration,
    earliest: OffsetDateTime,
    what: &str,
) -> Option<(&'static str, String)> {
    if earlier(now, fixed).and_then(|t| earlier(t, value)).is_some_and(|t| t >= earliest) {
        return None;
    }
    let room = time::Duration::try_from(fixed.0).map_or(time::Duration::ZERO, |f| now - earliest - f);
    Some((key, format!("{what} would lie before {}; with the world's now of {} `{key}` may be at most {}d", day(earliest), day(now), room.whole_days().max(0))))
}

/// The validity window of the certificates a fault changes.
fn window(f: &PkiFault, catalog: &Catalog) -> Option<SimDuration> {
    let v = catalog.pki.validity;
    let w = match f.target() {
        CertTarget::Hosts(_, CertLevel::Leaf) => v.leaf,
        CertTarget::Hosts(_, CertLevel::Intermediate) => v.intermediate,
        CertTarget::Hosts(_, CertLevel::Root) => v.root,
        CertTarget::Ca(id) => {
            if catalog.pki.cas.iter().find(|c| c.id == id)?.is_root() {
                v.root
            } else {
                v.intermediate
            }
        }
    };
    Some(SimDuration(w.span()))
}

fn pki_fault(f: &PkiFault, now: OffsetDateTime, catalog: &Catalog) -> Option<(&'static str, String)> {
    let span = window(f, catalog)?;
    match f {
        PkiFault::Expired { since, .. } => {
            floor("since", now, span, *since, EARLIEST_CERT, &format!("the expired certificate's notBefore (now − since − its {span} validity)"))
        }
        PkiFault::Revoked { since, .. } => {
            floor("since", now, SimDuration::ZERO, *since, EARLIEST_OCSP, "the revocation date (now − since), which OCSP answers carry,")
        }
        PkiFault::Staple { since, .. } => {
            let validity = catalog.pki.revocation.ocsp_validity;
            floor("since", now, validity, *since, EARLIEST_OCSP, &format!("the stale staple's thisUpdate (now − since − its {validity} validity)"))
        }
        PkiFault::NotValidYet { until, .. } => {
            let end = later(now, *until).and_then(|t| later(t, span));
            end.is_none().then(|| {
                let room = time::Duration::try_from(span.0).map_or(time::Duration::ZERO, |s| LATEST - now - s);
                let message = format!(
                    "the certificate's notAfter (now + until + its {span} validity) would lie after {}; with the world's now of {} `until` may be at most {}d",
                    day(LATEST),
                    day(now),
                    room.whole_days().max(0)
                );
                ("until", message)
            })
        }
        _ => None,
    }
}
