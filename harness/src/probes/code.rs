//! The error codes the probes report, as typed values (issue 10, deliverable 7). Each variant is
//! spelt as its `name` in `mock-cloud/data/codes.toml` (the Windows headers' names); the value,
//! meaning and provenance live only in that file, looked up once into a [`CodeBook`] that
//! refuses to load when the data lacks a code a probe can report — a typo is a compile error
//! here, and a missing data row a load error (and a test), never a silent `None`.
//!
//! Values are HRESULTs (`0x80072F8F`) or named codes (`IDX10501`, the .NET identity model's);
//! the `sign-in` probe also reports Entra's `AADSTSnnnnn`, whatever the authority answered,
//! with the name and provenance of its row in `entra.toml` ([`CodeBook::aadsts`]).

use mock_cloud::catalog::{CodeEntry, Codes};

macro_rules! codes {
    ($($name:ident,)*) => {
        /// A code a probe can report; its spelling is its name in codes.toml.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(non_camel_case_types)]
        pub enum Code {
            $($name,)*
        }

        impl Code {
            /// Every code a probe can report.
            pub const ALL: &[Code] = &[$(Code::$name,)*];

            /// The name in codes.toml.
            pub fn name(self) -> &'static str {
                match self {
                    $(Code::$name => stringify!($name),)*
                }
            }
        }
    };
}

codes! {
    WININET_E_TIMEOUT,
    WININET_E_NAME_NOT_RESOLVED,
    WININET_E_CANNOT_CONNECT,
    ERROR_WINHTTP_SECURE_FAILURE,
    MENROLL_E_CONNECTIVITY,
    MENROLL_E_DISCOVERY_SEC_CERT_DATE_INVALID,
    MENROLL_E_INVALIDSSLCERT,
    MREGISTER_E_DISCOVERY_HTTP,
    WEB_EXCEPTION,
    CRYPT_E_REVOCATION_OFFLINE,
    CRYPT_E_REVOKED,
    IME_CONTENT_DOWNLOAD_FAILED,
    IME_CDN_TIMEOUT,
    DSREG_E_DISCOVERY_FAILED,
    MENROLL_E_DEVICE_MESSAGE_FORMAT_ERROR,
    MENROLL_E_DEVICE_AUTHENTICATION_ERROR,
    MENROLL_E_DEVICE_AUTHORIZATION_ERROR,
    MENROLL_E_DEVICE_CERTIFICATEREQUEST_ERROR,
    MENROLL_E_DEVICE_CONFIGMGRSERVER_ERROR,
    MENROLL_E_DEVICE_INTERNALSERVICE_ERROR,
    MENROLL_E_DEVICE_INVALIDSECURITY_ERROR,
    MENROLL_E_DEVICECAPREACHED,
    MENROLL_E_DEVICENOTSUPPORTED,
    MENROLL_E_NOT_SUPPORTED,
    MENROLL_E_NOTELIGIBLETORENEW,
    MENROLL_E_INMAINTENANCE,
    MENROLL_E_USER_LICENSE,
    MENROLL_E_ENROLLMENTDATAINVALID,
    ERROR_WINHTTP_INVALID_SERVER_RESPONSE,
    DSREG_E_DEVICE_AUTHENTICATION_ERROR,
    DSREG_E_DIRECTORY_FAILURE,
    DSREG_E_DEVICE_INTERNALSERVICE_ERROR,
    E_INVALIDDATA,
    CERT_E_CHAINING,
    NTE_BAD_PUBLIC_KEY,
    IDX10501,
    IDX10222,
    IDX10223,
    CCM_E_BAD_HTTP_STATUS_CODE,
    CCMSETUP_E_GETDIRECTORYLIST,
    BULK_TOKEN_TOOL_REFUSED,
}

/// A status message a probe raises, by its ID in codes.toml's `[[status_message]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusMessage {
    /// 11488, SMS_SERVICE_CONNECTOR: the site failed to connect to required cloud endpoints.
    SiteCannotConnect = 11488,
}

impl StatusMessage {
    pub const ALL: &[StatusMessage] = &[StatusMessage::SiteCannotConnect];

    pub fn id(self) -> u32 {
        self as u32
    }
}

/// A code the probes report that codes.toml lacks, or writes as no 32-bit hex value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("codes.toml: {0}")]
pub struct CodeBookError(String);

/// Every [`Code`]'s row of codes.toml, looked up once.
#[derive(Debug, Clone)]
pub struct CodeBook {
    /// Each code's row and its value as a number (0 for a named code such as `IDX10501`).
    entries: Vec<(CodeEntry, u32)>,
    messages: Vec<mock_cloud::catalog::StatusMessage>,
}

