//! One job in one child process: fork, bound its CPU time, collect its report, reap it.
//!
//! The worker process is single-threaded outside jobs, so `fork` is sound. The child gets a
//! pipe for its report and nothing else: every other descriptor (notably the host socket) is
//! closed before the job runs. The worker waits on the pipe with a timeout equal to the CPU
//! budget still left; since the job runs on one thread at a time its CPU time can never
//! exceed the wall time waited, so the budget is checked exactly, without polling. When the
//! pipe closes the child is reaped with `wait4`, which also yields its CPU time and peak RSS.

use crate::sandbox::{JobNamespaceSettings, namespaces::clone_flags};
use parity_scale_codec::{Decode, Encode};
use pvf_messages::frame::{self, FrameError, MAX_FRAME_LEN};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// The descriptor the job writes its report to.
const REPORT_FD: i32 = 3;
/// The descriptor a [`Standby`] job reads its input from.
const INPUT_FD: i32 = 4;

/// What a job process reports on its pipe.
#[derive(Debug, Encode, Decode)]
pub enum JobReport {
    /// The job finished; the payload is the role's encoded response.
    #[codec(index = 0)]
    Done(Vec<u8>),
    /// The job panicked with this message.
    #[codec(index = 1)]
    Panicked(String),
}

/// Resources the job used, from `wait4`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// User + system CPU time.
    pub cpu: Duration,
    /// Peak resident set size in bytes.
    pub max_rss_bytes: u64,
}

/// How a job ended.
#[derive(Debug)]
pub enum JobEnd {
    /// The job reported and exited normally.
    Reported(JobReport, Usage),
    /// The job used up its CPU budget and was killed.
    TimedOut(Usage),
    /// The job exited with a non-zero status without a report.
    Exited(i32, Usage),
    /// The job was killed by a signal, or broke the report protocol.
    Died(String, Usage),
}

fn last_os_error(what: &str) -> io::Error {
    let e = io::Error::last_os_error();
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// How the job process is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spawn {
    /// A plain `fork`.
    Fork,
    /// `clone` with new namespaces.
    Clone(JobNamespaceSettings),
}

impl Spawn {
    /// Whether the job is PID 1 of a new PID namespace (its parent is then invisible to it).
    fn new_pid_namespace(self) -> bool {
        matches!(self, Spawn::Clone(ns) if ns.pid)
    }
}

/// When the worker takes a job's report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Collect {
    /// When the job has exited and been reaped; its peak memory is then known.
    AtExit,
    /// As soon as the report is complete. The job's exit (tearing down its address space and
    /// namespaces, a good part of a short job's cost) then overlaps with the answer's way back
    /// to the host; the job is reaped before the next one starts. Its CPU time is read when
    /// the report arrives and its peak memory is not known (reported as 0).
    OnReport,
}

/// Jobs collected [`Collect::OnReport`] and not reaped yet.
static UNREAPED: std::sync::Mutex<Vec<libc::pid_t>> = std::sync::Mutex::new(Vec::new());

/// Kills and reaps the jobs collected early (they have exited, or are about to; one that
/// lingers after its report has nothing more to say).
pub fn reap_unreaped() {
    let pids = std::mem::take(&mut *UNREAPED.lock().unwrap_or_else(|e| e.into_inner()));
    for pid in pids {
        // A job that reported may still be running (a hostile one may never exit): it has
        // had its say, so it is killed. A child of this process's parent after a fork is not
        // ours to reap: ECHILD, ignored.
        kill_and_reap(pid);
    }
}

/// Runs `job` in a forked child process with `cpu_budget` of CPU time.
///
/// `job` runs in the child and returns the role's encoded response. The child never
/// returns from this function. An `Err` means the job could not be started or watched (a
/// kernel-level failure of the worker, not of the job).
pub fn run_job(cpu_budget: Duration, job: impl FnOnce() -> Vec<u8>) -> io::Result<JobEnd> {
    run_job_in(Spawn::Fork, cpu_budget, job)
}

/// [`run_job`], with the job process created as `spawn` says.
pub fn run_job_in(
    spawn: Spawn,
    cpu_budget: Duration,
    job: impl FnOnce() -> Vec<u8>,
) -> io::Result<JobEnd> {
    run_job_with(spawn, Collect::AtExit, cpu_budget, job)
}

