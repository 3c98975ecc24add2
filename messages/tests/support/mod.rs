//! Shared by the fuzz targets (`messages/tests/fuzz.rs`, `subsystem/tests/fuzz_*.rs`, which
//! include this file by path): proptest strategies for every SCALE type of `pvf_messages`, the
//! proptest configuration (case count overridable with `PROPTEST_CASES`), and the corpus in
//! `messages/tests/corpus/`.
//!
//! Strategies live here rather than in the library so that the library carries no proptest
//! code. Byte vectors and strings are kept short: the decoders' behaviour does not depend on
//! payload size beyond the length prefix, and short values keep a case in microseconds.

#![allow(dead_code)] // each including test uses a different subset

use parity_scale_codec::Encode;
use proptest::{collection::vec, option, prelude::*, test_runner::Config};
use pvf_messages::{
    BlockData, ExecutorParam, ExecutorParams, Hash, HeadData, InternalValidationError,
    InvalidCandidate, OutboundHrmpMessage, PersistedValidationData, PoV, PossiblyInvalidError,
    PrepParamsHash, PrepareError, PvfExecKind, PvfPrepKind, ValidationCode, ValidationCodeHash,
    ValidationError, ValidationParams, ValidationResult,
    candidate_validation::{CandidateCommitments, CandidateDescriptor, CandidateReceipt},
    frame::{FrameError, HEADER_LEN, MAX_FRAME_LEN},
    protocol::{
        CgroupSettings, ExecuteRequest, ExecuteResponse, Handshake, HandshakeReply,
        JobNamespaceSettings, PrepareMemoryStats, PrepareRequest, PrepareResponse, PrepareSuccess,
        SecuritySettings, WorkerInfo, WorkerKind,
    },
};
use std::path::{Path, PathBuf};

/// The proptest configuration of every fuzz target: `cases` unless `PROPTEST_CASES` (or any
/// other `PROPTEST_*` variable) says otherwise. No failure persistence: a failure prints its
/// minimal input, which belongs in the corpus (see `docs/fuzzing.md`).
pub fn config(cases: u32) -> Config {
    proptest::test_runner::contextualize_config(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

pub fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max)
}

/// Short strings, non-ASCII included (SCALE checks UTF-8 when decoding).
pub fn text() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

pub fn hash() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>().prop_map(Hash)
}

pub fn validation_code() -> impl Strategy<Value = ValidationCode> {
    bytes(24).prop_map(ValidationCode)
}

pub fn validation_code_hash() -> impl Strategy<Value = ValidationCodeHash> {
    hash().prop_map(ValidationCodeHash)
}

pub fn head_data() -> impl Strategy<Value = HeadData> {
    bytes(24).prop_map(HeadData)
}

pub fn block_data() -> impl Strategy<Value = BlockData> {
    bytes(24).prop_map(BlockData)
}

pub fn pov() -> impl Strategy<Value = PoV> {
    block_data().prop_map(|block_data| PoV { block_data })
}

pub fn persisted_validation_data() -> impl Strategy<Value = PersistedValidationData> {
    (head_data(), any::<u32>(), hash(), any::<u32>()).prop_map(
        |(parent_head, relay_parent_number, relay_parent_storage_root, max_pov_size)| {
            PersistedValidationData {
                parent_head,
                relay_parent_number,
                relay_parent_storage_root,
                max_pov_size,
            }
        },
    )
}

pub fn validation_params() -> impl Strategy<Value = ValidationParams> {
    (head_data(), block_data(), any::<u32>(), hash()).prop_map(
        |(parent_head, block_data, relay_parent_number, relay_parent_storage_root)| {
            ValidationParams {
                parent_head,
                block_data,
                relay_parent_number,
                relay_parent_storage_root,
            }
        },
    )
}

pub fn outbound_hrmp_message() -> impl Strategy<Value = OutboundHrmpMessage> {
    (any::<u32>(), bytes(8)).prop_map(|(recipient, data)| OutboundHrmpMessage { recipient, data })
}

