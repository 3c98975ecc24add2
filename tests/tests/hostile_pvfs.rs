//! Every hostile PVF through the real prepare and execute workers, with the verdict class a
//! correct host must give it.

use parity_scale_codec::{Decode, Encode};
use pvf_messages::{
    BlockData, ExecutorParams, Hash, HeadData, InvalidCandidate, PrepareError, ValidationCode,
    ValidationError, ValidationParams, VerdictClass,
};
use pvf_subsystem::host::{Host, Validated};
use pvf_test_pvfs::{adder_chain, hostile};
use std::time::{Duration, Instant};

fn params(parent: Vec<u8>, block: Vec<u8>) -> ValidationParams {
    ValidationParams {
        parent_head: HeadData(parent),
        block_data: BlockData(block),
        relay_parent_number: 1,
        relay_parent_storage_root: Hash::default(),
    }
}

fn validate(host: &Host, code: Vec<u8>, timeout: Duration) -> Result<Validated, ValidationError> {
    pvf_tests::runtime().block_on(host.validate(
        &ValidationCode(code),
        &params(Vec::new(), Vec::new()),
        &ExecutorParams::default(),
        timeout,
    ))
}

fn class(r: &Result<Validated, ValidationError>) -> VerdictClass {
    match r {
        Ok(_) => VerdictClass::Valid,
        Err(e) => e.class(),
    }
}

#[track_caller]
fn expect_invalid_execution(name: &str, code: Vec<u8>) -> String {
    let cache = tempfile::tempdir().unwrap();
    let host = pvf_tests::host(cache.path());
    let r = validate(&host, code, Duration::from_secs(2));
    match r {
        Err(ValidationError::Invalid(InvalidCandidate::WorkerReportedInvalid(msg))) => msg,
        other => panic!("{name}: expected a trap reported as invalid, got {other:?}"),
    }
}

#[track_caller]
fn expect_rejected_at_preparation(name: &str, code: Vec<u8>) -> String {
    let cache = tempfile::tempdir().unwrap();
    let host = pvf_tests::host(cache.path());
    let r = validate(&host, code, Duration::from_secs(2));
    assert_eq!(class(&r), VerdictClass::Invalid, "{name}: {r:?}");
    match r {
        Err(ValidationError::Preparation(e @ PrepareError::Prevalidation(_))) => e.to_string(),
        other => panic!("{name}: expected a deterministic preparation error, got {other:?}"),
    }
}

#[track_caller]
fn expect_valid(name: &str, code: Vec<u8>) -> Validated {
    let cache = tempfile::tempdir().unwrap();
    let host = pvf_tests::host(cache.path());
    validate(&host, code, Duration::from_secs(2))
        .unwrap_or_else(|e| panic!("{name}: expected valid, got {e:?}"))
}

#[test]
fn trap_is_invalid() {
    let msg = expect_invalid_execution("trap", hostile::trap());
    assert!(msg.contains("unreachable"), "{msg}");
}

#[test]
fn memory_grow_bomb_is_invalid_not_an_oom_kill() {
    expect_invalid_execution("memory_grow_bomb", hostile::memory_grow_bomb());
}

#[test]
fn alloc_bomb_is_invalid() {
    expect_invalid_execution("alloc_bomb", hostile::alloc_bomb());
}

/// The logical stack limit instrumented into the module (the reference's) stops the
/// recursion with `unreachable`, at the same depth on every machine, long before the native
/// stack would overflow.
#[test]
fn deep_recursion_is_invalid_not_a_crash() {
    let msg = expect_invalid_execution("deep_recursion", hostile::deep_recursion());
    assert!(msg.contains("unreachable"), "{msg}");
}

#[test]
fn huge_result_is_invalid() {
    let msg = expect_invalid_execution("huge_result", hostile::huge_result());
    assert!(
        msg.contains("outside memory") || msg.contains("exceeds"),
        "{msg}"
    );
}

