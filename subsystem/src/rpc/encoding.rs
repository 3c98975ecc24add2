//! The JSON encodings of docs/rpc.md: positional parameters, hex byte strings and hashes,
//! candidates, exec kinds, active leaves, and the answers (verdicts, second outcomes,
//! pre-check outcomes).
//!
//! Decoding is strict and by hand rather than through serde derives, so that every
//! refusal names the field (`candidate.relay_parent`, `leaves[1].ancestors[0]`) and says what
//! is wrong with it: the caller fixes a request from the message alone. Unknown fields are
//! refused, so a typo is never silently ignored.

use super::error::ParamError;
use pvf_messages::{
    Hash, HeadData, PersistedValidationData, PoV, PvfExecKind, ValidationCodeHash,
    candidate_backing::SecondOutcome,
    candidate_validation::{
        CandidateDescriptor, CandidateReceipt, CandidateVerdict, PreCheckOutcome,
        ValidationResponse, persisted_validation_data_hash,
    },
    host::ActiveLeaf,
    primitives::BlockData,
};
use serde_json::{Map, Value, json};

/// `0x`-prefixed lowercase hex of `bytes`.
pub fn hex_bytes(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// The positional parameters of a request, checked against the method's parameter names.
pub fn positional(raw: Option<&str>, names: &[&str]) -> Result<Vec<Value>, ParamError> {
    let params = match raw {
        None => Vec::new(),
        Some(raw) => match serde_json::from_str::<Value>(raw) {
            Ok(Value::Array(params)) => params,
            Ok(Value::Null) => Vec::new(),
            Ok(_) => {
                return Err(ParamError::new(
                    "params",
                    format!(
                        "expected an array of positional parameters [{}]",
                        names.join(", ")
                    ),
                ));
            }
            Err(e) => return Err(ParamError::new("params", format!("not JSON: {e}"))),
        },
    };
    if params.len() != names.len() {
        let expected = match names {
            [] => "no parameters".to_owned(),
            names => format!("{} ({})", names.len(), names.join(", ")),
        };
        return Err(ParamError::new(
            "params",
            format!("expected {expected}, got {}", params.len()),
        ));
    }
    Ok(params)
}

/// A `0x`-prefixed hex byte string.
pub fn bytes(field: &str, value: &Value) -> Result<Vec<u8>, ParamError> {
    let text = value
        .as_str()
        .ok_or_else(|| ParamError::new(field, "expected a 0x-prefixed hex string"))?;
    let digits = text
        .strip_prefix("0x")
        .ok_or_else(|| ParamError::new(field, "expected a 0x-prefixed hex string"))?;
    hex::decode(digits).map_err(|e| ParamError::new(field, format!("bad hex: {e}")))
}

/// A 32-byte hash as `0x`-prefixed hex.
pub fn hash(field: &str, value: &Value) -> Result<Hash, ParamError> {
    let bytes = bytes(field, value)?;
    let len = bytes.len();
    bytes
        .try_into()
        .map(Hash)
        .map_err(|_| ParamError::new(field, format!("expected 32 bytes, got {len}")))
}

/// A code hash as `0x`-prefixed hex.
pub fn code_hash(field: &str, value: &Value) -> Result<ValidationCodeHash, ParamError> {
    hash(field, value).map(ValidationCodeHash)
}

/// A list of code hashes.
pub fn code_hashes(field: &str, value: &Value) -> Result<Vec<ValidationCodeHash>, ParamError> {
    array(field, value)?
        .iter()
        .enumerate()
        .map(|(i, v)| code_hash(&format!("{field}[{i}]"), v))
        .collect()
}

fn array<'a>(field: &str, value: &'a Value) -> Result<&'a Vec<Value>, ParamError> {
    value
        .as_array()
        .ok_or_else(|| ParamError::new(field, "expected an array"))
}

fn u32_field(field: &str, value: &Value) -> Result<u32, ParamError> {
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| ParamError::new(field, "expected an integer from 0 to 4294967295"))
}

/// An object whose fields are taken one by one; [`Fields::finish`] refuses any left over.
struct Fields<'a> {
    name: &'a str,
    map: Map<String, Value>,
}

