//! Router tests for the endpoints web service, in process.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt;

use super::*;

const ID: &str = "b10c5ed1-bad1-445f-b386-b919946339a7";

fn catalog() -> Catalog {
    Catalog::builtin().unwrap()
}

async fn get(uri: &str) -> (StatusCode, Option<String>, String) {
    let req = Request::builder().uri(uri).header(header::HOST, "endpoints.office.com").body(Body::empty()).unwrap();
    let res = Router::new().fallback(handle).with_state(Arc::new(catalog())).oneshot(req).await.unwrap();
    let status = res.status();
    let cache = res.headers().get(header::CACHE_CONTROL).map(|v| v.to_str().unwrap().to_string());
    let body = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    (status, cache, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn the_seed_one_liner_gets_the_mem_sets_with_the_real_field_names() {
    let (status, _, body) = get(&format!("/endpoints/WorldWide?ServiceAreas=MEM&clientrequestid={ID}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sets: Vec<Value> = serde_json::from_str(&body).unwrap();
    let s163 = sets.iter().find(|s| s["id"] == 163).expect("set 163");
    assert_eq!(s163["serviceArea"], "MEM");
    assert_eq!(s163["tcpPorts"], "80,443");
    assert_eq!(s163["category"], "Allow");
    assert_eq!(s163["required"], true);
    assert_eq!(s163["expressRoute"], false);
    assert!(s163["urls"].as_array().unwrap().iter().any(|u| u == "*.manage.microsoft.com"));
    assert!(s163["ips"].as_array().unwrap().iter().any(|u| u == "13.67.13.176/28"));
    let keys: Vec<&str> = s163.as_object().unwrap().keys().map(String::as_str).collect();
    for k in &keys {
        assert!(
            ["id", "serviceArea", "serviceAreaDisplayName", "urls", "ips", "tcpPorts", "udpPorts", "expressRoute", "category", "required", "notes"].contains(k),
            "{k}"
        );
    }
    // Blank fields are omitted: 165 (NTP) has UDP 123 and no TCP port, 170 has no IPs.
    let s165 = sets.iter().find(|s| s["id"] == 165).unwrap();
    assert_eq!(s165["udpPorts"], "123");
    assert!(s165.get("tcpPorts").is_none());
    assert!(sets.iter().find(|s| s["id"] == 170).unwrap().get("ips").is_none());
    // Typed round trip: every record parses back.
    let typed: Vec<Record> = serde_json::from_str(&body).unwrap();
    assert_eq!(typed.len(), catalog().intune.sets.len());
}

#[tokio::test]
async fn clientrequestid_is_required_and_must_be_a_guid() {
    for uri in [
        "/endpoints/Worldwide?ServiceAreas=MEM",
        "/endpoints/Worldwide?clientrequestid=not-a-guid",
        "/version?clientrequestid=",
        "/endpoints/Worldwide?clientrequestid=b10c5ed1bad1445fb386b919946339a7",
    ] {
        let (status, _, body) = get(uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(body.contains("ClientRequestId"), "{uri}: {body}");
    }
    // The parameter name is case-insensitive, as the docs use both spellings.
    assert_eq!(get(&format!("/endpoints/worldwide?ClientRequestId={ID}")).await.0, StatusCode::OK);
    assert_eq!(get(&format!("/endpoints/worldwide?clientRequestId=%7B{ID}%7D")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn instances_are_case_insensitive_and_checked() {
    for inst in ["Worldwide", "worldwide", "USGovDoD", "usgovgcchigh", "China"] {
        assert_eq!(get(&format!("/endpoints/{inst}?clientrequestid={ID}")).await.0, StatusCode::OK, "{inst}");
    }
    let (status, _, body) = get(&format!("/endpoints/Mars?clientrequestid={ID}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("Worldwide"));
    // Only the worldwide instance has seed data.
    assert_eq!(get(&format!("/endpoints/China?clientrequestid={ID}")).await.2, "[]");
    assert_eq!(get(&format!("/endpoints?clientrequestid={ID}")).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn service_areas_filter_and_unknown_areas_are_refused() {
    let (_, _, body) = get(&format!("/endpoints/Worldwide?ServiceAreas=Exchange&clientrequestid={ID}")).await;
    assert_eq!(body, "[]", "no Exchange or Common sets in seed 002");
    assert_eq!(get(&format!("/endpoints/Worldwide?ServiceAreas=Bogus&clientrequestid={ID}")).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn version_answers_one_or_all_instances_with_an_hour_of_cache() {
    let (status, cache, body) = get(&format!("/version/Worldwide?clientrequestid={ID}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cache.as_deref(), Some("public, max-age=3600"));
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["instance"], "Worldwide");
    assert_eq!(v["latest"], catalog().endpoints_service.version.as_str());
    let all: Vec<Value> = serde_json::from_str(&get(&format!("/version?AllVersions=true&clientrequestid={ID}")).await.2).unwrap();
    assert_eq!(all.len(), catalog().endpoints_service.instances.len());
    assert!(all[0]["versions"].is_array());
    assert_eq!(
        get(&format!("/version/Worldwide?format=CSV&clientrequestid={ID}")).await.2,
        format!("instance,latest\nWorldwide,{}\n", catalog().endpoints_service.version)
    );
}

#[tokio::test]
async fn csv_changes_and_bad_paths() {
    let (status, _, body) = get(&format!("/endpoints/Worldwide?format=csv&ServiceAreas=MEM&clientrequestid={ID}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.starts_with("id,serviceArea,serviceAreaDisplayName,urls,ips,tcpPorts"));
    assert!(body.lines().any(|l| l.starts_with("163,MEM,") && l.contains("\"*.manage.microsoft.com,manage.microsoft.com")), "{body}");
    assert_eq!(get(&format!("/changes/Worldwide/0000000000?clientrequestid={ID}")).await.2, "[]");
    assert_eq!(get(&format!("/changes/Worldwide/abc?clientrequestid={ID}")).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(get(&format!("/nope?clientrequestid={ID}")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&format!("/version?format=rss&clientrequestid={ID}")).await.0, StatusCode::NOT_IMPLEMENTED);
}

#[test]
fn guids_and_percent_decoding() {
    assert!(is_guid(ID) && is_guid(&format!("{{{ID}}}")) && is_guid(&ID.to_uppercase()));
    assert!(!is_guid("b10c5ed1-bad1-445f-b386-b919946339a") && !is_guid("") && !is_guid("g10c5ed1-bad1-445f-b386-b919946339a7"));
    assert_eq!(decode("MEM%2CCommon+x%zz%4"), "MEM,Common x%zz%4");
}
