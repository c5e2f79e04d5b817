use super::*;
use crate::{Clock, ProxyFaultKind};

fn store(faults: &str) -> (FaultStore, Journal) {
    let journal = Journal::new(Clock::new(time::OffsetDateTime::UNIX_EPOCH, 1.0));
    let base = crate::parse_scenario(&format!("{MINIMAL}{faults}"), "s.toml").unwrap();
    (FaultStore::new(base.faults.clone(), journal.clone(), Arc::new(SyntaxChecker(base))), journal)
}

fn control_events(journal: &Journal) -> Vec<(String, Option<String>, u64)> {
    journal
        .snapshot()
        .into_iter()
        .filter(|e| e.component == Component::Control)
        .map(|e| (e.what.clone(), e.fault.clone(), e.detail["id"].as_u64().unwrap()))
        .collect()
}

#[test]
fn the_scenario_faults_are_listed_with_ids_and_text_that_parses_back() {
    let (store, _) = store("[[fault]]\nkind = \"proxy.deny\"\nhosts = [\"crl3.digicert.com\"]\n[[fault]]\nkind = \"pki.expired\"\nca = \"x\"\n");
    let list = store.list();
    assert_eq!(
        list.iter().map(|e| (e.id.0, e.kind.name(), e.layer, e.live)).collect::<Vec<_>>(),
        [(1, "proxy.deny", "proxy", true), (2, "pki.expired", "pki", false)]
    );
    for e in &list {
        let again = crate::ScenarioFile::for_faults(&crate::parse_scenario(MINIMAL, "m").unwrap(), &e.toml, "t").unwrap();
        assert_eq!(again.scenario.faults, [e.fault.clone()], "{}", e.toml);
    }
    assert_eq!(store.current().proxy().len(), 1);
}

#[test]
fn add_set_remove_change_the_set_and_are_journaled() {
    let (store, journal) = store("");
    let gen0 = store.current().generation();
    let added = store.add("kind = \"proxy.idle_timeout\"\nafter = \"60s\"\n", "cli").unwrap();
    assert_eq!((added.len(), added[0].id), (1, FaultId(1)));
    assert_eq!(store.current().proxy().len(), 1);
    assert!(store.current().generation() > gen0);
    let set = store.set(FaultId(1), "kind = \"proxy.idle_timeout\"\nafter = \"4m\"\n", "cli").unwrap();
    assert!(set.toml.contains("4m"), "{}", set.toml);
    let two = store.add("[[fault]]\nkind = \"dns.nx_domain\"\nnames = \"x.contoso.com\"\n[[fault]]\nkind = \"proxy.deny\"\nports = [80]\n", "f.toml").unwrap();
    assert_eq!(two.iter().map(|e| e.id.0).collect::<Vec<_>>(), [2, 3]);
    assert_eq!(store.current().dns().len(), 1);
    store.remove(FaultId(1)).unwrap();
    assert_eq!(store.list().iter().map(|e| e.id.0).collect::<Vec<_>>(), [2, 3]);
    let idle = Some(ProxyFaultKind::IdleTimeout.name().to_string());
    assert_eq!(
        control_events(&journal),
        [
            ("fault_added".into(), idle.clone(), 1),
            ("fault_changed".into(), idle.clone(), 1),
            ("fault_added".into(), Some("dns.nx_domain".into()), 2),
            ("fault_added".into(), Some("proxy.deny".into()), 3),
            ("fault_removed".into(), idle, 1),
        ]
    );
}

#[test]
fn invalid_text_is_refused_where_it_stands_and_nothing_changes() {
    let (store, journal) = store("[[fault]]\nkind = \"proxy.deny\"\nports = [80]\n");
    let before = store.current().generation();
    let e = store.add("kind = \"proxy.idle_timeout\"\nafter = \"60 s\"\n", "cli").unwrap_err();
    let p = e.problems();
    assert_eq!(p.len(), 1, "{e}");
    assert_eq!((p[0].origin.as_str(), p[0].line, p[0].column), ("cli", 2, 10), "{e}");
    assert!(p[0].message.contains("invalid duration `60 s`"), "{e}");
    let e = store.add("[[fault]]\nkind = \"proxy.deny\"\nports = [80]\n[[fault]]\nkind = \"proxy.dney\"\n", "f.toml").unwrap_err();
    assert_eq!((e.problems()[0].line, e.problems()[0].column), (5, 9), "{e}");
    assert!(e.to_string().starts_with("f.toml:5:9: unknown variant `proxy.dney`"), "{e}");
    let e = store.add("kind = \"proxy.deny\"\nhostz = \"a.com\"\n", "cli").unwrap_err();
    assert!(e.to_string().starts_with("cli:2:1: unknown key `hostz`"), "{e}");
    assert!(store.add("", "cli").unwrap_err().to_string().contains("no fault given"));
    assert_eq!(
        store.set(FaultId(1), "kind = \"proxy.deny\"\nports = [80]\n[[fault]]\nkind = \"proxy.deny\"\nports = [80]\n", "cli").unwrap_err().problems().len(),
        1
    );
    assert_eq!(
        store.set(FaultId(1), "[[fault]]\nkind = \"proxy.deny\"\nports = [80]\n[[fault]]\nkind = \"proxy.deny\"\nports = [80]\n", "cli").unwrap_err(),
        FaultError::NotOne(2)
    );
    assert_eq!(store.remove(FaultId(9)).unwrap_err(), FaultError::UnknownId(FaultId(9)));
    assert!(matches!(store.add("kind = \"pki.expired\"\nca = \"x\"\n", "cli").unwrap_err(), FaultError::FixedAtStart { .. }));
    assert_eq!(store.current().generation(), before);
    assert!(control_events(&journal).is_empty());
}

#[test]
fn a_fault_fixed_at_start_cannot_be_removed_or_set() {
    let (store, _) = store("[[fault]]\nkind = \"pki.expired\"\nca = \"x\"\n");
    let e = store.remove(FaultId(1)).unwrap_err();
    assert!(e.to_string().contains("pki faults are fixed when the world starts") && e.to_string().contains("memsim revoke"), "{e}");
    assert!(matches!(store.set(FaultId(1), "kind = \"proxy.deny\"\nports = [80]\n", "cli").unwrap_err(), FaultError::FixedAtStart { .. }));
    assert_eq!(store.list().len(), 1);
}

#[test]
fn the_fixed_store_parses() {
    let journal = Journal::new(Clock::new(time::OffsetDateTime::UNIX_EPOCH, 1.0));
    let s = FaultStore::fixed(Vec::new(), journal);
    assert_eq!(s.add("kind = \"dns.serv_fail\"\nnames = \"a.com\"\n", "t").unwrap().len(), 1);
}

/// `memsim fault list` shows each fault as TOML a trainer can edit and `set` back: every fault
/// of the catalog reads back as itself.
#[test]
fn every_catalog_fault_lists_as_toml_that_reads_back_as_itself() {
    let base = crate::parse_scenario(MINIMAL, "m").unwrap();
    let mut n = 0;
    for s in crate::catalog::load_all().unwrap() {
        for f in &s.faults {
            let text = fault_toml(f);
            let again = crate::ScenarioFile::for_faults(&base, &text, "t").unwrap_or_else(|e| panic!("{}: {e}\n{text}", s.name));
            assert_eq!(again.scenario.faults, [f.clone()], "{}:\n{text}", s.name);
            n += 1;
        }
    }
    assert!(n > 50, "{n}");
}