#[test]
fn unknown_import_traps_only_when_called() {
    expect_invalid_execution("unknown_import_called", hostile::unknown_import_called());
    let v = expect_valid(
        "unknown_import_uncalled",
        hostile::unknown_import_uncalled(),
    );
    assert_eq!(v.result.head_data.0, hostile::UNKNOWN_IMPORT_UNCALLED_HEAD);
    assert_eq!(v.result.hrmp_watermark, 7);
}

/// What the module parser cannot read is rejected at preparation; an ABI defect in a module
/// that parses shows when a candidate runs, as in the reference (whose pre-check accepts it).
#[test]
fn structural_defects_are_rejected_where_the_reference_rejects_them() {
    for (name, code) in [
        ("malformed", hostile::malformed()),
        ("truncated", hostile::truncated()),
    ] {
        let msg = expect_rejected_at_preparation(name, code);
        assert!(msg.contains("cannot deserialize module"), "{name}: {msg}");
        assert!(!msg.contains('\n'), "{name}: error spans lines: {msg}");
    }
    for (name, code, needle) in [
        (
            "missing_validate_block",
            hostile::missing_validate_block(),
            "validate_block is not found",
        ),
        (
            "ill_typed_validate_block",
            hostile::ill_typed_validate_block(),
            "invalid signature",
        ),
    ] {
        let msg = expect_invalid_execution(name, code);
        assert!(msg.contains(needle), "{name}: {msg}");
    }
}

#[test]
fn features_outside_the_accepted_set_are_rejected() {
    for (name, code) in [
        ("simd", hostile::uses_simd()),
        ("threads", hostile::uses_threads()),
        ("memory64", hostile::uses_memory64()),
    ] {
        expect_rejected_at_preparation(name, code);
    }
}

/// Current Rust's default output for `wasm32-unknown-unknown` (bulk memory, sign extension)
/// is rejected by the published reference's parser, so it is rejected here: a module valid
/// on one validator and invalid on another is a dispute.
#[test]
fn what_rust_emits_by_default_is_rejected_as_by_the_reference() {
    for (name, code) in [
        (
            "bulk_memory_and_sign_ext",
            hostile::uses_bulk_memory_and_sign_ext(),
        ),
        (
            "adder_rust_default",
            pvf_test_pvfs::adder_rust_default().to_vec(),
        ),
    ] {
        let msg = expect_rejected_at_preparation(name, code);
        assert!(msg.contains("UnknownOpcode"), "{name}: {msg}");
    }
}

#[test]
fn nans_are_canonical() {
    let v = expect_valid("float_nan", hostile::float_nan());
    assert_eq!(v.result.head_data.0, hostile::FLOAT_NAN_CANONICAL_HEAD);
}

#[test]
fn compile_heavy_module_prepares_and_runs() {
    let v = expect_valid(
        "compile_heavy",
        hostile::compile_heavy(hostile::COMPILE_HEAVY_DEFAULT_FUNCTIONS),
    );
    assert_eq!(v.result.head_data.0, hostile::COMPILE_HEAVY_HEAD);
}

#[test]
fn halting_pvf_times_out_as_invalid_within_the_wall_clock_bound() {
    let cache = tempfile::tempdir().unwrap();
    let host = pvf_tests::host(cache.path());
    let rt = pvf_tests::runtime();
    let prepared = rt
        .block_on(host.prepare(
            &ValidationCode(pvf_test_pvfs::halt().to_vec()),
            &ExecutorParams::default(),
            pvf_messages::PvfPrepKind::Prepare,
        ))
        .unwrap();
    let timeout = Duration::from_millis(300);
    let vp = params(Vec::new(), Vec::new());
    let executor_params = ExecutorParams::default();
    let (r, took) = rt.block_on(async {
        let mut worker = host
            .spawn(pvf_messages::protocol::WorkerKind::Execute)
            .await
            .unwrap();
        let start = Instant::now();
        let r = pvf_subsystem::host::execute_on(
            &mut worker,
            &prepared.path,
            &vp,
            &executor_params,
            timeout,
        )
        .await;
        (r, start.elapsed())
    });
    assert!(
        matches!(
            r,
            Err(ValidationError::Invalid(InvalidCandidate::HardTimeout))
        ),
        "{r:?}"
    );
    assert!(took >= timeout, "answered before the timeout: {took:?}");
    // CPU time is enforced in the worker; on a loaded machine it accrues slower than wall
    // time, and the host's wall-clock limit (4 x) answers instead. Either way the answer
    // comes within 4 x the timeout, plus the time to kill and reap the worker.
    let bound = timeout * 4 + Duration::from_millis(200);
    assert!(took < bound, "took {took:?}, more than {bound:?}");
}

