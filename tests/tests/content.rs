//! Issue 5, the content CDNs, end to end: curl through `memsim up`'s proxy (`-x`, the world's CA
//! given explicitly) and straight at the HTTPS front (`--connect-to`) gets ranges (206, exactly
//! the bytes asked), `Accept-Ranges` on HEAD, 416 for `bytes=9-3`, and a download resumed with
//! `-C -` that reassembles to world.json's SHA-256. The `win32-download` probe passes, resumes
//! through a proxy that resets every connection after 1.5 MB, and fails with the admin-center
//! text when ranges are stripped or the CDN is refused.

use std::process::{Command, Output};

use memsim_e2e::{Up, clean_env, memsim_bin, text};
use serde_json::Value;

/// A package of world.json's `content` by kind.
fn package(up: &Up, kind: &str) -> Value {
    up.world["content"].as_array().expect("world.json lists content").iter().find(|c| c["kind"] == kind).expect("a package of that kind").clone()
}

/// curl through the world's proxy, trusting only the world's CA.
fn curl(up: &Up, args: &[&str]) -> Output {
    clean_env(Command::new("curl"))
        .args(["-sS", "--max-time", "30", "-x"])
        .arg(up.world["proxy_url"].as_str().unwrap())
        .arg("--cacert")
        .arg(up.ca())
        .args(args)
        .output()
        .expect("run curl")
}

fn sha256_file(path: &std::path::Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().expect("sha256sum");
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_string()
}

fn probe(up: &Up, name: &str) -> (Option<i32>, Value) {
    let out = clean_env(Command::new(memsim_bin())).args(["probe", name, "--world"]).arg(up.state.path().join("world.json")).output().unwrap();
    (out.status.code(), serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out))))
}

#[test]
fn world_json_lists_every_package_with_url_size_and_sha256() {
    let up = Up::start(None);
    let content = up.world["content"].as_array().unwrap();
    assert!(content.len() >= 4, "{content:?}");
    for c in content {
        assert!(c["url"].as_str().unwrap().starts_with("https://"), "{c}");
        assert!(c["size"].as_u64().unwrap() > 0 && c["sha256"].as_str().unwrap().len() == 64, "{c}");
    }
    assert!(package(&up, "win32_app")["url"].as_str().unwrap().starts_with("https://naprodimedatapri.azureedge.net/"), "AMSUA0101 is North America");
    assert!(content.iter().any(|c| c["size"].as_u64().unwrap() >= 100 << 20), "one package of hundreds of MB");
}

