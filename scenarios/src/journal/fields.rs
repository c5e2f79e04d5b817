//! The detail fields each kind of journal event carries: the one list the scenario validator
//! checks `details = { … }` expectations against and README's "Event details" table is made
//! from ([`markdown`]; a test keeps README in step). A test that runs the catalog checks that
//! every detail the worlds journal is listed here, so the list cannot fall behind the emitters.

use super::Component;

/// The JSON type of a detail's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Number,
    Text,
    Bool,
    /// An array (e.g. the fault names of `faults`).
    List,
    /// A JSON object.
    Object,
}

impl FieldType {
    pub fn describe(self) -> &'static str {
        match self {
            FieldType::Number => "a number",
            FieldType::Text => "a text",
            FieldType::Bool => "a boolean",
            FieldType::List => "a list",
            FieldType::Object => "an object",
        }
    }

    fn short(self) -> &'static str {
        match self {
            FieldType::Number => "number",
            FieldType::Text => "text",
            FieldType::Bool => "bool",
            FieldType::List => "list",
            FieldType::Object => "object",
        }
    }

    /// Whether a JSON value is of this type.
    pub fn holds(self, v: &serde_json::Value) -> bool {
        match self {
            FieldType::Number => v.is_number(),
            FieldType::Text => v.is_string(),
            FieldType::Bool => v.is_boolean(),
            FieldType::List => v.is_array(),
            FieldType::Object => v.is_object(),
        }
    }
}

/// One detail field of an event kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub ty: FieldType,
}

/// The detail fields of one kind of event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindFields {
    pub component: Component,
    pub what: &'static str,
    pub fields: &'static [Field],
}

const fn n(name: &'static str) -> Field {
    Field { name, ty: FieldType::Number }
}
const fn t(name: &'static str) -> Field {
    Field { name, ty: FieldType::Text }
}
const fn b(name: &'static str) -> Field {
    Field { name, ty: FieldType::Bool }
}
const fn l(name: &'static str) -> Field {
    Field { name, ty: FieldType::List }
}

/// What the proxy's events about a connection carry (`ConnLog::event`).
const CONN: Field = n("conn");
/// What a refusal of the proxy carries (its policy faults, `proxy/refusal.rs`).
const REFUSAL: &[Field] = &[CONN, n("status"), t("block"), t("reason"), n("port"), b("connect_attempted"), t("tls_alert")];
/// What a proxy fault's event carries when it cuts a connection (`proxy/pump.rs`).
const CONNECTION_FAULT: &[Field] =
    &[CONN, t("close"), n("idle_wall_ms"), n("idle_sim_ms"), n("age_wall_ms"), n("bytes_up"), n("bytes_down"), t("after"), n("close_after_wall_ms")];
/// What every CMG event carries (`services/cmg`): the service and the server log it stands for.
const CMG: [Field; 2] = [t("service"), t("log")];
/// A TLS handshake's outcome (`front/tls.rs`).
const HANDSHAKE: &[Field] =
    &[t("peer"), t("certificate"), n("chain_length"), l("faults"), t("error"), t("version"), t("cipher_suite"), b("client_certificate"), t("protocol")];

