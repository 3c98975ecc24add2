//! Hand-written Wasm modules that try something a PVF host must survive, each with the
//! answer a correct host gives.
//!
//! "Invalid" below means the deterministic verdict against the candidate (the PVF itself
//! failed); "rejected at preparation" means a deterministic preparation error. Neither may
//! ever be confused with a local fault: no worker crash, no retry, no internal error.
//!
//! Modules that are meant to run export `memory` and `__heap_base` as the ABI requires, so
//! that the only thing wrong with them is the thing they try. Modules that return a valid
//! result keep its SCALE bytes in a data segment at [`RESULT_PTR`].

mod compile_heavy;

pub use compile_heavy::{COMPILE_HEAVY_DEFAULT_FUNCTIONS, COMPILE_HEAVY_HEAD, compile_heavy};

use crate::scale::ValidationResult;
use parity_scale_codec::Encode;

/// Where modules that return a fixed result keep its bytes.
pub const RESULT_PTR: u32 = 16;

/// The head returned by [`unknown_import_uncalled`] (with `hrmp_watermark` 7).
pub const UNKNOWN_IMPORT_UNCALLED_HEAD: &[u8] = &[1, 2, 3];

/// The head returned by [`uses_bulk_memory_and_sign_ext`]: `0xab` from `memory.fill`,
/// `0xcd 0xef` from `memory.init`, moved by `memory.copy`, and `0xff` from
/// `i32.extend8_s(0x80) >> 24`.
pub const BULK_MEMORY_AND_SIGN_EXT_HEAD: &[u8] = &[0xab, 0xcd, 0xef, 0xff];

/// The head [`float_nan`] returns when the host canonicalises NaNs: the bits of
/// `0.0f32 / 0.0` then of `0.0f64 / 0.0`, little endian, as the canonical quiet NaNs
/// `0x7fc0_0000` and `0x7ff8_0000_0000_0000`.
pub const FLOAT_NAN_CANONICAL_HEAD: [u8; 12] = [
    0x00, 0x00, 0xc0, 0x7f, //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf8, 0x7f,
];

/// The ABI exports every runnable module carries: 2 pages of exported memory, with the
/// host's heap starting at 1 KiB.
const ABI_EXPORTS: &str = r#"
    (memory (export "memory") 2)
    (global (export "__heap_base") i32 (i32.const 1024))"#;

/// Assembles a module from WAT fields (imports first, as the text format requires).
fn module(fields: &str) -> Vec<u8> {
    wat::parse_str(format!("(module {fields})"))
        .unwrap_or_else(|e| panic!("hostile WAT does not parse: {e}"))
}

/// `(len << 32) | ptr`, as `validate_block` returns it.
fn packed(ptr: u32, len: usize) -> i64 {
    (((len as u64) << 32) | u64::from(ptr)) as i64
}

/// `bytes` as the contents of a WAT string literal.
fn escaped(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:02x}")).collect()
}

