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
mod tests {
    use super::*;
    use pvf_messages::{
        PossiblyInvalidError, ValidationError,
        candidate_backing::SecondedCandidate,
        candidate_validation::{CandidateCommitments, InvalidCandidateReason, ValidationFailed},
    };

    fn candidate_json() -> Value {
        json!({
            "para_id": 100,
            "relay_parent": hex_bytes(&[1; 32]),
            "relay_parent_number": 7,
            "relay_parent_storage_root": hex_bytes(&[2; 32]),
            "max_pov_size": 5242880,
            "parent_head": "0x0102",
            "pov": "0xabcdef",
            "code_hash": hex_bytes(&[3; 32]),
            "para_head": hex_bytes(&[4; 32]),
            "commitments_hash": hex_bytes(&[5; 32]),
        })
    }

    #[test]
    fn a_candidate_builds_its_receipt_and_encodes_back_unchanged() {
        let json = candidate_json();
        let c = Candidate::decode("candidate", &json).unwrap();
        let expected_data = PersistedValidationData {
            parent_head: HeadData(vec![1, 2]),
            relay_parent_number: 7,
            relay_parent_storage_root: Hash([2; 32]),
            max_pov_size: 5 << 20,
        };
        assert_eq!(c.validation_data, expected_data);
        assert_eq!(c.pov.block_data.0, vec![0xab, 0xcd, 0xef]);
        let d = &c.receipt.descriptor;
        assert_eq!(d.para_id, 100);
        assert_eq!(d.relay_parent, Hash([1; 32]));
        assert_eq!(
            d.persisted_validation_data_hash,
            persisted_validation_data_hash(&expected_data)
        );
        assert_eq!(d.pov_hash, c.pov.hash());
        assert_eq!(d.erasure_root, Hash::default());
        assert_eq!(d.validation_code_hash, ValidationCodeHash(Hash([3; 32])));
        assert_eq!(d.para_head, Hash([4; 32]));
        assert_eq!(c.receipt.commitments_hash, Hash([5; 32]));
        let back = Candidate::encode(&c.validation_data, &c.receipt, &c.pov).unwrap();
        assert_eq!(back, json);
    }

    #[test]
    fn receipts_the_encoding_cannot_carry_are_refused() {
        let c = Candidate::decode("candidate", &candidate_json()).unwrap();
        let other_pov = PoV {
            block_data: BlockData(vec![9]),
        };
        let err = Candidate::encode(&c.validation_data, &c.receipt, &other_pov).unwrap_err();
        assert!(err.contains("PoV hash"), "{err}");
        let mut other_data = c.validation_data.clone();
        other_data.relay_parent_number += 1;
        let err = Candidate::encode(&other_data, &c.receipt, &c.pov).unwrap_err();
        assert!(err.contains("validation-data"), "{err}");
        let mut receipt = c.receipt.clone();
        receipt.descriptor.erasure_root = Hash([1; 32]);
        assert!(Candidate::encode(&c.validation_data, &receipt, &c.pov).is_err());
    }

    #[track_caller]
    fn refused(json: Value) -> ParamError {
        Candidate::decode("candidate", &json).unwrap_err()
    }

    #[test]
    fn every_refusal_names_the_field() {
        let mut j = candidate_json();
        j["relay_parent"] = json!("0x01");
        assert_eq!(
            refused(j).to_string(),
            "candidate.relay_parent: expected 32 bytes, got 1"
        );
        let mut j = candidate_json();
        j["para_id"] = json!(1u64 << 32);
        assert_eq!(refused(j).field, "candidate.para_id");
        let mut j = candidate_json();
        j["pov"] = json!("abcd");
        assert_eq!(
            refused(j).to_string(),
            "candidate.pov: expected a 0x-prefixed hex string"
        );
        let mut j = candidate_json();
        j["pov"] = json!("0xabc");
        let e = refused(j);
        assert_eq!(e.field, "candidate.pov");
        assert!(e.problem.starts_with("bad hex"), "{e}");
        let mut j = candidate_json();
        j.as_object_mut().unwrap().remove("commitments_hash");
        assert_eq!(
            refused(j).to_string(),
            "candidate.commitments_hash: missing"
        );
        let mut j = candidate_json();
        j["erasure_root"] = json!("0x");
        assert_eq!(
            refused(j).to_string(),
            "candidate.erasure_root: unknown field"
        );
        assert_eq!(
            refused(json!([1])).to_string(),
            "candidate: expected an object"
        );

        let leaves = json!([
            {"hash": hex_bytes(&[1; 32]), "number": 1, "ancestors": []},
            {"hash": hex_bytes(&[2; 32]), "number": 2, "ancestors": ["0x00"]},
        ]);
        assert_eq!(
            active_leaves("leaves", &leaves).unwrap_err().to_string(),
            "leaves[1].ancestors[0]: expected 32 bytes, got 1"
        );
        assert_eq!(
            code_hashes("code_hashes", &json!({}))
                .unwrap_err()
                .to_string(),
            "code_hashes: expected an array"
        );
    }

