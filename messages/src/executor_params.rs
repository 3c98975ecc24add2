//! Executor parameters: per-session knobs that change how PVFs are prepared and executed.
//!
//! The encoding matches Polkadot's `ExecutorParams` (a SCALE vector of indexed variants),
//! so parameters read from a relay chain decode unchanged. Defaults are the reference's.

use crate::primitives::{Hash, PvfExecKind, PvfPrepKind, blake2_256};
use parity_scale_codec::{Decode, Encode};
use std::time::Duration;

/// The reference's estimate of the pages a runtime needs for its data and shadow stack; added
/// to `MaxMemoryPages` to give the absolute memory ceiling.
pub const DEFAULT_HEAP_PAGES_ESTIMATE: u32 = 32;
/// Absolute ceiling of a PVF's linear memory, in pages, when `MaxMemoryPages` is not set
/// (32 + 2048, as the reference).
pub const DEFAULT_MAX_MEMORY_PAGES: u32 = DEFAULT_HEAP_PAGES_ESTIMATE + 2048;
/// Logical stack limit in Wasm values: the depth at which the instrumented module traps.
pub const DEFAULT_STACK_LOGICAL_MAX: u32 = 65_536;
/// Native stack available to Wasm code, in bytes.
pub const DEFAULT_STACK_NATIVE_MAX: u32 = 256 * 1024 * 1024;
/// Preparation timeout when pre-checking a code upgrade.
pub const DEFAULT_PRECHECK_TIMEOUT: Duration = Duration::from_secs(60);
/// Preparation timeout before an execution.
pub const DEFAULT_LENIENT_PREPARE_TIMEOUT: Duration = Duration::from_secs(360);
/// Execution timeout when backing.
pub const DEFAULT_BACKING_TIMEOUT: Duration = Duration::from_secs(2);
/// Execution timeout for approvals and disputes.
pub const DEFAULT_APPROVAL_TIMEOUT: Duration = Duration::from_secs(12);

/// One executor parameter. Indices match Polkadot's `ExecutorParam`.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum ExecutorParam {
    /// Hard cap on a PVF's linear memory, in 64 KiB pages.
    #[codec(index = 1)]
    MaxMemoryPages(u32),
    /// Logical stack limit, in Wasm values.
    #[codec(index = 2)]
    StackLogicalMax(u32),
    /// Native stack limit for Wasm code, in bytes.
    #[codec(index = 3)]
    StackNativeMax(u32),
    /// Memory limit of a pre-checking preparation job, in bytes.
    #[codec(index = 4)]
    PrecheckingMaxMemory(u64),
    /// Preparation timeout for one kind, in milliseconds.
    #[codec(index = 5)]
    PvfPrepTimeout(PvfPrepKind, u64),
    /// Execution timeout for one kind, in milliseconds.
    #[codec(index = 6)]
    PvfExecTimeout(PvfExecKind, u64),
    /// Enables the bulk-memory extension in the compiler. As in the reference, the module
    /// parser still accepts MVP only, so a module using bulk-memory opcodes stays invalid.
    #[codec(index = 7)]
    WasmExtBulkMemory,
    /// Links an extra set of host functions.
    #[codec(index = 8)]
    EnabledHostFunction(ExecutorHostFunction),
}

/// A set of host functions that executor parameters can enable.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub enum ExecutorHostFunction {
    /// Elliptic-curve host functions of RFC 163 (BLS12-381, Ed-on-BLS12-381-Bandersnatch,
    /// Pallas, Vesta), from `sp-crypto-ec-utils`.
    #[codec(index = 1)]
    EccRfc163,
}

/// The hash of the executor parameters that affect preparation. Artifacts prepared
/// under different hashes are different artifacts.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Encode, Decode)]
pub struct PrepParamsHash(pub Hash);

/// An ordered set of executor parameters. Later entries override earlier ones.
#[derive(Clone, PartialEq, Eq, Debug, Default, Encode, Decode)]
pub struct ExecutorParams(pub Vec<ExecutorParam>);

impl ExecutorParams {
    /// No parameters: every default applies.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// The last parameter `f` picks: later entries override earlier ones, as the reference's
    /// engine settings do.
    fn last<T>(&self, f: impl Fn(&ExecutorParam) -> Option<T>) -> Option<T> {
        self.0.iter().rev().find_map(f)
    }

