//! Host patterns: how faults and rules name the hosts they target.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `manage.microsoft.com` (exactly that name) or `*.manage.microsoft.com` (any name below it,
/// at any depth, and the literal wildcard name itself). Case-insensitive, as DNS is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPattern {
    /// Lower-case; for a wildcard, the suffix without the leading `*`, e.g. `.manage.microsoft.com`.
    text: String,
    wildcard: bool,
}

/// Why a host pattern was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid host pattern `{0}`: write a host name such as `login.microsoftonline.com` or a wildcard such as `*.manage.microsoft.com`")]
pub struct HostPatternError(String);

impl HostPattern {
    pub fn parse(input: &str) -> Result<Self, HostPatternError> {
        let lower = input.trim().trim_end_matches('.').to_ascii_lowercase();
        let (wildcard, name) = match lower.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, lower.as_str()),
        };
        let label_ok = |l: &str| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
            return Err(HostPatternError(input.to_string()));
        }
        let text = if wildcard { format!(".{name}") } else { name.to_string() };
        Ok(HostPattern { text, wildcard })
    }

    pub fn is_wildcard(&self) -> bool {
        self.wildcard
    }

    /// The name without any wildcard: `manage.microsoft.com` for `*.manage.microsoft.com`.
    pub fn base(&self) -> &str {
        if self.wildcard { &self.text[1..] } else { &self.text }
    }

    /// Does this pattern cover `host` (a name, or a catalog wildcard such as `*.x.com`)?
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if self.wildcard { host.ends_with(&self.text) || host == format!("*{}", self.text) } else { host == self.text }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.wildcard { write!(f, "*{}", self.text) } else { f.write_str(&self.text) }
    }
}

impl<'de> Deserialize<'de> for HostPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        HostPattern::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl Serialize for HostPattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_matches_any_depth_below_but_not_the_apex() {
        let p = HostPattern::parse("*.manage.microsoft.com").unwrap();
        assert!(p.matches("r.manage.microsoft.com"));
        assert!(p.matches("fef.msua06.manage.microsoft.com"));
        assert!(p.matches("*.manage.microsoft.com"));
        assert!(p.matches("EnterpriseEnrollment-s.Manage.Microsoft.com"));
        assert!(!p.matches("manage.microsoft.com"));
        assert!(!p.matches("evilmanage.microsoft.com"));
    }

    #[test]
    fn exact_matches_only_itself() {
        let p = HostPattern::parse("Login.MicrosoftOnline.com").unwrap();
        assert!(p.matches("login.microsoftonline.com"));
        assert!(!p.matches("x.login.microsoftonline.com"));
        assert_eq!(p.to_string(), "login.microsoftonline.com");
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "*.", "a..b", "exa mple.com", "**.x.com", "x.*.com"] {
            assert!(HostPattern::parse(bad).is_err(), "{bad}");
        }
    }
}