    #[test]
    fn leaves_decode_in_order_with_their_ancestry() {
        let leaves = json!([
            {"hash": hex_bytes(&[1; 32]), "number": 1, "ancestors": [hex_bytes(&[9; 32])]},
            {"hash": hex_bytes(&[2; 32]), "number": 2, "ancestors": []},
        ]);
        assert_eq!(
            active_leaves("leaves", &leaves).unwrap(),
            vec![
                ActiveLeaf {
                    hash: Hash([1; 32]),
                    ancestors: vec![Hash([9; 32])],
                },
                Hash([2; 32]).into(),
            ]
        );
    }

    #[test]
    fn positional_params_are_checked_against_the_method() {
        assert_eq!(positional(None, &[]).unwrap(), Vec::<Value>::new());
        assert_eq!(positional(Some("null"), &[]).unwrap(), Vec::<Value>::new());
        assert_eq!(positional(Some("[1]"), &["a"]).unwrap(), vec![json!(1)]);
        let e = positional(Some("[1]"), &["a", "b"]).unwrap_err();
        assert_eq!(e.to_string(), "params: expected 2 (a, b), got 1");
        let e = positional(Some("{\"a\": 1}"), &["a"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "params: expected an array of positional parameters [a]"
        );
        let e = positional(Some("[1]"), &[]).unwrap_err();
        assert_eq!(e.to_string(), "params: expected no parameters, got 1");
    }

    #[test]
    fn exec_kinds_round_trip() {
        for kind in [
            PvfExecKind::Backing,
            PvfExecKind::BackingSystemParas,
            PvfExecKind::Approval,
            PvfExecKind::Dispute,
        ] {
            let name = Value::from(exec_kind_name(kind));
            assert_eq!(exec_kind("k", &name), Ok(kind));
        }
        assert_eq!(exec_kind("k", &json!("Backing")).unwrap_err().field, "k");
        assert!(exec_kind("k", &json!("backing_system_paras")).is_err());
    }

    #[test]
    fn answers_encode_as_documented() {
        let commitments = CandidateCommitments {
            head_data: HeadData(vec![7, 8]),
            ..Default::default()
        };
        let valid = Ok(CandidateVerdict::Valid(
            commitments.clone(),
            PersistedValidationData::default(),
        ));
        assert_eq!(
            verdict(&valid),
            json!({
                "verdict": "valid",
                "head_data": "0x0708",
                "commitments_hash": hex_bytes(&commitments.hash().0),
            })
        );
        let invalid = Ok(CandidateVerdict::Invalid(
            InvalidCandidateReason::ParaHeadHashMismatch,
        ));
        assert_eq!(
            verdict(&invalid),
            json!({
                "verdict": "invalid",
                "reason": "the output head does not match the descriptor's para head hash",
            })
        );
        let possibly = Err(ValidationFailed::Host(ValidationError::PossiblyInvalid(
            PossiblyInvalidError::AmbiguousWorkerDeath,
        )));
        let v = verdict(&possibly);
        assert_eq!(
            (v["verdict"].as_str(), v["class"].as_str()),
            (Some("no-vote"), Some("possibly-invalid"))
        );
        let error = Err(ValidationFailed::Other("x".into()));
        assert_eq!(
            verdict(&error),
            json!({"verdict": "no-vote", "class": "error", "error": "x"})
        );

        let c = Candidate::decode("candidate", &candidate_json()).unwrap();
        let seconded = SecondOutcome::Seconded(SecondedCandidate {
            candidate_receipt: c.receipt.clone(),
            pov: std::sync::Arc::new(c.pov.clone()),
        });
        assert_eq!(
            second_outcome(&seconded, &c.validation_data).unwrap(),
            json!({"outcome": "seconded", "candidate": candidate_json()})
        );
        assert_eq!(
            second_outcome(&SecondOutcome::Invalid("bad".into()), &c.validation_data).unwrap(),
            json!({"outcome": "invalid", "reason": "bad"})
        );
        let failed = SecondOutcome::Failed(ValidationFailed::Other("no".into()));
        assert_eq!(
            second_outcome(&failed, &c.validation_data).unwrap(),
            json!({"outcome": "failed", "error": "no"})
        );
        assert_eq!(precheck_outcome(PreCheckOutcome::Valid), json!("valid"));
        assert_eq!(precheck_outcome(PreCheckOutcome::Invalid), json!("invalid"));
        assert_eq!(precheck_outcome(PreCheckOutcome::Failed), json!("failed"));
    }
}
