//! RFC 8484 DNS over HTTPS on the world's HTTPS front: `GET /dns-query?dns=<base64url>` and
//! `POST /dns-query` with an `application/dns-message` body, answered by the world's DNS
//! through [`DnsWire`]. It lets clients that cannot be given a DNS server address (curl's
//! `--doh-url`, browsers) resolve through the world.
//!
//! It is only the HTTP side: it neither parses nor builds DNS messages (the world's DNS does,
//! with its zones, faults and journal). A query the DNS drops gets no answer until
//! [`DROPPED_HOLD`] has passed, then 504, as a DoH server whose resolver never answers.
//! Errors are HTTP statuses with a plain-text reason ([`DohError`]): RFC 8484 §4.2.1 leaves
//! the body of an HTTP error to the server.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::AppState;
use crate::{DnsWire, DohAnswer};

/// RFC 8484 §4.1: the URI template's path memsim serves (the RFC's own example).
pub const PATH: &str = "/dns-query";
/// RFC 8484 §6: the media type of a DNS message.
pub const DNS_MESSAGE: &str = "application/dns-message";
/// A DNS message is at most 65535 bytes (RFC 1035 §4.2.2's length prefix).
const MAX_MESSAGE: usize = 65_535;
/// RFC 1035 §4.1.1: a message starts with a 12-byte header; anything shorter is not DNS.
const HEADER_LEN: usize = 12;
/// How long a dropped query keeps the client waiting (wall time) before 504.
pub const DROPPED_HOLD: Duration = Duration::from_secs(10);

#[derive(Clone)]
struct DohState {
    dns: Option<Arc<dyn DnsWire>>,
    hold: Duration,
}

pub fn router(app: &AppState) -> Router {
    with(app.dns.clone(), DROPPED_HOLD)
}

fn with(dns: Option<Arc<dyn DnsWire>>, hold: Duration) -> Router {
    Router::new().route(PATH, get(by_get).post(by_post)).with_state(DohState { dns, hold })
}

/// What the DoH service answers instead of a DNS message.
#[derive(Debug, thiserror::Error)]
pub enum DohError {
    #[error("{0}")]
    BadRequest(&'static str),
    #[error("POST /dns-query takes Content-Type: {DNS_MESSAGE} (RFC 8484 §4.1)")]
    UnsupportedMediaType,
    #[error("a DNS message is at most 65535 bytes")]
    TooLarge,
    #[error("this world runs without DNS")]
    NoDns,
    #[error("the DNS sent no answer")]
    NoAnswer,
}

impl IntoResponse for DohError {
    fn into_response(self) -> Response {
        let status = match self {
            DohError::BadRequest(_) => StatusCode::BAD_REQUEST,
            DohError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            DohError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            DohError::NoDns => StatusCode::SERVICE_UNAVAILABLE,
            DohError::NoAnswer => StatusCode::GATEWAY_TIMEOUT,
        };
        (status, format!("{self}\n")).into_response()
    }
}

#[derive(Deserialize)]
struct DnsParam {
    dns: Option<String>,
}

async fn by_get(State(s): State<DohState>, Query(q): Query<DnsParam>) -> Result<Response, DohError> {
    let Some(encoded) = q.dns else {
        return Err(DohError::BadRequest("GET /dns-query needs ?dns=<the query, base64url without padding> (RFC 8484 §4.1)"));
    };
    match base64url_decode(&encoded) {
        Some(query) => answer(&s, query).await,
        None => Err(DohError::BadRequest("the dns parameter is not base64url (RFC 4648 §5)")),
    }
}

async fn by_post(State(s): State<DohState>, headers: HeaderMap, body: Bytes) -> Result<Response, DohError> {
    let media = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !media.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case(DNS_MESSAGE) {
        return Err(DohError::UnsupportedMediaType);
    }
    answer(&s, body.to_vec()).await
}

async fn answer(s: &DohState, query: Vec<u8>) -> Result<Response, DohError> {
    let dns = s.dns.as_ref().ok_or(DohError::NoDns)?;
    if query.len() < HEADER_LEN {
        return Err(DohError::BadRequest("the query is shorter than a DNS header"));
    }
    if query.len() > MAX_MESSAGE {
        return Err(DohError::TooLarge);
    }
    match dns.answer(query).await {
        DohAnswer::Message(message) => {
            let mut res = (StatusCode::OK, message).into_response();
            res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(DNS_MESSAGE));
            Ok(res)
        }
        // A drop fault: the client waits, as it would for a UDP answer that never comes.
        DohAnswer::Dropped => {
            tokio::time::sleep(s.hold).await;
            Err(DohError::NoAnswer)
        }
        DohAnswer::NotAQuery => Err(DohError::BadRequest("the body is not a DNS query (a response message, or no DNS header)")),
    }
}

