//! What the operator sees: progress while the test runs (indicatif, or plain lines when
//! stderr is not a terminal), then a summary table on stdout and the exit status.

use crate::assertions::Outcome;
use crate::dsl::Assertion;
use crate::process::NodeProcess;
use crate::relay::{DisputeStatus, State};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Exit status: every assertion held.
pub const EXIT_PASS: i32 = 0;
/// Exit status: an assertion failed.
pub const EXIT_FAIL: i32 = 1;
/// Exit status: bad usage, test or network file, or a network that could not start.
pub const EXIT_CONFIG: i32 = 2;
/// Exit status: interrupted (SIGINT/SIGTERM), nodes stopped.
pub const EXIT_INTERRUPTED: i32 = 130;

/// Live progress: a spinner with the chain's figures and the assertion being checked, and
/// the stand-in's events above it.
pub struct Progress {
    bar: ProgressBar,
    state: Arc<Mutex<State>>,
}

impl Progress {
    /// Progress over `state`.
    pub fn new(state: Arc<Mutex<State>>) -> Self {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}").expect("a valid template"),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        Self { bar, state }
    }

    /// Prints a line above the spinner (or on stderr when there is no terminal).
    pub fn println(&self, line: &str) {
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    /// Prints new events and refreshes the spinner; `current` is the assertion running.
    pub fn refresh(&self, current: &str) {
        let (events, figures) = {
            let mut state = self.state.lock().expect("state lock");
            let events: Vec<String> = state.events.drain(..).collect();
            (events, figures(&state))
        };
        for e in events {
            self.println(&format!("  {e}"));
        }
        self.bar.set_message(format!("{figures} | {current}"));
    }

    /// Removes the spinner.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// The run's figures in one line.
pub fn figures(state: &State) -> String {
    let sum = |f: fn(&crate::relay::ParaFacts) -> u64| {
        state.paras.values().map(|p| f(&p.facts)).sum::<u64>()
    };
    let count = |s: DisputeStatus| state.disputes.iter().filter(|d| d.status == s).count();
    format!(
        "block {} | candidates backed {} approved {} | disputes {} (valid {}, invalid {}, unconcluded {}) | slashed {}",
        state.block,
        sum(|f| f.backed),
        sum(|f| f.approved),
        state.disputes.len(),
        count(DisputeStatus::ConcludedValid),
        count(DisputeStatus::ConcludedInvalid),
        count(DisputeStatus::Unconcluded),
        state.slashed.len()
    )
}

/// Lays out rows under headers, columns padded to their widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("  {}\n", padded.join("  ").trim_end())
    };
    let mut out = line(headers.iter().map(|h| h.to_string()).collect());
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

/// The summary printed at the end.
pub fn summary(
    title: &str,
    results: &[(Assertion, Outcome)],
    nodes: &[NodeProcess],
    state: &State,
    logs: &Path,
    total: Duration,
) -> String {
    let mut out = format!("\n{title}\n\nassertions:\n");
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|(a, o)| {
            vec![
                a.line.to_string(),
                if o.observation.holds { "ok" } else { "FAILED" }.to_string(),
                format!("{:.1}s", o.elapsed.as_secs_f64()),
                a.text.clone(),
                o.observation.observed.clone(),
            ]
        })
        .collect();
    out.push_str(&table(
        &["line", "result", "time", "assertion", "observed"],
        &rows,
    ));
    out.push_str("\nnodes:\n");
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|n| {
            vec![
                n.name.clone(),
                n.launch
                    .malus_variant()
                    .map_or("honest".into(), |v| format!("malus {v}")),
                n.rpc_addr.to_string(),
                if state.slashed.contains(&n.name) {
                    "SLASHED"
                } else {
                    "-"
                }
                .to_string(),
                n.log_path.display().to_string(),
            ]
        })
        .collect();
    out.push_str(&table(&["node", "kind", "rpc", "slashed", "log"], &rows));
    out.push_str("\nparachains:\n");
    let rows: Vec<Vec<String>> = state
        .paras
        .values()
        .map(|p| {
            let f = &p.facts;
            vec![
                p.id.to_string(),
                f.backed.to_string(),
                f.not_backed.to_string(),
                format!("{} ({} new code)", f.approved, f.approved_on_new_code),
                f.disputed.to_string(),
                f.reverted.to_string(),
                f.height.to_string(),
                format!(
                    "{}/{}/{}",
                    f.upgrades_accepted, f.upgrades_rejected, f.upgrades_enacted
                ),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "para",
            "backed",
            "not backed",
            "approved",
            "disputed",
            "reverted",
            "height",
            "upgrades acc/rej/enacted",
        ],
        &rows,
    ));
    if !state.disputes.is_empty() {
        out.push_str("\ndisputes:\n");
        let rows: Vec<Vec<String>> = state
            .disputes
            .iter()
            .map(|d| {
                vec![
                    d.para.to_string(),
                    d.candidate.clone(),
                    format!("{:?}", d.status),
                    format!("{}/{}", d.votes.0, d.votes.1),
                    if d.slashed.is_empty() {
                        "-".into()
                    } else {
                        d.slashed.join(", ")
                    },
                ]
            })
            .collect();
        out.push_str(&table(
            &["para", "candidate", "status", "valid/invalid", "slashed"],
            &rows,
        ));
    }
    let failed: Vec<&(Assertion, Outcome)> = results
        .iter()
        .filter(|(_, o)| !o.observation.holds)
        .collect();
    out.push_str(&format!(
        "\nfigures: {} | rpc errors {} | {:.1} s\nlogs: {}\n",
        figures(state),
        state.rpc_errors,
        total.as_secs_f64(),
        logs.display()
    ));
    if failed.is_empty() {
        out.push_str(&format!("PASSED: {} assertions\n", results.len()));
    } else {
        for (a, o) in failed {
            out.push_str(&format!(
                "FAILED line {}: {}\n  observed: {}\n",
                a.line, a.text, o.observation.observed
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_pads_columns() {
        let t = table(
            &["a", "bb"],
            &[
                vec!["long".into(), "x".into()],
                vec!["s".into(), "yyy".into()],
            ],
        );
        assert_eq!(t, "  a     bb\n  long  x\n  s     yyy\n");
    }
}
