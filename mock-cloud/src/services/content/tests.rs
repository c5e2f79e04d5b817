//! Router tests for the content CDNs, in process (`tower::ServiceExt::oneshot`, no sockets).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use scenarios::{Clock, Journal, WorldSpec};
use tower::ServiceExt;

use super::*;
use crate::catalog::Catalog;

fn catalog() -> Catalog {
    Catalog::builtin().unwrap()
}

fn world() -> (Journal, Arc<Library>) {
    let spec = WorldSpec::default();
    let clock = Clock::new(time::macros::datetime!(2026-01-01 0:00 UTC), 1.0);
    let library = Arc::new(Library::new(&catalog(), &spec, clock.sim_start()));
    (Journal::new(clock), library)
}

fn pkg(library: &Library, kind: Kind) -> Package {
    library.packages().iter().find(|p| p.kind == kind && p.size < 1 << 23).unwrap().clone()
}

async fn call(state: &(Journal, Arc<Library>), method: Method, host: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut req = Request::builder().method(method).uri(path).header(header::HOST, host);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    with(state.0.clone(), state.1.clone()).oneshot(req.body(Body::empty()).unwrap()).await.unwrap()
}

async fn body(res: Response) -> Vec<u8> {
    axum::body::to_bytes(res.into_body(), 64 << 20).await.unwrap().to_vec()
}

fn bytes_of(p: &Package, first: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    p.generator.fill(first, &mut v);
    v
}