    /// The hash of the parameters that change the compiled artifact, computed as the reference
    /// computes it: BLAKE2b-256 of `b"prep"` followed by the SCALE encoding of each
    /// `StackLogicalMax` and `WasmExtBulkMemory`, in their given order. Memory ceilings, the
    /// native stack and timeouts apply when the artifact runs, not when it is compiled.
    pub fn prep_hash(&self) -> PrepParamsHash {
        let mut enc = b"prep".to_vec();
        for p in &self.0 {
            if matches!(
                p,
                ExecutorParam::StackLogicalMax(_) | ExecutorParam::WasmExtBulkMemory
            ) {
                p.encode_to(&mut enc);
            }
        }
        PrepParamsHash(blake2_256(&enc))
    }

    /// The first parameter `f` picks, as the reference's look-ups of timeouts and of the
    /// pre-checking memory limit do.
    fn first<T>(&self, f: impl Fn(&ExecutorParam) -> Option<T>) -> Option<T> {
        self.0.iter().find_map(f)
    }

    /// Absolute ceiling of linear memory in pages: `MaxMemoryPages` + 32 when set (the last
    /// one wins, as in the reference), else 2080.
    pub fn memory_max_pages(&self) -> u32 {
        self.max_memory_pages()
            .map_or(DEFAULT_MAX_MEMORY_PAGES, |n| {
                n.saturating_add(DEFAULT_HEAP_PAGES_ESTIMATE)
            })
    }

    /// Whether the compiler accepts bulk-memory instructions.
    pub fn wasm_bulk_memory(&self) -> bool {
        self.0.contains(&ExecutorParam::WasmExtBulkMemory)
    }

    /// Whether the RFC 163 elliptic-curve host functions are linked.
    pub fn ecc_host_functions(&self) -> bool {
        self.0.contains(&ExecutorParam::EnabledHostFunction(
            ExecutorHostFunction::EccRfc163,
        ))
    }

    /// `MaxMemoryPages`, if set (the last one wins).
    pub fn max_memory_pages(&self) -> Option<u32> {
        self.last(|p| match p {
            ExecutorParam::MaxMemoryPages(n) => Some(*n),
            _ => None,
        })
    }

    /// Logical stack limit in values (the last one wins).
    pub fn stack_logical_max(&self) -> u32 {
        self.last(|p| match p {
            ExecutorParam::StackLogicalMax(n) => Some(*n),
            _ => None,
        })
        .unwrap_or(DEFAULT_STACK_LOGICAL_MAX)
    }

    /// Native stack limit for Wasm code, in bytes (the last one wins).
    pub fn stack_native_max(&self) -> u32 {
        self.last(|p| match p {
            ExecutorParam::StackNativeMax(n) => Some(*n),
            _ => None,
        })
        .unwrap_or(DEFAULT_STACK_NATIVE_MAX)
    }

    /// Memory limit for a preparation job of this kind, if any. Like the reference, the
    /// limit applies to pre-checking only.
    pub fn prep_memory_limit(&self, kind: PvfPrepKind) -> Option<u64> {
        match kind {
            PvfPrepKind::Precheck => self.first(|p| match p {
                ExecutorParam::PrecheckingMaxMemory(n) => Some(*n),
                _ => None,
            }),
            PvfPrepKind::Prepare => None,
        }
    }

    /// CPU-time budget of a preparation of this kind.
    pub fn prep_timeout(&self, kind: PvfPrepKind) -> Duration {
        self.first(|p| match p {
            ExecutorParam::PvfPrepTimeout(k, ms) if *k == kind => Some(Duration::from_millis(*ms)),
            _ => None,
        })
        .unwrap_or(match kind {
            PvfPrepKind::Precheck => DEFAULT_PRECHECK_TIMEOUT,
            PvfPrepKind::Prepare => DEFAULT_LENIENT_PREPARE_TIMEOUT,
        })
    }

