//! Escape tests: native probe code runs in a real job process, once without the sandbox (to
//! prove the attempt would succeed) and once inside it: a process confines itself exactly as an
//! execute worker does at start-up (`pvf_workers::worker::confine`: the cgroup the node gives
//! execute workers, user, mount and network namespaces, `pivot_root` into its folder,
//! read-only, Landlock and seccomp) and creates the job exactly as the worker does (every job
//! namespace, rlimits, no capabilities). The table of outcomes is `docs/escape-tests.md`; this test produces it
//! (`PVF_UPDATE_DOCS=1`) and fails when the machine's behaviour no longer matches it, so a
//! sandbox layer that stops working fails the build instead of passing silently.

use pvf_messages::{
    protocol::{CgroupSettings, Handshake, JobNamespaceSettings, SecuritySettings, WorkerKind},
    version::{BUILD_ID, VERSION},
};
use pvf_subsystem::host::cgroups::NodeCgroups;
use pvf_workers::{
    job::{JobEnd, JobReport, Spawn, run_job_in},
    sandbox,
    worker::{Confined, confine},
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
        Some(libc::EROFS) => "EROFS".into(),
        Some(libc::ENOTDIR) => "ENOTDIR".into(),
        Some(libc::ENETUNREACH) => "ENETUNREACH".into(),
        Some(libc::ECONNREFUSED) => "ECONNREFUSED".into(),
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
    /// A key in this process's session keyring, which jobs inherit a reference to.
    key_description: String,
    /// A pseudo-terminal standing in for the node's terminal: its slave is the stand-in
    /// worker's standard error, as the node's terminal is a real worker's.
    _pty_master: i32,
    pty_slave_path: CString,
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
    cgroups: NodeCgroups,
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
        let key_description = format!("pvf-escape-{}", std::process::id());
        let desc = CString::new(key_description.clone()).unwrap();
        // SAFETY: valid NUL-terminated strings and a buffer of the given length.
        let key = unsafe {
            libc::syscall(
                libc::SYS_add_key,
                c"user".as_ptr(),
                desc.as_ptr(),
                b"node-secret".as_ptr(),
                11usize,
                KEY_SPEC_SESSION_KEYRING,
            )
        };
        assert!(
            key > 0,
            "add_key: {} (a keyring the job must not read)",
            std::io::Error::last_os_error()
        );
        // SAFETY: plain calls on the descriptor just opened.
        let (pty_master, pty_slave_path) = unsafe {
            let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
            assert!(
                master >= 0,
                "posix_openpt: {}",
                std::io::Error::last_os_error()
            );
            assert_eq!(libc::grantpt(master), 0);
            assert_eq!(libc::unlockpt(master), 0);
            let name = std::ffi::CStr::from_ptr(libc::ptsname(master)).to_owned();
            (master, name)
        };
        let worker_dir = tempfile::tempdir().unwrap();
        let artifacts_dir = tempfile::tempdir().unwrap();
        // Another parachain's artifact in the cache, and this job's own, linked into the
        // worker's job folder as the node links it.
        std::fs::write(artifacts_dir.path().join("other.pvf"), b"another artifact").unwrap();
        let own = artifacts_dir.path().join("own.pvf");
        std::fs::write(&own, b"this job's artifact").unwrap();
        let job_dir = worker_dir
            .path()
            .join(pvf_messages::protocol::EXECUTE_JOB_DIR);
        std::fs::create_dir(&job_dir).unwrap();
        std::fs::hard_link(&own, job_dir.join(pvf_workers::worker::ARTIFACT_FILE)).unwrap();
        Self {
            key_description,
            _pty_master: pty_master,
            pty_slave_path,
            worker_dir,
            artifacts_dir,
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
            cgroups: {
                let (cgroups, unavailable) = NodeCgroups::create();
                assert!(
                    unavailable.is_empty(),
                    "CI expects the pids and memory cgroup controllers here: {unavailable:?}"
                );
                cgroups
            },
        }
    }
}

/// The session keyring, as `add_key` and `keyctl` name it.
const KEY_SPEC_SESSION_KEYRING: libc::c_long = -3;
const KEYCTL_SEARCH: libc::c_long = 10;
const KEYCTL_READ: libc::c_long = 11;

/// Memory a probe reads from its worker with `process_vm_readv`: at the same address in the
/// worker and in the job, which is a copy of it.
static WORKER_MEMORY: [u8; 8] = *b"memory!!";

