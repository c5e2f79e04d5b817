//! The management point behind the gateway: the location helpers (`SMS_MP/.sms_aut?MPLIST`,
//! `?MPCERT`, `?SITESIGNCERT`; protocols.md §8.2) and MP messaging with the CCM token
//! (`CCM_POST …/ccm_system_tokenauth/request`): client registration (`MP_ClientRegistration`,
//! `<ClientRegistrationRequest><Data RequestType="Registration">`, as sccmwtf.py sends it) and
//! client-token renewal (`RequestType="TokenRenewal"`, memsim's own).
//!
//! memsim's own contract (`contract.md`): the CCM token rides in `Authorization: Bearer`;
//! the reply body is `<ClientRegistrationReply SMSID="GUID:…" ResponseType="…"
//! ApprovalStatus="1"><ClientToken ExpiresOn="unix">JWT</ClientToken></ClientRegistrationReply>`
//! (the `SMSID="GUID:…"` attribute is what sccmwtf.py reads from the real reply). MPCERT and
//! SITESIGNCERT answer the site's token-signing certificate as upper-case hex DER.

use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::response::Response;
use scenarios::CmgFaultKind;

use super::framing::{self, FramingError};
use super::tokens::{self, Claims, Kind};
use super::{CCM_POST, Channel, CmgState, answer, faults, fired, xml_escape};

/// The MP's version in the MP list (ConfigMgr 2107+ answers 9xxx; protocols.md §8.2's example).
const MP_VERSION: u32 = 9128;
/// The MP's capabilities, exactly as seed 004's expected log line quotes them (space before `=` included).
pub const CAPABILITIES: &str = "<Capabilities SchemaVersion =\"1.0\"><Property Name=\"SSL\" Version=\"1\" /></Capabilities>";

pub(super) async fn location(s: &CmgState, query: &str, method: &Method) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return answer(StatusCode::METHOD_NOT_ALLOWED, None, "text/plain; charset=utf-8", "memsim: .sms_aut answers GET\n");
    }
    let what = query.split('&').next().unwrap_or_default().to_ascii_uppercase();
    match what.as_str() {
        "MPLIST" | "MPLIST1" | "MPLIST2" => {
            let host = s.host.to_ascii_uppercase();
            let xml = format!(
                "<MPList><MP Name=\"{host}/{}/{}\" FQDN=\"{host}\"><Version>{MP_VERSION}</Version>{CAPABILITIES}</MP></MPList>",
                super::MUTUAL_AUTH,
                s.mp_id
            );
            answer(StatusCode::OK, None, "text/xml; charset=utf-8", xml)
        }
        "MPCERT" | "SITESIGNCERT" => {
            let site = s.site.clone();
            match tokio::task::spawn_blocking(move || site.signer()).await {
                Ok(Ok(signer)) => {
                    answer(StatusCode::OK, None, "text/plain; charset=utf-8", signer.cert_der.iter().map(|b| format!("{b:02X}")).collect::<String>())
                }
                Ok(Err(e)) => answer(StatusCode::INTERNAL_SERVER_ERROR, None, "text/plain; charset=utf-8", format!("memsim: {e}\n")),
                Err(e) => answer(StatusCode::INTERNAL_SERVER_ERROR, None, "text/plain; charset=utf-8", format!("memsim: {e}\n")),
            }
        }
        _ => answer(StatusCode::NOT_FOUND, None, "text/plain; charset=utf-8", "memsim: .sms_aut answers ?MPLIST, ?MPCERT and ?SITESIGNCERT\n"),
    }
}

/// A refusal of a messaging request: status, reason phrase, the log and its line.
struct Refused {
    status: StatusCode,
    reason: Option<&'static str>,
    what: &'static str,
    log: &'static str,
    text: String,
    fault: Option<CmgFaultKind>,
}

impl Refused {
    fn new(status: StatusCode, what: &'static str, log: &'static str, text: String) -> Refused {
        Refused { status, reason: None, what, log, text, fault: None }
    }
}

