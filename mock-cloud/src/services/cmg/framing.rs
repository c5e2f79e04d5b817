//! ConfigMgr management point messaging ("CcmMessaging") framing, as a `CCM_POST` carries it
//! (protocols.md §8.2; the facts from garrettfoster13/sccmhunter `lib/scripts/sccmwtf.py` and
//! Mayyhem/SharpSCCM, code not copied):
//!
//! ```text
//! Content-Type: multipart/mixed; boundary="aAbBcCdDv1234567890VxXyYzZ"
//!
//! --aAbBcCdDv1234567890VxXyYzZ\r\n
//! content-type: text/plain; charset=UTF-16\r\n\r\n
//! <UTF-16LE with BOM: <Msg ReplyCompression="zlib" SchemaVersion="1.1">…<TargetEndpoint>…</Msg>>\r\n
//! --aAbBcCdDv1234567890VxXyYzZ\r\n
//! content-type: application/octet-stream\r\n\r\n
//! <zlib( UTF-16LE without BOM of the body XML + U+0000, then ASCII \r\n )>\r\n
//! --aAbBcCdDv1234567890VxXyYzZ--
//! ```
//!
//! A reply has the same shape. Bad input is a [`FramingError`], never a panic: a part that is
//! truncated, UTF-16 of odd length, a stream that is not zlib, or one that inflates past
//! [`MAX_INFLATED`] (a zlib bomb is stopped there, not read to its end).

use std::io::Read as _;

/// The boundary ConfigMgr's messaging uses (sccmwtf.py).
pub const BOUNDARY: &str = "aAbBcCdDv1234567890VxXyYzZ";
/// The `Content-Type` of a message.
pub const CONTENT_TYPE: &str = "multipart/mixed; boundary=\"aAbBcCdDv1234567890VxXyYzZ\"";
/// The user agent of the client's messaging (protocols.md §8.2).
pub const USER_AGENT: &str = "ConfigMgr Messaging HTTP Sender";
/// Largest body an inflated part may have: a registration request is a few KiB.
pub const MAX_INFLATED: usize = 1 << 20;
/// Largest request body read at all.
pub const MAX_BODY: usize = 256 * 1024;

const HEADER_TYPE: &str = "text/plain; charset=UTF-16";
const BODY_TYPE: &str = "application/octet-stream";

