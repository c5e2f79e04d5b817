//! The human view: a progress bar while running (on a terminal), one line per scenario, a
//! summary table, and for each failure the near-miss a support engineer needs — expected,
//! observed, and the journal around it. Colour unless told not to (NO_COLOR).

use std::io::Write;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::runner::report::{Check, Reporter, RunEvent, ScenarioReport, Verdict, event_line};

#[derive(Debug)]
pub struct Human {
    out: Box<dyn WriteDebug>,
    color: bool,
    bar: Option<ProgressBar>,
    failures: Vec<ScenarioReport>,
    rows: Vec<(String, String, Verdict, f64, f64)>,
}

/// A writer we can hold in a Debug struct.
pub trait WriteDebug: Write + Send + std::fmt::Debug {}
impl<T: Write + Send + std::fmt::Debug> WriteDebug for T {}

impl Human {
    /// `progress`: draw a bar on stderr (only when it is a terminal).
    pub fn new(out: Box<dyn WriteDebug>, color: bool, progress: bool) -> Self {
        let bar = progress.then(|| ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr()));
        Human { out, color, bar, failures: Vec::new(), rows: Vec::new() }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
    }

    fn mark(&self, v: Verdict) -> String {
        match v {
            Verdict::Pass => self.paint("32", "PASS"),
            Verdict::Fail => self.paint("31", "FAIL"),
            Verdict::Error => self.paint("35", "ERROR"),
            Verdict::Interrupted => self.paint("33", "INTR"),
            Verdict::NotRun => self.paint("33", "SKIP"),
        }
    }

    fn line(&mut self, text: &str) -> std::io::Result<()> {
        match &self.bar {
            Some(bar) => {
                bar.println(text);
                Ok(())
            }
            None => writeln!(self.out, "{text}"),
        }
    }
}

/// Expected, observed, and the journal around it.
pub fn near_miss(r: &ScenarioReport, color: bool) -> String {
    let bold = |t: &str| if color { format!("\x1b[1m{t}\x1b[0m") } else { t.to_string() };
    let mut s = format!("{} ({}): {}\n", bold(&r.name), r.area.as_str(), r.summary);
    if let Some(e) = &r.error {
        s.push_str(&format!("  error: {e}\n"));
    }
    for (check, c) in r.clients() {
        let at = check.map(|n| format!("check `{n}` ")).unwrap_or_default();
        s.push_str(&format!("  {at}client: {}\n", c.describe));
        if let Some(p) = &c.probe {
            let synthetic = if p.code_synthetic { " (synthetic code)" } else { "" };
            s.push_str(&format!(
                "  probe: {} at step `{}` code {}{synthetic}: {}\n",
                if p.passed { "passed" } else { "failed" },
                p.step,
                p.code.as_deref().unwrap_or("-"),
                p.message
            ));
        }
        if !c.stderr.trim().is_empty() {
            s.push_str(&format!("  stderr: {}\n", c.stderr.trim().lines().take(5).collect::<Vec<_>>().join("\n          ")));
        }
    }
    for (check, x) in r.all_expectations().filter(|(_, x)| x.check == Check::Failed) {
        let at = check.map(|n| format!("check `{n}`: ")).unwrap_or_default();
        s.push_str(&format!("  {at}expected {}: {}\n  observed: {}\n", x.expectation, x.expected, x.observed));
        for e in &x.near {
            s.push_str(&format!("    near: {}\n", event_line(e)));
        }
    }
    s.push_str("  journal (last 12 events):\n");
    for l in r.journal_excerpt(12).lines() {
        s.push_str(&format!("    {l}\n"));
    }
    if let Some(lab) = &r.lab {
        s.push_str(&format!("  hint: {}\n", lab.hint));
    }
    s
}

impl Reporter for Human {
    fn on(&mut self, event: &RunEvent<'_>) -> std::io::Result<()> {
        match event {
            RunEvent::Started { total, jobs, plan } => {
                if let Some(bar) = &self.bar {
                    bar.set_length(*total as u64);
                    bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").expect("valid template"));
                }
                let plan = match plan.describe() {
                    d if d.is_empty() => String::new(),
                    d => format!(" ({d})"),
                };
                self.line(&format!("memsim: running {total} scenario(s), {jobs} at a time{plan}"))?;
            }
            RunEvent::ScenarioStarted { name } => {
                if let Some(bar) = &self.bar {
                    bar.set_message(name.to_string());
                }
            }
            RunEvent::ScenarioFinished(r) => {
                let mark = if r.flaky() { self.paint("33", "FLAKY") } else { self.mark(r.verdict) };
                let mut text = format!("{:<5} {:<40} {:<12} {:>8.0} ms", mark, r.name, r.area.as_str(), r.wall_ms);
                if !r.failed_attempts.is_empty() {
                    let runs = r.failed_attempts.len() + 1;
                    text.push_str(&if r.flaky() { format!("  (passed on attempt {runs})") } else { format!("  (failed all {runs} attempts)") });
                }
                self.line(&text)?;
                // A scenario of several checks: a line for each, under the scenario's.
                for c in &r.checks {
                    let line = format!("      {} check {}: {}", self.mark(c.verdict), c.name, c.client.describe);
                    self.line(&line)?;
                }
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                }
                self.rows.push((r.name.clone(), r.area.as_str().to_string(), r.verdict, r.wall_ms, r.sim_ms));
                // An interrupted or unstarted scenario has no near-miss to show: it did not
                // finish. A flaky one shows its failed runs' (issue 18: never hidden).
                if !matches!(r.verdict, Verdict::Pass | Verdict::Interrupted | Verdict::NotRun) || r.flaky() {
                    self.failures.push((*r).clone());
                }
            }
            RunEvent::Finished(summary) => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
                let color = self.color;
                for f in std::mem::take(&mut self.failures) {
                    if f.flaky() {
                        writeln!(self.out, "\nFLAKY {}: passed on attempt {} after failing:", f.name, f.failed_attempts.len() + 1)?;
                        for (i, a) in f.failed_attempts.iter().enumerate() {
                            writeln!(self.out, "attempt {}: {}", i + 1, a.detail)?;
                        }
                    } else {
                        writeln!(self.out, "\n{}", near_miss(&f, color))?;
                    }
                }
                let sim_s = summary.sim_ms / 1000.0;
                let mut extra = if summary.interrupted > 0 { format!(", {} interrupted", summary.interrupted) } else { String::new() };
                if summary.not_run > 0 {
                    extra.push_str(&format!(", {} not run (--fail-fast)", summary.not_run));
                }
                if summary.flaky > 0 {
                    extra.push_str(&format!(", {} flaky (passed on a retry)", summary.flaky));
                }
                // No scenario ran its clock (every one errored): no compression to speak of.
                let compression = match summary.compression() {
                    c if c > 0.0 => format!(" ({c:.0}x)"),
                    _ => String::new(),
                };
                writeln!(
                    self.out,
                    "\n{} passed, {} failed, {} errors{extra}; {:.2} s wall; simulated {:.0} s in {:.2} s of scenario time{compression}",
                    summary.passed,
                    summary.failed,
                    summary.errors,
                    summary.wall_ms / 1000.0,
                    sim_s,
                    summary.scenario_wall_ms / 1000.0,
                )?;
                self.out.flush()?;
            }
        }
        Ok(())
    }
}