/// RFC 4648 §5 base64url. RFC 8484 §4.1 says the padding is left out; a padded value is
/// accepted all the same (be liberal in what you accept).
fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;

    use axum::body::Body;
    use axum::extract::Request;
    use tower::ServiceExt;

    use super::*;

    /// Echoes the query back with the QR bit set; drops queries whose id is 0xdead; a message
    /// with QR already set is no query.
    #[derive(Debug)]
    struct Echo;

    impl DnsWire for Echo {
        fn answer(&self, mut query: Vec<u8>) -> Pin<Box<dyn Future<Output = DohAnswer> + Send + '_>> {
            let answer = if query[2] & 0x80 != 0 {
                DohAnswer::NotAQuery
            } else if query[..2] == [0xde, 0xad] {
                DohAnswer::Dropped
            } else {
                query[2] |= 0x80;
                DohAnswer::Message(query)
            };
            Box::pin(async move { answer })
        }
    }

    const QUERY: [u8; 17] = [0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1];

    async fn call(dns: Option<Arc<dyn DnsWire>>, req: Request) -> (StatusCode, HeaderMap, Vec<u8>) {
        let res = with(dns, DROPPED_HOLD).oneshot(req).await.unwrap();
        let (parts, body) = res.into_parts();
        (parts.status, parts.headers, axum::body::to_bytes(body, MAX_MESSAGE).await.unwrap().to_vec())
    }

    #[tokio::test]
    async fn get_and_post_carry_the_message_both_ways() {
        let get = Request::get("/dns-query?dns=AAABAAABAAAAAAAAAAABAAE").body(Body::empty()).unwrap();
        let (status, headers, body) = call(Some(Arc::new(Echo)), get).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], DNS_MESSAGE);
        assert_eq!(body[2], 0x81, "the DNS's answer, unchanged");
        let post = Request::post(PATH).header(header::CONTENT_TYPE, DNS_MESSAGE).body(Body::from(QUERY.to_vec())).unwrap();
        let (status, _, body) = call(Some(Arc::new(Echo)), post).await;
        assert_eq!((status, body.len()), (StatusCode::OK, QUERY.len()));
    }

    #[tokio::test]
    async fn bad_requests_get_their_http_status() {
        let cases = [
            (Request::get(PATH).body(Body::empty()).unwrap(), StatusCode::BAD_REQUEST),
            (Request::get("/dns-query?dns=***").body(Body::empty()).unwrap(), StatusCode::BAD_REQUEST),
            (Request::get("/dns-query?dns=AAAB").body(Body::empty()).unwrap(), StatusCode::BAD_REQUEST),
            (Request::post(PATH).header(header::CONTENT_TYPE, "text/plain").body(Body::from(QUERY.to_vec())).unwrap(), StatusCode::UNSUPPORTED_MEDIA_TYPE),
            (Request::delete(PATH).body(Body::empty()).unwrap(), StatusCode::METHOD_NOT_ALLOWED),
            (Request::get("/other").body(Body::empty()).unwrap(), StatusCode::NOT_FOUND),
        ];
        for (req, want) in cases {
            let what = format!("{} {}", req.method(), req.uri());
            assert_eq!(call(Some(Arc::new(Echo)), req).await.0, want, "{what}");
        }
        let no_dns = Request::get("/dns-query?dns=AAABAAABAAAAAAAAAAABAAE").body(Body::empty()).unwrap();
        assert_eq!(call(None, no_dns).await.0, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_query_waits_then_gets_504() {
        let mut dropped = QUERY.to_vec();
        dropped[..2].copy_from_slice(&[0xde, 0xad]);
        let post = Request::post(PATH).header(header::CONTENT_TYPE, DNS_MESSAGE).body(Body::from(dropped)).unwrap();
        let hold = Duration::from_secs(10);
        let started = tokio::time::Instant::now();
        let res = with(Some(Arc::new(Echo)), hold).oneshot(post).await.unwrap();
        assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
        assert!(started.elapsed() >= hold, "no answer before the hold has passed");
    }

    #[tokio::test(start_paused = true)]
    async fn a_response_message_is_bad_input_at_once() {
        let mut response = QUERY.to_vec();
        response[2] |= 0x80;
        let post = Request::post(PATH).header(header::CONTENT_TYPE, DNS_MESSAGE).body(Body::from(response)).unwrap();
        let started = tokio::time::Instant::now();
        let res = with(Some(Arc::new(Echo)), Duration::from_secs(10)).oneshot(post).await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(started.elapsed() < Duration::from_secs(1), "no hold for bytes that are no query");
    }

    #[test]
    fn base64url_round_trips_rfc_4648_vectors() {
        for (enc, dec) in
            [("", ""), ("Zg", "f"), ("Zm8", "fo"), ("Zm9v", "foo"), ("Zm9vYg", "foob"), ("Zm9vYmE", "fooba"), ("Zm9vYmFy", "foobar"), ("Zm8=", "fo")]
        {
            assert_eq!(base64url_decode(enc).as_deref(), Some(dec.as_bytes()), "{enc}");
        }
        assert_eq!(base64url_decode("-_8"), Some(vec![0xfb, 0xff]));
        assert_eq!(base64url_decode("Z"), None);
        assert_eq!(base64url_decode("a+b/"), None, "that is base64, not base64url");
    }
}