/// The smallest x86-64 Linux program: exit(0). 64 bytes of ELF header, one 56-byte program
/// header mapping the whole file at 0x400000, then `mov eax, 60; xor edi, edi; syscall`.
fn exit_elf() -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    let code: &[u8] = &[0xb8, 60, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05];
    let total = (64 + 56 + code.len()) as u64;
    let mut elf = Vec::new();
    elf.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    elf.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    elf.extend_from_slice(&0x3eu16.to_le_bytes()); // x86-64
    elf.extend_from_slice(&1u32.to_le_bytes());
    elf.extend_from_slice(&(BASE + 120).to_le_bytes()); // entry
    elf.extend_from_slice(&64u64.to_le_bytes()); // program headers
    elf.extend_from_slice(&0u64.to_le_bytes()); // no section headers
    elf.extend_from_slice(&0u32.to_le_bytes());
    for half in [64u16, 56, 1, 64, 0, 0] {
        elf.extend_from_slice(&half.to_le_bytes());
    }
    elf.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    elf.extend_from_slice(&5u32.to_le_bytes()); // R + X
    for word in [0, BASE, BASE, total, total, 0x1000] {
        elf.extend_from_slice(&word.to_le_bytes());
    }
    elf.extend_from_slice(code);
    elf
}

/// Runs `elf` from a `memfd` with `execveat`: code that was never a file on any mount.
fn exec_from_memfd(elf: &[u8]) -> std::io::Result<()> {
    // SAFETY: raw system calls with valid NUL-terminated strings and buffers.
    unsafe {
        let fd = libc::syscall(libc::SYS_memfd_create, c"x".as_ptr(), 0);
        check(fd)?;
        let fd = fd as i32;
        if libc::write(fd, elf.as_ptr().cast(), elf.len()) != elf.len() as isize {
            return Err(std::io::Error::last_os_error());
        }
        let argv = [c"x".as_ptr(), std::ptr::null()];
        let envp = [std::ptr::null::<libc::c_char>()];
        libc::syscall(
            libc::SYS_execveat,
            fd,
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
    }
    Err(std::io::Error::last_os_error())
}

/// The stand-in worker's memory limit: the execute workers' own (5 GiB) scaled down, so that
/// exceeding it takes a second rather than most of a minute on a small VM.
const ESCAPE_MEMORY_MAX: u64 = 512 << 20;

/// Every layer on, as the host asks for on a machine that has them all.
fn every_layer() -> SecuritySettings {
    SecuritySettings {
        secure_validator_mode: true,
        landlock: true,
        seccomp: true,
        net_namespace: true,
        pivot_root: true,
        job_namespaces: JobNamespaceSettings::ALL,
    }
}

/// No layer at all; the columns switch them on.
fn no_layer() -> SecuritySettings {
    SecuritySettings {
        secure_validator_mode: false,
        landlock: false,
        seccomp: false,
        net_namespace: false,
        pivot_root: false,
        job_namespaces: JobNamespaceSettings::default(),
    }
}

/// One column of the matrix: the layers a stand-in worker is confined with.
struct Column {
    title: &'static str,
    security: SecuritySettings,
    /// The worker's own cgroup (task and memory limits).
    cgroup: bool,
    /// A configuration secure validator mode accepts: every escape must fail in it.
    accepted: bool,
}

fn columns() -> Vec<Column> {
    let column = |title, cgroup, accepted, f: fn(&mut SecuritySettings)| {
        let mut security = no_layer();
        f(&mut security);
        Column {
            title,
            security,
            cgroup,
            accepted,
        }
    };
    vec![
        column("all layers", true, true, |s| *s = every_layer()),
        column("all but Landlock", true, true, |s| {
            *s = every_layer();
            s.landlock = false;
        }),
        column("all but pivot_root", true, true, |s| {
            *s = every_layer();
            s.pivot_root = false;
        }),
        column(
            "least secure mode accepts: seccomp, Landlock, job PID namespace",
            false,
            true,
            |s| {
                s.seccomp = true;
                s.landlock = true;
                s.job_namespaces.pid = true;
            },
        ),
        column(
            "least secure mode accepts: seccomp, pivot_root, job PID namespace",
            false,
            true,
            |s| {
                s.seccomp = true;
                s.pivot_root = true;
                s.job_namespaces.pid = true;
            },
        ),
        column("Landlock alone", false, false, |s| s.landlock = true),
        column("seccomp alone", false, false, |s| s.seccomp = true),
        column("pivot_root alone", false, false, |s| s.pivot_root = true),
        column("network namespace alone", false, false, |s| {
            s.net_namespace = true
        }),
        column("job namespaces alone", false, false, |s| {
            s.job_namespaces = JobNamespaceSettings::ALL
        }),
        column("cgroup alone", true, false, |_| {}),
    ]
}

/// Rows about resources, which only the cgroup bounds (for root; `RLIMIT_NPROC` binds other
/// users): secure mode does not require the cgroup, so its least configurations let them pass.
const CGROUP_ROWS: &[&str] = &[
    "keep 1024 processes alive (fork bomb)",
    "touch 1 GiB of memory",
];

/// What the job knows: the artifact cache (the node's path), its worker's folder and its own
/// artifact as it sees them, and its worker's process id.
struct JobView {
    artifacts_dir: PathBuf,
    worker_dir: PathBuf,
    own_artifact: PathBuf,
    worker_pid: i32,
}

type Probe = fn(&Fixture, &JobView) -> Vec<u8>;

fn read_file(path: &Path) -> Vec<u8> {
    outcome(std::fs::read(path).map(drop))
}

fn probes() -> Vec<(&'static str, Probe)> {
    vec![
        ("read /etc/passwd", |_, _| {
            read_file(Path::new("/etc/passwd"))
        }),
        ("read a file of the node", |f, _| read_file(&f.node_file)),
        ("list the artifact cache", |_, v| {
            outcome(std::fs::read_dir(&v.artifacts_dir).map(drop))
        }),
        ("read another parachain's artifact", |_, v| {
            read_file(&v.artifacts_dir.join("other.pvf"))
        }),
        ("change another artifact's permissions", |_, v| {
            use std::os::unix::fs::PermissionsExt;
            let other = v.artifacts_dir.join("other.pvf");
            outcome(std::fs::set_permissions(
                other,
                std::fs::Permissions::from_mode(0o644),
            ))
        }),
        ("truncate another artifact (to its own length)", |_, v| {
            let other = v.artifacts_dir.join("other.pvf");
            let path = CString::new(other.as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: a valid NUL-terminated path; the length is the file's own.
            outcome(check(unsafe {
                libc::truncate(path.as_ptr(), b"another artifact".len() as libc::off_t)
                    as libc::c_long
            }))
        }),
        ("write its own artifact", |_, v| {
            outcome(
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&v.own_artifact)
                    .map(drop),
            )
        }),
        ("write in the worker folder", |_, v| {
            outcome(std::fs::write(v.worker_dir.join("x"), b"x"))
        }),
        ("write outside the worker folder", |f, _| {
            outcome(std::fs::write(f.outside_dir.path().join("x"), b"x"))
        }),
        ("open a TCP connection", |f, _| {
            outcome(std::net::TcpStream::connect(("127.0.0.1", f.tcp_port)).map(drop))
        }),
        ("send a UDP datagram", |f, _| {
            outcome(
                UdpSocket::bind("127.0.0.1:0")
                    .and_then(|s| s.send_to(b"x", ("127.0.0.1", f.udp_port)))
                    .map(drop),
            )
        }),
        ("connect to a Unix socket", |f, _| {
            outcome(std::os::unix::net::UnixStream::connect(&f.unix_path).map(drop))
        }),
        ("connect to an abstract Unix socket", |f, _| {
            let addr =
                std::os::unix::net::SocketAddr::from_abstract_name(f.abstract_name.as_bytes());
            outcome(
                addr.and_then(|a| std::os::unix::net::UnixStream::connect_addr(&a))
                    .map(drop),
            )
        }),
        ("read the environment", |_, _| {
            if std::env::vars_os().next().is_some() {
                b"succeeds".to_vec()
            } else {
                b"fails (empty)".to_vec()
            }
        }),
        ("signal the worker (kill 0)", |_, v| {
            // SAFETY: signal 0 only checks permission.
            outcome(check(unsafe { libc::kill(v.worker_pid, 0) } as libc::c_long))
        }),
        ("ptrace the worker", |_, v| {
            // SAFETY: PTRACE_SEIZE does not stop the tracee; it is detached at once.
            let seized =
                check(unsafe { libc::ptrace(libc::PTRACE_SEIZE, v.worker_pid, 0usize, 0usize) });
            if seized.is_ok() {
                // SAFETY: detaching the tracee just seized.
                unsafe { libc::ptrace(libc::PTRACE_DETACH, v.worker_pid, 0usize, 0usize) };
            }
            outcome(seized)
        }),
        ("see other processes (/proc)", |_, _| {
            // SAFETY: getpid has no preconditions.
            let me = unsafe { libc::getpid() }.to_string();
            outcome(std::fs::read_dir("/proc").and_then(|entries| {
                let others = entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .any(|n| n.bytes().all(|b| b.is_ascii_digit()) && n != me);
                if others {
                    Ok(())
                } else {
                    Err(std::io::Error::from_raw_os_error(libc::ESRCH))
                }
            }))
        }),
        ("mount a tmpfs", |_, v| {
            let target = CString::new(v.worker_dir.as_os_str().as_encoded_bytes()).unwrap();
            let fs = CString::new("tmpfs").unwrap();
            // SAFETY: valid NUL-terminated strings; a successful mount is undone at once.
            let mounted = check(unsafe {
                libc::mount(
                    fs.as_ptr(),
                    target.as_ptr(),
                    fs.as_ptr(),
                    0,
                    std::ptr::null(),
                )
            } as libc::c_long);
            if mounted.is_ok() {
                // SAFETY: unmounting what was just mounted.
                unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
            }
            outcome(mounted)
        }),
        ("keep 1024 processes alive (fork bomb)", |_, _| {
            let mut children = Vec::new();
            let mut result = Ok(());
            for _ in 0..1024 {
                // SAFETY: the child only waits to be killed, touching no shared state.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    loop {
                        // SAFETY: pause has no preconditions.
                        unsafe { libc::pause() };
                    }
                }
                if pid < 0 {
                    result = Err(std::io::Error::last_os_error());
                    break;
                }
                children.push(pid);
            }
            for pid in children {
                // SAFETY: killing and reaping a child forked above.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, std::ptr::null_mut(), 0);
                }
            }
            outcome(result)
        }),
        ("touch 1 GiB of memory", |_, _| {
            const SIZE: usize = 1 << 30;
            // SAFETY: a fresh private anonymous mapping, written within its bounds only.
            let result = unsafe {
                let p = libc::mmap(
                    std::ptr::null_mut(),
                    SIZE,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                    -1,
                    0,
                );
                if p == libc::MAP_FAILED {
                    Err(std::io::Error::last_os_error())
                } else {
                    // Huge pages make touching it fast where the kernel offers them.
                    libc::madvise(p, SIZE, libc::MADV_HUGEPAGE);
                    for offset in (0..SIZE).step_by(4096) {
                        p.cast::<u8>().add(offset).write_volatile(1);
                    }
                    libc::munmap(p, SIZE);
                    Ok(())
                }
            };
            outcome(result)
        }),
        ("x32-ABI socket()", |_, _| {
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
        ("read a key of the node's session keyring", |f, _| {
            let desc = CString::new(f.key_description.clone()).unwrap();
            let mut buf = [0u8; 64];
            // SAFETY: raw system calls with valid NUL-terminated strings and buffers.
            outcome(unsafe {
                let key = libc::syscall(
                    libc::SYS_keyctl,
                    KEYCTL_SEARCH,
                    KEY_SPEC_SESSION_KEYRING,
                    c"user".as_ptr(),
                    desc.as_ptr(),
                    0,
                );
                check(key).and_then(|()| {
                    check(libc::syscall(
                        libc::SYS_keyctl,
                        KEYCTL_READ,
                        key,
                        buf.as_mut_ptr(),
                        buf.len(),
                    ))
                })
            })
        }),
        ("type into the node's terminal (TIOCSTI)", |f, _| {
            // Standard error first (where a worker's own is the node's terminal), then the
            // terminal by name.
            let ch = b'#';
            // SAFETY: ioctl with a valid pointer to one byte; open with a valid path.
            outcome(unsafe {
                check(libc::ioctl(2, libc::TIOCSTI, &ch) as libc::c_long).or_else(|_| {
                    let fd = libc::open(f.pty_slave_path.as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
                    check(fd as libc::c_long)?;
                    check(libc::ioctl(fd, libc::TIOCSTI, &ch) as libc::c_long)
                })
            })
        }),
        ("create a userfaultfd", |_, _| {
            // SAFETY: a raw system call with integer flags (UFFD_USER_MODE_ONLY).
            outcome(check(unsafe {
                libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC | 1)
            }))
        }),
        ("run code from a memfd (memfd_create + execveat)", |_, _| {
            outcome(exec_from_memfd(&exit_elf()))
        }),
        ("open a perf event", |_, _| {
            // perf_event_attr, version 0 (64 bytes): PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK.
            let mut attr = [0u8; 64];
            attr[0..4].copy_from_slice(&1u32.to_le_bytes());
            attr[4..8].copy_from_slice(&64u32.to_le_bytes());
            // SAFETY: a raw system call with a valid attribute buffer.
            outcome(check(unsafe {
                libc::syscall(libc::SYS_perf_event_open, attr.as_ptr(), 0, -1, -1, 0)
            }))
        }),
        ("create a BPF map", |_, _| {
            // bpf_attr for BPF_MAP_CREATE: an array of one 4-byte value.
            let mut attr = [0u8; 64];
            for (i, v) in [2u32, 4, 4, 1].into_iter().enumerate() {
                attr[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
            }
            // SAFETY: a raw system call with a valid attribute buffer.
            outcome(check(unsafe {
                libc::syscall(libc::SYS_bpf, 0, attr.as_ptr(), attr.len())
            }))
        }),
        ("read the worker's memory (process_vm_readv)", |_, v| {
            let mut buf = [0u8; 8];
            let local = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            let remote = libc::iovec {
                iov_base: WORKER_MEMORY.as_ptr() as *mut libc::c_void,
                iov_len: WORKER_MEMORY.len(),
            };
            // SAFETY: both iovecs describe valid buffers of their length.
            outcome(check(unsafe {
                libc::process_vm_readv(v.worker_pid, &local, 1, &remote, 1, 0) as libc::c_long
            }))
        }),
        (
            "be dumpable (core dumps, ptrace by the same user)",
            |_, _| {
                // SAFETY: a plain prctl query.
                if unsafe { libc::prctl(libc::PR_GET_DUMPABLE) } == 1 {
                    b"succeeds".to_vec()
                } else {
                    b"fails (not dumpable)".to_vec()
                }
            },
        ),
        ("execute /bin/true", |_, _| {
            let path = CString::new("/bin/true").unwrap();
            let argv = [path.as_ptr(), std::ptr::null()];
            // SAFETY: valid NUL-terminated strings; on success the process image is replaced
            // and the job reports nothing, which the table shows as "exited".
            unsafe { libc::execv(path.as_ptr(), argv.as_ptr()) };
            outcome(Err(std::io::Error::last_os_error()))
        }),
    ]
}

fn describe(end: std::io::Result<JobEnd>) -> String {
    match end.expect("a job process starts") {
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

const BUDGET: Duration = Duration::from_secs(10);

/// Runs `probe` in a job of this process, unsandboxed.
fn run_free(probe: Probe, fixture: &Fixture) -> String {
    let view = JobView {
        artifacts_dir: fixture.artifacts_dir.path().to_path_buf(),
        worker_dir: fixture.worker_dir.path().to_path_buf(),
        own_artifact: fixture
            .worker_dir
            .path()
            .join(pvf_messages::protocol::EXECUTE_JOB_DIR)
            .join(pvf_workers::worker::ARTIFACT_FILE),
        worker_pid: fixture.test_pid,
    };
    describe(run_job_in(Spawn::Fork, BUDGET, || probe(fixture, &view)))
}

/// The cgroup settings of a stand-in worker of `kind` in `column`.
fn cgroup_of(column: &Column, kind: WorkerKind, fixture: &Fixture) -> CgroupSettings {
    if !column.cgroup {
        return CgroupSettings::default();
    }
    CgroupSettings {
        memory_max: Some(ESCAPE_MEMORY_MAX),
        ..fixture.cgroups.settings(kind)
    }
}

/// Runs `probe` in a job of a stand-in worker confined as `column` says, as an execute worker
/// runs a job.
fn run_jailed(probe: Probe, fixture: &Fixture, column: &Column) -> String {
    // The node runs in a session whose controlling terminal is its standard error, as when it
    // is started from a shell; its worker inherits both and confines itself from there.
    let node = run_job_in(Spawn::Fork, BUDGET, || {
        // SAFETY: plain calls on a valid path and the descriptor it opens.
        unsafe {
            libc::setsid();
            let slave = libc::open(fixture.pty_slave_path.as_ptr(), libc::O_RDWR);
            if slave < 0 || libc::ioctl(slave, libc::TIOCSCTTY, 0) != 0 || libc::dup2(slave, 2) != 2
            {
                return format!(
                    "cannot make the pseudo-terminal the node's: {}",
                    std::io::Error::last_os_error()
                )
                .into_bytes();
            }
        }
        describe(run_job_in(Spawn::Fork, BUDGET, || {
            run_jailed_worker(probe, fixture, column)
        }))
        .into_bytes()
    });
    describe(node)
}

/// The stand-in execute worker of [`run_jailed`].
fn run_jailed_worker(probe: Probe, fixture: &Fixture, column: &Column) -> Vec<u8> {
    {
        let handshake = Handshake {
            kind: WorkerKind::Execute,
            node_version: VERSION.into(),
            build_id: BUILD_ID.into(),
            security: column.security.clone(),
            artifacts_dir: String::new(),
            cgroup: cgroup_of(column, WorkerKind::Execute, fixture),
            skip_version_check: false,
        };
        let Confined { root, job_policy } =
            match confine(WorkerKind::Execute, fixture.worker_dir.path(), &handshake) {
                Ok(confined) => confined,
                Err(e) => return format!("{CONFINE_FAILED}: {e}").into_bytes(),
            };
        let view = JobView {
            artifacts_dir: fixture.artifacts_dir.path().to_path_buf(),
            worker_dir: root.worker_dir(),
            own_artifact: root
                .job_dir()
                .expect("a job folder")
                .join(pvf_workers::worker::ARTIFACT_FILE),
            // SAFETY: getpid has no preconditions.
            worker_pid: unsafe { libc::getpid() },
        };
        let end = run_job_in(job_policy.spawn(), BUDGET, || {
            sandbox::enter_or_exit(&job_policy);
            probe(fixture, &view)
        });
        describe(end).into_bytes()
    }
}

/// What a preparation job knows: its worker's folder and the artifact it is to write.
struct PrepView {
    worker_dir: PathBuf,
    artifact: PathBuf,
}

/// A preparation probe: what the first job does, then what the next job in the same worker
/// finds. The attempt succeeds if both do.
type PrepProbe = (
    fn(&PrepView) -> std::io::Result<()>,
    fn(&PrepView) -> std::io::Result<()>,
);

fn nothing(_: &PrepView) -> std::io::Result<()> {
    Ok(())
}

fn prepare_probes() -> Vec<(&'static str, PrepProbe)> {
    vec![
        (
            "prepare job: leave a file for the next job",
            (
                |v| std::fs::write(v.worker_dir.join("x"), b"x"),
                |v| std::fs::read(v.worker_dir.join("x")).map(drop),
            ),
        ),
        (
            "prepare job: leave a second name of its artifact for the next job",
            (
                |v| std::fs::hard_link(&v.artifact, v.worker_dir.join("keep")),
                |v| {
                    std::fs::OpenOptions::new()
                        .write(true)
                        .open(v.worker_dir.join("keep"))
                        .map(drop)
                },
            ),
        ),
        (
            "prepare job: leave a folder named `artifact` for the next job",
            (
                |v| {
                    std::fs::remove_file(&v.artifact)?;
                    std::fs::create_dir(&v.artifact)
                },
                |v| match std::fs::metadata(&v.artifact) {
                    Ok(m) if m.is_dir() => Ok(()),
                    Ok(_) => Err(std::io::Error::from_raw_os_error(libc::ENOTDIR)),
                    Err(e) => Err(e),
                },
            ),
        ),
        (
            // A job may write only its artifact, so its file-size limit bounds what it can put
            // on disk; a sparse write past the limit shows the bound without writing 2 GiB.
            "prepare job: grow its artifact past 2 GiB (fill the disk)",
            (
                |v| {
                    use std::io::{Seek, SeekFrom, Write};
                    let mut file = std::fs::OpenOptions::new().write(true).open(&v.artifact)?;
                    file.seek(SeekFrom::Start(
                        pvf_workers::sandbox::MAX_FILE_SIZE + (1 << 20),
                    ))?;
                    file.write_all(b"x")
                },
                nothing,
            ),
        ),
        (
            "prepare job: write a program and run it",
            (
                |v| {
                    use std::os::unix::fs::PermissionsExt;
                    let program = v.worker_dir.join("program");
                    std::fs::write(&program, exit_elf())?;
                    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755))?;
                    let path = CString::new(program.as_os_str().as_encoded_bytes()).unwrap();
                    let argv = [path.as_ptr(), std::ptr::null()];
                    // SAFETY: valid NUL-terminated strings; on success the process is replaced.
                    unsafe { libc::execv(path.as_ptr(), argv.as_ptr()) };
                    Err(std::io::Error::last_os_error())
                },
                nothing,
            ),
        ),
    ]
}

fn job_outcome(end: std::io::Result<JobEnd>) -> Result<(), String> {
    match describe(end) {
        ok if ok == "succeeds" => Ok(()),
        other => Err(other),
    }
}

/// Runs a preparation probe in two plain jobs on one folder, with an artifact file there.
fn run_prepare_free((first, then): PrepProbe) -> String {
    let dir = tempfile::tempdir().unwrap();
    let view = PrepView {
        worker_dir: dir.path().to_path_buf(),
        artifact: dir.path().join(pvf_workers::worker::ARTIFACT_FILE),
    };
    std::fs::write(&view.artifact, b"").unwrap();
    let first = job_outcome(run_job_in(Spawn::Fork, BUDGET, || outcome(first(&view))));
    let then = || job_outcome(run_job_in(Spawn::Fork, BUDGET, || outcome(then(&view))));
    match first.and_then(|()| then()) {
        Ok(()) => "succeeds".into(),
        Err(e) => e,
    }
}

/// Runs a preparation probe in two consecutive preparation jobs of a confined stand-in prepare
/// worker, through the worker's own job cycle (`prepare_cycle`).
fn run_prepare_jailed((first, then): PrepProbe, fixture: &Fixture, column: &Column) -> String {
    let dir = tempfile::tempdir().unwrap();
    let worker = run_job_in(Spawn::Fork, BUDGET, || {
        let handshake = Handshake {
            kind: WorkerKind::Prepare,
            node_version: VERSION.into(),
            build_id: BUILD_ID.into(),
            security: column.security.clone(),
            artifacts_dir: String::new(),
            cgroup: cgroup_of(column, WorkerKind::Prepare, fixture),
            skip_version_check: false,
        };
        let confined = match confine(WorkerKind::Prepare, dir.path(), &handshake) {
            Ok(confined) => confined,
            Err(e) => return format!("{CONFINE_FAILED}: {e}").into_bytes(),
        };
        let run = |step: fn(&PrepView) -> std::io::Result<()>| {
            let (end, _) = pvf_workers::worker::prepare_cycle(&confined, BUDGET, |artifact| {
                let view = PrepView {
                    worker_dir: confined.root.worker_dir(),
                    artifact: artifact.to_path_buf(),
                };
                outcome(step(&view))
            });
            match end {
                Ok(end) => job_outcome(end),
                // The worker could not even start the job: what the first job left won.
                Err(_) => Ok(()),
            }
        };
        let result = run(first).and_then(|()| run(then));
        match result {
            Ok(()) => b"succeeds".to_vec(),
            Err(e) => e.into_bytes(),
        }
    });
    describe(worker)
}

const LINGERING: &str = "leave a process running after the job ended";

/// Whether a process a job forked outlives the job: the job forks a child that closes its
/// descriptors, lives for a second and ends; the (stand-in) worker, a child subreaper so that the orphan becomes its
/// child, looks for a live child once the job was reaped. Without `column`, the worker is not
/// confined at all.
fn run_lingering(fixture: &Fixture, column: Option<&Column>) -> String {
    let worker = run_job_in(Spawn::Fork, BUDGET, || {
        // SAFETY: a plain prctl.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) };
        let job_policy = match column {
            None => None,
            Some(column) => {
                let handshake = Handshake {
                    kind: WorkerKind::Execute,
                    node_version: VERSION.into(),
                    build_id: BUILD_ID.into(),
                    security: column.security.clone(),
                    artifacts_dir: String::new(),
                    cgroup: cgroup_of(column, WorkerKind::Execute, fixture),
                    skip_version_check: false,
                };
                match confine(WorkerKind::Execute, fixture.worker_dir.path(), &handshake) {
                    Ok(confined) => Some(confined.job_policy),
                    Err(e) => return format!("{CONFINE_FAILED}: {e}").into_bytes(),
                }
            }
        };
        let spawn = job_policy.as_ref().map_or(Spawn::Fork, |p| p.spawn());
        let end = run_job_in(spawn, BUDGET, || {
            if let Some(policy) = &job_policy {
                sandbox::enter_or_exit(policy);
            }
            // SAFETY: the child only sleeps and exits, touching no shared state.
            outcome(check(unsafe {
                match libc::fork() {
                    0 => {
                        // Lets go of the job's report pipe, as a hostile process would.
                        libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32);
                        libc::sleep(1);
                        libc::_exit(0)
                    }
                    pid => pid as libc::c_long,
                }
            }))
        });
        let forked = describe(end);
        if !forked.starts_with("succeeds") {
            return forked.into_bytes();
        }
        std::thread::sleep(Duration::from_millis(100));
        // SAFETY: reaping children of this process; a null status pointer is allowed.
        unsafe {
            // Children killed with the job are zombies by now: reap them.
            while libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) > 0 {}
            // Still a child: one that is alive.
            let alive = libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) == 0;
            while libc::waitpid(-1, std::ptr::null_mut(), 0) > 0 {}
            if alive {
                b"succeeds".to_vec()
            } else {
                b"fails (it died with the job)".to_vec()
            }
        }
    });
    describe(worker)
}

