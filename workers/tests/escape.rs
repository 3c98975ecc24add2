//! Escape tests: native probe code runs in a real job process, once without the sandbox (to
//! prove the attempt would succeed) and once inside it, with the exact policy an execute job
//! gets. The table of outcomes is `docs/escape-tests.md`; this test produces it
//! (`PVF_UPDATE_DOCS=1`) and fails when the machine's behaviour no longer matches it, so a
//! sandbox layer that stops working fails the build instead of passing silently.

use pvf_workers::{
    job::{JobEnd, JobReport, run_job_in},
    sandbox::{self, Policy},
};
use std::os::linux::net::SocketAddrExt;
use std::{
    ffi::CString,
    io::Write,
    net::{TcpListener, UdpSocket},
    os::unix::net::UnixListener,
    path::{Path, PathBuf},
    time::Duration,
};

/// What a probe saw.
fn errno_name(err: &std::io::Error) -> String {
    match err.raw_os_error() {
        Some(libc::EACCES) => "EACCES".into(),
        Some(libc::EPERM) => "EPERM".into(),
        Some(libc::ENOSYS) => "ENOSYS".into(),
        Some(libc::ENOENT) => "ENOENT".into(),
        Some(libc::EAGAIN) => "EAGAIN".into(),
        Some(libc::ESRCH) => "ESRCH".into(),
        Some(n) => format!("errno {n}"),
        None => err.to_string(),
    }
}

fn outcome(r: std::io::Result<()>) -> Vec<u8> {
    match r {
        Ok(()) => b"succeeds".to_vec(),
        Err(e) => format!("fails ({})", errno_name(&e)).into_bytes(),
    }
}

fn check(ret: libc::c_long) -> std::io::Result<()> {
    if ret < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

struct Fixture {
    worker_dir: tempfile::TempDir,
    artifacts_dir: tempfile::TempDir,
    node_file: PathBuf,
    /// This test process, standing in for the worker the job must not reach.
    test_pid: i32,
    outside_dir: tempfile::TempDir,
    tcp_port: u16,
    udp_port: u16,
    unix_path: PathBuf,
    abstract_name: String,
    _tcp: TcpListener,
    _udp: UdpSocket,
    _unix: UnixListener,
    _abstract: UnixListener,
}

impl Fixture {
    fn new() -> Self {
        let node_dir = tempfile::tempdir().unwrap();
        let node_file = node_dir.path().join("node-key");
        std::fs::write(&node_file, b"secret").unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let unix_path = node_dir.path().join("node.sock");
        let unix = UnixListener::bind(&unix_path).unwrap();
        let abstract_name = format!("pvf-escape-{}", std::process::id());
        let addr =
            std::os::unix::net::SocketAddr::from_abstract_name(abstract_name.as_bytes()).unwrap();
        let abstract_listener = UnixListener::bind_addr(&addr).unwrap();
        std::mem::forget(node_dir);
        Self {
            worker_dir: tempfile::tempdir().unwrap(),
            artifacts_dir: tempfile::tempdir().unwrap(),
            node_file,
            test_pid: std::process::id() as i32,
            outside_dir: tempfile::tempdir().unwrap(),
            tcp_port: tcp.local_addr().unwrap().port(),
            udp_port: udp.local_addr().unwrap().port(),
            unix_path,
            abstract_name,
            _tcp: tcp,
            _udp: udp,
            _unix: unix,
            _abstract: abstract_listener,
        }
    }

    /// The policy of an execute job (reads its folder and the artifacts; writes nothing).
    fn policy(&self) -> Policy {
        Policy {
            landlock: true,
            seccomp: true,
            pid_namespace: true,
            writable: Vec::new(),
            readable: vec![
                self.artifacts_dir.path().to_path_buf(),
                self.worker_dir.path().to_path_buf(),
            ],
        }
    }
}

type Probe = fn(&Fixture) -> Vec<u8>;

fn read_file(path: &Path) -> Vec<u8> {
    outcome(std::fs::read(path).map(drop))
}

fn probes() -> Vec<(&'static str, Probe)> {
    vec![
        ("read /etc/passwd", |_| read_file(Path::new("/etc/passwd"))),
        ("read a file of the node", |f| read_file(&f.node_file)),
        ("read the artifact folder", |f| {
            outcome(std::fs::read_dir(f.artifacts_dir.path()).map(drop))
        }),
        ("write outside the worker folder", |f| {
            outcome(std::fs::write(f.outside_dir.path().join("x"), b"x"))
        }),
        ("open a TCP connection", |f| {
            outcome(std::net::TcpStream::connect(("127.0.0.1", f.tcp_port)).map(drop))
        }),
        ("send a UDP datagram", |f| {
            outcome(
                UdpSocket::bind("127.0.0.1:0")
                    .and_then(|s| s.send_to(b"x", ("127.0.0.1", f.udp_port)))
                    .map(drop),
            )
        }),
        ("connect to a Unix socket", |f| {
            outcome(std::os::unix::net::UnixStream::connect(&f.unix_path).map(drop))
        }),
        ("connect to an abstract Unix socket", |f| {
            let addr =
                std::os::unix::net::SocketAddr::from_abstract_name(f.abstract_name.as_bytes());
            outcome(
                addr.and_then(|a| std::os::unix::net::UnixStream::connect_addr(&a))
                    .map(drop),
            )
        }),
        ("read the environment", |_| {
            if std::env::vars_os().next().is_some() {
                b"succeeds".to_vec()
            } else {
                b"fails (empty)".to_vec()
            }
        }),
        ("signal the worker (kill 0)", |f| {
            // SAFETY: signal 0 only checks permission.
            outcome(check(unsafe { libc::kill(f.test_pid, 0) } as libc::c_long))
        }),
        ("fork 64 processes", |_| {
            let mut result = Ok(());
            for _ in 0..64 {
                // SAFETY: the child exits at once without touching shared state.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    unsafe { libc::_exit(0) };
                }
                if pid < 0 {
                    result = Err(std::io::Error::last_os_error());
                    break;
                }
                // SAFETY: reaps the child just forked.
                unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
            }
            outcome(result)
        }),
        ("x32-ABI socket()", |_| {
            // SAFETY: a raw system call with plain integer arguments.
            outcome(check(unsafe {
                libc::syscall(
                    libc::SYS_socket | 0x4000_0000,
                    libc::AF_INET,
                    libc::SOCK_STREAM,
                    0,
                )
            }))
        }),
        ("execute /bin/true", |_| {
            let path = CString::new("/bin/true").unwrap();
            let argv = [path.as_ptr(), std::ptr::null()];
            // SAFETY: valid NUL-terminated strings; on success the process image is replaced
            // and the job reports nothing, which the table shows as "exited".
            unsafe { libc::execv(path.as_ptr(), argv.as_ptr()) };
            outcome(Err(std::io::Error::last_os_error()))
        }),
    ]
}

