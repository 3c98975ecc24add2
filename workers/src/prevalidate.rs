//! Checks done before a PVF is compiled: the Wasm feature set and the PVF ABI.
//!
//! Accepted: what current Rust emits for `wasm32-unknown-unknown` (MVP, mutable globals,
//! sign extension, saturating float-to-int, multi-value, bulk memory, reference types with
//! `funcref` only) and MVP-only modules (`wasm32v1-none`). All of it is deterministic.
//! Rejected: threads, SIMD, relaxed SIMD, memory64, multi-memory, exceptions, tail calls,
//! GC and `externref`, and anything newer. Every rejection is a
//! [`PrepareError::Prevalidation`], which is deterministic: every honest validator rejects
//! the same module the same way.

use pvf_messages::PrepareError;
use wasmparser::{
    ExternalKind, FuncType, Parser, Payload, TypeRef, ValType, Validator, WasmFeatures,
};

/// The accepted Wasm feature set.
pub fn features() -> WasmFeatures {
    WasmFeatures::WASM1
        | WasmFeatures::FLOATS
        | WasmFeatures::SIGN_EXTENSION
        | WasmFeatures::SATURATING_FLOAT_TO_INT
        | WasmFeatures::MULTI_VALUE
        | WasmFeatures::BULK_MEMORY
        | WasmFeatures::REFERENCE_TYPES
}

/// Host functions with a fixed signature; importing one with another signature is an error.
const KNOWN_IMPORTS: &[(&str, &[ValType], &[ValType])] = &[
    (
        "ext_allocator_malloc_version_1",
        &[ValType::I32],
        &[ValType::I32],
    ),
    ("ext_allocator_free_version_1", &[ValType::I32], &[]),
    (
        "ext_logging_log_version_1",
        &[ValType::I32, ValType::I64, ValType::I64],
        &[],
    ),
    ("ext_logging_max_level_version_1", &[], &[ValType::I32]),
];

/// A prevalidation error, on one line: wasmparser's messages may embed multi-line dumps.
fn invalid(msg: impl Into<String>) -> PrepareError {
    PrepareError::Prevalidation(msg.into().split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Validates `code` and checks the PVF ABI. Returns nothing on success.
pub fn prevalidate(code: &[u8]) -> Result<(), PrepareError> {
    let mut validator = Validator::new_with_features(features());
    let types = validator
        .validate_all(code)
        .map_err(|e| invalid(format!("invalid Wasm: {e}")))?;

    let mut func_types: Vec<u32> = Vec::new();
    let mut memory_imported = false;
    let mut memory_defined = false;
    let mut memory_exported = false;
    let mut validate_block = None;
    let mut heap_base = false;
    for payload in Parser::new(0).parse_all(code) {
        match payload.map_err(|e| invalid(e.to_string()))? {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.map_err(|e| invalid(e.to_string()))?;
                    match import.ty {
                        TypeRef::Func(ty) => {
                            func_types.push(ty);
                            let sub = types.as_ref().core_type_at_in_module(ty);
                            let ft = types[sub].unwrap_func();
                            check_known_import(import.module, import.name, ft)?;
                        }
                        TypeRef::Memory(_) if (import.module, import.name) == ("env", "memory") => {
                            memory_imported = true;
                        }
                        other => {
                            return Err(invalid(format!(
                                "unsupported import {}.{} ({other:?}): only functions and env.memory may be imported",
                                import.module, import.name
                            )));
                        }
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                for ty in reader {
                    func_types.push(ty.map_err(|e| invalid(e.to_string()))?);
                }
            }
            Payload::MemorySection(reader) => memory_defined |= reader.count() > 0,
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export.map_err(|e| invalid(e.to_string()))?;
                    match (export.name, export.kind) {
                        ("validate_block", ExternalKind::Func) => {
                            validate_block = Some(export.index)
                        }
                        ("validate_block", kind) => {
                            return Err(invalid(format!(
                                "validate_block is a {kind:?}, not a function"
                            )));
                        }
                        ("__heap_base", ExternalKind::Global) => heap_base = true,
                        ("memory", ExternalKind::Memory) => memory_exported = true,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let has_memory = memory_imported || (memory_defined && memory_exported);
    if !has_memory {
        return Err(invalid(
            "the module neither imports env.memory nor defines and exports a memory named \"memory\"",
        ));
    }
    if !heap_base {
        return Err(invalid("the module does not export the __heap_base global"));
    }
    let index =
        validate_block.ok_or_else(|| invalid("the module does not export validate_block"))?;
    let ty = func_types
        .get(index as usize)
        .ok_or_else(|| invalid("validate_block refers to a missing function"))?;
    let ft = types[types.as_ref().core_type_at_in_module(*ty)].unwrap_func();
    if ft.params() != [ValType::I32, ValType::I32] || ft.results() != [ValType::I64] {
        return Err(invalid(format!(
            "validate_block has type {ft}, expected (i32, i32) -> i64"
        )));
    }
    Ok(())
}

fn check_known_import(module: &str, name: &str, ft: &FuncType) -> Result<(), PrepareError> {
    if module != "env" {
        return Ok(());
    }
    match KNOWN_IMPORTS.iter().find(|(n, _, _)| *n == name) {
        Some((_, params, results)) if ft.params() != *params || ft.results() != *results => {
            Err(invalid(format!(
                "host function env.{name} imported with the wrong type {ft}"
            )))
        }
        _ => Ok(()),
    }
}