/// What a stand-in worker reports when it could not confine itself: a failed test, never a
/// cell that merely "did not succeed".
const CONFINE_FAILED: &str = "the worker could not confine itself";

/// What the kernel does not offer, shown as such rather than as a failed attempt.
fn kernel_lacks(free: &str) -> bool {
    free.contains("ENOSYS")
}

/// The matrix: one row per attempt, one column without the sandbox and one per [`Column`].
fn table() -> Vec<(String, Vec<String>)> {
    let fixture = Fixture::new();
    let columns = columns();
    let mut rows = Vec::new();
    for (name, probe) in probes() {
        let mut cells = vec![run_free(probe, &fixture)];
        cells.extend(columns.iter().map(|c| run_jailed(probe, &fixture, c)));
        rows.push((name.to_string(), cells));
    }
    let mut cells = vec![run_lingering(&fixture, None)];
    cells.extend(columns.iter().map(|c| run_lingering(&fixture, Some(c))));
    rows.push((LINGERING.to_string(), cells));
    for (name, probe) in prepare_probes() {
        let mut cells = vec![run_prepare_free(probe)];
        cells.extend(
            columns
                .iter()
                .map(|c| run_prepare_jailed(probe, &fixture, c)),
        );
        rows.push((name.to_string(), cells));
    }
    rows
}

