//! The test file: zombienet's DSL, one typed assertion per line.
//!
//! A test file starts with headers (`Description:`, `Network: ./net.toml`, `Creds: config`,
//! the last one accepted and ignored), then one assertion per line; `#` starts a comment
//! line. Assertions run in file order while the network runs; each may end with `within T
//! seconds`, which polls until it holds or the time is up (without it, it is checked once).
//!
//! ```text
//! alice: is up
//! alice: reports polkadot_pvf_execution_time_bucket{le="2"} is at least 1 within 30 seconds
//! alice: reports polkadot_pvf_preparation_time_count > 0            # also ==, <, >=, <=, is at most
//! alice: reports histogram polkadot_pvf_execution_time has at least 1 samples in buckets ["0.1", "2"]
//! alice: reports histogram polkadot_pvf_execution_time has 0 samples in buckets ["3", "+Inf"]
//! alice: log line contains "pvf-node serving" within 5 seconds
//! malus: log line matches "MALUS intercept.*approval" within 20 seconds
//! alice: count of log lines containing "panicked" is 0
//! parachain 100: candidates approved is at least 3 within 30 seconds
//! parachain 100: block height > 2                 # also candidates backed|disputed|reverted,
//!                                                 # upgrades accepted|rejected|enacted,
//!                                                 # candidates approved on new code
//! dispute concluded valid within 20 seconds
//! disputes concluded invalid is 0                 # also disputes raised|unconcluded
//! malus: was slashed
//! alice: was not slashed
//! ```
//!
//! A subject is a node or a node group (every member must pass). Errors name the line.

use regex::Regex;
use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;

/// A parsed test file.
#[derive(Clone, Debug)]
pub struct TestFile {
    /// The `Description:` header.
    pub description: Option<String>,
    /// The `Network:` header, as written (relative to the test file).
    pub network: PathBuf,
    /// The assertions, in file order.
    pub assertions: Vec<Assertion>,
}

/// One assertion line.
#[derive(Clone, Debug)]
pub struct Assertion {
    /// 1-based line number in the test file.
    pub line: usize,
    /// The line as written, trimmed.
    pub text: String,
    /// What it checks.
    pub check: Check,
    /// `within T seconds`: poll until it holds or this much time passed.
    pub within: Option<Duration>,
}

/// A comparison with a number.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cmp {
    /// `is N`, `== N`.
    Eq,
    /// `is at least N`, `>= N`.
    Ge,
    /// `is at most N`, `<= N`.
    Le,
    /// `< N`.
    Lt,
    /// `> N`.
    Gt,
}

impl Cmp {
    /// Whether `observed` compares as required with `expected`.
    pub fn holds(self, observed: f64, expected: f64) -> bool {
        match self {
            Cmp::Eq => observed == expected,
            Cmp::Ge => observed >= expected,
            Cmp::Le => observed <= expected,
            Cmp::Lt => observed < expected,
            Cmp::Gt => observed > expected,
        }
    }

    /// The operator, for reports.
    pub fn symbol(self) -> &'static str {
        match self {
            Cmp::Eq => "==",
            Cmp::Ge => ">=",
            Cmp::Le => "<=",
            Cmp::Lt => "<",
            Cmp::Gt => ">",
        }
    }
}

/// A text pattern for log lines.
#[derive(Clone, Debug)]
pub enum Pattern {
    /// `contains "..."`: a substring.
    Contains(String),
    /// `matches "..."`: a regular expression.
    Matches(Regex),
}

impl Pattern {
    /// Whether `line` matches.
    pub fn is_match(&self, line: &str) -> bool {
        match self {
            Pattern::Contains(s) => line.contains(s.as_str()),
            Pattern::Matches(r) => r.is_match(line),
        }
    }
}

/// A metric selector: a name and labels that must all match.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricQuery {
    /// The sample name (`X_bucket` is added for a histogram queried with `le` alone).
    pub name: String,
    /// Required labels.
    pub labels: Vec<(String, String)>,
}

/// A parachain fact the relay-chain stand-in records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParaFact {
    /// Candidates backed by their group.
    Backed,
    /// Candidates approved by their checkers.
    Approved,
    /// Candidates disputed.
    Disputed,
    /// Candidates approved that were validated with upgraded code (not the genesis code).
    ApprovedOnNewCode,
    /// Included candidates reverted by a dispute concluded invalid.
    Reverted,
    /// The parachain's block height (included candidates, minus reverted).
    Height,
    /// Code upgrades accepted by pre-check voting.
    UpgradesAccepted,
    /// Code upgrades rejected by pre-check voting.
    UpgradesRejected,
    /// Code upgrades enacted.
    UpgradesEnacted,
}

