//! Host-based dispatch: the seam where every HTTP exchange is journaled and an unknown host gets
//! 421 Misdirected Request (its body names the host, truncated and escaped: issue 11).
//!
//! Debug builds only: once armed ([`Dispatch::arm_panic_route`], which `memsim` does when
//! `MEMSIM_DEBUG_PANIC_ROUTE` is set), a request for [`PANIC_PATH`] on any emulated host panics
//! in its handler, so the end-to-end tests can prove that a panic fails the world (issue 10).
//! Release builds never panic there, armed or not.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use scenarios::{Component, Journal, NewEvent};
use tower::ServiceExt;

use crate::services::Service;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// Picks the service for a request's host and records the exchange.
#[derive(Clone, Debug)]
pub struct Dispatch(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    exact: HashSet<String>,
    wildcards: Vec<String>,
    services: HashMap<String, Service>,
    routers: HashMap<Service, Router>,
    journal: Journal,
    panic_route: AtomicBool,
}

/// The debug builds' panicking path (see the module doc).
pub const PANIC_PATH: &str = "/_memsim/panic";
/// The longest host name a 421 body repeats (a DNS name has at most 253 characters).
const SHOWN_HOST_MAX: usize = 255;

/// `host` as an error body may show it: at most [`SHOWN_HOST_MAX`] characters, control
/// characters escaped, so a client cannot make the world echo megabytes or terminal escapes.
pub fn shown_host(host: &str) -> String {
    let mut out: String = host.chars().take(SHOWN_HOST_MAX).flat_map(char::escape_debug).collect();
    if host.chars().nth(SHOWN_HOST_MAX).is_some() {
        out.push('…');
    }
    out
}

impl Dispatch {
    pub fn new(hosts: &[String], services: HashMap<String, Service>, routers: HashMap<Service, Router>, journal: Journal) -> Self {
        let (wild, exact): (Vec<_>, Vec<_>) = hosts.iter().cloned().partition(|h| h.starts_with("*."));
        Dispatch(Arc::new(Inner {
            exact: exact.into_iter().collect(),
            wildcards: wild.into_iter().map(|w| w[1..].to_string()).collect(),
            services,
            routers,
            journal,
            panic_route: AtomicBool::new(false),
        }))
    }

    /// Debug builds: serve [`PANIC_PATH`] with a handler that panics. Release builds: nothing.
    pub fn arm_panic_route(&self) {
        self.0.panic_route.store(cfg!(debug_assertions), Ordering::Relaxed);
    }

    pub fn journal(&self) -> &Journal {
        &self.0.journal
    }

    /// Is `host` an emulated name: a catalog host, or any name below a catalog wildcard?
    pub fn emulates(&self, host: &str) -> bool {
        self.0.exact.contains(host) || self.0.wildcards.iter().any(|w| host.ends_with(w.as_str()))
    }

    pub fn service_for(&self, host: &str) -> Option<Service> {
        if let Some(s) = self.0.services.get(host) {
            return Some(*s);
        }
        self.emulates(host).then_some(Service::Generic)
    }

    pub async fn handle<B>(&self, req: Request<B>, scheme: Scheme) -> Result<Response<Body>, ClosedByFault>
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        let started = Instant::now();
        let host = request_host(&req);
        let service = host.as_deref().and_then(|h| self.service_for(h));
        let shown = match (service, host.as_deref()) {
            (Some(_), _) => None,
            (None, h) => Some(h.map_or_else(|| "(no Host header)".into(), shown_host)),
        };
        let panic_route = cfg!(debug_assertions) && req.uri().path() == PANIC_PATH && self.0.panic_route.load(Ordering::Relaxed);
        // The exchange's event, begun before the request moves on (one allocation per field).
        let event = NewEvent::new(Component::Http, if service.is_some() { "request" } else { "misdirected" })
            .host(host.unwrap_or_default())
            .detail("scheme", scheme.as_str())
            .detail("protocol", super::h2::version_name(req.version()))
            .detail("method", req.method().as_str())
            .detail("path", req.uri().path());
        let (Some(service), None) = (service, shown.as_ref()) else {
            self.0.journal.record(event.detail("status", 421));
            let body = format!("memsim: {} is not emulated in this world\n", shown.unwrap_or_default());
            return Ok((StatusCode::MISDIRECTED_REQUEST, body).into_response());
        };
        if panic_route {
            panic!("memsim's debug panic route {PANIC_PATH} was requested (MEMSIM_DEBUG_PANIC_ROUTE)");
        }
        let router = self.0.routers[&service].clone();
        let res = router.oneshot(req.map(Body::new)).await.unwrap_or_else(|e| match e {});
        let fired = res.extensions().get::<crate::services::faults::Fired>().copied();
        // A service's own fault (the CMG's `cmg.*`) marks its answer with the kind itself.
        let own = res.extensions().get::<scenarios::FaultKind>().copied();
        let request = event.detail("service", service.as_str()).detail("status", res.status().as_u16());
        let request = request.detail("ms", started.elapsed().as_secs_f64() * 1000.0);
        self.0.journal.record(match fired.map(|f| scenarios::FaultKind::from(f.0)).or(own) {
            Some(f) => request.fault(f),
            None => request,
        });
        // service.close: hyper drops a connection whose service fails, without an answer.
        if fired.is_some_and(|f| f.closes()) {
            return Err(ClosedByFault);
        }
        Ok(res)
    }
}

/// A `service.close` fault ended the exchange: the connection goes without an answer.
#[derive(Debug, thiserror::Error)]
#[error("closed without an answer (service.close)")]
pub struct ClosedByFault;

/// The request's host, lower-case and without port: from an absolute-form URI, else `Host`.
pub(crate) fn request_host<B>(req: &Request<B>) -> Option<String> {
    let raw = req.uri().host().map(str::to_string).or_else(|| {
        let h = req.headers().get(header::HOST)?.to_str().ok()?;
        Some(h.rsplit_once(':').filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit())).map_or(h, |(h, _)| h).to_string())
    })?;
    let h = raw.trim_end_matches('.').to_ascii_lowercase();
    (!h.is_empty()).then_some(h)
}
