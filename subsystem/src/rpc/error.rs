//! The typed errors of the RPC methods and their JSON-RPC codes (docs/rpc.md, "Errors").
//!
//! Transport-level refusals (-32700 not JSON, -32601 no such method, -32007 too large) are
//! jsonrpsee's; the method handlers answer with [`RpcError`] only.

use jsonrpsee::types::{ErrorObjectOwned, error::INVALID_PARAMS_CODE};
use pvf_messages::ValidationCodeHash;
use serde_json::json;

/// No code with that hash is known: submit it first with `pvf_submitCode`.
pub const UNKNOWN_CODE_HASH: i32 = -32001;
/// The node is shutting down: the request was not (or no longer) worked on.
pub const SHUTTING_DOWN: i32 = -32002;
/// The node failed locally in a way the request cannot fix.
pub const INTERNAL_ERROR: i32 = jsonrpsee::types::error::INTERNAL_ERROR_CODE;

/// A parameter that could not be decoded: which one, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ParamError {
    /// The field's path in the parameters, e.g. `candidate.relay_parent` or `leaves[0].hash`.
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

impl ParamError {
    /// A problem with `field`.
    pub fn new(field: &str, problem: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            problem: problem.into(),
        }
    }
}

/// Why a method call got no result.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// A parameter is missing or malformed (-32602).
    #[error("invalid params: {0}")]
    InvalidParams(#[from] ParamError),
    /// The runtime-API stand-in knows no code with these hashes (-32001).
    #[error("unknown code hash {}: submit the code first (pvf_submitCode)", list(.0))]
    UnknownCode(Vec<ValidationCodeHash>),
    /// The node is shutting down (-32002).
    #[error("the node is shutting down")]
    ShuttingDown,
    /// A local failure the caller cannot fix (-32603).
    #[error("internal error: {0}")]
    Internal(String),
}

fn list(hashes: &[ValidationCodeHash]) -> String {
    hashes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl RpcError {
    /// The JSON-RPC error code.
    pub fn code(&self) -> i32 {
        match self {
            Self::InvalidParams(_) => INVALID_PARAMS_CODE,
            Self::UnknownCode(_) => UNKNOWN_CODE_HASH,
            Self::ShuttingDown => SHUTTING_DOWN,
            Self::Internal(_) => INTERNAL_ERROR,
        }
    }
}

impl From<RpcError> for ErrorObjectOwned {
    fn from(e: RpcError) -> Self {
        let data = match &e {
            RpcError::InvalidParams(p) => Some(json!({"field": p.field, "problem": p.problem})),
            RpcError::UnknownCode(hashes) => Some(json!(
                hashes.iter().map(ToString::to_string).collect::<Vec<_>>()
            )),
            RpcError::ShuttingDown | RpcError::Internal(_) => None,
        };
        ErrorObjectOwned::owned(e.code(), e.to_string(), data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pvf_messages::Hash;

    #[test]
    fn errors_carry_their_code_message_and_data() {
        let e = ErrorObjectOwned::from(RpcError::from(ParamError::new("candidate.pov", "missing")));
        assert_eq!(e.code(), -32602);
        assert_eq!(e.message(), "invalid params: candidate.pov: missing");
        assert_eq!(
            e.data().map(|d| d.get()),
            Some(r#"{"field":"candidate.pov","problem":"missing"}"#)
        );
        let hash = ValidationCodeHash(Hash([0xab; 32]));
        let e = ErrorObjectOwned::from(RpcError::UnknownCode(vec![hash]));
        assert_eq!(e.code(), -32001);
        assert!(e.message().contains(&hash.to_string()), "{}", e.message());
        assert!(e.message().contains("pvf_submitCode"), "{}", e.message());
        assert_eq!(
            ErrorObjectOwned::from(RpcError::ShuttingDown).code(),
            -32002
        );
        assert_eq!(
            ErrorObjectOwned::from(RpcError::Internal("x".into())).code(),
            -32603
        );
    }
}
