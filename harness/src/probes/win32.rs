//! The `win32-download` probe: the Intune Management Extension fetching a Win32 app's content
//! from the tenant's ASU storage CDN (seed 002; failure catalog CDN-01, PRX-04; protocols.md §11).
//! The URL is the service's "UploadLocation"; here world.json's `content` entry for the app,
//! which points at the tenant region's CDN.
//!
//! Steps: `connect`, `tls`, `head` (200, `Accept-Ranges: bytes`, the size, a strong ETag),
//! `download` (1 MiB ranges with `If-Range`, each must be 206 with the matching `Content-Range`;
//! a connection cut mid-chunk is resumed from the next byte on a new connection, as Delivery
//! Optimization and BITS do), `hash` (SHA-256 against the published digest, as IME checks
//! `fileDigest`). The bytes are hashed as they arrive, never stored.
//!
//! Admin-center texts (failure catalog CDN-01/PRX-04, practitioner-reported [T4], so labelled
//! synthetic in codes.toml): "Error downloading content (0x87D30067)" when the CDN refuses or the
//! download cannot complete (ranges stripped, hash mismatch); "The content delivery network used
//! for downloading application content times out (0x87D3006A)" when the CDN cannot be reached.

use std::time::Instant;

use http_body_util::BodyExt;
use hyper::Method;
use mock_cloud::services::content::{Kind, ManifestEntry};

use super::http::{self, Channel, OpenError};
use super::{Code, ProbeResult, Run};

const CHUNK: u64 = 1 << 20;
/// Reconnections allowed over one download.
const MAX_RESUMES: u32 = 32;

fn failed(run: &Run<'_>, step: &str, code: Code, pkg: &ManifestEntry, why: String) -> ProbeResult {
    let entry = run.codes.entry(code);
    run.fail(step, code, format!("{} ({}) for {}: {why}", entry.meaning, entry.value, pkg.url))
}

fn open_failed(run: &Run<'_>, pkg: &ManifestEntry, e: &OpenError) -> ProbeResult {
    // A proxy that answers (a block page, 407) refused the download; silence or a reset looks
    // like an unreachable CDN to IME.
    let code = if http::proxy_status(e).is_some() || matches!(e, OpenError::Tls(_)) { Code::IME_CONTENT_DOWNLOAD_FAILED } else { Code::IME_CDN_TIMEOUT };
    failed(run, e.step(), code, pkg, e.net().to_string())
}

