//! What the command line prints: one verdict per candidate, as text or as one JSON object.

use super::{EXIT_INVALID, EXIT_OTHER, EXIT_VALID};
use crate::host::Validated;
use pvf_messages::{ValidationError, VerdictClass, verdict_policy};
use serde::Serialize;

/// The outcome of validating one candidate, as printed by `pvf-node validate --json`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Verdict {
    /// The final verdict, as candidate validation would vote: `valid`, `invalid`, or `error`
    /// (no vote). A possibly-invalid outcome that persisted after the retries is `invalid`.
    pub verdict: &'static str,
    /// Why, for anything but `valid`: the host's last raw outcome (e.g. "possibly invalid: the
    /// execution job died: …" for an `invalid` verdict).
    pub reason: Option<String>,
    /// The new head (hex), for a valid candidate.
    pub head_data: Option<String>,
    /// The HRMP watermark, for a valid candidate.
    pub hrmp_watermark: Option<u32>,
    /// Number of upward messages, for a valid candidate.
    pub upward_messages: Option<usize>,
    /// Number of horizontal messages, for a valid candidate.
    pub horizontal_messages: Option<usize>,
    /// Number of downward messages processed, for a valid candidate.
    pub processed_downward_messages: Option<u32>,
    /// Whether the candidate upgrades the code, for a valid candidate.
    pub new_validation_code: Option<bool>,
    /// CPU time of the execution job, in milliseconds.
    pub cpu_time_ms: Option<f64>,
    /// Wall-clock time of preparation and execution, in milliseconds.
    pub wall_time_ms: f64,
}

impl Verdict {
    /// Builds the verdict for `outcome`, which took `wall` in all.
    pub fn new(outcome: &Result<Validated, ValidationError>, wall: std::time::Duration) -> Self {
        let wall_time_ms = wall.as_secs_f64() * 1e3;
        match outcome {
            Ok(v) => Self {
                verdict: VerdictClass::Valid.as_str(),
                reason: None,
                head_data: Some(hex::encode(&v.result.head_data.0)),
                hrmp_watermark: Some(v.result.hrmp_watermark),
                upward_messages: Some(v.result.upward_messages.len()),
                horizontal_messages: Some(v.result.horizontal_messages.len()),
                processed_downward_messages: Some(v.result.processed_downward_messages),
                new_validation_code: Some(v.result.new_validation_code.is_some()),
                cpu_time_ms: Some(v.cpu_time.as_secs_f64() * 1e3),
                wall_time_ms,
            },
            Err(e) => Self {
                verdict: final_class(e).as_str(),
                reason: Some(e.to_string()),
                head_data: None,
                hrmp_watermark: None,
                upward_messages: None,
                horizontal_messages: None,
                processed_downward_messages: None,
                new_validation_code: None,
                cpu_time_ms: None,
                wall_time_ms,
            },
        }
    }

    /// The exit status for this verdict.
    pub fn exit_status(&self) -> u8 {
        exit_status_for(self.verdict)
    }

    /// One line for a person.
    pub fn human(&self) -> String {
        match (&self.head_data, &self.reason) {
            (Some(head), _) => format!(
                "valid: head 0x{head}, hrmp watermark {}, cpu {:.2} ms, wall {:.1} ms",
                self.hrmp_watermark.unwrap_or_default(),
                self.cpu_time_ms.unwrap_or_default(),
                self.wall_time_ms
            ),
            (None, reason) => format!(
                "{}: {}",
                self.verdict,
                reason.as_deref().unwrap_or("no reason given")
            ),
        }
    }
}

/// The final class of a validation that ended with `e`: what
/// [`verdict_policy::verdict_from_host_error`] votes, except that code failing to prepare for a
/// deterministic reason is reported `invalid` (the pre-check's verdict on the code, which is
/// what a user of `validate` asks about; candidate validation gives no vote on it).
pub fn final_class(e: &ValidationError) -> VerdictClass {
    match e {
        ValidationError::Preparation(p) if p.is_deterministic() => VerdictClass::Invalid,
        e => match verdict_policy::verdict_from_host_error(e.clone()) {
            Ok(verdict) => verdict.class(),
            Err(failed) => failed.class(),
        },
    }
}

/// The exit status for a verdict name.
pub fn exit_status_for(verdict: &str) -> u8 {
    match verdict {
        "valid" => EXIT_VALID,
        "invalid" => EXIT_INVALID,
        _ => EXIT_OTHER,
    }
}

/// Prints `value` as one line of JSON on stdout.
pub fn print_json<T: Serialize>(value: &T) {
    match serde_json::to_string(value) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("pvf-node: cannot encode the report as JSON: {e}"),
    }
}
