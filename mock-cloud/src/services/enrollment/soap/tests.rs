//! The SOAP reader: tolerant of what real clients send, strict about what the spec forbids, and
//! never a panic on any input (proptest; bench/fuzz-parsers.sh runs it far past CI's count).

use proptest::prelude::*;

use super::*;

#[test]
fn any_prefix_and_unknown_elements_are_read() {
    let xml = r#"<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing"><env:Header><wsa:Action env:mustUnderstand="1"> http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/IPolicy/GetPolicies </wsa:Action><wsa:MessageID>urn:uuid:1</wsa:MessageID><Unknown>x</Unknown><o:Security xmlns:o="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><o:UsernameToken><o:Username>u@contoso.com</o:Username><o:Password Type="x#PasswordText">pw</o:Password></o:UsernameToken></o:Security></env:Header><env:Body><p:GetPolicies xmlns:p="http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy"/></env:Body></env:Envelope>"#;
    let env = parse(xml.as_bytes()).unwrap();
    assert_eq!(env.header.action(), ACTION_GET_POLICIES);
    assert_eq!(env.header.message_id(), "urn:uuid:1");
    let user = env.header.security.unwrap().username.unwrap();
    assert_eq!((user.username(), user.password()), ("u@contoso.com", "pw"));
    assert!(env.body.get_policies.is_some() && env.body.rst.is_none());
}

#[test]
fn what_the_spec_forbids_is_refused_by_name() {
    assert_eq!(parse(&vec![b'<'; MAX_BODY + 1]).unwrap_err(), SoapError::TooLarge);
    assert_eq!(parse(b"\xff\xfe<a/>").unwrap_err(), SoapError::NotUtf8);
    assert_eq!(parse(b"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]><x>&a;</x>").unwrap_err(), SoapError::Dtd);
    assert!(matches!(parse(b"<s:Envelope><s:Body>"), Err(SoapError::Xml(_))));
    assert!(matches!(parse(b"<x>&undeclared;</x>"), Err(SoapError::Xml(_))));
}

#[test]
fn answers_serialise_with_their_prefixes_and_namespaces() {
    #[derive(Serialize)]
    struct B {
        #[serde(rename = "X")]
        x: &'static str,
    }
    let xml = OutEnvelope::new(ACTION_RSTRC, "urn:uuid:9", "a-1".into(), None, B { x: "1" }).to_xml().unwrap();
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?><s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\""), "{xml}");
    assert!(xml.contains("<a:Action s:mustUnderstand=\"1\">http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RSTRC/wstep</a:Action>"), "{xml}");
    assert!(xml.contains("<a:RelatesTo>urn:uuid:9</a:RelatesTo>") && xml.contains("<s:Body><X>1</X></s:Body>"), "{xml}");
}

proptest! {
    /// Any bytes: an envelope or a typed refusal, never a panic.
    #[test]
    fn any_bytes_parse_or_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse(&bytes);
    }

    /// Mutations of a real request: an envelope or a typed refusal, never a panic.
    #[test]
    fn mutated_requests_parse_or_are_refused(cut in 0usize..1200, flip in 0usize..1200, byte in any::<u8>()) {
        let mut xml = crate::services::enrollment::test_support::discover("5.0", &["Federated"], false).into_bytes();
        if flip < xml.len() { xml[flip] = byte; }
        xml.truncate(cut.max(1));
        let _ = parse(&xml);
    }

    /// Any text in the token: decoded or refused as InvalidSecurity, never a panic.
    #[test]
    fn any_token_text_decodes_or_is_invalid_security(s in "\\PC{0,300}") {
        match crate::services::enrollment::auth::decode_token(&s) {
            Ok(t) => prop_assert_eq!(t.split('.').count(), 3),
            Err(e) => prop_assert!(matches!(e, crate::services::enrollment::faults::EnrollError::InvalidSecurity(_))),
        }
    }

    /// Any bytes as a PKCS#10: checked or refused by name, never a panic (the CSR parser).
    #[test]
    fn any_bytes_as_a_csr_are_refused_by_name(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = crate::pki::check_csr(&bytes);
    }
}