impl<'a> Fields<'a> {
    fn new(name: &'a str, value: &Value) -> Result<Self, ParamError> {
        match value {
            Value::Object(map) => Ok(Self {
                name,
                map: map.clone(),
            }),
            _ => Err(ParamError::new(name, "expected an object")),
        }
    }

    /// Takes `key` and decodes it with `decode`, which gets the field's full name.
    fn take<T>(
        &mut self,
        key: &str,
        decode: impl FnOnce(&str, &Value) -> Result<T, ParamError>,
    ) -> Result<T, ParamError> {
        let field = format!("{}.{key}", self.name);
        let value = self
            .map
            .remove(key)
            .ok_or_else(|| ParamError::new(&field, "missing"))?;
        decode(&field, &value)
    }

    fn finish(self) -> Result<(), ParamError> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(key) => Err(ParamError::new(
                &format!("{}.{key}", self.name),
                "unknown field",
            )),
        }
    }
}

/// An exec kind: `backing`, `backing-system-paras`, `approval` or `dispute`.
pub fn exec_kind(field: &str, value: &Value) -> Result<PvfExecKind, ParamError> {
    match value.as_str() {
        Some("backing") => Ok(PvfExecKind::Backing),
        Some("backing-system-paras") => Ok(PvfExecKind::BackingSystemParas),
        Some("approval") => Ok(PvfExecKind::Approval),
        Some("dispute") => Ok(PvfExecKind::Dispute),
        _ => Err(ParamError::new(
            field,
            "expected \"backing\", \"backing-system-paras\", \"approval\" or \"dispute\"",
        )),
    }
}

/// The name of an exec kind in this encoding.
pub fn exec_kind_name(kind: PvfExecKind) -> &'static str {
    match kind {
        PvfExecKind::Backing => "backing",
        PvfExecKind::BackingSystemParas => "backing-system-paras",
        PvfExecKind::Approval => "approval",
        PvfExecKind::Dispute => "dispute",
    }
}

/// A candidate as the RPC carries it: everything validation needs except the code, which is
/// named by its hash and fetched from the runtime API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The validation data it is built on.
    pub validation_data: PersistedValidationData,
    /// The receipt the node builds from it (see [`Candidate::decode`]).
    pub receipt: CandidateReceipt,
    /// The proof of validity.
    pub pov: PoV,
}

impl Candidate {
    /// Decodes the candidate object in `field` and builds its receipt:
    /// `persisted_validation_data_hash` from the validation data, `pov_hash` from `pov`,
    /// `erasure_root` zero.
    pub fn decode(field: &str, value: &Value) -> Result<Self, ParamError> {
        let mut f = Fields::new(field, value)?;
        let para_id = f.take("para_id", u32_field)?;
        let relay_parent = f.take("relay_parent", hash)?;
        let validation_data = PersistedValidationData {
            relay_parent_number: f.take("relay_parent_number", u32_field)?,
            relay_parent_storage_root: f.take("relay_parent_storage_root", hash)?,
            max_pov_size: f.take("max_pov_size", u32_field)?,
            parent_head: HeadData(f.take("parent_head", bytes)?),
        };
        let pov = PoV {
            block_data: BlockData(f.take("pov", bytes)?),
        };
        let validation_code_hash = f.take("code_hash", code_hash)?;
        let para_head = f.take("para_head", hash)?;
        let commitments_hash = f.take("commitments_hash", hash)?;
        f.finish()?;
        let receipt = CandidateReceipt {
            descriptor: CandidateDescriptor {
                para_id,
                relay_parent,
                persisted_validation_data_hash: persisted_validation_data_hash(&validation_data),
                pov_hash: pov.hash(),
                erasure_root: Hash::default(),
                para_head,
                validation_code_hash,
            },
            commitments_hash,
        };
        Ok(Self {
            validation_data,
            receipt,
            pov,
        })
    }

