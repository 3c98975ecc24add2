//! Prometheus text exposition, scraped from a node's `/metrics`.
//!
//! Only what assertions need: sample lines `name{labels} value`, summed over the samples
//! whose labels include the query's. Histogram buckets are matched by `le` numerically, so
//! `{le="2"}` finds the bucket the registry prints as `le="2"` or `le="2.0"`, and a query on
//! a histogram's base name with an `le` label reads its `_bucket` samples.

use crate::dsl::MetricQuery;

/// One sample line.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The sample name.
    pub name: String,
    /// Its labels, unescaped.
    pub labels: Vec<(String, String)>,
    /// Its value.
    pub value: f64,
}

/// Parses an exposition text; comments, blank and malformed lines are skipped.
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (name, labels, rest) = match line.find('{') {
        Some(open) => {
            let close = open + line[open..].find('}')?;
            (
                &line[..open],
                parse_labels(&line[open + 1..close])?,
                &line[close + 1..],
            )
        }
        None => {
            let space = line.find(char::is_whitespace)?;
            (&line[..space], Vec::new(), &line[space..])
        }
    };
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name: name.trim().to_string(),
        labels,
        value,
    })
}

fn parse_labels(inner: &str) -> Option<Vec<(String, String)>> {
    let mut labels = Vec::new();
    let mut rest = inner.trim();
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let key = rest[..eq].trim().to_string();
        let after = rest[eq + 1..].trim_start().strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break i,
                c => value.push(c),
            }
        };
        labels.push((key, value));
        rest = after[end + 1..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Some(labels)
}

fn label_matches(key: &str, wanted: &str, actual: &str) -> bool {
    if key == "le" {
        let num = |s: &str| match s {
            "+Inf" | "Inf" => Some(f64::INFINITY),
            s => s.parse::<f64>().ok(),
        };
        if let (Some(a), Some(b)) = (num(wanted), num(actual)) {
            return a == b;
        }
    }
    wanted == actual
}

/// The sum of the samples that match `query`, or `None` if none does.
pub fn value(samples: &[Sample], query: &MetricQuery) -> Option<f64> {
    let has_le = query.labels.iter().any(|(k, _)| k == "le");
    let bucket = format!("{}_bucket", query.name);
    let names: &[&str] = if has_le && !query.name.ends_with("_bucket") {
        &[query.name.as_str(), bucket.as_str()]
    } else {
        &[query.name.as_str()]
    };
    let mut total = None;
    for s in samples.iter().filter(|s| names.contains(&s.name.as_str())) {
        let all = query.labels.iter().all(|(k, v)| {
            s.labels
                .iter()
                .any(|(sk, sv)| sk == k && label_matches(k, v, sv))
        });
        if all {
            *total.get_or_insert(0.0) += s.value;
        }
    }
    total
}

fn bound(le: &str) -> Option<f64> {
    match le {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        s => s.parse().ok(),
    }
}

/// The observations of histogram `name` that fell in the buckets with bounds `buckets`
/// (each bucket's cumulative count minus the previous bucket's); an error names a bound the
/// histogram does not have.
pub fn histogram_samples(
    samples: &[Sample],
    name: &str,
    buckets: &[String],
) -> Result<f64, String> {
    let bucket_name = format!("{name}_bucket");
    let mut series: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.name == bucket_name)
        .filter_map(|s| {
            let le = s.labels.iter().find(|(k, _)| k == "le")?;
            Some((bound(&le.1)?, s.value))
        })
        .collect();
    if series.is_empty() {
        return Err(format!("no histogram {name}"));
    }
    series.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut total = 0.0;
    for b in buckets {
        let le = bound(b).ok_or_else(|| format!("bucket {b:?} is not a number"))?;
        let i = series
            .iter()
            .position(|(l, _)| *l == le)
            .ok_or_else(|| format!("{name} has no bucket le={b:?}"))?;
        let below = if i == 0 { 0.0 } else { series[i - 1].1 };
        total += series[i].1 - below;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP polkadot_pvf_execution_time Time spent in executing PVFs in seconds
# TYPE polkadot_pvf_execution_time histogram
polkadot_pvf_execution_time_bucket{le="0.01"} 3
polkadot_pvf_execution_time_bucket{le="2.0"} 5
polkadot_pvf_execution_time_bucket{le="+Inf"} 6
polkadot_pvf_execution_time_sum 1.25
polkadot_pvf_execution_time_count 6
pvf_host_verdicts_total{class="valid",kind="backing"} 4
pvf_host_verdicts_total{class="invalid",kind="approval"} 1
pvf_host_verdicts_total{class="valid",kind="approval"} 2
odd{msg="a \"quoted\", comma"} 1e3
garbage line
"#;

    fn q(name: &str, labels: &[(&str, &str)]) -> MetricQuery {
        MetricQuery {
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn parses_samples_and_labels() {
        let samples = parse(TEXT);
        assert_eq!(samples.len(), 9);
        assert_eq!(samples[2].value, 6.0);
        assert_eq!(
            samples[8].labels,
            [("msg".into(), "a \"quoted\", comma".into())]
        );
        assert_eq!(samples[8].value, 1000.0);
    }

    #[test]
    fn histogram_samples_per_bucket() {
        let s = parse(TEXT);
        let h = |b: &[&str]| {
            let b: Vec<String> = b.iter().map(|x| x.to_string()).collect();
            histogram_samples(&s, "polkadot_pvf_execution_time", &b)
        };
        assert_eq!(h(&["0.01"]), Ok(3.0));
        assert_eq!(h(&["2"]), Ok(2.0));
        assert_eq!(h(&["0.01", "2"]), Ok(5.0));
        assert_eq!(h(&["+Inf"]), Ok(1.0));
        assert!(h(&["3"]).unwrap_err().contains("no bucket"));
        assert!(histogram_samples(&s, "nope", &[]).is_err());
    }

    #[test]
    fn buckets_by_le_and_label_subsets() {
        let s = parse(TEXT);
        let v = |name, labels: &[(&str, &str)]| value(&s, &q(name, labels));
        assert_eq!(
            v("polkadot_pvf_execution_time_bucket", &[("le", "2")]),
            Some(5.0)
        );
        assert_eq!(v("polkadot_pvf_execution_time", &[("le", "2")]), Some(5.0));
        assert_eq!(
            v("polkadot_pvf_execution_time", &[("le", "+Inf")]),
            Some(6.0)
        );
        assert_eq!(v("polkadot_pvf_execution_time", &[("le", "3")]), None);
        assert_eq!(v("polkadot_pvf_execution_time_count", &[]), Some(6.0));
        assert_eq!(v("pvf_host_verdicts_total", &[]), Some(7.0));
        assert_eq!(
            v("pvf_host_verdicts_total", &[("class", "valid")]),
            Some(6.0)
        );
        assert_eq!(
            v(
                "pvf_host_verdicts_total",
                &[("class", "valid"), ("kind", "approval")]
            ),
            Some(2.0)
        );
        assert_eq!(v("pvf_host_verdicts_total", &[("class", "error")]), None);
        assert_eq!(v("absent", &[]), None);
    }
}
