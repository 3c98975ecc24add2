//! Fuzzing of the host's async wire decoder (`pvf_subsystem::host::wire::read_frame`), the
//! reader of everything a worker sends, over a real tokio `UnixStream` pair.
//!
//! A peer writes a byte stream in arbitrary pieces (with scheduling points between them) and
//! then either closes the socket or keeps it open. Asserted:
//! - after a close, the async reader gives exactly what the blocking reader of
//!   `pvf_messages::frame` gives on the same bytes (same value, or the same `FrameError`
//!   variant with the same fields); that reader is itself checked against an independent model
//!   of the framing in `messages/tests/fuzz.rs`;
//! - while the peer keeps the socket open mid-frame, the reader waits (no premature `Closed`,
//!   `Truncated` or value); a frame that is complete or refused by its header is answered
//!   without waiting for a close;
//! - frames back to back are read one by one, however the writes split them.
//!
//! The corpus of the frames a host reads (`messages/tests/corpus/{handshake_reply,
//! prepare_response,execute_response}`) is replayed by its own test, next to the properties.
//! See `docs/fuzzing.md`.

#[path = "../../messages/tests/support/mod.rs"]
mod support;

use parity_scale_codec::Decode;
use proptest::prelude::*;
use pvf_messages::{
    frame::{self, FrameError},
    protocol::{ExecuteResponse, HandshakeReply, PrepareResponse},
};
use pvf_subsystem::host::wire;
use std::{fmt::Debug, time::Duration};
use support::*;
use tokio::{io::AsyncWriteExt, net::UnixStream};

/// Cases per property in the default (CI smoke) run.
const CASES: u32 = 512;

/// How long a reader must stay pending to count as waiting for more bytes.
const PENDING: Duration = Duration::from_millis(20);

/// Bound on any single read: a reader that hangs fails the case instead of the run.
const BOUND: Duration = Duration::from_secs(10);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Splits `bytes` into pieces of the given sizes (cycled; a zero size is one byte).
fn pieces<'a>(bytes: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        out.push(&rest[..n]);
        rest = &rest[n..];
        i += 1;
    }
    out
}

/// What the host's reader did with one stream.
#[derive(Debug)]
enum Read<T> {
    Answered(Result<T, FrameError>),
    /// Still waiting after [`PENDING`] with the peer's socket open.
    Pending,
}

/// Writes `bytes` in `sizes`-sized pieces from a peer task, closes the peer's end if
/// `close`, and reads one frame of `T` on the host's end.
async fn read_one<T: Decode + Send + 'static>(
    bytes: Vec<u8>,
    sizes: Vec<usize>,
    close: bool,
) -> Read<T> {
    let (mut peer, mut host) = UnixStream::pair().unwrap();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let writer = tokio::spawn(async move {
        for piece in pieces(&bytes, &sizes) {
            // Separate writes with a scheduling point between them: the reader sees partial
            // frames.
            if peer.write_all(piece).await.is_err() {
                break;
            }
            tokio::task::yield_now().await;
        }
        if close {
            drop(peer);
        } else {
            // Keep the socket open until the reader has been observed.
            let _ = done_rx.await;
            drop(peer);
        }
    });
    let wait = if close { BOUND } else { PENDING };
    let answer = match tokio::time::timeout(wait, wire::read_frame::<_, T>(&mut host)).await {
        Ok(r) => Read::Answered(r),
        Err(_) if !close => Read::Pending,
        Err(_) => panic!("the reader hung for {BOUND:?} after the peer closed"),
    };
    let _ = done_tx.send(());
    writer.await.unwrap();
    answer
}

