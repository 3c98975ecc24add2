#!/usr/bin/env python3
"""Generates the differential corpus: WAT sources, their Wasm, derived blobs and `cases.json`.

    python3 tests/differential/gen.py          # (re)writes corpus/ and cases.json
    python3 tests/differential/gen.py --big    # also writes corpus/big/ (large files, not committed)

Needs `wat2wasm` (Debian: `apt-get install -y wabt`, tested with 1.0.32), the Python `zstandard`
package (`pip install zstandard`) for the sp-maybe-compressed-blob cases and `cryptography` for the
ed25519 signature (secp256k1 is done in pure Python). The output is deterministic:
running it twice gives the same bytes, and the .wasm files are committed next to their .wat so
that running the comparison needs neither tool.

Every module built from `pvf()` shares one layout (all inside the first page of memory):
  HEAD  = 1024   head data being built (the `$put*` helpers append to it)
  OUT   = 16384  the SCALE ValidationResult that `$finish` writes, returned as (len << 32) | ptr
  DATA  = 65536  constant inputs (data segments)
  __heap_base = 131072 (2 pages) unless a case says otherwise; memory 17 pages like real runtimes.
So a case's observable behaviour is its verdict plus the head data, which echoes whatever the case
probes (allocator pointers, memory.grow results, hashes, NaN bits, ...).
"""
import hashlib
import json
import os
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
BIG = os.path.join(CORPUS, "big")
REALCHAIN = "/work/shared/realchain"

MAGIC = bytes([0x52, 0xBC, 0x53, 0x76, 0x46, 0xDB, 0x8E, 0x05])
MIB = 1024 * 1024
CODE_BOMB_LIMIT = 30 * MIB  # reference default (--bomb-limit)
POV_BOMB_LIMIT = 40 * MIB  # POV_BOMB_LIMIT of polkadot-node-primitives
MAX_ALLOC = 32 * MIB  # sc-allocator MAX_POSSIBLE_ALLOCATION

HEAD, OUT, DATA, HEAP_BASE = 1024, 16384, 65536, 131072

# Host functions: short name -> (import name, wasm signature). Signatures follow
# sp-runtime-interface 37: &[u8] / &str are one i64 (len << 32 | ptr), fixed-size inputs an i32
# pointer, fixed-size outputs an i32 pointer allocated by the host allocator, codec outputs an
# i64 fat pointer, bool an i32, u8 an i32.
HF = {
    "malloc": ("ext_allocator_malloc_version_1", "(param i32) (result i32)"),
    "free": ("ext_allocator_free_version_1", "(param i32)"),
    "blake2_128": ("ext_hashing_blake2_128_version_1", "(param i64) (result i32)"),
    "blake2_256": ("ext_hashing_blake2_256_version_1", "(param i64) (result i32)"),
    "twox_64": ("ext_hashing_twox_64_version_1", "(param i64) (result i32)"),
    "twox_128": ("ext_hashing_twox_128_version_1", "(param i64) (result i32)"),
    "twox_256": ("ext_hashing_twox_256_version_1", "(param i64) (result i32)"),
    "keccak_256": ("ext_hashing_keccak_256_version_1", "(param i64) (result i32)"),
    "keccak_512": ("ext_hashing_keccak_512_version_1", "(param i64) (result i32)"),
    "sha2_256": ("ext_hashing_sha2_256_version_1", "(param i64) (result i32)"),
    "ed25519_verify": ("ext_crypto_ed25519_verify_version_1", "(param i32 i64 i32) (result i32)"),
    "sr25519_verify_v1": ("ext_crypto_sr25519_verify_version_1", "(param i32 i64 i32) (result i32)"),
    "sr25519_verify_v2": ("ext_crypto_sr25519_verify_version_2", "(param i32 i64 i32) (result i32)"),
    "ecdsa_verify_v2": ("ext_crypto_ecdsa_verify_version_2", "(param i32 i64 i32) (result i32)"),
    "secp_recover_v2": ("ext_crypto_secp256k1_ecdsa_recover_version_2", "(param i32 i32) (result i64)"),
    "sr25519_generate": ("ext_crypto_sr25519_generate_version_1", "(param i32 i64) (result i32)"),
    "sr25519_public_keys": ("ext_crypto_sr25519_public_keys_version_1", "(param i32) (result i64)"),
    "print_utf8": ("ext_misc_print_utf8_version_1", "(param i64)"),
    "print_num": ("ext_misc_print_num_version_1", "(param i64)"),
    "print_hex": ("ext_misc_print_hex_version_1", "(param i64)"),
    "runtime_version": ("ext_misc_runtime_version_version_1", "(param i64) (result i64)"),
    "log": ("ext_logging_log_version_1", "(param i32 i64 i64)"),
    "max_level": ("ext_logging_max_level_version_1", "(result i32)"),
    "ordered_root_v1": ("ext_trie_blake2_256_ordered_root_version_1", "(param i64) (result i32)"),
    "ordered_root_v2": ("ext_trie_blake2_256_ordered_root_version_2", "(param i64 i32) (result i32)"),
    "trie_root_v2": ("ext_trie_blake2_256_root_version_2", "(param i64 i32) (result i32)"),
    "storage_get": ("ext_storage_get_version_1", "(param i64) (result i64)"),
    "storage_set": ("ext_storage_set_version_1", "(param i64 i64)"),
    "storage_root": ("ext_storage_root_version_2", "(param i32) (result i64)"),
    "abort_on_panic": ("ext_panic_handler_abort_on_panic_version_1", "(param i64)"),
    "ecdsa_verify_v1": ("ext_crypto_ecdsa_verify_version_1", "(param i32 i64 i32) (result i32)"),
    "start_batch": ("ext_crypto_start_batch_verify_version_1", ""),
    "finish_batch": ("ext_crypto_finish_batch_verify_version_1", "(result i32)"),
    "ed25519_batch_verify": ("ext_crypto_ed25519_batch_verify_version_1", "(param i32 i64 i32) (result i32)"),
    "sr25519_batch_verify": ("ext_crypto_sr25519_batch_verify_version_1", "(param i32 i64 i32) (result i32)"),
    "bls_mul_g1": ("ext_host_calls_bls12_381_mul_g1_version_1", "(param i64 i64 i64) (result i32)"),
    "verify_proof_v2": ("ext_trie_blake2_256_verify_proof_version_2", "(param i32 i64 i64 i64 i32) (result i32)"),
}

MEM_IMPORT = '(import "env" "memory" (memory 17))'
MEM_EXPORT = '(memory (export "memory") 17)'

HELPERS = f"""
  (global $hlen (mut i32) (i32.const 0))
  (global $hrmp (mut i32) (i32.const 0))
  ;; append an i32 (LE) to the head
  (func $put (param $v i32)
    (i32.store (i32.add (i32.const {HEAD}) (global.get $hlen)) (local.get $v))
    (global.set $hlen (i32.add (global.get $hlen) (i32.const 4))))
  ;; append an i64 (LE) to the head
  (func $put64 (param $v i64)
    (i64.store (i32.add (i32.const {HEAD}) (global.get $hlen)) (local.get $v))
    (global.set $hlen (i32.add (global.get $hlen) (i32.const 8))))
  ;; append len bytes at ptr to the head
  (func $putb (param $ptr i32) (param $len i32) (local $i i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
      (i32.store8 (i32.add (i32.add (i32.const {HEAD}) (global.get $hlen)) (local.get $i))
                  (i32.load8_u (i32.add (local.get $ptr) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (global.set $hlen (i32.add (global.get $hlen) (local.get $len))))
  ;; (len << 32) | ptr
  (func $fat (param $ptr i32) (param $len i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $len)) (i64.const 32))
            (i64.extend_i32_u (local.get $ptr))))
  ;; append the bytes behind a fat pointer
  (func $putfat (param $f i64)
    (call $put (i32.wrap_i64 (local.get $f)))
    (call $put (i32.wrap_i64 (i64.shr_u (local.get $f) (i64.const 32))))
    (call $putb (i32.wrap_i64 (local.get $f)) (i32.wrap_i64 (i64.shr_u (local.get $f) (i64.const 32)))))
  ;; write ValidationResult {{ head_data: HEAD[..hlen], new_validation_code: None, upward: [],
  ;; horizontal: [], processed_downward_messages: 0, hrmp_watermark: $hrmp }} at OUT
  (func $finish (result i64) (local $o i32) (local $i i32)
    (local.set $o (i32.const {OUT}))
    (if (i32.lt_u (global.get $hlen) (i32.const 64))
      (then (i32.store8 (local.get $o) (i32.shl (global.get $hlen) (i32.const 2)))
            (local.set $o (i32.add (local.get $o) (i32.const 1))))
      (else (i32.store16 (local.get $o) (i32.or (i32.shl (global.get $hlen) (i32.const 2)) (i32.const 1)))
            (local.set $o (i32.add (local.get $o) (i32.const 2)))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (global.get $hlen)))
      (i32.store8 (i32.add (local.get $o) (local.get $i)) (i32.load8_u (i32.add (i32.const {HEAD}) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (local.set $o (i32.add (local.get $o) (global.get $hlen)))
    (i32.store8 (local.get $o) (i32.const 0))
    (i32.store8 offset=1 (local.get $o) (i32.const 0))
    (i32.store8 offset=2 (local.get $o) (i32.const 0))
    (i32.store offset=3 (local.get $o) (i32.const 0))
    (i32.store offset=7 (local.get $o) (global.get $hrmp))
    (local.set $o (i32.add (local.get $o) (i32.const 11)))
    (call $fat (i32.const {OUT}) (i32.sub (local.get $o) (i32.const {OUT}))))
"""

# Echo of the ValidationParams: ptr, len, the first min(len, 64) bytes and the last 36 bytes
# (relay_parent_number and relay_parent_storage_root).
ECHO_BODY = """
    (call $put (local.get $p))
    (call $put (local.get $l))
    (call $putb (local.get $p) (select (local.get $l) (i32.const 64) (i32.lt_u (local.get $l) (i32.const 64))))
    (call $putb (i32.sub (i32.add (local.get $p) (local.get $l)) (i32.const 36)) (i32.const 36))
"""


def wat_str(b: bytes) -> str:
    return '"' + "".join("\\%02x" % c for c in b) + '"'


def pvf(body, *, imports=(), mem=MEM_IMPORT, heap_base=f"(global (export \"__heap_base\") i32 (i32.const {HEAP_BASE}))",
        data=(), extra="", locals_="", vb_export='(export "validate_block")', finish=True, raw_imports=""):
    """A PVF module: imports, memory, helpers, `validate_block(p, l) -> i64` running `body`."""
    imp = "\n".join(f'  (import "env" "{HF[n][0]}" (func ${n} {HF[n][1]}))' for n in imports)
    segs = "\n".join(f"  (data (i32.const {addr}) {wat_str(b)})" for addr, b in data)
    tail = "(call $finish)" if finish else ""
    return f"""(module
{imp}
{raw_imports}
  {mem}
  {heap_base}
{HELPERS}
{extra}
{segs}
  (func {vb_export} (param $p i32) (param $l i32) (result i64) {locals_}
{body}
    {tail})
)
"""