/// Every kind of event with its detail fields: `KINDS`, then the proxy's fault events. A field
/// may be missing from one event of its kind (e.g. `error` when nothing failed).
pub const FIELDS: &[KindFields] = &[
    k(Component::World, "starting", &[t("scenario"), n("seed"), n("time_scale")]),
    k(Component::World, "ready", &[t("https_addr"), t("http_addr"), t("proxy_url"), t("dns_addr")]),
    k(Component::World, "journal_dropped", &[n("events"), n("bytes"), n("first_seq"), n("last_seq"), n("dropped_total"), n("window_bytes"), b("in_file")]),
    k(Component::World, "panic", &[t("task"), t("message")]),
    k(Component::Pki, "generated", &[n("cas"), n("hosts"), n("ms")]),
    k(Component::Pki, "revoked", &[t("serial"), t("reason"), t("ca"), t("by")]),
    k(Component::Pki, "restored", &[t("serial"), n("removed"), t("by")]),
    k(Component::Pki, "crl_served", &[t("path"), t("ca"), n("crl_number"), l("revoked"), n("this_update"), n("next_update")]),
    k(Component::Pki, "crl_unavailable", &[t("path"), n("status")]),
    k(Component::Pki, "ca_cert_served", &[t("path"), t("ca")]),
    k(Component::Pki, "ocsp_response", &[t("path"), t("method"), t("ca"), t("response_status"), l("certificates")]),
    k(Component::Tls, "handshake", HANDSHAKE),
    k(Component::Tls, "handshake_failed", HANDSHAKE),
    k(Component::Tls, "handshake_refused", HANDSHAKE),
    k(Component::Tls, "closed_without_request", HANDSHAKE),
    k(Component::Http, "request", &[t("scheme"), t("method"), t("path"), n("status"), t("service"), n("ms"), t("protocol")]),
    k(Component::Http, "misdirected", &[t("scheme"), t("method"), t("path"), n("status")]),
    k(Component::Http, "content", &[t("package"), t("method"), t("range"), n("status"), n("bytes")]),
    k(Component::Http, "content_aborted", &[t("package"), n("generated"), n("expected")]),
    k(Component::Http, "action_queued", &[t("template"), t("task")]),
    k(Component::Http, "notifications_delivered", &[n("count"), n("held_s")]),
    k(Component::Http, "poll_started", &[n("polls"), n("pending_actions")]),
    k(Component::Http, "poll_abandoned", &[n("held_s"), n("polls_left"), n("pending_actions")]),
    k(Component::Http, "turned_away", &[t("listener"), t("scheme"), t("peer"), n("max_connections")]),
    k(Component::Http, "ccm_token_issued", &[CMG[0], CMG[1], t("text"), t("token_type"), n("exp"), t("device")]),
    k(Component::Http, "ccm_token_refused", &[CMG[0], CMG[1], t("reason"), t("text"), b("synthetic_text"), n("status")]),
    k(Component::Http, "client_registered", &[CMG[0], CMG[1], t("text"), t("client"), t("sms_id"), n("client_token_exp")]),
    k(Component::Http, "registration_refused", &[CMG[0], CMG[1], n("status"), t("text")]),
    k(Component::Http, "client_token_renewed", &[CMG[0], CMG[1], t("text"), t("client"), t("sms_id"), n("client_token_exp")]),
    k(Component::Http, "bad_message", &[CMG[0], CMG[1], t("error")]),
    k(Component::Http, "bulk_token_minted", &[CMG[0], CMG[1], t("id"), n("lifetime_minutes"), t("for"), n("chars")]),
    k(Component::Http, "bulk_token_refused", &[CMG[0], CMG[1], t("error"), n("lifetime_minutes")]),
    k(Component::Http, "bulk_token_blocked", &[CMG[0], CMG[1], t("id")]),
    k(Component::Http, "bulk_token_unblocked", &[CMG[0], CMG[1], t("id")]),
    k(Component::Http, "token_issued", &[t("endpoint"), t("grant"), t("client_id"), t("aud"), t("kid"), t("upn")]),
    k(Component::Http, "token_refused", &[t("endpoint"), t("code"), t("error"), t("service"), t("resource"), t("reason")]),
    k(
        Component::Http,
        "discover",
        &[t("path"), t("route"), t("email"), t("request_version"), t("device_type"), t("auth_policy"), t("enrollment_url"), t("content_type")],
    ),
    k(Component::Http, "policies", &[t("path"), t("upn"), t("auth"), n("minimal_key_length")]),
    k(
        Component::Http,
        "enroll",
        &[t("path"), t("upn"), t("enrollment_type"), t("subject"), t("thumbprint"), t("serial"), n("key_bits"), t("transfer_encoding"), n("fraction")],
    ),
    k(Component::Http, "checkin", &[t("path"), t("thumbprint"), t("device_id"), t("upn"), t("session"), l("alerts"), t("devinfo_devid"), t("refused")]),
    k(Component::Http, "soap_fault", &[t("step"), t("subcode"), n("status"), t("reason"), t("trace_id"), t("error_type")]),
    k(Component::Http, "sign_in", &[t("upn")]),
    k(Component::Http, "bad_request", &[t("service"), t("reason")]),
    k(Component::Http, "device_joined", &[t("device_id"), n("join_type"), t("thumbprint")]),
    k(Component::Http, "device_enrolled", &[t("device_id"), t("thumbprint")]),
    k(Component::Dns, "query", &[t("transport"), t("type"), t("rcode"), b("answered"), b("truncated"), l("answer"), l("authority")]),
    k(Component::Dns, "malformed", &[t("transport"), t("rcode")]),
    k(Component::Proxy, "open", &[CONN, t("peer")]),
    k(Component::Proxy, "close", &[CONN, t("cause"), t("close"), t("error"), n("bytes_up"), n("bytes_down"), n("wall_ms"), n("sim_ms")]),
    k(Component::Proxy, "request", &[CONN, t("method"), t("target"), n("port"), t("decision"), l("faults"), t("front"), b("inspected")]),
    k(
        Component::Proxy,
        "refused",
        &[CONN, t("peer"), n("status"), t("refusal"), t("reason"), n("max_connections"), b("connect_attempted"), t("tls_alert"), n("port")],
    ),
    k(Component::Proxy, "bad_request", &[CONN, t("method"), t("reason"), n("status")]),
    k(Component::Proxy, "upstream", &[CONN, t("addr"), t("front"), b("inspected")]),
    k(Component::Proxy, "upstream_failed", &[CONN, t("addr"), t("error")]),
    k(Component::Proxy, "allow_list_gaps", &[n("allowed"), n("blocked_required"), l("gaps")]),
    k(Component::Proxy, "not_applicable", &[CONN, t("fault"), t("reason")]),
    k(Component::Client, "probe_result", &[t("probe"), b("passed"), t("step"), t("code"), n("cut_sim_ms")]),
    k(Component::Control, "fault_added", &[n("id"), t("toml"), t("error")]),
    k(Component::Control, "fault_changed", &[n("id"), t("toml"), t("error")]),
    k(Component::Control, "fault_removed", &[n("id"), t("toml"), t("error")]),
    // The proxy's fault events (`ProxyFaultKind::event`): its policies, then its connection faults.
    k(Component::Proxy, "auth_required", REFUSAL),
    k(Component::Proxy, "allow_list", REFUSAL),
    k(Component::Proxy, "deny", REFUSAL),
    k(Component::Proxy, "status", REFUSAL),
    k(Component::Proxy, "strip_range", &[CONN, t("range")]),
    k(Component::Proxy, "tls_inspection", &[CONN, t("ca"), b("trusted"), b("accepted"), t("error"), t("protocol")]),
    k(Component::Proxy, "http1_only", &[CONN, l("client_offered"), b("downgraded"), t("protocol")]),
    k(Component::Proxy, "latency", &[CONN, n("wall_ms"), t("direction")]),
    k(Component::Proxy, "bandwidth", &[CONN, n("wall_bytes_per_s"), t("direction")]),
    k(Component::Proxy, "timeout", CONNECTION_FAULT),
    k(Component::Proxy, "idle_timeout", CONNECTION_FAULT),
    k(Component::Proxy, "max_lifetime", CONNECTION_FAULT),
    k(Component::Proxy, "reset_peer", CONNECTION_FAULT),
    k(Component::Proxy, "limit_data", CONNECTION_FAULT),
];

