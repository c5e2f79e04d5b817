//! The one decision the proxy makes per request — a CONNECT, an absolute-form request, or a
//! request read inside an inspected tunnel: refuse it with a [`Refusal`], or forward it along a
//! [`Route`] whose [`Plan`] lists the connection faults it carries. Policy first (the scenario's
//! faults, [`super::rules`]), then the sinkhole gate: an address that is not one of the world's
//! listeners, a name outside the emulated zones, a DNS failure or a port the world does not
//! serve is refused here and never connected to. Every decision is journaled here, once.

use std::net::SocketAddr;

use scenarios::ProxyFaultKind;

use super::conn::ConnLog;
use super::plan::{Effect, Plan};
use super::refusal::{Gate, Refusal};
use super::resolve::{Front, ResolveError};
use super::respond::echo;
use super::shared::Shared;

/// The method of a transparent TLS connection in the journal: no CONNECT was sent.
pub const TLS: &str = "TLS";

/// One request as the proxy decides on it.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    pub method: &'a str,
    /// The request target as the client wrote it (for the journal).
    pub target: &'a str,
    pub host: &'a str,
    pub port: u16,
    pub proxy_authorization: Option<&'a [u8]>,
    /// Reached through a transparent listener (issue 19): the client names no proxy, so a
    /// fault only an explicit proxy can show (407) is journaled as not applicable.
    pub transparent: bool,
}

impl Ask<'_> {
    fn is_connect(&self) -> bool {
        self.method.eq_ignore_ascii_case("CONNECT") || (self.transparent && self.method == TLS)
    }
}

/// Where an admitted request goes, and the connection faults it carries.
#[derive(Debug, Clone)]
pub struct Route {
    pub addr: SocketAddr,
    pub front: Front,
    pub plan: Plan,
}

#[derive(Debug, Clone)]
pub enum Decision {
    Refuse(Refusal),
    Forward(Route),
}

/// Decide on a CONNECT or an absolute-form request, and journal the decision.
pub async fn decide(shared: &Shared, log: &ConnLog, ask: &Ask<'_>) -> Decision {
    if ask.transparent
        && let Some(kind) = shared.policy().auth_kind(ask.host, ask.port)
    {
        // Its own event, not the fault's: an expectation that the fault fires must not count it.
        log.record(
            log.event("not_applicable")
                .detail("fault", kind.name())
                .detail("reason", "a transparent connection names no proxy, so the proxy cannot ask it to authenticate (407)"),
        );
    }
    let decision = choose(shared, ask).await;
    let event = log.event("request").detail("method", ask.method).detail("target", ask.target).detail("port", ask.port);
    match &decision {
        Decision::Refuse(r) => {
            log.record(event.detail("decision", r.decision()));
            r.record(log, ask.port);
        }
        Decision::Forward(route) => log.record(
            event
                .detail("decision", "allow")
                .detail("front", route.front.as_str())
                .detail("inspected", route.plan.interception().is_some())
                .detail("faults", route.plan.kinds().map(ProxyFaultKind::name).collect::<Vec<_>>()),
        ),
    }
    decision
}

async fn choose(shared: &Shared, ask: &Ask<'_>) -> Decision {
    let (host, port) = (ask.host, ask.port);
    let policy = shared.policy();
    if let Some(refusal) = policy.check(host, port, ask.proxy_authorization, ask.transparent) {
        return Decision::Refuse(refusal);
    }
    let (addr, front) = match admit(shared, host, port).await {
        Ok(route) => route,
        Err(refusal) => return Decision::Refuse(refusal),
    };
    if front == Front::Https && !ask.is_connect() {
        return Decision::Refuse(Refusal::gate(Gate::TlsPort, 400, format!("port {port} speaks TLS: send CONNECT {}:{port}", echo(host))));
    }
    let mut plan = policy.plan(host, port);
    // Interception terminates TLS: only a tunnel to the HTTPS front has any.
    plan.faults.retain(|f| front == Front::Https || !matches!(f.effect, Effect::Intercept(_)));
    Decision::Forward(Route { addr, front, plan })
}