#[test]
fn curl_gets_206_with_exactly_the_range_and_head_advertises_ranges() {
    let up = Up::start(None);
    let app = package(&up, "win32_app");
    let url = app["url"].as_str().unwrap();
    let out = curl(&up, &["-r", "0-99", "-o", "-", "-w", "\n%{http_code} %{size_download}", url]);
    let stdout = out.stdout.clone();
    let tail = String::from_utf8_lossy(&stdout[stdout.len().saturating_sub(12)..]).to_string();
    assert!(tail.ends_with("\n206 100"), "{tail:?}: {}", text(&out));
    assert_eq!(stdout.len(), 100 + "\n206 100".len(), "exactly 100 bytes of body");
    let out = curl(&up, &["-I", url]);
    let head = text(&out).to_ascii_lowercase();
    // The proxy's CONNECT answer is HTTP/1.1; the CDN's is whatever ALPN chose (curl offers h2).
    let status_lines = head.lines().filter(|l| l.starts_with("http/1.1 200 ") || l.trim_end() == "http/2 200").count();
    assert_eq!(status_lines, 2, "the proxy's CONNECT answer, then the CDN's: {head}");
    for want in ["accept-ranges: bytes", &format!("content-length: {}", app["size"]), "etag: \"0x8d", "last-modified: "] {
        assert!(head.contains(want), "{want} in\n{head}");
    }
    // Straight at the HTTPS front, by name (no proxy), the same.
    let (host, path) = url.trim_start_matches("https://").split_once('/').unwrap();
    let out = up.curl_https_with(host, &format!("/{path}"), &["-w", "%{http_code} %{size_download}", "-r", "-10"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "206 10", "{}", text(&out));
}

#[test]
fn a_resumed_download_reassembles_to_the_published_hash() {
    let up = Up::start(None);
    let app = package(&up, "win32_app");
    let (url, size) = (app["url"].as_str().unwrap(), app["size"].as_u64().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.bin");
    let half = format!("0-{}", size / 2 - 1);
    let out = curl(&up, &["-r", &half, "-o", file.to_str().unwrap(), url]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::metadata(&file).unwrap().len(), size / 2);
    let out = curl(&up, &["-C", "-", "-o", file.to_str().unwrap(), "-w", "%{http_code}", url]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "206", "{}", text(&out));
    assert_eq!(std::fs::metadata(&file).unwrap().len(), size);
    assert_eq!(sha256_file(&file), app["sha256"].as_str().unwrap());
}

#[test]
fn bad_ranges_get_416_with_the_size_and_stale_if_range_the_whole_body() {
    let up = Up::start(None);
    let script = package(&up, "script");
    let (url, size) = (script["url"].as_str().unwrap(), script["size"].as_u64().unwrap());
    for range in ["bytes=9-3", &format!("bytes={size}-")] {
        let out = curl(&up, &["-D", "-", "-o", "/dev/null", "-H", &format!("Range: {range}"), url]);
        let head = text(&out).to_ascii_lowercase();
        assert!(head.contains("\nhttp/1.1 416 ") || head.contains("\nhttp/2 416"), "{range} (after the proxy's CONNECT answer): {head}");
        assert!(head.contains(&format!("content-range: bytes */{size}")), "{range}: {head}");
    }
    let out = curl(&up, &["-o", "/dev/null", "-w", "%{http_code} %{size_download}", "-r", "0-9", "-H", "If-Range: \"0x8D0000000000000\"", url]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("200 {size}"), "{}", text(&out));
    // The front is still serving after all that.
    let out = curl(&up, &["-o", "/dev/null", "-w", "%{http_code}", "-r", "0-0", url]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "206");
    let (_, journal) = up.stop();
    assert!(journal.iter().any(|e| e["what"] == "content" && e["detail"]["status"] == 416 && e["detail"]["range"] == "bytes=9-3"));
}

#[test]
fn the_win32_probe_passes_and_resumes_after_connections_are_reset() {
    let up = Up::start(Some("healthy-win32-download"));
    let (code, r) = probe(&up, "win32-download");
    assert_eq!((code, r["passed"].as_bool()), (Some(0), Some(true)), "{r}");
    assert!(r["message"].as_str().unwrap().contains("0 resume(s)"), "{r}");
    drop(up);
    // Every connection to the CDN is reset after 1.5 MB: the probe resumes from the next byte.
    let up =
        Up::start_toml("cut", "cdn", "[[fault]]\nkind = \"proxy.limit_data\"\nbytes = 1500000\nclose = \"rst\"\nhosts = \"naprodimedatapri.azureedge.net\"\n");
    let (code, r) = probe(&up, "win32-download");
    assert_eq!((code, r["passed"].as_bool()), (Some(0), Some(true)), "{r}");
    let resumes: u32 = r["message"].as_str().unwrap().split(" resume(s)").next().unwrap().rsplit(' ').next().unwrap().parse().unwrap();
    assert!(resumes >= 2, "{r}");
    let (_, journal) = up.stop();
    assert!(journal.iter().any(|e| e["what"] == "limit_data" || e["fault"] == "proxy.limit_data"), "the cut is journaled");
}

#[test]
fn the_win32_probe_fails_with_the_admin_center_text_when_ranges_are_stripped_or_the_cdn_is_refused() {
    for (scenario, code, says) in [
        ("proxy-range-stripped", "0x87D30067", "strips Range"),
        ("cdn-wrong-region-allowed", "0x87D30067", "Error downloading content"),
        ("cdn-asu-blocked", "0x87D3006A", "The content delivery network used for downloading application content times out"),
    ] {
        let up = Up::start(Some(scenario));
        let (exit, r) = probe(&up, "win32-download");
        assert_eq!((exit, r["passed"].as_bool(), r["code"].as_str()), (Some(1), Some(false), Some(code)), "{scenario}: {r}");
        assert!(r["message"].as_str().unwrap().contains(says), "{scenario}: {r}");
        assert_eq!(r["code_synthetic"], true, "practitioner-reported codes are labelled synthetic");
    }
}