/// A dispute count the stand-in records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisputeFact {
    /// Disputes raised.
    Raised,
    /// Concluded valid by a supermajority.
    ConcludedValid,
    /// Concluded invalid by a supermajority.
    ConcludedInvalid,
    /// Every vote in, no supermajority either way.
    Unconcluded,
}

/// What an assertion checks.
#[derive(Clone, Debug)]
pub enum Check {
    /// `NODE: is up`: the process runs and answers `pvf_health`.
    IsUp {
        /// The subject.
        node: String,
    },
    /// `NODE: reports METRIC CMP N`.
    Metric {
        /// The subject.
        node: String,
        /// The metric.
        query: MetricQuery,
        /// The comparison.
        cmp: Cmp,
        /// The number.
        value: f64,
    },
    /// `NODE: reports histogram METRIC has [at least|at most] N samples in buckets [...]`:
    /// the observations that fell in those buckets (each bucket counts the samples above
    /// the previous bound, not the cumulative value).
    Histogram {
        /// The subject.
        node: String,
        /// The histogram's base name.
        name: String,
        /// The buckets' `le` bounds, as written.
        buckets: Vec<String>,
        /// The comparison.
        cmp: Cmp,
        /// The number.
        value: f64,
    },
    /// `NODE: log line contains|matches "..."`.
    LogLine {
        /// The subject.
        node: String,
        /// The pattern.
        pattern: Pattern,
    },
    /// `NODE: count of log lines containing|matching "..." CMP N`.
    LogCount {
        /// The subject.
        node: String,
        /// The pattern.
        pattern: Pattern,
        /// The comparison.
        cmp: Cmp,
        /// The number.
        value: f64,
    },
    /// `NODE: was slashed` / `NODE: was not slashed`.
    Slashed {
        /// The subject.
        node: String,
        /// `true` for `was slashed`.
        slashed: bool,
    },
    /// `parachain P: FACT CMP N`.
    Para {
        /// The para id.
        para: u32,
        /// The fact.
        fact: ParaFact,
        /// The comparison.
        cmp: Cmp,
        /// The number.
        value: f64,
    },
    /// `disputes FACT CMP N`, or `dispute concluded valid|invalid` (at least one).
    Disputes {
        /// The fact.
        fact: DisputeFact,
        /// The comparison.
        cmp: Cmp,
        /// The number.
        value: f64,
    },
}

impl Check {
    /// The node or group the check is about, if any.
    pub fn node(&self) -> Option<&str> {
        match self {
            Check::IsUp { node }
            | Check::Metric { node, .. }
            | Check::Histogram { node, .. }
            | Check::LogLine { node, .. }
            | Check::LogCount { node, .. }
            | Check::Slashed { node, .. } => Some(node),
            Check::Para { .. } | Check::Disputes { .. } => None,
        }
    }
}

/// A test file that cannot be parsed; `line` is 1-based (0 for the whole file).
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct DslError {
    /// The line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a valid built-in pattern")
}

