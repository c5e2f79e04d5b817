//! Refusals: a request the proxy answers itself instead of forwarding — by a policy fault of the
//! scenario (deny, allow_list, auth_required, status) or by its own gate (the sinkhole, a DNS
//! failure, a request that names another host than the one decided on). One place journals
//! them and applies them, for CONNECT, absolute-form and inspected requests alike: on a raw
//! connection ([`on_stream`]) or inside hyper ([`in_hyper`]), in the fault's block style (a
//! page, a reset, silence).

use std::future::pending;
use std::time::Duration;

use scenarios::{BlockStyle, CloseMethod, ProxyFaultKind};
use tokio::net::TcpStream;

use super::conn::{Cause, ConnLog, Control};
use super::respond::{self, Answer, ProxyBody};

/// A request the proxy answers itself, and how.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub answer: Answer,
    pub block: BlockStyle,
    pub by: RefusedBy,
}

/// Who refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusedBy {
    /// A policy fault of the scenario, e.g. `proxy.deny` (journaled as its event, `deny`).
    Fault(ProxyFaultKind),
    /// The proxy's own gate (journaled as `refused` with the gate's name).
    Gate(Gate),
}

/// Why the proxy's gate refused, whatever the scenario says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// An address that is not one of the world's listeners.
    AddressLiteral,
    /// A name outside the emulated zones.
    NotEmulated,
    /// The world's DNS failed for the name.
    Dns,
    /// The name resolved to an address or port the world does not serve.
    Sinkhole,
    /// A plain request to a port whose front speaks TLS.
    TlsPort,
    /// A request inside a tunnel naming another authority than the tunnel's (`Host`, SNI).
    HostMismatch,
}

impl Gate {
    pub fn as_str(self) -> &'static str {
        match self {
            Gate::AddressLiteral => "address_literal",
            Gate::NotEmulated => "not_emulated",
            Gate::Dns => "dns",
            Gate::Sinkhole => "sinkhole",
            Gate::TlsPort => "tls_port",
            Gate::HostMismatch => "host_mismatch",
        }
    }
}

impl Refusal {
    /// A policy fault's refusal in its block style.
    pub fn fault(kind: ProxyFaultKind, answer: Answer, block: BlockStyle) -> Refusal {
        Refusal { answer, block, by: RefusedBy::Fault(kind) }
    }

    /// The gate's refusal: always an answer the client can read.
    pub fn gate(gate: Gate, status: u16, reason: String) -> Refusal {
        Refusal { answer: Answer::new(status, reason), block: BlockStyle::Page, by: RefusedBy::Gate(gate) }
    }

    /// The `decision` of the request's journal event: the fault's event, or `refused`.
    pub fn decision(&self) -> &'static str {
        match self.by {
            RefusedBy::Fault(kind) => kind.event(),
            RefusedBy::Gate(_) => "refused",
        }
    }

    /// Journal the refusal: the fault's own event naming it, or `refused` naming the gate.
    /// No connection was attempted for it either way (the sinkhole property).
    pub fn record(&self, log: &ConnLog, port: u16) {
        let e = match self.by {
            RefusedBy::Fault(kind) => log.fired(kind),
            RefusedBy::Gate(gate) => log.event("refused").detail("refusal", gate.as_str()),
        };
        log.record(
            e.detail("status", self.answer.status)
                .detail("block", serde_json::to_value(self.block).unwrap_or_default())
                .detail("reason", self.answer.reason.clone())
                .detail("port", port)
                .detail("connect_attempted", false),
        );
    }

    /// How the refusal ends the connection when it is not a page.
    fn cut(&self) -> Option<Cause> {
        let close = match self.block {
            BlockStyle::Page => return None,
            BlockStyle::Reset => CloseMethod::Rst,
            BlockStyle::Drop => CloseMethod::Drop,
        };
        // A gate always answers with a page, so a cut is always a fault's.
        let RefusedBy::Fault(kind) = self.by else { return None };
        Some(Cause::Fault { kind, close })
    }
}

/// Journal a refusal that is a failed TLS handshake rather than an answer (a ClientHello
/// naming another host than the tunnel's: rustls sends the client an alert).
pub fn record_handshake(log: &ConnLog, gate: Gate, reason: String, port: u16) {
    log.record(
        log.event("refused")
            .detail("refusal", gate.as_str())
            .detail("tls_alert", "access_denied")
            .detail("reason", reason)
            .detail("port", port)
            .detail("connect_attempted", false),
    );
}

/// Apply a refusal on a raw connection (a CONNECT, or a head the proxy read itself), then
/// journal the close.
pub async fn on_stream(log: &ConnLog, mut client: TcpStream, refusal: Refusal, hold: Duration) {
    match refusal.cut() {
        None => {
            respond::send(&mut client, &refusal.answer).await;
            log.close(&Cause::Answered, 0, 0);
        }
        Some(cause @ Cause::Fault { close: CloseMethod::Rst, .. }) => {
            respond::reset(client);
            log.close(&cause, 0, 0);
        }
        Some(cause) => {
            let discarded = respond::silence(&mut client, hold).await;
            log.close(&cause, discarded, 0);
        }
    }
}

/// Apply a refusal inside hyper (absolute-form and inspected requests): a page is the response;
/// a reset or silence is a cut ordered to the connection's pump, and no response is written.
pub async fn in_hyper(ctl: &Control, refusal: Refusal) -> hyper::Response<ProxyBody> {
    match refusal.cut() {
        None => refusal.answer.to_response(),
        Some(cause) => {
            ctl.cut(cause);
            pending().await
        }
    }
}
