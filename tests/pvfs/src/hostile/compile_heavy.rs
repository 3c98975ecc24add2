//! A generated module that is slow to compile: a compiler bomb of tunable size.

use super::{ABI_EXPORTS, module, result_segment};
use crate::scale::ValidationResult;
use std::fmt::Write;

/// Function count for about half a second of single-threaded Cranelift compile time: a
/// 1.27 MB module, compiled in 0.47–0.52 s with our engine configuration on a 2-core machine
/// (the host-overhead benchmark in `BENCHMARKS.md` measures it).
pub const COMPILE_HEAVY_DEFAULT_FUNCTIONS: u32 = 150;

/// The head [`compile_heavy`]'s `validate_block` returns (watermark 0).
pub const COMPILE_HEAVY_HEAD: &[u8] = b"heavy";

/// Locals per generated function: enough live values to keep the register allocator busy.
const LOCALS: u32 = 24;
/// Straight-line statements per function.
const STRAIGHT: u32 = 240;
/// Depth of the `br_table` block ladder per function.
const LADDER: u32 = 24;
/// `if`/`else` diamonds per function.
const DIAMONDS: u32 = 48;

const BINOPS: &[&str] = &[
    "i64.add",
    "i64.sub",
    "i64.mul",
    "i64.xor",
    "i64.or",
    "i64.and",
    "i64.rotl",
    "i64.shl",
    "i64.shr_u",
];
const COMPARES: &[&str] = &["i64.lt_u", "i64.gt_s", "i64.eq", "i64.ne", "i64.le_u"];

/// A module with `functions` generated functions, each with long straight-line arithmetic
/// over many locals, a deep `br_table` ladder and a run of `if`/`else` diamonds. They are
/// never called: `validate_block` just returns a valid result with head
/// [`COMPILE_HEAVY_HEAD`]. Output is deterministic for a given `functions`.
///
/// What it tries: to make preparation slow (compile time grows linearly with `functions`;
/// see [`COMPILE_HEAVY_DEFAULT_FUNCTIONS`]). A correct host prepares it within its
/// preparation timeout and answers **Valid**; if made big enough to exceed the timeout, the
/// host answers a preparation timeout, which is not a verdict against the candidate by
/// itself and must not be retried in a tight loop.
pub fn compile_heavy(functions: u32) -> Vec<u8> {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut text = String::new();
    text.push_str(ABI_EXPORTS);
    let (data, packed) = result_segment(&ValidationResult::head_only(COMPILE_HEAVY_HEAD, 0));
    text.push_str(&data);
    for f in 0..functions {
        generate_function(&mut text, f, &mut rng);
    }
    let _ = write!(
        text,
        r#"(func (export "validate_block") (param i32 i32) (result i64) (i64.const {packed}))"#
    );
    module(&text)
}

/// Appends function `$f{index}` to `out`.
fn generate_function(out: &mut String, index: u32, rng: &mut XorShift) {
    let _ = write!(
        out,
        "\n(func $f{index} (param $x i64) (param $y i64) (result i64)"
    );
    for l in 0..LOCALS {
        let _ = write!(out, " (local $l{l} i64)");
    }
    for l in 0..LOCALS {
        let src = if l % 2 == 0 { "$x" } else { "$y" };
        let _ = write!(
            out,
            "\n (local.set $l{l} (i64.add (local.get {src}) (i64.const {l})))"
        );
    }
    for _ in 0..STRAIGHT {
        statement(out, rng);
    }
    // A br_table ladder: the selector jumps out of some level, skipping the statements of
    // the levels inside it.
    for _ in 0..LADDER {
        out.push_str("\n (block");
    }
    let _ = write!(
        out,
        "\n (br_table {} (i32.wrap_i64 (i64.and (local.get $l{}) (i64.const 31))))",
        (0..LADDER)
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(" "),
        rng.below(LOCALS),
    );
    for _ in 0..LADDER {
        out.push(')');
        statement(out, rng);
    }
    for _ in 0..DIAMONDS {
        let _ = write!(
            out,
            "\n (if ({} (local.get $l{}) (local.get $l{})) (then",
            COMPARES[rng.below(COMPARES.len() as u32) as usize],
            rng.below(LOCALS),
            rng.below(LOCALS),
        );
        statement(out, rng);
        statement(out, rng);
        out.push_str(") (else");
        statement(out, rng);
        out.push_str("))");
    }
    out.push_str("\n (local.get $l0)");
    for l in 1..LOCALS {
        let _ = write!(out, " (local.get $l{l}) i64.xor");
    }
    out.push(')');
}

/// Appends one random assignment `$la := op($lb, op($lc, const))`.
fn statement(out: &mut String, rng: &mut XorShift) {
    let _ = write!(
        out,
        "\n (local.set $l{} ({} (local.get $l{}) ({} (local.get $l{}) (i64.const {}))))",
        rng.below(LOCALS),
        BINOPS[rng.below(BINOPS.len() as u32) as usize],
        rng.below(LOCALS),
        BINOPS[rng.below(BINOPS.len() as u32) as usize],
        rng.below(LOCALS),
        rng.next() as i64,
    );
}

/// A tiny deterministic PRNG (xorshift64), so the module is the same on every call.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n)) as u32
    }
}
