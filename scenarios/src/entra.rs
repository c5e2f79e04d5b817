//! A scenario's changes to the tenant's Entra ID directory (`[world.entra]`): users and app
//! registrations added to, or replacing by key, the defaults of mock-cloud's `data/entra.toml`
//! (issue 12, deliverable 2), and the simulated user's sign-in delay for the device-code flow.
//!
//! ```toml
//! [world.entra]
//! sign_in_delay = "30s"
//! [[world.entra.user]]
//! upn = "megan@contoso.com"          # a new user, or the default user with that UPN changed
//! password = "S3cret!"
//! intune_licence = false
//! [[world.entra.app]]
//! client_id = "5a1e2f0c-7d3b-4c55-9a0e-8f6b1d2c3e4f"
//! name = "Contoso checker"
//! secret = "lab-secret"               # a confidential client
//! ```
//!
//! Only the shape is checked here ([`EntraSpec::problems`]); what a user or app means is
//! mock-cloud's (`services::entra::directory`).

use serde::{Deserialize, Serialize};

use crate::validate::{Problem, is_guid};
use crate::{SimDuration, place};

/// `[world.entra]`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EntraSpec {
    /// Users to add, or to change (matched by UPN, case-insensitively).
    #[serde(rename = "user", skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<EntraUser>,
    /// App registrations to add, or to change (matched by client id).
    #[serde(rename = "app", skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<EntraApp>,
    /// How long (simulated time) after a device code is issued the simulated user completes the
    /// sign-in at the verification page (default: the data file's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sign_in_delay: Option<SimDuration>,
}

/// One user of `[world.entra]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EntraUser {
    pub upn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Whether the user holds an Intune licence (default: the data file's, else true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intune_licence: Option<bool>,
}

/// One app registration of `[world.entra]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EntraApp {
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A client secret: the app is a confidential client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// A certificate credential (PEM): the app may authenticate with a signed client assertion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// Redirect URIs for the authorization-code flow (default: `http://localhost`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect_uris: Vec<String>,
}

impl EntraSpec {
    pub fn is_default(&self) -> bool {
        *self == EntraSpec::default()
    }

    /// Every shape problem, placed under `world.entra`.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        for (i, u) in self.users.iter().enumerate() {
            let ok = u.upn.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.contains('@'));
            if !ok || u.upn.len() > 113 || u.upn.chars().any(|c| c.is_whitespace() || c.is_control()) {
                problems.push(Problem::new(
                    place!["world", "entra", "user", i, "upn"],
                    format!("`{}` is no user principal name such as \"megan@contoso.com\"", u.upn),
                ));
            } else if self.users[..i].iter().any(|o| o.upn.eq_ignore_ascii_case(&u.upn)) {
                problems.push(Problem::new(place!["world", "entra", "user", i, "upn"], format!("user `{}` is listed twice", u.upn)));
            }
            if u.password.as_deref().is_some_and(str::is_empty) {
                problems.push(Problem::new(place!["world", "entra", "user", i, "password"], "a password cannot be empty"));
            }
        }
        for (i, a) in self.apps.iter().enumerate() {
            if !is_guid(&a.client_id) {
                problems.push(Problem::new(
                    place!["world", "entra", "app", i, "client_id"],
                    format!("client_id `{}` is not a GUID such as \"5a1e2f0c-7d3b-4c55-9a0e-8f6b1d2c3e4f\"", a.client_id),
                ));
            } else if self.apps[..i].iter().any(|o| o.client_id.eq_ignore_ascii_case(&a.client_id)) {
                problems.push(Problem::new(place!["world", "entra", "app", i, "client_id"], format!("app `{}` is listed twice", a.client_id)));
            }
            if a.secret.as_deref().is_some_and(str::is_empty) {
                problems.push(Problem::new(place!["world", "entra", "app", i, "secret"], "a client secret cannot be empty"));
            }
            if a.certificate.as_deref().is_some_and(|c| !c.contains("-----BEGIN CERTIFICATE-----")) {
                problems.push(Problem::new(place!["world", "entra", "app", i, "certificate"], "give the certificate as PEM (-----BEGIN CERTIFICATE-----)"));
            }
            for (j, r) in a.redirect_uris.iter().enumerate() {
                if !(r.starts_with("https://") || r.starts_with("http://localhost") || r.starts_with("http://127.0.0.1")) {
                    problems.push(Problem::new(
                        place!["world", "entra", "app", i, "redirect_uris", j],
                        format!("redirect URI `{r}` must be https, or http on localhost (Entra's rule)"),
                    ));
                }
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use crate::ScenarioFile;

    const HEAD: &str = "name = \"v\"\nsummary = \"s\"\narea = \"entra\"\nsource = \"t\"\n";

    fn problems(extra: &str) -> Vec<String> {
        let f = ScenarioFile::parse(&format!("{HEAD}{extra}"), "v.toml").unwrap_or_else(|e| panic!("{e}"));
        crate::validate::check(&f.scenario).iter().map(|p| f.error(p).to_string()).collect()
    }

    /// Issue 12: `[world.entra]` is checked by the one validation step, each problem where it stands.
    #[test]
    fn users_and_apps_are_checked_where_they_stand() {
        let ok = "[world.entra]\nsign_in_delay = \"30s\"\n[[world.entra.user]]\nupn = \"megan@contoso.com\"\npassword = \"x\"\n[[world.entra.app]]\nclient_id = \"5a1e2f0c-7d3b-4c55-9a0e-8f6b1d2c3e4f\"\nsecret = \"s\"\n";
        assert_eq!(problems(ok), Vec::<String>::new());
        let bad = "[[world.entra.user]]\nupn = \"megan\"\n[[world.entra.user]]\nupn = \"a@b.c\"\npassword = \"\"\n[[world.entra.app]]\nclient_id = \"not-a-guid\"\ncertificate = \"nope\"\nredirect_uris = [\"http://evil.example/cb\"]\n";
        let p = problems(bad);
        assert_eq!(p.len(), 5, "{p:#?}");
        assert!(p[0].starts_with("v.toml:6:7: `megan` is no user principal name"), "{}", p[0]);
        assert!(p[1].starts_with("v.toml:9:12: a password cannot be empty"), "{}", p[1]);
        assert!(p[2].starts_with("v.toml:11:13: client_id `not-a-guid` is not a GUID"), "{}", p[2]);
        assert!(p[3].contains("PEM") && p[4].contains("https, or http on localhost"), "{p:#?}");
        let e = ScenarioFile::parse(&format!("{HEAD}[world.entra]\nusers = []\n"), "v.toml").unwrap_err();
        assert!(e.to_string().contains("unknown key `users`"), "{e}");
    }
}