fn markdown(rows: &[(String, Vec<String>)]) -> String {
    let columns = columns();
    let mut out = String::from("| attempt | without the sandbox |");
    for c in &columns {
        out.push_str(&format!(
            " {}{} |",
            c.title,
            if c.accepted { " ✱" } else { "" }
        ));
    }
    out.push_str("\n|---|---|");
    out.push_str(&"---|".repeat(columns.len()));
    out.push('\n');
    for (name, cells) in rows {
        out.push_str(&format!("| {name} |"));
        for (i, cell) in cells.iter().enumerate() {
            let cell = if i == 0 && kernel_lacks(cell) {
                format!("not in this kernel: {cell}")
            } else {
                cell.clone()
            };
            out.push_str(&format!(" {cell} |"));
        }
        out.push('\n');
    }
    out
}

const DOC: &str = "docs/escape-tests.md";
const HEADER: &str = "# Escape tests

What a job can do without the sandbox and inside it, layer by layer, measured by
`tests/tests/escape.rs` (`cargo test --release -p pvf-tests --test escape`; regenerate this
file with `PVF_UPDATE_DOCS=1`). Each attempt runs as native code in a real job process.
Sandboxed, a stand-in worker first confines itself with the worker's own start-up code
(`pvf_workers::worker::confine`) with the layers of the column, then creates the job exactly as
the worker does (always: its worker's session without a terminal, its standard streams a pipe
the worker drains, an empty environment, `no_new_privs`, not dumpable, rlimits, no capabilities). Execute rows run
in an execute worker's job: its folder read-only, the node's link to the job's own artifact in
its job folder; the artifact cache is at the node's path. Prepare rows run through the prepare
worker's own job cycle (`prepare_cycle`): the folder cleared before and after each job, the
artifact created by the worker, writable by the job alone (Landlock); the second job of the same
worker looks for what the first left. The execute worker is started, as the node starts it, by
a process whose session's controlling terminal is its standard error (as when the node is
started from a shell); the worker leaves that session when it confines itself.