pub fn validation_result() -> impl Strategy<Value = ValidationResult> {
    (
        head_data(),
        option::of(validation_code()),
        vec(bytes(8), 0..4),
        vec(outbound_hrmp_message(), 0..4),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            |(
                head_data,
                new_validation_code,
                upward_messages,
                horizontal_messages,
                processed_downward_messages,
                hrmp_watermark,
            )| ValidationResult {
                head_data,
                new_validation_code,
                upward_messages,
                horizontal_messages,
                processed_downward_messages,
                hrmp_watermark,
            },
        )
}

pub fn prep_kind() -> impl Strategy<Value = PvfPrepKind> {
    prop_oneof![Just(PvfPrepKind::Precheck), Just(PvfPrepKind::Prepare)]
}

pub fn exec_kind() -> impl Strategy<Value = PvfExecKind> {
    prop_oneof![
        Just(PvfExecKind::Backing),
        Just(PvfExecKind::Approval),
        Just(PvfExecKind::Dispute)
    ]
}

pub fn executor_param() -> impl Strategy<Value = ExecutorParam> {
    prop_oneof![
        any::<u32>().prop_map(ExecutorParam::MaxMemoryPages),
        any::<u32>().prop_map(ExecutorParam::StackLogicalMax),
        any::<u32>().prop_map(ExecutorParam::StackNativeMax),
        any::<u64>().prop_map(ExecutorParam::PrecheckingMaxMemory),
        (prep_kind(), any::<u64>()).prop_map(|(k, ms)| ExecutorParam::PvfPrepTimeout(k, ms)),
        (exec_kind(), any::<u64>()).prop_map(|(k, ms)| ExecutorParam::PvfExecTimeout(k, ms)),
        Just(ExecutorParam::WasmExtBulkMemory),
        Just(ExecutorParam::EnabledHostFunction(
            pvf_messages::ExecutorHostFunction::EccRfc163
        )),
    ]
}

pub fn executor_params() -> impl Strategy<Value = ExecutorParams> {
    vec(executor_param(), 0..5).prop_map(ExecutorParams)
}

pub fn prep_params_hash() -> impl Strategy<Value = PrepParamsHash> {
    hash().prop_map(PrepParamsHash)
}

pub fn prepare_error() -> impl Strategy<Value = PrepareError> {
    prop_oneof![
        text().prop_map(PrepareError::Prevalidation),
        text().prop_map(PrepareError::Preparation),
        text().prop_map(PrepareError::JobError),
        any::<u64>().prop_map(|limit| PrepareError::OutOfMemory { limit }),
        Just(PrepareError::TimedOut),
        text().prop_map(PrepareError::RuntimeConstruction),
        text().prop_map(PrepareError::IoErr),
        text().prop_map(PrepareError::JobDied),
        text().prop_map(PrepareError::CreateTmpFile),
        text().prop_map(PrepareError::RenameTmpFile),
        text().prop_map(PrepareError::ClearWorkerDir),
        text().prop_map(PrepareError::Kernel),
        text().prop_map(PrepareError::WorkerFailed),
    ]
}

pub fn invalid_candidate() -> impl Strategy<Value = InvalidCandidate> {
    prop_oneof![
        text().prop_map(InvalidCandidate::WorkerReportedInvalid),
        Just(InvalidCandidate::HardTimeout),
        text().prop_map(InvalidCandidate::PrepareError),
    ]
}

pub fn possibly_invalid_error() -> impl Strategy<Value = PossiblyInvalidError> {
    prop_oneof![
        Just(PossiblyInvalidError::AmbiguousWorkerDeath),
        text().prop_map(PossiblyInvalidError::AmbiguousJobDeath),
        text().prop_map(PossiblyInvalidError::JobError),
        text().prop_map(PossiblyInvalidError::RuntimeConstruction),
    ]
}

pub fn internal_validation_error() -> impl Strategy<Value = InternalValidationError> {
    prop_oneof![
        text().prop_map(InternalValidationError::WorkerNotFound),
        text().prop_map(InternalValidationError::WorkerSpawn),
        (text(), text())
            .prop_map(|(node, worker)| InternalValidationError::VersionMismatch { node, worker }),
        text().prop_map(InternalValidationError::HostCommunication),
        text().prop_map(InternalValidationError::Io),
        text().prop_map(InternalValidationError::Kernel),
        text().prop_map(InternalValidationError::Sandbox),
        text().prop_map(InternalValidationError::CorruptedArtifact),
        text().prop_map(InternalValidationError::JobStalled),
    ]
}

