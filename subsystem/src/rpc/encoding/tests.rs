//! The encodings against docs/rpc.md: round trips, refusals that name the field, answers.

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
