//! The loaded catalog against the seed tables it comes from.

use super::*;

fn cat() -> Catalog {
    Catalog::builtin().unwrap()
}

#[test]
fn every_endpoint_set_of_seed_002_is_there_once() {
    let ids: Vec<u32> = cat().intune.sets.iter().map(|s| s.id).collect();
    let expected = [163, 172, 170, 97, 89, 164, 165, 169, 173, 182, 181, 187, 188, 171, 178, 179, 56, 150, 59];
    assert_eq!(ids, expected, "set IDs in seed order, 172 once");
}

#[test]
fn endpoint_sets_match_the_seed_rows() {
    let c = &cat();
    let s163 = c.endpoint_set(163).unwrap();
    assert_eq!(s163.urls, ["*.manage.microsoft.com", "manage.microsoft.com", "EnterpriseEnrollment.manage.microsoft.com"]);
    assert_eq!(s163.tcp_ports, [80, 443]);
    assert_eq!(s163.ips.len(), 50);
    assert_eq!((s163.category, s163.required, s163.express_route), (Category::Allow, true, false));
    let s170 = c.endpoint_set(170).unwrap();
    assert_eq!(s170.urls.len(), 10, "swd{{a,b,c,d,in}}0{{1,2}}-mscdn.azureedge.net");
    assert_eq!(s170.tcp_ports, [443]);
    let s165 = c.endpoint_set(165).unwrap();
    assert_eq!((s165.tcp_ports.as_slice(), s165.udp_ports.as_slice()), (&[][..], &[123u16][..]));
    assert_eq!(c.endpoint_set(178).unwrap().tcp_ports, [80, 443, 5223]);
    assert_eq!(c.endpoint_set(181).unwrap().urls.len(), 25);
    let s56 = c.endpoint_set(56).unwrap();
    assert!(s56.express_route && s56.required);
    assert!(!c.endpoint_set(150).unwrap().required, "the one set without Vereist");
    let hosts: usize = c.intune.sets.iter().map(|s| s.urls.len()).sum();
    assert_eq!(hosts, 95);
}

#[test]
fn asu_table_matches_seed_002() {
    let c = &cat();
    let counts: Vec<(&str, usize)> = c.asu.regions.iter().map(|r| (r.code.as_str(), r.asus.len())).collect();
    assert_eq!(counts, [("na", 15), ("eu", 10), ("ap", 6)]);
    assert!(c.asu.partial_http_required);
    assert_eq!(c.asu_region("AMSUA0101").unwrap().code, "na");
    assert_eq!(c.asu_region("amsub0301").unwrap().code, "eu");
    assert_eq!(c.asu_region("AMSUD0101").unwrap().code, "ap");
    let ap_hotfix = c.asu.regions[2].stores.iter().find(|s| s.tier == "hotfix").unwrap();
    assert_eq!(ap_hotfix.storage, "approdimedatahotfix");
    assert_eq!(ap_hotfix.storage_as_documented.as_deref(), Some("approdimedatahotifx"));
    assert_eq!(ap_hotfix.cdn, "approdimedatahotfix.azureedge.net");
    for r in &c.asu.regions {
        assert_eq!(r.tcp_ports, [443]);
        assert_eq!(r.stores.len(), 3);
    }
}

#[test]
fn cname_rules_match_seed_003() {
    let c = &cat();
    let enroll: Vec<(CloudScope, &str)> = c.cnames.rules.iter().filter(|r| r.label == "EnterpriseEnrollment").map(|r| (r.cloud, r.target.as_str())).collect();
    assert_eq!(
        enroll,
        [(CloudScope::Public, "EnterpriseEnrollment-s.manage.microsoft.com"), (CloudScope::Usgov, "EnterpriseEnrollment-s.manage.microsoft.us")]
    );
    assert!(c.cnames.rules.iter().all(|r| r.ttl == scenarios::SimDuration::from_secs(3600)));
    assert_eq!(c.cnames.example_tenant.domains, ["contoso.com", "us.contoso.com", "eu.contoso.com"]);
    assert_eq!(c.cnames.nonpreferred_targets.len(), 2);
}

