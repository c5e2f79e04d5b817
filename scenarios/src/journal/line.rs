//! An event's JSON line, written straight from its [`NewEvent`] (issue 20: the journal used to
//! build a map and an [`Event`] per event and serialize that). The bytes are exactly what
//! `serde_json::to_string(&Event)` gives for the same event — fields in `Event`'s order, `host`,
//! `fault` and an empty `detail` left out, details sorted by key with the last of a repeated
//! key winning (serde_json's map is a `BTreeMap`), every string and number written by
//! serde_json itself — and the tests hold the two side by side.
//!
//! The part after the stamp (`body`) is written before the journal takes its lock; only the
//! stamp (`seq`, times) is written under it.

use std::io::Write as _;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Event, NewEvent};

/// Sort `e`'s details by key (stable: repeated keys keep their order), so that the last of
/// each repeated key is the one [`body`] and [`event`] keep.
pub(super) fn sort_details(e: &mut NewEvent) {
    if !e.detail.is_sorted_by(|a, b| a.0 < b.0) {
        e.detail.sort_by(|a, b| a.0.cmp(&b.0));
    }
}

/// The details to write: sorted (see [`sort_details`]), each repeated key's last value only.
fn kept(detail: &[(String, Value)]) -> impl Iterator<Item = &(String, Value)> {
    detail.iter().enumerate().filter(move |(i, (k, _))| detail.get(i + 1).is_none_or(|(next, _)| next != k)).map(|(_, d)| d)
}

fn json(out: &mut Vec<u8>, v: &(impl serde::Serialize + ?Sized)) {
    serde_json::to_writer(out, v).expect("events serialize");
}

/// `"component":…,"what":…[,"host":…][,"fault":…][,"detail":{…}]}` for an event whose details
/// are sorted.
pub(super) fn body(e: &NewEvent, out: &mut Vec<u8>) {
    out.extend_from_slice(b"\"component\":\"");
    out.extend_from_slice(e.component.as_str().as_bytes());
    out.extend_from_slice(b"\",\"what\":");
    json(out, e.what.as_str());
    if let Some(host) = &e.host {
        out.extend_from_slice(b",\"host\":");
        json(out, host.as_str());
    }
    if let Some(fault) = e.fault {
        out.extend_from_slice(b",\"fault\":");
        json(out, fault);
    }
    if !e.detail.is_empty() {
        out.extend_from_slice(b",\"detail\":{");
        for (i, (k, v)) in kept(&e.detail).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json(out, k.as_str());
            out.push(b':');
            json(out, v);
        }
        out.push(b'}');
    }
    out.push(b'}');
}

/// The whole line: the stamp, then `body`.
pub(super) fn stamped(seq: u64, sim_time: OffsetDateTime, wall_ms: f64, body: &[u8]) -> Box<str> {
    let mut head = Vec::with_capacity(96);
    head.extend_from_slice(b"{\"seq\":");
    write!(head, "{seq}").expect("a Vec takes it");
    head.extend_from_slice(b",\"sim_time\":\"");
    sim_time.format_into(&mut head, &Rfc3339).expect("events serialize");
    head.extend_from_slice(b"\",\"wall_ms\":");
    json(&mut head, &wall_ms);
    head.push(b',');
    let mut line = Vec::with_capacity(head.len() + body.len());
    line.extend_from_slice(&head);
    line.extend_from_slice(body);
    String::from_utf8(line).expect("JSON is UTF-8").into_boxed_str()
}

/// The event as listeners get it (the same fields the line has).
pub(super) fn event(seq: u64, sim_time: OffsetDateTime, wall_ms: f64, e: NewEvent) -> Event {
    let mut detail = Map::new();
    for (k, v) in e.detail {
        detail.insert(k, v);
    }
    Event { seq, sim_time, wall_ms, component: e.component, what: e.what, host: e.host, fault: e.fault.map(str::to_string), detail }
}