fn run(probe: Probe, fixture: &Fixture, sandboxed: bool) -> String {
    let policy = fixture.policy();
    let spawn = if sandboxed {
        policy.spawn()
    } else {
        pvf_workers::job::Spawn::Fork
    };
    let end = run_job_in(spawn, Duration::from_secs(10), || {
        if sandboxed {
            sandbox::enter_or_exit(&policy);
        }
        probe(fixture)
    })
    .expect("a job process starts");
    match end {
        JobEnd::Reported(JobReport::Done(msg), _) => String::from_utf8_lossy(&msg).into_owned(),
        JobEnd::Died(how, _) if how.contains("SIGSYS") => "killed (seccomp)".into(),
        JobEnd::Died(how, _) if how.contains("without a report") => {
            "succeeds (the process was replaced)".into()
        }
        JobEnd::Died(how, _) => format!("died ({how})"),
        JobEnd::Exited(code, _) => format!("exited ({code})"),
        other => format!("{other:?}"),
    }
}

fn table() -> String {
    let fixture = Fixture::new();
    let mut out =
        String::from("| attempt | without the sandbox | inside the sandbox |\n|---|---|---|\n");
    for (name, probe) in probes() {
        let free = run(probe, &fixture, false);
        let jailed = run(probe, &fixture, true);
        out.push_str(&format!("| {name} | {free} | {jailed} |\n"));
    }
    out
}

const DOC: &str = "docs/escape-tests.md";
const HEADER: &str = "# Escape tests

What a job can do without the sandbox and inside it, measured by `workers/tests/escape.rs`
(`cargo test --release -p pvf-workers --test escape`; regenerate this file with
`PVF_UPDATE_DOCS=1`). Each attempt runs as native code in a real job process of the worker,
with the policy of an execute job: a new PID namespace, Landlock ABI v1 (read its folder and
the artifact folder, write nothing), the seccomp network filter, `no_new_privs`, rlimits and an
empty environment.
The test fails when this table no longer describes the machine, so a layer that stops working
fails the build.

On this machine's kernel the x32 ABI is not compiled in, so an x32 system call fails with
ENOSYS even unsandboxed; the seccomp filter kills it anyway, for kernels that have it.
In its own PID namespace the job cannot see or signal the worker (ESRCH). Forking is not
contained yet: that needs a process-count limit that binds (root ignores RLIMIT_NPROC; a user
namespace would fix it, issue 4), although whatever the job forks dies with it, since it is
PID 1 of its namespace. Executing a binary is allowed by Landlock ABI v1 only inside readable
folders, and `/bin` is not one of them.

";

#[test]
fn escape_attempts_fail_inside_the_sandbox() {
    let table = table();
    println!("{table}");
    let doc_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(DOC);
    let doc = format!("{HEADER}{table}");
    if std::env::var_os("PVF_UPDATE_DOCS").is_some() {
        std::fs::File::create(&doc_path)
            .and_then(|mut f| f.write_all(doc.as_bytes()))
            .unwrap();
    }
    for must_fail in [
        "read /etc/passwd",
        "read a file of the node",
        "write outside the worker folder",
        "open a TCP connection",
        "send a UDP datagram",
        "connect to a Unix socket",
        "connect to an abstract Unix socket",
        "read the environment",
        "signal the worker (kill 0)",
        "x32-ABI socket()",
    ] {
        let row = table
            .lines()
            .find(|l| l.starts_with(&format!("| {must_fail} |")))
            .unwrap();
        let jailed = row.rsplit('|').nth(1).unwrap().trim();
        assert!(!jailed.starts_with("succeeds"), "escape: {row}");
    }
    let recorded = std::fs::read_to_string(&doc_path).unwrap_or_default();
    assert_eq!(
        recorded, doc,
        "{DOC} no longer matches this machine; rerun with PVF_UPDATE_DOCS=1 and review the diff"
    );
}