#[test]
fn tenant_attach_and_tokens_match_seeds_000_and_004() {
    let c = &cat();
    assert_eq!(c.tenant_attach.revocation.urls.len(), 9);
    assert_eq!(c.tenant_attach.notification_outbound_connection_minimum, scenarios::SimDuration::from_secs(180));
    assert_eq!(c.tokens.bulk_registration.default_lifetime_minutes, 4320);
    assert_eq!(c.tokens.bulk_registration.max_lifetime_minutes, 10080);
    assert_eq!(c.tokens.client_token.validity, scenarios::SimDuration::from_days(90));
}

#[test]
fn world_hosts_cover_the_catalog_per_cloud() {
    let c = &cat();
    let public = c.hosts_for(&WorldSpec::default());
    for h in [
        "*.manage.microsoft.com",
        "enterpriseenrollment-s.manage.microsoft.com",
        "enrollment.manage.microsoft.com",
        "login.microsoftonline.com",
        "crl3.digicert.com",
        "www.microsoft.com",
        "oneocsp.microsoft.com",
        "naprodimedatapri.azureedge.net",
        "approdimedatahotfix.azureedge.net",
        "graniteFalls.cloudapp.net",
        "go.microsoft.com",
    ] {
        assert!(public.contains(&h.to_ascii_lowercase()), "{h} missing from {public:?}");
    }
    assert!(!public.iter().any(|h| h.contains("microscoft")), "typo names are not served");
    let usgov = c.hosts_for(&WorldSpec { cloud: Cloud::Usgov, ..WorldSpec::default() });
    assert!(usgov.contains(&"enterpriseenrollment-s.manage.microsoft.us".to_string()));
    assert!(usgov.contains(&"login.microsoftonline.us".to_string()));
    assert!(!usgov.contains(&"enterpriseenrollment-s.manage.microsoft.com".to_string()));
}

#[test]
fn host_of_reads_hosts_wildcards_and_urls() {
    assert_eq!(host_of("https://go.microsoft.com/fwlink/?LinkID=619849", "X").unwrap(), "go.microsoft.com");
    assert_eq!(host_of("http://*.windowsupdate.com", "X").unwrap(), "*.windowsupdate.com");
    assert_eq!(host_of("<name>.cloudapp.net", "GraniteFalls").unwrap(), "granitefalls.cloudapp.net");
    assert_eq!(host_of("http://www.microsoft.com/pkiops", "X").unwrap(), "www.microsoft.com");
    assert!(host_of("<FQDN for software update point>", "X").is_none());
}

/// Issue 12: the Intune for Linux front end follows the tenant's scale unit.
#[test]
fn the_front_end_host_follows_the_scale_unit() {
    assert_eq!(scale_unit_label("AMSUA0101"), "msua01");
    assert_eq!(scale_unit_label("AMSUB0102"), "msub01");
    assert_eq!(scale_unit_label("é"), "é", "odd input is kept, never sliced mid-character");
    let c = &cat();
    let spec = scenarios::WorldSpec { asu: "AMSUA0801".into(), ..Default::default() };
    assert_eq!(c.service_hosts_in(scenarios::Service::IntuneLinux, &spec), ["fef.msua08.manage.microsoft.com"]);
    assert!(c.hosts_for(&spec).contains(&"fef.msua08.manage.microsoft.com".to_string()));
    assert!(c.hosts_for(&spec).contains(&"enterpriseregistration.windows.net".to_string()));
}

/// Issue 10: the CMG host comes from a typed field of the data, not from a note's wording.
#[test]
fn the_cmg_host_is_the_row_marked_as_the_cloud_service() {
    let c = &cat();
    assert_eq!(c.cmg_host(Cloud::Public, "GraniteFalls").as_deref(), Some("GraniteFalls.cloudapp.net"));
    assert_eq!(c.cmg_host(Cloud::Usgov, "GraniteFalls").as_deref(), Some("GraniteFalls.usgovcloudapp.net"));
    let mut renamed = c.clone();
    renamed.configmgr.groups.iter_mut().for_each(|g| g.notes = Some("anders verwoord".into()));
    assert_eq!(renamed.cmg_host(Cloud::Public, "X").as_deref(), Some("X.cloudapp.net"), "notes do not matter");
    renamed.configmgr.groups.iter_mut().for_each(|g| g.cmg_cloud_service = false);
    assert_eq!(renamed.cmg_host(Cloud::Public, "X"), None);
}

#[test]
fn every_data_file_is_part_of_the_one_catalog() {
    let c = &cat();
    assert!(!c.content.packages.is_empty());
    assert!(!c.endpoints_service.instances.is_empty());
}
