//! What can go wrong while building candidates, each case with what the user can do about it.

use std::path::PathBuf;

/// An error of the test collator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The chain spec file could not be read or parsed.
    #[error("cannot load the chain spec {path}: {reason}")]
    ChainSpec {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The chain spec parsed but lacks something a block needs.
    #[error("the chain spec {path} cannot be used: {missing}")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What is missing or not supported.
        missing: String,
    },
    /// A runtime call failed.
    #[error("the runtime's {call} failed: {reason}")]
    Runtime {
        /// The runtime API function.
        call: String,
        /// The executor's or the runtime's message.
        reason: String,
    },
    /// A runtime call returned bytes that do not decode as its API says.
    #[error("the runtime's {call} returned undecodable bytes: {reason}")]
    Decode {
        /// The runtime API function.
        call: String,
        /// The codec's message.
        reason: String,
    },
    /// The runtime rejected an extrinsic the collator built.
    #[error("block {block}: the runtime rejected {what}: {reason}")]
    Rejected {
        /// The block number.
        block: u32,
        /// The extrinsic.
        what: String,
        /// The runtime's answer, SCALE hex.
        reason: String,
    },
    /// The runtime's own `validate_block` did not accept a block the collator built.
    #[error("the runtime's validate_block rejects block {block}: {reason}")]
    NotValidated {
        /// The block number.
        block: u32,
        /// The executor's or the runtime's message, for every PoV format tried.
        reason: String,
    },
    /// Writing the output failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}
