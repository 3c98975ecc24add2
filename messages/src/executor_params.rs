//! Executor parameters: per-session knobs that change how PVFs are prepared and executed.
//!
//! The encoding matches Polkadot's `ExecutorParams` (a SCALE vector of indexed variants),
//! so parameters read from a relay chain decode unchanged. Defaults are the reference's.

use crate::primitives::{Hash, PvfExecKind, PvfPrepKind, blake2_256};
use parity_scale_codec::{Decode, Encode};
use std::time::Duration;

/// Extra Wasm pages the host grants on top of a module's initial memory (32 + 2048).
pub const DEFAULT_EXTRA_HEAP_PAGES: u32 = 2080;
/// Logical stack limit in Wasm values (recorded; see [`ExecutorParams::stack_logical_max`]).
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
    /// Enables the bulk-memory extension (always on here: it is deterministic and what
    /// current Rust emits; the parameter is accepted for compatibility).
    #[codec(index = 7)]
    WasmExtBulkMemory,
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

    fn find<T>(&self, f: impl Fn(&ExecutorParam) -> Option<T>) -> Option<T> {
        self.0.iter().rev().find_map(f)
    }

    /// The hash of the preparation-relevant subset (everything but timeouts), stable across
    /// releases: BLAKE2b-256 of the SCALE encoding of those parameters in their given order.
    pub fn prep_hash(&self) -> PrepParamsHash {
        let relevant: Vec<&ExecutorParam> = self
            .0
            .iter()
            .filter(|p| {
                !matches!(
                    p,
                    ExecutorParam::PvfPrepTimeout(..) | ExecutorParam::PvfExecTimeout(..)
                )
            })
            .collect();
        PrepParamsHash(blake2_256(&relevant.encode()))
    }

    /// Hard cap on linear memory in pages, if set.
    pub fn max_memory_pages(&self) -> Option<u32> {
        self.find(|p| match p {
            ExecutorParam::MaxMemoryPages(n) => Some(*n),
            _ => None,
        })
    }

    /// Logical stack limit in values. Recorded in the preparation hash; the engine enforces
    /// the native limit (see `workers/src/engine.rs` for why no logical instrumentation yet).
    pub fn stack_logical_max(&self) -> u32 {
        self.find(|p| match p {
            ExecutorParam::StackLogicalMax(n) => Some(*n),
            _ => None,
        })
        .unwrap_or(DEFAULT_STACK_LOGICAL_MAX)
    }

    /// Native stack limit for Wasm code, in bytes.
    pub fn stack_native_max(&self) -> u32 {
        self.find(|p| match p {
            ExecutorParam::StackNativeMax(n) => Some(*n),
            _ => None,
        })
        .unwrap_or(DEFAULT_STACK_NATIVE_MAX)
    }

    /// Memory limit for a preparation job of this kind, if any. Like the reference, the
    /// limit applies to pre-checking only.
    pub fn prep_memory_limit(&self, kind: PvfPrepKind) -> Option<u64> {
        match kind {
            PvfPrepKind::Precheck => self.find(|p| match p {
                ExecutorParam::PrecheckingMaxMemory(n) => Some(*n),
                _ => None,
            }),
            PvfPrepKind::Prepare => None,
        }
    }

    /// CPU-time budget of a preparation of this kind.
    pub fn prep_timeout(&self, kind: PvfPrepKind) -> Duration {
        self.find(|p| match p {
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
            k => k,
        };
        self.find(|p| match p {
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
        let base = ExecutorParams(vec![ExecutorParam::MaxMemoryPages(100)]);
        let mut with_timeouts = base.clone();
        with_timeouts
            .0
            .push(ExecutorParam::PvfExecTimeout(PvfExecKind::Backing, 1));
        with_timeouts
            .0
            .push(ExecutorParam::PvfPrepTimeout(PvfPrepKind::Precheck, 1));
        assert_eq!(base.prep_hash(), with_timeouts.prep_hash());
        let other = ExecutorParams(vec![ExecutorParam::MaxMemoryPages(101)]);
        assert_ne!(base.prep_hash(), other.prep_hash());
    }

    #[test]
    fn prep_hash_is_stable() {
        // Pinned: changing these values invalidates every artifact on disk. The literals are
        // deliberately not recomputed from `blake2_256` here, so that any change to the hashing
        // scheme (hash function, encoding, which parameters count) fails this test.
        assert_eq!(
            ExecutorParams::new().prep_hash().0.to_hex(),
            "03170a2e7597b7b7e3d84c05391d139a62b157e78786d8c082f29dcf4c111314"
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
        ]);
        assert_eq!(
            params.prep_hash().0.to_hex(),
            "8a9e9587ff7ee7ce11b8ccc26b6e784b96f3e141f503ee8ef482f521150e76df"
        );
    }

    #[test]
    fn defaults_and_overrides() {
        let p = ExecutorParams::new();
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
    }

    #[test]
    fn encoding_matches_polkadot_indices() {
        let p = ExecutorParams(vec![
            ExecutorParam::MaxMemoryPages(2),
            ExecutorParam::WasmExtBulkMemory,
        ]);
        assert_eq!(p.encode(), vec![8, 1, 2, 0, 0, 0, 7]);
    }
}