#[test]
fn adder_chain_valid_and_invalid_blocks() {
    for (name, code) in [
        ("adder", pvf_test_pvfs::adder()),
        ("adder_mvp", pvf_test_pvfs::adder_mvp()),
    ] {
        let cache = tempfile::tempdir().unwrap();
        let host = pvf_tests::host(cache.path());
        let rt = pvf_tests::runtime();
        let executor_params = ExecutorParams::default();
        let prepared = rt
            .block_on(host.prepare(
                &ValidationCode(code.to_vec()),
                &executor_params,
                pvf_messages::PvfPrepKind::Prepare,
            ))
            .unwrap();
        let parent = adder_chain::genesis_head();
        let block = adder_chain::BlockData { state: 0, add: 41 };
        let v = rt
            .block_on(host.execute(
                &prepared.path,
                &params(parent.encode(), block.encode()),
                &executor_params,
                Duration::from_secs(2),
            ))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let head = adder_chain::HeadData::decode(&mut &v.result.head_data.0[..]).unwrap();
        assert_eq!(head, adder_chain::next_head(&parent, &block), "{name}");

        let wrong = adder_chain::BlockData { state: 1, add: 41 };
        let r = rt.block_on(host.execute(
            &prepared.path,
            &params(parent.encode(), wrong.encode()),
            &executor_params,
            Duration::from_secs(2),
        ));
        assert!(
            matches!(
                r,
                Err(ValidationError::Invalid(
                    InvalidCandidate::WorkerReportedInvalid(_)
                ))
            ),
            "{name}: {r:?}"
        );
    }
}

#[test]
fn undying_with_a_large_pov_and_heavy_compute() {
    let cache = tempfile::tempdir().unwrap();
    let host = pvf_tests::host(cache.path());
    let rt = pvf_tests::runtime();
    let executor_params = ExecutorParams::default();
    let prepared = rt
        .block_on(host.prepare(
            &ValidationCode(pvf_test_pvfs::undying().to_vec()),
            &executor_params,
            pvf_messages::PvfPrepKind::Prepare,
        ))
        .unwrap();
    let parent = adder_chain::genesis_head();
    let block = adder_chain::UndyingBlockData {
        state: 0,
        iterations: 20_000,
        padding: vec![0x5a; 4 << 20],
    };
    let v = rt
        .block_on(host.execute(
            &prepared.path,
            &params(parent.encode(), block.encode()),
            &executor_params,
            Duration::from_secs(2),
        ))
        .unwrap();
    let head = adder_chain::HeadData::decode(&mut &v.result.head_data.0[..]).unwrap();
    assert_eq!(head, adder_chain::undying_next_head(&parent, &block));

    let endless = adder_chain::UndyingBlockData {
        state: 0,
        iterations: u32::MAX,
        padding: Vec::new(),
    };
    let r = rt.block_on(host.execute(
        &prepared.path,
        &params(parent.encode(), endless.encode()),
        &executor_params,
        Duration::from_millis(200),
    ));
    assert!(
        matches!(
            r,
            Err(ValidationError::Invalid(InvalidCandidate::HardTimeout))
        ),
        "{r:?}"
    );
}
