//! PVFs whose work is host calls, for measuring and checking the host functions.

/// Alice's sr25519 public key (a valid Ristretto point, so verification does its full work).
const SR25519_PUBLIC: &str = "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d";
/// Alice's ed25519 public key (a valid Edwards point).
const ED25519_PUBLIC: &str = "88dc3417d5058ec4b4503e0c12ea1a0a89be200fe98922423d4334014fa6b0ee";

/// `validate_block` runs `iterations` rounds of `ext_hashing_blake2_256_version_1` over
/// 1 KiB, `ext_crypto_sr25519_verify_version_2` and `ext_crypto_ed25519_verify_version_1` of a
/// well-formed signature that does not verify (each a full verification), and returns a
/// valid result whose head data is the last hash followed by the number of signatures that
/// verified (a little-endian `u32`, 0).
pub fn call_heavy(iterations: u32) -> Vec<u8> {
    // Signatures: a valid point as R, the scalar 1 as s; sr25519's marker bit set.
    let sr_sig = format!("{SR25519_PUBLIC}01{}80", "00".repeat(30));
    let ed_sig = format!("{ED25519_PUBLIC}01{}", "00".repeat(31));
    let hex = |h: &str| -> String {
        h.as_bytes()
            .chunks(2)
            .map(|c| format!("\\{}", std::str::from_utf8(c).expect("ascii")))
            .collect()
    };
    wat::parse_str(format!(
        r#"(module
          (import "env" "ext_hashing_blake2_256_version_1" (func $blake2 (param i64) (result i32)))
          (import "env" "ext_crypto_sr25519_verify_version_2"
            (func $sr25519 (param i32 i64 i32) (result i32)))
          (import "env" "ext_crypto_ed25519_verify_version_1"
            (func $ed25519 (param i32 i64 i32) (result i32)))
          (import "env" "ext_allocator_free_version_1" (func $free (param i32)))
          (import "env" "memory" (memory 2))
          (global (export "__heap_base") i32 (i32.const 8192))
          (data (i32.const 1024) "{sr_pub}")
          (data (i32.const 1056) "{sr_sig}")
          (data (i32.const 1120) "{ed_pub}")
          (data (i32.const 1152) "{ed_sig}")
          (func (export "validate_block") (param i32 i32) (result i64)
            (local $i i32) (local $hash i32) (local $ok i32)
            (loop $round
              (if (local.get $hash) (then (call $free (local.get $hash))))
              ;; blake2_256 over the 1 KiB at 4096 (fat pointer: len << 32 | ptr).
              (local.set $hash (call $blake2 (i64.const 0x40000001000)))
              ;; Hash into the next round's input.
              (i64.store (i32.const 4096) (i64.load (local.get $hash)))
              (local.set $ok (i32.add (local.get $ok)
                (call $sr25519 (i32.const 1056) (i64.const 0x2000001000) (i32.const 1024))))
              (local.set $ok (i32.add (local.get $ok)
                (call $ed25519 (i32.const 1152) (i64.const 0x2000001000) (i32.const 1120))))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $round (i32.lt_u (local.get $i) (i32.const {iterations}))))
            ;; ValidationResult at 2048, 48 bytes: head of 36 (hash ++ ok), None, [], [], 0, 0.
            (i32.store8 (i32.const 2048) (i32.const 144))
            (i64.store (i32.const 2049) (i64.load (local.get $hash)))
            (i64.store (i32.const 2057) (i64.load offset=8 (local.get $hash)))
            (i64.store (i32.const 2065) (i64.load offset=16 (local.get $hash)))
            (i64.store (i32.const 2073) (i64.load offset=24 (local.get $hash)))
            (i32.store (i32.const 2081) (local.get $ok))
            (i64.store (i32.const 2085) (i64.const 0))
            (i32.store (i32.const 2093) (i32.const 0))
            (i64.const 0x3000000800)))"#,
        sr_pub = hex(SR25519_PUBLIC),
        sr_sig = hex(&sr_sig),
        ed_pub = hex(ED25519_PUBLIC),
        ed_sig = hex(&ed_sig),
    ))
    .expect("call_heavy WAT parses")
}