/// Why a message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("Content-Type `{0}` is not multipart/mixed with a boundary")]
    ContentType(String),
    #[error("the multipart body is truncated: {0}")]
    Truncated(&'static str),
    #[error("the multipart body has {0} part(s); a message has two (the UTF-16 header, the zlib body)")]
    Parts(usize),
    #[error("part {part} has content-type `{found}`, not `{expected}`")]
    PartType { part: usize, expected: &'static str, found: String },
    #[error("the {what} is UTF-16 of odd length ({len} bytes): UTF-16LE text is whole 2-byte code units")]
    OddUtf16 { what: &'static str, len: usize },
    #[error("the {what} is not valid UTF-16LE ({detail})")]
    Utf16 { what: &'static str, detail: String },
    #[error("the body is not a zlib stream ({0})")]
    Zlib(String),
    #[error("the body inflates past {MAX_INFLATED} bytes (a zlib bomb?); reading stopped there")]
    TooLarge,
}

/// A message: its header XML and its body XML, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub header: String,
    pub body: String,
}

/// The boundary of a `multipart/mixed` Content-Type.
pub fn boundary(content_type: &str) -> Result<String, FramingError> {
    let bad = || FramingError::ContentType(content_type.chars().take(100).collect());
    let mut parts = content_type.split(';');
    if !parts.next().is_some_and(|m| m.trim().eq_ignore_ascii_case("multipart/mixed")) {
        return Err(bad());
    }
    parts
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
        .filter(|b| !b.is_empty() && b.len() <= 70)
        .ok_or_else(bad)
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from > hay.len() {
        return None;
    }
    hay[from..].windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

/// The parts of a multipart body: (content-type, content) each.
pub fn parts<'a>(boundary: &str, body: &'a [u8]) -> Result<Vec<(String, &'a [u8])>, FramingError> {
    let delim = format!("--{boundary}").into_bytes();
    let mut at = find(body, &delim, 0).ok_or(FramingError::Truncated("no boundary line"))? + delim.len();
    let mut out = Vec::new();
    loop {
        if body[at..].starts_with(b"--") {
            return Ok(out);
        }
        if !body[at..].starts_with(b"\r\n") {
            return Err(FramingError::Truncated("a boundary line ends without CRLF or `--`"));
        }
        at += 2;
        let head_end = find(body, b"\r\n\r\n", at).ok_or(FramingError::Truncated("a part's headers never end"))?;
        let head = String::from_utf8_lossy(&body[at..head_end]);
        let ctype = head
            .split("\r\n")
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default();
        let content_start = head_end + 4;
        let mut closing = b"\r\n".to_vec();
        closing.extend_from_slice(&delim);
        let end = find(body, &closing, content_start).ok_or(FramingError::Truncated("a part is cut off before its closing boundary"))?;
        out.push((ctype, &body[content_start..end]));
        if out.len() > 16 {
            return Err(FramingError::Parts(out.len()));
        }
        at = end + closing.len();
        if at >= body.len() {
            return Err(FramingError::Truncated("the body ends without the final `--boundary--`"));
        }
    }
}

/// UTF-16LE bytes as text: an optional BOM, whole code units, no unpaired surrogate.
pub fn from_utf16le(bytes: &[u8], what: &'static str) -> Result<String, FramingError> {
    let bytes = bytes.strip_prefix(&[0xFF, 0xFE]).unwrap_or(bytes);
    if bytes.len() % 2 == 1 {
        return Err(FramingError::OddUtf16 { what, len: bytes.len() });
    }
    let units: Vec<u16> = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    String::from_utf16(&units).map_err(|e| FramingError::Utf16 { what, detail: e.to_string() })
}

/// Text as UTF-16LE without a BOM.
pub fn to_utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// Inflate a zlib stream, stopping at [`MAX_INFLATED`] bytes.
pub fn inflate(bytes: &[u8]) -> Result<Vec<u8>, FramingError> {
    let mut out = Vec::new();
    let mut reader = flate2::read::ZlibDecoder::new(bytes).take(MAX_INFLATED as u64 + 1);
    reader.read_to_end(&mut out).map_err(|e| FramingError::Zlib(e.to_string()))?;
    if out.len() > MAX_INFLATED {
        return Err(FramingError::TooLarge);
    }
    Ok(out)
}

pub fn deflate(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}

/// Read a message from its Content-Type and body.
pub fn parse(content_type: &str, body: &[u8]) -> Result<Message, FramingError> {
    let b = boundary(content_type)?;
    let parts = parts(&b, body)?;
    if parts.len() != 2 {
        return Err(FramingError::Parts(parts.len()));
    }
    let (htype, hbytes) = &parts[0];
    if !htype.to_ascii_lowercase().starts_with("text/plain") {
        return Err(FramingError::PartType { part: 1, expected: HEADER_TYPE, found: htype.chars().take(60).collect() });
    }
    let (btype, bbytes) = &parts[1];
    if !btype.eq_ignore_ascii_case(BODY_TYPE) {
        return Err(FramingError::PartType { part: 2, expected: BODY_TYPE, found: btype.chars().take(60).collect() });
    }
    let header = from_utf16le(hbytes, "message header")?;
    let inflated = inflate(bbytes)?;
    // The body ends with an ASCII CRLF after the UTF-16 text (sccmwtf.py); drop it first.
    let text = inflated.strip_suffix(b"\r\n").unwrap_or(&inflated);
    let body = from_utf16le(text, "message body")?;
    Ok(Message { header: header.trim_end_matches('\0').to_string(), body: body.trim_end_matches('\0').to_string() })
}

/// Frame a message (a request or a reply): the header as UTF-16LE with BOM, the body as zlib
/// of UTF-16LE + U+0000 + CRLF.
pub fn build(header: &str, body: &str) -> Vec<u8> {
    let mut inner = to_utf16le(body);
    inner.extend_from_slice(&[0, 0, b'\r', b'\n']);
    let mut out = format!("--{BOUNDARY}\r\ncontent-type: {HEADER_TYPE}\r\n\r\n").into_bytes();
    out.extend_from_slice(&[0xFF, 0xFE]);
    out.extend_from_slice(&to_utf16le(header));
    out.extend_from_slice(format!("\r\n--{BOUNDARY}\r\ncontent-type: {BODY_TYPE}\r\n\r\n").as_bytes());
    out.extend_from_slice(&deflate(&inner));
    out.extend_from_slice(format!("\r\n--{BOUNDARY}--").as_bytes());
    out
}

/// The uncompressed length the header's `<Body Length>` announces: the UTF-16 body bytes.
pub fn body_length(body: &str) -> usize {
    to_utf16le(body).len() + 2
}

/// The text of the first `<element>` (or its `attr` attribute) in an XML document, read with
/// quick-xml; `None` when absent or when the XML breaks before it.
pub fn xml_value(xml: &str, element: &str, attr: Option<&str>) -> Option<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut inside = false;
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == element.as_bytes() => {
                if let Some(a) = attr {
                    let found = e.attributes().flatten().find(|x| x.key.as_ref() == a.as_bytes())?;
                    return found.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok().map(|v| v.into_owned());
                }
                inside = true;
            }
            Event::Text(t) if inside => return t.decode().ok().map(|v| v.into_owned()),
            Event::End(_) if inside => return Some(String::new()),
            Event::Eof => return None,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
