//! Fuzzing of the blocking wire decoder (`pvf_messages::frame`, what the workers read the
//! host with) and of the SCALE decoding of every message type of this crate.
//!
//! Why: every byte a worker reads comes from the host, and every byte the host reads comes
//! from a worker whose job ran untrusted code. A decoder that panics, allocates what a length
//! prefix claims, or accepts two encodings of one value would turn such bytes into a crash,
//! an OOM or a disagreement between validators.
//!
//! What is asserted, beyond "does not panic":
//! - the frame readers follow an independent model of the framing (`support::frame_spec`)
//!   exactly: the same `FrameError` variant with the same fields, over whole slices, over
//!   readers that hand out bytes a few at a time or are interrupted, and over readers that
//!   fail mid-frame (`Io`);
//! - a reader never allocates more than [`MAX_FRAME_LEN`], and nothing sizeable for a header
//!   it rejects;
//! - every type round-trips through `encode` / `decode_all` and through a frame; a cut
//!   encoding never decodes; a tail of extra bytes is always rejected; any other accepted
//!   byte string (random, or a mutated valid encoding) is the *unique* encoding of the value
//!   it decodes to (re-encoding gives back exactly those bytes).
//!
//! The corpus in `tests/corpus/<target>/` is replayed by its own test; `PVF_UPDATE_CORPUS=1`
//! rewrites its `seed-*` files. Case counts: [`CASES`] per property (four times as many for
//! the frame properties), `PROPTEST_CASES=N` (N for every property) for longer runs. See
//! `docs/fuzzing.md`.

#[path = "support/mod.rs"]
mod support;

use parity_scale_codec::{Decode, DecodeAll, Encode};
use proptest::prelude::*;
use pvf_messages::{
    BlockData, ExecutorParam, ExecutorParams, Hash, HeadData, InternalValidationError,
    OutboundHrmpMessage, PersistedValidationData, PrepareError, PvfExecKind, PvfPrepKind,
    ValidationCode, ValidationParams, ValidationResult,
    candidate_validation::{CandidateCommitments, CandidateDescriptor, CandidateReceipt},
    frame::{
        self, FrameError, HEADER_LEN, MAX_FRAME_LEN, decode_header, decode_payload, read_frame,
        read_frame_bytes,
    },
    protocol::{
        CgroupSettings, ExecuteRequest, ExecuteResponse, Handshake, HandshakeReply,
        JobNamespaceSettings, PrepareMemoryStats, PrepareRequest, PrepareResponse, PrepareSuccess,
        SecuritySettings, WorkerInfo, WorkerKind,
    },
};
use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    fmt::Debug,
    io::{self, Read},
};
use support::*;

/// Cases per property in the default (CI smoke) run.
const CASES: u32 = 4096;

/// The error `decode_all` gives for a valid encoding followed by more bytes.
const TRAILING_BYTES: &str = "Input buffer has still data left after decoding!";

// ---------------------------------------------------------------------------------------------
// Allocation accounting: the largest single allocation made by this thread.
// ---------------------------------------------------------------------------------------------

