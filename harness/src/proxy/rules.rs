//! The proxy's policy: a scenario's proxy faults compiled once per world into host matchers
//! (host patterns, endpoint-set IDs and categories resolved against the catalog), then asked
//! per request. [`Policy::check`] decides whether a request is answered by the proxy itself
//! (authentication, allow-list, deny, injected status, in that order, as a corporate proxy
//! authenticates before it applies URL policy); [`Policy::plan`] gives the connection-level
//! faults a tunnel or connection carries, in wall time. It performs no I/O.

use std::sync::Arc;
use std::time::Duration;

use mock_cloud::Catalog;
use mock_cloud::catalog::{Category, host_of};
use scenarios::ProxyFaultKind;
use scenarios::{
    BlockStyle, Clock, CloseMethod, Component, Direction, EndpointCategory, HostPattern, Journal, NewEvent, ProxyFault, ProxyRule, ProxyTarget, SimDuration,
    WorldSpec,
};

use super::ProxyError;
use super::allow_list;
use super::auth;
use super::inspect::InspectionCa;
use super::respond::{Answer, echo};

/// Which requests a fault selects: by host, narrowed by destination port.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    any: bool,
    patterns: Vec<HostPattern>,
    ports: Vec<u16>,
}

impl Matcher {
    fn compile(target: &ProxyTarget, world: &WorldSpec, catalog: &Catalog) -> Result<Matcher, ProxyError> {
        let mut patterns = target.hosts.0.clone();
        let mut add_set = |set: &mock_cloud::catalog::EndpointSet| {
            patterns.extend(set.urls.iter().filter_map(|u| host_of(u, &world.cmg_name)).filter_map(|h| HostPattern::parse(&h).ok()));
        };
        for id in &target.endpoint_sets {
            add_set(catalog.endpoint_set(*id).ok_or(ProxyError::UnknownEndpointSet(*id))?);
        }
        if let Some(category) = target.category {
            let want = match category {
                EndpointCategory::Allow => Category::Allow,
                EndpointCategory::Optimize => Category::Optimize,
                EndpointCategory::Default => Category::Default,
            };
            catalog.intune.sets.iter().filter(|s| s.category == want).for_each(&mut add_set);
        }
        Ok(Matcher { any: target.every_host(), patterns, ports: target.ports.clone() })
    }

    pub fn matches(&self, host: &str, port: u16) -> bool {
        (self.any || self.patterns.iter().any(|p| p.matches(host))) && (self.ports.is_empty() || self.ports.contains(&port))
    }
}

struct Rule {
    kind: ProxyFaultKind,
    matcher: Matcher,
    rule: ProxyRule,
    inspection: Option<Arc<InspectionCa>>,
}

/// Only these hosts pass: every `proxy.allow_list` fault's targets and files, merged.
struct AllowRule {
    patterns: Vec<HostPattern>,
    block: BlockStyle,
}

/// A request the proxy answers itself, and how.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub answer: Answer,
    pub block: BlockStyle,
    /// The fault kind, e.g. `proxy.deny` (journaled as its event, `deny`).
    pub fault: ProxyFaultKind,
}

/// A connection cut after a wall delay, and how.
#[derive(Debug, Clone, Copy)]
pub struct Timer {
    pub wall: Duration,
    pub sim: SimDuration,
    pub close: CloseMethod,
}

/// The connection-level faults one connection carries, converted to wall time.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub latency: Option<(Duration, Direction)>,
    /// Wall bytes per second.
    pub bandwidth: Option<(f64, Direction)>,
    /// Nothing passes; close after the wall delay (`None`: never).
    pub timeout: Option<Option<Duration>>,
    pub reset_peer: Option<Timer>,
    pub limit_data: Option<(u64, CloseMethod)>,
    pub idle: Option<Timer>,
    pub lifetime: Option<Timer>,
    /// The fault kinds in effect, for the journal.
    pub faults: Vec<ProxyFaultKind>,
}

/// What compiling would find wrong in a scenario's proxy faults, without building anything:
/// an endpoint-set ID the catalog lacks, an allow-list file that cannot be read (`memsim check`).
pub fn validate(faults: &[ProxyFault], world: &WorldSpec, catalog: &Catalog) -> Result<(), ProxyError> {
    for fault in faults {
        Matcher::compile(&fault.target, world, catalog)?;
        if let ProxyRule::AllowList { file: Some(path), .. } = &fault.rule {
            allow_list::load(path)?;
        }
    }
    Ok(())
}

/// The compiled policy of one world's proxy.
pub struct Policy {
    rules: Vec<Rule>,
    allow: Option<AllowRule>,
    clock: Clock,
}

impl Policy {
    pub fn compile(faults: &[ProxyFault], world: &WorldSpec, catalog: &Catalog, permitted: &[String], clock: &Clock) -> Result<Policy, ProxyError> {
        let mut rules = Vec::new();
        let mut allow: Option<AllowRule> = None;
        for fault in faults {
            let matcher = Matcher::compile(&fault.target, world, catalog)?;
            if let ProxyRule::AllowList { file, block } = &fault.rule {
                let entry = allow.get_or_insert(AllowRule { patterns: Vec::new(), block: *block });
                entry.patterns.extend(matcher.patterns);
                if let Some(path) = file {
                    entry.patterns.extend(allow_list::load(path)?);
                }
                continue;
            }
            let inspection = match &fault.rule {
                ProxyRule::TlsInspection { trusted, ca_name } => {
                    let name = ca_name.clone().unwrap_or_else(|| format!("{} TLS Inspection CA", world.tenant_name));
                    Some(Arc::new(InspectionCa::generate(&name, *trusted, permitted, clock.now())?))
                }
                _ => None,
            };
            rules.push(Rule { kind: fault.kind(), matcher, rule: fault.rule.clone(), inspection });
        }
        Ok(Policy { rules, allow, clock: *clock })
    }

