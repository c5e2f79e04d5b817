//! HAR 1.2 export of a journal (issue 17 #4): what a client did, in the format Chrome DevTools,
//! Fiddler and every HAR viewer open. One entry per HTTP exchange — an exchange the emulated
//! fronts answered (plain HTTP through the proxy, HTTPS through a tunnel or inspected), a proxy
//! CONNECT, and a request the proxy answered itself (a refusal, a bad request) — with memsim's
//! own facts (fault names, the proxy's decision, the connection's bytes) in `_memsim` custom
//! fields, which HAR 1.2 allows ("custom fields … must start with an underscore").
//!
//! The spec followed: "HTTP Archive (HAR) format, version 1.2" (Jan Odvarko's, as the W3C Web
//! Performance WG draft took it over). Only facts the journal holds are written: headers and
//! bodies are not journaled, so their lists are empty and their sizes `-1` (unknown), and a
//! timing the journal cannot tell is `-1` where the spec allows it (blocked, dns, connect, ssl).
//!
//! Clock: `startedDateTime` is the world's simulated start plus the wall time since it, so the
//! entries' start times and durations (wall milliseconds: what the client waited) line up in a
//! viewer's waterfall whatever the time scale; the simulated time of each entry is in
//! `_memsim.sim_time`.

mod build;
pub mod rules;
#[cfg(test)]
mod tests;

use serde::Serialize;
use serde_json::{Map, Value};

pub use build::from_events;

/// The document: `{"log": …}`.
#[derive(Debug, Clone, Serialize)]
pub struct Har {
    pub log: Log,
}

#[derive(Debug, Clone, Serialize)]
pub struct Log {
    pub version: &'static str,
    pub creator: Creator,
    /// One page: the world (its scenario's name), which every entry refers to.
    pub pages: Vec<Page>,
    pub entries: Vec<Entry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Creator {
    pub name: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    pub started_date_time: String,
    pub id: String,
    pub title: String,
    pub page_timings: PageTimings,
}

/// A world has no page load: both unknown.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PageTimings {
    pub on_content_load: f64,
    pub on_load: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub pageref: String,
    /// ISO 8601 with milliseconds and a zone (`2026-12-02T11:23:00.123Z`).
    pub started_date_time: String,
    /// Total elapsed milliseconds: the sum of the non-negative timings.
    pub time: f64,
    pub request: Request,
    pub response: Response,
    pub cache: Map<String, Value>,
    pub timings: Timings,
    #[serde(rename = "serverIPAddress", skip_serializing_if = "Option::is_none")]
    pub server_ip_address: Option<String>,
    /// The proxy connection's id, when the exchange went through one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// memsim's own fields: the journal events' seqs, fault names, the proxy's decision …
    #[serde(rename = "_memsim")]
    pub memsim: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    pub method: String,
    pub url: String,
    pub http_version: String,
    pub cookies: Vec<Value>,
    pub headers: Vec<Header>,
    pub query_string: Vec<Header>,
    pub headers_size: i64,
    pub body_size: i64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    pub status: u16,
    pub status_text: String,
    pub http_version: String,
    pub cookies: Vec<Value>,
    pub headers: Vec<Header>,
    pub content: Content,
    #[serde(rename = "redirectURL")]
    pub redirect_url: String,
    pub headers_size: i64,
    pub body_size: i64,
    /// Why there is no response (Chrome writes `_error` for a failed request).
    #[serde(rename = "_error", skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Header {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Content {
    pub size: i64,
    pub mime_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// Milliseconds; `-1` where the journal cannot tell (allowed for the first four only).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Timings {
    pub blocked: f64,
    pub dns: f64,
    pub connect: f64,
    pub ssl: f64,
    pub send: f64,
    pub wait: f64,
    pub receive: f64,
}

impl Timings {
    /// Only `wait` known.
    pub fn waited(ms: f64) -> Timings {
        Timings { blocked: -1.0, dns: -1.0, connect: -1.0, ssl: -1.0, send: 0.0, wait: round(ms.max(0.0)), receive: 0.0 }
    }

    /// The entry's `time`: every timing that is known (`ssl` is included in `connect` by the
    /// spec, so it is not added twice).
    pub fn total(&self) -> f64 {
        let known = |x: f64| if x < 0.0 { 0.0 } else { x };
        round(known(self.blocked) + known(self.dns) + known(self.connect) + self.send + self.wait + self.receive)
    }
}

/// Milliseconds to three decimals: what a journal's float holds beyond that is noise.
fn round(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

impl Har {
    /// The document as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a HAR serializes")
    }
}

/// Read a journal file (JSON lines, as `journal.jsonl` or `--journal-dir` writes them) and the
/// rotated files beside it, oldest first. A line that is not an event is an error naming
/// `file:line`.
pub fn read_journal(path: &std::path::Path) -> Result<Vec<scenarios::Event>, String> {
    let rotation = scenarios::journal::stream::ROTATION;
    let mut events = Vec::new();
    for file in scenarios::journal::stream::files_oldest_first(path, rotation) {
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let event = serde_json::from_str(line).map_err(|e| format!("{}:{}: not a journal event: {e}", file.display(), i + 1))?;
            events.push(event);
        }
    }
    Ok(events)
}

/// `memsim har JOURNAL [--output F]`: a journal that cannot be read, or a line that is not an
/// event, is bad input (exit 2) naming the file (and line).
pub fn cli(journal: &std::path::Path, output: Option<&std::path::Path>) -> anyhow::Result<u8> {
    use std::io::Write as _;
    let events = match read_journal(journal) {
        Ok(e) => e,
        Err(msg) => {
            eprintln!("memsim: {msg}");
            return Ok(crate::exit::BAD_INPUT);
        }
    };
    let mut text = from_events(&events).to_json();
    text.push('\n');
    match output {
        Some(path) => {
            if let Err(e) = std::fs::write(path, text) {
                eprintln!("memsim: cannot write the HAR to {}: {e}", path.display());
                return Ok(crate::exit::BAD_INPUT);
            }
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(crate::exit::OK)
}