/// A request read inside an inspected tunnel: the tunnel's decision holds for the tunnel's own
/// `host:port` only. A request naming another authority (`named`: its target's or its `Host`'s,
/// `Err` for a `Host` that is not one) would reach another service on the same front, so it is
/// refused as Squid refuses a `Host` that does not match the destination under
/// `host_verify_strict on`: 409 Conflict. Rewriting `Host` instead would answer for a host the
/// client did not ask for. Journaled like every decision.
pub fn inside_tunnel(log: &ConnLog, ask: &Ask<'_>, named: Result<Option<(String, u16)>, String>) -> Option<Refusal> {
    let other = match named {
        Ok(None) => None,
        Ok(Some((h, p))) if h == ask.host && p == ask.port => None,
        Ok(Some((h, p))) => Some(echo(&super::head::authority(&h, p, 0))),
        Err(raw) => Some(format!("`{}`", echo(&raw))),
    };
    let refusal = other.map(|named| {
        let (host, port) = (echo(ask.host), ask.port);
        Refusal::gate(
            Gate::HostMismatch,
            409,
            format!("the request names {named} inside a tunnel to {host}:{port}; the proxy's policy was decided for {host}:{port} only"),
        )
    });
    let decision = refusal.as_ref().map_or("allow", Refusal::decision);
    log.record(
        log.event("request")
            .detail("method", ask.method)
            .detail("target", ask.target)
            .detail("port", ask.port)
            .detail("inspected", true)
            .detail("decision", decision),
    );
    if let Some(r) = &refusal {
        r.record(log, ask.port);
    }
    refusal
}

/// The sinkhole gate: the world front for `host:port`, or the refusal. Never opens a connection.
async fn admit(shared: &Shared, host: &str, port: u16) -> Result<(SocketAddr, Front), Refusal> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        // The world's own listeners by address (as `curl --connect-to` asks for them) are
        // the world's; every other address is not.
        let addr = SocketAddr::new(ip, port);
        for (front_addr, front) in [(shared.fronts.https, Front::Https), (shared.fronts.http, Front::Http)] {
            if addr == front_addr {
                return Ok((front_addr, front));
            }
        }
        let reason = format!("{host}:{port} is not one of this world's listeners, and memsim never connects beyond the world");
        return Err(Refusal::gate(Gate::AddressLiteral, 403, reason));
    }
    let ip = match shared.resolver.resolve(host).await {
        Ok(ip) => ip,
        Err(e @ ResolveError::NotEmulated(_)) => return Err(Refusal::gate(Gate::NotEmulated, 502, e.to_string())),
        Err(e @ ResolveError::Dns { .. }) => return Err(Refusal::gate(Gate::Dns, 502, e.to_string())),
    };
    shared.fronts.route(ip, port).map_err(|reason| Refusal::gate(Gate::Sinkhole, 403, format!("{}:{port}: {reason}", echo(host))))
}

#[cfg(test)]
mod tests {
    use scenarios::{Clock, Journal};

    use super::*;

    // issue 11, defect 2: inside a tunnel to one host, only that host:port passes; the rest is a
    // journaled 409.
    #[test]
    fn inside_a_tunnel_only_its_own_authority_passes() {
        let journal = Journal::new(Clock::new(time::OffsetDateTime::UNIX_EPOCH, 1.0));
        let log = ConnLog::open(journal.clone(), 1, "127.0.0.1:1", None);
        let ask = Ask { method: "GET", target: "/x", host: "swda01-mscdn.azureedge.net", port: 443, proxy_authorization: None, transparent: false };
        let named = |h: &str, p: u16| Ok(Some((h.to_string(), p)));
        assert!(inside_tunnel(&log, &ask, named("swda01-mscdn.azureedge.net", 443)).is_none());
        assert!(inside_tunnel(&log, &ask, Ok(None)).is_none(), "HTTP/1.0 without Host names nothing else");
        for (other, shown) in [
            (named("enterpriseenrollment-s.manage.microsoft.com", 443), "enterpriseenrollment-s.manage.microsoft.com:443"),
            (named("swda01-mscdn.azureedge.net", 8443), "swda01-mscdn.azureedge.net:8443"),
            (Err("a b".to_string()), "`a b`"),
        ] {
            let r = inside_tunnel(&log, &ask, other).expect("refused");
            assert_eq!((r.answer.status, r.decision()), (409, "refused"));
            assert!(r.answer.reason.starts_with(&format!("the request names {shown} inside a tunnel")), "{}", r.answer.reason);
        }
        let events = journal.snapshot();
        let decisions: Vec<&str> = events.iter().filter(|e| e.what == "request").map(|e| e.detail["decision"].as_str().unwrap()).collect();
        assert_eq!(decisions, ["allow", "allow", "refused", "refused", "refused"]);
        assert_eq!(events.iter().filter(|e| e.what == "refused" && e.detail["refusal"] == "host_mismatch" && e.detail["status"] == 409).count(), 3);
    }
}