pub(crate) async fn run(run: &Run<'_>) -> ProbeResult {
    let target = run.target;
    let Some(pkg) = target.content.iter().find(|c| c.kind == Kind::Win32App) else {
        return run.fail("content-info", Code::IME_CONTENT_DOWNLOAD_FAILED, "world.json lists no Win32 app content".into());
    };
    let Some((host, path)) = http::split_https(&pkg.url) else {
        return failed(run, "content-info", Code::IME_CONTENT_DOWNLOAD_FAILED, pkg, "not an https URL".into());
    };
    let started = Instant::now();
    let mut ch = match Channel::open(target, &host).await {
        Ok(c) => c,
        Err(e) => return open_failed(run, pkg, &e),
    };
    // HEAD: the size and the validator every chunk will be tied to.
    let etag = match ch.exchange(Method::HEAD, &path, &[], None, 0).await {
        Ok((res, _)) if res.status() == 200 => {
            let h = res.headers();
            let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            if !get("accept-ranges").eq_ignore_ascii_case("bytes") {
                return failed(run, "head", Code::IME_CONTENT_DOWNLOAD_FAILED, pkg, "the CDN does not advertise Accept-Ranges: bytes".into());
            }
            if get("content-length") != pkg.size.to_string() {
                return failed(
                    run,
                    "head",
                    Code::IME_CONTENT_DOWNLOAD_FAILED,
                    pkg,
                    format!("Content-Length {} instead of {}", get("content-length"), pkg.size),
                );
            }
            get("etag")
        }
        Ok((res, _)) => return failed(run, "head", Code::IME_CONTENT_DOWNLOAD_FAILED, pkg, format!("HEAD answered {}", res.status())),
        Err(e) => return failed(run, "head", Code::IME_CDN_TIMEOUT, pkg, e),
    };
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let (mut pos, mut chunks, mut resumes) = (0u64, 0u32, 0u32);
    while pos < pkg.size {
        let last = (pos + CHUNK).min(pkg.size) - 1;
        let mut headers = vec![("range", format!("bytes={pos}-{last}"))];
        if etag.starts_with('"') {
            headers.push(("if-range", etag.clone()));
        }
        let outcome = async {
            let res = ch.send(Method::GET, &path, &headers, None).await.map_err(|e| (http::cut(&e), e.to_string()))?;
            Ok::<_, (http::Cut, String)>(res)
        };
        let res = match tokio::time::timeout(http::PATIENCE, outcome).await {
            Ok(Ok(res)) => Some(res),
            Ok(Err((cut, why))) if cut != http::Cut::Other => {
                tracing::debug!("chunk at {pos}: {why}");
                None
            }
            Ok(Err((_, why))) => return failed(run, "download", Code::IME_CDN_TIMEOUT, pkg, why),
            Err(_) => return failed(run, "download", Code::IME_CDN_TIMEOUT, pkg, format!("no answer to the range at {pos} within {:?}", http::PATIENCE)),
        };
        if let Some(res) = res {
            match res.status().as_u16() {
                206 => {}
                200 => {
                    return failed(
                        run,
                        "download",
                        Code::IME_CONTENT_DOWNLOAD_FAILED,
                        pkg,
                        format!(
                            "asked for bytes={pos}-{last} and got 200 with the whole file: a proxy on the way strips Range (HTTP partial responses must be allowed, seed 002)"
                        ),
                    );
                }
                s => return failed(run, "download", Code::IME_CONTENT_DOWNLOAD_FAILED, pkg, format!("the range at {pos} answered {s}")),
            }
            let want = format!("bytes {pos}-{last}/{}", pkg.size);
            let got = res.headers().get("content-range").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            if got != want {
                return failed(run, "download", Code::IME_CONTENT_DOWNLOAD_FAILED, pkg, format!("Content-Range `{got}` where `{want}` was asked"));
            }
            let mut body = res.into_body();
            let mut cut_short = false;
            while let Some(frame) = tokio::time::timeout(http::PATIENCE, body.frame()).await.ok().flatten() {
                match frame.map(|f| f.into_data()) {
                    Ok(Ok(data)) => {
                        let take = (data.len() as u64).min(last + 1 - pos) as usize;
                        digest.update(&data[..take]);
                        pos += take as u64;
                    }
                    Ok(Err(_)) => {}
                    Err(_) => {
                        cut_short = true;
                        break;
                    }
                }
            }
            chunks += 1;
            if !cut_short && pos > last {
                continue;
            }
        }
        // The connection went away under the chunk: resume on a new one from the next byte.
        resumes += 1;
        if resumes > MAX_RESUMES {
            return failed(
                run,
                "download",
                Code::IME_CONTENT_DOWNLOAD_FAILED,
                pkg,
                format!("gave up after {MAX_RESUMES} resumes at byte {pos} of {}", pkg.size),
            );
        }
        ch = match Channel::open(target, &host).await {
            Ok(c) => c,
            Err(e) => return open_failed(run, pkg, &e),
        };
    }
    let got: String = digest.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect();
    if got != pkg.sha256 {
        return failed(run, "hash", Code::IME_CONTENT_DOWNLOAD_FAILED, pkg, format!("hash validation failed: SHA-256 {got}, published {}", pkg.sha256));
    }
    run.pass(
        "hash",
        format!(
            "{} ({} bytes) from {host} in {chunks} ranged chunks with {resumes} resume(s) in {:.0} ms; SHA-256 matches",
            pkg.name,
            pkg.size,
            started.elapsed().as_secs_f64() * 1000.0
        ),
    )
}
