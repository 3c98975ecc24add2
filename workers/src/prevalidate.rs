//! From the code as stored on chain to a parsed module: what the reference checks before it
//! compiles.
//!
//! 1. Decompression: real parachains store their code as an `sp-maybe-compressed-blob` (an
//!    8-byte magic, then zstd). It is decompressed within the validation-code bomb limit;
//!    plain Wasm passes unchanged. A blob over the limit or a corrupt frame is
//!    [`PrepareError::CouldNotDecompressCodeBlob`], deterministic.
//! 2. Parsing with the reference's own module parser (`sc-executor-common`'s `RuntimeBlob`,
//!    on `parity-wasm` 0.45). It accepts Wasm MVP and nothing newer: bulk memory, sign
//!    extension, saturating float-to-int, multi-value and reference types are rejected, even
//!    when `WasmExtBulkMemory` turns bulk memory on in the compiler — exactly as the published
//!    reference does, so a module is valid here if and only if it is valid there. A rejection
//!    is [`PrepareError::Prevalidation`], deterministic.
//!
//! Nothing about the PVF ABI (`validate_block`, `__heap_base`, the memory) is checked here:
//! the reference's pre-check does not either; such faults show when a candidate runs.

use pvf_messages::PrepareError;
use sc_executor_common::runtime_blob::RuntimeBlob;
use std::borrow::Cow;

/// Decompresses `code` if it is an `sp-maybe-compressed-blob`, within `bomb_limit` bytes.
pub fn decompress(code: &[u8], bomb_limit: u32) -> Result<Cow<'_, [u8]>, PrepareError> {
    sp_maybe_compressed_blob::decompress(code, bomb_limit as usize)
        .map_err(|e| PrepareError::CouldNotDecompressCodeBlob(e.to_string()))
}

/// Parses decompressed code with the reference's module parser.
pub fn prevalidate(code: &[u8]) -> Result<RuntimeBlob, PrepareError> {
    RuntimeBlob::new(code).map_err(|e| PrepareError::Prevalidation(format!("{e:?}")))
}
