//! Verdicts do not depend on how many workers run them, in which order, or whether the host
//! was restarted: a fixed corpus of candidates is validated several times with 1, 2 and 4
//! execute workers and across restarts, and every run must produce the same verdict digest.
//!
//! The corpus covers every kind of outcome a PVF can cause: valid candidates (adder, MVP
//! adder, undying with compute and PoV padding, a module that declares but never calls an
//! unknown import), invalid ones (a parent head that does not match the block, a block whose
//! state is wrong, a head that does not decode), traps (`unreachable`, a stale undying block,
//! an unknown import called, stack exhaustion, memory exhaustion, an out-of-bounds result), a
//! timeout (the halt PVF with a short budget, [`HALT_TIMEOUT`]), code that fails
//! to prepare, and float code that produces NaNs ([`nan_mix`]): the last is the classic
//! source of non-determinism between machines, which the engine's NaN canonicalisation must
//! remove.
//!
//! The digest is BLAKE3 over the SCALE encoding of `(candidate id, verdict class, detail)`
//! in corpus order, where the detail is the full SCALE-encoded `ValidationResult` of a
//! valid candidate and the typed error (e.g. `Invalid::HardTimeout`) otherwise. Error
//! messages are not hashed: they are for people, and the typed class is what a vote uses.
//!
//! Hosts, one after another: 1 execute worker on an empty cache, then restarts on the same
//! cache with 2 and 4 workers (which must prepare nothing: the artifacts and the recorded
//! preparation failure are reused), then 2 workers on another empty cache. Each host runs
//! [`ROUNDS`] rounds; a round submits the whole corpus at once, in a different shuffled order,
//! so that queueing and the worker each job lands on differ between rounds. Every verdict is
//! also checked against what the corpus says it must be.

use futures::future::join_all;
use parity_scale_codec::{Compact, Encode};
use pvf_messages::{
    BlockData, ExecutorParams, Hash, HeadData, PvfExecKind, PvfPrepKind, ValidationCode,
    ValidationError, ValidationParams, ValidationResult, host::PvfPrepData,
};
use pvf_subsystem::host::{self, Config, HostStats, ValidationHost};
use pvf_test_pvfs::{adder_chain, hostile};
use std::{path::Path, time::Duration};

/// Rounds per host.
const ROUNDS: u64 = 5;
/// The halt PVF's CPU budget. A hard timeout is a verdict only if the job used up its budget
/// before the host's wall clock (4 × the budget) ran out; a job that got less than a quarter
/// of a core in that time was starved, which the host reports as possibly invalid, not as a
/// verdict. The protocol would take 1 ms, but at that size scheduling noise on a loaded
/// 2-core machine (and the 10 ms granularity of the CPU time the host reads from `/proc`)
/// turns many runs into such stalls; 100 ms is short and leaves that to a machine that
/// cannot give a job 25 % of a core.
const HALT_TIMEOUT: Duration = Duration::from_millis(100);
/// How often a candidate with a possibly-invalid answer is asked again (see [`round`]).
const RESUBMITS: usize = 3;
/// Every other candidate's budget: the approval timeout, far more than any of them needs.
const TIMEOUT: Duration = pvf_messages::executor_params::DEFAULT_APPROVAL_TIMEOUT;

/// Where [`nan_mix`] keeps its result, and its operands.
const RESULT_AT: u32 = 16;
const OPERANDS_AT: u32 = 512;
/// Operand offsets from `OPERANDS_AT`, with their bit patterns.
const F32_ZERO: (u32, u32) = (0, 0);
const F32_MINUS_ONE: (u32, u32) = (4, 0xbf80_0000);
/// A signalling NaN with a payload.
const F32_SNAN: (u32, u32) = (8, 0x7fa0_0001);
const F32_ONE: (u32, u32) = (12, 0x3f80_0000);
const F32_INF: (u32, u32) = (16, 0x7f80_0000);
const F64_ZERO: (u32, u64) = (24, 0);
/// A negative quiet NaN with a payload.
const F64_NEG_NAN: (u32, u64) = (32, 0xfff8_0000_0000_1234);
const F64_INF: (u32, u64) = (40, 0x7ff0_0000_0000_0000);
/// A signalling NaN with a payload.
const F64_SNAN: (u32, u64) = (48, 0x7ff0_0000_dead_beef);