impl CodeBook {
    pub fn load(codes: &Codes) -> Result<CodeBook, CodeBookError> {
        let entries = Code::ALL
            .iter()
            .map(|c| {
                let entry = codes.get(c.name()).ok_or_else(|| CodeBookError(format!("no code `{}`, which a probe reports", c.name())))?;
                let value = match parse_hex(&entry.value) {
                    Some(v) => v,
                    None if is_named(&entry.value) => 0,
                    None => {
                        return Err(CodeBookError(format!("`{}` = `{}` is no 0x-prefixed 32-bit value nor a named code like IDX10501", c.name(), entry.value)));
                    }
                };
                Ok((entry.clone(), value))
            })
            .collect::<Result<_, CodeBookError>>()?;
        let messages = StatusMessage::ALL
            .iter()
            .map(|m| {
                let found = codes.status_messages.iter().find(|x| x.id == m.id());
                found.cloned().ok_or_else(|| CodeBookError(format!("no status message {}, which a probe raises", m.id())))
            })
            .collect::<Result<_, CodeBookError>>()?;
        Ok(CodeBook { entries, messages })
    }

    /// The codes.toml row of `code`.
    pub fn entry(&self, code: Code) -> &CodeEntry {
        &self.entries[code as usize].0
    }

    /// The codes.toml row of a status message.
    pub fn status_message(&self, m: StatusMessage) -> &mock_cloud::catalog::StatusMessage {
        &self.messages[StatusMessage::ALL.iter().position(|x| *x == m).unwrap_or_default()]
    }

    /// An HRESULT whose low word is an HTTP status, as MREGISTER_E_DISCOVERY_HTTP's meaning in
    /// codes.toml says (0x80190000 | 407 = 0x80190197).
    pub fn with_http_status(&self, code: Code, status: u16) -> String {
        format!("0x{:08X}", (self.entries[code as usize].1 & 0xFFFF_0000) | u32::from(status))
    }

    /// `0x80092013 (CRYPT_E_REVOCATION_OFFLINE): <Windows' own text>`, as a Windows log line
    /// names an HRESULT; the codes.toml meaning where Windows has no text for it.
    pub fn described(&self, code: Code) -> String {
        let e = self.entry(code);
        format!("{} ({}): {}", e.value, e.name, e.text.as_deref().unwrap_or(&e.meaning))
    }

    /// The Win32 error in an HRESULT_FROM_WIN32 value's low word: 12175 for ERROR_WINHTTP_SECURE_FAILURE
    /// (0x80072F8F), as CCMHTTP logs it.
    pub fn win32(&self, code: Code) -> u32 {
        self.entries[code as usize].1 & 0xFFFF
    }

    /// Could a probe report `value`? A codes.toml value, or an HTTP-status composition of
    /// MREGISTER_E_DISCOVERY_HTTP. (Scenario validation asks, so a misspelt `expect.code` is
    /// refused instead of failing for ever.)
    pub fn is_reportable(&self, value: &str) -> bool {
        if is_named(value) {
            return self.entries.iter().any(|(e, _)| e.value.eq_ignore_ascii_case(value));
        }
        let Some(v) = parse_hex(value) else { return false };
        let http = self.entries[Code::MREGISTER_E_DISCOVERY_HTTP as usize].1;
        self.entries.iter().any(|(_, x)| *x == v) || (v & 0xFFFF_0000 == http & 0xFFFF_0000 && (100..=599).contains(&(v & 0xFFFF)))
    }
}

/// A named code: letters then digits, e.g. `IDX10501`, `AADSTS50126`.
pub fn is_named(s: &str) -> bool {
    let digits = s.trim_start_matches(|c: char| c.is_ascii_uppercase());
    let letters = s.len() - digits.len();
    (2..=8).contains(&letters) && (3..=9).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// An Entra code (`AADSTS50126`) as the `sign-in` probe reports it: its row in `entra.toml`
/// (name, source, synthetic), if the authority can answer with it.
pub fn aadsts<'a>(entra: &'a mock_cloud::services::entra::EntraData, value: &str) -> Option<&'a mock_cloud::services::entra::data::ErrorData> {
    let n: u32 = value.strip_prefix("AADSTS").or_else(|| value.strip_prefix("aadsts"))?.parse().ok()?;
    entra.errors.iter().find(|e| e.code == n)
}

