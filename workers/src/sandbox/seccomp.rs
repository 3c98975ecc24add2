//! Seccomp: any networking system call, or any of the other calls a job has no use for and an
//! exploit has, kills the job process.
//!
//! A deny-list, like the reference's, but keyed on both the x86-64 and the x32 system call
//! numbers: on a kernel with the x32 ABI, `socket` has a second number that a filter matching
//! only the x86-64 one would let through. Besides networking it kills on: the kernel keyrings
//! (`keyctl`, `add_key`, `request_key`: a job read a key from the node's session keyring),
//! `ioctl(TIOCSTI)` and `ioctl(TIOCLINUX)` (typing into a terminal), `userfaultfd` (stalls
//! the kernel at will, a classic exploit aid), `execve`/`execveat` (a job never runs a
//! program; with `memfd_create` they ran code despite the read-only, no-exec root),
//! `perf_event_open` and `bpf` (blocked on this machine only by sysctls),
//! `process_vm_readv`/`process_vm_writev`, and the calls that change a file's mode, owner,
//! length by path or extended attributes, which Landlock ABI v1 does not govern. `memfd_create` fails with `ENOSYS` instead of
//! killing (a second filter): wasmtime may ask for one for a memory image, and falls back
//! gracefully when the kernel has none. The filters are compiled once per worker
//! ([`warm_up`]) and installed by the worker, whose jobs inherit them.

use super::SandboxError;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use std::collections::BTreeMap;

/// The system calls that open or use network connections.
const NETWORK_SYSCALLS: &[i64] = &[
    libc::SYS_socket,
    libc::SYS_socketpair,
    libc::SYS_connect,
    libc::SYS_accept,
    libc::SYS_accept4,
    libc::SYS_bind,
    libc::SYS_listen,
    libc::SYS_sendto,
    libc::SYS_sendmsg,
    libc::SYS_sendmmsg,
    libc::SYS_recvfrom,
    libc::SYS_recvmsg,
    libc::SYS_recvmmsg,
    libc::SYS_getsockopt,
    libc::SYS_setsockopt,
    libc::SYS_getsockname,
    libc::SYS_getpeername,
    libc::SYS_shutdown,
    // io_uring can open and use sockets without any of the calls above.
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
];

/// Other calls a job never makes and an exploit would: killed like networking.
const EXPLOIT_SYSCALLS: &[i64] = &[
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_userfaultfd,
    libc::SYS_execve,
    libc::SYS_execveat,
    libc::SYS_perf_event_open,
    libc::SYS_bpf,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    // Landlock ABI v1 does not govern a file's mode, owner, length by path or extended
    // attributes: without `pivot_root` a job could chmod, chown or truncate another
    // parachain's artifact, which it owns in the kernel's eyes (same user).
    libc::SYS_chmod,
    libc::SYS_fchmod,
    libc::SYS_fchmodat,
    SYS_FCHMODAT2,
    libc::SYS_chown,
    libc::SYS_fchown,
    libc::SYS_lchown,
    libc::SYS_fchownat,
    libc::SYS_truncate,
    libc::SYS_setxattr,
    libc::SYS_lsetxattr,
    libc::SYS_fsetxattr,
    libc::SYS_removexattr,
    libc::SYS_lremovexattr,
    libc::SYS_fremovexattr,
];

/// `fchmodat2` (Linux 6.6), the same number on every architecture.
const SYS_FCHMODAT2: i64 = 452;

/// `ioctl` requests that inject input into a terminal.
const TERMINAL_IOCTLS: &[u64] = &[libc::TIOCSTI, libc::TIOCLINUX];

/// x32 gives some networking calls numbers of their own (512 and up, besides the x32 bit)
/// rather than the x86-64 number with the bit set: recvfrom, sendmsg, recvmsg, recvmmsg,
/// sendmmsg, setsockopt, getsockopt.
#[cfg(target_arch = "x86_64")]
const X32_OWN_NETWORK_SYSCALLS: &[i64] = &[517, 518, 519, 537, 538, 541, 542];

