//! Entra ID (Azure AD) as the world's tenant sees it (issue 12): the authority on
//! `login.microsoftonline.com` and its aliases — instance discovery, OpenID configuration v1
//! and v2, JWKS, user realm ([`discovery`]), the token endpoints v1 and v2 ([`token`]) — and the
//! tenant's token-signing keys ([`keys`]), which every service that takes an Entra token checks
//! (`AppState.entra.keys.verify`). Device registration lives beside it, not here.
//!
//! What the clients rely on is in protocols.md §7 and §14; users, apps, resources and error texts
//! are data (`data/entra.toml`, with [`directory`] applying a scenario's `[world.entra]`); the
//! `entra.*` faults are read by [`faults`] and take effect in the handlers' one place each
//! (the tenant check, the token endpoint's decision), never as `if` chains elsewhere.

pub mod assertion;
pub mod claims;
pub mod data;
pub mod directory;
pub mod discovery;
pub mod error;
pub mod faults;
pub mod form;
pub mod grants;
pub mod ids;
pub mod interactive;
pub mod keys;
pub mod sealed;
pub mod token;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use scenarios::{EntraFault, Journal, WorldSpec};

pub use data::EntraData;
pub use directory::{Directory, EntraDescription};
pub use keys::{SigningKey, SigningKeys};

/// The Entra substate of a world's services.
#[derive(Debug, Clone)]
pub struct EntraState {
    /// The tenant's token-signing keys (made on first use).
    pub keys: SigningKeys,
    /// The tenant's users, apps and resources, and the authority's names.
    pub directory: Arc<Directory>,
    /// `data/entra.toml` (errors and their texts).
    pub data: Arc<EntraData>,
    /// The scenario's `entra.*` faults, in file order.
    pub faults: Arc<[EntraFault]>,
    /// Seals refresh tokens, codes and device codes.
    pub sealer: sealed::Sealer,
    pub journal: Journal,
    /// The OpenID configurations, each built on first request (see `discovery::Documents`).
    pub documents: discovery::Documents,
}

impl EntraState {
    /// The authority of a world: its directory from `data` and `world`, its faults.
    pub fn new(data: &EntraData, world: &WorldSpec, faults: Vec<EntraFault>, journal: Journal) -> Result<EntraState, String> {
        Ok(EntraState {
            keys: SigningKeys::default(),
            directory: Arc::new(Directory::build(data, world)?),
            data: Arc::new(data.clone()),
            faults: faults.into(),
            sealer: sealed::Sealer::default(),
            journal,
            documents: discovery::Documents::default(),
        })
    }
}

/// A JSON answer (`application/json; charset=utf-8`, as Entra labels its documents and errors).
pub(crate) fn json(status: axum::http::StatusCode, body: &serde_json::Value) -> axum::response::Response {
    json_text(status, body.to_string())
}

/// A JSON answer from its text (`json`'s headers).
pub(crate) fn json_text(status: axum::http::StatusCode, body: impl Into<axum::body::Body>) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let mut res = (status, body.into()).into_response();
    res.headers_mut().insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/json; charset=utf-8"));
    res
}

/// Secrets compared in time independent of where they differ.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The authority's routes. `{tenant}` is a tenant id, a verified domain, the initial domain,
/// `common` or `organizations`.
pub fn router(app: &super::AppState) -> Router {
    Router::new()
        .route("/", get(discovery::home))
        .route("/{tenant}/discovery/instance", get(discovery::instance))
        .route("/{tenant}/v2.0/.well-known/openid-configuration", get(discovery::openid_v2))
        .route("/{tenant}/.well-known/openid-configuration", get(discovery::openid_v1))
        .route("/{tenant}/discovery/v2.0/keys", get(discovery::jwks))
        .route("/{tenant}/discovery/keys", get(discovery::jwks))
        .route("/common/userrealm/{user}", get(discovery::userrealm))
        .route("/getuserrealm.srf", get(discovery::getuserrealm))
        .route("/{tenant}/oauth2/v2.0/token", post(token::token_v2).fallback(discovery::wrong_method))
        .route("/{tenant}/oauth2/token", post(token::token_v1).fallback(discovery::wrong_method))
        .route("/{tenant}/oauth2/v2.0/devicecode", post(interactive::devicecode_v2).fallback(discovery::wrong_method))
        .route("/{tenant}/oauth2/devicecode", post(interactive::devicecode_v1).fallback(discovery::wrong_method))
        .route("/{tenant}/oauth2/v2.0/authorize", get(interactive::authorize_page).post(interactive::authorize_submit))
        .route("/{tenant}/oauth2/authorize", get(interactive::authorize_page).post(interactive::authorize_submit))
        .fallback(discovery::not_found)
        .with_state(app.entra.clone())
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_faults;
#[cfg(test)]
mod tests_flows;