struct LargestAllocation;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // `try_with`: allocations during thread teardown must not panic.
    let _ = LARGEST.try_with(|l| {
        if size > l.get() {
            l.set(size)
        }
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for LargestAllocation {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: LargestAllocation = LargestAllocation;

/// Runs `f` and returns its result with the largest single allocation it made.
fn largest_allocation<R>(f: impl FnOnce() -> R) -> (R, usize) {
    LARGEST.with(|l| l.set(0));
    let r = f();
    (r, LARGEST.with(|l| l.get()))
}

/// Rejecting a header must not allocate more than this (error values, nothing sized by it).
const SMALL_ALLOCATION: usize = 1024;

// ---------------------------------------------------------------------------------------------
// Readers
// ---------------------------------------------------------------------------------------------

/// Hands out `data` a few bytes per call, with an `Interrupted` error every
/// `interrupt_every` calls (0: none; 1 would never make progress), which a reader must
/// retry, and optionally an I/O error once `fail_after` bytes were read.
struct Trickle<'a> {
    data: &'a [u8],
    chunks: Vec<usize>,
    interrupt_every: usize,
    fail_after: Option<usize>,
    calls: usize,
    pos: usize,
}

impl<'a> Trickle<'a> {
    fn new(
        data: &'a [u8],
        chunks: Vec<usize>,
        interrupt_every: usize,
        fail_after: Option<usize>,
    ) -> Self {
        Self {
            data,
            chunks,
            interrupt_every,
            fail_after,
            calls: 0,
            pos: 0,
        }
    }
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.interrupt_every > 0 && self.calls.is_multiple_of(self.interrupt_every) {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let end = self.fail_after.unwrap_or(self.data.len());
        if self.pos == end && self.fail_after.is_some() {
            return Err(io::Error::other("connection reset (test)"));
        }
        let chunk = self.chunks[self.calls % self.chunks.len()].max(1);
        let n = chunk.min(buf.len()).min(end - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn outcome_of(r: Result<Vec<u8>, FrameError>) -> FrameOutcome {
    match r {
        Ok(p) => FrameOutcome::Payload(p),
        Err(FrameError::Closed) => FrameOutcome::Closed,
        Err(FrameError::Truncated { expected, got }) => FrameOutcome::Truncated { expected, got },
        Err(FrameError::TooLong { len, max }) => {
            assert_eq!(max, MAX_FRAME_LEN);
            FrameOutcome::TooLong { len }
        }
        Err(e) => panic!("a raw frame read can only fail on framing, got {e:?}"),
    }
}

/// The checks every stream gets from the blocking reader.
fn check_stream(stream: &[u8]) -> Result<(), TestCaseError> {
    let spec = frame_spec(stream);
    let (got, largest) = largest_allocation(|| read_frame_bytes(&mut &stream[..]));
    let got = outcome_of(got);
    prop_assert_eq!(&got, &spec);
    prop_assert!(largest <= MAX_FRAME_LEN as usize);
    match &spec {
        FrameOutcome::Payload(p) => prop_assert!(largest <= p.len().max(SMALL_ALLOCATION)),
        FrameOutcome::Truncated { expected, .. } => {
            prop_assert!(largest <= (*expected).max(SMALL_ALLOCATION))
        }
        FrameOutcome::Closed | FrameOutcome::TooLong { .. } => {
            prop_assert!(largest <= SMALL_ALLOCATION, "allocated {largest}")
        }
    }
    // The header alone decides `TooLong`.
    if stream.len() >= HEADER_LEN {
        let h: [u8; HEADER_LEN] = stream[..HEADER_LEN].try_into().unwrap();
        match decode_header(h) {
            Ok(len) => prop_assert_eq!(len as u32, u32::from_le_bytes(h)),
            Err(FrameError::TooLong { len, max }) => {
                prop_assert_eq!(spec, FrameOutcome::TooLong { len });
                prop_assert_eq!(max, MAX_FRAME_LEN);
            }
            Err(e) => prop_assert!(false, "decode_header: {e:?}"),
        }
    }
    Ok(())
}

/// The bytes a frame reader consumes from `stream` before answering (`spec` is its outcome).
fn consumed(stream: &[u8], spec: &FrameOutcome) -> usize {
    match spec {
        FrameOutcome::Payload(p) => HEADER_LEN + p.len(),
        FrameOutcome::TooLong { .. } => HEADER_LEN,
        FrameOutcome::Closed | FrameOutcome::Truncated { .. } => stream.len(),
    }
}

/// A frame of `payload` reads as `decode_all` decodes `payload`, with the same error message.
fn check_payload<T: Decode + PartialEq + Debug>(
    stream: &[u8],
    payload: &[u8],
) -> Result<(), TestCaseError> {
    let via_frame = read_frame::<_, T>(&mut &stream[..]);
    match T::decode_all(&mut &payload[..]) {
        Ok(v) => prop_assert_eq!(via_frame.unwrap(), v),
        Err(e) => prop_assert!(
            matches!(&via_frame, Err(FrameError::Decode(m)) if *m == e.to_string()),
            "{:?}",
            via_frame
        ),
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(CASES * 4))]

    /// Any stream: the exact outcome the framing specifies, with bounded allocations.
    #[test]
    fn frame_reader_follows_the_specification(stream in stream()) {
        check_stream(&stream)?;
    }

    /// Bytes arriving a few at a time, with interruptions, change nothing.
    #[test]
    fn frame_reader_is_independent_of_read_sizes(
        stream in stream(),
        chunks in proptest::collection::vec(1usize..9, 1..6),
        interrupt_every in prop_oneof![Just(0usize), 2usize..5],
    ) {
        let mut r = Trickle::new(&stream, chunks, interrupt_every, None);
        prop_assert_eq!(outcome_of(read_frame_bytes(&mut r)), frame_spec(&stream));
    }

    /// A socket that fails after `n` bytes: the frame if it was complete by then (or
    /// rejected by its header), else `Io`; never `Closed` or `Truncated`, which mean a
    /// clean end.
    #[test]
    fn frame_reader_reports_io_errors(stream in stream(), cut in any::<prop::sample::Index>()) {
        let n = cut.index(stream.len() + 1);
        let mut r = Trickle::new(&stream, vec![3], 0, Some(n));
        let got = read_frame_bytes(&mut r);
        let spec = frame_spec(&stream);
        let at_end = matches!(spec, FrameOutcome::Closed | FrameOutcome::Truncated { .. });
        let needs_more = at_end || consumed(&stream, &spec) > n;
        if needs_more {
            prop_assert!(matches!(got, Err(FrameError::Io(_))), "{:?}", got);
        } else {
            prop_assert_eq!(outcome_of(got), spec);
        }
    }

    /// Over-long length prefixes are refused from the header alone, before any allocation.
    #[test]
    fn over_long_prefixes_are_refused(len in (MAX_FRAME_LEN + 1).., tail in bytes(64)) {
        let stream = [&header(len)[..], &tail].concat();
        let (got, largest) =
            largest_allocation(|| read_frame::<_, ExecuteResponse>(&mut &stream[..]));
        let refused = matches!(
            got,
            Err(FrameError::TooLong { len: l, max }) if l == len as u64 && max == MAX_FRAME_LEN
        );
        prop_assert!(refused, "{:?}", got);
        prop_assert!(largest <= SMALL_ALLOCATION);
    }

    /// A well-formed frame of arbitrary payload decodes exactly as `decode_all` says.
    #[test]
    fn frame_payload_decoding_is_decode_all(payload in bytes(96)) {
        let stream = [&header(payload.len() as u32)[..], &payload].concat();
        check_payload::<ExecuteResponse>(&stream, &payload)?;
        check_payload::<PrepareResponse>(&stream, &payload)?;
        check_payload::<HandshakeReply>(&stream, &payload)?;
        check_payload::<Handshake>(&stream, &payload)?;
        check_payload::<ExecuteRequest>(&stream, &payload)?;
        check_payload::<PrepareRequest>(&stream, &payload)?;
    }

    /// Several frames back to back are read one by one, then the stream is `Closed`.
    #[test]
    fn consecutive_frames(msgs in proptest::collection::vec(execute_response(), 0..5)) {
        let stream: Vec<u8> = msgs.iter().flat_map(frame_of).collect();
        let mut r = &stream[..];
        for m in &msgs {
            prop_assert_eq!(&read_frame::<_, ExecuteResponse>(&mut r).unwrap(), m);
        }
        prop_assert!(matches!(read_frame::<_, ExecuteResponse>(&mut r), Err(FrameError::Closed)));
    }
}

#[test]
fn frame_length_boundaries() {
    // Exactly the cap is allowed (and allocated: the cap is what bounds a reader's memory),
    // one more is refused from the header alone.
    let at_cap = header(MAX_FRAME_LEN);
    let (r, largest) = largest_allocation(|| read_frame_bytes(&mut &at_cap[..]));
    assert!(matches!(
        r,
        Err(FrameError::Truncated { expected, got: 0 }) if expected == MAX_FRAME_LEN as usize
    ));
    assert_eq!(largest, MAX_FRAME_LEN as usize);
    for len in [MAX_FRAME_LEN + 1, u32::MAX] {
        let (r, largest) = largest_allocation(|| read_frame_bytes(&mut &header(len)[..]));
        assert!(matches!(r, Err(FrameError::TooLong { len: l, .. }) if l == len as u64));
        assert!(largest <= SMALL_ALLOCATION);
    }
    // Writing refuses what reading would refuse.
    let too_big = vec![0u8; MAX_FRAME_LEN as usize];
    assert!(matches!(
        frame::encode_frame(&too_big),
        Err(FrameError::TooLong { len, .. }) if len == MAX_FRAME_LEN as u64 + 4
    ));
}

// ---------------------------------------------------------------------------------------------
// SCALE decoding of every type
// ---------------------------------------------------------------------------------------------

/// A change to a valid encoding.
#[derive(Clone, Debug)]
enum Mutation {
    FlipBit(prop::sample::Index, u8),
    SetByte(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Remove(prop::sample::Index),
    Truncate(prop::sample::Index),
    Append(Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    use prop::sample::Index;
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, v)| Mutation::SetByte(i, v)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, v)| Mutation::Insert(i, v)),
        any::<Index>().prop_map(Mutation::Remove),
        any::<Index>().prop_map(Mutation::Truncate),
        proptest::collection::vec(any::<u8>(), 1..8).prop_map(Mutation::Append),
    ]
}

/// Whatever decodes is canonical: `decode` read exactly the encoding of the value it produced,
/// `decode_all` agrees with it, and the frame decoder agrees with `decode_all`.
fn check_accepted_bytes<T>(bytes: &[u8]) -> Result<(), TestCaseError>
where
    T: Decode + Encode + PartialEq + Debug,
{
    let mut input = bytes;
    let prefix = T::decode(&mut input);
    let all = T::decode_all(&mut &bytes[..]);
    let framed = decode_payload::<T>(bytes);
    match prefix {
        Ok(v) => {
            let used = bytes.len() - input.len();
            prop_assert_eq!(
                &v.encode()[..],
                &bytes[..used],
                "non-canonical encoding accepted"
            );
            prop_assert_eq!(v.encoded_size(), used);
            if used == bytes.len() {
                prop_assert_eq!(all.as_ref().ok(), Some(&v));
                prop_assert_eq!(framed.ok(), Some(v));
            } else {
                prop_assert_eq!(
                    all.map_err(|e| e.to_string()),
                    Err(TRAILING_BYTES.to_string())
                );
                prop_assert!(
                    matches!(framed, Err(FrameError::Decode(ref m)) if m == TRAILING_BYTES)
                );
            }
        }
        Err(_) => {
            prop_assert!(all.is_err());
            prop_assert!(matches!(framed, Err(FrameError::Decode(_))));
        }
    }
    Ok(())
}

fn check_round_trip<T>(v: &T) -> Result<(), TestCaseError>
where
    T: Decode + Encode + PartialEq + Debug,
{
    let enc = v.encode();
    prop_assert_eq!(enc.len(), v.encoded_size());
    prop_assert_eq!(&T::decode_all(&mut &enc[..]).unwrap(), v);
    prop_assert_eq!(&decode_payload::<T>(&enc).unwrap(), v);
    let f = frame_of(v);
    prop_assert_eq!(&f[..HEADER_LEN], &(enc.len() as u32).to_le_bytes()[..]);
    prop_assert_eq!(&read_frame::<_, T>(&mut &f[..]).unwrap(), v);
    // Every cut of the frame is `Closed` or `Truncated` with the exact counts.
    for k in 0..f.len() {
        let got = read_frame::<_, T>(&mut &f[..k]);
        let ok = match (k, &got) {
            (0, Err(FrameError::Closed)) => true,
            (k, Err(FrameError::Truncated { expected, got })) if k < HEADER_LEN => {
                *expected == HEADER_LEN && *got == k
            }
            (k, Err(FrameError::Truncated { expected, got })) => {
                *expected == enc.len() && *got == k - HEADER_LEN
            }
            _ => false,
        };
        prop_assert!(ok, "cut at {}: {:?}", k, got);
    }
    // A header that is off by one frames a cut encoding or one with a trailing byte:
    // both are `Decode` errors, never a value.
    if !enc.is_empty() {
        let short = [&header(enc.len() as u32 - 1)[..], &enc].concat();
        prop_assert!(matches!(
            read_frame::<_, T>(&mut &short[..]),
            Err(FrameError::Decode(_))
        ));
    }
    let long = [&header(enc.len() as u32 + 1)[..], &enc, &[0]].concat();
    let got = read_frame::<_, T>(&mut &long[..]);
    prop_assert!(matches!(got, Err(FrameError::Decode(ref m)) if m == TRAILING_BYTES));
    Ok(())
}

fn check_mutated<T>(v: &T, m: &Mutation) -> Result<(), TestCaseError>
where
    T: Decode + Encode + PartialEq + Debug,
{
    let enc = v.encode();
    let mut bytes = enc.clone();
    match m {
        Mutation::FlipBit(i, b) => bytes[i.index(enc.len())] ^= 1 << b,
        Mutation::SetByte(i, x) => bytes[i.index(enc.len())] = *x,
        Mutation::Insert(i, x) => bytes.insert(i.index(enc.len() + 1), *x),
        Mutation::Remove(i) => {
            bytes.remove(i.index(enc.len()));
        }
        Mutation::Truncate(i) => bytes.truncate(i.index(enc.len())),
        Mutation::Append(tail) => bytes.extend_from_slice(tail),
    }
    match m {
        // SCALE is prefix-free: no strict prefix of an encoding is itself an encoding.
        Mutation::Truncate(_) => {
            prop_assert!(T::decode(&mut &bytes[..]).is_err());
            prop_assert!(T::decode_all(&mut &bytes[..]).is_err());
        }
        // The value is read back, the tail is left over, and `decode_all` refuses the tail.
        Mutation::Append(tail) => {
            let mut input = &bytes[..];
            prop_assert_eq!(&T::decode(&mut input).unwrap(), v);
            prop_assert_eq!(input, &tail[..]);
            prop_assert_eq!(
                T::decode_all(&mut &bytes[..]).map_err(|e| e.to_string()),
                Err(TRAILING_BYTES.to_string())
            );
        }
        _ => {}
    }
    check_accepted_bytes::<T>(&bytes)?;
    if bytes != enc
        && let Ok(w) = T::decode_all(&mut &bytes[..])
    {
        prop_assert_ne!(&w, v, "two encodings of one value");
    }
    Ok(())
}

/// One module per type, each with the three properties. `scale_targets!` also records the
/// type names, which `every_encodable_type_is_fuzzed` checks against the sources.
macro_rules! scale_targets {
    ($($module:ident: $ty:ty = $strategy:expr;)*) => {
        $(
            mod $module {
                use super::*;
                proptest! {
                    #![proptest_config(config(CASES))]

                    #[test]
                    fn round_trip(v in $strategy) {
                        check_round_trip::<$ty>(&v)?;
                    }

                    #[test]
                    fn arbitrary_bytes(bytes in bytes(160)) {
                        check_accepted_bytes::<$ty>(&bytes)?;
                    }

                    #[test]
                    fn mutated_encodings(v in $strategy, m in mutation()) {
                        check_mutated::<$ty>(&v, &m)?;
                    }
                }
            }
        )*

        const FUZZED_TYPES: &[&str] = &[$(stringify!($ty)),*];
    };
}

scale_targets! {
    hash: Hash = support::hash();
    validation_code: ValidationCode = support::validation_code();
    validation_code_hash: pvf_messages::ValidationCodeHash = support::validation_code_hash();
    head_data: HeadData = support::head_data();
    block_data: BlockData = support::block_data();
    pov: pvf_messages::PoV = support::pov();
    persisted_validation_data: PersistedValidationData = support::persisted_validation_data();
    validation_params: ValidationParams = support::validation_params();
    outbound_hrmp_message: OutboundHrmpMessage = support::outbound_hrmp_message();
    validation_result: ValidationResult = support::validation_result();
    pvf_prep_kind: PvfPrepKind = support::prep_kind();
    pvf_exec_kind: PvfExecKind = support::exec_kind();
    executor_param: ExecutorParam = support::executor_param();
    executor_host_function: pvf_messages::ExecutorHostFunction = Just(pvf_messages::ExecutorHostFunction::EccRfc163);
    executor_params: ExecutorParams = support::executor_params();
    prep_params_hash: pvf_messages::PrepParamsHash = support::prep_params_hash();
    prepare_error: PrepareError = support::prepare_error();
    invalid_candidate: pvf_messages::InvalidCandidate = support::invalid_candidate();
    possibly_invalid_error: pvf_messages::PossiblyInvalidError = support::possibly_invalid_error();
    internal_validation_error: InternalValidationError = support::internal_validation_error();
    validation_error: pvf_messages::ValidationError = support::validation_error();
    worker_kind: WorkerKind = support::worker_kind();
    security_settings: SecuritySettings = support::security_settings();
    job_namespace_settings: pvf_messages::protocol::JobNamespaceSettings = support::job_namespace_settings();
    cgroup_settings: CgroupSettings = support::cgroup_settings();
    handshake: Handshake = support::handshake();
    worker_info: WorkerInfo = support::worker_info();
    handshake_reply: HandshakeReply = support::handshake_reply();
    prepare_request: PrepareRequest = support::prepare_request();
    prepare_memory_stats: PrepareMemoryStats = support::prepare_memory_stats();
    prepare_success: PrepareSuccess = support::prepare_success();
    prepare_response: PrepareResponse = support::prepare_response();
    execute_request: ExecuteRequest = support::execute_request();
    execute_response: ExecuteResponse = support::execute_response();
    candidate_descriptor: CandidateDescriptor = support::candidate_descriptor();
    candidate_commitments: CandidateCommitments = support::candidate_commitments();
    candidate_receipt: CandidateReceipt = support::candidate_receipt();
}

/// Every type that derives `Decode` in `messages/src` (and every `Decode` type alias of the
/// protocol) has a target above: a new message type without one fails here.
#[test]
fn every_encodable_type_is_fuzzed() {
    let fuzzed: Vec<&str> = FUZZED_TYPES
        .iter()
        .map(|t| t.rsplit("::").next().unwrap().trim())
        .collect();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut missing = Vec::new();
    let mut found = 0;
    for entry in std::fs::read_dir(&src).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let mut derives_decode = false;
        for line in text.lines().map(str::trim) {
            if line.starts_with("#[derive(") && line.contains("Decode") {
                derives_decode = true;
            } else if derives_decode
                && let Some(rest) = line
                    .strip_prefix("pub struct ")
                    .or_else(|| line.strip_prefix("pub enum "))
            {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                found += 1;
                if !fuzzed.contains(&name.as_str()) {
                    missing.push(name);
                }
                derives_decode = false;
            } else if !line.starts_with("#[") && !line.starts_with("///") && !line.is_empty() {
                derives_decode = false;
            }
        }
    }
    assert!(found >= 30, "the source scan found only {found} types");
    assert!(missing.is_empty(), "no fuzz target for {missing:?}");
    assert!(fuzzed.contains(&"PrepareResponse"));
}

// ---------------------------------------------------------------------------------------------
// Corpus
// ---------------------------------------------------------------------------------------------

/// The corpus targets: message types read from frames, by folder name.
const CORPUS_TARGETS: &[&str] = &[
    "handshake",
    "handshake_reply",
    "prepare_request",
    "prepare_response",
    "execute_request",
    "execute_response",
    "validation_params",
    "validation_result",
];

/// Reads `data` as a frame of `T`; the outcome must be the one the file name promises and
/// the one the framing specification gives, and an accepted frame must re-encode to itself.
fn replay_as<T: Decode + Encode + Debug>(name: &str, expected: &str, data: &[u8]) {
    let (got, largest) = largest_allocation(|| read_frame::<_, T>(&mut &data[..]));
    assert_eq!(outcome_name(&got), expected, "{name}: {got:?}");
    assert!(largest <= MAX_FRAME_LEN as usize, "{name}");
    let spec = frame_spec(data);
    match (&got, &spec) {
        (Ok(v), FrameOutcome::Payload(p)) => assert_eq!(&v.encode(), p, "{name}"),
        (Err(FrameError::Decode(_)), FrameOutcome::Payload(_)) => {}
        (got, spec) => assert_eq!(
            outcome_of(read_frame_bytes(&mut &data[..])),
            *spec,
            "{name}: {got:?}"
        ),
    }
}

fn replay(target: &str, name: &str, expected: &str, data: &[u8]) {
    match target {
        "handshake" => replay_as::<Handshake>(name, expected, data),
        "handshake_reply" => replay_as::<HandshakeReply>(name, expected, data),
        "prepare_request" => replay_as::<PrepareRequest>(name, expected, data),
        "prepare_response" => replay_as::<PrepareResponse>(name, expected, data),
        "execute_request" => replay_as::<ExecuteRequest>(name, expected, data),
        "execute_response" => replay_as::<ExecuteResponse>(name, expected, data),
        "validation_params" => replay_as::<ValidationParams>(name, expected, data),
        "validation_result" => replay_as::<ValidationResult>(name, expected, data),
        other => panic!("unknown corpus target {other}"),
    }
}

#[test]
fn corpus_replays_with_the_expected_outcomes() {
    let mut dirs: Vec<String> = std::fs::read_dir(corpus_root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let mut known: Vec<String> = CORPUS_TARGETS.iter().map(|s| s.to_string()).collect();
    known.sort();
    assert_eq!(dirs, known, "corpus folders and targets differ");
    for target in CORPUS_TARGETS {
        for (path, expected, data) in corpus(target) {
            let name = path.display().to_string();
            replay(target, &name, &expected, &data);
        }
    }
}

/// A fixed, representative value of each target, and what to call it.
fn seed_values() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let info = WorkerInfo {
        pid: 4242,
        version: "0.1.0".into(),
        build_id: "seed".into(),
    };
    let result = ValidationResult {
        head_data: HeadData(vec![1, 2, 3]),
        new_validation_code: Some(ValidationCode(b"\0asm".to_vec())),
        upward_messages: vec![vec![4], vec![]],
        horizontal_messages: vec![OutboundHrmpMessage {
            recipient: 2000,
            data: vec![5, 6],
        }],
        processed_downward_messages: 7,
        hrmp_watermark: 8,
    };
    let params = ValidationParams {
        parent_head: HeadData(vec![9; 8]),
        block_data: BlockData(vec![10; 16]),
        relay_parent_number: 11,
        relay_parent_storage_root: Hash([12; 32]),
    };
    let executor_params = ExecutorParams(vec![
        ExecutorParam::MaxMemoryPages(8192),
        ExecutorParam::PvfExecTimeout(PvfExecKind::Backing, 2000),
        ExecutorParam::WasmExtBulkMemory,
    ]);
    let prep_ok: PrepareResponse = Ok(PrepareSuccess {
        artifact_len: 1 << 20,
        cpu_time_ns: 3_000_000,
        memory: PrepareMemoryStats {
            peak_tracked_bytes: 1 << 24,
            max_rss_bytes: 1 << 25,
        },
    });
    let prep_err = |e: PrepareError| -> PrepareResponse { Err(e) };
    vec![
        (
            "handshake",
            "execute",
            Handshake {
                kind: WorkerKind::Execute,
                node_version: "0.1.0".into(),
                build_id: "seed".into(),
                security: SecuritySettings {
                    secure_validator_mode: true,
                    landlock: true,
                    seccomp: true,
                    net_namespace: true,
                    pivot_root: true,
                    job_namespaces: JobNamespaceSettings {
                        user: true,
                        mount: true,
                        pid: true,
                        ipc: true,
                        uts: true,
                        cgroup: false,
                    },
                },
                artifacts_dir: "/var/cache/pvf/artifacts".into(),
                cgroup: CgroupSettings {
                    parents: vec!["/sys/fs/cgroup/pids/pvf-node-1-0".into()],
                    pids_max: Some(36),
                    memory_max: Some(5 << 30),
                },
                skip_version_check: false,
            }
            .encode(),
        ),
        (
            "handshake_reply",
            "ready",
            HandshakeReply::Ready(info.clone()).encode(),
        ),
        (
            "handshake_reply",
            "version-mismatch",
            HandshakeReply::VersionMismatch(info).encode(),
        ),
        (
            "handshake_reply",
            "wrong-kind",
            HandshakeReply::WrongKind {
                serves: WorkerKind::Prepare,
            }
            .encode(),
        ),
        (
            "prepare_request",
            "precheck",
            PrepareRequest {
                code: b"\0asm\x01\0\0\0".to_vec(),
                code_bomb_limit: 1 << 20,
                executor_params: executor_params.clone(),
                kind: PvfPrepKind::Precheck,
                cpu_timeout_ms: 60_000,
            }
            .encode(),
        ),
        ("prepare_response", "success", prep_ok.encode()),
        (
            "prepare_response",
            "prevalidation",
            prep_err(PrepareError::Prevalidation("not wasm".into())).encode(),
        ),
        (
            "prepare_response",
            "out-of-memory",
            prep_err(PrepareError::OutOfMemory { limit: 1 << 28 }).encode(),
        ),
        (
            "prepare_response",
            "timed-out",
            prep_err(PrepareError::TimedOut).encode(),
        ),
        (
            "prepare_response",
            "job-died",
            prep_err(PrepareError::JobDied("killed by signal 9".into())).encode(),
        ),
        (
            "execute_request",
            "backing",
            ExecuteRequest {
                artifact_path: "/cache/artifacts/0a1b2c".into(),
                params: params.encode(),
                executor_params,
                cpu_timeout_ms: 2000,
                artifact_checksum: "0123456789abcdef".into(),
            }
            .encode(),
        ),
        (
            "execute_response",
            "ok",
            ExecuteResponse::Ok {
                result: result.clone(),
                cpu_time_ns: 700_000,
            }
            .encode(),
        ),
        (
            "execute_response",
            "invalid",
            ExecuteResponse::Invalid("wasm trap: unreachable".into()).encode(),
        ),
        (
            "execute_response",
            "timed-out",
            ExecuteResponse::TimedOut {
                cpu_time_ns: 2_000_000_000,
            }
            .encode(),
        ),
        (
            "execute_response",
            "runtime-construction",
            ExecuteResponse::RuntimeConstruction("bad artifact".into()).encode(),
        ),
        (
            "execute_response",
            "job-error",
            ExecuteResponse::JobError("panicked".into()).encode(),
        ),
        (
            "execute_response",
            "job-died",
            ExecuteResponse::JobDied("killed by signal 9".into()).encode(),
        ),
        (
            "execute_response",
            "internal",
            ExecuteResponse::Internal("fork failed".into()).encode(),
        ),
        (
            "execute_response",
            "corrupted-artifact",
            ExecuteResponse::CorruptedArtifact.encode(),
        ),
        ("validation_params", "small", params.encode()),
        ("validation_result", "full", result.encode()),
        (
            "validation_result",
            "empty",
            ValidationResult::default().encode(),
        ),
    ]
}

/// The seed files: for each target, a valid frame of each seed value, and for the target's
/// first value every way the frame can go wrong.
fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut broken_done = std::collections::BTreeSet::new();
    for (target, what, payload) in seed_values() {
        let frame = [&header(payload.len() as u32)[..], &payload].concat();
        out.push((format!("{target}/seed-{what}.ok.bin"), frame.clone()));
        if !broken_done.insert(target) {
            continue;
        }
        let n = payload.len() as u32;
        let mut bad_variant = payload.clone();
        bad_variant[0] = 0xff;
        let broken: [(&str, Vec<u8>); 9] = [
            ("empty.closed", vec![]),
            ("short-header.truncated", frame[..2].to_vec()),
            ("cut-payload.truncated", frame[..frame.len() - 1].to_vec()),
            (
                "cap-without-payload.truncated",
                header(MAX_FRAME_LEN).to_vec(),
            ),
            (
                "trailing-byte.decode",
                [&header(n + 1)[..], &payload, &[0]].concat(),
            ),
            (
                "short-length.decode",
                [&header(n - 1)[..], &payload[..payload.len() - 1]].concat(),
            ),
            (
                "first-byte-ff.decode",
                [&header(n)[..], &bad_variant].concat(),
            ),
            (
                "cap-plus-one.too-long",
                [&header(MAX_FRAME_LEN + 1)[..], &payload].concat(),
            ),
            ("u32-max.too-long", header(u32::MAX).to_vec()),
        ];
        for (what, bytes) in broken {
            out.push((format!("{target}/seed-{what}.bin"), bytes));
        }
    }
    out
}

