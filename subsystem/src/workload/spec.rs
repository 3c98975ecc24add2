//! The workload file format of `pvf-node run --workload FILE`.
//!
//! A workload is JSON: the PVFs, then the candidates to validate against them, each with the
//! verdict the operator expects. Example:
//!
//! ```json
//! {
//!   "pvfs": [
//!     { "name": "adder", "code": "builtin:adder" },
//!     { "name": "mine",  "code": "/path/to/pvf.wasm" }
//!   ],
//!   "candidates": [
//!     { "name": "block 1", "pvf": "adder", "kind": "backing",
//!       "parent_head": "0x00…", "block_data": "0x00…", "relay_parent_number": 1,
//!       "expect": "valid", "head_data": "0x01…" }
//!   ]
//! }
//! ```
//!
//! - `code`: `builtin:NAME` for an embedded PVF (`adder`, `adder-mvp`, `halt`, `undying`,
//!   `malformed`, `trap`) or a path to a raw Wasm file (relative to the workload file).
//! - `kind`: `backing` (default), `approval` or `dispute`; it sets the timeout (2 s or 12 s)
//!   unless `timeout_ms` is given.
//! - `expect`: `valid`, `invalid`, `possibly-invalid` or `error`.
//! - `head_data`: for a candidate expected valid, the head its PVF returns; the candidate's
//!   receipt commits to it (with no messages and `hrmp_watermark` = `relay_parent_number`,
//!   unless `hrmp_watermark` is given). Without it the receipt cannot match, and a valid PVF
//!   run is reported `invalid` (head hash mismatch) — as a real validator would.
//! - `relay_parent_storage_root`: the relay parent's storage root, hex (default zero); real
//!   Cumulus blocks check their relay-chain state proof against it.
//! - `upward_messages`, `horizontal_messages` (`recipient`, `data`), `new_validation_code`,
//!   `processed_downward_messages`: the rest of the outputs the receipt commits to (default:
//!   none), as `pvf-collator` writes them for real blocks.

use pvf_messages::{Hash, OutboundHrmpMessage, PvfExecKind, ValidationCode, VerdictClass};
use serde::{Deserialize, Serialize};
use std::{collections::HashMap, path::Path, time::Duration};

/// A workload as written in the file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// The PVFs.
    pub pvfs: Vec<PvfSpec>,
    /// The candidates, validated in this order (concurrently, as the node allows).
    pub candidates: Vec<CandidateSpec>,
}

/// One PVF.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PvfSpec {
    /// The name candidates refer to.
    pub name: String,
    /// `builtin:NAME` or a path to a Wasm file.
    pub code: String,
}

/// One candidate.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CandidateSpec {
    /// A label for reports.
    pub name: String,
    /// The PVF's name.
    pub pvf: String,
    /// `backing`, `approval` or `dispute`.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// The parent head, hex.
    pub parent_head: String,
    /// The block data, hex.
    pub block_data: String,
    /// The relay-chain block number it builds on.
    #[serde(default = "default_relay_parent_number")]
    pub relay_parent_number: u32,
    /// The expected verdict.
    pub expect: String,
    /// For a valid candidate: the head the PVF returns, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_data: Option<String>,
    /// For a valid candidate: the HRMP watermark (default: `relay_parent_number`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hrmp_watermark: Option<u32>,
    /// CPU-time limit in milliseconds (default: by `kind`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// The relay parent's storage root, hex (default: zero).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_parent_storage_root: Option<String>,
    /// For a valid candidate: its upward messages, hex each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upward_messages: Vec<String>,
    /// For a valid candidate: its horizontal messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub horizontal_messages: Vec<HrmpMessageSpec>,
    /// For a valid candidate: the code upgrade it schedules, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_validation_code: Option<String>,
    /// For a valid candidate: how many downward messages it processed (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processed_downward_messages: Option<u32>,
}

/// A horizontal message a candidate sends.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HrmpMessageSpec {
    /// The receiving parachain.
    pub recipient: u32,
    /// The payload, hex.
    pub data: String,
}

fn default_kind() -> String {
    "backing".into()
}

fn default_relay_parent_number() -> u32 {
    1
}