pub(super) async fn tokenauth(s: &CmgState, channel: Channel, req: Request) -> Response {
    match messaging(s, channel, req).await {
        Ok(res) => res,
        Err(r) => {
            let event = s.record(r.what, r.log).detail("status", r.status.as_u16()).detail("text", r.text.clone());
            s.journal.record(match r.fault {
                Some(k) => event.fault(k),
                None => event,
            });
            let res = answer(r.status, r.reason, "text/plain; charset=utf-8", format!("{}\n", r.text));
            match r.fault {
                Some(k) => fired(res, k),
                None => res,
            }
        }
    }
}

async fn messaging(s: &CmgState, channel: Channel, req: Request) -> Result<Response, Refused> {
    if req.method().as_str() != CCM_POST {
        let mut r = Refused::new(StatusCode::METHOD_NOT_ALLOWED, "bad_message", "MP_RegistrationManager.log", format!("{} is not CCM_POST", req.method()));
        r.reason = None;
        return Err(r);
    }
    if channel == Channel::MutualAuth {
        // Token traffic goes to ServerAuth; MutualAuth wants a client certificate (failure catalog CMG-04).
        let mut r = Refused::new(
            StatusCode::FORBIDDEN,
            "ccm_token_refused",
            "ClientAuth.log",
            "the MutualAuth channel needs a client certificate: send token-authenticated messages to CCM_Proxy_ServerAuth".into(),
        );
        r.reason = Some("CMGConnector_Clientcertificaterequired");
        return Err(r);
    }
    let now = s.journal.clock().now();
    let bearer = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).map(str::to_string);
    let Some(bearer) = bearer else {
        return Err(Refused::new(
            StatusCode::UNAUTHORIZED,
            "ccm_token_refused",
            "ClientAuth.log",
            "no CCM token on the request (Authorization: Bearer <CCM token>)".into(),
        ));
    };
    if faults::active(s, CmgFaultKind::CcmTokenExpired).is_some() && !s.ccm_expired_fired.swap(true, std::sync::atomic::Ordering::Relaxed) {
        let mut r = Refused::new(
            StatusCode::UNAUTHORIZED,
            "ccm_token_refused",
            "ClientAuth.log",
            "the CCM token expired during the session: get a new one from CCM_STS".into(),
        );
        r.reason = Some(super::INVALID_TOKEN);
        r.fault = Some(CmgFaultKind::CcmTokenExpired);
        return Err(r);
    }
    let site = s.site.clone();
    let tenant = s.tenant_id.clone();
    let ccm = tokio::task::spawn_blocking(move || site.verify(&bearer, Kind::Ccm, &tenant, now))
        .await
        .map_err(|e| Refused::new(StatusCode::INTERNAL_SERVER_ERROR, "bad_message", "ClientAuth.log", e.to_string()))?
        .map_err(|e| {
            let mut r =
                Refused::new(StatusCode::UNAUTHORIZED, "ccm_token_refused", "ClientAuth.log", format!("CCM token validation failed, {}", e.exception()));
            r.reason = Some(super::INVALID_TOKEN);
            r
        })?;
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let bytes = axum::body::to_bytes(req.into_body(), framing::MAX_BODY).await.map_err(|_| {
        Refused::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "bad_message",
            "MP_RegistrationManager.log",
            format!("the message is more than {} bytes", framing::MAX_BODY),
        )
    })?;
    let msg = framing::parse(&content_type, &bytes)
        .map_err(|e: FramingError| Refused::new(StatusCode::BAD_REQUEST, "bad_message", "MP_RegistrationManager.log", e.to_string()))?;
    let endpoint = framing::xml_value(&msg.header, "TargetEndpoint", None).unwrap_or_default();
    if endpoint != "MP_ClientRegistration" {
        return Err(Refused::new(
            StatusCode::NOT_FOUND,
            "bad_message",
            "MP_RegistrationManager.log",
            format!("no endpoint `{}` here: memsim's MP answers MP_ClientRegistration", endpoint.chars().take(60).collect::<String>()),
        ));
    }
    let request_type = framing::xml_value(&msg.body, "Data", Some("RequestType")).unwrap_or_default();
    let client = framing::xml_value(&msg.header, "SourceHost", None).unwrap_or_default();
    let state = s.clone();
    let result = tokio::task::spawn_blocking(move || register(&state, &ccm, &request_type, &msg))
        .await
        .map_err(|e| Refused::new(StatusCode::INTERNAL_SERVER_ERROR, "bad_message", "MP_RegistrationManager.log", e.to_string()))??;
    let (reply, sms_id, exp, renewal) = result;
    s.journal.record(
        s.record(if renewal { "client_token_renewed" } else { "client_registered" }, "MP_RegistrationManager.log")
            .detail("sms_id", sms_id.clone())
            .detail("client", client.clone())
            .detail("client_token_exp", exp)
            .detail("text", format!("Processing Registration request from Client '{client}' ... Client GUID:{sms_id} registered, approval status 1")),
    );
    let header = format!(
        "<Msg SchemaVersion=\"1.1\"><Body Type=\"ByteRange\" Length=\"{}\" Offset=\"0\" /><ID>{{{}}}</ID><Payload Type=\"inline\" /><ReplyMode>Sync</ReplyMode><SourceHost>{}</SourceHost><TargetAddress>direct:{}:SccmMessaging</TargetAddress><TargetEndpoint>MP_ClientRegistration</TargetEndpoint></Msg>",
        framing::body_length(&reply),
        tokens::new_guid().to_ascii_uppercase(),
        s.host.to_ascii_uppercase(),
        xml_escape(&client)
    );
    Ok(answer(StatusCode::OK, None, framing::CONTENT_TYPE, framing::build(&header, &reply)))
}