pub fn validation_error() -> impl Strategy<Value = ValidationError> {
    prop_oneof![
        prepare_error().prop_map(ValidationError::Preparation),
        invalid_candidate().prop_map(ValidationError::Invalid),
        possibly_invalid_error().prop_map(ValidationError::PossiblyInvalid),
        internal_validation_error().prop_map(ValidationError::Internal),
        Just(ValidationError::ExecutionDeadline),
    ]
}

pub fn worker_kind() -> impl Strategy<Value = WorkerKind> {
    prop_oneof![Just(WorkerKind::Prepare), Just(WorkerKind::Execute)]
}

pub fn job_namespace_settings() -> impl Strategy<Value = JobNamespaceSettings> {
    any::<[bool; 6]>().prop_map(|b| JobNamespaceSettings {
        user: b[0],
        mount: b[1],
        pid: b[2],
        ipc: b[3],
        uts: b[4],
        cgroup: b[5],
    })
}

pub fn security_settings() -> impl Strategy<Value = SecuritySettings> {
    (any::<[bool; 5]>(), job_namespace_settings()).prop_map(|(b, job_namespaces)| {
        SecuritySettings {
            secure_validator_mode: b[0],
            landlock: b[1],
            seccomp: b[2],
            net_namespace: b[3],
            pivot_root: b[4],
            job_namespaces,
        }
    })
}

pub fn cgroup_settings() -> impl Strategy<Value = CgroupSettings> {
    (
        vec(text(), 0..3),
        option::of(any::<u64>()),
        option::of(any::<u64>()),
    )
        .prop_map(|(parents, pids_max, memory_max)| CgroupSettings {
            parents,
            pids_max,
            memory_max,
        })
}

pub fn handshake() -> impl Strategy<Value = Handshake> {
    (
        (worker_kind(), text(), text()),
        security_settings(),
        text(),
        cgroup_settings(),
        any::<bool>(),
    )
        .prop_map(
            |(
                (kind, node_version, build_id),
                security,
                artifacts_dir,
                cgroup,
                skip_version_check,
            )| {
                Handshake {
                    kind,
                    node_version,
                    build_id,
                    security,
                    artifacts_dir,
                    cgroup,
                    skip_version_check,
                }
            },
        )
}

pub fn worker_info() -> impl Strategy<Value = WorkerInfo> {
    (any::<u32>(), text(), text()).prop_map(|(pid, version, build_id)| WorkerInfo {
        pid,
        version,
        build_id,
    })
}

pub fn handshake_reply() -> impl Strategy<Value = HandshakeReply> {
    prop_oneof![
        worker_info().prop_map(HandshakeReply::Ready),
        worker_info().prop_map(HandshakeReply::VersionMismatch),
        worker_kind().prop_map(|serves| HandshakeReply::WrongKind { serves }),
        text().prop_map(HandshakeReply::SandboxFailed),
    ]
}

pub fn prepare_request() -> impl Strategy<Value = PrepareRequest> {
    (bytes(32), executor_params(), prep_kind(), any::<u64>()).prop_map(
        |(code, executor_params, kind, cpu_timeout_ms)| PrepareRequest {
            code,
            code_bomb_limit: 1 << 20,
            executor_params,
            kind,
            cpu_timeout_ms,
        },
    )
}

pub fn prepare_memory_stats() -> impl Strategy<Value = PrepareMemoryStats> {
    (any::<u64>(), any::<u64>()).prop_map(|(peak_tracked_bytes, max_rss_bytes)| {
        PrepareMemoryStats {
            peak_tracked_bytes,
            max_rss_bytes,
        }
    })
}

