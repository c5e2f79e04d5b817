//! What a token says, and the token response around it, as Entra writes them (issue 12,
//! deliverable 1; protocols.md §7 "Token responses a Rust client insists on", §14.1 3 and 5).
//!
//! - Access tokens are v1 tokens, as Entra issues them for its first-party resources (and for
//!   the CMG's server app) whichever endpoint was asked: `iss` `https://sts.windows.net/<tid>/`,
//!   `aud` the resource as asked, `ver` `1.0`, `appid`/`appidacr`, `scp` for a user or `roles`
//!   for an app, `oid`/`sub`/`tid`, `upn`/`unique_name`/`name` for a user, `idtyp`, `uti`,
//!   `iat`/`nbf`/`exp` from the world's simulated clock.
//! - ID tokens follow the endpoint: v2 (`iss` …/v2.0, `preferred_username`, `ver` `2.0`) or v1
//!   (`iss` sts.windows.net, `upn`, `unique_name`); `aud` is the client; `nonce` echoed.
//! - The response: `token_type`, `scope`, `expires_in`, `ext_expires_in`, `access_token`,
//!   `refresh_token` for a user, `id_token` and `client_info` (base64url `{"uid","utid"}`) when
//!   asked. The v1 endpoint writes its numbers as strings and adds `expires_on`, `not_before`
//!   and `resource`, as it always has.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::directory::{App, Directory, Requested, User};
use super::ids::{derived_guid, random_guid};

/// Which token endpoint was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/oauth2/token` (`resource=`).
    V1,
    /// `/oauth2/v2.0/token` (`scope=`).
    V2,
}

/// Who the token is for.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    User(&'a User),
    /// App-only (client credentials).
    App,
}

/// Everything a token response is made from.
#[derive(Debug, Clone)]
pub struct Issue<'a> {
    pub dir: &'a Directory,
    pub client: &'a App,
    pub subject: Subject<'a>,
    pub requested: Requested<'a>,
    /// Delegated permissions granted (`scp`), for a user.
    pub scopes: Vec<String>,
    pub endpoint: Endpoint,
    /// The authority's now (the simulated clock, skewed if a fault says so).
    pub now: OffsetDateTime,
    /// How the client authenticated: 0 public, 1 secret, 2 certificate (`appidacr`).
    pub client_auth: u8,
    /// Authentication methods (`amr`), e.g. `pwd`.
    pub amr: &'static [&'static str],
    pub nonce: Option<String>,
    pub id_token: bool,
    pub client_info: bool,
}

impl Issue<'_> {
    /// The access token's claims.
    pub fn access_claims(&self, lifetime_secs: i64) -> Value {
        let (iat, exp) = (self.now.unix_timestamp(), self.now.unix_timestamp() + lifetime_secs);
        let d = self.dir;
        let mut c = json!({
            "aud": self.requested.aud, "iss": d.v1_issuer(), "iat": iat, "nbf": iat, "exp": exp,
            "appid": self.client.client_id, "appidacr": self.client_auth.to_string(), "app_displayname": self.client.name,
            "idp": d.v1_issuer(), "tid": d.tenant_id, "uti": uti(), "ver": "1.0", "rh": "0.memsim.",
        });
        match self.subject {
            Subject::User(u) => {
                c["oid"] = u.object_id.clone().into();
                c["sub"] = pairwise(&u.object_id, &self.requested.resource.app_id).into();
                c["upn"] = u.upn.clone().into();
                c["unique_name"] = u.upn.clone().into();
                c["name"] = u.display_name.clone().into();
                c["scp"] = self.scopes.join(" ").into();
                c["amr"] = json!(self.amr);
                c["acr"] = "1".into();
                c["idtyp"] = "user".into();
            }
            Subject::App => {
                c["oid"] = self.client.object_id.clone().into();
                c["sub"] = self.client.object_id.clone().into();
                c["roles"] = json!(self.requested.resource.roles);
                c["idtyp"] = "app".into();
            }
        }
        c
    }

    /// The ID token's claims, for a user.
    pub fn id_claims(&self, user: &User) -> Value {
        let iat = self.now.unix_timestamp();
        let d = self.dir;
        let mut c = json!({
            "aud": self.client.client_id, "iat": iat, "nbf": iat, "exp": iat + 3600,
            "name": user.display_name, "oid": user.object_id, "tid": d.tenant_id,
            "sub": pairwise(&user.object_id, &self.client.client_id), "rh": "0.memsim.", "uti": uti(),
        });
        match self.endpoint {
            Endpoint::V2 => {
                c["iss"] = d.v2_issuer().into();
                c["preferred_username"] = user.upn.clone().into();
                c["ver"] = "2.0".into();
            }
            Endpoint::V1 => {
                c["iss"] = d.v1_issuer().into();
                c["upn"] = user.upn.clone().into();
                c["unique_name"] = user.upn.clone().into();
                c["amr"] = json!(self.amr);
                c["ver"] = "1.0".into();
            }
        }
        if let Some(n) = &self.nonce {
            c["nonce"] = n.clone().into();
        }
        c
    }

    /// `client_info`: base64url `{"uid": oid, "utid": tid}` (MSAL's home account id).
    pub fn client_info_value(&self, user: &User) -> String {
        URL_SAFE_NO_PAD.encode(json!({"uid": user.object_id, "utid": self.dir.tenant_id}).to_string())
    }

    /// The granted scopes as the v2 endpoint lists them (`<resource>/<scope>`, plus the OIDC ones).
    pub fn scope_string(&self) -> String {
        let base = self.requested.aud.trim_end_matches('/');
        let mut s: Vec<String> = match self.subject {
            Subject::User(_) => self.scopes.iter().map(|x| format!("{base}/{x}")).collect(),
            Subject::App => vec![format!("{}/.default", self.requested.aud)],
        };
        if matches!(self.subject, Subject::User(_)) && self.endpoint == Endpoint::V2 {
            s.extend(["openid", "profile", "offline_access"].map(String::from));
        }
        s.join(" ")
    }

    /// The response body around signed tokens.
    pub fn response(&self, access_token: String, lifetime_secs: i64, id_token: Option<String>, refresh_token: Option<String>) -> Value {
        let mut r = match self.endpoint {
            Endpoint::V2 => json!({
                "token_type": "Bearer", "scope": self.scope_string(), "expires_in": lifetime_secs, "ext_expires_in": lifetime_secs,
                "access_token": access_token,
            }),
            Endpoint::V1 => {
                let now = self.now.unix_timestamp();
                json!({
                    "token_type": "Bearer", "scope": self.scopes.join(" "), "expires_in": lifetime_secs.to_string(),
                    "ext_expires_in": lifetime_secs.to_string(), "expires_on": (now + lifetime_secs).to_string(),
                    "not_before": now.to_string(), "resource": self.requested.aud, "access_token": access_token,
                })
            }
        };
        if let Some(t) = refresh_token {
            r["refresh_token"] = t.into();
        }
        if let Some(t) = id_token {
            r["id_token"] = t.into();
        }
        if let (true, Subject::User(u)) = (self.client_info, self.subject) {
            r["client_info"] = self.client_info_value(u).into();
        }
        r
    }
}

/// A `sub` unique to the pair (Entra's subject is pairwise per application).
fn pairwise(oid: &str, app: &str) -> String {
    URL_SAFE_NO_PAD.encode(derived_guid(&format!("{oid}|{app}")).as_bytes()).chars().take(43).collect()
}

/// A token's unique id (`uti`): 22 base64url characters, as Entra's.
fn uti() -> String {
    URL_SAFE_NO_PAD.encode(random_guid().as_bytes()).chars().take(22).collect()
}