/// The canonical NaNs (positive, quiet, no payload) the engine must produce.
const CANONICAL_F32_NAN: u32 = 0x7fc0_0000;
const CANONICAL_F64_NAN: u64 = 0x7ff8_0000_0000_0000;

/// WAT expressions and the bits each must yield.
type Expressions<Bits> = Vec<(String, Bits)>;

/// The f32 and f64 expressions [`nan_mix`] evaluates, in head order, with the bits each must
/// yield under NaN canonicalisation.
fn nan_expressions() -> (Expressions<u32>, Expressions<u64>) {
    let f32_at = |(off, _): (u32, u32)| format!("(f32.load (i32.const {}))", OPERANDS_AT + off);
    let f64_at = |(off, _): (u32, u64)| format!("(f64.load (i32.const {}))", OPERANDS_AT + off);
    let (zero, minus_one, snan, one, inf) = (
        f32_at(F32_ZERO),
        f32_at(F32_MINUS_ONE),
        f32_at(F32_SNAN),
        f32_at(F32_ONE),
        f32_at(F32_INF),
    );
    let (zero64, neg_nan, inf64, snan64) = (
        f64_at(F64_ZERO),
        f64_at(F64_NEG_NAN),
        f64_at(F64_INF),
        f64_at(F64_SNAN),
    );
    let c32 = CANONICAL_F32_NAN;
    let c64 = CANONICAL_F64_NAN;
    let f32s = vec![
        (format!("(f32.div {zero} {zero})"), c32),
        (format!("(f32.sqrt {minus_one})"), c32),
        (format!("(f32.add {snan} {one})"), c32),
        (format!("(f32.demote_f64 {neg_nan})"), c32),
        (format!("(f32.mul {inf} {zero})"), c32),
        (format!("(f32.min {snan} {one})"), c32),
        // `neg` is a bit operation (not canonicalised): it flips the canonical NaN's sign.
        (
            format!("(f32.neg (f32.div {zero} {zero}))"),
            c32 | 0x8000_0000,
        ),
    ];
    let f64s = vec![
        (format!("(f64.div {zero64} {zero64})"), c64),
        (format!("(f64.sqrt (f64.promote_f32 {minus_one}))"), c64),
        (format!("(f64.promote_f32 {snan})"), c64),
        (format!("(f64.sub {inf64} {inf64})"), c64),
        (format!("(f64.add {neg_nan} {zero64})"), c64),
        (format!("(f64.floor {snan64})"), c64),
        (format!("(f64.max {neg_nan} {inf64})"), c64),
    ];
    (f32s, f64s)
}

