//! The Office 365 / Microsoft 365 IP Address and URL web service (`endpoints.office.com`),
//! serving seed 002's endpoint sets (protocols.md §12, failure catalog §4). Seed 002 tells admins
//! to run `(invoke-restmethod -Uri ("https://endpoints.office.com/endpoints/WorldWide?ServiceAreas=MEM&clientrequestid=" + …))`
//! and keep the MEM sets' `ips` and `urls`; this is what that one-liner talks to.
//!
//! Methods: `/endpoints/{instance}`, `/version[/{instance}]`, `/changes/{instance}/{version}`,
//! with the documented parameters (`ClientRequestId` required, names case-insensitive;
//! `ServiceAreas`, `NoIPv6`, `TenantName`, `AllVersions`, `Format=JSON|CSV`). Records carry the
//! real field names, `tcpPorts`/`udpPorts` as comma-separated strings, blank fields omitted.
//!
//! Ours, not Microsoft's: the bodies of the 400 answers (the status is documented; the text is
//! not published), the MEM display name (see endpoints-service.toml), and `/changes`, which has
//! no history to report and answers `[]` for any well-formed version. Not emulated: the 429 rate
//! limit, `Format=RSS` (501).
//!
//! Dispatch is by hand, not by axum routes: the web service's method and instance names are
//! case-insensitive (`/endpoints/WorldWide` = `/Endpoints/worldwide`), which axum's router is not.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::AppState;
use crate::catalog::{Catalog, Category, EndpointSet};

/// `endpoints-service.toml` (part of the [`Catalog`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceData {
    pub version: String,
    #[serde(rename = "instance")]
    pub instances: Vec<Instance>,
    #[serde(rename = "service_area")]
    pub service_areas: Vec<ServiceArea>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    pub name: String,
    pub has_catalog: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceArea {
    pub name: String,
    pub display_name: String,
    #[serde(default)]
    pub display_name_synthetic: bool,
}

impl ServiceData {
    fn instance(&self, name: &str) -> Option<&Instance> {
        self.instances.iter().find(|i| i.name.eq_ignore_ascii_case(name))
    }
}

/// One endpoint set as the web service returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub id: u32,
    pub service_area: String,
    pub service_area_display_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_ports: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp_ports: Option<String>,
    pub express_route: bool,
    pub category: String,
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

fn ports(p: &[u16]) -> Option<String> {
    (!p.is_empty()).then(|| p.iter().map(u16::to_string).collect::<Vec<_>>().join(","))
}

fn record(set: &EndpointSet, data: &ServiceData, no_ipv6: bool) -> Record {
    let display = data.service_areas.iter().find(|a| a.name == set.service_area).map_or(set.service_area.clone(), |a| a.display_name.clone());
    Record {
        id: set.id,
        service_area: set.service_area.clone(),
        service_area_display_name: display,
        urls: set.urls.clone(),
        ips: set.ips.iter().filter(|ip| !(no_ipv6 && ip.contains(':'))).cloned().collect(),
        tcp_ports: ports(&set.tcp_ports),
        udp_ports: ports(&set.udp_ports),
        express_route: set.express_route,
        category: match set.category {
            Category::Optimize => "Optimize",
            Category::Allow => "Allow",
            Category::Default => "Default",
        }
        .into(),
        required: set.required,
        notes: set.notes.clone().filter(|n| !n.trim().is_empty()),
    }
}

pub fn router(app: &AppState) -> Router {
    Router::new().fallback(handle).with_state(app.catalog.clone())
}

/// What the web service answers instead of endpoint data.
#[derive(Debug, thiserror::Error)]
pub enum EndpointsError {
    /// A 400 in our words (the real service's body text is not published), as JSON.
    #[error("{0}")]
    BadRequest(String),
    #[error("the endpoints web service answers GET")]
    MethodNotAllowed,
    #[error("no such method on the endpoints web service: use /endpoints, /version or /changes")]
    NotFound,
    #[error("memsim does not emulate Format=RSS")]
    NotImplemented,
}

impl IntoResponse for EndpointsError {
    fn into_response(self) -> Response {
        let status = match &self {
            EndpointsError::BadRequest(message) => {
                let body = serde_json::json!({ "error": "BadRequest", "message": message });
                return (StatusCode::BAD_REQUEST, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], body.to_string()).into_response();
            }
            EndpointsError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            EndpointsError::NotFound => StatusCode::NOT_FOUND,
            EndpointsError::NotImplemented => StatusCode::NOT_IMPLEMENTED,
        };
        super::plain_error(status, self, "GET, HEAD")
    }
}

fn bad_request(message: String) -> EndpointsError {
    EndpointsError::BadRequest(message)
}

/// The query's parameters, names lower-cased, values percent-decoded.
fn params(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k).to_ascii_lowercase(), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |j: usize| b.get(j).and_then(|c| char::from(*c).to_digit(16));
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b'+', ..) => {
                out.push(b' ');
                i += 1;
            }
            (c, ..) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (the format the docs require), optionally in braces.
