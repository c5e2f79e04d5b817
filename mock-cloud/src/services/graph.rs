//! Microsoft Graph, as far as Intune for Linux needs it: the Intune service principal's
//! endpoints (`GET /v1.0/servicePrincipals/appId=0000000a-0000-0000-c000-000000000000/endpoints`,
//! protocols.md §7.1; intune-spec §2.1.4, §3.4). The rows (data/devices.toml) point at the
//! tenant's `fef.<scale-unit>` front end, where the `intune_linux` service answers;
//! libhimmelblau picks them by `providerName`.
//!
//! Errors are Graph's JSON error (`{"error":{"code","message","innerError":{…}}}`, Microsoft Graph
//! "Error responses and resource types"), with Graph's codes for a bad token
//! (`InvalidAuthenticationToken`) and an unknown resource (`Request_ResourceNotFound`). Anything
//! else Graph serves is not emulated: 404.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scenarios::Service;
use serde_json::json;

use super::AppState;
use super::bearer::{self, BearerError, GRAPH};
use super::devices::random_uuid;

/// The Intune service principal's application id (protocols.md §7).
pub const INTUNE_APP_ID: &str = "0000000a-0000-0000-c000-000000000000";

pub fn router(state: &AppState) -> Router {
    Router::new().fallback(handle).with_state(state.clone())
}

/// Why Graph refused a request.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("Access token validation failure: {0}")]
    Unauthorized(#[from] BearerError),
    #[error("Resource '{0}' does not exist or one of its queried reference-property objects are not present.")]
    NotFound(String),
    #[error("Unsupported request: only GET is emulated on this resource.")]
    MethodNotAllowed,
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            GraphError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken"),
            GraphError::NotFound(_) => (StatusCode::NOT_FOUND, "Request_ResourceNotFound"),
            GraphError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "Request_BadRequest"),
        };
        let date = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        let id = random_uuid();
        let body = json!({ "error": { "code": code, "message": self.to_string(),
            "innerError": { "date": date, "request-id": id, "client-request-id": id } } });
        let mut res = super::json_input::json(status, &body);
        if status == StatusCode::METHOD_NOT_ALLOWED {
            res.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET"));
        }
        res
    }
}

/// The application id a service-principal key names: `appId=<id>`, `(appId='<id>')`, any case.
fn app_id_of(segment: &str) -> Option<String> {
    let s = segment.trim_start_matches("servicePrincipals").trim_start_matches("serviceprincipals");
    let s = s.trim_start_matches('(').trim_end_matches(')');
    let (k, v) = s.split_once('=')?;
    k.eq_ignore_ascii_case("appId").then(|| v.trim_matches('\'').to_ascii_lowercase())
}

/// The endpoints document (intune-spec §3.4) for the world of `state`.
pub fn intune_endpoints(state: &AppState) -> serde_json::Value {
    let linux = &state.catalog.devices.intune_linux;
    let host = state.catalog.service_hosts_in(Service::IntuneLinux, &state.world).into_iter().next().unwrap_or_default();
    let graph = state.catalog.service_hosts_in(Service::Graph, &state.world).into_iter().next().unwrap_or_default();
    let rows: Vec<_> = linux
        .endpoints
        .iter()
        .map(|e| {
            json!({ "id": e.id, "deletedDateTime": null, "capability": e.provider_name, "providerId": INTUNE_APP_ID,
                "providerName": e.provider_name, "providerResourceId": e.provider_resource_id,
                "uri": format!("https://{host}{}", linux.path(e.path)) })
        })
        .collect();
    json!({
        "@odata.context": format!("https://{graph}/v1.0/$metadata#servicePrincipals('appId%3D{INTUNE_APP_ID}')/endpoints"),
        "value": rows,
    })
}

async fn handle(State(state): State<AppState>, req: Request) -> Result<Response, GraphError> {
    let path = req.uri().path().to_string();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // `/v1.0/servicePrincipals/appId=…/endpoints` or `/v1.0/servicePrincipals(appId='…')/endpoints`.
    let app = match segments.as_slice() {
        [v, sp, key, ep] if v.eq_ignore_ascii_case("v1.0") && sp.eq_ignore_ascii_case("servicePrincipals") && ep.eq_ignore_ascii_case("endpoints") => {
            app_id_of(key)
        }
        [v, sp, ep] if v.eq_ignore_ascii_case("v1.0") && ep.eq_ignore_ascii_case("endpoints") => app_id_of(sp),
        _ => None,
    };
    let Some(app) = app else {
        return Err(GraphError::NotFound(path.chars().take(200).collect()));
    };
    if req.method() != Method::GET {
        return Err(GraphError::MethodNotAllowed);
    }
    let host = bearer::host_of(req.headers(), req.uri());
    bearer::check(&state, req.headers(), &host, Service::Graph, GRAPH).await?;
    if app != INTUNE_APP_ID {
        return Err(GraphError::NotFound(format!("appId={}", app.chars().take(64).collect::<String>())));
    }
    Ok(super::json_input::json(StatusCode::OK, &intune_endpoints(&state)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_principal_keys_in_both_spellings() {
        assert_eq!(app_id_of("appId=0000000A-0000-0000-C000-000000000000").as_deref(), Some(INTUNE_APP_ID));
        assert_eq!(app_id_of("servicePrincipals(appId='x')").as_deref(), Some("x"));
        assert_eq!(app_id_of("id=x"), None);
    }
}