    /// The candidate object of `receipt` and `pov` on `validation_data`.
    ///
    /// The encoding carries no PoV hash, validation-data hash or erasure root: a receipt
    /// whose hashes differ from those of `pov` and `validation_data`, or whose erasure root
    /// is not zero, cannot be expressed, and the error says which part differs.
    pub fn encode(
        validation_data: &PersistedValidationData,
        receipt: &CandidateReceipt,
        pov: &PoV,
    ) -> Result<Value, String> {
        let d = &receipt.descriptor;
        if d.pov_hash != pov.hash() {
            return Err("the receipt's PoV hash is not the hash of its PoV".into());
        }
        if d.persisted_validation_data_hash != persisted_validation_data_hash(validation_data) {
            return Err("the receipt's validation-data hash is not that of the collation".into());
        }
        if d.erasure_root != Hash::default() {
            return Err("the receipt's erasure root is not zero".into());
        }
        Ok(json!({
            "para_id": d.para_id,
            "relay_parent": hex_bytes(&d.relay_parent.0),
            "relay_parent_number": validation_data.relay_parent_number,
            "relay_parent_storage_root": hex_bytes(&validation_data.relay_parent_storage_root.0),
            "max_pov_size": validation_data.max_pov_size,
            "parent_head": hex_bytes(&validation_data.parent_head.0),
            "pov": hex_bytes(&pov.block_data.0),
            "code_hash": hex_bytes(&d.validation_code_hash.0.0),
            "para_head": hex_bytes(&d.para_head.0),
            "commitments_hash": hex_bytes(&receipt.commitments_hash.0),
        }))
    }
}

/// The full set of active leaves: `[{"hash", "number", "ancestors": [hash, …]}]`.
///
/// The number is checked but not kept: the host tracks leaves by hash.
pub fn active_leaves(field: &str, value: &Value) -> Result<Vec<ActiveLeaf>, ParamError> {
    array(field, value)?
        .iter()
        .enumerate()
        .map(|(i, leaf)| {
            let name = format!("{field}[{i}]");
            let mut f = Fields::new(&name, leaf)?;
            let leaf = f.take("hash", hash)?;
            f.take("number", u32_field)?;
            let ancestors = f.take("ancestors", |field, v| {
                array(field, v)?
                    .iter()
                    .enumerate()
                    .map(|(j, a)| hash(&format!("{field}[{j}]"), a))
                    .collect::<Result<Vec<_>, _>>()
            })?;
            f.finish()?;
            Ok(ActiveLeaf {
                hash: leaf,
                ancestors,
            })
        })
        .collect()
}

/// A verdict. `Err(ShuttingDown)` is not one (the caller answers -32002 instead); it is
/// encoded as a no-vote if given.
pub fn verdict(answer: &ValidationResponse) -> Value {
    match answer {
        Ok(CandidateVerdict::Valid(commitments, _)) => json!({
            "verdict": "valid",
            "head_data": hex_bytes(&commitments.head_data.0),
            "commitments_hash": hex_bytes(&commitments.hash().0),
        }),
        Ok(CandidateVerdict::Invalid(reason)) => json!({
            "verdict": "invalid",
            "reason": reason.to_string(),
        }),
        Err(failed) => json!({
            "verdict": "no-vote",
            "class": failed.class().as_str(),
            "error": failed.to_string(),
        }),
    }
}

/// A second outcome. The seconded candidate is encoded on the collation's
/// `validation_data`; fails if its receipt cannot be expressed ([`Candidate::encode`]).
pub fn second_outcome(
    outcome: &SecondOutcome,
    validation_data: &PersistedValidationData,
) -> Result<Value, String> {
    Ok(match outcome {
        SecondOutcome::Seconded(seconded) => json!({
            "outcome": "seconded",
            "candidate": Candidate::encode(
                validation_data,
                &seconded.candidate_receipt,
                &seconded.pov,
            )?,
        }),
        SecondOutcome::Invalid(reason) => json!({"outcome": "invalid", "reason": reason}),
        SecondOutcome::Failed(failed) => json!({"outcome": "failed", "error": failed.to_string()}),
    })
}

/// A pre-check outcome: `"valid"`, `"invalid"` or `"failed"`.
pub fn precheck_outcome(outcome: PreCheckOutcome) -> Value {
    Value::from(match outcome {
        PreCheckOutcome::Valid => "valid",
        PreCheckOutcome::Invalid => "invalid",
        PreCheckOutcome::Failed => "failed",
    })
}

#[cfg(test)]
mod tests;
