//! Evaluating assertions against the running network: once, or polled every 250 ms until
//! they hold when the line says `within T seconds`.

use crate::dsl::{Assertion, Check, DisputeFact, ParaFact};
use crate::network::Network;
use crate::process::NodeProcess;
use crate::relay::{DisputeStatus, State};
use crate::{metrics, rpc};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What an evaluation saw.
#[derive(Clone, Debug)]
pub struct Observation {
    /// Whether the assertion holds.
    pub holds: bool,
    /// What was observed, for the report.
    pub observed: String,
}

/// The outcome of one assertion.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The last observation.
    pub observation: Observation,
    /// How long it took.
    pub elapsed: Duration,
}

/// What assertions look at.
#[derive(Clone)]
pub struct World {
    /// The network file.
    pub network: Arc<Network>,
    /// The node processes.
    pub nodes: Arc<tokio::sync::Mutex<Vec<NodeProcess>>>,
    /// The stand-in's observations.
    pub state: Arc<Mutex<State>>,
}

/// Checks, before anything starts, that every subject and parachain the test names exists.
pub fn check_references(network: &Network, assertions: &[Assertion]) -> Result<(), String> {
    for a in assertions {
        if let Some(node) = a.check.node()
            && network.resolve_subject(node).is_empty()
        {
            let known: Vec<_> = network.nodes.iter().map(|n| n.name.as_str()).collect();
            return Err(format!(
                "line {}: no node or group {node:?} in the network (nodes: {})",
                a.line,
                known.join(", ")
            ));
        }
        if let Check::Para { para, .. } = a.check
            && !network.file.parachains.iter().any(|p| p.id == para)
        {
            return Err(format!(
                "line {}: no parachain {para} in the network",
                a.line
            ));
        }
    }
    Ok(())
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

impl World {
    /// Evaluates `a` until it holds, its `within` runs out, or `deadline` (the test's).
    pub async fn evaluate(&self, a: &Assertion, deadline: Instant) -> Outcome {
        let start = Instant::now();
        let until = a.within.map_or(start, |w| (start + w).min(deadline));
        loop {
            let observation = self.observe(&a.check).await;
            if observation.holds || Instant::now() >= until {
                return Outcome {
                    observation,
                    elapsed: start.elapsed(),
                };
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// One evaluation of `check`.
    pub async fn observe(&self, check: &Check) -> Observation {
        let per_node = match check {
            Check::Para {
                para,
                fact,
                cmp,
                value,
            } => {
                let state = self.state.lock().expect("state lock");
                let f = state
                    .paras
                    .get(para)
                    .map(|p| p.facts.clone())
                    .unwrap_or_default();
                let observed = match fact {
                    ParaFact::Backed => f.backed,
                    ParaFact::Approved => f.approved,
                    ParaFact::Disputed => f.disputed,
                    ParaFact::ApprovedOnNewCode => f.approved_on_new_code,
                    ParaFact::Reverted => f.reverted,
                    ParaFact::Height => f.height,
                    ParaFact::UpgradesAccepted => f.upgrades_accepted,
                    ParaFact::UpgradesRejected => f.upgrades_rejected,
                    ParaFact::UpgradesEnacted => f.upgrades_enacted,
                } as f64;
                return Observation {
                    holds: cmp.holds(observed, *value),
                    observed: format!(
                        "{} (wanted {} {})",
                        fmt_num(observed),
                        cmp.symbol(),
                        fmt_num(*value)
                    ),
                };
            }
            Check::Disputes { fact, cmp, value } => {
                let state = self.state.lock().expect("state lock");
                let count =
                    |s: DisputeStatus| state.disputes.iter().filter(|d| d.status == s).count();
                let observed = match fact {
                    DisputeFact::Raised => state.disputes.len(),
                    DisputeFact::ConcludedValid => count(DisputeStatus::ConcludedValid),
                    DisputeFact::ConcludedInvalid => count(DisputeStatus::ConcludedInvalid),
                    DisputeFact::Unconcluded => count(DisputeStatus::Unconcluded),
                } as f64;
                let detail: Vec<String> = state
                    .disputes
                    .iter()
                    .map(|d| {
                        format!(
                            "{} {:?} {}/{} valid/invalid",
                            d.candidate, d.status, d.votes.0, d.votes.1
                        )
                    })
                    .take(5)
                    .collect();
                return Observation {
                    holds: cmp.holds(observed, *value),
                    observed: format!(
                        "{} (wanted {} {}); disputes: {}",
                        fmt_num(observed),
                        cmp.symbol(),
                        fmt_num(*value),
                        if detail.is_empty() {
                            "none".into()
                        } else {
                            detail.join("; ")
                        }
                    ),
                };
            }
            _ => self.observe_nodes(check).await,
        };
        Observation {
            holds: per_node.iter().all(|(ok, _)| *ok),
            observed: per_node
                .into_iter()
                .map(|(_, s)| s)
                .collect::<Vec<_>>()
                .join("; "),
        }
    }

    async fn observe_nodes(&self, check: &Check) -> Vec<(bool, String)> {
        let subject = check.node().expect("a node check");
        let mut out = Vec::new();
        for name in self.network.resolve_subject(subject) {
            let (running, client_addr, prometheus, log) = {
                let mut nodes = self.nodes.lock().await;
                let Some(n) = nodes.iter_mut().find(|n| n.name == name) else {
                    out.push((false, format!("{name}: not started")));
                    continue;
                };
                (n.is_running(), n.rpc_addr, n.prometheus, n.log_path.clone())
            };
            let r = match check {
                Check::IsUp { .. } => {
                    let health = rpc::RpcClient::new(client_addr)
                        .call("pvf_health", serde_json::json!([]), Duration::from_secs(5))
                        .await;
                    match (running, health) {
                        (false, _) => (false, format!("{name}: process exited")),
                        (true, Ok(h)) if h.get("status").and_then(|s| s.as_str()) == Some("ok") => {
                            (true, format!("{name}: up"))
                        }
                        (true, Ok(h)) => (false, format!("{name}: health {h}")),
                        (true, Err(e)) => (false, format!("{name}: {e}")),
                    }
                }
                Check::Metric {
                    query, cmp, value, ..
                } => match prometheus {
                    None => (false, format!("{name}: serves no metrics")),
                    Some(addr) => match rpc::scrape(addr, Duration::from_secs(5)).await {
                        Err(e) => (false, format!("{name}: {e}")),
                        Ok(text) => {
                            let v = metrics::value(&metrics::parse(&text), query);
                            let observed = v.unwrap_or(0.0);
                            (
                                cmp.holds(observed, *value),
                                format!(
                                    "{name}: {}{} (wanted {} {})",
                                    fmt_num(observed),
                                    if v.is_none() { " (absent)" } else { "" },
                                    cmp.symbol(),
                                    fmt_num(*value)
                                ),
                            )
                        }
                    },
                },
                Check::Histogram {
                    name: metric,
                    buckets,
                    cmp,
                    value,
                    ..
                } => match prometheus {
                    None => (false, format!("{name}: serves no metrics")),
                    Some(addr) => match rpc::scrape(addr, Duration::from_secs(5)).await {
                        Err(e) => (false, format!("{name}: {e}")),
                        Ok(text) => match metrics::histogram_samples(
                            &metrics::parse(&text),
                            metric,
                            buckets,
                        ) {
                            Err(e) => (false, format!("{name}: {e}")),
                            Ok(n) => (
                                cmp.holds(n, *value),
                                format!(
                                    "{name}: {} samples (wanted {} {})",
                                    fmt_num(n),
                                    cmp.symbol(),
                                    fmt_num(*value)
                                ),
                            ),
                        },
                    },
                },
                Check::LogLine { pattern, .. } | Check::LogCount { pattern, .. } => {
                    let text = tokio::fs::read(&log).await.unwrap_or_default();
                    let text = String::from_utf8_lossy(&text);
                    let count = text.lines().filter(|l| pattern.is_match(l)).count() as f64;
                    match check {
                        Check::LogCount { cmp, value, .. } => (
                            cmp.holds(count, *value),
                            format!(
                                "{name}: {} lines (wanted {} {})",
                                fmt_num(count),
                                cmp.symbol(),
                                fmt_num(*value)
                            ),
                        ),
                        _ => (
                            count > 0.0,
                            format!("{name}: {} matching lines", fmt_num(count)),
                        ),
                    }
                }
                Check::Slashed { slashed, .. } => {
                    let is = self
                        .state
                        .lock()
                        .expect("state lock")
                        .slashed
                        .contains(&name);
                    (
                        is == *slashed,
                        format!("{name}: {}", if is { "slashed" } else { "not slashed" }),
                    )
                }
                Check::Para { .. } | Check::Disputes { .. } => unreachable!("not a node check"),
            };
            out.push(r);
        }
        out
    }
}