/// `bytes` as a WAT data segment at `at`.
fn data_segment(at: u32, bytes: &[u8]) -> String {
    let escaped: String = bytes.iter().map(|b| format!("\\{b:02x}")).collect();
    format!(r#"(data (i32.const {at}) "{escaped}")"#)
}

/// A PVF whose `validate_block` computes NaNs in every way Wasm leaves open (0/0,
/// `sqrt(-1)`, ∞·0, ∞−∞, arithmetic on signalling and negative NaNs with payloads, `min`
/// and `max`, `floor`, f32↔f64 conversions) from operands in memory (so that no compiler
/// folds them) and returns their raw bit patterns as its head, watermark 0. Hardware
/// differs in the sign and payload of such NaNs (x86-64 produces negative ones and keeps
/// payloads); with canonicalisation every machine returns [`nan_mix_head`].
fn nan_mix() -> Vec<u8> {
    let (f32s, f64s) = nan_expressions();
    let head_len = 4 * f32s.len() + 8 * f64s.len();
    let result = ValidationResult {
        head_data: HeadData(vec![0; head_len]),
        ..Default::default()
    };
    let encoded = result.encode();
    let head_at = RESULT_AT + Compact(head_len as u32).encode().len() as u32;
    let mut operands = vec![0u8; 56];
    for (off, bits) in [F32_ZERO, F32_MINUS_ONE, F32_SNAN, F32_ONE, F32_INF] {
        operands[off as usize..][..4].copy_from_slice(&bits.to_le_bytes());
    }
    for (off, bits) in [F64_ZERO, F64_NEG_NAN, F64_INF, F64_SNAN] {
        operands[off as usize..][..8].copy_from_slice(&bits.to_le_bytes());
    }
    let mut body = String::new();
    let mut at = head_at;
    for (expr, _) in &f32s {
        body.push_str(&format!("(f32.store (i32.const {at}) {expr})\n"));
        at += 4;
    }
    for (expr, _) in &f64s {
        body.push_str(&format!("(f64.store (i32.const {at}) {expr})\n"));
        at += 8;
    }
    let packed = ((encoded.len() as u64) << 32) | u64::from(RESULT_AT);
    wat::parse_str(format!(
        r#"(module
          (memory (export "memory") 2)
          (global (export "__heap_base") i32 (i32.const 1024))
          {}
          {}
          (func (export "validate_block") (param i32 i32) (result i64)
            {body}
            (i64.const {packed})))"#,
        data_segment(RESULT_AT, &encoded),
        data_segment(OPERANDS_AT, &operands),
    ))
    .expect("the NaN module parses")
}

/// The head [`nan_mix`] must return: every NaN canonical (the negated one with its sign).
fn nan_mix_head() -> Vec<u8> {
    let (f32s, f64s) = nan_expressions();
    let mut head = Vec::new();
    for (_, bits) in f32s {
        head.extend_from_slice(&bits.to_le_bytes());
    }
    for (_, bits) in f64s {
        head.extend_from_slice(&bits.to_le_bytes());
    }
    head
}

/// What a candidate must get.
#[derive(Clone, Debug)]
enum Expect {
    Valid(ValidationResult),
    /// An error of this [`error_kind`], with this verdict class.
    Error(&'static str, &'static str),
}

struct Candidate {
    id: String,
    pvf: PvfPrepData,
    params: ValidationParams,
    timeout: Duration,
    expect: Expect,
}

fn params(parent: Vec<u8>, block: Vec<u8>, relay_parent_number: u32) -> ValidationParams {
    ValidationParams {
        parent_head: HeadData(parent),
        block_data: BlockData(block),
        relay_parent_number,
        relay_parent_storage_root: Hash::default(),
    }
}

fn head_only(head: Vec<u8>, hrmp_watermark: u32) -> Expect {
    Expect::Valid(ValidationResult {
        head_data: HeadData(head),
        hrmp_watermark,
        ..Default::default()
    })
}

