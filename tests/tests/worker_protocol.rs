//! The worker binaries against a host that breaks the wire protocol: truncated, over-long and
//! garbage frames, a wrong role and a wrong version. In every case the worker answers what it
//! can, exits with an error naming the problem, and neither panics nor allocates the frame
//! length it was sent.

use parity_scale_codec::Encode;
use pvf_messages::{
    frame,
    protocol::{Handshake, HandshakeReply, SecuritySettings, WorkerKind},
    version::{BUILD_ID, VERSION},
};
use std::{
    io::Write,
    os::unix::net::{UnixListener, UnixStream},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

struct Worker {
    child: Child,
    stream: UnixStream,
    _dir: tempfile::TempDir,
}

fn start(kind: WorkerKind) -> Worker {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("s");
    let listener = UnixListener::bind(&sock).unwrap();
    let child = Command::new(pvf_tests::binary(kind.binary_name()))
        .arg("--socket-path")
        .arg(&sock)
        .arg("--worker-dir")
        .arg(dir.path())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (stream, _) = listener.accept().unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    Worker {
        child,
        stream,
        _dir: dir,
    }
}

fn handshake(kind: WorkerKind) -> Handshake {
    Handshake {
        kind,
        node_version: VERSION.into(),
        build_id: BUILD_ID.into(),
        security: SecuritySettings::default(),
        artifacts_dir: String::new(),
        cgroup: Default::default(),
        skip_version_check: false,
    }
}

/// Waits (bounded) for the worker to exit; returns its exit code and stderr.
fn finish(mut w: Worker) -> (i32, String) {
    drop(w.stream);
    let start = Instant::now();
    loop {
        if let Some(status) = w.child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(w.child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
            let code = status
                .code()
                .unwrap_or_else(|| panic!("worker killed by a signal: {status:?}; {stderr}"));
            return (code, stderr);
        }
        if start.elapsed() > Duration::from_secs(10) {
            let _ = w.child.kill();
            panic!("worker did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[track_caller]
fn assert_clean_error(code: i32, stderr: &str, needle: &str) {
    assert_eq!(code, 1, "expected exit status 1: {stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    assert!(
        !stderr.contains("panicked"),
        "the worker panicked: {stderr}"
    );
}

#[test]
fn truncated_handshake() {
    for kind in [WorkerKind::Prepare, WorkerKind::Execute] {
        let mut w = start(kind);
        w.stream.write_all(&100u32.to_le_bytes()).unwrap();
        w.stream.write_all(&[0u8; 10]).unwrap();
        w.stream.shutdown(std::net::Shutdown::Write).unwrap();
        let (code, stderr) = finish(w);
        assert_clean_error(code, &stderr, "truncated frame: expected 100 bytes, got 10");
    }
}

#[test]
fn truncated_header() {
    let mut w = start(WorkerKind::Execute);
    w.stream.write_all(&[7u8, 0]).unwrap();
    w.stream.shutdown(std::net::Shutdown::Write).unwrap();
    let (code, stderr) = finish(w);
    assert_clean_error(code, &stderr, "truncated frame: expected 4 bytes, got 2");
}

#[test]
fn over_long_frame_is_refused_without_allocating_it() {
    let mut w = start(WorkerKind::Prepare);
    w.stream.write_all(&u32::MAX.to_le_bytes()).unwrap();
    let (code, stderr) = finish(w);
    assert_clean_error(code, &stderr, "exceeds the limit");
}

#[test]
fn garbage_handshake() {
    let mut w = start(WorkerKind::Execute);
    let garbage = [0xffu8; 37];
    w.stream
        .write_all(&(garbage.len() as u32).to_le_bytes())
        .unwrap();
    w.stream.write_all(&garbage).unwrap();
    let (code, stderr) = finish(w);
    assert_clean_error(code, &stderr, "malformed frame payload");
}

#[test]
fn garbage_and_over_long_requests_after_a_good_handshake() {
    for request in [
        {
            let mut f = 5u32.to_le_bytes().to_vec();
            f.extend_from_slice(&[9, 9, 9, 9, 9]);
            f
        },
        (frame::MAX_FRAME_LEN + 1).to_le_bytes().to_vec(),
    ] {
        for kind in [WorkerKind::Prepare, WorkerKind::Execute] {
            let mut w = start(kind);
            frame::write_frame(&mut w.stream, &handshake(kind)).unwrap();
            let reply: HandshakeReply = frame::read_frame(&mut w.stream).unwrap();
            assert!(matches!(reply, HandshakeReply::Ready(_)), "{reply:?}");
            w.stream.write_all(&request).unwrap();
            let (code, stderr) = finish(w);
            assert_eq!(code, 1, "{stderr}");
            assert!(!stderr.contains("panicked"), "{stderr}");
            assert!(
                stderr.contains("malformed") || stderr.contains("exceeds the limit"),
                "{stderr}"
            );
        }
    }
}

#[test]
fn a_worker_exits_quietly_when_the_host_goes_away() {
    let mut w = start(WorkerKind::Execute);
    frame::write_frame(&mut w.stream, &handshake(WorkerKind::Execute)).unwrap();
    let _: HandshakeReply = frame::read_frame(&mut w.stream).unwrap();
    let (code, stderr) = finish(w);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn wrong_role_and_wrong_version_are_refused_in_the_handshake() {
    let mut w = start(WorkerKind::Prepare);
    frame::write_frame(&mut w.stream, &handshake(WorkerKind::Execute)).unwrap();
    let reply: HandshakeReply = frame::read_frame(&mut w.stream).unwrap();
    assert_eq!(
        reply,
        HandshakeReply::WrongKind {
            serves: WorkerKind::Prepare
        }
    );
    let (code, stderr) = finish(w);
    assert_clean_error(code, &stderr, "spawned as a execute worker");

    let mut w = start(WorkerKind::Execute);
    let mut hs = handshake(WorkerKind::Execute);
    hs.node_version = "0.0.0-other".into();
    frame::write_frame(&mut w.stream, &hs).unwrap();
    match frame::read_frame::<_, HandshakeReply>(&mut w.stream).unwrap() {
        HandshakeReply::VersionMismatch(info) => {
            assert_eq!(info.version, VERSION);
            assert_eq!(info.build_id, BUILD_ID);
        }
        other => panic!("{other:?}"),
    }
    let (code, stderr) = finish(w);
    assert_clean_error(code, &stderr, "0.0.0-other");
}

#[test]
fn an_over_long_frame_cannot_even_be_encoded() {
    let big = vec![0u8; frame::MAX_FRAME_LEN as usize];
    assert!(matches!(
        frame::encode_frame(&big.encode()),
        Err(frame::FrameError::TooLong { .. })
    ));
}
