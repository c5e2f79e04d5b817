//! Checking a scenario's expectations against what its client did and what the journal saw.
//! A failed expectation carries the near-miss: the events that came closest.

use scenarios::{Event, EventExpectation, Expect, Outcome};

use super::report::{Check, ClientOutcome, ExpectationResult};

/// How many near-miss events a failed event expectation shows.
const NEAR: usize = 6;

pub fn check(expect: &Expect, client: &ClientOutcome, journal: &[Event]) -> Vec<ExpectationResult> {
    let mut out = Vec::new();
    let outcome = expect.outcome.unwrap_or(Outcome::Pass);
    let observed = if client.passed { Outcome::Pass } else { Outcome::Fail };
    out.push(result("outcome", outcome == observed, outcome.as_str(), format!("{} ({})", observed.as_str(), client_detail(client))));
    let probe = client.probe.as_ref();
    if let Some(code) = &expect.code {
        out.push(match probe {
            None => skipped("code", code, "a command replaced the probe"),
            Some(p) => {
                let got = p.code.clone().unwrap_or_else(|| "none".into());
                result("code", got.eq_ignore_ascii_case(code), code, got)
            }
        });
    }
    if let Some(id) = expect.status_message {
        out.push(match probe {
            None => skipped("status_message", &id.to_string(), "a command replaced the probe"),
            Some(p) => {
                let got = p.status_message.map_or("none".into(), |m| m.to_string());
                result("status_message", p.status_message == Some(id), &id.to_string(), got)
            }
        });
    }
    for (stream, text, needles) in [("stdout", &client.stdout, &expect.stdout_contains), ("stderr", &client.stderr, &expect.stderr_contains)] {
        for n in needles {
            let (what, skip, n) = (format!("{stream} contains"), n.probe_only && probe.is_none(), &n.text);
            out.push(if skip {
                skipped(&what, &format!("{n:?}"), "the probe's own wording; a command replaced the probe")
            } else {
                result(&what, text.contains(n.as_str()), &format!("{n:?}"), excerpt(text))
            });
        }
    }
    for (stream, text, patterns) in [("stdout", &client.stdout, &expect.stdout_matches), ("stderr", &client.stderr, &expect.stderr_matches)] {
        for p in patterns {
            let (what, skip, p) = (format!("{stream} matches"), p.probe_only && probe.is_none(), &p.text);
            if skip {
                out.push(skipped(&what, &format!("/{p}/"), "the probe's own wording; a command replaced the probe"));
                continue;
            }
            let held = regex_lite::Regex::new(p).map(|re| re.is_match(text));
            out.push(match held {
                Ok(h) => result(&format!("{stream} matches"), h, &format!("/{p}/"), excerpt(text)),
                Err(e) => result(&format!("{stream} matches"), false, &format!("/{p}/"), format!("invalid pattern: {e}")),
            });
        }
    }
    for e in &expect.events {
        out.push(if e.probe_only && probe.is_none() {
            skipped("event", &e.describe(), "what the probe does; a command replaced the probe")
        } else {
            check_events(e, journal)
        });
    }
    out
}

pub(crate) fn check_events(e: &EventExpectation, journal: &[Event]) -> ExpectationResult {
    let n = journal.iter().filter(|ev| e.matches(ev)).count() as u32;
    let held = match (e.absent, e.count, e.at_least) {
        (true, _, _) => n == 0,
        (_, Some(c), _) => n == c,
        (_, _, Some(a)) => n >= a,
        _ => n >= 1,
    };
    let mut r = result("event", held, &e.describe(), format!("{n} matching event(s)"));
    if !held {
        r.near = near_misses(e, journal);
    }
    r
}

/// Events that match the expectation but for one field, else events of the same component.
fn near_misses(e: &EventExpectation, journal: &[Event]) -> Vec<Event> {
    let relaxed = [
        EventExpectation { details: Default::default(), ..e.clone() },
        EventExpectation { fault: None, ..e.clone() },
        EventExpectation { host: None, ..e.clone() },
        EventExpectation { what: None, ..e.clone() },
        EventExpectation { component: e.component, ..Default::default() },
    ];
    for r in relaxed {
        let found: Vec<Event> = journal.iter().filter(|ev| r.matches(ev)).take(NEAR).cloned().collect();
        if !found.is_empty() {
            return found;
        }
    }
    Vec::new()
}

fn client_detail(c: &ClientOutcome) -> String {
    if let Some(p) = &c.probe {
        let code = p.code.as_deref().map(|x| format!(" {x}")).unwrap_or_default();
        return format!("step {}{code}: {}", p.step, p.message);
    }
    if let Some(e) = &c.error {
        return e.clone();
    }
    match c.exit_code {
        Some(code) => format!("exit {code}"),
        None => c.stderr.trim().to_string(),
    }
}

fn excerpt(text: &str) -> String {
    let t = text.trim();
    if t.chars().count() > 300 { format!("{:?}…", t.chars().take(300).collect::<String>()) } else { format!("{t:?}") }
}

fn result(expectation: &str, held: bool, expected: &str, observed: String) -> ExpectationResult {
    ExpectationResult {
        expectation: expectation.to_string(),
        check: if held { Check::Held } else { Check::Failed },
        expected: expected.to_string(),
        observed,
        near: Vec::new(),
    }
}

fn skipped(expectation: &str, expected: &str, why: &str) -> ExpectationResult {
    ExpectationResult {
        expectation: expectation.to_string(),
        check: Check::Skipped,
        expected: expected.to_string(),
        observed: format!("skipped: {why}"),
        near: Vec::new(),
    }
}
