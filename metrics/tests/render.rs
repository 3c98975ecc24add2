//! Recording events shows up in `render()` under the reference's names and labels.

use std::time::Duration;

use pvf_metrics::{Flavor, Metrics, VerdictClass};

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

#[test]
fn events_are_rendered_with_names_and_labels() {
    let m = Metrics::new();
    m.on_worker_spawning(Flavor::Prepare);
    m.on_worker_spawned(Flavor::Prepare);
    m.on_worker_spawning(Flavor::Execute);
    m.on_worker_spawning(Flavor::Execute);
    m.on_worker_spawned(Flavor::Execute);
    m.on_worker_retired(Flavor::Execute);
    m.on_prepare_enqueued();
    m.on_prepare_concluded();
    m.on_execute_enqueued();
    m.on_execute_enqueued();
    m.on_execute_finished();
    m.on_preparation_started();
    m.observe_preparation_time(Duration::from_millis(250));
    m.observe_execution_time(Duration::from_micros(700));
    m.observe_execution_queued_time(Duration::from_micros(30));
    m.observe_candidate_latency(Duration::from_millis(2));
    m.observe_preparation_max_rss(64 * 1024 * 1024);
    m.observe_preparation_peak_tracked_allocation(10 * 1024 * 1024);
    m.observe_code_size(5000);
    m.observe_pov_size(300, true);
    m.set_queue_depth(Flavor::Execute, "backing", 3);
    m.set_queue_depth(Flavor::Prepare, "normal", 1);
    m.on_retry(Flavor::Execute, "worker_died");
    m.on_retry(Flavor::Prepare, "timed_out");
    m.on_retry(Flavor::Execute, "worker_died");
    m.on_verdict(VerdictClass::Valid);
    m.on_verdict(VerdictClass::PossiblyInvalid);
    m.set_artifact_cache(123_456, 2);
    m.on_cache_hit();
    m.on_cache_miss();
    m.on_cache_miss();

    let t = m.render();
    for line in [
        "# TYPE polkadot_pvf_worker_spawning counter",
        r#"polkadot_pvf_worker_spawning{flavor="prepare"} 1"#,
        r#"polkadot_pvf_worker_spawning{flavor="execute"} 2"#,
        r#"polkadot_pvf_worker_spawned{flavor="execute"} 1"#,
        r#"polkadot_pvf_worker_retired{flavor="execute"} 1"#,
        r#"polkadot_pvf_worker_retired{flavor="prepare"} 0"#,
        "polkadot_pvf_prepare_enqueued 1",
        "polkadot_pvf_prepare_concluded 1",
        "polkadot_pvf_execute_enqueued 2",
        "polkadot_pvf_execute_finished 1",
        "# TYPE polkadot_pvf_preparation_time histogram",
        "polkadot_pvf_preparation_time_count 1",
        "polkadot_pvf_preparation_time_sum 0.25",
        r#"polkadot_pvf_preparation_time_bucket{le="0.25"} 1"#,
        r#"polkadot_pvf_preparation_time_bucket{le="0.1"} 0"#,
        r#"polkadot_pvf_execution_time_bucket{le="0.0005"} 0"#,
        r#"polkadot_pvf_execution_time_bucket{le="0.001"} 1"#,
        "polkadot_pvf_execution_queued_time_count 1",
        "pvf_host_candidate_latency_seconds_count 1",
        // 64 MiB = 65536 KiB.
        "polkadot_pvf_preparation_max_rss_sum 65536",
        "polkadot_pvf_preparation_peak_tracked_allocation_sum 10240",
        "polkadot_parachain_candidate_validation_code_size_sum 5000",
        r#"polkadot_parachain_candidate_validation_pov_size_count{compressed="true"} 1"#,
        "# TYPE pvf_host_queue_depth gauge",
        r#"pvf_host_queue_depth{priority="backing",queue="execute"} 3"#,
        r#"pvf_host_queue_depth{priority="normal",queue="prepare"} 1"#,
        r#"pvf_host_retries_total{queue="execute",reason="worker_died"} 2"#,
        r#"pvf_host_retries_total{queue="prepare",reason="timed_out"} 1"#,
        r#"pvf_host_verdicts_total{class="valid"} 1"#,
        r#"pvf_host_verdicts_total{class="possibly-invalid"} 1"#,
        r#"pvf_host_verdicts_total{class="invalid"} 0"#,
        r#"pvf_host_verdicts_total{class="error"} 0"#,
        "pvf_host_artifact_cache_bytes 123456",
        "pvf_host_artifact_cache_artifacts 2",
        "pvf_host_artifact_cache_hits_total 1",
        "pvf_host_artifact_cache_misses_total 2",
        "pvf_host_preparations_started_total 1",
    ] {
        assert!(has_line(&t, line), "missing line {line:?} in:\n{t}");
    }

    // Typed getters.
    assert_eq!(m.workers_spawning(Flavor::Execute), 2);
    assert_eq!(m.workers_spawned(Flavor::Prepare), 1);
    assert_eq!(m.workers_retired(Flavor::Execute), 1);
    assert_eq!((m.prepare_enqueued(), m.prepare_concluded()), (1, 1));
    assert_eq!((m.execute_enqueued(), m.execute_finished()), (2, 1));
    assert_eq!(m.preparations_started(), 1);
    assert_eq!((m.cache_hits(), m.cache_misses()), (1, 2));
    assert_eq!(m.retries(), 3);
    assert_eq!(m.retries_for(Flavor::Execute, "worker_died"), 2);
    assert_eq!(m.verdicts(VerdictClass::Valid), 1);
    assert_eq!(m.verdicts(VerdictClass::Invalid), 0);
    assert_eq!(m.queue_depth(Flavor::Execute, "backing"), 3);
    assert_eq!(m.artifact_cache(), (123_456, 2));
    assert_eq!(m.candidate_latency_count(), 1);
    assert!((m.candidate_latency_sum() - 0.002).abs() < 1e-12);

    // Generic sample lookup: sums over the labels not given.
    assert_eq!(m.sample_value("pvf_host_retries_total", &[]), Some(3.0));
    assert_eq!(
        m.sample_value("pvf_host_retries_total", &[("queue", "prepare")]),
        Some(1.0)
    );
    assert_eq!(
        m.sample_value("polkadot_pvf_worker_spawning", &[("flavor", "execute")]),
        Some(2.0)
    );
    assert_eq!(
        m.sample_value("polkadot_pvf_execution_time_count", &[]),
        Some(1.0)
    );
    assert_eq!(m.sample_value("no_such_metric", &[]), None);
    assert_eq!(
        m.sample_value("pvf_host_retries_total", &[("queue", "nope")]),
        None
    );
}

#[test]
fn fixed_label_sets_exist_before_any_event() {
    let t = Metrics::new().render();
    for flavor in ["prepare", "execute"] {
        for metric in ["spawning", "spawned", "retired"] {
            let line = format!(r#"polkadot_pvf_worker_{metric}{{flavor="{flavor}"}} 0"#);
            assert!(has_line(&t, &line), "missing {line}");
        }
    }
    for class in ["valid", "invalid", "possibly-invalid", "error"] {
        let line = format!(r#"pvf_host_verdicts_total{{class="{class}"}} 0"#);
        assert!(has_line(&t, &line), "missing {line}");
    }
}

#[test]
fn handles_are_shared_across_threads() {
    let m = Metrics::new();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || {
                for _ in 0..1000 {
                    m.on_execute_enqueued();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(m.execute_enqueued(), 4000);
}
