//! The messaging framing both ways, and every way a body can be bad (issue 15).

use proptest::prelude::*;

use super::*;

const HEADER: &str = "<Msg ReplyCompression=\"zlib\" SchemaVersion=\"1.1\"><TargetEndpoint>MP_ClientRegistration</TargetEndpoint></Msg>";
const BODY: &str = "<ClientRegistrationRequest><Data RequestType=\"Registration\" /></ClientRegistrationRequest>";

#[test]
fn a_message_round_trips_and_reads_as_sccmwtf_frames_it() {
    let bytes = build(HEADER, BODY);
    let m = parse(CONTENT_TYPE, &bytes).unwrap();
    assert_eq!((m.header.as_str(), m.body.as_str()), (HEADER, BODY));
    assert_eq!(xml_value(&m.header, "TargetEndpoint", None).as_deref(), Some("MP_ClientRegistration"));
    assert_eq!(xml_value(&m.body, "Data", Some("RequestType")).as_deref(), Some("Registration"));
    // sccmwtf.py's own layout: header with BOM, body zlib(UTF-16LE + NUL) + CRLF inside.
    let head = format!("--{BOUNDARY}\r\ncontent-type: text/plain; charset=UTF-16\r\n\r\n");
    assert!(bytes.starts_with(head.as_bytes()) && bytes[head.len()..].starts_with(&[0xFF, 0xFE, b'<', 0]));
    assert!(bytes.ends_with(format!("\r\n--{BOUNDARY}--").as_bytes()));
    assert_eq!(boundary("multipart/mixed; boundary=\"aAbBcCdDv1234567890VxXyYzZ\"").unwrap(), BOUNDARY);
}

#[test]
fn truncated_odd_and_bombed_bodies_are_named() {
    let bytes = build(HEADER, BODY);
    for cut in [10, 60, bytes.len() / 2, bytes.len() - 3] {
        assert!(matches!(parse(CONTENT_TYPE, &bytes[..cut]), Err(FramingError::Truncated(_))), "cut at {cut}");
    }
    // A header part of odd length: whole UTF-16 code units or nothing.
    let mut odd = format!("--{BOUNDARY}\r\ncontent-type: text/plain; charset=UTF-16\r\n\r\n").into_bytes();
    odd.extend_from_slice(&[0xFF, 0xFE, b'<', 0, b'M']);
    odd.extend_from_slice(format!("\r\n--{BOUNDARY}\r\ncontent-type: application/octet-stream\r\n\r\nxx\r\n--{BOUNDARY}--").as_bytes());
    assert_eq!(parse(CONTENT_TYPE, &odd).unwrap_err(), FramingError::OddUtf16 { what: "message header", len: 3 });
    // A body whose inflated UTF-16 has an odd length.
    let mut body_odd = build(HEADER, "").to_vec();
    let odd_zlib = deflate(b"<\0M");
    let at = body_odd.windows(24).position(|w| w == b"application/octet-stream").unwrap() + 28;
    let end = body_odd.len() - (BOUNDARY.len() + 6);
    body_odd.splice(at..end, odd_zlib);
    assert!(matches!(parse(CONTENT_TYPE, &body_odd), Err(FramingError::OddUtf16 { what: "message body", .. })), "{:?}", parse(CONTENT_TYPE, &body_odd));
    // A zlib bomb: 64 MiB of zeros in a few KiB, stopped at the cap.
    let bomb = deflate(&vec![0u8; 64 << 20]);
    assert!(bomb.len() < 128 * 1024);
    assert_eq!(inflate(&bomb).unwrap_err(), FramingError::TooLarge);
    assert!(matches!(inflate(b"not zlib"), Err(FramingError::Zlib(_))));
    assert!(matches!(parse("text/plain", &bytes), Err(FramingError::ContentType(_))));
    assert!(matches!(from_utf16le(&[0x00, 0xD8], "x"), Err(FramingError::Utf16 { .. })), "an unpaired surrogate");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(ProptestConfig::default().cases.max(256)))]
    /// Any bytes, and any truncation or corruption of a good message, parse or give a
    /// `FramingError`: never a panic.
    #[test]
    fn any_body_gets_an_answer(junk in proptest::collection::vec(any::<u8>(), 0..400), cut in 0usize..2000, flip in 0usize..2000, byte in any::<u8>(), ctype in "[ -~]{0,80}") {
        let _ = parse(CONTENT_TYPE, &junk);
        let _ = parse(&ctype, &junk);
        let mut good = build(HEADER, BODY);
        let i = flip % good.len();
        good[i] = byte;
        good.truncate(cut.max(1).min(good.len()));
        let _ = parse(CONTENT_TYPE, &good);
        let _ = xml_value(&String::from_utf8_lossy(&junk), "Data", Some("RequestType"));
    }
}
