//! Proxy authentication (failure catalog PRX-02, PRX-03): a 407 whose `Proxy-Authenticate`
//! offers Negotiate, NTLM and Basic as a Windows-integrated proxy does. Basic credentials are
//! checked; Negotiate and NTLM are offered but never completed — the emulated proxy has no
//! domain to ask, just as a SYSTEM-context client without proxy credentials gets nowhere.
//! Seed 002: Intune needs unauthenticated access to manage.microsoft.com, *.azureedge.net and
//! graph.microsoft.com, which is why this fault breaks device-context traffic.

use base64::Engine as _;
use scenarios::AuthScheme;

use super::respond::{Answer, echo};

/// The realm the Basic challenge names.
const REALM: &str = "memsim";

/// `None` when the request carries the right Basic credentials; otherwise the 407 to send.
pub fn check(user: &str, password: &str, schemes: &[AuthScheme], header: Option<&[u8]>) -> Option<Answer> {
    let reason = match header.map(|h| String::from_utf8_lossy(h).trim().to_string()) {
        None => "proxy authentication required: no Proxy-Authorization header was sent".to_string(),
        Some(h) => {
            let (scheme, token) = h.split_once(' ').unwrap_or((h.as_str(), ""));
            match scheme.to_ascii_lowercase().as_str() {
                "basic" if schemes.contains(&AuthScheme::Basic) => match decode_basic(token.trim()) {
                    Some((u, p)) if u == user && p == password => return None,
                    Some((u, _)) => format!("proxy authentication failed: wrong Basic credentials for user `{}`", echo(&u)),
                    None => "proxy authentication failed: the Basic credentials are not base64 user:password".to_string(),
                },
                "negotiate" | "ntlm" => format!(
                    "proxy authentication failed: {scheme} is offered but the emulated proxy cannot complete it (no domain); use Basic credentials or an unauthenticated rule"
                ),
                _ => format!("proxy authentication failed: scheme `{}` is not offered", echo(scheme)),
            }
        }
    };
    let mut answer = Answer::new(407, reason);
    for scheme in schemes {
        let value = match scheme {
            AuthScheme::Negotiate => "Negotiate".to_string(),
            AuthScheme::Ntlm => "NTLM".to_string(),
            AuthScheme::Basic => format!("Basic realm=\"{REALM}\""),
        };
        answer.headers.push(("Proxy-Authenticate", value));
    }
    Some(answer)
}

fn decode_basic(token: &str) -> Option<(String, String)> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(token).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[AuthScheme] = &[AuthScheme::Negotiate, AuthScheme::Ntlm, AuthScheme::Basic];

    fn basic(creds: &str) -> Vec<u8> {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(creds)).into_bytes()
    }

    #[test]
    fn challenges_with_every_scheme_and_accepts_only_the_right_basic_credentials() {
        let a = check("svc", "pw", ALL, None).unwrap();
        assert_eq!(a.status, 407);
        let offered: Vec<&str> = a.headers.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(offered, ["Negotiate", "NTLM", "Basic realm=\"memsim\""]);
        assert!(check("svc", "pw", ALL, Some(&basic("svc:pw"))).is_none());
        assert!(check("svc", "pw", ALL, Some(&basic("svc:nope"))).unwrap().reason.contains("wrong Basic credentials"));
        assert!(check("svc", "pw", ALL, Some(b"NTLM TlRMTVNTUAABAAAA")).unwrap().reason.contains("cannot complete"));
        assert!(check("svc", "pw", ALL, Some(b"Basic !!!")).unwrap().reason.contains("not base64"));
        assert!(check("svc", "pw", &[AuthScheme::Negotiate], Some(&basic("svc:pw"))).is_some());
    }
}
