//! Seccomp: any networking system call kills the job process.
//!
//! A deny-list, like the reference's, but keyed on both the x86-64 and the x32 system call
//! numbers: on a kernel with the x32 ABI, `socket` has a second number that a filter matching
//! only the x86-64 one would let through. The filter is compiled once per worker
//! ([`warm_up`]) and only installed by each job.

use super::SandboxError;
use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};
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

/// x32 gives some networking calls numbers of their own (512 and up, besides the x32 bit)
/// rather than the x86-64 number with the bit set: recvfrom, sendmsg, recvmsg, recvmmsg,
/// sendmmsg, setsockopt, getsockopt.
#[cfg(target_arch = "x86_64")]
const X32_OWN_NETWORK_SYSCALLS: &[i64] = &[517, 518, 519, 537, 538, 541, 542];

/// The bit that marks an x32-ABI system call number on x86-64.
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: i64 = 0x4000_0000;

/// The seccomp program: kill the process on any networking system call.
pub fn network_filter() -> Result<BpfProgram, SandboxError> {
    let err = |e: seccompiler::BackendError| SandboxError::Seccomp(e.to_string());
    let mut rules = BTreeMap::new();
    for &nr in NETWORK_SYSCALLS {
        rules.insert(nr, Vec::new());
        #[cfg(target_arch = "x86_64")]
        rules.insert(nr | X32_SYSCALL_BIT, Vec::new());
    }
    #[cfg(target_arch = "x86_64")]
    for &nr in X32_OWN_NETWORK_SYSCALLS {
        rules.insert(nr | X32_SYSCALL_BIT, Vec::new());
    }
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| SandboxError::Seccomp(e.to_string()))?;
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::KillProcess,
        arch,
    )
    .map_err(err)?;
    filter.try_into().map_err(err)
}

/// The compiled filter, built once per worker (before any job is forked, see [`warm_up`]) so
/// that jobs only install it.
static NETWORK_FILTER: std::sync::OnceLock<Result<BpfProgram, String>> = std::sync::OnceLock::new();

fn cached_network_filter() -> Result<&'static BpfProgram, SandboxError> {
    NETWORK_FILTER
        .get_or_init(|| network_filter().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| SandboxError::Seccomp(e.clone()))
}

/// Installs the network filter on this process.
pub fn apply() -> Result<(), SandboxError> {
    let program = cached_network_filter()?;
    seccompiler::apply_filter(program).map_err(|e| SandboxError::Seccomp(e.to_string()))
}

/// Compiles the filter in the worker, before any job is forked, so that jobs only install it.
pub fn warm_up() {
    let _ = cached_network_filter();
}