/// A candidate ready to send.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// A label for reports.
    pub name: String,
    /// Index into [`Workload::pvfs`].
    pub pvf: usize,
    /// Backing, approval or dispute.
    pub kind: PvfExecKind,
    /// The parent head.
    pub parent_head: Vec<u8>,
    /// The block data.
    pub block_data: Vec<u8>,
    /// The relay-chain block number.
    pub relay_parent_number: u32,
    /// The expected verdict class.
    pub expect: VerdictClass,
    /// The head a valid run returns, if known.
    pub head_data: Option<Vec<u8>>,
    /// The HRMP watermark a valid run returns.
    pub hrmp_watermark: u32,
    /// An explicit CPU-time limit.
    pub timeout: Option<Duration>,
    /// The relay parent's storage root.
    pub relay_parent_storage_root: Hash,
    /// The outputs besides head and watermark that the receipt commits to.
    pub messages: Messages,
}

/// The outputs of a valid candidate besides its head and watermark.
#[derive(Clone, Debug, Default)]
pub struct Messages {
    /// Messages to the relay chain.
    pub upward_messages: Vec<Vec<u8>>,
    /// Messages to other parachains.
    pub horizontal_messages: Vec<OutboundHrmpMessage>,
    /// A code upgrade.
    pub new_validation_code: Option<ValidationCode>,
    /// Downward messages processed.
    pub processed_downward_messages: u32,
}

/// A workload ready to run.
#[derive(Clone, Debug)]
pub struct Workload {
    /// The PVFs, by name.
    pub pvfs: Vec<(String, ValidationCode)>,
    /// The candidates.
    pub candidates: Vec<Candidate>,
}

/// The embedded PVFs a workload may name as `builtin:NAME`.
pub fn builtin(name: &str) -> Option<Vec<u8>> {
    Some(match name {
        "adder" => pvf_test_pvfs::adder().to_vec(),
        "adder-mvp" => pvf_test_pvfs::adder_mvp().to_vec(),
        "halt" => pvf_test_pvfs::halt().to_vec(),
        "undying" => pvf_test_pvfs::undying().to_vec(),
        "malformed" => pvf_test_pvfs::hostile::malformed(),
        "trap" => pvf_test_pvfs::hostile::trap(),
        _ => return None,
    })
}

fn hex_field(candidate: &str, field: &str, value: &str) -> Result<Vec<u8>, String> {
    hex::decode(value.strip_prefix("0x").unwrap_or(value))
        .map_err(|e| format!("candidate {candidate:?}: {field} is not hex: {e}"))
}

/// Parses an exec kind name.
pub fn parse_kind(s: &str) -> Option<PvfExecKind> {
    match s {
        "backing" => Some(PvfExecKind::Backing),
        "approval" => Some(PvfExecKind::Approval),
        "dispute" => Some(PvfExecKind::Dispute),
        _ => None,
    }
}

/// Parses a verdict class name.
pub fn parse_class(s: &str) -> Option<VerdictClass> {
    [
        VerdictClass::Valid,
        VerdictClass::Invalid,
        VerdictClass::PossiblyInvalid,
        VerdictClass::Error,
    ]
    .into_iter()
    .find(|c| c.as_str() == s)
}

impl CandidateSpec {
    fn messages(&self) -> Result<Messages, String> {
        let hex = |field: &str, v: &str| hex_field(&self.name, field, v);
        Ok(Messages {
            upward_messages: self
                .upward_messages
                .iter()
                .map(|m| hex("upward_messages", m))
                .collect::<Result<_, _>>()?,
            horizontal_messages: self
                .horizontal_messages
                .iter()
                .map(|m| {
                    Ok(OutboundHrmpMessage {
                        recipient: m.recipient,
                        data: hex("horizontal_messages", &m.data)?,
                    })
                })
                .collect::<Result<_, String>>()?,
            new_validation_code: self
                .new_validation_code
                .as_deref()
                .map(|c| hex("new_validation_code", c).map(ValidationCode))
                .transpose()?,
            processed_downward_messages: self.processed_downward_messages.unwrap_or(0),
        })
    }
}