pub fn prepare_success() -> impl Strategy<Value = PrepareSuccess> {
    (any::<u64>(), any::<u64>(), prepare_memory_stats()).prop_map(
        |(artifact_len, cpu_time_ns, memory)| PrepareSuccess {
            artifact_len,
            cpu_time_ns,
            memory,
        },
    )
}

pub fn prepare_response() -> impl Strategy<Value = PrepareResponse> {
    prop_oneof![
        prepare_success().prop_map(Ok),
        prepare_error().prop_map(Err),
    ]
}

pub fn execute_request() -> impl Strategy<Value = ExecuteRequest> {
    (text(), bytes(32), executor_params(), any::<u64>(), text()).prop_map(
        |(artifact_path, params, executor_params, cpu_timeout_ms, artifact_checksum)| {
            ExecuteRequest {
                artifact_path,
                params,
                executor_params,
                cpu_timeout_ms,
                artifact_checksum,
            }
        },
    )
}

pub fn execute_response() -> impl Strategy<Value = ExecuteResponse> {
    prop_oneof![
        (validation_result(), any::<u64>()).prop_map(|(result, cpu_time_ns)| ExecuteResponse::Ok {
            result,
            cpu_time_ns
        }),
        text().prop_map(ExecuteResponse::Invalid),
        any::<u64>().prop_map(|cpu_time_ns| ExecuteResponse::TimedOut { cpu_time_ns }),
        text().prop_map(ExecuteResponse::RuntimeConstruction),
        text().prop_map(ExecuteResponse::JobError),
        text().prop_map(ExecuteResponse::JobDied),
        text().prop_map(ExecuteResponse::Internal),
        Just(ExecuteResponse::CorruptedArtifact),
    ]
}

pub fn candidate_descriptor() -> impl Strategy<Value = CandidateDescriptor> {
    (
        any::<u32>(),
        hash(),
        hash(),
        hash(),
        hash(),
        hash(),
        validation_code_hash(),
    )
        .prop_map(
            |(
                para_id,
                relay_parent,
                persisted_validation_data_hash,
                pov_hash,
                erasure_root,
                para_head,
                validation_code_hash,
            )| CandidateDescriptor {
                para_id,
                relay_parent,
                persisted_validation_data_hash,
                pov_hash,
                erasure_root,
                para_head,
                validation_code_hash,
            },
        )
}

pub fn candidate_commitments() -> impl Strategy<Value = CandidateCommitments> {
    validation_result().prop_map(CandidateCommitments::from)
}

pub fn candidate_receipt() -> impl Strategy<Value = CandidateReceipt> {
    (candidate_descriptor(), hash()).prop_map(|(descriptor, commitments_hash)| CandidateReceipt {
        descriptor,
        commitments_hash,
    })
}

// ---------------------------------------------------------------------------------------------
// Byte streams and frames
// ---------------------------------------------------------------------------------------------

/// A frame header announcing `len` bytes.
pub fn header(len: u32) -> [u8; HEADER_LEN] {
    len.to_le_bytes()
}

/// `msg` framed as it travels on the socket.
pub fn frame_of<T: Encode>(msg: &T) -> Vec<u8> {
    pvf_messages::frame::encode_frame(msg).expect("test values are far below the frame cap")
}

/// Streams that reach every branch of a frame reader, not only "header claims gigabytes"
/// (which is what most uniformly random prefixes announce): empty, short, plausible headers
/// with short, exact and long payloads, over-long headers, and uniformly random bytes.
pub fn stream() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        bytes(HEADER_LEN + 2),
        (0u32..48, bytes(64)).prop_map(|(len, rest)| [&header(len)[..], &rest].concat()),
        ((MAX_FRAME_LEN + 1).., bytes(16))
            .prop_map(|(len, rest)| [&header(len)[..], &rest].concat()),
        ((MAX_FRAME_LEN - 2)..=MAX_FRAME_LEN, bytes(16)).prop_map(|(len, rest)| [
            &header(len)[..],
            &rest
        ]
        .concat()),
        bytes(256),
    ]
}