class Gen:
    def __init__(self, big=False):
        self.cases = []
        self.big = big
        self.files = {}

    # -- files ---------------------------------------------------------------------------------
    def wat(self, name, text, features=(), check=True):
        """Writes corpus/NAME.wat and compiles it to corpus/NAME.wasm. features: wabt features
        to leave enabled (everything post-MVP is disabled otherwise)."""
        path = os.path.join(CORPUS, name + ".wat")
        with open(path, "w") as f:
            f.write(text)
        flags = []
        all_feats = {
            "mutable-globals": "--disable-mutable-globals",
            "sat-float-to-int": "--disable-saturating-float-to-int",
            "sign-extension": "--disable-sign-extension",
            "simd": "--disable-simd",
            "multi-value": "--disable-multi-value",
            "bulk-memory": "--disable-bulk-memory",
            "reference-types": "--disable-reference-types",
        }
        for feat, flag in all_feats.items():
            if feat not in features:
                flags.append(flag)
        for extra in ("multi-memory", "extended-const", "tail-call", "threads", "memory64"):
            if extra in features:
                flags.append("--enable-" + extra)
        if not check:
            flags.append("--no-check")
        out = os.path.join(CORPUS, name + ".wasm")
        subprocess.run(["wat2wasm", *flags, path, "-o", out], check=True)
        self.files.update({name + ".wat": True, name + ".wasm": True})
        return "corpus/" + name + ".wasm"

    def blob(self, name, data: bytes, big=False):
        d = BIG if big else CORPUS
        path = os.path.join(d, name)
        if big and not self.big and os.path.exists(path):
            return ("corpus/big/" if big else "corpus/") + name
        if big and not self.big:
            return "corpus/big/" + name  # written only with --big
        with open(path, "wb") as f:
            f.write(data)
        if not big:
            self.files[name] = True
        return ("corpus/big/" if big else "corpus/") + name

    def wasm_bytes(self, rel):
        with open(os.path.join(HERE, rel), "rb") as f:
            return f.read()

    # -- cases ---------------------------------------------------------------------------------
    def case(self, name, group, cmd, code, probe, *, params="0x00", parent_head="0x0102ab",
             block_data="0x00", exec_kind="approval", relay_parent_number=1,
             storage_root=None, timeout_ms=None, pov_compressed=False, bomb_limit=None,
             needs_big=False):
        assert not any(c["name"] == name for c in self.cases), name
        c = {"name": name, "group": group, "cmd": cmd, "code": code, "executor_params": params}
        if cmd == "validate":
            c.update({
                "parent_head": parent_head, "block_data": block_data, "exec_kind": exec_kind,
                "relay_parent_number": relay_parent_number,
                "relay_parent_storage_root": storage_root, "timeout_ms": timeout_ms,
                "pov_compressed": pov_compressed,
            })
        c["bomb_limit"] = bomb_limit
        c["needs_big"] = needs_big
        c["probe"] = probe
        self.cases.append(c)

    def both(self, name, group, code, probe, **kw):
        """A precheck case and a validate case of the same code."""
        pkw = {k: v for k, v in kw.items() if k in ("params", "bomb_limit", "needs_big")}
        self.case(name + "@precheck", group, "precheck", code, probe, **pkw)
        self.case(name + "@validate", group, "validate", code, probe, **kw)


def zstd_frame(data: bytes, level=19) -> bytes:
    import zstandard
    return zstandard.ZstdCompressor(level=level, write_content_size=True).compress(data)


def maybe_compressed(data: bytes) -> bytes:
    return MAGIC + zstd_frame(data)


def custom_section(name: bytes, payload_len: int) -> bytes:
    """A custom section header for a section of name + payload_len zero bytes (payload not included)."""
    def leb(n):
        out = bytearray()
        while True:
            b = n & 0x7F
            n >>= 7
            if n:
                out.append(b | 0x80)
            else:
                out.append(b)
                return bytes(out)
    body_len = len(leb(len(name))) + len(name) + payload_len
    return b"\x00" + leb(body_len) + leb(len(name)) + name


def padded_module(base: bytes, total: int) -> bytes:
    """base + one custom section "pad" of zeros so that the module is exactly `total` bytes."""
    # The header length depends on the payload length; try the few possible header sizes.
    for hdr_guess in range(6, 16):
        payload = total - len(base) - hdr_guess
        hdr = custom_section(b"pad", payload)
        if len(hdr) == hdr_guess:
            return base + hdr + bytes(payload)
    raise ValueError("cannot pad")


def compress_zeros_module(base: bytes, total: int) -> bytes:
    """sp-maybe-compressed-blob of padded_module(base, total), streamed (no 30 MiB buffer twice)."""
    return maybe_compressed(padded_module(base, total))


def scale_compact(n):
    if n < 64:
        return bytes([n << 2])
    if n < 1 << 14:
        return struct.pack("<H", (n << 2) | 1)
    if n < 1 << 30:
        return struct.pack("<I", (n << 2) | 2)
    raise ValueError


def executor_params(*entries: bytes) -> str:
    return "0x" + (scale_compact(len(entries)) + b"".join(entries)).hex()


def ep_max_memory_pages(n):
    return b"\x01" + struct.pack("<I", n)


def ep_stack_logical_max(n):
    return b"\x02" + struct.pack("<I", n)


def ep_exec_timeout(kind, ms):
    return b"\x06" + bytes([kind]) + struct.pack("<Q", ms)


EP_BULK = b"\x07"


