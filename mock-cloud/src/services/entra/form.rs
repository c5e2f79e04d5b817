//! The token endpoint's request body: `application/x-www-form-urlencoded` (RFC 6749 §4.1.3,
//! WHATWG URL "application/x-www-form-urlencoded parsing"), read with a size cap and parsed
//! without trusting it. A body that is too large, not UTF-8 after decoding, or repeats a
//! parameter is refused (RFC 6749 §3.2: "Request and response parameters MUST NOT be included
//! more than once"), never a panic.

/// The largest token request the authority reads. MSAL's requests are under 2 KiB; a client
/// assertion with a certificate chain stays under 16 KiB.
pub const MAX_BODY: usize = 64 * 1024;
/// At most this many parameters (a real request has about ten).
pub const MAX_PARAMS: usize = 64;

/// Why a form body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("more than {MAX_PARAMS} parameters")]
    TooMany,
    #[error("parameter `{0}` appears more than once")]
    Repeated(String),
    #[error("a parameter is not valid percent-encoded UTF-8")]
    Encoding,
}

/// The parameters of a form body, in order, each name once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Result<Form, FormError> {
        let mut params: Vec<(String, String)> = Vec::new();
        for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            if params.len() == MAX_PARAMS {
                return Err(FormError::TooMany);
            }
            let (k, v) = match pair.iter().position(|b| *b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            let (k, v) = (decode(k)?, decode(v)?);
            if params.iter().any(|(n, _)| *n == k) {
                return Err(FormError::Repeated(k.chars().take(64).collect()));
            }
            params.push((k, v));
        }
        Ok(Form(params))
    }

    /// The value of `name`, if given and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    /// Add a parameter the request carried elsewhere (HTTP Basic client credentials), unless
    /// the body has it already.
    pub fn add(&mut self, name: &str, value: String) {
        if !self.0.iter().any(|(k, _)| k == name) {
            self.0.push((name.to_string(), value));
        }
    }

    /// Build a form from pairs (tests, the query of a GET).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Form {
        Form(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }
}

/// Percent-decode one name or value, `+` as a space.
fn decode(raw: &[u8]) -> Result<String, FormError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < raw.len() => {
                let digits = &raw[i + 1..i + 3];
                let hex =
                    digits.iter().all(u8::is_ascii_hexdigit).then(|| std::str::from_utf8(digits).ok().and_then(|h| u8::from_str_radix(h, 16).ok())).flatten();
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    // WHATWG: a `%` not followed by two hex digits stays as it is.
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| FormError::Encoding)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn bodies_decode_as_browsers_and_msal_encode_them() {
        let f = Form::parse(b"grant_type=password&scope=https%3A%2F%2Fenrollment.manage.microsoft.com%2F%2F.default+openid&username=a%40b.c&x=&y").unwrap();
        assert_eq!(f.get("grant_type"), Some("password"));
        assert_eq!(f.get("scope"), Some("https://enrollment.manage.microsoft.com//.default openid"));
        assert_eq!(f.get("username"), Some("a@b.c"));
        assert_eq!((f.get("x"), f.get("y"), f.get("z")), (None, None, None));
        assert_eq!(Form::parse(b"a=100%&b=%4").unwrap().get("a"), Some("100%"));
        // issue 12 review: only two hex digits make an escape (WHATWG); `u8::from_str_radix`
        // alone took `%+1` for byte 1.
        assert_eq!(Form::parse(b"a=%+1&b=%+F").unwrap().get("a"), Some("% 1"));
        assert_eq!(Form::parse(b"b=%+F").unwrap().get("b"), Some("% F"));
        assert_eq!(Form::parse(b"a=1&a=2"), Err(FormError::Repeated("a".into())));
        assert_eq!(Form::parse(b"a=%ff%fe"), Err(FormError::Encoding));
        let many: Vec<String> = (0..=MAX_PARAMS).map(|i| format!("p{i}=1")).collect();
        assert_eq!(Form::parse(many.join("&").as_bytes()), Err(FormError::TooMany));
    }

    proptest! {
        /// Any bytes give a form or a typed refusal, never a panic.
        #[test]
        fn any_bytes_parse_or_are_refused(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Form::parse(&body);
        }

        /// What a client encodes, the authority decodes.
        #[test]
        fn encoded_pairs_round_trip(k in "[a-z_]{1,12}", v in "\\PC{0,40}") {
            let enc: String = v.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
            let f = Form::parse(format!("{k}={enc}").as_bytes()).unwrap();
            prop_assert_eq!(f.get(&k), if v.is_empty() { None } else { Some(v.as_str()) });
        }
    }
}
