//! Issue 5, the Microsoft 365 endpoints web service, end to end: python3's `urllib` through the
//! world's proxy (the world's CA only) fetches the MEM endpoint list as seed 002's one-liner
//! does and finds set 163; without `clientrequestid` it gets 400. The `endpoints` probe passes
//! on a healthy world and fails with .NET's 403 text when the proxy refuses the service.

use std::process::Command;

use memsim_e2e::{Up, clean_env, memsim_bin, text};
use serde_json::Value;

/// python3 urllib through the proxy: prints `{"status": …, "body": …}` for `url`.
fn urllib(up: &Up, url: &str) -> Value {
    let script = r#"
import json, ssl, sys, urllib.request, urllib.error
proxy, ca, url = sys.argv[1:4]
ctx = ssl.create_default_context(cafile=ca)
opener = urllib.request.build_opener(urllib.request.ProxyHandler({"https": proxy, "http": proxy}), urllib.request.HTTPSHandler(context=ctx))
try:
    with opener.open(url, timeout=30) as r:
        print(json.dumps({"status": r.status, "body": r.read().decode()}))
except urllib.error.HTTPError as e:
    print(json.dumps({"status": e.code, "body": e.read().decode()}))
"#;
    let out =
        clean_env(Command::new("python3")).arg("-c").arg(script).arg(up.world["proxy_url"].as_str().unwrap()).arg(up.ca()).arg(url).output().expect("python3");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
}

const LIST: &str = "https://endpoints.office.com/endpoints/WorldWide?ServiceAreas=MEM&clientrequestid=";

#[test]
fn python_urllib_gets_the_mem_list_with_set_163() {
    let up = Up::start(None);
    let r = urllib(&up, &format!("{LIST}b10c5ed1-bad1-445f-b386-b919946339a7"));
    assert_eq!(r["status"], 200, "{r}");
    let sets: Vec<Value> = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
    let s163 = sets.iter().find(|s| s["id"] == 163).expect("set 163");
    assert_eq!(s163["serviceArea"], "MEM");
    assert_eq!(s163["tcpPorts"], "80,443");
    assert!(s163["urls"].as_array().unwrap().iter().any(|u| u == "*.manage.microsoft.com"), "{s163}");
    // The one-liner's filter: MEM sets with IPs.
    let ips: Vec<&Value> = sets.iter().filter(|s| s["serviceArea"] == "MEM").filter_map(|s| s.get("ips")).flat_map(|i| i.as_array().unwrap()).collect();
    assert!(ips.len() >= 50, "{}", ips.len());
    let v = urllib(&up, "https://endpoints.office.com/version/worldwide?clientrequestid=b10c5ed1-bad1-445f-b386-b919946339a7");
    assert_eq!(v["status"], 200);
    assert_eq!(serde_json::from_str::<Value>(v["body"].as_str().unwrap()).unwrap()["instance"], "Worldwide");
}

#[test]
fn a_request_without_a_valid_clientrequestid_gets_400() {
    let up = Up::start(None);
    for url in ["https://endpoints.office.com/endpoints/WorldWide?ServiceAreas=MEM", &format!("{LIST}not-a-guid")] {
        let r = urllib(&up, url);
        assert_eq!(r["status"], 400, "{url}: {r}");
        assert!(r["body"].as_str().unwrap().contains("ClientRequestId"), "{r}");
    }
    let (_, journal) = up.stop();
    assert!(journal.iter().any(|e| e["what"] == "request" && e["host"] == "endpoints.office.com" && e["detail"]["status"] == 400));
}

#[test]
fn the_endpoints_probe_passes_and_fails_with_the_proxy_status_when_refused() {
    let run = |up: &Up| {
        let out = clean_env(Command::new(memsim_bin())).args(["probe", "endpoints", "--world"]).arg(up.state.path().join("world.json")).output().unwrap();
        (out.status.code(), serde_json::from_slice::<Value>(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out))))
    };
    let up = Up::start(Some("healthy-endpoints"));
    let (code, r) = run(&up);
    assert_eq!(code, Some(0), "{r}");
    assert!(r["message"].as_str().unwrap().contains("*.manage.microsoft.com"), "{r}");
    drop(up);
    let up = Up::start_toml("deny", "proxy", "[[fault]]\nkind = \"proxy.deny\"\nhosts = \"endpoints.office.com\"\n");
    let (code, r) = run(&up);
    assert_eq!((code, r["code"].as_str(), r["step"].as_str()), (Some(1), Some("0x80131509"), Some("connect")), "{r}");
    assert!(r["message"].as_str().unwrap().contains("(403) Forbidden"), "{r}");
}
