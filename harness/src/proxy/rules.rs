//! The proxy's policy: a scenario's proxy faults compiled once per world into host matchers
//! (host patterns, endpoint-set IDs and categories resolved against the catalog), then asked
//! per request. [`Policy::check`] decides whether a request is answered by the proxy itself
//! (authentication, allow-list, deny, injected status, in that order, as a corporate proxy
//! authenticates before it applies URL policy); [`Policy::plan`] gives the connection faults a
//! tunnel or request carries ([`super::plan`]), each rule's effect compiled once. No I/O.

use std::sync::Arc;

use mock_cloud::Catalog;
use mock_cloud::catalog::{Category, host_of};
use scenarios::{
    BlockStyle, Clock, Component, EndpointCategory, HostPattern, Journal, NewEvent, ProxyFault, ProxyFaultKind, ProxyRule, ProxyTarget, WorldSpec,
};

use super::allow_list;
use super::auth;
use super::ca::InspectionCa;
use super::error::ProxyError;
use super::plan::{ConnFault, Effect, Plan};
use super::refusal::Refusal;
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
    /// What the rule does to a connection it selects (`None`: a policy rule, see `check`).
    effect: Option<Effect>,
}

/// Only these hosts pass: every `proxy.allow_list` fault's targets and files, merged.
struct AllowRule {
    patterns: Vec<HostPattern>,
    block: BlockStyle,
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
}

impl Policy {
    pub fn compile(faults: &[ProxyFault], world: &WorldSpec, catalog: &Catalog, permitted: &[String], clock: &Clock) -> Result<Policy, ProxyError> {
        Policy::compile_after(faults, world, catalog, permitted, clock, None)
    }

    /// [`Policy::compile`] for a running world's changed faults (issue 17): an inspection CA of
    /// the same name and trust as one `previous` had is kept, so the CA the world's `ca.pem`
    /// holds goes on signing.
    pub fn compile_after(
        faults: &[ProxyFault],
        world: &WorldSpec,
        catalog: &Catalog,
        permitted: &[String],
        clock: &Clock,
        previous: Option<&Policy>,
    ) -> Result<Policy, ProxyError> {
        let kept = |name: &str, trusted: bool| {
            previous?.rules.iter().find_map(|r| match &r.effect {
                Some(Effect::Intercept(ca)) if ca.name == name && ca.trusted == trusted => Some(ca.clone()),
                _ => None,
            })
        };
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
            let effect = match &fault.rule {
                // The one effect that needs more than the rule: the CA is generated here, once.
                ProxyRule::TlsInspection { trusted, ca_name } => {
                    let name = ca_name.clone().unwrap_or_else(|| format!("{} TLS Inspection CA", world.tenant_name));
                    let organization = format!("{} Ltd", world.tenant_name);
                    let ca = match kept(&name, *trusted) {
                        Some(ca) => ca,
                        None => Arc::new(InspectionCa::generate(&name, &organization, *trusted, permitted, clock.now())?),
                    };
                    Some(Effect::Intercept(ca))
                }
                rule => Effect::of(rule, clock),
            };
            rules.push(Rule { kind: fault.kind(), matcher, rule: fault.rule.clone(), effect });
        }
        Ok(Policy { rules, allow })
    }

    fn first(&self, host: &str, port: u16, pick: impl Fn(&ProxyRule) -> bool) -> Option<&Rule> {
        self.rules.iter().find(|r| pick(&r.rule) && r.matcher.matches(host, port))
    }

    /// The kind of the proxy-authentication fault that applies to `host:port`, if any: a
    /// transparent connection cannot show it (issue 19) and reports it as not applicable.
    pub fn auth_kind(&self, host: &str, port: u16) -> Option<ProxyFaultKind> {
        self.first(host, port, |r| matches!(r, ProxyRule::AuthRequired { .. })).map(|r| r.kind)
    }

    /// `Some` when the proxy answers this request (to `host:port`) itself. `transparent`: the
    /// client does not know a proxy is there, so it cannot be asked to authenticate.
    pub fn check(&self, host: &str, port: u16, proxy_authorization: Option<&[u8]>, transparent: bool) -> Option<Refusal> {
        if let Some(r) = self.first(host, port, |r| !transparent && matches!(r, ProxyRule::AuthRequired { .. })) {
            let ProxyRule::AuthRequired { user, password, schemes } = &r.rule else { unreachable!() };
            if let Some(answer) = auth::check(user, password, schemes, proxy_authorization) {
                return Some(Refusal::fault(r.kind, answer, BlockStyle::Page));
            }
        }
        if let Some(allow) = &self.allow
            && !allow.patterns.iter().any(|p| p.matches(host))
        {
            let mut answer = Answer::new(403, format!("{} is not on the proxy's allow-list", echo(host)));
            answer.page = true;
            return Some(Refusal::fault(ProxyFaultKind::AllowList, answer, allow.block));
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
            return Some(Refusal::fault(r.kind, answer, block));
        }
        if let Some(r) = self.first(host, port, |r| matches!(r, ProxyRule::Status { .. })) {
            let ProxyRule::Status { status } = r.rule else { unreachable!() };
            let answer = Answer::new(status, format!("the proxy answered {status} for {} (injected fault)", echo(host)));
            return Some(Refusal::fault(r.kind, answer, BlockStyle::Page));
        }
        None
    }

    /// The connection faults for a connection or request to `host:port`: the first matching
    /// rule of each kind.
    pub fn plan(&self, host: &str, port: u16) -> Plan {
        let mut plan = Plan::default();
        for r in self.rules.iter().filter(|r| r.matcher.matches(host, port)) {
            if let Some(effect) = &r.effect {
                plan.push(ConnFault { kind: r.kind, effect: effect.clone() });
            }
        }
        plan
    }

    /// PEM of the trusted inspection CAs, for the world's CA bundle.
    pub fn trusted_inspection_pem(&self) -> String {
        let cas = self.rules.iter().filter_map(|r| match &r.effect {
            Some(Effect::Intercept(ca)) => Some(ca),
            _ => None,
        });
        cas.filter(|ca| ca.trusted).map(|ca| ca.pem.as_str()).collect()
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