def ed25519_vectors():
    """(public key, message, good signature, bad signature) from a fixed seed."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives import serialization
    sk = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"pvf-host differential").digest())
    pk = sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    msg = b"differential oracle"
    sig = sk.sign(msg)
    bad = bytes([sig[0] ^ 1]) + sig[1:]
    return pk, msg, sig, bad


def secp256k1_vectors():
    """A secp256k1 key and an ECDSA signature over blake2_256("differential oracle"), in sp-core's
    65-byte RSV form (low s), plus the high-s twin; pure Python so that no library is needed."""
    p = 2**256 - 2**32 - 977
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    g = (0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
         0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8)

    def add(a, b):
        if a is None:
            return b
        if b is None:
            return a
        if a[0] == b[0] and (a[1] + b[1]) % p == 0:
            return None
        if a == b:
            lam = 3 * a[0] * a[0] * pow(2 * a[1], -1, p) % p
        else:
            lam = (b[1] - a[1]) * pow(b[0] - a[0], -1, p) % p
        x = (lam * lam - a[0] - b[0]) % p
        return (x, (lam * (a[0] - x) - a[1]) % p)

    def mul(k, pt):
        r = None
        while k:
            if k & 1:
                r = add(r, pt)
            pt = add(pt, pt)
            k >>= 1
        return r

    d = int.from_bytes(hashlib.sha256(b"pvf-host secp256k1").digest(), "big") % n
    q = mul(d, g)
    msg = b"differential oracle"
    z = hashlib.blake2b(msg, digest_size=32).digest()
    k = int.from_bytes(hashlib.sha256(b"nonce" + z).digest(), "big") % n
    big_r = mul(k, g)
    r = big_r[0] % n
    s = pow(k, -1, n) * (int.from_bytes(z, "big") + r * d) % n
    v = big_r[1] & 1
    if s > n // 2:
        s, v = n - s, v ^ 1
    low = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])
    high = r.to_bytes(32, "big") + (n - s).to_bytes(32, "big") + bytes([v ^ 1])
    compressed = bytes([2 + (q[1] & 1)]) + q[0].to_bytes(32, "big")
    uncompressed = q[0].to_bytes(32, "big") + q[1].to_bytes(32, "big")
    return msg, z, low, high, compressed, uncompressed


def with_datacount(wasm: bytes) -> bytes:
    """Inserts a DataCount section (id 12, count 1) before the code section (id 10)."""
    def leb(data, i):
        n = shift = 0
        while True:
            b = data[i]
            i += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return n, i
    out, i = bytearray(wasm[:8]), 8
    while i < len(wasm):
        sid = wasm[i]
        size, j = leb(wasm, i + 1)
        if sid == 10:
            out += b"\x0c\x01\x01"
        out += wasm[i:j + size]
        i = j + size
    return bytes(out)


# ed25519 encodings for ZIP-215 edge cases (sp-core verifies with ed25519-zebra)
ED_IDENTITY = b"\x01" + bytes(31)
ED_IDENTITY_NONCANONICAL = b"\xee" + b"\xff" * 30 + b"\x7f"  # y = p + 1
ED_ORDER2 = b"\xec" + b"\xff" * 30 + b"\x7f"  # (0, -1): y = p - 1
ED_L = (2**252 + 27742317777372353535851937790883648493).to_bytes(32, "little")


# Recursion threshold of the reference's logical stack limit (wasm-instrument 0.4 stack limiter):
# a call adds the callee's cost = declared locals + max operand height (+2 for the frame, and an
# `else` does not reset the height). validate_block of `stack-depth` costs 1 + 3 = 4 and `$rec`
# 3 + 5 = 8, so N recursions (N + 1 frames of $rec) fit iff 4 + 8 (N + 1) <= limit:
# N <= 8190 for 65 536, N <= 123 for StackLogicalMax(1000). Checked against the reference.
STACK_N_MAX = 8190
STACK_N_MAX_SLM_1000 = 123


def build(g: Gen):
    os.makedirs(CORPUS, exist_ok=True)
    os.makedirs(BIG, exist_ok=True)

    # ---------------------------------------------------------------- ABI and parameters
    echo = g.wat("echo", pvf(ECHO_BODY))
    echo_exp = g.wat("echo-export-memory", pvf(ECHO_BODY, mem=MEM_EXPORT))
    g.both("abi-echo-import-memory", "abi", echo,
           "memory imported as env.memory; head echoes params ptr/len and bytes (host's ValidationParams encoding, first allocation)")
    g.case("abi-echo-export-memory@validate", "abi", "validate", echo_exp,
           "memory defined and exported as `memory`")
    for kind in ("backing", "dispute"):
        g.case(f"abi-echo-{kind}@validate", "abi", "validate", echo, f"same candidate at exec kind {kind}",
               exec_kind=kind)
    g.case("abi-echo-params@validate", "abi", "validate", echo,
           "relay_parent_number 7 and a non-zero relay_parent_storage_root appear in the params",
           relay_parent_number=7, storage_root="0x" + bytes(range(1, 33)).hex(),
           parent_head="0x" + bytes(range(70)).hex(), block_data="0xdeadbeef")
    g.case("abi-echo-empty-inputs@validate", "abi", "validate", echo,
           "empty parent head and block data", parent_head="0x", block_data="0x")
    g.case("abi-echo-unaligned-heap-base@validate", "abi", "validate",
           g.wat("echo-heap-base-unaligned", pvf(ECHO_BODY, heap_base='(global (export "__heap_base") i32 (i32.const 131075))')),
           "__heap_base 131075: the allocator aligns it up to 8, params pointer shows it")
    g.case("abi-echo-low-heap-base@validate", "abi", "validate",
           g.wat("echo-heap-base-low", pvf(ECHO_BODY, heap_base='(global (export "__heap_base") i32 (i32.const 20000))')),
           "__heap_base 20000 (inside the first page, below the data segment at 65536)")
    g.both("abi-memory-import-other-name", "abi",
           g.wat("memory-import-other-name", pvf(ECHO_BODY, mem='(import "env" "mem" (memory 17))')),
           "memory imported as env.mem (not `memory`): reference turns the import into an export named `mem`")
    g.both("abi-memory-import-non-env", "abi",
           g.wat("memory-import-non-env", pvf(ECHO_BODY, mem='(import "foo" "memory" (memory 17))')),
           "memory imported from module `foo`: reference converts any memory import into an export")
    g.both("abi-memory-export-other-name", "abi",
           g.wat("memory-export-other-name", pvf(ECHO_BODY, mem='(memory (export "mem") 17)')),
           "memory exported as `mem` only")
    g.both("abi-no-memory", "abi",
           g.wat("no-memory", '(module (global (export "__heap_base") i32 (i32.const 0))\n'
                 '  (func (export "validate_block") (param i32 i32) (result i64) (i64.const 0)))'),
           "module without any memory")
    g.both("abi-memory-declared-max", "abi",
           g.wat("memory-declared-max", pvf("""
    (call $put (memory.grow (i32.const 100)))
    (call $put (memory.size))""", mem='(memory (export "memory") 17 18)')),
           "memory declared with max 18; grow(100): reference clears the declared maximum")
    g.both("abi-missing-heap-base", "abi", g.wat("missing-heap-base", pvf(ECHO_BODY, heap_base="")),
           "no __heap_base export")
    g.both("abi-heap-base-i64", "abi",
           g.wat("heap-base-i64", pvf(ECHO_BODY, heap_base='(global (export "__heap_base") i64 (i64.const 131072))')),
           "__heap_base is an i64 global")
    g.both("abi-heap-base-is-function", "abi",
           g.wat("heap-base-is-function", pvf(ECHO_BODY, heap_base='(func (export "__heap_base") (result i32) (i32.const 131072))')),
           "__heap_base exported as a function")
    g.both("abi-missing-validate-block", "abi",
           g.wat("missing-validate-block", pvf(ECHO_BODY, vb_export='(export "validate")')),
           "no validate_block export")
    g.both("abi-validate-block-wrong-result", "abi",
           g.wat("validate-block-wrong-result", MEM_IMPORT.join(["(module ", "\n(global (export \"__heap_base\") i32 (i32.const 131072))\n"
                 "(func (export \"validate_block\") (param i32 i32) (result i32) (i32.const 0)))"])),
           "validate_block(i32, i32) -> i32")
    g.both("abi-validate-block-wrong-params", "abi",
           g.wat("validate-block-wrong-params", MEM_IMPORT.join(["(module ", "\n(global (export \"__heap_base\") i32 (i32.const 131072))\n"
                 "(func (export \"validate_block\") (param i32) (result i64) (i64.const 0)))"])),
           "validate_block(i32) -> i64")
    g.both("abi-validate-block-is-global", "abi",
           g.wat("validate-block-is-global", MEM_IMPORT.join(["(module ", "\n(global (export \"__heap_base\") i32 (i32.const 131072))\n"
                 "(global (export \"validate_block\") i64 (i64.const 0)))"])),
           "validate_block exported as a global")
    g.case("abi-result-out-of-bounds@validate", "abi", "validate",
           g.wat("result-out-of-bounds", pvf("""
    (drop (call $finish))
    (return (call $fat (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 10)) (i32.const 20)))""", finish=False)),
           "returned (ptr, len) runs 10 bytes past the end of memory")
    g.case("abi-result-ptr-wraps@validate", "abi", "validate",
           g.wat("result-ptr-wraps", pvf("""
    (drop (call $finish))
    (return (call $fat (i32.const -16) (i32.const 32)))""", finish=False)),
           "returned ptr 0xfffffff0, len 32: ptr + len overflows u32")
    g.case("abi-result-len-zero@validate", "abi", "validate",
           g.wat("result-len-zero", pvf("""
    (drop (call $finish))
    (return (call $fat (i32.const 16384) (i32.const 0)))""", finish=False)),
           "returned len 0: nothing to decode")
    g.case("abi-result-trailing-bytes@validate", "abi", "validate",
           g.wat("result-trailing-bytes", pvf("""
    (local $r i64)
    (call $put (i32.const 0x11223344))
    (local.set $r (call $finish))
    ;; 5 extra bytes after the encoded result
    (i64.store (i32.add (i32.const 16384) (i32.wrap_i64 (i64.shr_u (local.get $r) (i64.const 32)))) (i64.const -1))
    (return (i64.add (local.get $r) (i64.shl (i64.const 5) (i64.const 32))))""", finish=False)),
           "a valid ValidationResult followed by 5 junk bytes (reference decodes with `decode`, not `decode_all`)")
    g.case("abi-result-truncated@validate", "abi", "validate",
           g.wat("result-truncated", pvf("""
    (local $r i64)
    (call $put (i32.const 0x11223344))
    (local.set $r (call $finish))
    (return (i64.sub (local.get $r) (i64.shl (i64.const 2) (i64.const 32))))""", finish=False)),
           "ValidationResult missing the last 2 bytes of hrmp_watermark")
    g.case("abi-result-noncanonical-compact@validate", "abi", "validate",
           g.wat("result-noncanonical-compact", pvf(
               "    (return (call $fat (i32.const 65536) (i32.const 16)))", finish=False,
               data=[(65536, bytes.fromhex("0d00aabbcc") + bytes(11))])),
           "head length 3 encoded as a non-canonical two-byte compact (0x0d 0x00)")
    full = bytes.fromhex(
        "04aa"            # head_data [0xaa]
        "01100061736d"    # new_validation_code Some([00 61 73 6d])
        "04080102"        # upward_messages [[01 02]]
        "04d00700000403"  # horizontal_messages [{recipient 2000, data [03]}]
        "03000000"        # processed_downward_messages 3
        "01000000")       # hrmp_watermark 1
    g.case("abi-result-full@validate", "abi", "validate",
           g.wat("result-full", pvf(
               f"    (return (call $fat (i32.const 65536) (i32.const {len(full)})))", finish=False,
               data=[(65536, full)])),
           "ValidationResult with new code, an upward and an HRMP message (reference CLI shows only head_data)")
    g.case("abi-large-head@validate", "abi", "validate",
           g.wat("large-head", pvf("""
    (local $i i32)
    (block $d (loop $n
      (br_if $d (i32.ge_u (local.get $i) (i32.const 3000)))
      (call $put (local.get $i))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $n)))""")),
           "12 000-byte head (two-byte compact length)")
    g.case("abi-validate-block-traps@validate", "abi", "validate",
           g.wat("unreachable", pvf("    unreachable")), "validate_block executes `unreachable`")
    g.both("abi-start-function-traps", "abi",
           g.wat("start-traps", pvf(ECHO_BODY, extra="  (func $start unreachable)\n  (start $start)")),
           "start function traps during instantiation")
    g.both("abi-start-function-writes", "abi",
           g.wat("start-writes", pvf("    (call $put (i32.load (i32.const 70000)))",
                                     extra="  (func $start (i32.store (i32.const 70000) (i32.const 0x5a5a5a5a)))\n  (start $start)")),
           "start function stores a word that validate_block echoes")
    g.both("abi-data-segment-out-of-bounds", "abi",
           g.wat("data-segment-oob", pvf(ECHO_BODY, data=[(17 * 65536 - 2, b"abcd")])),
           "data segment runs past the initial memory (17 pages)")
    g.both("abi-initial-memory-over-ceiling", "abi",
           g.wat("memory-2081", pvf("    (call $put (memory.size))", mem='(memory (export "memory") 2081)')),
           "initial memory 2081 pages, one above the default ceiling of 2080")
    g.both("abi-initial-memory-at-ceiling", "abi",
           g.wat("memory-2080", pvf("    (call $put (memory.size))\n    (call $put (memory.grow (i32.const 1)))", mem='(memory (export "memory") 2080)')),
           "initial memory exactly 2080 pages; grow(1) must fail")

    # ---------------------------------------------------------------- imports
    g.both("import-unknown-declared", "imports",
           g.wat("import-unknown-declared", pvf(ECHO_BODY, raw_imports='  (import "env" "ext_not_a_host_function_version_1" (func $nope (param i32) (result i32)))')),
           "unknown env function imported but never called")
    g.both("import-unknown-called", "imports",
           g.wat("import-unknown-called", pvf("    (call $put (call $nope (i32.const 1)))", raw_imports='  (import "env" "ext_not_a_host_function_version_1" (func $nope (param i32) (result i32)))')),
           "unknown env function called")
    g.both("import-non-env-function", "imports",
           g.wat("import-non-env-function", pvf(ECHO_BODY, raw_imports='  (import "foo" "bar" (func $bar))')),
           "function imported from module `foo`, never called")
    g.both("import-global", "imports",
           g.wat("import-global", pvf(ECHO_BODY, raw_imports='  (import "env" "g" (global i32))')),
           "global imported from env")
    g.both("import-table", "imports",
           g.wat("import-table", pvf(ECHO_BODY, raw_imports='  (import "env" "table" (table 1 funcref))')),
           "table imported from env")
    g.both("import-host-function-wrong-signature", "imports",
           g.wat("import-wrong-signature", pvf(ECHO_BODY, raw_imports='  (import "env" "ext_hashing_blake2_256_version_1" (func $b (param i32) (result i32)))')),
           "known host function imported with a wrong signature, never called")
    g.case("import-panic-handler@validate", "imports", "validate",
           g.wat("import-panic-handler", pvf("    (call $abort_on_panic (call $fat (i32.const 65536) (i32.const 5)))\n    (call $put (i32.const 1))",
                                             imports=["abort_on_panic"], data=[(65536, b"boom!")])),
           "ext_panic_handler_abort_on_panic_version_1 (not in the PVF host function set) called")
    g.case("import-storage-declared@validate", "imports", "validate",
           g.wat("import-storage-declared", pvf(ECHO_BODY, imports=["storage_get", "storage_set", "storage_root"])),
           "storage functions imported (as Cumulus runtimes do) but not called")

    # ---------------------------------------------------------------- memory ceiling
    g.case("heap-grow-to-ceiling@validate", "memory", "validate",
           g.wat("grow-to-ceiling", pvf("""
    (call $put (memory.grow (i32.const 2063)))
    (call $put (memory.grow (i32.const 1)))
    (call $put (memory.size))""")),
           "memory.grow from 17 to 2080 pages succeeds, one more fails")
    g.case("heap-grow-over-ceiling@validate", "memory", "validate",
           g.wat("grow-over-ceiling", pvf("""
    (call $put (memory.grow (i32.const 2064)))
    (call $put (memory.size))""")),
           "memory.grow from 17 to 2081 pages fails")
    grow_steps = g.wat("grow-steps", pvf("""
    (call $put (memory.grow (i32.const 15)))
    (call $put (memory.grow (i32.const 100)))
    (call $put (memory.grow (i32.const 1)))
    (call $put (memory.size))"""))
    g.case("heap-grow-default@validate", "memory", "validate", grow_steps,
           "grow 15, 100, 1 pages under the default ceiling")
    g.case("heap-grow-max-memory-pages-100@validate", "memory", "validate", grow_steps,
           "same with MaxMemoryPages(100): ceiling 132 pages", params=executor_params(ep_max_memory_pages(100)))
    g.case("heap-grow-max-memory-pages-0@validate", "memory", "validate", grow_steps,
           "same with MaxMemoryPages(0): ceiling 32 pages", params=executor_params(ep_max_memory_pages(0)))
    g.both("heap-initial-200-max-memory-pages-100", "memory",
           g.wat("memory-200", pvf("    (call $put (memory.size))", mem='(memory (export "memory") 200)')),
           "initial memory 200 pages with MaxMemoryPages(100) (ceiling 132)", params=executor_params(ep_max_memory_pages(100)))

    # ---------------------------------------------------------------- allocator
    g.case("alloc-sequence@validate", "allocator", "validate",
           g.wat("alloc-sequence", pvf("""
    (local $p1 i32) (local $p2 i32) (local $p3 i32) (local $p6 i32)
    (local.set $p1 (call $malloc (i32.const 1)))  (call $put (local.get $p1))
    (local.set $p2 (call $malloc (i32.const 9)))  (call $put (local.get $p2))
    (local.set $p3 (call $malloc (i32.const 16))) (call $put (local.get $p3))
    (call $free (local.get $p2))
    (call $put (call $malloc (i32.const 12)))
    (call $free (local.get $p1))
    (call $put (call $malloc (i32.const 8)))
    (local.set $p6 (call $malloc (i32.const 100))) (call $put (local.get $p6))
    (call $free (local.get $p6))
    (call $put (call $malloc (i32.const 64)))
    (call $put (call $malloc (i32.const 128)))
    (call $put (call $malloc (i32.const 0)))
    (call $put (call $malloc (i32.const 65536)))
    (call $put (call $malloc (i32.const 65537)))
    (call $put (memory.size))""", imports=["malloc", "free"])),
           "malloc/free sequence: sizes 1, 9, 16, free, reuse by order, 0, 64 KiB, 64 KiB + 1; pointers echoed")
    g.case("alloc-growth@validate", "allocator", "validate",
           g.wat("alloc-growth", pvf("""
    (call $put (memory.size))
    (call $put (call $malloc (i32.const 1048576)))
    (call $put (memory.size))
    (call $put (call $malloc (i32.const 4194304)))
    (call $put (memory.size))
    (call $put (call $malloc (i32.const 8)))
    (call $put (memory.size))""", imports=["malloc"])),
           "memory.size after malloc(1 MiB) and malloc(4 MiB): allocator growth policy (doubling)")
    g.case("alloc-after-guest-grow@validate", "allocator", "validate",
           g.wat("alloc-after-guest-grow", pvf("""
    (call $put (memory.grow (i32.const 100)))
    (call $put (call $malloc (i32.const 2097152)))
    (call $put (memory.size))
    (call $put (call $malloc (i32.const 8388608)))
    (call $put (memory.size))""", imports=["malloc"])),
           "guest grows memory to 117 pages, then mallocs: allocator uses the grown memory first")
    g.case("alloc-max-size@validate", "allocator", "validate",
           g.wat("alloc-32mib", pvf("""
    (call $put (call $malloc (i32.const 33554432)))
    (call $put (memory.size))""", imports=["malloc"])),
           "malloc(32 MiB), the largest allowed allocation")
    g.case("alloc-too-large@validate", "allocator", "validate",
           g.wat("alloc-32mib-plus-1", pvf("    (call $put (call $malloc (i32.const 33554433)))", imports=["malloc"])),
           "malloc(32 MiB + 1): RequestedAllocationTooLarge")
    g.case("alloc-fill-ceiling@validate", "allocator", "validate",
           g.wat("alloc-8x16mib", pvf("""
    (local $i i32)
    (block $d (loop $n
      (br_if $d (i32.ge_u (local.get $i) (i32.const 7)))
      (call $put (call $malloc (i32.const 16777216)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $n)))
    (call $put (memory.size))""", imports=["malloc"])),
           "7 x malloc(16 MiB) fit under the 2080-page ceiling")
    g.case("alloc-exhaust-ceiling@validate", "allocator", "validate",
           g.wat("alloc-9x16mib", pvf("""
    (local $i i32)
    (block $d (loop $n
      (br_if $d (i32.ge_u (local.get $i) (i32.const 9)))
      (call $put (call $malloc (i32.const 16777216)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $n)))""", imports=["malloc"])),
           "9 x malloc(16 MiB): allocator out of space at the ceiling")
    g.case("alloc-max-memory-pages-100@validate", "allocator", "validate",
           g.wat("alloc-16mib", pvf("    (call $put (call $malloc (i32.const 16777216)))", imports=["malloc"])),
           "malloc(16 MiB) with MaxMemoryPages(100) (ceiling 132 pages)", params=executor_params(ep_max_memory_pages(100)))
    g.case("alloc-free-bad-pointer@validate", "allocator", "validate",
           g.wat("alloc-free-bad-pointer", pvf("    (call $free (i32.const 12345))\n    (call $put (i32.const 1))", imports=["free"])),
           "free(12345): not an allocation")
    g.case("alloc-free-null@validate", "allocator", "validate",
           g.wat("alloc-free-null", pvf("    (call $free (i32.const 0))\n    (call $put (i32.const 1))", imports=["free"])),
           "free(0)")
    g.case("alloc-free-out-of-bounds@validate", "allocator", "validate",
           g.wat("alloc-free-oob", pvf("    (call $free (i32.const -8))\n    (call $put (i32.const 1))", imports=["free"])),
           "free(0xfffffff8): header beyond memory")
    g.case("alloc-double-free@validate", "allocator", "validate",
           g.wat("alloc-double-free", pvf("""
    (local $x i32)
    (local.set $x (call $malloc (i32.const 16)))
    (call $free (local.get $x))
    (call $free (local.get $x))
    (call $put (i32.const 1))""", imports=["malloc", "free"])),
           "double free")
    g.case("alloc-free-params@validate", "allocator", "validate",
           g.wat("alloc-free-params", pvf("""
    (call $free (local.get $p))
    (call $put (call $malloc (local.get $l)))""", imports=["malloc", "free"])),
           "free the params buffer the host allocated, then malloc the same size (reuse)")
    g.case("alloc-corrupt-free-list@validate", "allocator", "validate",
           g.wat("alloc-corrupt-free-list", pvf("""
    (local $x i32)
    (local.set $x (call $malloc (i32.const 16)))
    (call $put (local.get $x))
    (call $free (local.get $x))
    ;; overwrite the free header's link with a pointer far out of memory
    (i32.store (i32.sub (local.get $x) (i32.const 8)) (i32.const 0x7ffffff0))
    (call $put (call $malloc (i32.const 16)))
    (call $put (call $malloc (i32.const 16)))""", imports=["malloc", "free"])),
           "guest corrupts a free-list link; the second malloc follows it")
    g.case("alloc-free-guest-header@validate", "allocator", "validate",
           g.wat("alloc-free-forged", pvf("""
    ;; a forged occupied header (order 0) at 200000, then free(200008) and malloc(8)
    (i64.store (i32.const 200000) (i64.const 0x0000000100000000))
    (call $free (i32.const 200008))
    (call $put (call $malloc (i32.const 8)))
    (call $put (call $malloc (i32.const 8)))""", imports=["malloc", "free"])),
           "free of a forged header the guest wrote: the allocator trusts it and hands the block out again")

    # ---------------------------------------------------------------- stack
    stack = g.wat("stack-depth", pvf("""
    (local $n i32)
    (local.set $n (i32.load offset=2 (local.get $p)))
    (call $put (local.get $n))
    (call $put (call $rec (local.get $n)))""", extra="""
  (func $rec (param $n i32) (result i32) (local $a i32) (local $b i32) (local $c i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.const 0))
      (else (i32.add (call $rec (i32.sub (local.get $n) (i32.const 1))) (i32.const 1)))))"""))

    def n_block(n):
        return "0x" + struct.pack("<I", n).hex()

    g.case("stack-depth-at-limit@validate", "stack", "validate", stack,
           f"recursion depth N={STACK_N_MAX} (block data = N, 3 locals): deepest that fits the logical limit 65 536",
           parent_head="0x", block_data=n_block(STACK_N_MAX))
    g.case("stack-depth-over-limit@validate", "stack", "validate", stack,
           f"recursion depth N={STACK_N_MAX + 1}: one frame too many", parent_head="0x", block_data=n_block(STACK_N_MAX + 1))
    g.case("stack-depth-100k@validate", "stack", "validate", stack,
           "recursion depth 100 000: far over the logical limit, well within a native 256 MiB stack",
           parent_head="0x", block_data=n_block(100000))
    g.case("stack-logical-max-1000-at@validate", "stack", "validate", stack,
           f"StackLogicalMax(1000): depth {STACK_N_MAX_SLM_1000} fits",
           parent_head="0x", block_data=n_block(STACK_N_MAX_SLM_1000), params=executor_params(ep_stack_logical_max(1000)))
    g.case("stack-logical-max-1000-over@validate", "stack", "validate", stack,
           f"StackLogicalMax(1000): depth {STACK_N_MAX_SLM_1000 + 1} traps",
           parent_head="0x", block_data=n_block(STACK_N_MAX_SLM_1000 + 1), params=executor_params(ep_stack_logical_max(1000)))
    g.case("stack-infinite-recursion@validate", "stack", "validate",
           g.wat("stack-infinite", pvf("    (call $put (call $inf (i32.const 0)))",
                                       extra="  (func $inf (param i32) (result i32) (call $inf (local.get 0)))")),
           "unbounded recursion")
    g.case("stack-big-frame@validate", "stack", "validate",
           g.wat("stack-big-frame", pvf("    (call $put (call $big (i32.const 3)))", extra="""
  (func $big (param $n i32) (result i32) (local i64 i64 i64 i64 i64 i64 i64 i64) (local $x i32)
    (local $pad1 i32) (local $pad2 i32)
    (local.set $x (local.get $n))
    (if (result i32) (i32.eqz (local.get $n)) (then (i32.const 7))
      (else (call $big (i32.sub (local.get $n) (i32.const 1))))))""".replace("(local i64 i64 i64 i64 i64 i64 i64 i64)", "(local " + " ".join(["i64"] * 20000) + ")"))),
           "function with 20 011 locals recursing 3 deep: 4 frames x ~20 000 logical values > 65 536")

    # ---------------------------------------------------------------- tables
    g.both("table-2m-entries", "tables",
           g.wat("table-2m", pvf("    (call $put (call_indirect (type $t) (i32.const 1999999)))", extra="""
  (type $t (func (result i32)))
  (table 2000000 funcref)
  (elem (i32.const 1999999) $f42)
  (func $f42 (result i32) (i32.const 42))""")),
           "table of 2 000 000 entries, call_indirect through the last one")
    g.case("table-2m-null-entry@validate", "tables", "validate",
           g.wat("table-2m-null", pvf("    (call $put (call_indirect (type $t) (i32.const 1999998)))", extra="""
  (type $t (func (result i32)))
  (table 2000000 funcref)
  (elem (i32.const 1999999) $f42)
  (func $f42 (result i32) (i32.const 42))""")),
           "call_indirect through an uninitialised entry")
    g.case("table-out-of-bounds@validate", "tables", "validate",
           g.wat("table-oob", pvf("    (call $put (call_indirect (type $t) (i32.const 2)))", extra="""
  (type $t (func (result i32)))
  (table 2 funcref)
  (elem (i32.const 0) $f42 $f42)
  (func $f42 (result i32) (i32.const 42))""")),
           "call_indirect past the end of the table")
    g.case("table-signature-mismatch@validate", "tables", "validate",
           g.wat("table-sig-mismatch", pvf("    (call $put (call_indirect (type $t) (i32.const 0)))", extra="""
  (type $t (func (result i32)))
  (table 1 funcref)
  (elem (i32.const 0) $g)
  (func $g (result i64) (i64.const 42))""")),
           "call_indirect with the wrong signature")
    g.both("table-10m-plus-1", "tables",
           g.wat("table-10m-plus-1", pvf("    (call $put (call_indirect (type $t) (i32.const 10000000)))", extra="""
  (type $t (func (result i32)))
  (table 10000001 funcref)
  (elem (i32.const 10000000) $f42)
  (func $f42 (result i32) (i32.const 42))""")),
           "table of 10 000 001 entries (one over wasmparser's 10 000 000), call_indirect through the last one")

    # ---------------------------------------------------------------- Wasm features
    feats = {
        "bulk-memory": ("bulk-memory", """
    (memory.fill (i32.const 70000) (i32.const 0xab) (i32.const 4))
    (memory.copy (i32.const 70004) (i32.const 70000) (i32.const 4))
    (call $put (i32.load (i32.const 70004)))""", ""),
        "sign-extension": ("sign-extension", """
    (call $put (i32.extend8_s (i32.const 0x80)))
    (call $put64 (i64.extend32_s (i64.const 0x80000000)))""", ""),
        "sat-float-to-int": ("sat-float-to-int", """
    (call $put (i32.trunc_sat_f32_s (f32.const 3e9)))
    (call $put (i32.trunc_sat_f64_u (f64.const -1)))""", ""),
        "multi-value": ("multi-value", """
    (call $put (i32.sub (call $two)))""", "  (func $two (result i32 i32) (i32.const 10) (i32.const 3))"),
        "reference-types": ("reference-types", """
    (call $put (ref.is_null (ref.null func)))""", ""),
        "simd": ("simd", """
    (call $put (i32x4.extract_lane 1 (i32x4.splat (i32.const 7))))""", ""),
        "mutable-global-export": ("mutable-globals", """
    (global.set $mg (i32.const 5))
    (call $put (global.get $mg))""", '  (global $mg (export "mg") (mut i32) (i32.const 1))'),
    }
    for name, (feature, body, extra) in feats.items():
        code = g.wat("feature-" + name, pvf(body, extra=extra),
                     features=(feature, "bulk-memory") if feature == "reference-types" else (feature,))
        g.case(f"feature-{name}@precheck", "features", "precheck", code, f"{name} opcodes, default executor params")
        g.case(f"feature-{name}-bulk-param@precheck", "features", "precheck", code,
               f"{name} opcodes with [WasmExtBulkMemory]", params=executor_params(EP_BULK))
        g.case(f"feature-{name}-bulk-param@validate", "features", "validate", code,
               f"{name} opcodes with [WasmExtBulkMemory], executed", params=executor_params(EP_BULK))
    g.case("feature-mvp-bulk-param@validate", "features", "validate", echo,
           "MVP module with [WasmExtBulkMemory]", params=executor_params(EP_BULK))

    # ---------------------------------------------------------------- floats / NaN / traps
    g.case("float-nan-bits@validate", "floats", "validate",
           g.wat("nan-bits", pvf("""
    (call $put (i32.reinterpret_f32 (f32.div (f32.const 0) (f32.const 0))))
    (call $put64 (i64.reinterpret_f64 (f64.div (f64.const 0) (f64.const 0))))
    (call $put (i32.reinterpret_f32 (f32.sqrt (f32.const -1))))
    (call $put (i32.reinterpret_f32 (f32.add (f32.reinterpret_i32 (i32.const 0x7fa00001)) (f32.const 1))))
    (call $put (i32.reinterpret_f32 (f32.mul (f32.reinterpret_i32 (i32.const 0xffa00001)) (f32.const 2))))
    (call $put (i32.reinterpret_f32 (f32.min (f32.reinterpret_i32 (i32.const 0x7fa00001)) (f32.const 1))))
    (call $put (i32.reinterpret_f32 (f32.max (f32.const 1) (f32.reinterpret_i32 (i32.const 0xff800002)))))
    (call $put (i32.reinterpret_f32 (f32.neg (f32.reinterpret_i32 (i32.const 0x7fa00001)))))
    (call $put (i32.reinterpret_f32 (f32.abs (f32.reinterpret_i32 (i32.const 0xffa00001)))))
    (call $put (i32.reinterpret_f32 (f32.copysign (f32.reinterpret_i32 (i32.const 0x7fa00001)) (f32.const -1))))
    (call $put (i32.reinterpret_f32 (f32.nearest (f32.reinterpret_i32 (i32.const 0x7fa00001)))))
    (call $put (i32.reinterpret_f32 (f32.ceil (f32.reinterpret_i32 (i32.const 0x7f800001)))))
    (call $put64 (i64.reinterpret_f64 (f64.promote_f32 (f32.reinterpret_i32 (i32.const 0x7fa00001)))))
    (call $put (i32.reinterpret_f32 (f32.demote_f64 (f64.reinterpret_i64 (i64.const 0x7ff4000000000001)))))
    (call $put64 (i64.reinterpret_f64 (f64.sub (f64.reinterpret_i64 (i64.const 0xfff4000000000001)) (f64.const 1))))
    ;; a signalling NaN through memory (f32.store/f32.load are bit-preserving)
    (f32.store (i32.const 70000) (f32.reinterpret_i32 (i32.const 0x7f800001)))
    (call $put (i32.load (i32.const 70000)))
    (call $put (i32.reinterpret_f32 (f32.convert_i32_s (i32.const 16777217))))
    (call $put64 (i64.reinterpret_f64 (f64.convert_i64_u (i64.const -1))))""")),
           "NaN-producing float ops (arithmetic, min/max, sign ops, rounding, promote/demote) with their bits in the head")
    for name, expr, probe in [
        ("float-trunc-nan", "(i32.trunc_f32_s (f32.div (f32.const 0) (f32.const 0)))", "i32.trunc_f32_s(NaN) traps"),
        ("float-trunc-overflow", "(i32.trunc_f32_s (f32.const 3e9))", "i32.trunc_f32_s(3e9) traps"),
        ("int-div-zero", "(i32.div_u (i32.const 1) (i32.load (i32.const 70000)))", "integer division by zero"),
        ("int-div-overflow", "(i32.div_s (i32.const 0x80000000) (i32.sub (i32.load (i32.const 70000)) (i32.const 1)))", "INT_MIN / -1"),
        ("memory-load-oob", "(i32.load (i32.const 1114110))", "load crossing the end of memory"),
    ]:
        g.case(f"{name}@validate", "floats", "validate", g.wat(name, pvf(f"    (call $put {expr})")), probe)

    # ---------------------------------------------------------------- host functions
    abc = [(65536, b"abc")]
    hashes = ["blake2_128", "blake2_256", "twox_64", "twox_128", "twox_256", "keccak_256", "keccak_512", "sha2_256"]
    sizes = {"blake2_128": 16, "blake2_256": 32, "twox_64": 8, "twox_128": 16, "twox_256": 32, "keccak_256": 32,
             "keccak_512": 64, "sha2_256": 32}
    body = "    (local $r i32)\n" + "".join(
        f"    (local.set $r (call ${h} (call $fat (i32.const 65536) (i32.const 3))))\n"
        f"    (call $put (local.get $r))\n    (call $putb (local.get $r) (i32.const {sizes[h]}))\n" for h in hashes)
    g.case("hf-hashes@validate", "host-functions", "validate", g.wat("hf-hashes", pvf(body, imports=hashes, data=abc)),
           "blake2_128/256, twox_64/128/256, keccak_256/512, sha2_256 of \"abc\": output pointers (host allocator) and digests")
    g.case("hf-blake2-256-empty@validate", "host-functions", "validate",
           g.wat("hf-blake2-empty", pvf("""
    (local $r i32)
    (local.set $r (call $blake2_256 (call $fat (i32.const 0) (i32.const 0))))
    (call $put (local.get $r))
    (call $putb (local.get $r) (i32.const 32))""", imports=["blake2_256"])),
           "blake2_256 of the empty input")
    g.case("hf-blake2-256-len-oob@validate", "host-functions", "validate",
           g.wat("hf-blake2-oob", pvf("    (call $put (call $blake2_256 (call $fat (i32.const 1114110) (i32.const 3))))", imports=["blake2_256"])),
           "blake2_256 input runs past the end of memory")
    g.case("hf-blake2-256-ptr-wraps@validate", "host-functions", "validate",
           g.wat("hf-blake2-wrap", pvf("    (call $put (call $blake2_256 (call $fat (i32.const -16) (i32.const 32))))", imports=["blake2_256"])),
           "blake2_256 input ptr 0xfffffff0 len 32 (ptr + len overflows)")
    g.case("hf-blake2-256-empty-oob-ptr@validate", "host-functions", "validate",
           g.wat("hf-blake2-empty-oob", pvf("""
    (local $r i32)
    (local.set $r (call $blake2_256 (call $fat (i32.const -1) (i32.const 0))))
    (call $putb (local.get $r) (i32.const 32))""", imports=["blake2_256"])),
           "blake2_256 with len 0 at ptr 0xffffffff")
    g.case("hf-twox-128@validate", "host-functions", "validate",
           g.wat("hf-twox-128", pvf("""
    (local $r i32)
    (local.set $r (call $twox_128 (call $fat (i32.const 65536) (i32.const 11))))
    (call $putb (local.get $r) (i32.const 16))""", imports=["twox_128"], data=[(65536, b":code\x00:heap")])),
           "twox_128 of an 11-byte key")
    g.case("hf-keccak-256@validate", "host-functions", "validate",
           g.wat("hf-keccak-256", pvf("""
    (local $r i32)
    (local.set $r (call $keccak_256 (call $fat (local.get $p) (local.get $l))))
    (call $putb (local.get $r) (i32.const 32))""", imports=["keccak_256"])),
           "keccak_256 of the whole params buffer")
    pk, msg, sig, bad = ed25519_vectors()
    ed_data = [(65536, sig), (65600, bad), (65664, pk), (65696, msg), (65728, bytes(64)), (65792, bytes(32)),
               (65824, bytes(65)), (65890, bytes(33)), (65923, bytes(64) + b"\x05"), (65988, bytes(32))]
    fatmsg = f"(call $fat (i32.const 65696) (i32.const {len(msg)}))"
    g.case("hf-signatures@validate", "host-functions", "validate",
           g.wat("hf-signatures", pvf(f"""
    (call $put (call $ed25519_verify (i32.const 65536) {fatmsg} (i32.const 65664)))
    (call $put (call $ed25519_verify (i32.const 65600) {fatmsg} (i32.const 65664)))
    (call $put (call $ed25519_verify (i32.const 65536) {fatmsg} (i32.const 65792)))
    (call $put (call $sr25519_verify_v2 (i32.const 65728) {fatmsg} (i32.const 65792)))
    (call $put (call $sr25519_verify_v1 (i32.const 65728) {fatmsg} (i32.const 65792)))
    (call $put (call $sr25519_verify_v2 (i32.const 65536) {fatmsg} (i32.const 65664)))
    (call $put (call $ecdsa_verify_v2 (i32.const 65824) {fatmsg} (i32.const 65890)))
    (call $putfat (call $secp_recover_v2 (i32.const 65824) (i32.const 65988)))
    (call $putfat (call $secp_recover_v2 (i32.const 65923) (i32.const 65988)))""",
                                        imports=["ed25519_verify", "sr25519_verify_v1", "sr25519_verify_v2", "ecdsa_verify_v2", "secp_recover_v2"],
                                        data=ed_data)),
           "ed25519_verify good/bad signature/zero key, sr25519_verify v1/v2 bad, ecdsa_verify v2 bad, secp256k1_ecdsa_recover v2 errors (BadRS, BadV)")
    g.case("hf-sr25519-verify-sig-oob@validate", "host-functions", "validate",
           g.wat("hf-sr25519-oob", pvf(f"    (call $put (call $sr25519_verify_v2 (i32.const 1114100) {fatmsg} (i32.const 65792)))",
                                       imports=["sr25519_verify_v2"], data=ed_data)),
           "sr25519_verify with the 64-byte signature pointer running past memory")
    g.case("hf-print@validate", "host-functions", "validate",
           g.wat("hf-print", pvf("""
    (call $print_utf8 (call $fat (i32.const 65536) (i32.const 5)))
    (call $print_utf8 (call $fat (i32.const 65544) (i32.const 3)))
    (call $print_num (i64.const 42))
    (call $print_hex (call $fat (i32.const 65536) (i32.const 5)))
    (call $put (i32.const 0x11223344))""", imports=["print_utf8", "print_num", "print_hex"],
                                  data=[(65536, b"hello"), (65544, b"\xff\xfe\xfd")])),
           "ext_misc_print_utf8 (valid and invalid UTF-8), print_num, print_hex")
    g.case("hf-print-utf8-oob@validate", "host-functions", "validate",
           g.wat("hf-print-oob", pvf("    (call $print_utf8 (call $fat (i32.const 1114000) (i32.const 1000)))\n    (call $put (i32.const 1))",
                                     imports=["print_utf8"])),
           "ext_misc_print_utf8 with its input past the end of memory")
    g.case("hf-logging@validate", "host-functions", "validate",
           g.wat("hf-logging", pvf("""
    (call $log (i32.const 2) (call $fat (i32.const 65536) (i32.const 7)) (call $fat (i32.const 65544) (i32.const 5)))
    (call $log (i32.const 0) (call $fat (i32.const 65536) (i32.const 7)) (call $fat (i32.const 65552) (i32.const 3)))
    (call $put (call $max_level))""", imports=["log", "max_level"],
                                    data=[(65536, b"runtime"), (65544, b"hello"), (65552, b"\xff\xfe\xfd")])),
           "ext_logging_log (info; error with non-UTF-8 message) and ext_logging_max_level (echoed)")
    g.case("hf-logging-bad-level@validate", "host-functions", "validate",
           g.wat("hf-logging-bad-level", pvf("""
    (call $log (i32.const 9) (call $fat (i32.const 65536) (i32.const 7)) (call $fat (i32.const 65544) (i32.const 5)))
    (call $put (i32.const 1))""", imports=["log"], data=[(65536, b"runtime"), (65544, b"hello")])),
           "ext_logging_log with level 9 (not a log level)")
    g.case("hf-logging-bad-target@validate", "host-functions", "validate",
           g.wat("hf-logging-bad-target", pvf("""
    (call $log (i32.const 2) (call $fat (i32.const 65536) (i32.const 3)) (call $fat (i32.const 65544) (i32.const 5)))
    (call $put (i32.const 1))""", imports=["log"], data=[(65536, b"\xff\xfe\xfd"), (65544, b"hello")])),
           "ext_logging_log with a non-UTF-8 target (&str argument)")
    g.case("hf-trie-roots@validate", "host-functions", "validate",
           g.wat("hf-trie-roots", pvf("""
    (local $r i32)
    (local.set $r (call $ordered_root_v2 (call $fat (i32.const 65536) (i32.const 6)) (i32.const 0)))
    (call $put (local.get $r)) (call $putb (local.get $r) (i32.const 32))
    (local.set $r (call $ordered_root_v2 (call $fat (i32.const 65536) (i32.const 6)) (i32.const 1)))
    (call $putb (local.get $r) (i32.const 32))
    (local.set $r (call $ordered_root_v1 (call $fat (i32.const 65536) (i32.const 6))))
    (call $putb (local.get $r) (i32.const 32))
    (local.set $r (call $ordered_root_v2 (call $fat (i32.const 65544) (i32.const 1)) (i32.const 1)))
    (call $putb (local.get $r) (i32.const 32))
    (local.set $r (call $trie_root_v2 (call $fat (i32.const 65552) (i32.const 5)) (i32.const 1)))
    (call $putb (local.get $r) (i32.const 32))
    (local.set $r (call $ordered_root_v2 (call $fat (i32.const 65600) (i32.const 36)) (i32.const 1)))
    (call $putb (local.get $r) (i32.const 32))""", imports=["ordered_root_v1", "ordered_root_v2", "trie_root_v2"],
                                       data=[(65536, bytes.fromhex("080461086263")), (65544, b"\x00"),
                                             (65552, bytes.fromhex("04046b0476")),
                                             (65600, bytes.fromhex("04") + b"\x88" + bytes(range(34)))])),
           "blake2_256 ordered trie root of [a, bc] (V0, V1, v1 fn), of [], key-value root V1, a 34-byte value (hashed node in V1)")
    g.case("hf-trie-bad-input@validate", "host-functions", "validate",
           g.wat("hf-trie-bad-input", pvf("""
    (call $put (call $ordered_root_v2 (call $fat (i32.const 65536) (i32.const 3)) (i32.const 1)))""",
                                           imports=["ordered_root_v2"], data=[(65536, bytes.fromhex("080461"))])),
           "ordered root of a truncated SCALE Vec<Vec<u8>>")
    g.case("hf-trie-bad-version@validate", "host-functions", "validate",
           g.wat("hf-trie-bad-version", pvf("""
    (call $put (call $ordered_root_v2 (call $fat (i32.const 65536) (i32.const 6)) (i32.const 7)))""",
                                             imports=["ordered_root_v2"], data=[(65536, bytes.fromhex("080461086263"))])),
           "ordered root with state version 7")
    g.case("hf-storage-get@validate", "host-functions", "validate",
           g.wat("hf-storage-get", pvf("    (call $put64 (call $storage_get (call $fat (i32.const 65536) (i32.const 5))))",
                                       imports=["storage_get"], data=[(65536, b":code")])),
           "ext_storage_get_version_1 called (storage is not part of the PVF host functions)")
    g.case("hf-storage-root@validate", "host-functions", "validate",
           g.wat("hf-storage-root", pvf("    (call $put64 (call $storage_root (i32.const 1)))", imports=["storage_root"])),
           "ext_storage_root_version_2 called")
    g.case("hf-sr25519-generate@validate", "host-functions", "validate",
           g.wat("hf-sr25519-generate", pvf("    (call $put (call $sr25519_generate (i32.const 65536) (call $fat (i32.const 65540) (i32.const 1))))",
                                            imports=["sr25519_generate"], data=[(65536, b"test\x00")])),
           "ext_crypto_sr25519_generate_version_1 (needs a keystore; a PVF has none)")
    g.case("hf-sr25519-public-keys@validate", "host-functions", "validate",
           g.wat("hf-sr25519-public-keys", pvf("    (call $putfat (call $sr25519_public_keys (i32.const 65536)))",
                                               imports=["sr25519_public_keys"], data=[(65536, b"test")])),
           "ext_crypto_sr25519_public_keys_version_1 (keystore)")
    g.case("hf-runtime-version@validate", "host-functions", "validate",
           g.wat("hf-runtime-version", pvf("""
    (call $putfat (call $runtime_version (call $fat (i32.const 65536) (i32.const 8))))
    (call $putfat (call $runtime_version (call $fat (i32.const 65544) (i32.const 8))))""",
                                           imports=["runtime_version"],
                                           data=[(65536, b"notawasm"), (65544, bytes.fromhex("0061736d01000000"))])),
           "ext_misc_runtime_version of garbage and of an empty module")
    g.case("hf-malloc-from-host-after-guest-malloc@validate", "host-functions", "validate",
           g.wat("hf-alloc-interleave", pvf("""
    (local $a i32) (local $r i32)
    (local.set $a (call $malloc (i32.const 40)))
    (call $put (local.get $a))
    (local.set $r (call $blake2_256 (call $fat (i32.const 65536) (i32.const 3))))
    (call $put (local.get $r))
    (call $free (local.get $r))
    (call $free (local.get $a))
    (call $put (call $malloc (i32.const 32)))
    (call $put (call $malloc (i32.const 33)))""", imports=["malloc", "free", "blake2_256"], data=abc)),
           "host-allocated hash output shares the allocator with guest mallocs; free and reuse by order")

    # ---------------------------------------------------------------- more host functions
    msg_e, z_e, sig_lo, sig_hi, pk_c, pk_u = secp256k1_vectors()
    sig_lo27 = sig_lo[:64] + bytes([sig_lo[64] + 27])
    secp_data = [(65536, sig_lo), (65608, sig_hi), (65680, sig_lo27), (65752, z_e), (65784, pk_c), (65824, msg_e)]
    fm = f"(call $fat (i32.const 65824) (i32.const {len(msg_e)}))"
    g.case("hf-secp256k1-valid@validate", "host-functions", "validate",
           g.wat("hf-secp256k1-valid", pvf(f"""
    (call $putfat (call $secp_recover_v2 (i32.const 65536) (i32.const 65752)))
    (call $putfat (call $secp_recover_v2 (i32.const 65608) (i32.const 65752)))
    (call $putfat (call $secp_recover_v2 (i32.const 65680) (i32.const 65752)))
    (call $put (call $ecdsa_verify_v2 (i32.const 65536) {fm} (i32.const 65784)))
    (call $put (call $ecdsa_verify_v2 (i32.const 65608) {fm} (i32.const 65784)))
    (call $put (call $ecdsa_verify_v2 (i32.const 65680) {fm} (i32.const 65784)))
    (call $put (call $ecdsa_verify_v1 (i32.const 65536) {fm} (i32.const 65784)))
    (call $put (call $ecdsa_verify_v1 (i32.const 65608) {fm} (i32.const 65784)))""",
                                            imports=["secp_recover_v2", "ecdsa_verify_v1", "ecdsa_verify_v2"], data=secp_data)),
           "secp256k1_ecdsa_recover v2 of a valid low-s signature, its high-s twin and v + 27; ecdsa_verify v1/v2 of the same")
    ed_msg = b"zip215"
    zip_data = [(65536, ED_IDENTITY + bytes(32)), (65600, ED_IDENTITY_NONCANONICAL + bytes(32)),
                (65664, ED_IDENTITY + ED_L), (65728, ED_IDENTITY), (65760, ED_ORDER2),
                (65792, ED_IDENTITY_NONCANONICAL), (65824, ed_msg)]
    fz = f"(call $fat (i32.const 65824) (i32.const {len(ed_msg)}))"
    g.case("hf-ed25519-zip215@validate", "host-functions", "validate",
           g.wat("hf-ed25519-zip215", pvf(f"""
    (call $put (call $ed25519_verify (i32.const 65536) {fz} (i32.const 65728)))
    (call $put (call $ed25519_verify (i32.const 65600) {fz} (i32.const 65728)))
    (call $put (call $ed25519_verify (i32.const 65536) {fz} (i32.const 65760)))
    (call $put (call $ed25519_verify (i32.const 65536) {fz} (i32.const 65792)))
    (call $put (call $ed25519_verify (i32.const 65664) {fz} (i32.const 65728)))""",
                                            imports=["ed25519_verify"], data=zip_data)),
           "ed25519_verify edge cases (ZIP-215 vs strict RFC 8032): identity key with R = identity, S = 0; "
           "non-canonical R; order-2 key; non-canonical key; S = L")
    g.case("hf-batch-verify@validate", "host-functions", "validate",
           g.wat("hf-batch-verify", pvf(f"""
    (call $start_batch)
    (call $put (call $ed25519_batch_verify (i32.const 65536) {fatmsg} (i32.const 65664)))
    (call $put (call $ed25519_batch_verify (i32.const 65600) {fatmsg} (i32.const 65664)))
    (call $put (call $finish_batch))""", imports=["start_batch", "finish_batch", "ed25519_batch_verify"], data=ed_data)),
           "deprecated batch verification (register_only host functions): start, ed25519 good + bad, finish")
    g.case("hf-batch-verify-sr25519@validate", "host-functions", "validate",
           g.wat("hf-batch-verify-sr25519", pvf(f"""
    (call $start_batch)
    (call $put (call $sr25519_batch_verify (i32.const 65728) {fatmsg} (i32.const 65792)))
    (call $put (call $finish_batch))""", imports=["start_batch", "finish_batch", "sr25519_batch_verify"], data=ed_data)),
           "deprecated batch verification with sr25519: start, a bad signature, finish")
    g.case("hf-finish-batch-without-start@validate", "host-functions", "validate",
           g.wat("hf-finish-batch-without-start", pvf("    (call $put (call $finish_batch))", imports=["finish_batch"])),
           "finish_batch_verify without start_batch_verify")
    g.case("hf-trie-verify-proof@validate", "host-functions", "validate",
           g.wat("hf-trie-verify-proof", pvf("""
    (call $put (call $verify_proof_v2 (i32.const 65536) (call $fat (i32.const 65600) (i32.const 1))
                     (call $fat (i32.const 65610) (i32.const 1)) (call $fat (i32.const 65620) (i32.const 1)) (i32.const 1)))""",
                                              imports=["verify_proof_v2"],
                                              data=[(65536, bytes(32)), (65600, b"\x00"), (65610, b"a"), (65620, b"b")])),
           "blake2_256_verify_proof v2 with an empty proof")
    g.case("hf-hash-1mib@validate", "host-functions", "validate",
           g.wat("hf-hash-1mib", pvf("""
    (local $r i32)
    (local.set $r (call $blake2_256 (call $fat (i32.const 0) (i32.const 1048576))))
    (call $put (local.get $r))
    (call $putb (local.get $r) (i32.const 32))
    (local.set $r (call $twox_64 (call $fat (i32.const 0) (i32.const 1048576))))
    (call $putb (local.get $r) (i32.const 8))""", imports=["blake2_256", "twox_64"])),
           "blake2_256 and twox_64 of the first MiB of memory (helpers' scratch, data and params)")

    # ---------------------------------------------------------------- more ABI / memory
    g.both("abi-memory-imported-and-exported", "abi",
           g.wat("memory-imported-and-exported", pvf(ECHO_BODY, mem='(import "env" "memory" (memory 17))\n  (export "memory" (memory 0))')),
           "env.memory imported and also exported as `memory` (the reference adds a second `memory` export)")
    g.case("abi-memory-import-with-max@validate", "abi", "validate",
           g.wat("memory-import-with-max", pvf("    (call $put (memory.grow (i32.const 100)))\n    (call $put (memory.size))",
                                               mem='(import "env" "memory" (memory 17 20))')),
           "env.memory imported with max 20; grow(100)")
    g.case("abi-memory-zero-pages@validate", "abi", "validate",
           g.wat("memory-zero-pages", """(module
  (memory (export "memory") 0)
  (global (export "__heap_base") i32 (i32.const 0))
  (func (export "validate_block") (param $p i32) (param $l i32) (result i64) (local $o i32)
    ;; result right after the params: head = [p, memory.size] (8 bytes)
    (local.set $o (i32.add (local.get $p) (local.get $l)))
    (i32.store8 (local.get $o) (i32.const 32))
    (i32.store offset=1 (local.get $o) (local.get $p))
    (i32.store offset=5 (local.get $o) (memory.size))
    (i64.store offset=9 (local.get $o) (i64.const 0))
    (i32.store16 offset=17 (local.get $o) (i32.const 0))
    (i32.store8 offset=19 (local.get $o) (i32.const 0))
    (i64.or (i64.shl (i64.const 20) (i64.const 32)) (i64.extend_i32_u (local.get $o)))))
