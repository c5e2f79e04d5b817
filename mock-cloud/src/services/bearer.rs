//! `Authorization: Bearer` as the device-registration, Graph and Intune-for-Linux services check
//! it: an RS256 token the world's Entra signed ([`crate::services::entra::SigningKeys::verify`]),
//! for the service's own resource, from the world's tenant, valid at the simulated now. A refusal
//! is journaled here (`http`/`token_refused`, with the service and the reason) so every service
//! reports it the same way; each service renders its own protocol's 401 from [`BearerError`].
//!
//! The resources and their identifiers are the ones the clients ask Entra for (protocols.md §6,
//! §7; intune-spec §1.8.3; aad-join-spec §3.3): a token's `aud` is what the client asked for —
//! the application id, or one of its identifier URIs (with or without the trailing slash a
//! `<uri>/.default` scope leaves) — so each is accepted.

use axum::http::{HeaderMap, header};
use scenarios::{Component, NewEvent, Service};

use super::AppState;
use crate::jwt::JwtError;

/// A resource a bearer token must be issued for.
#[derive(Debug, Clone, Copy)]
pub struct Resource {
    /// Its display name, for messages.
    pub name: &'static str,
    /// The `aud` values Entra writes for it (application id, identifier URIs).
    pub audiences: &'static [&'static str],
}

/// Device Registration Service (`01cb2876-…`; its identifier URI `urn:ms-drs:…` is the
/// `JoinResourceId` of the Discover document, aad-join-spec §3.1).
pub const DRS: Resource =
    Resource { name: "Device Registration Service", audiences: &["01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9", "urn:ms-drs:enterpriseregistration.windows.net"] };

/// Intune Enrollment (`d4ebce55-…`): the Linux `enroll` call (protocols.md §7.2). libhimmelblau
/// asks for `https://enrollment.manage.microsoft.com/.default`, the app's identifier URI.
pub const INTUNE_ENROLLMENT: Resource = Resource {
    name: "Microsoft Intune Enrollment",
    audiences: &[
        "d4ebce55-015a-49b5-a083-c84d1797ae8c",
        "https://enrollment.manage.microsoft.com",
        "https://enrollment.manage.microsoft.com/",
        "https://enrollment.manage.microsoft.us",
    ],
};

/// Microsoft Intune (`0000000a-…`): the Linux check-in calls (details, policies, status).
pub const INTUNE: Resource = Resource {
    name: "Microsoft Intune",
    audiences: &["0000000a-0000-0000-c000-000000000000", "https://api.manage.microsoft.com", "https://manage.microsoft.com"],
};

/// The IWService compliance query: intune-spec §2.1.6 names the IWService resource
/// (`b8066b99-…`); the Intune resource is accepted too, as protocols.md §7 lists it for Intune calls.
pub const IW_SERVICE: Resource =
    Resource { name: "Intune IWService", audiences: &["b8066b99-6e67-41be-abfa-75db1a2c8809", "0000000a-0000-0000-c000-000000000000"] };

/// Microsoft Graph (`00000003-…`, identifier URI `https://graph.microsoft.com`).
pub const GRAPH: Resource = Resource {
    name: "Microsoft Graph",
    audiences: &["00000003-0000-0000-c000-000000000000", "https://graph.microsoft.com", "https://graph.microsoft.com/", "https://graph.microsoft.us"],
};

/// Why a request's bearer token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    #[error("the request has no Authorization header")]
    Missing,
    #[error("the Authorization header is not `Bearer <token>`")]
    NotBearer,
    #[error("{0}")]
    Token(#[from] JwtError),
}

/// The issuers the world's tenant signs as: v1 tokens (`sts.windows.net`) and v2 tokens (the
/// authority's `/v2.0`), in either cloud.
fn issuers(tenant: &str) -> [String; 3] {
    [
        format!("https://sts.windows.net/{tenant}/"),
        format!("https://login.microsoftonline.com/{tenant}/v2.0"),
        format!("https://login.microsoftonline.us/{tenant}/v2.0"),
    ]
}

/// The bearer token of `headers`, without checking it.
pub fn token_of(headers: &HeaderMap) -> Result<&str, BearerError> {
    let value = headers.get(header::AUTHORIZATION).ok_or(BearerError::Missing)?;
    let value = value.to_str().map_err(|_| BearerError::NotBearer)?;
    let (scheme, token) = value.split_once(' ').ok_or(BearerError::NotBearer)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(BearerError::NotBearer);
    }
    Ok(token)
}

/// Check the request's bearer token for `resource`; on refusal, journal it (`host`, `service`,
/// the reason). Returns the token's claims.
pub async fn check(state: &AppState, headers: &HeaderMap, host: &str, service: Service, resource: Resource) -> Result<serde_json::Value, BearerError> {
    let result = match token_of(headers) {
        Ok(token) => {
            let (keys, token, tenant) = (state.entra.keys.clone(), token.to_string(), state.world.tenant_id.clone());
            let now = state.journal.clock().now();
            // The tenant's signing key is made on first use (RSA: up to a few hundred ms): off
            // the async workers.
            let verdict = tokio::task::spawn_blocking(move || {
                let issuers = issuers(&tenant);
                let issuers: Vec<&str> = issuers.iter().map(String::as_str).collect();
                keys.verify(&token, resource.audiences, &issuers, now)
            })
            .await;
            match verdict {
                Ok(v) => v.map_err(BearerError::from),
                Err(e) => Err(BearerError::Token(JwtError::Claims(format!("the token check did not finish: {e}")))),
            }
        }
        Err(e) => Err(e),
    };
    if let Err(e) = &result {
        state.journal.record(
            NewEvent::new(Component::Http, "token_refused")
                .host(host)
                .detail("service", service.as_str())
                .detail("resource", resource.name)
                .detail("reason", e.to_string()),
        );
    }
    result
}

/// The host a request was sent to (its `Host` header, else its URI's), lower-case.
pub fn host_of(headers: &HeaderMap, uri: &axum::http::Uri) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).or(uri.host()).unwrap_or_default();
    host.split(':').next().unwrap_or_default().to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_bearer_scheme_with_a_token_is_read() {
        let mut h = HeaderMap::new();
        assert_eq!(token_of(&h), Err(BearerError::Missing));
        for (value, expected) in
            [("Bearer abc", Ok("abc")), ("bearer  abc ", Ok("abc")), ("Basic abc", Err(BearerError::NotBearer)), ("Bearer", Err(BearerError::NotBearer))]
        {
            h.insert(header::AUTHORIZATION, value.parse().unwrap());
            assert_eq!(token_of(&h), expected, "{value}");
        }
    }
}
