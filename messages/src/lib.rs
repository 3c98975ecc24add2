//! Every typed message of the PVF validation host.
//!
//! This crate is the one vocabulary shared by the node (which never links a Wasm engine)
//! and the worker binaries (which never link the overseer). Keeping it free of `wasmtime`
//! and of any async runtime is what lets both sides depend on it without dragging the
//! other's concerns along.
//!
//! - [`primitives`]: parachain data with the same SCALE layout as Polkadot's
//!   `polkadot-parachain-primitives`, so real PVFs and real candidates work unchanged.
//! - [`executor_params`]: the session's executor parameters and the hash of the subset
//!   that affects preparation.
//! - [`frame`]: the length-prefixed, size-bounded framing of the host ↔ worker socket.
//! - [`protocol`]: what the host and the workers say to each other over that framing.
//! - [`error`]: preparation and execution failures, each knowing whether it is
//!   deterministic (may count against a candidate) or a local fault (may not).
//! - [`verdict_policy`]: which execution outcomes are retried, which delete an artifact, and
//!   which are a vote, per kind of execution (backing, approval, dispute).
//! - [`version`]: the version and build id that node and workers compare at spawn.

pub mod candidate_backing;
pub mod candidate_validation;
pub mod checksum;
pub mod error;
pub mod executor_params;
pub mod frame;
pub mod host;
pub mod primitives;
pub mod protocol;
pub mod verdict_policy;
pub mod version;

pub use error::{
    InternalValidationError, InvalidCandidate, PossiblyInvalidError, PrepareError, ValidationError,
    VerdictClass,
};
pub use executor_params::{ExecutorHostFunction, ExecutorParam, ExecutorParams, PrepParamsHash};
pub use primitives::{
    BlockData, Hash, HeadData, OutboundHrmpMessage, PersistedValidationData, PoV, PvfExecKind,
    PvfPrepKind, ValidationCode, ValidationCodeHash, ValidationParams, ValidationResult,
};