static WITHIN: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(.*?)\s+within\s+(\d+(?:\.\d+)?)\s+(?:seconds?|secs?|s)$"));
static QUOTED: LazyLock<Regex> = LazyLock::new(|| re(r#"^"((?:[^"\\]|\\.)*)"\s*(.*)$"#));
static METRIC: LazyLock<Regex> =
    LazyLock::new(|| re(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(.+)$"));
static LABEL: LazyLock<Regex> =
    LazyLock::new(|| re(r#"^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*$"#));
static HISTOGRAM: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^histogram\s+([a-zA-Z_:][a-zA-Z0-9_:]*)\s+has\s+(at least\s+|at most\s+)?(\d+(?:\.\d+)?)\s+samples?\s+in\s+buckets\s+\[(.*)\]$",
    )
});
static PARA: LazyLock<Regex> = LazyLock::new(|| re(r"^parachain\s+(\d+)$"));

/// Parses a test file's text.
pub fn parse(text: &str) -> Result<TestFile, DslError> {
    let mut description = None;
    let mut network = None;
    let mut assertions = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let err = |message: String| DslError { line, message };
        if let Some((key, value)) = trimmed.split_once(':') {
            let value = value.trim();
            match key.trim() {
                "Description" => {
                    description = Some(value.to_string());
                    continue;
                }
                "Network" => {
                    if value.is_empty() {
                        return Err(err("Network: names no file".into()));
                    }
                    network = Some(PathBuf::from(value));
                    continue;
                }
                "Creds" => continue,
                _ => {}
            }
        }
        let (body, within) = split_within(trimmed).map_err(err)?;
        let check = parse_check(body).map_err(err)?;
        assertions.push(Assertion {
            line,
            text: trimmed.to_string(),
            check,
            within,
        });
    }
    let network = network.ok_or(DslError {
        line: 0,
        message: "no `Network: FILE` line".into(),
    })?;
    if assertions.is_empty() {
        return Err(DslError {
            line: 0,
            message: "no assertions".into(),
        });
    }
    Ok(TestFile {
        description,
        network,
        assertions,
    })
}

fn split_within(line: &str) -> Result<(&str, Option<Duration>), String> {
    match WITHIN.captures(line) {
        Some(c) => {
            let secs: f64 = c[2]
                .parse()
                .map_err(|e| format!("bad time {:?}: {e}", &c[2]))?;
            Ok((
                c.get(1).expect("group 1").as_str(),
                Some(Duration::from_secs_f64(secs)),
            ))
        }
        None if line[line.rfind('"').map_or(0, |i| i + 1)..].contains(" within ") => {
            Err("expected `within N seconds` at the end of the line".into())
        }
        None => Ok((line, None)),
    }
}

fn parse_check(body: &str) -> Result<Check, String> {
    let Some((subject, rest)) = body.split_once(':') else {
        return parse_disputes(body);
    };
    let subject = subject.trim();
    let rest = rest.trim();
    if let Some(c) = PARA.captures(subject) {
        let para = c[1].parse().map_err(|e| format!("bad para id: {e}"))?;
        return parse_para(para, rest);
    }
    if subject.is_empty() || subject.contains(char::is_whitespace) {
        return Err(format!(
            "expected `NODE: …`, `parachain P: …` or `disputes …`, found {subject:?}"
        ));
    }
    let node = subject.to_string();
    if rest == "is up" {
        return Ok(Check::IsUp { node });
    }
    if rest == "was slashed" || rest == "was not slashed" {
        return Ok(Check::Slashed {
            node,
            slashed: rest == "was slashed",
        });
    }
    if let Some(histogram) = rest.strip_prefix("reports histogram ") {
        let text = format!("histogram {}", histogram.trim());
        let c = HISTOGRAM
            .captures(&text)
            .ok_or_else(|| {
                format!("expected `reports histogram METRIC has [at least|at most] N samples in buckets [\"le\", …]`, found {histogram:?}")
            })?;
        let cmp = match c.get(2).map(|m| m.as_str().trim()) {
            Some("at least") => Cmp::Ge,
            Some(_) => Cmp::Le,
            None => Cmp::Eq,
        };
        let buckets = c[4]
            .split(',')
            .map(|b| {
                let b = b.trim();
                b.strip_prefix('"')
                    .and_then(|b| b.strip_suffix('"'))
                    .map(str::to_string)
                    .ok_or_else(|| format!("bucket {b:?} is not a quoted bound"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Check::Histogram {
            node,
            name: c[1].to_string(),
            buckets,
            cmp,
            value: c[3].parse().map_err(|e| format!("bad number: {e}"))?,
        });
    }
    if let Some(metric) = rest.strip_prefix("reports ") {
        let c = METRIC.captures(metric.trim()).ok_or_else(|| {
            format!("expected `reports METRIC[{{labels}}] CMP N`, found {metric:?}")
        })?;
        let labels = c
            .get(2)
            .map_or(Ok(Vec::new()), |l| parse_labels(l.as_str()))?;
        let (cmp, value) = parse_cmp(&c[3])?;
        return Ok(Check::Metric {
            node,
            query: MetricQuery {
                name: c[1].to_string(),
                labels,
            },
            cmp,
            value,
        });
    }
    if let Some(pattern) = rest.strip_prefix("log line ") {
        let (pattern, tail) = parse_pattern(pattern, "contains", "matches")?;
        if !tail.is_empty() {
            return Err(format!("unexpected {tail:?} after the pattern"));
        }
        return Ok(Check::LogLine { node, pattern });
    }
    if let Some(pattern) = rest.strip_prefix("count of log lines ") {
        let (pattern, tail) = parse_pattern(pattern, "containing", "matching")?;
        let (cmp, value) = parse_cmp(tail)?;
        return Ok(Check::LogCount {
            node,
            pattern,
            cmp,
            value,
        });
    }
    Err(format!(
        "unknown assertion {rest:?} (known: is up, reports, log line, count of log lines, was [not] slashed)"
    ))
}

fn parse_para(para: u32, rest: &str) -> Result<Check, String> {
    const FACTS: [(&str, ParaFact); 9] = [
        (
            "candidates approved on new code",
            ParaFact::ApprovedOnNewCode,
        ),
        ("candidates backed", ParaFact::Backed),
        ("candidates approved", ParaFact::Approved),
        ("candidates disputed", ParaFact::Disputed),
        ("candidates reverted", ParaFact::Reverted),
        ("block height", ParaFact::Height),
        ("upgrades accepted", ParaFact::UpgradesAccepted),
        ("upgrades rejected", ParaFact::UpgradesRejected),
        ("upgrades enacted", ParaFact::UpgradesEnacted),
    ];
    for (name, fact) in FACTS {
        if let Some(tail) = rest.strip_prefix(name) {
            let (cmp, value) = parse_cmp(tail)?;
            return Ok(Check::Para {
                para,
                fact,
                cmp,
                value,
            });
        }
    }
    let known: Vec<_> = FACTS.iter().map(|(n, _)| *n).collect();
    Err(format!(
        "unknown parachain fact {rest:?} (known: {})",
        known.join(", ")
    ))
}

fn parse_disputes(body: &str) -> Result<Check, String> {
    let body = body.trim();
    match body {
        "dispute concluded valid" => {
            return Ok(Check::Disputes {
                fact: DisputeFact::ConcludedValid,
                cmp: Cmp::Ge,
                value: 1.0,
            });
        }
        "dispute concluded invalid" => {
            return Ok(Check::Disputes {
                fact: DisputeFact::ConcludedInvalid,
                cmp: Cmp::Ge,
                value: 1.0,
            });
        }
        _ => {}
    }
    const FACTS: [(&str, DisputeFact); 4] = [
        ("disputes raised", DisputeFact::Raised),
        ("disputes concluded valid", DisputeFact::ConcludedValid),
        ("disputes concluded invalid", DisputeFact::ConcludedInvalid),
        ("disputes unconcluded", DisputeFact::Unconcluded),
    ];
    for (name, fact) in FACTS {
        if let Some(tail) = body.strip_prefix(name) {
            let (cmp, value) = parse_cmp(tail)?;
            return Ok(Check::Disputes { fact, cmp, value });
        }
    }
    Err(format!(
        "expected `NODE: …`, `parachain P: …`, `dispute concluded valid|invalid` or `disputes raised|concluded valid|concluded invalid|unconcluded CMP N`, found {body:?}"
    ))
}

/// Parses `CMP N` (`is`, `==`, `is at least`, `>=`, `is at most`, `<=`, `<`, `>`).
fn parse_cmp(text: &str) -> Result<(Cmp, f64), String> {
    const OPS: [(&str, Cmp); 9] = [
        ("is at least ", Cmp::Ge),
        ("is at most ", Cmp::Le),
        ("is ", Cmp::Eq),
        ("== ", Cmp::Eq),
        (">= ", Cmp::Ge),
        ("<= ", Cmp::Le),
        ("= ", Cmp::Eq),
        ("< ", Cmp::Lt),
        ("> ", Cmp::Gt),
    ];
    let text = text.trim();
    for (op, cmp) in OPS {
        if let Some(n) = text.strip_prefix(op) {
            let n = n.trim();
            let value: f64 = n
                .parse()
                .map_err(|_| format!("expected a number after {:?}, found {n:?}", op.trim()))?;
            return Ok((cmp, value));
        }
    }
    Err(format!(
        "expected a comparison (is, ==, is at least, >=, is at most, <=, <, >) and a number, found {text:?}"
    ))
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(n @ ('"' | '\\')) => out.push(n),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Parses `WORD "..."` where WORD is `literal` (substring) or `regex` (a regular expression),
/// returning the rest of the text.
fn parse_pattern<'a>(
    text: &'a str,
    literal: &str,
    regex: &str,
) -> Result<(Pattern, &'a str), String> {
    let text = text.trim();
    let (is_regex, quoted) = if let Some(q) = text.strip_prefix(literal) {
        (false, q.trim_start())
    } else if let Some(q) = text.strip_prefix(regex) {
        (
            true,
            q.trim_start()
                .strip_prefix("regex ")
                .unwrap_or(q)
                .trim_start(),
        )
    } else {
        return Err(format!(
            "expected `{literal} \"…\"` or `{regex} \"…\"`, found {text:?}"
        ));
    };
    let c = QUOTED
        .captures(quoted)
        .ok_or_else(|| format!("expected a quoted string, found {quoted:?}"))?;
    let s = unescape(&c[1]);
    let tail = c.get(2).expect("group 2").as_str();
    let pattern = if is_regex {
        Pattern::Matches(Regex::new(&s).map_err(|e| format!("bad regular expression {s:?}: {e}"))?)
    } else {
        Pattern::Contains(s)
    };
    Ok((pattern, tail))
}

fn parse_labels(braced: &str) -> Result<Vec<(String, String)>, String> {
    let inner = &braced[1..braced.len() - 1];
    inner
        .split(',')
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let c = LABEL
                .captures(l)
                .ok_or_else(|| format!("bad label {:?}: expected name=\"value\"", l.trim()))?;
            Ok((c[1].to_string(), unescape(&c[2])))
        })
        .collect()
}

#[cfg(test)]
mod tests;