"""),
           "memory of 0 pages, __heap_base 0: the host's allocator must grow memory for the params")
    g.case("abi-heap-base-beyond-memory@validate", "abi", "validate",
           g.wat("heap-base-beyond-memory", pvf("    (call $put (local.get $p))\n    (call $put (memory.size))",
                                                heap_base='(global (export "__heap_base") i32 (i32.const 1114212))')),
           "__heap_base 100 bytes past the initial memory (17 pages)")
    g.case("abi-heap-base-near-4gib@validate", "abi", "validate",
           g.wat("heap-base-near-4gib", pvf("    (call $put (local.get $p))",
                                            heap_base='(global (export "__heap_base") i32 (i32.const -16))')),
           "__heap_base 0xfffffff0: no room for the params")
    g.both("code-malformed-name-section", "code",
           g.blob("malformed-name-section.wasm", g.wasm_bytes(echo) + b"\x00\x08\x04name\x01\xff\xff"),
           "echo module with a malformed `name` custom section appended")
    g.both("code-datacount-section", "code",
           g.blob("datacount-section.wasm", with_datacount(g.wasm_bytes(g.wat("echo-with-data", pvf(ECHO_BODY, data=[(65536, b"x")]))))),
           "echo module (MVP code) with a DataCount section (id 12, from bulk memory) inserted before its code section")
    g.both("feature-two-tables", "features",
           g.wat("two-tables", pvf(ECHO_BODY, extra="  (table 1 funcref)\n  (table 1 funcref)"), features=("reference-types", "bulk-memory")),
           "two tables (reference types)")
    g.both("feature-two-memories", "features",
           g.wat("two-memories", pvf(ECHO_BODY, mem=MEM_EXPORT + "\n  (memory 1)"), features=("multi-memory",)),
           "two memories (multi-memory)")

    # ---------------------------------------------------------------- more stack
    stack2 = g.wat("stack-dead-code", pvf("""
    (local $n i32)
    (local.set $n (i32.load offset=2 (local.get $p)))
    (call $put (local.get $n))
    (call $put (call $rec (local.get $n)))""", extra="""
  (func $rec (param $n i32) (result i32) (local $a i32) (local $b i32) (local $c i32)
    ;; 40 values pushed in unreachable code: the stack limiter does not count them
    (block $b (br $b) """ + "(i32.const 1) " * 40 + "(drop) " * 40 + """)
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.const 0))
      (else (i32.add (call $rec (i32.sub (local.get $n) (i32.const 1))) (i32.const 1)))))"""))
    g.case("stack-dead-code-at-limit@validate", "stack", "validate", stack2,
           f"same recursion with 40 values pushed in dead code: depth {STACK_N_MAX} still fits",
           parent_head="0x", block_data=n_block(STACK_N_MAX))
    g.case("stack-dead-code-over-limit@validate", "stack", "validate", stack2,
           f"same, depth {STACK_N_MAX + 1}", parent_head="0x", block_data=n_block(STACK_N_MAX + 1))
    stack3 = g.wat("stack-params", pvf("""
    (local $n i32)
    (local.set $n (i32.load offset=2 (local.get $p)))
    (call $put (local.get $n))
    (call $put (call $rec (local.get $n) """ + "(i32.const 0) " * 30 + """))""", extra="""
  (func $rec (param $n i32) """ + "(param i32) " * 30 + """(result i32) (local $a i32) (local $b i32) (local $c i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.const 0))
      (else (i32.add (call $rec (i32.sub (local.get $n) (i32.const 1)) """ + "(i32.const 0) " * 30 + """) (i32.const 1)))))"""))
    # $rec costs 3 locals + 34 (2 + 30 argument pushes + 2), validate_block 1 + 33: N <= 1769
    g.case("stack-many-params-at-limit@validate", "stack", "validate", stack3,
           "recursion with 31 params (params are not counted as locals; the 30 argument pushes are): depth 1769 fits",
           parent_head="0x", block_data=n_block(1769))
    g.case("stack-many-params-over-limit@validate", "stack", "validate", stack3,
           "same, depth 1770", parent_head="0x", block_data=n_block(1770))
    stack4 = g.wat("stack-indirect", pvf("""
    (local $n i32)
    (local.set $n (i32.load offset=2 (local.get $p)))
    (call $put (local.get $n))
    (call $put (call_indirect (type $rt) (local.get $n) (i32.const 0)))""", extra="""
  (type $rt (func (param i32) (result i32)))
  (table 1 funcref)
  (elem (i32.const 0) $rec)
  (func $rec (param $n i32) (result i32) (local $a i32) (local $b i32) (local $c i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.const 0))
      (else (i32.add (call_indirect (type $rt) (i32.sub (local.get $n) (i32.const 1)) (i32.const 0)) (i32.const 1)))))"""))
    g.case("stack-indirect-at-limit@validate", "stack", "validate", stack4,
           "recursion through call_indirect (the table holds a thunk that adds the callee's cost): depth 8190",
           parent_head="0x", block_data=n_block(8190))
    g.case("stack-indirect-over-limit@validate", "stack", "validate", stack4,
           "recursion through call_indirect: depth 8191", parent_head="0x", block_data=n_block(8191))
    g.case("stack-duplicate-logical-max@validate", "stack", "validate", stack,
           f"[StackLogicalMax(1000), StackLogicalMax(65536)] (duplicates are rejected on chain by check_consistency): depth {STACK_N_MAX}",
           parent_head="0x", block_data=n_block(STACK_N_MAX),
           params=executor_params(ep_stack_logical_max(1000), ep_stack_logical_max(65536)))

    # ---------------------------------------------------------------- more executor params
    g.case("heap-duplicate-max-memory-pages@validate", "memory", "validate", grow_steps,
           "[MaxMemoryPages(100), MaxMemoryPages(200)] (duplicates are rejected on chain)",
           params=executor_params(ep_max_memory_pages(100), ep_max_memory_pages(200)))
    g.case("heap-max-memory-pages-u32-max@validate", "memory", "validate",
           g.wat("grow-past-default", pvf("""
    (call $put (memory.grow (i32.const 2100)))
    (call $put (memory.size))""")),
           "MaxMemoryPages(u32::MAX): the ceiling saturates; grow to 2117 pages",
           params=executor_params(ep_max_memory_pages(0xFFFFFFFF)))
    busy = g.wat("busy-loop", pvf("""
    (local $n i32) (local $acc i32)
    (local.set $n (i32.load offset=2 (local.get $p)))
    (block $d (loop $next
      (br_if $d (i32.eqz (local.get $n)))
      (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 31)) (local.get $n)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $next)))
    (call $put (local.get $acc))"""))
    g.case("timeout-busy-1s-under-10s@validate", "timeouts", "validate", busy,
           "~1 s of work (10^9 loop iterations on this machine) with --timeout-ms 10000",
           parent_head="0x", block_data=n_block(10**9), exec_kind="backing", timeout_ms=10000)
    g.case("timeout-duplicate-exec-timeout@validate", "timeouts", "validate", busy,
           "~1 s of work; [PvfExecTimeout(Backing, 300 ms), PvfExecTimeout(Backing, 10 s)]: which one applies",
           parent_head="0x", block_data=n_block(10**9), exec_kind="backing",
           params=executor_params(ep_exec_timeout(0, 300), ep_exec_timeout(0, 10000)))
    g.case("timeout-approval-param-at-backing@validate", "timeouts", "validate", busy,
           "~1 s of work at backing with only PvfExecTimeout(Approval, 300 ms): backing keeps its 2 s default",
           parent_head="0x", block_data=n_block(10**9), exec_kind="backing",
           params=executor_params(ep_exec_timeout(1, 300)))
    g.both("timeout-start-function-loops", "timeouts",
           g.wat("start-loops", pvf(ECHO_BODY, extra="  (func $start (loop $l (br $l)))\n  (start $start)")),
           "start function never returns (precheck does not instantiate)", timeout_ms=1000)

    # ---------------------------------------------------------------- engine-version limits
    def code_section_module(body: bytes) -> bytes:
        """A module whose only function (type () -> ()) has `body` (locals vector included) and is
        not exported: enough for a precheck of wasmparser's limits."""
        def leb(n):
            out = bytearray()
            while True:
                b = n & 0x7F
                n >>= 7
                out.append(b | (0x80 if n else 0))
                if not n:
                    return bytes(out)
        sec = lambda sid, payload: bytes([sid]) + leb(len(payload)) + payload
        fbody = leb(len(body)) + body
        return (b"\x00asm\x01\x00\x00\x00" + sec(1, b"\x01\x60\x00\x00") + sec(3, b"\x01\x00")
                + sec(5, b"\x01\x00\x11") + sec(7, b"\x01\x06memory\x02\x00") + sec(10, b"\x01" + fbody))

    def br_table_body(targets):
        def leb(n):
            out = bytearray()
            while True:
                b = n & 0x7F
                n >>= 7
                out.append(b | (0x80 if n else 0))
                if not n:
                    return bytes(out)
        # (block (i32.const 0) (br_table 0 0 ... 0)) end
        return b"\x00" + b"\x02\x40" + b"\x41\x00" + b"\x0e" + leb(targets) + b"\x00" * (targets + 1) + b"\x0b\x0b"

    g.case("limits-br-table-65520@precheck", "limits", "precheck",
           g.blob("br-table-65520.wasm.zst", maybe_compressed(code_section_module(br_table_body(65520)))),
           "br_table with 65 520 targets (Cranelift's implementation limit)")
    g.case("limits-br-table-65521@precheck", "limits", "precheck",
           g.blob("br-table-65521.wasm.zst", maybe_compressed(code_section_module(br_table_body(65521)))),
           "br_table with 65 521 targets")
    g.case("limits-br-table-131072@precheck", "limits", "precheck",
           g.blob("br-table-131072.wasm.zst", maybe_compressed(code_section_module(br_table_body(131072)))),
           "br_table with 131 072 targets (wasmparser 0.236's limit, 128 Ki)")
    g.case("limits-br-table-131073@precheck", "limits", "precheck",
           g.blob("br-table-131073.wasm.zst", maybe_compressed(code_section_module(br_table_body(131073)))),
           "br_table with 131 073 targets: over wasmparser 0.236's limit, under 0.254's (7 654 321)")
    g.case("limits-function-7654322-bytes@precheck", "limits", "precheck",
           g.blob("function-7654322-bytes.wasm.zst", maybe_compressed(code_section_module(b"\x00" + b"\x01" * 7654320 + b"\x0b"))),
           "one function body of 7 654 322 bytes (nops): wasmparser >= 0.254 limits bodies to 7 654 321, 0.236 does not")
    g.case("limits-function-7654321-bytes@precheck", "limits", "precheck",
           g.blob("function-7654321-bytes.wasm.zst", maybe_compressed(code_section_module(b"\x00" + b"\x01" * 7654319 + b"\x0b"))),
           "one function body of exactly 7 654 321 bytes (nops)")
    g.case("limits-50000-locals@precheck", "limits", "precheck",
           g.blob("locals-50000.wasm", code_section_module(b"\x01\xd0\x86\x03\x7f\x0b")),
           "a function with 50 000 i32 locals (wasmparser's limit)")
    g.case("limits-50001-locals@precheck", "limits", "precheck",
           g.blob("locals-50001.wasm", code_section_module(b"\x01\xd1\x86\x03\x7f\x0b")),
           "a function with 50 001 i32 locals")

    # ---------------------------------------------------------------- more features
    for name, feats, text in [
        ("extended-const", ("extended-const",), pvf(ECHO_BODY, extra="  (global $g i32 (i32.add (i32.const 1) (i32.const 2)))")),
        ("tail-call", ("tail-call",), pvf("    (call $put (call $tc))", extra="  (func $tc (result i32) (return_call $one))\n  (func $one (result i32) (i32.const 1))")),
        ("shared-memory", ("threads",), pvf(ECHO_BODY, mem='(memory (export "memory") 17 100 shared)')),
        ("externref-table", ("reference-types", "bulk-memory"), pvf(ECHO_BODY, extra="  (table 1 externref)")),
        ("memory64", ("memory64",), '(module (memory (export "memory") i64 17)\n'
         '  (global (export "__heap_base") i32 (i32.const 131072))\n'
         '  (func (export "validate_block") (param i32 i32) (result i64) (i64.const 0)))\n'),
    ]:
        code = g.wat("feature-" + name, text, features=feats)
        g.case(f"feature-{name}@precheck", "features", "precheck", code, f"{name}")

    # ---------------------------------------------------------------- ECC host functions (RFC 163)
    ecc = g.wat("hf-ecc-bls12-381", pvf("""
    (call $put (call $bls_mul_g1 (call $fat (i32.const 65536) (i32.const 1)) (call $fat (i32.const 65540) (i32.const 1))
                                 (call $fat (i32.const 70000) (i32.const 100))))""", imports=["bls_mul_g1"],
                                 data=[(65536, b"\x00"), (65540, b"\x00")]))
    g.case("hf-ecc-without-param@validate", "host-functions", "validate", ecc,
           "ext_host_calls_bls12_381_mul_g1_version_1 with garbage input, no EnabledHostFunction param (not linked)")
    g.case("hf-ecc-with-param@validate", "host-functions", "validate", ecc,
           "same with [EnabledHostFunction(EccRfc163)]: linked; garbage input gives the Decode error code",
           params=executor_params(b"\x08\x01"))
    g.both("hf-ecc-declared-only", "host-functions",
           g.wat("hf-ecc-declared", pvf(ECHO_BODY, imports=["bls_mul_g1"])),
           "ECC host function imported, never called, default params")

    # ---------------------------------------------------------------- runtime_version of a blob
    def custom(name: bytes, payload: bytes) -> bytes:
        body = bytes([len(name)]) + name + payload
        assert len(body) < 128
        return b"\x00" + bytes([len(body)]) + body
    mini_version = bytes.fromhex("10" + b"mini".hex() + "10" + b"impl".hex() + "01000000" "02000000" "03000000" "00")
    mini = b"\x00asm\x01\x00\x00\x00" + custom(b"runtime_version", mini_version)
    mini_c = maybe_compressed(mini)
    g.case("hf-runtime-version-of-blob@validate", "host-functions", "validate",
           g.wat("hf-runtime-version-blob", pvf(f"""
    (call $putfat (call $runtime_version (call $fat (i32.const 65536) (i32.const {len(mini)}))))
    (call $putfat (call $runtime_version (call $fat (i32.const 65792) (i32.const {len(mini_c)}))))""",
                                                imports=["runtime_version"], data=[(65536, mini), (65792, mini_c)])),
           "ext_misc_runtime_version of a module with a `runtime_version` custom section, plain and compressed")

    # ---------------------------------------------------------------- timeouts
    loop = g.wat("loop-forever", pvf("    (loop $l (br $l))"))
    g.case("timeout-loop-forever@validate", "timeouts", "validate", loop,
           "never halts; --timeout-ms 1000 at approval", timeout_ms=1000)
    g.case("timeout-loop-forever-backing@validate", "timeouts", "validate", loop,
           "never halts; --timeout-ms 500 at backing", exec_kind="backing", timeout_ms=500)
    g.case("timeout-from-executor-params@validate", "timeouts", "validate", loop,
           "never halts; timeout from PvfExecTimeout(Backing, 500 ms) in the executor params, no --timeout-ms",
           exec_kind="backing", params=executor_params(ep_exec_timeout(0, 500)))

    # ---------------------------------------------------------------- code blobs
    echo_wasm = g.wasm_bytes(echo)
    cecho = g.blob("echo.wasm.zst", maybe_compressed(echo_wasm))
    g.both("code-compressed", "code", cecho, "echo module as an sp-maybe-compressed-blob")
    g.case("code-compressed-at-bomb-limit@precheck", "code", "precheck",
           g.blob("echo-30mib.wasm.zst", compress_zeros_module(echo_wasm, CODE_BOMB_LIMIT)),
           "compressed module that decompresses to exactly 30 MiB (the default bomb limit)")
    g.case("code-compressed-over-bomb-limit@precheck", "code", "precheck",
           g.blob("echo-30mib-plus-1.wasm.zst", compress_zeros_module(echo_wasm, CODE_BOMB_LIMIT + 1)),
           "compressed module that decompresses to 30 MiB + 1 byte")
    g.case("code-compressed-over-bomb-limit@validate", "code", "validate", "corpus/echo-30mib-plus-1.wasm.zst",
           "same, through validate (preparation fails before execution)")
    g.case("code-compressed-small-bomb-limit@precheck", "code", "precheck", cecho,
           f"compressed echo module ({len(echo_wasm)} bytes) with --bomb-limit {len(echo_wasm) - 1}",
           bomb_limit=len(echo_wasm) - 1)
    g.case("code-compressed-exact-small-bomb-limit@precheck", "code", "precheck", cecho,
           f"compressed echo module with --bomb-limit {len(echo_wasm)}", bomb_limit=len(echo_wasm))
    frame = zstd_frame(echo_wasm)
    g.case("code-compressed-corrupt@precheck", "code", "precheck",
           g.blob("corrupt.wasm.zst", MAGIC + bytes((b * 37 + 11) & 0xFF for b in range(200))),
           "magic followed by bytes that are not a zstd frame")
    g.case("code-compressed-truncated@precheck", "code", "precheck",
           g.blob("truncated.wasm.zst", MAGIC + frame[: len(frame) // 2]), "zstd frame cut in half")
    g.case("code-compressed-trailing-garbage@precheck", "code", "precheck",
           g.blob("trailing-garbage.wasm.zst", MAGIC + frame + b"garbage!"), "valid frame followed by 8 junk bytes")
    half = len(echo_wasm) // 2
    g.case("code-compressed-two-frames@precheck", "code", "precheck",
           g.blob("two-frames.wasm.zst", MAGIC + zstd_frame(echo_wasm[:half]) + zstd_frame(echo_wasm[half:])),
           "module split over two concatenated zstd frames")
    g.case("code-compressed-magic-only@precheck", "code", "precheck",
           g.blob("magic-only.wasm.zst", MAGIC), "just the 8-byte magic")
    g.case("code-compressed-not-wasm@precheck", "code", "precheck",
           g.blob("not-wasm.zst", maybe_compressed(b"this is not wasm" * 10)), "compressed bytes that are not Wasm")
    g.case("code-not-wasm@precheck", "code", "precheck", g.blob("not-wasm.bin", b"\x00asn\x01\x00\x00\x00garbage"),
           "bad Wasm magic")
    g.case("code-empty@precheck", "code", "precheck", g.blob("empty.bin", b""), "empty code")
    g.case("code-polkavm-magic@precheck", "code", "precheck", g.blob("polkavm.bin", b"PVM\x00" + bytes(16)),
           "PolkaVM blob magic")
    g.both("code-invalid-wasm", "code",
           g.wat("invalid-function-body", pvf("    (call $put (i64.const 1))"), check=False),
           "well-formed binary, invalid function body (type mismatch)")
    if g.big:
        raw = padded_module(echo_wasm, CODE_BOMB_LIMIT + MIB)
        g.blob("echo-31mib.wasm", raw, big=True)
    g.case("code-raw-over-bomb-limit@precheck", "code", "precheck", "corpus/big/echo-31mib.wasm",
           "uncompressed 31 MiB module (the bomb limit applies to decompression only)", needs_big=True)

    # ---------------------------------------------------------------- PoV blobs
    pattern = bytes((i * 7 + 3) & 0xFF for i in range(1000))
    g.case("pov-compressed-small@validate", "pov", "validate", echo,
           "1000-byte block data sent compressed: the PVF sees the decompressed bytes",
           block_data="@" + g.blob("pov-1000.zst", maybe_compressed(pattern)), pov_compressed=True)
    g.case("pov-compressed-31mib@validate", "pov", "validate", echo,
           "block data of 31 MiB (compressed)",
           block_data="@" + g.blob("pov-31mib.zst", maybe_compressed(bytes(31 * MIB))), pov_compressed=True)
    g.case("pov-compressed-33mib@validate", "pov", "validate", echo,
           "block data of 33 MiB (compressed): params exceed the allocator's 32 MiB maximum",
           block_data="@" + g.blob("pov-33mib.zst", maybe_compressed(bytes(33 * MIB))), pov_compressed=True)
    g.case("pov-compressed-at-bomb-limit@validate", "pov", "validate", echo,
           "block data decompressing to exactly 40 MiB",
           block_data="@" + g.blob("pov-40mib.zst", maybe_compressed(bytes(POV_BOMB_LIMIT))), pov_compressed=True)
    g.case("pov-compressed-over-bomb-limit@validate", "pov", "validate", echo,
           "block data decompressing to 40 MiB + 1",
           block_data="@" + g.blob("pov-40mib-plus-1.zst", maybe_compressed(bytes(POV_BOMB_LIMIT + 1))), pov_compressed=True)
    g.case("pov-compressed-corrupt@validate", "pov", "validate", echo,
           "block data: magic then garbage",
           block_data="@" + g.blob("pov-corrupt.zst", MAGIC + b"\x01\x02\x03garbage"), pov_compressed=True)
    g.case("pov-magic-only@validate", "pov", "validate", echo, "block data is just the magic",
           block_data="0x" + MAGIC.hex(), pov_compressed=True)
    g.case("pov-uncompressed-magic-lookalike@validate", "pov", "validate", echo,
           "block data starting with 7 of the 8 magic bytes (not compressed)", block_data="0x" + MAGIC[:7].hex() + "00")

    # ---------------------------------------------------------------- real runtimes
    for rc in ("statemine-genesis-2021", "collectives-polkadot-9290", "passet-hub-1018002"):
        path = os.path.join(REALCHAIN, rc + ".code.bin")
        g.case(f"realchain-{rc}@precheck", "realchain", "precheck", path, f"real runtime {rc} as stored on chain")
    g.case("realchain-statemine-garbage-block@validate", "realchain", "validate",
           os.path.join(REALCHAIN, "statemine-genesis-2021.code.bin"),
           "Cumulus validate_block on a garbage PoV (parent head 0x00, block data 0x00): panics inside the runtime",
           parent_head="0x00", block_data="0x00")


def main():
    big = "--big" in sys.argv
    g = Gen(big=big)
    build(g)
    with open(os.path.join(HERE, "cases.json"), "w") as f:
        json.dump({"cases": g.cases}, f, indent=1)
        f.write("\n")
    with open(os.path.join(BIG, ".gitignore"), "w") as f:
        f.write("*\n!.gitignore\n")
    # remove what an earlier version of this script wrote and this one does not
    for name in os.listdir(CORPUS):
        if os.path.isfile(os.path.join(CORPUS, name)) and name not in g.files:
            os.remove(os.path.join(CORPUS, name))
            print(f"removed stale corpus/{name}", file=sys.stderr)
    print(f"{len(g.cases)} cases", file=sys.stderr)


if __name__ == "__main__":
    main()