/// The checks every stream gets, as frame type `T`.
fn check_stream<T>(bytes: &[u8], sizes: &[usize], close: bool) -> Result<(), TestCaseError>
where
    T: Decode + PartialEq + Debug + Send + 'static,
{
    let blocking = frame::read_frame::<_, T>(&mut &bytes[..]);
    let got = runtime().block_on(read_one::<T>(bytes.to_vec(), sizes.to_vec(), close));
    let needs_more = matches!(
        frame_spec(bytes),
        FrameOutcome::Closed | FrameOutcome::Truncated { .. }
    );
    match got {
        Read::Answered(r) => {
            prop_assert!(
                close || !needs_more,
                "answered {:?} mid-frame with the peer still there",
                r
            );
            prop_assert!(
                same_result(&r, &blocking),
                "async {:?} != blocking {:?}",
                r,
                blocking
            );
        }
        Read::Pending => prop_assert!(
            needs_more,
            "still waiting although the bytes give {:?}",
            blocking
        ),
    }
    Ok(())
}

fn sizes() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(0usize..12, 1..5)
}

/// Closes the socket in three cases out of four.
fn close() -> impl Strategy<Value = bool> {
    prop::bool::weighted(0.75)
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn execute_responses_from_any_stream(bytes in stream(), sizes in sizes(), close in close()) {
        check_stream::<ExecuteResponse>(&bytes, &sizes, close)?;
    }

    #[test]
    fn execute_responses_near_misses(
        bytes in mutated_frame(execute_response()),
        sizes in sizes(),
        close in close(),
    ) {
        check_stream::<ExecuteResponse>(&bytes, &sizes, close)?;
    }

    #[test]
    fn prepare_responses_near_misses(
        bytes in mutated_frame(prepare_response()),
        sizes in sizes(),
        close in close(),
    ) {
        check_stream::<PrepareResponse>(&bytes, &sizes, close)?;
    }

    #[test]
    fn handshake_replies_near_misses(
        bytes in mutated_frame(handshake_reply()),
        sizes in sizes(),
        close in close(),
    ) {
        check_stream::<HandshakeReply>(&bytes, &sizes, close)?;
    }

    /// Frames back to back, split anywhere, are read one by one; then the stream is `Closed`.
    #[test]
    fn consecutive_frames_split_anywhere(
        msgs in proptest::collection::vec(execute_response(), 1..5),
        sizes in sizes(),
    ) {
        let bytes: Vec<u8> = msgs.iter().flat_map(frame_of).collect();
        runtime().block_on(async {
            let (mut peer, mut host) = UnixStream::pair().unwrap();
            let writer = tokio::spawn(async move {
                for piece in pieces(&bytes, &sizes) {
                    peer.write_all(piece).await.unwrap();
                    tokio::task::yield_now().await;
                }
            });
            for m in &msgs {
                let read = wire::read_frame::<_, ExecuteResponse>(&mut host);
                let got = tokio::time::timeout(BOUND, read)
                    .await
                    .expect("a complete frame is answered");
                prop_assert_eq!(&got.unwrap(), m);
            }
            writer.await.unwrap();
            let end = wire::read_frame::<_, ExecuteResponse>(&mut host).await;
            prop_assert!(matches!(end, Err(FrameError::Closed)), "{:?}", end);
            Ok(())
        })?;
    }
}

/// Every corpus file of the frames a host reads, sent whole and one byte at a time, then
/// closed: the outcome its name promises. Sent without a close, an incomplete one waits.
#[test]
fn corpus_replays_over_a_socket() {
    fn replay<T: Decode + PartialEq + Debug + Send + 'static>(target: &str) {
        for (path, expected, data) in corpus(target) {
            let name = path.display();
            for sizes in [vec![data.len().max(1)], vec![1]] {
                let got = runtime().block_on(read_one::<T>(data.clone(), sizes, true));
                let Read::Answered(r) = got else {
                    unreachable!()
                };
                assert_eq!(outcome_name(&r), expected, "{name}: {r:?}");
            }
            check_stream::<T>(&data, &[3], false).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
    replay::<HandshakeReply>("handshake_reply");
    replay::<PrepareResponse>("prepare_response");
    replay::<ExecuteResponse>("execute_response");
}