/// [`run_job_in`], with the report collected as `collect` says.
pub fn run_job_with(
    spawn: Spawn,
    collect: Collect,
    cpu_budget: Duration,
    job: impl FnOnce() -> Vec<u8>,
) -> io::Result<JobEnd> {
    reap_unreaped();
    let (pid, report, output) = spawn_child(spawn, None, job)?;
    watch(pid, report, output, Duration::ZERO, cpu_budget, collect)
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` is a valid two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(last_os_error("pipe2"));
    }
    // SAFETY: the descriptors were just created and are owned here.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Creates the job process, which runs `job` and reports on a pipe; returns its pid, the
/// pipe's read end and the read end of its output (standard input, output and error of the
/// job, see [`JobOutput`]). With `input`, the child also gets that descriptor as [`INPUT_FD`].
fn spawn_child(
    spawn: Spawn,
    input: Option<&OwnedFd>,
    job: impl FnOnce() -> Vec<u8>,
) -> io::Result<(libc::pid_t, OwnedFd, OwnedFd)> {
    let (read_end, write_end) = pipe()?;
    let (output_read, output_write) = pipe()?;
    // The worker drains the output while it watches the job and must never block on it.
    rustix::fs::fcntl_setfl(&output_read, rustix::fs::OFlags::NONBLOCK)?;
    let parent = std::process::id();
    // SAFETY: the worker is single-threaded when it forks, so the child inherits a
    // consistent heap and no locks held by other threads. The raw `clone` (no new stack:
    // the child continues on a copy of this one, like `fork`) skips glibc's fork handlers,
    // which is sound for the same reason.
    let pid = unsafe {
        match spawn {
            Spawn::Fork => libc::fork(),
            Spawn::Clone(namespaces) => libc::syscall(
                libc::SYS_clone,
                (clone_flags(&namespaces) | libc::SIGCHLD) as libc::c_ulong,
                0usize,
                0usize,
                0usize,
                0usize,
            ) as libc::pid_t,
        }
    };
    if pid < 0 {
        return Err(last_os_error(match spawn {
            Spawn::Fork => "fork",
            Spawn::Clone(_) => "clone",
        }));
    }
    if pid == 0 {
        // In a new PID namespace the parent is invisible (getppid() is 0).
        let parent = (!spawn.new_pid_namespace()).then_some(parent);
        let input = input.map(|fd| fd.as_raw_fd());
        child(
            parent,
            write_end.as_raw_fd(),
            output_write.as_raw_fd(),
            input,
            job,
        );
    }
    Ok((pid, read_end, output_read))
}

/// A job process created before its input is known: it has entered its sandbox (whatever its
/// closure does before [`Input::read`]) and waits. Creating it while the worker is idle takes
/// the process creation off the time between a request and its answer. It is still one
/// process per job: a standby job runs once, or is killed ([`Drop`]) unused.
#[derive(Debug)]
pub struct Standby {
    pid: libc::pid_t,
    input: Option<OwnedFd>,
    report: Option<OwnedFd>,
    output: Option<OwnedFd>,
}

/// The waiting job's end of its input.
#[derive(Debug)]
pub struct Input(());

impl Input {
    /// Blocks until the worker sent the input. Empty if the worker gave up on this job.
    pub fn read(self) -> Vec<u8> {
        // SAFETY: INPUT_FD was set up by `child` and belongs to this process alone.
        let mut file = unsafe { std::fs::File::from_raw_fd(INPUT_FD) };
        let mut input = Vec::new();
        let _ = std::io::Read::read_to_end(&mut file, &mut input);
        input
    }
}

/// Creates a [`Standby`] job: `job` runs in a new process at once, and gets its input through
/// [`Input::read`] when [`Standby::run`] sends it.
pub fn standby(spawn: Spawn, job: impl FnOnce(Input) -> Vec<u8>) -> io::Result<Standby> {
    let (input_read, input_write) = pipe()?;
    let (pid, report, output) = spawn_child(spawn, Some(&input_read), || job(Input(())))?;
    Ok(Standby {
        pid,
        input: Some(input_write),
        report: Some(report),
        output: Some(output),
    })
}

impl Standby {
    /// Sends `input` to the waiting job and watches it as [`run_job_with`] does; the CPU the
    /// job used while it waited does not count against `cpu_budget`. `None` if the job is
    /// gone (it died while waiting): the caller creates a fresh one.
    pub fn run(
        mut self,
        input: &[u8],
        collect: Collect,
        cpu_budget: Duration,
    ) -> Option<io::Result<JobEnd>> {
        reap_unreaped();
        let (input_fd, report, output) =
            (self.input.take()?, self.report.take()?, self.output.take()?);
        let pid = std::mem::replace(&mut self.pid, 0);
        let waited = cpu_clock(pid).and_then(cpu_time_of).unwrap_or_default();
        let mut sink = std::fs::File::from(input_fd);
        if sink.write_all(input).is_err() {
            kill_and_reap(pid);
            return None;
        }
        drop(sink);
        Some(watch(pid, report, output, waited, cpu_budget, collect))
    }
}

impl Drop for Standby {
    fn drop(&mut self) {
        if self.pid > 0 {
            kill_and_reap(self.pid);
        }
    }
}

fn child(
    parent: Option<u32>,
    write_fd: i32,
    output_fd: i32,
    input_fd: Option<i32>,
    job: impl FnOnce() -> Vec<u8>,
) -> ! {
    #[cfg(test)]
    tests::pause_before_arming();
    // SAFETY: plain system calls on descriptors this process owns.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if parent.is_some_and(|parent| libc::getppid() as u32 != parent) {
            libc::_exit(1);
        }
        // Move both out of the way first: either may sit where the other belongs.
        let write_fd = libc::fcntl(write_fd, libc::F_DUPFD, INPUT_FD + 1);
        let input_fd = input_fd.map(|fd| libc::fcntl(fd, libc::F_DUPFD, INPUT_FD + 1));
        if write_fd < 0 || libc::dup2(write_fd, REPORT_FD) != REPORT_FD {
            libc::_exit(1);
        }
        if let Some(fd) = input_fd
            && (fd < 0 || libc::dup2(fd, INPUT_FD) != INPUT_FD)
        {
            libc::_exit(1);
        }
        // Standard input, output and error: the output pipe, never the worker's (the node's)
        // descriptors. Reading standard input fails (a write-only end).
        for std_fd in 0..3 {
            if libc::dup2(output_fd, std_fd) != std_fd {
                libc::_exit(1);
            }
        }
        let first_closed = if input_fd.is_some() {
            INPUT_FD
        } else {
            REPORT_FD
        } + 1;
        if libc::syscall(libc::SYS_close_range, first_closed as u32, u32::MAX, 0) != 0 {
            for fd in first_closed..1024 {
                libc::close(fd);
            }
        }
        // In a new PID namespace the parent cannot be asked for; if it died before the
        // death signal was armed, the report pipe has no reader any more. Only now, with this
        // process's inherited copies of the worker's ends closed, is the worker's read end
        // the pipe's only one: checked before, the job's own copy would keep it open.
        let mut report = libc::pollfd {
            fd: REPORT_FD,
            events: libc::POLLOUT,
            revents: 0,
        };
        if libc::poll(&mut report, 1, 0) == 1 && report.revents & libc::POLLERR != 0 {
            libc::_exit(1);
        }
    }
    let report = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)) {
        Ok(payload) => JobReport::Done(payload),
        Err(panic) => JobReport::Panicked(panic_message(&*panic)),
    };
    // SAFETY: REPORT_FD was set up above and is owned by this process alone.
    let mut out = unsafe { std::fs::File::from_raw_fd(REPORT_FD) };
    let code = match frame::encode_frame(&report) {
        Ok(bytes) if out.write_all(&bytes).is_ok() => 0,
        _ => 2,
    };
    // SAFETY: ends the child without running the parent's destructors or atexit handlers.
    unsafe { libc::_exit(code) }
}

/// The message of a panic payload.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic payload".to_string())
}

fn cpu_time_of(clock: libc::clockid_t) -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    (unsafe { libc::clock_gettime(clock, &mut ts) } == 0)
        .then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// Whether `buf` holds one whole frame.
fn complete_frame(buf: &[u8]) -> bool {
    let Some(header) = buf.get(..frame::HEADER_LEN) else {
        return false;
    };
    let header: [u8; frame::HEADER_LEN] = header.try_into().expect("HEADER_LEN bytes");
    frame::decode_header(header).is_ok_and(|len| buf.len() >= frame::HEADER_LEN + len)
}

/// The CPU-time clock of child `pid`.
fn cpu_clock(pid: libc::pid_t) -> Option<libc::clockid_t> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `clock` is a valid out-pointer; `pid` is our child.
    (unsafe { libc::clock_getcpuclockid(pid, &mut clock) } == 0).then_some(clock)
}

/// Most bytes of a job's output kept for the log; the rest is read and counted, not kept.
pub const OUTPUT_MAX: usize = 16 * 1024;

/// Longest wait between two looks at a job's CPU time: a job with k threads uses up to k times
/// the wall-clock time waited, so the budget is checked at least this often (and the job's
/// `RLIMIT_CPU`, see [`crate::sandbox::cpu_backstop`], stops it if its worker cannot).
const MAX_WAIT: Duration = Duration::from_millis(100);

/// What a job wrote to its standard output and error (the PVF's log lines, a panic message):
/// drained by the worker while it watches the job, so that a job never blocks on it, and
/// bounded to [`OUTPUT_MAX`] bytes.
#[derive(Debug, Default)]
struct JobOutput {
    kept: Vec<u8>,
    dropped: usize,
}

impl JobOutput {
    /// Reads what is there without blocking.
    fn drain(&mut self, fd: &OwnedFd) {
        let mut chunk = [0u8; 4096];
        loop {
            // SAFETY: reading into a buffer we own from a non-blocking descriptor we own.
            let n = unsafe { libc::read(fd.as_raw_fd(), chunk.as_mut_ptr().cast(), chunk.len()) };
            if n <= 0 {
                if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return;
            }
            let n = n as usize;
            let room = OUTPUT_MAX.saturating_sub(self.kept.len()).min(n);
            self.kept.extend_from_slice(&chunk[..room]);
            self.dropped += n - room;
        }
    }

    /// Forwards the output to the worker's standard error (the node's log), one line per line
    /// of output, each prefixed and with every control character escaped: a job cannot forge
    /// a line of the node's log or drive a terminal.
    fn forward(self, pid: libc::pid_t) {
        if self.kept.is_empty() && self.dropped == 0 {
            return;
        }
        let mut text = String::new();
        for line in self.kept.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            text.push_str(&format!("job {pid}: "));
            for c in String::from_utf8_lossy(line).chars() {
                if c.is_control() {
                    text.extend(c.escape_default());
                } else {
                    text.push(c);
                }
            }
            text.push('\n');
        }
        if self.dropped > 0 {
            text.push_str(&format!(
                "job {pid}: {} more bytes of output dropped\n",
                self.dropped
            ));
        }
        let _ = io::stderr().write_all(text.as_bytes());
    }
}

/// Watches job `pid` until it reports, exits or uses up `cpu_budget` beyond the `waited` CPU
/// time it had used before it got its input. A job whose CPU time (less `waited`) reached
/// `cpu_budget` by the time it ended is [`JobEnd::TimedOut`], whatever it reported. Its
/// output is drained meanwhile and forwarded when it is done.
fn watch(
    pid: libc::pid_t,
    read_end: OwnedFd,
    output_fd: OwnedFd,
    waited: Duration,
    cpu_budget: Duration,
    collect: Collect,
) -> io::Result<JobEnd> {
    let mut output = JobOutput::default();
    let end = watch_report(
        pid,
        read_end,
        &output_fd,
        &mut output,
        waited,
        cpu_budget,
        collect,
    );
    output.drain(&output_fd);
    output.forward(pid);
    end
}

fn watch_report(
    pid: libc::pid_t,
    read_end: OwnedFd,
    output_fd: &OwnedFd,
    output: &mut JobOutput,
    waited: Duration,
    cpu_budget: Duration,
    collect: Collect,
) -> io::Result<JobEnd> {
    let relative_budget = cpu_budget;
    let cpu_budget = cpu_budget + waited;
    let (have_clock, clock) = match cpu_clock(pid) {
        Some(clock) => (true, clock),
        None => (false, 0),
    };
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut timed_out = false;
    let mut oversized = false;
    let mut output_open = true;
    loop {
        let used = if have_clock {
            cpu_time_of(clock).unwrap_or_default()
        } else {
            Duration::ZERO
        };
        if used >= cpu_budget {
            timed_out = true;
            break;
        }
        let wait_ms = (cpu_budget - used).min(MAX_WAIT).as_millis().max(1) as i32;
        let mut pfd = [
            libc::pollfd {
                fd: read_end.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                // A negative descriptor is skipped by poll.
                fd: if output_open {
                    output_fd.as_raw_fd()
                } else {
                    -1
                },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `pfd` is a valid pollfd array of length 2.
        let ready = unsafe { libc::poll(pfd.as_mut_ptr(), 2, wait_ms) };
        if ready < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            kill_and_reap(pid);
            return Err(io::Error::new(e.kind(), format!("poll: {e}")));
        }
        if ready == 0 {
            continue;
        }
        if pfd[1].revents & (libc::POLLIN | libc::POLLHUP) != 0 {
            output.drain(output_fd);
            if pfd[1].revents & libc::POLLHUP != 0 && pfd[1].revents & libc::POLLIN == 0 {
                // Every writer is gone; the report pipe says the rest.
                output_open = false;
            }
        }
        if pfd[0].revents == 0 {
            continue;
        }
        // SAFETY: reading into a buffer we own from a descriptor we own.
        let n = unsafe { libc::read(read_end.as_raw_fd(), chunk.as_mut_ptr().cast(), chunk.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            kill_and_reap(pid);
            return Err(io::Error::new(e.kind(), format!("read: {e}")));
        }
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n as usize]);
        if buf.len() > MAX_FRAME_LEN as usize + frame::HEADER_LEN {
            oversized = true;
            break;
        }
        if collect == Collect::OnReport && complete_frame(&buf) {
            let cpu = have_clock.then(|| cpu_time_of(clock)).flatten();
            let usage = match cpu {
                Some(cpu) => {
                    UNREAPED.lock().unwrap_or_else(|e| e.into_inner()).push(pid);
                    Usage {
                        cpu: cpu.saturating_sub(waited),
                        max_rss_bytes: 0,
                    }
                }
                // The job's clock cannot be read: its CPU time is known only once it is
                // reaped. It has reported, so it has nothing more to say.
                None => {
                    // SAFETY: signalling our own child.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    let (_, mut usage) = reap(pid)?;
                    usage.cpu = usage.cpu.saturating_sub(waited);
                    usage
                }
            };
            if usage.cpu >= relative_budget {
                return Ok(JobEnd::TimedOut(usage));
            }
            return Ok(match frame::read_frame::<_, JobReport>(&mut &buf[..]) {
                Ok(report) => JobEnd::Reported(report, usage),
                Err(e) => JobEnd::Died(format!("the job's report is malformed: {e}"), usage),
            });
        }
    }
    if timed_out || oversized {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let (status, mut usage) = reap(pid)?;
    usage.cpu = usage.cpu.saturating_sub(waited);
    // However the job ended, a job that used its whole budget timed out (the reference checks
    // the job's rusage the same way): its report may have been written after the budget ran
    // out while this worker was stopped or starved and could not stop the job in time.
    if timed_out || usage.cpu >= relative_budget {
        return Ok(JobEnd::TimedOut(usage));
    }
    if oversized {
        return Ok(JobEnd::Died(
            "the job's report exceeded the frame limit".into(),
            usage,
        ));
    }
    if libc::WIFSIGNALED(status) {
        let sig = libc::WTERMSIG(status);
        return Ok(JobEnd::Died(
            format!("killed by signal {} ({sig})", signal_name(sig)),
            usage,
        ));
    }
    let code = libc::WEXITSTATUS(status);
    if code != 0 {
        return Ok(JobEnd::Exited(code, usage));
    }
    match frame::read_frame::<_, JobReport>(&mut &buf[..]) {
        Ok(report) => Ok(JobEnd::Reported(report, usage)),
        Err(FrameError::Closed) => Ok(JobEnd::Died(
            "the job exited without a report".into(),
            usage,
        )),
        Err(e) => Ok(JobEnd::Died(
            format!("the job's report is malformed: {e}"),
            usage,
        )),
    }
}

fn kill_and_reap(pid: libc::pid_t) {
    // SAFETY: signalling and reaping our own child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let _ = reap(pid);
}

fn reap(pid: libc::pid_t) -> io::Result<(i32, Usage)> {
    let mut status = 0;
    // SAFETY: zeroed rusage is a valid value; pointers are valid for the call.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: as above.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(io::Error::new(e.kind(), format!("wait4: {e}")));
        }
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let usage = Usage {
        cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
        max_rss_bytes: ru.ru_maxrss as u64 * 1024,
    };
    Ok((status, usage))
}

/// The conventional name of a signal number.
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGABRT => "SIGABRT",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSYS => "SIGSYS",
        libc::SIGXCPU => "SIGXCPU",
        _ => "signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Milliseconds a job created by this test process waits before it arms its death
    /// signal: widens the window in which its worker may die unnoticed.
    static PAUSE_BEFORE_ARMING_MS: AtomicU64 = AtomicU64::new(0);

    pub(super) fn pause_before_arming() {
        let ms = PAUSE_BEFORE_ARMING_MS.load(Ordering::Relaxed);
        if ms > 0 {
            std::thread::sleep(Duration::from_millis(ms));
        }
    }

    #[test]
    fn a_job_whose_worker_died_before_it_armed_the_death_signal_never_runs() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("the job ran");
        let namespaces = JobNamespaceSettings {
            pid: true,
            ..Default::default()
        };
        // A "worker" process creates a job in a new PID namespace (where the job cannot ask
        // for its parent) and dies while the job has not yet armed its death signal.
        // SAFETY: the child only creates the job and exits without unwinding.
        let worker = unsafe { libc::fork() };
        assert!(worker >= 0, "fork: {}", io::Error::last_os_error());
        if worker == 0 {
            PAUSE_BEFORE_ARMING_MS.store(300, Ordering::Relaxed);
            let marker = marker.clone();
            let code = match spawn_child(Spawn::Clone(namespaces), None, move || {
                let _ = std::fs::write(&marker, b"ran");
                Vec::new()
            }) {
                Ok(_) => 0,
                Err(_) => 3,
            };
            // SAFETY: ends the forked child without running the test's destructors.
            unsafe { libc::_exit(code) }
        }
        let mut status = 0;
        // SAFETY: waits for the child forked above.
        assert_eq!(unsafe { libc::waitpid(worker, &mut status, 0) }, worker);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "the worker could not create a job in a new PID namespace (status {status}): \
             this test needs root or user namespaces"
        );
        std::thread::sleep(Duration::from_millis(900));
        assert!(
            !marker.exists(),
            "a job whose worker died before it armed its death signal ran its work"
        );
    }

    #[test]
    fn reports_and_usage() {
        match run_job(Duration::from_secs(5), || b"hello".to_vec()).unwrap() {
            JobEnd::Reported(JobReport::Done(p), u) => {
                assert_eq!(p, b"hello");
                assert!(u.max_rss_bytes > 0);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reports_can_be_taken_before_the_job_exits() {
        for _ in 0..3 {
            let end = run_job_with(
                Spawn::Fork,
                Collect::OnReport,
                Duration::from_secs(5),
                || b"early".to_vec(),
            )
            .unwrap();
            match end {
                JobEnd::Reported(JobReport::Done(p), u) => {
                    assert_eq!(p, b"early");
                    assert_eq!(u.max_rss_bytes, 0);
                }
                other => panic!("{other:?}"),
            }
        }
        // The next job reaps the earlier ones.
        run_job(Duration::from_secs(5), Vec::new).unwrap();
        assert!(UNREAPED.lock().unwrap().is_empty());
    }

    #[test]
    fn standby_jobs_wait_for_their_input() {
        let job = standby(Spawn::Fork, |input| {
            let mut got = input.read();
            got.reverse();
            got
        })
        .unwrap();
        std::thread::sleep(Duration::from_millis(20));
        match job.run(b"abc", Collect::AtExit, Duration::from_secs(5)) {
            Some(Ok(JobEnd::Reported(JobReport::Done(p), u))) => {
                assert_eq!(p, b"cba");
                assert!(u.cpu < Duration::from_secs(1), "{u:?}");
            }
            other => panic!("{other:?}"),
        }
        // A standby dropped unused is killed and reaped, not leaked.
        let unused = standby(Spawn::Fork, |input| input.read()).unwrap();
        let pid = unused.pid;
        drop(unused);
        // SAFETY: signal 0 only checks whether the process exists.
        assert_ne!(
            unsafe { libc::kill(pid, 0) },
            0,
            "the unused standby is gone"
        );
    }

    #[test]
    fn output_is_drained_and_bounded_and_not_a_terminal() {
        // Far more than a pipe holds: a job whose output were not drained would block.
        let end = run_job(Duration::from_secs(10), || {
            let line = [b'x'; 1023];
            for _ in 0..1024 {
                let _ = io::stderr().write_all(&line);
                let _ = io::stdout().write_all(b"\n");
            }
            // SAFETY: plain queries.
            let no_tty = unsafe { libc::isatty(0) == 0 && libc::isatty(1) == 0 };
            vec![no_tty as u8]
        })
        .unwrap();
        match end {
            JobEnd::Reported(JobReport::Done(p), _) => assert_eq!(p, [1]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rlimit_cpu_stops_a_job_its_watcher_does_not() {
        // The watcher's budget is far away; the backstop (zero budget: two seconds) is not.
        let start = std::time::Instant::now();
        let end = run_job(Duration::from_secs(60), || {
            crate::sandbox::cpu_backstop(Duration::ZERO).unwrap();
            loop {
                std::hint::black_box(0u64);
            }
        })
        .unwrap();
        match end {
            JobEnd::Died(reason, u) => {
                assert!(reason.contains("SIGXCPU"), "{reason}");
                assert!(u.cpu < Duration::from_secs(4), "{u:?}");
            }
            other => panic!("{other:?}"),
        }
        assert!(start.elapsed() < Duration::from_secs(30));
    }

    #[test]
    fn panics_are_reported() {
        match run_job(Duration::from_secs(5), || panic!("boom")).unwrap() {
            JobEnd::Reported(JobReport::Panicked(m), _) => assert_eq!(m, "boom"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cpu_budget_is_enforced() {
        let start = std::time::Instant::now();
        let end = run_job(Duration::from_millis(200), || {
            loop {
                std::hint::black_box(0u64);
            }
        })
        .unwrap();
        match end {
            JobEnd::TimedOut(u) => assert!(u.cpu >= Duration::from_millis(200), "{u:?}"),
            other => panic!("{other:?}"),
        }
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    /// Burns about `cpu` of CPU time on two threads at once, so that the job's CPU time runs
    /// ahead of the wall-clock time its watcher waits.
    fn burn_on_two_threads(cpu: Duration) {
        let burn = move || {
            let clock = cpu_clock(0).expect("own clock");
            let start = cpu_time_of(clock).unwrap_or_default();
            while cpu_time_of(clock).unwrap_or_default() - start < cpu {
                std::hint::black_box(0u64);
            }
        };
        let other = std::thread::spawn(burn);
        burn();
        let _ = other.join();
    }

    #[test]
    fn a_report_sent_after_the_budget_ran_out_is_a_timeout() {
        for collect in [Collect::AtExit, Collect::OnReport] {
            // The job uses about 400 ms of CPU in about 200 ms (less on a busy machine is
            // fine too): its report comes before the watcher's 300 ms poll ends.
            let end = run_job_with(Spawn::Fork, collect, Duration::from_millis(300), || {
                burn_on_two_threads(Duration::from_millis(400));
                b"too late".to_vec()
            })
            .unwrap();
            match end {
                JobEnd::TimedOut(u) => assert!(u.cpu >= Duration::from_millis(300), "{u:?}"),
                other => panic!("{collect:?}: {other:?}"),
            }
        }
        reap_unreaped();
    }

    #[test]
    fn sleeping_does_not_use_the_budget_and_signals_are_seen() {
        let end = run_job(Duration::from_millis(100), || {
            std::thread::sleep(Duration::from_millis(300));
            // SAFETY: the job kills itself to simulate a crash.
            unsafe { libc::raise(libc::SIGKILL) };
            Vec::new()
        })
        .unwrap();
        match end {
            JobEnd::Died(reason, _) => assert!(reason.contains("SIGKILL"), "{reason}"),
            other => panic!("{other:?}"),
        }
        match run_job(Duration::from_secs(1), || unsafe { libc::_exit(7) }).unwrap() {
            JobEnd::Exited(7, _) => {}
            other => panic!("{other:?}"),
        }
    }
}