Layers: Landlock ABI v1 (execute: read the job folder; prepare: write the artifact), seccomp
(`workers/src/sandbox/seccomp.rs`), `pivot_root` (with the worker's user and mount
namespaces; execute workers read-only), the worker's network namespace, the job namespaces
(user, mount, PID, IPC, UTS, cgroup), and the worker's cgroup (task limit; memory limit scaled
down to 512 MiB here so that exceeding it takes a second). ✱ marks the configurations secure
validator mode accepts: there the test fails on any attempt that succeeds, except the two
resource rows where the least configurations have no cgroup (secure mode does not require one;
for root only the cgroup bounds tasks, `RLIMIT_NPROC` binds other users). The test also fails
when an attempt does not succeed without the sandbox (a row that proves nothing), unless the
kernel lacks what it needs (shown as such), when a stand-in worker cannot confine itself, and
when any cell differs from this table.

`killed (seccomp)` is SIGSYS; ENOENT after `pivot_root` means the file is not there at all;
ESRCH is the PID namespace (in which a process a job leaves behind dies with the job, its
PID 1; the lingering row's worker is a child subreaper, so that an orphan that survives is
seen); EAGAIN the cgroup's task limit; SIGKILL past the memory limit the kernel's OOM
killer, which the host classifies as a job death, never as an invalid candidate.
`memfd_create` fails with ENOSYS (wasmtime takes that as a kernel without it).

