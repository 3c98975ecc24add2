//! The JSON shapes of docs/rpc.md: candidates, verdicts, second outcomes.

use super::collator::Collation;
use pvf_messages::primitives::blake2_256;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `0x`-prefixed lowercase hex.
pub fn to_hex(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// Decodes hex with or without `0x`.
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    hex::decode(s.strip_prefix("0x").unwrap_or(s)).ok()
}

/// A candidate as the RPC interface carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// The parachain.
    pub para_id: u32,
    /// The relay parent's hash.
    pub relay_parent: String,
    /// The relay parent's number.
    pub relay_parent_number: u32,
    /// The relay parent's storage root.
    pub relay_parent_storage_root: String,
    /// The validation data's PoV limit.
    pub max_pov_size: u32,
    /// The parent head.
    pub parent_head: String,
    /// The block data.
    pub pov: String,
    /// The code's hash.
    pub code_hash: String,
    /// blake2_256 of the head the block must output.
    pub para_head: String,
    /// `CandidateCommitments::hash` of its outputs.
    pub commitments_hash: String,
}

impl Candidate {
    /// The honest candidate for `collation`.
    pub fn new(
        para_id: u32,
        collation: &Collation,
        relay_parent: [u8; 32],
        code_hash: [u8; 32],
        max_pov_size: u32,
    ) -> Self {
        Self {
            para_id,
            relay_parent: to_hex(&relay_parent),
            relay_parent_number: collation.relay_parent_number,
            relay_parent_storage_root: to_hex(&collation.relay_parent_storage_root),
            max_pov_size,
            parent_head: to_hex(&collation.parent_head),
            pov: to_hex(&collation.pov),
            code_hash: to_hex(&code_hash),
            para_head: to_hex(&blake2_256(&collation.head).0),
            commitments_hash: to_hex(&collation.commitments.hash().0),
        }
    }

    /// The candidate's identity: blake2_256 over every field (the PoV by its hash).
    pub fn id(&self) -> [u8; 32] {
        let pov = blake2_256(self.pov.as_bytes()).0;
        let text = format!(
            "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
            self.para_id,
            self.relay_parent,
            self.relay_parent_number,
            self.relay_parent_storage_root,
            self.max_pov_size,
            self.parent_head,
            to_hex(&pov),
            self.code_hash,
            self.para_head,
            self.commitments_hash
        );
        blake2_256(text.as_bytes()).0
    }

    /// A short label for logs: the first bytes of [`Self::id`].
    pub fn label(&self) -> String {
        hex::encode(&self.id()[..4])
    }
}

/// A node's verdict on a candidate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Valid, with the head it produced.
    Valid {
        /// The output head.
        head_data: Vec<u8>,
    },
    /// Invalid, with the reason.
    Invalid(String),
    /// No vote either way (a local fault, an RPC failure).
    NoVote(String),
}

impl Verdict {
    /// Reads a `pvf_validateCandidate` result.
    pub fn from_json(v: &Value) -> Self {
        let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        match v.get("verdict").and_then(Value::as_str) {
            Some("valid") => match from_hex(&field("head_data")) {
                Some(head_data) => Verdict::Valid { head_data },
                None => Verdict::NoVote(format!("a valid verdict without a hex head_data: {v}")),
            },
            Some("invalid") => Verdict::Invalid(field("reason")),
            Some("no-vote") => Verdict::NoVote(format!("{}: {}", field("class"), field("error"))),
            _ => Verdict::NoVote(format!("not a verdict: {v}")),
        }
    }
}

/// A node's answer to `pvf_second`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecondOutcome {
    /// Seconded as this candidate.
    Seconded(Box<Candidate>),
    /// The collation is invalid.
    Invalid(String),
    /// No verdict (a local fault, an RPC failure).
    Failed(String),
}

impl SecondOutcome {
    /// Reads a `pvf_second` result.
    pub fn from_json(v: &Value) -> Self {
        let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        match v.get("outcome").and_then(Value::as_str) {
            Some("seconded") => match v
                .get("candidate")
                .map(|c| serde_json::from_value(c.clone()))
            {
                Some(Ok(c)) => SecondOutcome::Seconded(Box::new(c)),
                Some(Err(e)) => {
                    SecondOutcome::Failed(format!("seconded an unreadable candidate: {e}"))
                }
                None => SecondOutcome::Failed("seconded without a candidate".into()),
            },
            Some("invalid") => SecondOutcome::Invalid(field("reason")),
            Some("failed") => SecondOutcome::Failed(field("error")),
            _ => SecondOutcome::Failed(format!("not a second outcome: {v}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn candidate() -> Candidate {
        Candidate {
            para_id: 100,
            relay_parent: to_hex(&[1; 32]),
            relay_parent_number: 7,
            relay_parent_storage_root: to_hex(&[0; 32]),
            max_pov_size: 5 << 20,
            parent_head: "0x00".into(),
            pov: "0x0102".into(),
            code_hash: to_hex(&[2; 32]),
            para_head: to_hex(&[3; 32]),
            commitments_hash: to_hex(&[4; 32]),
        }
    }

    #[test]
    fn verdicts_and_outcomes_parse() {
        assert_eq!(
            Verdict::from_json(
                &json!({"verdict": "valid", "head_data": "0x0a", "commitments_hash": "0x"})
            ),
            Verdict::Valid {
                head_data: vec![10]
            }
        );
        assert_eq!(
            Verdict::from_json(&json!({"verdict": "invalid", "reason": "bad head"})),
            Verdict::Invalid("bad head".into())
        );
        assert!(matches!(
            Verdict::from_json(&json!({"verdict": "no-vote", "class": "error", "error": "x"})),
            Verdict::NoVote(e) if e == "error: x"
        ));
        assert!(matches!(
            Verdict::from_json(&json!(null)),
            Verdict::NoVote(_)
        ));
        let c = candidate();
        let seconded =
            json!({"outcome": "seconded", "candidate": serde_json::to_value(&c).unwrap()});
        assert_eq!(
            SecondOutcome::from_json(&seconded),
            SecondOutcome::Seconded(Box::new(c))
        );
        assert!(matches!(
            SecondOutcome::from_json(&json!({"outcome": "seconded", "candidate": {"para_id": 1}})),
            SecondOutcome::Failed(_)
        ));
        assert_eq!(
            SecondOutcome::from_json(&json!({"outcome": "invalid", "reason": "r"})),
            SecondOutcome::Invalid("r".into())
        );
    }

    #[test]
    fn identity_covers_the_pov() {
        let a = candidate();
        let mut b = a.clone();
        assert_eq!(a.id(), b.id());
        b.pov = "0x0103".into();
        assert_ne!(a.id(), b.id());
        assert_eq!(a.label().len(), 8);
    }
}