/// The fixed corpus. Candidates of one PVF share its `PvfPrepData`.
fn corpus() -> Vec<Candidate> {
    let pvf = |code: &[u8]| {
        PvfPrepData::new(
            ValidationCode(code.to_vec()),
            ExecutorParams::default(),
            PvfPrepKind::Prepare,
        )
    };
    let (adder, adder_mvp, undying) = (
        pvf(pvf_test_pvfs::adder()),
        pvf(pvf_test_pvfs::adder_mvp()),
        pvf(pvf_test_pvfs::undying()),
    );
    let mut corpus = Vec::new();
    let mut add = |id: &str, pvf: &PvfPrepData, params, timeout, expect| {
        corpus.push(Candidate {
            id: id.to_string(),
            pvf: pvf.clone(),
            params,
            timeout,
            expect,
        })
    };
    const TRAP: Expect = Expect::Error("invalid", "Invalid::WorkerReportedInvalid");

    // An adder chain of four blocks, and the MVP adder on its first block.
    let mut head = adder_chain::genesis_head();
    let mut state = 0u64;
    for i in 0..4u32 {
        let block = adder_chain::BlockData {
            state,
            add: u64::from(i) * 1_000_003 + 1,
        };
        let next = adder_chain::next_head(&head, &block);
        let p = params(head.encode(), block.encode(), 10 + i);
        if i == 0 {
            add(
                "adder-mvp/valid",
                &adder_mvp,
                p.clone(),
                TIMEOUT,
                head_only(next.encode(), 10),
            );
        }
        add(
            &format!("adder/valid/{i}"),
            &adder,
            p,
            TIMEOUT,
            head_only(next.encode(), 10 + i),
        );
        head = next;
        state = state.wrapping_add(block.add);
    }
    // The block claims the right state, but the parent head is another chain's.
    let good_block = adder_chain::BlockData { state, add: 1 };
    let other_parent = adder_chain::HeadData {
        post_state: adder_chain::hash_state(state ^ 1),
        ..adder_chain::genesis_head()
    };
    add(
        "adder/bad-parent-head",
        &adder,
        params(other_parent.encode(), good_block.encode(), 20),
        TIMEOUT,
        TRAP,
    );
    let wrong_state = adder_chain::BlockData {
        state: state + 1,
        add: 1,
    };
    add(
        "adder/wrong-state",
        &adder,
        params(head.encode(), wrong_state.encode(), 21),
        TIMEOUT,
        TRAP,
    );
    add(
        "adder/undecodable-parent",
        &adder,
        params(vec![1, 2, 3], good_block.encode(), 22),
        TIMEOUT,
        TRAP,
    );

    // Undying with compute and a padded PoV, and a stale block.
    let genesis = adder_chain::genesis_head();
    let block = adder_chain::UndyingBlockData {
        state: 0,
        iterations: 2_000,
        padding: vec![0x5a; 64 * 1024],
    };
    add(
        "undying/valid",
        &undying,
        params(genesis.encode(), block.encode(), 30),
        TIMEOUT,
        head_only(
            adder_chain::undying_next_head(&genesis, &block).encode(),
            30,
        ),
    );
    let stale = adder_chain::UndyingBlockData {
        state: 7,
        iterations: 10,
        padding: Vec::new(),
    };
    add(
        "undying/stale",
        &undying,
        params(genesis.encode(), stale.encode(), 31),
        TIMEOUT,
        TRAP,
    );

    // Hand-written modules.
    let empty = || params(Vec::new(), Vec::new(), 40);
    for (id, code) in [
        ("hostile/trap", hostile::trap()),
        ("hostile/deep-recursion", hostile::deep_recursion()),
        ("hostile/memory-grow-bomb", hostile::memory_grow_bomb()),
        ("hostile/huge-result", hostile::huge_result()),
        (
            "hostile/unknown-import-called",
            hostile::unknown_import_called(),
        ),
    ] {
        add(id, &pvf(&code), empty(), TIMEOUT, TRAP);
    }
    add(
        "hostile/unknown-import-uncalled",
        &pvf(&hostile::unknown_import_uncalled()),
        empty(),
        TIMEOUT,
        head_only(hostile::UNKNOWN_IMPORT_UNCALLED_HEAD.to_vec(), 7),
    );
    add(
        "halt/timeout",
        &pvf(pvf_test_pvfs::halt()),
        empty(),
        HALT_TIMEOUT,
        Expect::Error("invalid", "Invalid::HardTimeout"),
    );
    add(
        "malformed/no-preparation",
        &pvf(&hostile::malformed()),
        empty(),
        TIMEOUT,
        Expect::Error("invalid", "Preparation::Prevalidation"),
    );

    // Float code producing NaNs.
    add(
        "float/nan",
        &pvf(&hostile::float_nan()),
        empty(),
        TIMEOUT,
        head_only(hostile::FLOAT_NAN_CANONICAL_HEAD.to_vec(), 0),
    );
    let nan_mix = pvf(&nan_mix());
    for i in 0..2 {
        add(
            &format!("float/nan-mix/{i}"),
            &nan_mix,
            params(vec![i], vec![i; 3], 50 + u32::from(i)),
            TIMEOUT,
            head_only(nan_mix_head(), 0),
        );
    }
    corpus
}