/// A data segment at `ptr` holding `bytes`.
fn data_segment(ptr: u32, bytes: &[u8]) -> String {
    format!(r#"(data (i32.const {ptr}) "{}")"#, escaped(bytes))
}

/// A data segment with the encoded `result` at [`RESULT_PTR`], and the packed value
/// `validate_block` must return for it.
fn result_segment(result: &ValidationResult) -> (String, i64) {
    let bytes = result.encode();
    (
        data_segment(RESULT_PTR, &bytes),
        packed(RESULT_PTR, bytes.len()),
    )
}

/// `validate_block` traps at once (`unreachable`).
/// A correct host answers **Invalid**.
pub fn trap() -> Vec<u8> {
    module(&format!(
        r#"{ABI_EXPORTS}
        (func (export "validate_block") (param i32 i32) (result i64) unreachable)"#
    ))
}

/// `validate_block` grows memory one page at a time, touching every 4 KiB of each new page
/// so it is really committed, until `memory.grow` fails; then it traps. Without a memory
/// limit this commits 4 GiB.
/// A correct host caps memory deterministically and answers **Invalid**; the worker must not
/// be OOM-killed (that would be a local fault, not a verdict).
pub fn memory_grow_bomb() -> Vec<u8> {
    module(&format!(
        r#"{ABI_EXPORTS}
        (func (export "validate_block") (param i32 i32) (result i64)
          (local $page i32) (local $offset i32)
          (loop $grow
            (local.set $page (memory.grow (i32.const 1)))
            (if (i32.eq (local.get $page) (i32.const -1)) (then unreachable))
            (local.set $offset (i32.const 0))
            (loop $touch
              (i32.store
                (i32.add (i32.shl (local.get $page) (i32.const 16)) (local.get $offset))
                (i32.const 1))
              (local.set $offset (i32.add (local.get $offset) (i32.const 4096)))
              (br_if $touch (i32.lt_u (local.get $offset) (i32.const 65536))))
            (br $grow))
          unreachable)"#
    ))
}

/// `validate_block` calls `ext_allocator_malloc_version_1` with sizes doubling from 64 KiB
/// (capped at 1 GiB), writing the first and last byte of each block, until the allocator
/// returns 0 (then it traps) or traps itself.
/// A correct host's allocator fails deterministically at its heap limit: **Invalid**, never
/// an OOM-killed worker.
pub fn alloc_bomb() -> Vec<u8> {
    module(&format!(
        r#"(import "env" "ext_allocator_malloc_version_1" (func $malloc (param i32) (result i32)))
        {ABI_EXPORTS}
        (func (export "validate_block") (param i32 i32) (result i64)
          (local $size i32) (local $ptr i32)
          (local.set $size (i32.const 0x10000))
          (loop $more
            (local.set $ptr (call $malloc (local.get $size)))
            (if (i32.eqz (local.get $ptr)) (then unreachable))
            (i32.store8 (local.get $ptr) (i32.const 1))
            (i32.store8
              (i32.sub (i32.add (local.get $ptr) (local.get $size)) (i32.const 1))
              (i32.const 1))
            (if (i32.lt_u (local.get $size) (i32.const 0x40000000))
              (then (local.set $size (i32.shl (local.get $size) (i32.const 1)))))
            (br $more))
          unreachable)"#
    ))
}

/// `validate_block` recurses without bound (not a tail call, with locals to eat stack
/// faster) until the stack overflows.
/// A correct host stops it at a deterministic stack limit and answers **Invalid**; a native
/// stack overflow must not kill the worker.
pub fn deep_recursion() -> Vec<u8> {
    module(&format!(
        r#"{ABI_EXPORTS}
        (func $recurse (param $depth i64) (result i64)
          (local $a i64) (local $b i64) (local $c i64) (local $d i64)
          (local.set $a (i64.mul (local.get $depth) (i64.const 3)))
          (local.set $b (i64.add (local.get $a) (i64.const 5)))
          (local.set $c (i64.xor (local.get $b) (local.get $depth)))
          (local.set $d (call $recurse (i64.add (local.get $depth) (i64.const 1))))
          (i64.add (i64.add (local.get $a) (local.get $b)) (i64.add (local.get $c) (local.get $d))))
        (func (export "validate_block") (param i32 i32) (result i64)
          (call $recurse (i64.const 0)))"#
    ))
}

/// `validate_block` returns a result of length `0x7fff_ffff` at [`RESULT_PTR`], far beyond
/// the 128 KiB of memory.
/// A correct host bounds-checks the result and answers **Invalid**, without reading out of
/// bounds or allocating 2 GiB.
pub fn huge_result() -> Vec<u8> {
    let packed = packed(RESULT_PTR, 0x7fff_ffff);
    module(&format!(
        r#"{ABI_EXPORTS}
        (func (export "validate_block") (param i32 i32) (result i64) (i64.const {packed}))"#
    ))
}

/// Imports the unknown host function `env.ext_hostile_steal_keys` and calls it.
/// A correct host prepares it (unknown imports are linked to stubs, as the reference does)
/// and the stub traps when called: **Invalid**, with nothing run on the host's side.
pub fn unknown_import_called() -> Vec<u8> {
    module(&format!(
        r#"(import "env" "ext_hostile_steal_keys" (func $steal (param i32 i32) (result i64)))
        {ABI_EXPORTS}
        (func (export "validate_block") (param i32 i32) (result i64)
          (call $steal (local.get 0) (local.get 1)))"#
    ))
}

/// A start function that calls the unknown import `env.ext_hostile_steal_keys`: its stub
/// fails while the module is instantiated, before `validate_block` runs — a failure to build
/// the runtime from a sound artifact, on every machine and every candidate. A correct host
/// answers it as the reference does: **Invalid** (after the retry for approval and dispute),
/// and never recompiles it for a backing.
pub fn start_calls_unknown_import() -> Vec<u8> {
    module(&format!(
        r#"(import "env" "ext_hostile_steal_keys" (func $steal (param i32 i32) (result i64)))
        {ABI_EXPORTS}
        (func $start (drop (call $steal (i32.const 0) (i32.const 0))))
        (start $start)
        (func (export "validate_block") (param i32 i32) (result i64) (i64.const 0))"#
    ))
}

/// Imports `env.ext_hostile_steal_keys` but never calls it; `validate_block` returns a valid
/// result: head [`UNKNOWN_IMPORT_UNCALLED_HEAD`], `hrmp_watermark` 7, all else empty/0.
/// A correct host answers **Valid** with that result (a declared import is not an offence).
pub fn unknown_import_uncalled() -> Vec<u8> {
    let (data, packed) = result_segment(&ValidationResult::head_only(
        UNKNOWN_IMPORT_UNCALLED_HEAD,
        7,
    ));
    module(&format!(
        r#"(import "env" "ext_hostile_steal_keys" (func $steal (param i32 i32) (result i64)))
        {ABI_EXPORTS}
        {data}
        (func (export "validate_block") (param i32 i32) (result i64) (i64.const {packed}))"#
    ))
}

/// A well-formed module without a `validate_block` export (it exports `validate_blocks`).
/// A correct host refuses it deterministically: **rejected at preparation** (or **Invalid**
/// if it only looks for the export when executing).
pub fn missing_validate_block() -> Vec<u8> {
    module(&format!(
        r#"{ABI_EXPORTS}
        (func (export "validate_blocks") (param i32 i32) (result i64) (i64.const 0))"#
    ))
}

/// `validate_block` has the wrong type: `(param i32) (result i32)`.
/// A correct host refuses it deterministically: **rejected at preparation** (or **Invalid**
/// if it only checks the signature when executing).
pub fn ill_typed_validate_block() -> Vec<u8> {
    module(&format!(
        r#"{ABI_EXPORTS}
        (func (export "validate_block") (param i32) (result i32) (i32.const 0))"#
    ))
}

/// Bytes that are not Wasm at all.
/// A correct host answers **rejected at preparation**.
pub fn malformed() -> Vec<u8> {
    b"#!/bin/sh\necho 'this is not a wasm module'\n".to_vec()
}

/// The first half of the real [`crate::adder`] module: a valid header and sections cut off.
/// A correct host answers **rejected at preparation**.
pub fn truncated() -> Vec<u8> {
    let adder = crate::adder();
    adder[..adder.len() / 2].to_vec()
}

/// A module using SIMD (`v128`): `validate_block` would return a valid result (head `[1]`)
/// computed through `i64x2` lanes.
/// A correct host answers **rejected at preparation** (SIMD is outside the feature set
/// PVFs may use).
pub fn uses_simd() -> Vec<u8> {
    let (data, packed) = result_segment(&ValidationResult::head_only(&[1], 0));
    module(&format!(
        r#"{ABI_EXPORTS}
        {data}
        (func (export "validate_block") (param i32 i32) (result i64)
          (i64x2.extract_lane 1 (i64x2.splat (i64.const {packed}))))"#
    ))
}

/// A module using threads: shared memory and atomics; `validate_block` would return a valid
/// result (head `[2]`) read with `i64.atomic.load`.
/// A correct host answers **rejected at preparation**.
pub fn uses_threads() -> Vec<u8> {
    let (data, packed) = result_segment(&ValidationResult::head_only(&[2], 0));
    let packed_at_256 = data_segment(256, &packed.to_le_bytes());
    module(&format!(
        r#"(memory (export "memory") 2 16 shared)
        (global (export "__heap_base") i32 (i32.const 1024))
        {data}
        {packed_at_256}
        (func (export "validate_block") (param i32 i32) (result i64)
          (i64.atomic.load (i32.const 256)))"#
    ))
}

/// A module with a 64-bit memory; `validate_block` would return a valid result (head `[3]`).
/// A correct host answers **rejected at preparation**.
pub fn uses_memory64() -> Vec<u8> {
    let bytes = ValidationResult::head_only(&[3], 0).encode();
    let packed = packed(RESULT_PTR, bytes.len());
    module(&format!(
        r#"(memory (export "memory") i64 2)
        (global (export "__heap_base") i32 (i32.const 1024))
        (data (i64.const {RESULT_PTR}) "{}")
        (func (export "validate_block") (param i32 i32) (result i64)
          (drop (i64.load (i64.const {RESULT_PTR})))
          (i64.const {packed}))"#,
        escaped(&bytes),
    ))
}

/// A valid module using bulk-memory (`memory.fill`, `memory.init`, `data.drop`,
/// `memory.copy`) and sign-extension (`i32.extend8_s`) opcodes, as current Rust emits for
/// `wasm32-unknown-unknown`. Returns head [`BULK_MEMORY_AND_SIGN_EXT_HEAD`], watermark 0.
/// A correct host (with default executor params) **accepts** it and answers **Valid**.
pub fn uses_bulk_memory_and_sign_ext() -> Vec<u8> {
    let (data, packed) = result_segment(&ValidationResult::head_only(&[0; 4], 0));
    // The head bytes follow the one-byte compact length at RESULT_PTR.
    let head = RESULT_PTR + 1;
    module(&format!(
        r#"{ABI_EXPORTS}
        {data}
        (data $tail "\cd\ef")
        (func (export "validate_block") (param i32 i32) (result i64)
          (memory.fill (i32.const 512) (i32.const 0xab) (i32.const 3))
          (memory.init $tail (i32.const 513) (i32.const 0) (i32.const 2))
          (data.drop $tail)
          (memory.copy (i32.const {head}) (i32.const 512) (i32.const 3))
          (i32.store8 (i32.const {last})
            (i32.shr_u (i32.extend8_s (i32.const 0x80)) (i32.const 24)))
          (i64.const {packed}))"#,
        last = head + 3,
    ))
}

/// Returns a valid result whose 12 head bytes are the bit patterns of the NaNs produced by
/// `0.0f32 / 0.0` and `0.0f64 / 0.0` (operands loaded from memory, so no engine can fold
/// them), little endian. Wasm leaves the NaN's sign and payload open; x86-64 yields negative
/// NaNs (`0xffc0_0000`), others positive ones.
/// A host with NaN canonicalisation (as the reference) answers **Valid** with head
/// [`FLOAT_NAN_CANONICAL_HEAD`] on every machine.
pub fn float_nan() -> Vec<u8> {
    let (data, packed) = result_segment(&ValidationResult::head_only(&[0; 12], 0));
    let head = RESULT_PTR + 1;
    module(&format!(
        r#"{ABI_EXPORTS}
        {data}
        (func (export "validate_block") (param i32 i32) (result i64)
          ;; Bytes 512..520 are zero.
          (i32.store (i32.const {head})
            (i32.reinterpret_f32 (f32.div (f32.load (i32.const 512)) (f32.load (i32.const 512)))))
          (i64.store (i32.const {f64_at})
            (i64.reinterpret_f64 (f64.div (f64.load (i32.const 512)) (f64.load (i32.const 512)))))
          (i64.const {packed}))"#,
        f64_at = head + 4,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        test_host::{Outcome, params, run},
        test_inspect::{ACCEPTED, Kind, inspect, validate_block_type},
    };
    use wasmparser::WasmFeatures;

    /// Modules that a host must accept, with the feature set they stay within.
    fn accepted() -> Vec<(&'static str, Vec<u8>, WasmFeatures)> {
        let wasm1 = WasmFeatures::WASM1;
        vec![
            ("trap", trap(), wasm1),
            ("memory_grow_bomb", memory_grow_bomb(), wasm1),
            ("alloc_bomb", alloc_bomb(), wasm1),
            ("deep_recursion", deep_recursion(), wasm1),
            ("huge_result", huge_result(), wasm1),
            ("unknown_import_called", unknown_import_called(), wasm1),
            ("unknown_import_uncalled", unknown_import_uncalled(), wasm1),
            ("compile_heavy", compile_heavy(3), wasm1),
            ("float_nan", float_nan(), wasm1),
            (
                "uses_bulk_memory_and_sign_ext",
                uses_bulk_memory_and_sign_ext(),
                ACCEPTED,
            ),
        ]
    }

    #[test]
    fn accepted_modules_validate_and_follow_the_abi() {
        for (name, wasm, features) in accepted() {
            let summary = inspect(&wasm, features).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                summary.export("validate_block"),
                Some(&validate_block_type()),
                "{name}"
            );
            assert_eq!(summary.export("memory"), Some(&Kind::Memory), "{name}");
            assert_eq!(summary.export("__heap_base"), Some(&Kind::Global), "{name}");
        }
        assert!(inspect(&uses_bulk_memory_and_sign_ext(), WasmFeatures::WASM1).is_err());
    }

    #[test]
    fn abi_violations_are_valid_wasm() {
        for wasm in [missing_validate_block(), ill_typed_validate_block()] {
            let summary = inspect(&wasm, WasmFeatures::WASM1).unwrap();
            assert_ne!(
                summary.export("validate_block"),
                Some(&validate_block_type())
            );
            assert_eq!(summary.export("__heap_base"), Some(&Kind::Global));
        }
    }

    #[test]
    fn feature_probes_need_refused_features() {
        for (name, wasm) in [
            ("simd", uses_simd()),
            ("threads", uses_threads()),
            ("memory64", uses_memory64()),
        ] {
            assert!(
                inspect(&wasm, ACCEPTED).is_err(),
                "{name} validates without its feature"
            );
            let summary =
                inspect(&wasm, WasmFeatures::all()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                summary.export("validate_block"),
                Some(&validate_block_type()),
                "{name}"
            );
        }
    }

    #[test]
    fn garbage_is_not_wasm() {
        for wasm in [malformed(), truncated()] {
            assert!(inspect(&wasm, WasmFeatures::all()).is_err());
        }
        assert_eq!(&truncated()[..4], b"\0asm");
    }

    /// Runs `wasm` on empty params in the test host.
    fn run_empty(wasm: &[u8]) -> Outcome {
        run(wasm, &params(Vec::new(), Vec::new()))
    }

    #[test]
    fn failing_modules_fail() {
        for (name, wasm, needle) in [
            ("trap", trap(), "unreachable"),
            ("memory_grow_bomb", memory_grow_bomb(), "unreachable"),
            ("alloc_bomb", alloc_bomb(), "unreachable"),
            ("deep_recursion", deep_recursion(), "stack"),
            (
                "unknown_import_called",
                unknown_import_called(),
                "ext_hostile_steal_keys",
            ),
            (
                "missing_validate_block",
                missing_validate_block(),
                "validate_block",
            ),
            (
                "ill_typed_validate_block",
                ill_typed_validate_block(),
                "type",
            ),
        ] {
            match run_empty(&wasm) {
                Outcome::Failed(error) => assert!(error.contains(needle), "{name}: {error}"),
                other => panic!("{name}: {other:?}"),
            }
        }
        match run_empty(&huge_result()) {
            Outcome::BadResult(error) => assert!(error.contains("out of bounds"), "{error}"),
            other => panic!("huge_result: {other:?}"),
        }
        for wasm in [malformed(), truncated()] {
            match run_empty(&wasm) {
                Outcome::Rejected(error) => assert!(!error.is_empty()),
                other => panic!("garbage: {other:?}"),
            }
        }
    }

    #[test]
    fn valid_modules_return_their_documented_results() {
        let uncalled = run_empty(&unknown_import_uncalled()).unwrap();
        assert_eq!(
            uncalled,
            ValidationResult::head_only(UNKNOWN_IMPORT_UNCALLED_HEAD, 7)
        );
        let bulk = run_empty(&uses_bulk_memory_and_sign_ext()).unwrap();
        assert_eq!(
            bulk,
            ValidationResult::head_only(BULK_MEMORY_AND_SIGN_EXT_HEAD, 0)
        );
        let nan = run_empty(&float_nan()).unwrap();
        assert_eq!(
            nan,
            ValidationResult::head_only(&FLOAT_NAN_CANONICAL_HEAD, 0)
        );
        let heavy = run_empty(&compile_heavy(2)).unwrap();
        assert_eq!(heavy, ValidationResult::head_only(COMPILE_HEAVY_HEAD, 0));
    }

    #[test]
    fn compile_heavy_is_deterministic_and_scales() {
        assert_eq!(compile_heavy(4), compile_heavy(4));
        let (small, big) = (compile_heavy(1).len(), compile_heavy(11).len());
        assert!(big > 8 * small, "{small} vs {big}");
    }
}