";

#[test]
fn escape_attempts_fail_inside_the_sandbox() {
    let rows = table();
    let table = markdown(&rows);
    println!("{table}");
    let doc_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(DOC);
    let doc = format!("{HEADER}{table}");
    if std::env::var_os("PVF_UPDATE_DOCS").is_some() {
        std::fs::File::create(&doc_path)
            .and_then(|mut f| f.write_all(doc.as_bytes()))
            .unwrap();
    }
    let columns = columns();
    let mut failures = Vec::new();
    for (name, cells) in &rows {
        // Every attempt must work without the sandbox (else its row proves nothing), unless
        // the kernel lacks what it needs, which the table says.
        let free = &cells[0];
        if !free.starts_with("succeeds") && !kernel_lacks(free) {
            failures.push(format!(
                "{name}: does not succeed without the sandbox: {free}"
            ));
        }
        for (column, cell) in columns.iter().zip(&cells[1..]) {
            if cell.contains(CONFINE_FAILED) || cell.contains("cannot make the pseudo-terminal") {
                // A stand-in that could not be set up proves nothing.
                failures.push(format!("{name} / {}: {cell}", column.title));
            }
            let exempt = !column.cgroup && CGROUP_ROWS.contains(&name.as_str());
            if column.accepted && !exempt && cell.starts_with("succeeds") {
                failures.push(format!("escape in {}: {name}: {cell}", column.title));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every other cell, the layers alone included, is pinned by the recorded table: a layer
    // that stops working changes its column.
    let recorded = std::fs::read_to_string(&doc_path).unwrap_or_default();
    assert_eq!(
        recorded, doc,
        "{DOC} no longer matches this machine; rerun with PVF_UPDATE_DOCS=1 and review the diff"
    );
}