pub fn is_guid(s: &str) -> bool {
    let s = s.strip_prefix('{').and_then(|r| r.strip_suffix('}')).unwrap_or(s);
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5 && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

async fn handle(State(catalog): State<Arc<Catalog>>, req: Request) -> Result<Response, EndpointsError> {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return Err(EndpointsError::MethodNotAllowed);
    }
    let data = &catalog.endpoints_service;
    let q = params(req.uri().query());
    let get = |name: &str| q.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim());
    let segments: Vec<String> = req.uri().path().split('/').filter(|s| !s.is_empty()).map(str::to_ascii_lowercase).collect();
    if !matches!(segments.first().map(String::as_str), Some("endpoints" | "version" | "changes")) {
        return Err(EndpointsError::NotFound);
    }
    match get("clientrequestid") {
        None => {
            return Err(bad_request(
                "ClientRequestId is required: a GUID you generate once per machine, e.g. clientrequestid=b10c5ed1-bad1-445f-b386-b919946339a7".into(),
            ));
        }
        Some(id) if !is_guid(id) => return Err(bad_request(format!("ClientRequestId `{id}` is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"))),
        Some(_) => {}
    }
    let csv = match get("format").map(str::to_ascii_lowercase).as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some("rss") => return Err(EndpointsError::NotImplemented),
        Some(f) => return Err(bad_request(format!("Format `{f}` is not one of JSON, CSV"))),
    };
    let instance = match segments.get(1) {
        Some(name) => match data.instance(name) {
            Some(i) => Some(i),
            None => {
                let names: Vec<&str> = data.instances.iter().map(|i| i.name.as_str()).collect();
                return Err(bad_request(format!("instance `{name}` is not one of {}", names.join(", "))));
            }
        },
        None => None,
    };
    Ok(match (segments[0].as_str(), instance) {
        ("version", inst) => version(data, inst, get("allversions").is_some_and(|v| v.eq_ignore_ascii_case("true")), csv),
        ("endpoints", Some(inst)) => {
            let areas = match get("serviceareas") {
                None => None,
                Some(list) => {
                    let mut wanted = Vec::new();
                    for a in list.split(',').map(str::trim).filter(|a| !a.is_empty()) {
                        match data.service_areas.iter().find(|s| s.name.eq_ignore_ascii_case(a)) {
                            Some(s) => wanted.push(s.name.clone()),
                            None => return Err(bad_request(format!("ServiceAreas: `{a}` is not a service area"))),
                        }
                    }
                    wanted.push("Common".into());
                    Some(wanted)
                }
            };
            let no_ipv6 = get("noipv6").is_some_and(|v| v.eq_ignore_ascii_case("true"));
            let sets = if inst.has_catalog { catalog.intune.sets.as_slice() } else { &[] };
            let records: Vec<Record> =
                sets.iter().filter(|s| areas.as_ref().is_none_or(|a| a.contains(&s.service_area))).map(|s| record(s, data, no_ipv6)).collect();
            if csv { respond_csv(records_csv(&records)) } else { respond_json(&records, None) }
        }
        ("changes", Some(_)) => match segments.get(2) {
            Some(v) if v.len() == 10 && v.bytes().all(|b| b.is_ascii_digit()) => respond_json(&Vec::<Record>::new(), None),
            _ => return Err(bad_request("changes needs a version YYYYMMDDNN: /changes/{instance}/{version}".into())),
        },
        _ => return Err(bad_request("this method needs an instance, e.g. /endpoints/Worldwide".into())),
    })
}

fn version(data: &ServiceData, instance: Option<&Instance>, all: bool, csv: bool) -> Response {
    let one = |i: &Instance| {
        let mut v = serde_json::json!({ "instance": i.name, "latest": data.version });
        if all {
            v["versions"] = serde_json::json!([data.version]);
        }
        v
    };
    if csv {
        let rows: Vec<String> =
            data.instances.iter().filter(|i| instance.is_none_or(|x| x.name == i.name)).map(|i| format!("{},{}", i.name, data.version)).collect();
        return respond_csv(format!("instance,latest\n{}\n", rows.join("\n")));
    }
    match instance {
        Some(i) => respond_json(&one(i), Some("public, max-age=3600")),
        None => respond_json(&data.instances.iter().map(one).collect::<Vec<_>>(), Some("public, max-age=3600")),
    }
}

fn respond_json<T: Serialize>(v: &T, cache: Option<&'static str>) -> Response {
    let mut res = ([(header::CONTENT_TYPE, "application/json; charset=utf-8")], serde_json::to_string(v).unwrap_or_default()).into_response();
    if let Some(c) = cache {
        res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(c));
    }
    res
}

fn respond_csv(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

fn records_csv(records: &[Record]) -> String {
    let mut out = String::from("id,serviceArea,serviceAreaDisplayName,urls,ips,tcpPorts,udpPorts,expressRoute,category,required,notes\n");
    for r in records {
        let cols = [
            r.id.to_string(),
            r.service_area.clone(),
            r.service_area_display_name.clone(),
            r.urls.join(","),
            r.ips.join(","),
            r.tcp_ports.clone().unwrap_or_default(),
            r.udp_ports.clone().unwrap_or_default(),
            r.express_route.to_string(),
            r.category.clone(),
            r.required.to_string(),
            r.notes.clone().unwrap_or_default(),
        ];
        out.push_str(&cols.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests;