const fn k(component: Component, what: &'static str, fields: &'static [Field]) -> KindFields {
    KindFields { component, what, fields }
}

/// The kinds an expectation naming `component` and `what` (either may be left out) can match.
pub fn kinds_matching(component: Option<Component>, what: Option<&str>) -> Vec<&'static KindFields> {
    FIELDS.iter().filter(|k| component.is_none_or(|c| c == k.component) && what.is_none_or(|w| w == k.what)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind an expectation may name has its row (a new kind needs one), and no row names
    /// a kind nothing journals.
    #[test]
    fn every_event_kind_has_its_fields_and_only_those() {
        for (component, _) in super::super::KINDS {
            for what in super::super::kinds_of(*component) {
                assert!(FIELDS.iter().any(|k| k.component == *component && k.what == what), "no FIELDS row for {} `{what}`", component.as_str());
            }
        }
        for k in FIELDS {
            assert!(super::super::is_kind_of(k.component, k.what), "FIELDS lists {} `{}`, which nothing journals", k.component.as_str(), k.what);
            let mut names: Vec<&str> = k.fields.iter().map(|f| f.name).collect();
            names.sort_unstable();
            let before = names.len();
            names.dedup();
            assert_eq!(before, names.len(), "{} `{}` lists a field twice", k.component.as_str(), k.what);
        }
    }
}

/// The detail fields of one kind (none when it is not listed).
pub fn fields_of(component: Component, what: &str) -> &'static [Field] {
    FIELDS.iter().find(|k| k.component == component && k.what == what).map_or(&[], |k| k.fields)
}

/// README's "Event details" table: a row per kind, its fields with their types.
pub fn markdown() -> String {
    let mut out = String::from("| component | what | details |\n|---|---|---|\n");
    for k in FIELDS {
        let fields: Vec<String> = k.fields.iter().map(|f| format!("`{}` {}", f.name, f.ty.short())).collect();
        let fields = if fields.is_empty() { "—".to_string() } else { fields.join(", ") };
        out.push_str(&format!("| {} | `{}` | {fields} |\n", k.component.as_str(), k.what));
    }
    out
}