fn parse_hex(s: &str) -> Option<u32> {
    let digits = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    (digits.len() == 8).then(|| u32::from_str_radix(digits, 16).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code a probe can report exists in codes.toml, with a value (issue 10).
    #[test]
    fn every_code_a_probe_reports_is_in_codes_toml() {
        let book = CodeBook::load(&mock_cloud::Catalog::builtin().unwrap().codes).unwrap_or_else(|e| panic!("{e}"));
        for c in Code::ALL {
            assert_eq!(book.entry(*c).name, c.name());
        }
        assert_eq!(book.win32(Code::ERROR_WINHTTP_SECURE_FAILURE), 12175);
        for m in StatusMessage::ALL {
            assert_eq!(book.status_message(*m).id, m.id());
        }
        assert_eq!(book.with_http_status(Code::MREGISTER_E_DISCOVERY_HTTP, 407), "0x80190197");
    }

    /// Issue 16: standard winerror.h / corerror.h codes carry Windows' own message text and are
    /// not labelled synthetic (0x80092013 was printed as "the revocation server is offline").
    #[test]
    fn standard_codes_carry_windows_text_and_are_not_synthetic() {
        let book = CodeBook::load(&mock_cloud::Catalog::builtin().unwrap().codes).unwrap();
        let well_known = [
            (
                Code::CRYPT_E_REVOCATION_OFFLINE,
                "0x80092013",
                "The revocation function was unable to check revocation because the revocation server was offline.",
            ),
            (Code::CRYPT_E_REVOKED, "0x80092010", "The certificate is revoked."),
            (Code::CERT_E_CHAINING, "0x800B010A", "A certificate chain could not be built to a trusted root authority."),
            (Code::NTE_BAD_PUBLIC_KEY, "0x80090015", "Provider's public key is invalid."),
            (Code::E_INVALIDDATA, "0x8007000D", "The data is invalid."),
            (Code::WININET_E_TIMEOUT, "0x80072EE2", "The operation timed out"),
            (Code::WININET_E_NAME_NOT_RESOLVED, "0x80072EE7", "The server name or address could not be resolved"),
            (Code::WININET_E_CANNOT_CONNECT, "0x80072EFD", "A connection with the server could not be established"),
            (Code::ERROR_WINHTTP_SECURE_FAILURE, "0x80072F8F", "A security error occurred"),
            (Code::ERROR_WINHTTP_INVALID_SERVER_RESPONSE, "0x80072F78", "The server returned an invalid or unrecognized response"),
            (Code::WEB_EXCEPTION, "0x80131509", "Operation is not valid due to the current state of the object."),
        ];
        for (code, value, text) in well_known {
            let e = book.entry(code);
            assert_eq!((e.value.as_str(), e.text.as_deref(), e.synthetic), (value, Some(text), false), "{}", e.name);
        }
        assert_eq!(
            book.described(Code::CRYPT_E_REVOCATION_OFFLINE),
            "0x80092013 (CRYPT_E_REVOCATION_OFFLINE): The revocation function was unable to check revocation because the revocation server was offline."
        );
        // A standard value used where the tool's own code is not public stays synthetic.
        assert!(book.entry(Code::BULK_TOKEN_TOOL_REFUSED).synthetic);
    }

    #[test]
    fn a_missing_row_is_a_load_error_naming_it() {
        let mut codes = mock_cloud::Catalog::builtin().unwrap().codes;
        codes.codes.retain(|c| c.name != "CRYPT_E_REVOKED");
        assert!(CodeBook::load(&codes).unwrap_err().to_string().contains("CRYPT_E_REVOKED"));
    }

    #[test]
    fn reportable_values_are_the_data_and_the_http_compositions() {
        let book = CodeBook::load(&mock_cloud::Catalog::builtin().unwrap().codes).unwrap();
        assert!(book.is_reportable("0x80072F8F") && book.is_reportable("0x80072f8f"));
        assert!(book.is_reportable("0x80190194"));
        assert!(!book.is_reportable("0x80072F8E") && !book.is_reportable("80072F8F") && !book.is_reportable("0x8019"));
        assert!(book.is_reportable("IDX10501") && !book.is_reportable("IDX99999"));
        let entra = mock_cloud::Catalog::builtin().unwrap().entra;
        assert_eq!(aadsts(&entra, "AADSTS50126").map(|e| e.name.as_str()), Some("bad_password"));
        assert!(aadsts(&entra, "AADSTS1").is_none() && aadsts(&entra, "50126").is_none());
    }
}