const UPDATE_HINT: &str =
    "run PVF_UPDATE_CORPUS=1 cargo test --release -p pvf-messages --test fuzz corpus_seeds";

/// The `seed-*` files on disk are exactly [`seeds`]; `PVF_UPDATE_CORPUS=1` rewrites them
/// (other files, such as `crash-*` reproducers, are kept).
#[test]
fn corpus_seeds_are_up_to_date() {
    let root = corpus_root();
    let seeds = seeds();
    if std::env::var_os("PVF_UPDATE_CORPUS").is_some() {
        for target in CORPUS_TARGETS {
            let dir = root.join(target);
            std::fs::create_dir_all(&dir).unwrap();
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                if p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("seed-")
                {
                    std::fs::remove_file(p).unwrap();
                }
            }
        }
        for (rel, bytes) in &seeds {
            std::fs::write(root.join(rel), bytes).unwrap();
        }
    }
    let mut on_disk = Vec::new();
    for target in CORPUS_TARGETS {
        for e in std::fs::read_dir(root.join(target)).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            if name.starts_with("seed-") {
                on_disk.push(format!("{target}/{name}"));
            }
        }
    }
    on_disk.sort();
    let mut expected: Vec<String> = seeds.iter().map(|(rel, _)| rel.clone()).collect();
    expected.sort();
    assert_eq!(on_disk, expected, "seed files differ: {UPDATE_HINT}");
    for (rel, bytes) in &seeds {
        assert_eq!(
            &std::fs::read(root.join(rel)).unwrap(),
            bytes,
            "{rel} is stale: {UPDATE_HINT}"
        );
    }
}