/// Streams built from a valid frame of `msg`, then possibly cut short, given a few
/// flipped bits and a tail of other bytes: the near misses a worker with a bug would send.
pub fn mutated_frame<T: Encode + std::fmt::Debug>(
    msg: impl Strategy<Value = T>,
) -> impl Strategy<Value = Vec<u8>> {
    (
        msg,
        any::<prop::sample::Index>(),
        vec((any::<prop::sample::Index>(), 0u8..8), 0..3),
        bytes(8),
        0u8..4,
    )
        .prop_map(|(msg, cut, flips, tail, how)| {
            let mut f = frame_of(&msg);
            match how {
                0 => f.truncate(cut.index(f.len() + 1)),
                1 => {
                    for (at, bit) in flips {
                        let i = at.index(f.len());
                        f[i] ^= 1 << bit;
                    }
                }
                2 => f.extend_from_slice(&tail),
                _ => {}
            }
            f
        })
}

/// What the framing specification says a reader must return for a stream that ends after
/// `stream`: a payload, or one of the framing errors with its exact fields. Payload decoding
/// is not part of this: it is [`FrameOutcome::Payload`] whatever the bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameOutcome {
    Payload(Vec<u8>),
    Closed,
    Truncated { expected: usize, got: usize },
    TooLong { len: u64 },
}

/// The specification of the framing, written independently of `pvf_messages::frame`.
pub fn frame_spec(stream: &[u8]) -> FrameOutcome {
    if stream.is_empty() {
        return FrameOutcome::Closed;
    }
    if stream.len() < HEADER_LEN {
        return FrameOutcome::Truncated {
            expected: HEADER_LEN,
            got: stream.len(),
        };
    }
    let len = u32::from_le_bytes(stream[..HEADER_LEN].try_into().unwrap());
    if len > MAX_FRAME_LEN {
        return FrameOutcome::TooLong { len: len as u64 };
    }
    let body = &stream[HEADER_LEN..];
    if body.len() < len as usize {
        return FrameOutcome::Truncated {
            expected: len as usize,
            got: body.len(),
        };
    }
    FrameOutcome::Payload(body[..len as usize].to_vec())
}

/// The short name of a read's outcome, as used in corpus file names.
pub fn outcome_name<T>(r: &Result<T, FrameError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(FrameError::Closed) => "closed",
        Err(FrameError::Truncated { .. }) => "truncated",
        Err(FrameError::TooLong { .. }) => "too-long",
        Err(FrameError::Decode(_)) => "decode",
        Err(FrameError::Io(_)) => "io",
    }
}

/// Two read results are the same: same value, or the same error with the same fields.
pub fn same_result<T: PartialEq>(a: &Result<T, FrameError>, b: &Result<T, FrameError>) -> bool {
    match (a, b) {
        (Ok(a), Ok(b)) => a == b,
        (Err(FrameError::Closed), Err(FrameError::Closed)) => true,
        (
            Err(FrameError::Truncated { expected, got }),
            Err(FrameError::Truncated {
                expected: e2,
                got: g2,
            }),
        ) => expected == e2 && got == g2,
        (Err(FrameError::TooLong { len, max }), Err(FrameError::TooLong { len: l2, max: m2 })) => {
            len == l2 && max == m2
        }
        (Err(FrameError::Decode(a)), Err(FrameError::Decode(b))) => a == b,
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Corpus
// ---------------------------------------------------------------------------------------------

/// `messages/tests/corpus`, wherever the including test lives.
pub fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("messages/tests/corpus")
}

/// Every `*.bin` of one target, sorted, with the outcome its name promises: a file is
/// named `<what>.<outcome>.bin`, `<outcome>` being one of [`outcome_name`]'s names.
pub fn corpus(target: &str) -> Vec<(PathBuf, String, Vec<u8>)> {
    let dir = corpus_root().join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus folder {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "empty corpus folder {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let expected = name
                .strip_suffix(".bin")
                .and_then(|s| s.rsplit_once('.'))
                .map(|(_, outcome)| outcome.to_string())
                .unwrap_or_else(|| panic!("{name}: corpus files are named <what>.<outcome>.bin"));
            let data = std::fs::read(&p).unwrap();
            (p, expected, data)
        })
        .collect()
}
