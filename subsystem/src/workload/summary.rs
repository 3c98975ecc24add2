//! The table `pvf-node run` ends with.

use pvf_messages::VerdictClass;
use std::{fmt::Write, time::Duration};

/// What happened to one candidate.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Its label.
    pub name: String,
    /// The verdict class expected.
    pub expected: VerdictClass,
    /// The verdict class given.
    pub got: VerdictClass,
    /// Why, if not valid.
    pub reason: Option<String>,
    /// From sending the request to the answer.
    pub latency: Duration,
}

/// Host-side counters for the summary.
#[derive(Clone, Debug, Default)]
pub struct Counters {
    /// Preparations started in this run.
    pub preparations: u64,
    /// Executions whose artifact was ready.
    pub cache_hits: u64,
    /// Execution retries.
    pub retries: u64,
    /// Artifacts reused from an earlier run.
    pub reused_at_startup: u64,
}

const CLASSES: [VerdictClass; 4] = [
    VerdictClass::Valid,
    VerdictClass::Invalid,
    VerdictClass::PossiblyInvalid,
    VerdictClass::Error,
];

/// The `q`-quantile (0..=1) of `sorted`, nearest rank.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Number of outcomes whose verdict differs from the one expected.
pub fn unexpected(outcomes: &[Outcome]) -> usize {
    outcomes.iter().filter(|o| o.got != o.expected).count()
}

/// Renders the summary table.
pub fn render(outcomes: &[Outcome], counters: &Counters, wall: Duration) -> String {
    let mut out = String::new();
    let mut latencies: Vec<Duration> = outcomes.iter().map(|o| o.latency).collect();
    latencies.sort();
    let _ = writeln!(out, "\n{:<18} {:>8} {:>10}", "verdict", "count", "expected");
    for class in CLASSES {
        let got = outcomes.iter().filter(|o| o.got == class).count();
        let expected = outcomes.iter().filter(|o| o.expected == class).count();
        let _ = writeln!(out, "{:<18} {got:>8} {expected:>10}", class.as_str());
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let _ = writeln!(
        out,
        "\ncandidates {}  unexpected {}  latency p50 {:.1} ms  p99 {:.1} ms  wall {:.1} s",
        outcomes.len(),
        unexpected(outcomes),
        ms(quantile(&latencies, 0.50)),
        ms(quantile(&latencies, 0.99)),
        wall.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "preparations {}  cache hits {}  retries {}  artifacts reused from the last run {}",
        counters.preparations, counters.cache_hits, counters.retries, counters.reused_at_startup
    );
    for o in outcomes.iter().filter(|o| o.got != o.expected) {
        let _ = writeln!(
            out,
            "UNEXPECTED {}: wanted {}, got {} ({})",
            o.name,
            o.expected.as_str(),
            o.got.as_str(),
            o.reason.as_deref().unwrap_or("no reason")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(got: VerdictClass, ms: u64) -> Outcome {
        Outcome {
            name: format!("c{ms}"),
            expected: VerdictClass::Valid,
            got,
            reason: None,
            latency: Duration::from_millis(ms),
        }
    }

    #[test]
    fn quantiles_and_counts() {
        let outcomes: Vec<_> = (1..=100)
            .map(|ms| outcome(VerdictClass::Valid, ms))
            .collect();
        let text = render(&outcomes, &Counters::default(), Duration::from_secs(1));
        assert!(text.contains("p50 50.0 ms  p99 99.0 ms"), "{text}");
        assert!(text.contains("unexpected 0"), "{text}");
        let mut bad = outcomes;
        bad.push(outcome(VerdictClass::Error, 5));
        assert_eq!(unexpected(&bad), 1);
        assert!(render(&bad, &Counters::default(), Duration::ZERO).contains("UNEXPECTED c5"));
    }
}