#[tokio::test]
async fn head_advertises_ranges_and_validators() {
    let w = world();
    let p = pkg(&w.1, Kind::Win32App);
    let res = call(&w, Method::HEAD, &p.canonical_host, &p.path, &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers().clone();
    assert_eq!(h[header::ACCEPT_RANGES], "bytes");
    assert_eq!(h[header::CONTENT_LENGTH], p.size.to_string().as_str());
    assert_eq!(h[header::ETAG], p.etag.as_str());
    assert!(httpdate::parse_http_date(h[header::LAST_MODIFIED].to_str().unwrap()).is_ok());
    assert!(body(res).await.is_empty());
}

#[tokio::test]
async fn one_range_gets_206_with_exactly_its_bytes() {
    let w = world();
    let p = pkg(&w.1, Kind::Win32App);
    for (range, first, last) in [("bytes=0-99", 0, 99), ("bytes=1000-1009", 1000, 1009), ("bytes=-10", p.size - 10, p.size - 1)] {
        let res = call(&w, Method::GET, &p.canonical_host, &p.path, &[("range", range)]).await;
        assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(res.headers()[header::CONTENT_RANGE], format!("bytes {first}-{last}/{}", p.size).as_str());
        assert_eq!(body(res).await, bytes_of(&p, first, (last - first + 1) as usize), "{range}");
    }
}

#[tokio::test]
async fn unsatisfiable_ranges_get_416_with_the_size() {
    let w = world();
    let p = pkg(&w.1, Kind::Script);
    for range in ["bytes=9-3", &format!("bytes={}-", p.size), "bytes=zz"] {
        let res = call(&w, Method::GET, &p.canonical_host, &p.path, &[("range", range)]).await;
        assert_eq!(res.status(), StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(res.headers()[header::CONTENT_RANGE], format!("bytes */{}", p.size).as_str());
        assert!(String::from_utf8_lossy(&body(res).await).contains("<Code>InvalidRange</Code>"));
    }
}

#[tokio::test]
async fn if_range_with_a_stale_validator_gets_the_whole_body() {
    let w = world();
    let p = pkg(&w.1, Kind::Script);
    let res = call(&w, Method::GET, &p.canonical_host, &p.path, &[("range", "bytes=0-9"), ("if-range", "\"0x8D0000000000000\"")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await, bytes_of(&p, 0, p.size as usize));
    let res = call(&w, Method::GET, &p.canonical_host, &p.path, &[("range", "bytes=0-9"), ("if-range", &p.etag)]).await;
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    let lm = p.last_modified_http();
    let res = call(&w, Method::GET, &p.canonical_host, &p.path, &[("range", "bytes=0-9"), ("if-range", &lm)]).await;
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
}

#[tokio::test]
async fn the_whole_body_hashes_to_the_published_digest_on_every_host() {
    let w = world();
    let manifest = w.1.manifest();
    let p = pkg(&w.1, Kind::Script);
    let entry = manifest.iter().find(|e| e.name == p.name).unwrap();
    assert_eq!(entry.url, format!("https://{}{}", p.canonical_host, p.path));
    for host in &p.hosts {
        let got = body(call(&w, Method::GET, host, &p.path, &[]).await).await;
        let digest: String = ring::digest::digest(&ring::digest::SHA256, &got).as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(digest, entry.sha256, "{host}");
    }
}

#[tokio::test]
async fn another_seed_changes_the_bytes_and_its_digests_are_computed() {
    let spec = WorldSpec { seed: 7, ..WorldSpec::default() };
    let library = Library::new(&catalog(), &spec, time::OffsetDateTime::UNIX_EPOCH);
    let seed0 = world().1.manifest();
    for (a, b) in library.manifest().iter().zip(&seed0) {
        assert_ne!(a.sha256, b.sha256, "{}", a.name);
        let p = library.packages().iter().find(|p| p.name == a.name).unwrap();
        if p.size <= 1 << 20 {
            let digest: String =
                ring::digest::digest(&ring::digest::SHA256, &bytes_of(p, 0, p.size as usize)).as_ref().iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(a.sha256, digest, "{}", a.name);
        }
    }
}

#[tokio::test]
async fn wrong_paths_hosts_and_methods_get_storage_errors() {
    let w = world();
    let p = pkg(&w.1, Kind::Win32App);
    let res = call(&w, Method::GET, &p.canonical_host, "/nope", &[]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(String::from_utf8_lossy(&body(res).await).contains("BlobNotFound"));
    assert_eq!(call(&w, Method::GET, "download.microsoft.com", &p.path, &[]).await.status(), StatusCode::NOT_FOUND);
    let res = call(&w, Method::POST, &p.canonical_host, &p.path, &[]).await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.headers()[header::ALLOW], "GET, HEAD");
}

#[tokio::test]
async fn a_transfer_dropped_midway_is_journaled() {
    use http_body_util::BodyExt;
    let w = world();
    let p = pkg(&w.1, Kind::Win32App);
    let res = call(&w, Method::GET, &p.canonical_host, &p.path, &[]).await;
    let mut b = res.into_body();
    let first = b.frame().await.unwrap().unwrap().into_data().unwrap();
    assert!(!first.is_empty());
    drop(b);
    let e = w.0.find(0, |e| e.what == "content_aborted").expect("abort journaled");
    assert_eq!(e.detail["package"], p.name.as_str());
    assert_eq!(e.detail["generated"], first.len() as u64);
}

#[test]
fn tenants_go_to_their_region_and_every_content_host_is_emulated() {
    let cat = &catalog();
    for (asu, want) in
        [("AMSUA0101", "naprodimedatapri.azureedge.net"), ("AMSUB0202", "euprodimedatapri.azureedge.net"), ("AMSUD0101", "approdimedatapri.azureedge.net")]
    {
        let spec = WorldSpec { asu: asu.into(), ..WorldSpec::default() };
        let lib = Library::new(cat, &spec, time::OffsetDateTime::UNIX_EPOCH);
        let p = lib.packages().iter().find(|p| p.kind == Kind::Win32App).unwrap();
        assert_eq!(p.canonical_host, want);
        assert!(p.hosts.contains(&"naprodimedatapri.blob.core.windows.net".to_string()));
        assert!(p.hosts.contains(&"approdimedatahotifx.blob.core.windows.net".to_string()), "the seed's spelling is served too");
        for cloud in [scenarios::Cloud::Public, scenarios::Cloud::Usgov] {
            let world_hosts = cat.hosts_for(&WorldSpec { cloud, ..spec.clone() });
            for h in lib.hosts() {
                let covered = world_hosts.iter().any(|w| *w == h || w.strip_prefix('*').is_some_and(|s| h.ends_with(s)));
                assert!(covered, "{h} is served as content but not emulated in a {cloud:?} world");
            }
        }
    }
    let data = &catalog().content;
    assert!(data.packages.iter().all(|p| data.groups.iter().any(|g| g.name == p.group)), "every package names a group");
}

/// The digests recorded for seed 0 are the ones the generator produces (a changed package
/// name or size shows its new digest here).
#[test]
fn the_recorded_seed0_digests_are_right() {
    let data = &catalog().content;
    let mut wrong = Vec::new();
    for p in &data.packages {
        let got = Generator::new(0, &p.name).sha256(p.size, &std::sync::atomic::AtomicBool::new(false));
        if p.sha256_seed0.as_deref() != Some(got.as_str()) {
            wrong.push(format!("{}: sha256_seed0 = \"{got}\"", p.name));
        }
    }
    assert!(wrong.is_empty(), "content.toml:\n{}", wrong.join("\n"));
}
