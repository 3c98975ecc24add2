//! Measuring helpers shared by the benchmarks (`tests/benches/`): knobs from the environment,
//! a fixed-seed shuffler for interleaving variants, timing samples and their tables, CPU and
//! memory readings from the kernel, and a chain of valid adder candidates.

use parity_scale_codec::Encode;
use pvf_messages::{BlockData, ExecutorParams, Hash, HeadData, ValidationParams, ValidationResult};
use pvf_test_pvfs::adder_chain;
use std::time::Duration;

/// Extra stack the worker gives its job thread beyond the native Wasm stack limit
/// (`STACK_HEADROOM` in `workers/src/worker.rs`).
pub const STACK_HEADROOM: usize = 32 * 1024 * 1024;

/// The stack the execute worker gives its job thread under default executor parameters.
pub fn job_stack_size() -> usize {
    ExecutorParams::default().stack_native_max() as usize + STACK_HEADROOM
}

/// Runs `bench` on a thread with the job's stack (so that in-process execution has the
/// same Wasm stack limit as a job) and waits for it.
pub fn run_on_job_stack(name: &str, bench: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .name(name.into())
        .stack_size(job_stack_size())
        .spawn(bench)
        .expect("the bench thread")
        .join()
        .expect("the bench completed");
}

/// The number in the environment variable `name`, or `default`.
pub fn env_or(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {v:?}")),
        Err(_) => default,
    }
}

/// Shuffles the order of the variants in each iteration (xorshift64, fixed seed), so that
/// each variant follows each other one equally often.
pub struct Shuffler(u64);

impl Default for Shuffler {
    fn default() -> Self {
        Self(0x2545_f491_4f6c_dd1d)
    }
}

impl Shuffler {
    /// A shuffler with the fixed seed.
    pub fn new() -> Self {
        Self::default()
    }

    /// A pseudo-random permutation of `0..n` (Fisher–Yates).
    pub fn order(&mut self, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            order.swap(i, (self.0 % (i as u64 + 1)) as usize);
        }
        order
    }
}

/// Timing samples of one variant.
pub struct Samples {
    /// What was measured.
    pub name: String,
    /// One entry per counted iteration.
    pub times: Vec<Duration>,
}

impl Samples {
    /// No samples yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            times: Vec::new(),
        }
    }

    fn sorted(&self) -> Vec<Duration> {
        let mut t = self.times.clone();
        t.sort();
        t
    }

    /// The `q` quantile (nearest rank). Panics without samples.
    pub fn quantile(&self, q: f64) -> Duration {
        let t = self.sorted();
        assert!(!t.is_empty(), "{}: no samples", self.name);
        t[((t.len() - 1) as f64 * q).round() as usize]
    }

    /// The median (p50).
    pub fn median(&self) -> Duration {
        self.quantile(0.5)
    }
}

/// `d` in µs, ms or s, whichever reads best.
pub fn fmt_dur(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1_000.0 {
        format!("{us:.1} µs")
    } else if us < 1_000_000.0 {
        format!("{:.2} ms", us / 1e3)
    } else {
        format!("{:.3} s", us / 1e6)
    }
}

/// `a / b` of two durations.
pub fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

/// The last column of a table.
pub enum Last {
    /// The median of row `.0` divided by each row's median.
    RatioTo(usize),
    /// Each row's median as a share of `.0`.
    ShareOf(Duration),
}

/// Prints one table of median, p10, p90 and min per row, and the `last` column.
pub fn print_table(title: &str, rows: &[&Samples], last: Last) {
    println!("\n{title}");
    let header = match last {
        Last::RatioTo(_) => "ratio",
        Last::ShareOf(_) => "share",
    };
    println!(
        "  {:<50} {:>10} {:>10} {:>10} {:>10} {:>7}",
        "variant", "median", "p10", "p90", "min", header
    );
    for s in rows {
        let median = s.median().as_secs_f64();
        let last = match last {
            Last::RatioTo(row) => format!("{:.2}x", rows[row].median().as_secs_f64() / median),
            Last::ShareOf(total) => format!("{:.0}%", 100.0 * median / total.as_secs_f64()),
        };
        println!(
            "  {:<50} {:>10} {:>10} {:>10} {:>10} {:>7}",
            format!("{} (n={})", s.name, s.times.len()),
            fmt_dur(s.median()),
            fmt_dur(s.quantile(0.1)),
            fmt_dur(s.quantile(0.9)),
            fmt_dur(s.quantile(0.0)),
            last,
        );
    }
}

/// CPU time consumed by the calling thread so far.
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The 1, 5 and 15 minute load averages, to tell a quiet run from a noisy one.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|e| format!("unknown ({e})"))
}

/// Resident set size (`VmRSS`) of process `pid` in KiB, if it is alive.
pub fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// One adder candidate and the result the PVF must return for it.
pub struct Candidate {
    /// The candidate.
    pub params: ValidationParams,
    /// `params`, SCALE-encoded (what in-process execution takes).
    pub encoded: Vec<u8>,
    /// What `validate_block` must return.
    pub expected: ValidationResult,
}

/// The valid blocks of the adder chain from genesis, one after another, as candidates
/// (block `i` adds `i + 1`; its relay-parent number, echoed as the watermark, is `i`).
pub struct AdderChain {
    head: adder_chain::HeadData,
    state: u64,
    i: u64,
}

impl Default for AdderChain {
    fn default() -> Self {
        Self {
            head: adder_chain::genesis_head(),
            state: 0,
            i: 0,
        }
    }
}

impl Iterator for AdderChain {
    type Item = Candidate;

    fn next(&mut self) -> Option<Candidate> {
        let block = adder_chain::BlockData {
            state: self.state,
            add: self.i + 1,
        };
        let next = adder_chain::next_head(&self.head, &block);
        let params = ValidationParams {
            parent_head: HeadData(self.head.encode()),
            block_data: BlockData(block.encode()),
            relay_parent_number: self.i as u32,
            relay_parent_storage_root: Hash::default(),
        };
        let expected = ValidationResult {
            head_data: HeadData(next.encode()),
            hrmp_watermark: self.i as u32,
            ..Default::default()
        };
        self.head = next;
        self.state = self.state.wrapping_add(block.add);
        self.i += 1;
        Some(Candidate {
            encoded: params.encode(),
            params,
            expected,
        })
    }
}

/// The first `n` candidates of [`AdderChain`].
pub fn adder_candidates(n: usize) -> Vec<Candidate> {
    AdderChain::default().take(n).collect()
}

/// Aborts the bench if `variant` returned the wrong result: it would measure nonsense.
#[track_caller]
pub fn check(variant: &str, got: &ValidationResult, expected: &ValidationResult) {
    assert_eq!(
        got, expected,
        "{variant} returned a wrong result; the bench would measure nonsense"
    );
}