type Registered = (String, String, i64, bool);

/// Registration (with a pre-auth CCM token) or renewal (with a client CCM token): the reply
/// body, the SMSID, the new client token's expiry, and whether it was a renewal.
fn register(s: &CmgState, ccm: &Claims, request_type: &str, msg: &framing::Message) -> Result<Registered, Refused> {
    let token_type = ccm.token_type.as_deref().unwrap_or_default();
    let refuse = |text: String| Refused::new(StatusCode::FORBIDDEN, "registration_refused", "MP_RegistrationManager.log", text);
    let (sms_id, renewal) = match request_type {
        "Registration" if matches!(token_type, "BulkRegistration" | "UDA" | "Device") => {
            if framing::xml_value(&msg.body, "Signing", None).is_none_or(|h| h.is_empty() || !h.bytes().all(|b| b.is_ascii_hexdigit())) {
                return Err(refuse("the registration request carries no signing certificate (<Certificates><Signing Encoding=\"HexBinary\">)".into()));
            }
            (format!("GUID:{}", tokens::new_guid().to_ascii_uppercase()), false)
        }
        "Registration" => return Err(refuse(format!("a registration needs a pre-auth CCM token (bulk registration or Entra), not `{token_type}`"))),
        "TokenRenewal" => match (token_type, &ccm.device_id) {
            ("ClientToken", Some(d)) => (d.clone(), true),
            _ => return Err(refuse("a client-token renewal needs the client's own CCM token".into())),
        },
        other => return Err(refuse(format!("RequestType `{}` is not Registration or TokenRenewal", other.chars().take(40).collect::<String>()))),
    };
    let nbf = s.journal.clock().now().unix_timestamp();
    let exp = nbf + i64::try_from(s.client_validity.0.as_secs()).unwrap_or(90 * 86400);
    let mut claims = Claims::bulk(&s.tenant_id, &tokens::new_guid(), nbf, exp);
    claims.category = tokens::CLIENT_CATEGORY.into();
    claims.kind = "ClientToken".into();
    claims.device_id = Some(sms_id.clone());
    let token = s
        .site
        .sign(&claims)
        .map_err(|e| Refused::new(StatusCode::INTERNAL_SERVER_ERROR, "registration_refused", "MP_RegistrationManager.log", e.to_string()))?;
    s.registry.remember_client(&sms_id, exp);
    let kind = if renewal { "TokenRenewal" } else { "Registration" };
    let reply = format!(
        "<ClientRegistrationReply SMSID=\"{sms_id}\" ResponseType=\"{kind}\" ApprovalStatus=\"1\"><ClientToken ExpiresOn=\"{exp}\">{token}</ClientToken></ClientRegistrationReply>"
    );
    Ok((reply, sms_id, exp, renewal))
}
