//! The `enroll` probe against real worlds (issue 14): the whole conversation through the
//! world's DNS, proxy and HTTPS front, with a token the world's Entra signed, under each
//! catalog scenario of the enrollment area.

use super::TokenSource;
use crate::probes::{ProbeResult, ProbeTarget};

/// Run the probe against a world for `scenario` with a fresh token from the world's keys.
async fn enroll_in(scenario: &scenarios::Scenario) -> (ProbeResult, crate::world::World) {
    let world = crate::world::World::start(scenario, crate::world::WorldOptions::default()).await.unwrap();
    let cloud = world.cloud();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let tenant = &scenario.world.tenant_id;
    let claims = serde_json::json!({
        "aud": "https://enrollment.manage.microsoft.com/", "iss": format!("https://sts.windows.net/{tenant}/"),
        "tid": tenant, "upn": "adele@contoso.com", "iat": now, "nbf": now, "exp": now + 3600,
    });
    let token = cloud.entra_keys.sign(&claims).unwrap();
    let mut target = ProbeTarget::new(&world.describe(), 1.0);
    target.enroll_sign_in = Some(TokenSource::Given { upn: "adele@contoso.com".into(), token });
    let result = crate::probes::run_with(scenarios::Probe::Enroll, &target, &cloud.catalog).await;
    (result, world)
}

#[tokio::test]
async fn a_healthy_world_enrolls_and_checks_in() {
    let s = scenarios::catalog::find("healthy-enroll").unwrap().unwrap();
    let (r, world) = enroll_in(&s).await;
    assert!(r.passed, "{r:?}");
    assert_eq!(r.step, "checkin");
    let whats: Vec<String> = world.journal().snapshot().iter().filter(|e| e.component == scenarios::Component::Http).map(|e| e.what.clone()).collect();
    let order: Vec<&str> = whats.iter().map(String::as_str).filter(|w| ["discover", "policies", "enroll", "checkin"].contains(w)).collect();
    assert_eq!(order, ["discover", "policies", "enroll", "checkin"]);
}

/// Every enrollment-area scenario of the catalog fails with its documented code.
#[tokio::test]
async fn each_enrollment_scenario_fails_with_its_code() {
    let all = scenarios::catalog::load_all().unwrap();
    let mut checked = 0;
    for s in all.iter().filter(|s| s.name.to_string().starts_with("enroll-")) {
        let (r, _world) = enroll_in(s).await;
        // The enroll probe's check (a scenario may run other clients too, issue 16).
        let enroll = scenarios::ClientKind::Probe(scenarios::Probe::Enroll);
        let want = s.checks().find(|c| c.client.kind == enroll).and_then(|c| c.expect.code.clone());
        assert!(!r.passed, "{}: {r:?}", s.name);
        assert_eq!(r.code, want, "{}: {r:?}", s.name);
        checked += 1;
    }
    assert!(checked >= 8, "{checked}");
}

/// Every `enrollment.*` kind makes the probe fail with its documented code (README's table),
/// at the step the kind names.
#[tokio::test]
async fn each_fault_kind_fails_the_probe_with_its_code() {
    use scenarios::EnrollmentFaultKind as K;
    for kind in K::ALL {
        let (keys, code, step) = match kind {
            K::DeviceCapReached => ("", "0x80180013", "enroll"),
            K::DeviceNotSupported => ("", "0x80180014", "enroll"),
            K::NotSupported => ("", "0x80180015", "discover"),
            K::UserLicense => ("", "0x80180018", "enroll"),
            K::InMaintenance => ("", "0x80180017", "discover"),
            K::Authentication => ("", "0x80180002", "policies"),
            K::CertificateRequest => ("", "0x80180004", "enroll"),
            K::InvalidSecurity => ("", "0x80180007", "policies"),
            K::MessageFormat => ("", "0x80180001", "discover"),
            K::InternalServiceFault => ("", "0x80180006", "enroll"),
            K::WrongContentType => ("step = \"policies\"", "0x80180001", "policies"),
            K::Chunked => ("step = \"discover\"", "0x80180001", "discover"),
            K::Truncated => ("step = \"checkin\"", "0x80072F78", "checkin"),
            K::MinKeyLength => ("bits = 3072", "0x80180004", "enroll"),
            K::TokenAge => ("age = \"1d\"", "0x80180002", "policies"),
        };
        let text = format!("name = \"k\"\nsummary = \"s\"\narea = \"enrollment\"\nsource = \"t\"\n[[fault]]\nkind = \"{}\"\n{keys}\n", kind.name());
        let s = scenarios::parse_scenario(&text, "k.toml").unwrap();
        let (r, _world) = enroll_in(&s).await;
        assert_eq!((r.code.as_deref(), r.step.as_str()), (Some(code), step), "{kind}: {r:?}");
    }
}
