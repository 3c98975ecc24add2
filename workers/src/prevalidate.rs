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
//! 3. One thing the reference's compiler rejects that ours would accept: more than one table.
//!    The reference compiles with reference types off, which limits a module to one table; a
//!    wasmtime built without its `gc` feature cannot switch reference types off, so the limit
//!    is checked here, with the same deterministic [`PrepareError::Preparation`].
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
    let blob = RuntimeBlob::new(code).map_err(|e| PrepareError::Prevalidation(format!("{e:?}")))?;
    check_one_table(code)?;
    Ok(blob)
}

/// Fails a module with more than one table (imported or defined), as the reference's
/// compiler does without reference types.
fn check_one_table(code: &[u8]) -> Result<(), PrepareError> {
    let mut tables = 0u64;
    for payload in wasmparser::Parser::new(0).parse_all(code) {
        match payload.map_err(|e| PrepareError::Prevalidation(e.to_string()))? {
            wasmparser::Payload::ImportSection(imports) => {
                for import in imports.into_imports() {
                    let import = import.map_err(|e| PrepareError::Prevalidation(e.to_string()))?;
                    tables += u64::from(matches!(import.ty, wasmparser::TypeRef::Table(_)));
                }
            }
            wasmparser::Payload::TableSection(section) => tables += u64::from(section.count()),
            _ => {}
        }
    }
    if tables > 1 {
        return Err(PrepareError::Preparation(
            "cannot precompile module: multiple tables (reference types are off)".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_table_at_most() {
        let one = wat::parse_str("(module (table 1 funcref))").unwrap();
        assert!(prevalidate(&one).is_ok());
        let two =
            wat::parse_str(r#"(module (import "env" "t" (table 1 funcref)) (table 1 funcref))"#)
                .unwrap();
        assert!(
            matches!(prevalidate(&two), Err(PrepareError::Preparation(m)) if m.contains("multiple tables"))
        );
    }
}