    /// CPU-time budget of an execution of this kind. Disputes use the approval timeout.
    pub fn exec_timeout(&self, kind: PvfExecKind) -> Duration {
        let kind = match kind {
            PvfExecKind::Dispute => PvfExecKind::Approval,
            PvfExecKind::BackingSystemParas => PvfExecKind::Backing,
            k => k,
        };
        self.first(|p| match p {
            ExecutorParam::PvfExecTimeout(k, ms) if *k == kind => Some(Duration::from_millis(*ms)),
            _ => None,
        })
        .unwrap_or(match kind {
            PvfExecKind::Backing => DEFAULT_BACKING_TIMEOUT,
            _ => DEFAULT_APPROVAL_TIMEOUT,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_do_not_change_the_prep_hash() {
        let base = ExecutorParams(vec![ExecutorParam::StackLogicalMax(100)]);
        let mut with_timeouts = base.clone();
        with_timeouts
            .0
            .push(ExecutorParam::PvfExecTimeout(PvfExecKind::Backing, 1));
        with_timeouts
            .0
            .push(ExecutorParam::PvfPrepTimeout(PvfPrepKind::Precheck, 1));
        assert_eq!(base.prep_hash(), with_timeouts.prep_hash());
        let other = ExecutorParams(vec![ExecutorParam::StackLogicalMax(101)]);
        assert_ne!(base.prep_hash(), other.prep_hash());
        // Applied when the artifact runs, so not part of the hash (as in the reference).
        let mut runtime_only = base.clone();
        runtime_only.0.push(ExecutorParam::MaxMemoryPages(7));
        runtime_only.0.push(ExecutorParam::StackNativeMax(1 << 20));
        runtime_only.0.push(ExecutorParam::EnabledHostFunction(
            ExecutorHostFunction::EccRfc163,
        ));
        assert_eq!(base.prep_hash(), runtime_only.prep_hash());
    }

    #[test]
    fn prep_hash_is_stable() {
        // Pinned to the reference (polkadot-primitives `prep_hash`: blake2_256 of b"prep" and the
        // encoded StackLogicalMax / WasmExtBulkMemory entries), computed outside Rust.
        // Changing these values invalidates every artifact on disk. The literals are
        // deliberately not recomputed from `blake2_256` here, so that any change to the hashing
        // scheme (hash function, encoding, which parameters count) fails this test.
        assert_eq!(
            ExecutorParams::new().prep_hash().0.to_hex(),
            "50b16a713c0f8774ba3a0757c722b48c6eb4c1972f6e58c54fd0851f21a08633"
        );
        // Every preparation-relevant parameter, plus timeouts (which must not count).
        let params = ExecutorParams(vec![
            ExecutorParam::MaxMemoryPages(8192),
            ExecutorParam::StackLogicalMax(65_536),
            ExecutorParam::PvfPrepTimeout(PvfPrepKind::Precheck, 60_000),
            ExecutorParam::StackNativeMax(256 * 1024 * 1024),
            ExecutorParam::PrecheckingMaxMemory(1 << 30),
            ExecutorParam::PvfExecTimeout(PvfExecKind::Backing, 2_000),
            ExecutorParam::WasmExtBulkMemory,
            ExecutorParam::EnabledHostFunction(ExecutorHostFunction::EccRfc163),
        ]);
        assert_eq!(
            params.prep_hash().0.to_hex(),
            "985951772c8431a84008c65be1c3b4e59ae50a9a33ba65e3b20ea956aae138cc"
        );
    }

    #[test]
    fn defaults_and_overrides() {
        let p = ExecutorParams::new();
        assert_eq!(p.memory_max_pages(), 2080);
        assert!(!p.wasm_bulk_memory() && !p.ecc_host_functions());
        assert_eq!(
            p.exec_timeout(PvfExecKind::Backing),
            DEFAULT_BACKING_TIMEOUT
        );
        assert_eq!(
            p.exec_timeout(PvfExecKind::Dispute),
            DEFAULT_APPROVAL_TIMEOUT
        );
        assert_eq!(
            p.prep_timeout(PvfPrepKind::Precheck),
            DEFAULT_PRECHECK_TIMEOUT
        );
        assert_eq!(p.prep_memory_limit(PvfPrepKind::Precheck), None);
        let p = ExecutorParams(vec![
            ExecutorParam::PvfExecTimeout(PvfExecKind::Approval, 5),
            ExecutorParam::PrecheckingMaxMemory(1 << 28),
        ]);
        assert_eq!(
            p.exec_timeout(PvfExecKind::Dispute),
            Duration::from_millis(5)
        );
        assert_eq!(p.prep_memory_limit(PvfPrepKind::Precheck), Some(1 << 28));
        assert_eq!(p.prep_memory_limit(PvfPrepKind::Prepare), None);
        // Timeouts: the first one counts; memory ceiling: the last one (+ 32 pages).
        let p = ExecutorParams(vec![
            ExecutorParam::PvfExecTimeout(PvfExecKind::Backing, 5),
            ExecutorParam::PvfExecTimeout(PvfExecKind::Backing, 9),
            ExecutorParam::MaxMemoryPages(100),
            ExecutorParam::MaxMemoryPages(200),
        ]);
        assert_eq!(
            p.exec_timeout(PvfExecKind::Backing),
            Duration::from_millis(5)
        );
        assert_eq!(p.memory_max_pages(), 232);
    }

    #[test]
    fn encoding_matches_polkadot_indices() {
        let p = ExecutorParams(vec![
            ExecutorParam::MaxMemoryPages(2),
            ExecutorParam::WasmExtBulkMemory,
            ExecutorParam::EnabledHostFunction(ExecutorHostFunction::EccRfc163),
        ]);
        assert_eq!(p.encode(), vec![12, 1, 2, 0, 0, 0, 7, 8, 1]);
    }
}