    fn first(&self, host: &str, port: u16, pick: impl Fn(&ProxyRule) -> bool) -> Option<&Rule> {
        self.rules.iter().find(|r| pick(&r.rule) && r.matcher.matches(host, port))
    }

    /// `Some` when the proxy answers this request (to `host:port`) itself.
    pub fn check(&self, host: &str, port: u16, proxy_authorization: Option<&[u8]>) -> Option<Refusal> {
        if let Some(r) = self.first(host, port, |r| matches!(r, ProxyRule::AuthRequired { .. })) {
            let ProxyRule::AuthRequired { user, password, schemes } = &r.rule else { unreachable!() };
            if let Some(answer) = auth::check(user, password, schemes, proxy_authorization) {
                return Some(Refusal { answer, block: BlockStyle::Page, fault: r.kind });
            }
        }
        if let Some(allow) = &self.allow
            && !allow.patterns.iter().any(|p| p.matches(host))
        {
            let mut answer = Answer::new(403, format!("{} is not on the proxy's allow-list", echo(host)));
            answer.page = true;
            return Some(Refusal { answer, block: allow.block, fault: ProxyFaultKind::AllowList });
        }
        if let Some(r) = self.first(host, port, |r| matches!(r, ProxyRule::Deny { .. })) {
            let ProxyRule::Deny { block } = r.rule else { unreachable!() };
            let host = echo(host);
            let reason = if r.matcher.ports.is_empty() {
                format!("{host} is blocked by the proxy's web policy")
            } else {
                format!("{host}:{port} is blocked by the proxy's web policy (port {port} is not allowed)")
            };
            let mut answer = Answer::new(403, reason);
            answer.page = true;
            return Some(Refusal { answer, block, fault: r.kind });
        }
        if let Some(r) = self.first(host, port, |r| matches!(r, ProxyRule::Status { .. })) {
            let ProxyRule::Status { status } = r.rule else { unreachable!() };
            let answer = Answer::new(status, format!("the proxy answered {status} for {} (injected fault)", echo(host)));
            return Some(Refusal { answer, block: BlockStyle::Page, fault: r.kind });
        }
        None
    }

    /// The connection-level faults for a connection to `host:port`: the first matching of each kind.
    pub fn plan(&self, host: &str, port: u16) -> Plan {
        let wall = |d: SimDuration| self.clock.to_wall(d);
        let mut plan = Plan::default();
        for r in self.rules.iter().filter(|r| r.matcher.matches(host, port)) {
            let fresh = match &r.rule {
                ProxyRule::Latency { latency, direction } => plan.latency.replace((wall(*latency), *direction)).is_none(),
                ProxyRule::Bandwidth { bytes_per_second, direction } => {
                    let rate = *bytes_per_second as f64 * self.clock.scale();
                    plan.bandwidth.replace((rate, *direction)).is_none()
                }
                ProxyRule::Timeout { after } => plan.timeout.replace((!after.0.is_zero()).then(|| wall(*after))).is_none(),
                ProxyRule::ResetPeer { after } => plan.reset_peer.replace(Timer { wall: wall(*after), sim: *after, close: CloseMethod::Rst }).is_none(),
                ProxyRule::LimitData { bytes, close } => plan.limit_data.replace((*bytes, *close)).is_none(),
                ProxyRule::IdleTimeout { after, close } => plan.idle.replace(Timer { wall: wall(*after), sim: *after, close: *close }).is_none(),
                ProxyRule::MaxLifetime { after, close } => plan.lifetime.replace(Timer { wall: wall(*after), sim: *after, close: *close }).is_none(),
                _ => false,
            };
            if fresh {
                plan.faults.push(r.kind);
            }
        }
        plan
    }

    pub fn strips_range(&self, host: &str, port: u16) -> bool {
        self.first(host, port, |r| matches!(r, ProxyRule::StripRange {})).is_some()
    }

    /// The inspection CA that intercepts tunnels to `host:port`, if any.
    pub fn inspection(&self, host: &str, port: u16) -> Option<Arc<InspectionCa>> {
        self.first(host, port, |r| matches!(r, ProxyRule::TlsInspection { .. })).and_then(|r| r.inspection.clone())
    }

    /// PEM of the trusted inspection CAs, for the world's CA bundle.
    pub fn trusted_inspection_pem(&self) -> String {
        self.rules.iter().filter_map(|r| r.inspection.as_ref()).filter(|ca| ca.trusted).map(|ca| ca.pem.as_str()).collect()
    }

    /// Journal, once at start, the required catalog endpoints the allow-list blocks.
    pub fn journal_allow_list_gaps(&self, world: &WorldSpec, catalog: &Catalog, journal: &Journal) {
        let Some(allow) = &self.allow else { return };
        let gaps = allow_list::gaps(allow_list::covered_by(&allow.patterns), world, catalog);
        let listed: Vec<serde_json::Value> = gaps.iter().map(|g| serde_json::json!({"host": g.host, "required_by": g.required_by})).collect();
        journal.record(
            NewEvent::new(Component::Proxy, "allow_list_gaps")
                .fault(ProxyFaultKind::AllowList)
                .detail("allowed", allow.patterns.len())
                .detail("blocked_required", listed.len())
                .detail("gaps", listed),
        );
    }
}
