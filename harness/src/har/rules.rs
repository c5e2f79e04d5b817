//! HAR 1.2's field rules, as a check of any HAR document (memsim's own, in its tests): the
//! required fields of `log`, `creator`, `entries`, `request`, `response`, `content`, `timings`,
//! their JSON types, `startedDateTime` in ISO 8601 with a zone, `-1` as the only negative
//! timing (and only for blocked, dns, connect, ssl), `time` the sum of the known timings, and
//! custom fields starting with an underscore.

use serde_json::Value;

/// Every rule `har` breaks, as `path: what is wrong` (empty: a valid HAR 1.2 document).
pub fn violations(har: &Value) -> Vec<String> {
    let mut v = Vec::new();
    let Some(log) = har.get("log").and_then(Value::as_object) else {
        return vec!["log: missing or not an object".into()];
    };
    if log.get("version").and_then(Value::as_str) != Some("1.2") {
        v.push("log.version: not \"1.2\"".into());
    }
    let creator = log.get("creator");
    for key in ["name", "version"] {
        if creator.and_then(|c| c.get(key)).and_then(Value::as_str).is_none() {
            v.push(format!("log.creator.{key}: missing or not a string"));
        }
    }
    custom_only(&mut v, "log", log, &["version", "creator", "browser", "pages", "entries", "comment"]);
    let mut page_ids = Vec::new();
    if let Some(pages) = log.get("pages") {
        for (i, p) in pages.as_array().into_iter().flatten().enumerate() {
            let at = format!("log.pages[{i}]");
            if let Some(s) = need(&mut v, &at, p, "startedDateTime", Value::is_string, "a string")
                && !is_iso8601(s.as_str().unwrap_or_default())
            {
                v.push(format!("{at}.startedDateTime: `{s}` is not ISO 8601 with a zone"));
            }
            if let Some(id) = need(&mut v, &at, p, "id", Value::is_string, "a string") {
                page_ids.push(id.clone());
            }
            need(&mut v, &at, p, "title", Value::is_string, "a string");
            need(&mut v, &at, p, "pageTimings", Value::is_object, "an object");
        }
        if !pages.is_array() {
            v.push("log.pages: not an array".into());
        }
    }
    let Some(entries) = log.get("entries").and_then(Value::as_array) else {
        v.push("log.entries: missing or not an array".into());
        return v;
    };
    for (i, e) in entries.iter().enumerate() {
        entry(&mut v, &format!("log.entries[{i}]"), e);
        if let Some(p) = e.get("pageref")
            && !page_ids.contains(p)
        {
            v.push(format!("log.entries[{i}].pageref: {p} names no page"));
        }
    }
    v
}

fn custom_only(v: &mut Vec<String>, at: &str, obj: &serde_json::Map<String, Value>, known: &[&str]) {
    for key in obj.keys() {
        if !known.contains(&key.as_str()) && !key.starts_with('_') {
            v.push(format!("{at}.{key}: not a HAR 1.2 field, and custom fields must start with `_`"));
        }
    }
}

fn need<'a>(v: &mut Vec<String>, at: &str, obj: &'a Value, key: &str, ok: fn(&Value) -> bool, kind: &str) -> Option<&'a Value> {
    match obj.get(key) {
        Some(x) if ok(x) => Some(x),
        Some(_) => {
            v.push(format!("{at}.{key}: not {kind}"));
            None
        }
        None => {
            v.push(format!("{at}.{key}: missing"));
            None
        }
    }
}

fn is_iso8601(s: &str) -> bool {
    // YYYY-MM-DDThh:mm:ss(.s+)?(Z|±hh:mm), as the spec's example `2009-07-24T19:20:30.45+01:00`.
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r.clone()).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() < 20 || !digits(0..4) || b[4] != b'-' || !digits(5..7) || b[7] != b'-' || !digits(8..10) || b[10] != b'T' {
        return false;
    }
    if !digits(11..13) || b[13] != b':' || !digits(14..16) || b[16] != b':' || !digits(17..19) {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    rest == "Z" || (rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) && rest.as_bytes()[3] == b':')
}

