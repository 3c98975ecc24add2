//! The Grafana dashboard (`dashboards/pvf-host.json`) shows only what the node exports: every
//! panel has a query, and every metric a query names is one the metrics register (a histogram
//! through its `_bucket`, `_sum` or `_count` series).

use pvf_metrics::{Flavor, Metrics, VerdictClass};
use std::collections::BTreeSet;

const DASHBOARD: &str = include_str!("../dashboards/pvf-host.json");

/// The names of every series the node exports, with each labelled metric given a value so
/// that it is rendered.
fn exported() -> BTreeSet<String> {
    let m = Metrics::new();
    for flavor in [Flavor::Prepare, Flavor::Execute] {
        m.on_worker_spawning(flavor);
        m.on_worker_spawned(flavor);
        m.on_worker_retired(flavor);
        m.on_retry(flavor, "spawn");
        m.set_queue_depth(flavor, "normal", 1);
    }
    m.observe_pov_size(1, false);
    m.on_verdict(VerdictClass::Valid);
    m.on_validation_request("valid");
    let mut names = BTreeSet::new();
    for family in m.registry().gather() {
        let name = family.name().to_string();
        if family.get_field_type() == prometheus::proto::MetricType::HISTOGRAM {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        } else {
            names.insert(name);
        }
    }
    names
}

/// Metric names in a PromQL expression: identifiers of our prefixes.
fn metric_names(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| w.starts_with("polkadot_") || w.starts_with("pvf_host_"))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_panel_query_names_an_exported_metric() {
    let exported = exported();
    let dashboard: serde_json::Value = serde_json::from_str(DASHBOARD).expect("valid JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10, "the dashboard has its panels");
    let mut shown = BTreeSet::new();
    for panel in panels {
        let title = panel["title"].as_str().expect("a title");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        for target in targets {
            let expr = target["expr"].as_str().expect("a PromQL expression");
            let names = metric_names(expr);
            assert!(
                !names.is_empty(),
                "{title}: `{expr}` names no metric of the node"
            );
            for name in names {
                assert!(
                    exported.contains(&name),
                    "{title}: `{name}` is not exported; exported: {exported:?}"
                );
                shown.insert(name);
            }
        }
    }
    // The reference's names that dashboards and alerts read are on it.
    for name in [
        "polkadot_pvf_execution_time_bucket",
        "polkadot_pvf_preparation_time_bucket",
        "polkadot_parachain_validation_requests_total",
        "pvf_host_verdicts_total",
    ] {
        assert!(shown.contains(name), "{name} is not on the dashboard");
    }
}

#[test]
fn a_misspelt_metric_is_caught() {
    let exported = exported();
    assert!(!exported.contains("polkadot_pvf_execution_times_bucket"));
    assert_eq!(
        metric_names("rate(polkadot_pvf_execution_times_bucket{le=\"2\"}[5m])"),
        vec!["polkadot_pvf_execution_times_bucket"]
    );
}
