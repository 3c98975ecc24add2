//! Tools for fault-injection tests: a seeded random source, distinct PVFs from one module,
//! finding a host's worker and job processes in `/proc`, mounts that make a folder read-only
//! or small, and checks that a host left nothing behind.

use std::{
    ffi::CString,
    os::unix::ffi::OsStrExt,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

/// The seed for a run: `PVF_FAULT_SEED` if set (decimal or `0x` hex), else a fresh one, so
/// that every run tries other fault points. Print it, so that a failure can be replayed.
pub fn seed() -> u64 {
    match std::env::var("PVF_FAULT_SEED") {
        Ok(s) => {
            let s = s.trim();
            let parsed = match s.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => s.parse(),
            };
            parsed.unwrap_or_else(|e| panic!("PVF_FAULT_SEED={s:?} is not a number: {e}"))
        }
        Err(_) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            // Mixed once more by `Rng::new`; the pid keeps parallel tests apart.
            (now.as_nanos() as u64) ^ (u64::from(std::process::id()) << 40)
        }
    }
}

/// SplitMix64: small, seeded and good enough to pick fault points.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`, mixed with `stream` so that each test draws its own numbers.
    pub fn new(seed: u64, stream: &str) -> Self {
        let mut rng = Self(seed);
        for b in stream.bytes() {
            rng.0 ^= u64::from(b);
            rng.next_u64();
        }
        rng
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// `true` with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A duration in `0..max`.
    pub fn duration(&mut self, max: Duration) -> Duration {
        Duration::from_micros(self.below(max.as_micros().max(1) as u64))
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A live (not zombie) process that belongs to a host under test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostProcess {
    /// Its pid.
    pub pid: u32,
    /// Its parent's pid.
    pub ppid: u32,
    /// Its command line, arguments separated by spaces.
    pub cmdline: String,
    /// Where its executable is, if readable.
    pub exe: Option<PathBuf>,
}

impl HostProcess {
    /// Whether it is a worker serving `kind` (`"prepare"` or `"execute"`) or one of its jobs
    /// (jobs are forked from their worker and keep its command line).
    pub fn serves(&self, kind: &str) -> bool {
        self.cmdline.contains(&format!("--kind {kind}"))
    }
}

/// State letter and parent pid from `/proc/<pid>/stat`.
fn state_and_ppid(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Every live process, anywhere on the machine, whose command line names `marker` (a
/// host's cache folder: its workers get their folders there, and jobs inherit the command
/// line) or whose executable lies under `marker` (a private copy of the worker binaries).
/// Orphans count too: a job whose worker died is still found.
pub fn processes_of(marker: &Path) -> Vec<HostProcess> {
    let marker_str = marker.display().to_string();
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&raw)
            .trim_end_matches('\0')
            .replace('\0', " ");
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
        let ours =
            cmdline.contains(&marker_str) || exe.as_ref().is_some_and(|e| e.starts_with(marker));
        if !ours {
            continue;
        }
        match state_and_ppid(pid) {
            Some(('Z' | 'X', _)) | None => {}
            Some((_, ppid)) => found.push(HostProcess {
                pid,
                ppid,
                cmdline,
                exe,
            }),
        }
    }
    found
}

/// The workers serving `kind` of the host whose cache is `cache` (children of this test
/// process).
pub fn workers(cache: &Path, kind: &str) -> Vec<HostProcess> {
    let me = std::process::id();
    processes_of(cache)
        .into_iter()
        .filter(|p| p.ppid == me && p.serves(kind))
        .collect()
}

/// The job processes of the workers serving `kind` of the host whose cache is `cache`.
pub fn jobs(cache: &Path, kind: &str) -> Vec<HostProcess> {
    let all = processes_of(cache);
    let me = std::process::id();
    let workers: Vec<u32> = all
        .iter()
        .filter(|p| p.ppid == me && p.serves(kind))
        .map(|p| p.pid)
        .collect();
    all.into_iter()
        .filter(|p| workers.contains(&p.ppid))
        .collect()
}

/// Whether `pid` has ended (a zombie, or gone). A process that is still exiting may
/// already show an empty command line, so this looks at its state instead.
pub fn has_ended(pid: u32) -> bool {
    matches!(state_and_ppid(pid), Some(('Z' | 'X', _)) | None)
}

/// Sends `signal` to `pid`; whether it was delivered (the process may have ended).
/// The scheduler state of `pid` (`R`, `S`, `T`, `Z`, …) from `/proc`, if it exists.
pub fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// CPU time (user + system) used so far by `pid`, from `/proc`.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace().skip(11);
    let mut next = || fields.next()?.parse::<u64>().ok();
    let ticks = next()? + next()?;
    // SAFETY: sysconf has no memory-safety preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_millis(ticks * 1000 / per_second))
}

/// Sends `signal` to `pid` if it is a live process (not a zombie waiting to be reaped);
/// whether it was, and the signal was delivered. What a test counts as a fault injected.
pub fn signal_live(pid: u32, signal: i32) -> bool {
    matches!(state(pid), Some(s) if s != 'Z' && s != 'X') && self::signal(pid, signal)
}

/// Sends `signal` to `pid`; whether the kernel accepted it (a zombie accepts it too).
pub fn signal(pid: u32, signal: i32) -> bool {
    // SAFETY: sending a signal has no memory-safety preconditions.
    unsafe { libc::kill(pid as libc::pid_t, signal) == 0 }
}

/// Waits (bounded) until no process of `markers` is left, then panics naming the survivors.
pub async fn assert_no_processes_left(markers: &[&Path]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left: Vec<HostProcess> = markers.iter().flat_map(|m| processes_of(m)).collect();
        if left.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            panic!("processes left behind after the host stopped: {left:#?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether `name` is what the cache documents for `artifacts/`:
/// `<code hash>_<prep-params hash>_<environment hash>_<checksum>.pvf` or `.failed`.
fn is_cache_record(name: &str) -> bool {
    let Some(stem) = name
        .strip_suffix(".pvf")
        .or_else(|| name.strip_suffix(".failed"))
    else {
        return false;
    };
    let parts: Vec<&str> = stem.split('_').collect();
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    parts.len() == 4
        && hex(parts[0], 64)
        && hex(parts[1], 64)
        && hex(parts[2], 16)
        && hex(parts[3], 16)
}

/// Checks a stopped host's cache: only `artifacts/` and `workers/` at the top, no worker
/// folder left, and nothing in `artifacts/` but artifacts and recorded failures.
pub fn assert_cache_clean(cache: &Path) {
    let names = |dir: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let top: Vec<String> = names(cache)
        .into_iter()
        .filter(|n| n != "lost+found")
        .collect();
    assert_eq!(
        top,
        ["artifacts", "workers"],
        "stray entries in {}",
        cache.display()
    );
    let workers = names(&cache.join("workers"));
    assert!(
        workers.is_empty(),
        "worker folders left behind: {workers:?}"
    );
    let stray: Vec<String> = names(&cache.join("artifacts"))
        .into_iter()
        .filter(|n| !is_cache_record(n))
        .collect();
    assert!(
        stray.is_empty(),
        "stray files among the artifacts: {stray:?}"
    );
}

/// A mount made for a test, detached when dropped.
#[derive(Debug)]
pub struct Mount {
    target: PathBuf,
}

fn cstr(s: &[u8]) -> CString {
    CString::new(s).expect("no NUL in mount arguments")
}

fn mount(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> std::io::Result<()> {
    let source = source.map(|s| cstr(s.as_os_str().as_bytes()));
    let target_c = cstr(target.as_os_str().as_bytes());
    let fstype = fstype.map(|s| cstr(s.as_bytes()));
    let data = data.map(|s| cstr(s.as_bytes()));
    let ptr = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: every pointer is a valid NUL-terminated string or null, as mount(2) allows.
    let r = unsafe {
        libc::mount(
            ptr(&source),
            target_c.as_ptr(),
            ptr(&fstype),
            flags,
            ptr(&data).cast(),
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Panics loudly: a fault test that cannot inject its fault must not pass.
fn cannot_mount(what: &str, target: &Path, e: std::io::Error) -> ! {
    panic!(
        "\n\n!!!!!!!! FAULT INJECTION IMPOSSIBLE !!!!!!!!\n\
         cannot {what} at {}: {e}.\n\
         This test needs mount(2) (root, or CAP_SYS_ADMIN in its mount namespace); without \
         it the cache faults are NOT tested. Run as root or in a privileged container.\n",
        target.display()
    )
}

impl Mount {
    /// Mounts a tmpfs of `size_kib` KiB at `target`.
    pub fn tmpfs(target: &Path, size_kib: u64) -> Self {
        let data = format!("size={size_kib}k,mode=0755");
        mount(
            Some(Path::new("tmpfs")),
            target,
            Some("tmpfs"),
            0,
            Some(&data),
        )
        .unwrap_or_else(|e| cannot_mount("mount a tmpfs", target, e));
        Self {
            target: target.to_path_buf(),
        }
    }

    /// Bind-mounts `target` onto itself, so that it can be made read-only later.
    pub fn bind_self(target: &Path) -> Self {
        mount(Some(target), target, None, libc::MS_BIND, None)
            .unwrap_or_else(|e| cannot_mount("bind-mount", target, e));
        Self {
            target: target.to_path_buf(),
        }
    }

    /// Makes a bind mount read-only (`true`) or writable again. Root ignores file modes, a
    /// read-only mount stops it. Retries while the kernel reports the mount busy (a file
    /// open for writing at that moment).
    pub fn set_read_only(&self, read_only: bool) {
        let mut flags = libc::MS_REMOUNT | libc::MS_BIND;
        if read_only {
            flags |= libc::MS_RDONLY;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match mount(None, &self.target, None, flags, None) {
                Ok(()) => return,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => cannot_mount("remount read-only/read-write", &self.target, e),
            }
        }
    }

    /// Resizes a tmpfs.
    pub fn resize_tmpfs(&self, size_kib: u64) {
        let data = format!("size={size_kib}k");
        mount(None, &self.target, None, libc::MS_REMOUNT, Some(&data))
            .unwrap_or_else(|e| cannot_mount("resize the tmpfs", &self.target, e));
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let target = cstr(self.target.as_os_str().as_bytes());
        // SAFETY: a valid NUL-terminated path.
        if unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) } != 0 {
            eprintln!(
                "cannot unmount {}: {}",
                self.target.display(),
                std::io::Error::last_os_error()
            );
        }
    }
}

/// A private copy of the worker binaries in a new temporary folder, to be replaced at will,
/// with a second copy of each under `real/` to restore them from.
#[derive(Debug)]
pub struct WorkerCopies {
    dir: tempfile::TempDir,
}

/// The worker binaries' file names.
pub const WORKER_BINARIES: [&str; 2] = ["pvf-prepare-worker", "pvf-execute-worker"];

impl WorkerCopies {
    /// Copies the built workers.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("pvf-workers-")
            .tempdir()
            .expect("a temporary folder");
        std::fs::create_dir(dir.path().join("real")).unwrap();
        for name in WORKER_BINARIES {
            let built = crate::binary(name);
            std::fs::copy(&built, dir.path().join(name)).unwrap();
            std::fs::copy(&built, dir.path().join("real").join(name)).unwrap();
        }
        Self { dir }
    }

    /// The folder to pass as `workers_path`.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The untouched copy of `name`.
    pub fn real(&self, name: &str) -> PathBuf {
        self.dir.path().join("real").join(name)
    }

    /// Atomically replaces the binary `name` with an executable `script` (running workers
    /// keep the old file; the next spawn gets the new one).
    pub fn replace_with_script(&self, name: &str, script: &str) {
        use std::os::unix::fs::PermissionsExt;
        let tmp = self.dir.path().join(format!(".{name}.new"));
        std::fs::write(&tmp, script).unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::rename(&tmp, self.dir.path().join(name)).unwrap();
    }

    /// Puts the real binary `name` back.
    pub fn restore(&self, name: &str) {
        let tmp = self.dir.path().join(format!(".{name}.new"));
        std::fs::copy(self.real(name), &tmp).unwrap();
        std::fs::rename(&tmp, self.dir.path().join(name)).unwrap();
    }

    /// Checks that the folder holds nothing but the binaries.
    pub fn assert_clean(&self) {
        let mut names: Vec<String> = std::fs::read_dir(self.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["pvf-execute-worker", "pvf-prepare-worker", "real"],
            "stray files in the workers folder"
        );
    }
}

impl Default for WorkerCopies {
    fn default() -> Self {
        Self::new()
    }
}