/// The bit that marks an x32-ABI system call number on x86-64.
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: i64 = 0x4000_0000;

/// x32 numbers of `ioctl` and `execve`/`execveat` (their own, 514, 520 and 545).
#[cfg(target_arch = "x86_64")]
const X32_IOCTL: i64 = 514;
#[cfg(target_arch = "x86_64")]
const X32_EXEC_SYSCALLS: &[i64] = &[520, 545];

fn arch() -> Result<TargetArch, SandboxError> {
    TargetArch::try_from(std::env::consts::ARCH).map_err(|e| SandboxError::Seccomp(e.to_string()))
}

/// The seccomp program: kill the process on any networking system call and on the calls of
/// [`EXPLOIT_SYSCALLS`] and [`TERMINAL_IOCTLS`].
pub fn network_filter() -> Result<BpfProgram, SandboxError> {
    let err = |e: seccompiler::BackendError| SandboxError::Seccomp(e.to_string());
    let mut rules = BTreeMap::new();
    for &nr in NETWORK_SYSCALLS.iter().chain(EXPLOIT_SYSCALLS) {
        rules.insert(nr, Vec::new());
        #[cfg(target_arch = "x86_64")]
        rules.insert(nr | X32_SYSCALL_BIT, Vec::new());
    }
    // The request is an `unsigned int`: only its low 32 bits count, whatever the upper ones.
    let ioctl_rules = TERMINAL_IOCTLS
        .iter()
        .map(|&req| {
            SeccompCondition::new(1, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, req)
                .and_then(|c| SeccompRule::new(vec![c]))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    rules.insert(libc::SYS_ioctl, ioctl_rules.clone());
    #[cfg(target_arch = "x86_64")]
    {
        rules.insert(X32_IOCTL | X32_SYSCALL_BIT, ioctl_rules);
        for &nr in X32_EXEC_SYSCALLS {
            rules.insert(nr | X32_SYSCALL_BIT, Vec::new());
        }
    }
    #[cfg(target_arch = "x86_64")]
    for &nr in X32_OWN_NETWORK_SYSCALLS {
        rules.insert(nr | X32_SYSCALL_BIT, Vec::new());
    }
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::KillProcess,
        arch()?,
    )
    .map_err(err)?;
    filter.try_into().map_err(err)
}

/// The second program: `memfd_create` fails with `ENOSYS`, as on a kernel without it.
pub fn memfd_filter() -> Result<BpfProgram, SandboxError> {
    let err = |e: seccompiler::BackendError| SandboxError::Seccomp(e.to_string());
    let mut rules = BTreeMap::new();
    rules.insert(libc::SYS_memfd_create, Vec::new());
    #[cfg(target_arch = "x86_64")]
    rules.insert(libc::SYS_memfd_create | X32_SYSCALL_BIT, Vec::new());
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch()?,
    )
    .map_err(err)?;
    filter.try_into().map_err(err)
}

/// The compiled filter, built once per worker (before any job is forked, see [`warm_up`]) so
/// that jobs only install it.
type Programs = (BpfProgram, BpfProgram);
static FILTERS: std::sync::OnceLock<Result<Programs, String>> = std::sync::OnceLock::new();

fn cached_filters() -> Result<&'static Programs, SandboxError> {
    FILTERS
        .get_or_init(|| {
            network_filter()
                .and_then(|net| Ok((net, memfd_filter()?)))
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| SandboxError::Seccomp(e.clone()))
}

/// Installs both filters on this process.
pub fn apply() -> Result<(), SandboxError> {
    let (kill, memfd) = cached_filters()?;
    for program in [memfd, kill] {
        seccompiler::apply_filter(program).map_err(|e| SandboxError::Seccomp(e.to_string()))?;
    }
    Ok(())
}

/// Compiles the filter in the worker, before any job is forked, so that jobs only install it.
pub fn warm_up() {
    let _ = cached_filters();
}