impl WorkloadSpec {
    /// Reads a workload file.
    pub fn load(path: &Path) -> Result<Workload, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the workload {}: {e}", path.display()))?;
        let spec: WorkloadSpec = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a workload: {e}", path.display()))?;
        spec.resolve(path.parent().unwrap_or(Path::new(".")))
    }

    /// Checks every reference and reads the code; relative paths are taken from `base`.
    pub fn resolve(&self, base: &Path) -> Result<Workload, String> {
        let mut pvfs = Vec::new();
        let mut index = HashMap::new();
        for p in &self.pvfs {
            let code = match p.code.strip_prefix("builtin:") {
                Some(name) => builtin(name).ok_or_else(|| {
                    format!("pvf {:?}: unknown builtin {name:?} (known: adder, adder-mvp, halt, undying, malformed, trap)", p.name)
                })?,
                None => std::fs::read(base.join(&p.code))
                    .map_err(|e| format!("pvf {:?}: cannot read {}: {e}", p.name, p.code))?,
            };
            if index.insert(p.name.clone(), pvfs.len()).is_some() {
                return Err(format!("pvf {:?} is defined twice", p.name));
            }
            pvfs.push((p.name.clone(), ValidationCode(code)));
        }
        let mut candidates = Vec::new();
        for c in &self.candidates {
            let pvf = *index.get(&c.pvf).ok_or_else(|| {
                let known: Vec<_> = self.pvfs.iter().map(|p| p.name.as_str()).collect();
                format!(
                    "candidate {:?}: unknown pvf {:?} (defined: {})",
                    c.name,
                    c.pvf,
                    known.join(", ")
                )
            })?;
            candidates.push(Candidate {
                name: c.name.clone(),
                pvf,
                kind: parse_kind(&c.kind).ok_or_else(|| {
                    format!("candidate {:?}: kind {:?} is not backing, approval or dispute", c.name, c.kind)
                })?,
                parent_head: hex_field(&c.name, "parent_head", &c.parent_head)?,
                block_data: hex_field(&c.name, "block_data", &c.block_data)?,
                relay_parent_number: c.relay_parent_number,
                expect: parse_class(&c.expect).ok_or_else(|| {
                    format!("candidate {:?}: expect {:?} is not valid, invalid, possibly-invalid or error", c.name, c.expect)
                })?,
                head_data: c
                    .head_data
                    .as_deref()
                    .map(|h| hex_field(&c.name, "head_data", h))
                    .transpose()?,
                hrmp_watermark: c.hrmp_watermark.unwrap_or(c.relay_parent_number),
                timeout: c.timeout_ms.map(Duration::from_millis),
                relay_parent_storage_root: match &c.relay_parent_storage_root {
                    Some(h) => Hash(
                        hex_field(&c.name, "relay_parent_storage_root", h)?
                            .try_into()
                            .map_err(|_| {
                                format!(
                                    "candidate {:?}: relay_parent_storage_root is not 32 bytes",
                                    c.name
                                )
                            })?,
                    ),
                    None => Hash::default(),
                },
                messages: c.messages()?,
            });
        }
        Ok(Workload { pvfs, candidates })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_culprit() {
        let spec = |candidates: &str| {
            format!(
                r#"{{"pvfs":[{{"name":"a","code":"builtin:adder"}}],"candidates":[{candidates}]}}"#
            )
        };
        let parse = |s: &str| {
            serde_json::from_str::<WorkloadSpec>(s)
                .unwrap()
                .resolve(Path::new("."))
        };
        let ok = parse(&spec(
            r#"{"name":"c","pvf":"a","parent_head":"","block_data":"0x01","expect":"valid"}"#,
        ))
        .unwrap();
        assert_eq!(ok.candidates[0].kind, PvfExecKind::Backing);
        assert_eq!(ok.candidates[0].block_data, vec![1]);
        let err = parse(&spec(
            r#"{"name":"c","pvf":"b","parent_head":"","block_data":"","expect":"valid"}"#,
        ))
        .unwrap_err();
        assert!(
            err.contains("unknown pvf \"b\"") && err.contains("defined: a"),
            "{err}"
        );
        let err = parse(&spec(
            r#"{"name":"c","pvf":"a","parent_head":"zz","block_data":"","expect":"valid"}"#,
        ))
        .unwrap_err();
        assert!(err.contains("parent_head"), "{err}");
        let err = parse(&spec(
            r#"{"name":"c","pvf":"a","parent_head":"","block_data":"","expect":"fine"}"#,
        ))
        .unwrap_err();
        assert!(err.contains("expect \"fine\""), "{err}");
        assert!(
            serde_json::from_str::<WorkloadSpec>(r#"{"pvfs":[],"candidates":[],"extra":1}"#)
                .is_err()
        );
    }
}