fn entry(v: &mut Vec<String>, at: &str, e: &Value) {
    let Some(obj) = e.as_object() else {
        v.push(format!("{at}: not an object"));
        return;
    };
    custom_only(v, at, obj, &["pageref", "startedDateTime", "time", "request", "response", "cache", "timings", "serverIPAddress", "connection", "comment"]);
    if let Some(s) = need(v, at, e, "startedDateTime", Value::is_string, "a string")
        && !is_iso8601(s.as_str().unwrap_or_default())
    {
        v.push(format!("{at}.startedDateTime: `{s}` is not ISO 8601 with a zone"));
    }
    let time = need(v, at, e, "time", Value::is_number, "a number").and_then(Value::as_f64);
    need(v, at, e, "cache", Value::is_object, "an object");
    for key in ["serverIPAddress", "connection", "comment", "pageref"] {
        if e.get(key).is_some_and(|x| !x.is_string()) {
            v.push(format!("{at}.{key}: not a string"));
        }
    }
    if let Some(r) = need(v, at, e, "request", Value::is_object, "an object") {
        let at = format!("{at}.request");
        need(v, &at, r, "method", Value::is_string, "a string");
        if let Some(u) = need(v, &at, r, "url", Value::is_string, "a string")
            && !u.as_str().unwrap_or_default().contains("://")
        {
            v.push(format!("{at}.url: `{u}` is not an absolute URL"));
        }
        common(v, &at, r);
        need(v, &at, r, "queryString", Value::is_array, "an array");
    }
    if let Some(r) = need(v, at, e, "response", Value::is_object, "an object") {
        let at = format!("{at}.response");
        need(v, &at, r, "status", Value::is_u64, "a non-negative integer");
        need(v, &at, r, "statusText", Value::is_string, "a string");
        need(v, &at, r, "redirectURL", Value::is_string, "a string");
        common(v, &at, r);
        if let Some(c) = need(v, &at, r, "content", Value::is_object, "an object") {
            need(v, &format!("{at}.content"), c, "size", Value::is_i64, "an integer");
            need(v, &format!("{at}.content"), c, "mimeType", Value::is_string, "a string");
        }
    }
    if let Some(t) = need(v, at, e, "timings", Value::is_object, "an object") {
        let at = format!("{at}.timings");
        let mut sum = 0.0;
        for key in ["blocked", "dns", "connect", "ssl", "send", "wait", "receive"] {
            let optional = matches!(key, "blocked" | "dns" | "connect" | "ssl");
            match t.get(key).and_then(Value::as_f64) {
                None if optional && t.get(key).is_none() => {}
                None => v.push(format!("{at}.{key}: missing or not a number")),
                Some(x) if x == -1.0 && optional => {}
                Some(x) if x < 0.0 => v.push(format!("{at}.{key}: {x} (only -1, for an unknown blocked/dns/connect/ssl, may be negative)")),
                Some(x) => {
                    if key != "ssl" {
                        sum += x;
                    }
                }
            }
        }
        if let Some(time) = time
            && (time - sum).abs() > 0.01
        {
            v.push(format!("{at}: the timings add up to {sum}, but time is {time}"));
        }
    }
}

/// What requests and responses both must have.
fn common(v: &mut Vec<String>, at: &str, r: &Value) {
    need(v, at, r, "httpVersion", Value::is_string, "a string");
    need(v, at, r, "cookies", Value::is_array, "an array");
    if let Some(hs) = need(v, at, r, "headers", Value::is_array, "an array") {
        for (i, h) in hs.as_array().into_iter().flatten().enumerate() {
            if !h.get("name").is_some_and(Value::is_string) || !h.get("value").is_some_and(Value::is_string) {
                v.push(format!("{at}.headers[{i}]: needs string name and value"));
            }
        }
    }
    need(v, at, r, "headersSize", Value::is_i64, "an integer");
    need(v, at, r, "bodySize", Value::is_i64, "an integer");
}