/// Distinct PVFs in the corpus (each is prepared once per empty cache).
fn distinct_pvfs(corpus: &[Candidate]) -> usize {
    let hashes: std::collections::BTreeSet<_> = corpus.iter().map(|c| c.pvf.code_hash).collect();
    hashes.len()
}

/// The typed error as `Outer::Inner` (e.g. `Invalid::HardTimeout`), without messages: the
/// leading identifiers of the first two levels of its `Debug` form.
fn error_kind(e: &ValidationError) -> String {
    let debug = format!("{e:?}");
    debug
        .split('(')
        .take(2)
        .map(|level| {
            level
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect::<Vec<_>>()
        .join("::")
}

/// `(class, detail)` of one outcome; the detail is what the digest covers.
fn verdict(outcome: &Result<ValidationResult, ValidationError>) -> (&'static str, Vec<u8>) {
    match outcome {
        Ok(result) => ("valid", result.encode()),
        Err(e) => (e.class().as_str(), error_kind(e).into_bytes()),
    }
}

fn check(candidate: &Candidate, outcome: &Result<ValidationResult, ValidationError>, at: &str) {
    let id = &candidate.id;
    match (&candidate.expect, outcome) {
        (Expect::Valid(expected), Ok(result)) => {
            assert_eq!(result, expected, "{id} ({at}): wrong result")
        }
        (Expect::Error(class, kind), Err(e)) => {
            assert_eq!(
                (e.class().as_str(), error_kind(e).as_str()),
                (*class, *kind),
                "{id} ({at}): {e:?}"
            )
        }
        (expect, outcome) => panic!("{id} ({at}): expected {expect:?}, got {outcome:?}"),
    }
}

/// A permutation of `0..n` from `seed` (xorshift64, Fisher–Yates).
fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    order
}

/// Submits the whole corpus at once in the order `seed` gives and returns the outcomes in
/// corpus order, and the candidates that were asked again. Approval and dispute alternate
/// (both are never dropped from the queue, and they compete for the workers with different
/// priorities).
///
/// A possibly-invalid answer is no verdict: a caller asks again, as candidate validation
/// does. Here such candidates are submitted again one at a time, up to [`RESUBMITS`] times,
/// and the last answer counts. (On a loaded machine the halt PVF's job may be starved of CPU
/// until the wall clock runs out, which the host reports as possibly invalid.) Every other
/// class is final at once.
async fn round(
    host: &ValidationHost,
    corpus: &[Candidate],
    seed: u64,
) -> (Vec<Result<ValidationResult, ValidationError>>, Vec<String>) {
    let kind = |i: usize| {
        if (i as u64 + seed).is_multiple_of(2) {
            PvfExecKind::Approval
        } else {
            PvfExecKind::Dispute
        }
    };
    let submit = |i: usize| {
        let c = &corpus[i];
        host.execute_pvf(c.pvf.clone(), c.params.clone(), c.timeout, kind(i), None)
    };
    let order = shuffled(corpus.len(), seed);
    let answers = join_all(order.iter().map(|&i| submit(i))).await;
    let mut outcomes: Vec<_> = (0..corpus.len()).map(|_| None).collect();
    for (&i, answer) in order.iter().zip(answers) {
        outcomes[i] = Some(answer);
    }
    let mut outcomes: Vec<_> = outcomes
        .into_iter()
        .map(|o| o.expect("every candidate answered"))
        .collect();
    let mut resubmitted = Vec::new();
    for (i, outcome) in outcomes.iter_mut().enumerate() {
        for _ in 0..RESUBMITS {
            if !matches!(outcome, Err(ValidationError::PossiblyInvalid(_))) {
                break;
            }
            resubmitted.push(corpus[i].id.clone());
            *outcome = submit(i).await;
        }
    }
    (outcomes, resubmitted)
}

/// BLAKE3 of the SCALE-encoded `(id, class, detail)` list, in corpus order, as hex.
fn digest(corpus: &[Candidate], outcomes: &[Result<ValidationResult, ValidationError>]) -> String {
    let entries: Vec<(&str, &str, Vec<u8>)> = corpus
        .iter()
        .zip(outcomes)
        .map(|(c, o)| {
            let (class, detail) = verdict(o);
            (c.id.as_str(), class, detail)
        })
        .collect();
    blake3::hash(&entries.encode()).to_hex().to_string()
}

/// Runs [`ROUNDS`] rounds on a new host with `workers` execute workers on `cache`; returns
/// the digest of each round and the host's counters.
async fn run_host(
    corpus: &[Candidate],
    cache: &Path,
    workers: usize,
    label: &str,
    seed: u64,
) -> (Vec<String>, HostStats) {
    let (host, running) = host::start(Config {
        workers_path: Some(pvf_tests::workers_dir()),
        cache_path: Some(cache.to_path_buf()),
        execute_workers: workers,
        retry_delay: Duration::from_millis(200),
        ..Config::default()
    })
    .expect("the host starts");
    let running = tokio::spawn(running);
    let mut digests = Vec::new();
    for r in 0..ROUNDS {
        let at = format!("{label}, round {r}");
        let (outcomes, resubmitted) = round(&host, corpus, seed * 100 + r).await;
        for (candidate, outcome) in corpus.iter().zip(&outcomes) {
            check(candidate, outcome, &at);
        }
        let d = digest(corpus, &outcomes);
        println!("{at}: {d}");
        if !resubmitted.is_empty() {
            println!("  asked again after a possibly-invalid answer: {resubmitted:?}");
        }
        digests.push(d);
    }
    let stats = host.stats();
    drop(host);
    running
        .await
        .expect("the host task does not panic")
        .expect("the host stops cleanly");
    (digests, stats)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_are_the_same_for_any_worker_count_order_and_restart() {
    let corpus = corpus();
    let pvfs = distinct_pvfs(&corpus);
    let warm = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let mut all = Vec::new();
    let hosts = [
        ("1 worker, empty cache", 1, warm.path(), true),
        (
            "2 workers, restart on the same cache",
            2,
            warm.path(),
            false,
        ),
        (
            "4 workers, restart on the same cache",
            4,
            warm.path(),
            false,
        ),
        ("2 workers, another empty cache", 2, other.path(), true),
    ];
    for (seed, (label, workers, cache, empty)) in (1..).zip(hosts) {
        let (digests, stats) = run_host(&corpus, cache, workers, label, seed).await;
        if empty {
            assert_eq!(stats.preparations, pvfs as u64, "{label}: {stats:?}");
            assert_eq!(stats.artifacts_reused_at_startup, 0, "{label}: {stats:?}");
        } else {
            assert_eq!(stats.preparations, 0, "{label}: {stats:?}");
            assert_eq!(
                stats.artifacts_reused_at_startup, pvfs as u64,
                "{label}: {stats:?}"
            );
        }
        all.extend(digests.into_iter().map(|d| (label, d)));
    }
    let (_, first) = &all[0];
    for (label, d) in &all {
        assert_eq!(d, first, "{label}: the verdict digest differs");
    }
    println!(
        "verdict digest of {} candidates over {} runs: {first}",
        corpus.len(),
        all.len()
    );
}

/// The expected NaN head is not what this machine's floating point gives natively, so the
/// assertion on it above really tests the engine's canonicalisation.
#[cfg(target_arch = "x86_64")]
#[test]
fn native_nans_here_are_not_canonical() {
    use std::hint::black_box;
    let div = black_box(0.0f32) / black_box(0.0f32);
    assert_ne!(div.to_bits(), CANONICAL_F32_NAN, "x86-64 produces -NaN");
    let quieted = f32::from_bits(black_box(F32_SNAN.1)) + black_box(1.0f32);
    assert_ne!(
        quieted.to_bits(),
        CANONICAL_F32_NAN,
        "x86-64 keeps payloads"
    );
    let div64 = black_box(0.0f64) / black_box(0.0f64);
    assert_ne!(div64.to_bits(), CANONICAL_F64_NAN);
}
