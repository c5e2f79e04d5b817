//! Every parser in the scenario model takes arbitrary input without panicking, and what it
//! accepts round-trips.

use proptest::prelude::*;
use scenarios::{HostPattern, SimDuration, parse_scenario};

const HEAD: &str = "name = \"p\"\nsummary = \"s\"\narea = \"pki\"\nsource = \"t\"\n";

proptest! {
    // 512 cases a test in CI; PROPTEST_CASES raises it (bench/fuzz-parsers.sh runs millions).
    #![proptest_config(ProptestConfig::with_cases(ProptestConfig::default().cases.max(512)))]

    #[test]
    fn scenario_parser_never_panics_on_any_text(text in "\\PC{0,400}") {
        let _ = parse_scenario(&text, "fuzz.toml");
    }

    #[test]
    fn errors_always_point_inside_the_file(tail in "[a-z_\\[\\]=\" .\\n0-9]{0,200}") {
        let text = format!("{HEAD}{tail}");
        if let Err(e) = parse_scenario(&text, "f.toml") {
            prop_assert!(e.line >= 1 && e.line <= text.lines().count() + 1, "{e}");
            prop_assert!(e.column >= 1, "{e}");
        }
    }

    #[test]
    fn fault_tables_with_arbitrary_keys_never_panic(
        kind in "(pki|dns|x)\\.[a-z_]{0,20}",
        key in "[a-z_]{1,10}",
        value in "\"[^\"\\\\\\n]{0,20}\"|[0-9]{1,5}|true",
    ) {
        let text = format!("{HEAD}[[fault]]\nkind = \"{kind}\"\n{key} = {value}\n");
        let _ = parse_scenario(&text, "f.toml");
    }

    #[test]
    fn durations_parse_or_refuse_and_round_trip(s in "\\PC{0,24}") {
        if let Ok(d) = SimDuration::parse(&s) {
            prop_assert_eq!(SimDuration::parse(&d.to_string()).unwrap(), d);
        }
    }

    #[test]
    fn well_formed_durations_are_exact(n in 0u64..1_000_000, unit in prop::sample::select(vec![("ms", 1u64), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)])) {
        // Exact up to the longest span a world knows (issue 11), refused beyond it.
        match SimDuration::parse(&format!("{n}{}", unit.0)) {
            Ok(d) => prop_assert_eq!(d.0.as_millis() as u64, n * unit.1),
            Err(e) => prop_assert!(n * unit.1 > SimDuration::MAX.0.as_millis() as u64, "{e}"),
        }
    }

    #[test]
    fn host_patterns_parse_or_refuse_and_round_trip(s in "\\PC{0,60}") {
        if let Ok(p) = HostPattern::parse(&s) {
            let again = HostPattern::parse(&p.to_string()).unwrap();
            prop_assert_eq!(&again, &p);
            prop_assert!(p.matches(&p.to_string()));
        }
    }
}
