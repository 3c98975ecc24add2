(module
  (import "env" "ext_crypto_secp256k1_ecdsa_recover_version_2" (func $secp_recover_v2 (param i32 i32) (result i64)))
  (import "env" "ext_crypto_ecdsa_verify_version_1" (func $ecdsa_verify_v1 (param i32 i64 i32) (result i32)))
  (import "env" "ext_crypto_ecdsa_verify_version_2" (func $ecdsa_verify_v2 (param i32 i64 i32) (result i32)))

  (import "env" "memory" (memory 17))
  (global (export "__heap_base") i32 (i32.const 131072))

  (global $hlen (mut i32) (i32.const 0))
  (global $hrmp (mut i32) (i32.const 0))
  ;; append an i32 (LE) to the head
  (func $put (param $v i32)
    (i32.store (i32.add (i32.const 1024) (global.get $hlen)) (local.get $v))
    (global.set $hlen (i32.add (global.get $hlen) (i32.const 4))))
  ;; append an i64 (LE) to the head
  (func $put64 (param $v i64)
    (i64.store (i32.add (i32.const 1024) (global.get $hlen)) (local.get $v))
    (global.set $hlen (i32.add (global.get $hlen) (i32.const 8))))
  ;; append len bytes at ptr to the head
  (func $putb (param $ptr i32) (param $len i32) (local $i i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
      (i32.store8 (i32.add (i32.add (i32.const 1024) (global.get $hlen)) (local.get $i))
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
  ;; write ValidationResult { head_data: HEAD[..hlen], new_validation_code: None, upward: [],
  ;; horizontal: [], processed_downward_messages: 0, hrmp_watermark: $hrmp } at OUT
  (func $finish (result i64) (local $o i32) (local $i i32)
    (local.set $o (i32.const 16384))
    (if (i32.lt_u (global.get $hlen) (i32.const 64))
      (then (i32.store8 (local.get $o) (i32.shl (global.get $hlen) (i32.const 2)))
            (local.set $o (i32.add (local.get $o) (i32.const 1))))
      (else (i32.store16 (local.get $o) (i32.or (i32.shl (global.get $hlen) (i32.const 2)) (i32.const 1)))
            (local.set $o (i32.add (local.get $o) (i32.const 2)))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (global.get $hlen)))
      (i32.store8 (i32.add (local.get $o) (local.get $i)) (i32.load8_u (i32.add (i32.const 1024) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (local.set $o (i32.add (local.get $o) (global.get $hlen)))
    (i32.store8 (local.get $o) (i32.const 0))
    (i32.store8 offset=1 (local.get $o) (i32.const 0))
    (i32.store8 offset=2 (local.get $o) (i32.const 0))
    (i32.store offset=3 (local.get $o) (i32.const 0))
    (i32.store offset=7 (local.get $o) (global.get $hrmp))
    (local.set $o (i32.add (local.get $o) (i32.const 11)))
    (call $fat (i32.const 16384) (i32.sub (local.get $o) (i32.const 16384))))


  (data (i32.const 65536) "\c2\f9\fe\a6\29\de\56\8c\1d\2a\d0\98\86\d5\0d\62\e9\26\62\10\a5\93\23\d3\e9\bd\30\f4\91\df\83\1f\59\12\06\15\69\e5\7a\cb\5e\c4\c6\ac\29\50\40\5a\74\37\56\73\ec\a3\1d\35\1b\46\2f\33\e7\ed\0c\14\01")
  (data (i32.const 65608) "\c2\f9\fe\a6\29\de\56\8c\1d\2a\d0\98\86\d5\0d\62\e9\26\62\10\a5\93\23\d3\e9\bd\30\f4\91\df\83\1f\a6\ed\f9\ea\96\1a\85\34\a1\3b\39\53\d6\af\bf\a4\46\77\86\72\c2\a5\83\06\a4\8c\2f\58\e8\49\35\2d\00")
  (data (i32.const 65680) "\c2\f9\fe\a6\29\de\56\8c\1d\2a\d0\98\86\d5\0d\62\e9\26\62\10\a5\93\23\d3\e9\bd\30\f4\91\df\83\1f\59\12\06\15\69\e5\7a\cb\5e\c4\c6\ac\29\50\40\5a\74\37\56\73\ec\a3\1d\35\1b\46\2f\33\e7\ed\0c\14\1c")
  (data (i32.const 65752) "\72\cf\19\09\3d\f9\6f\bb\27\32\5a\6e\88\2b\d2\eb\54\4d\84\2d\1a\a3\c0\32\11\91\da\1c\7d\3d\1d\69")
  (data (i32.const 65784) "\03\9c\42\bb\d7\5f\b9\21\11\cb\d8\84\05\34\ce\0f\83\db\3d\ca\bf\29\0a\7f\df\79\cc\1e\17\a9\2e\67\ca")
  (data (i32.const 65824) "\64\69\66\66\65\72\65\6e\74\69\61\6c\20\6f\72\61\63\6c\65")
  (func (export "validate_block") (param $p i32) (param $l i32) (result i64) 

    (call $putfat (call $secp_recover_v2 (i32.const 65536) (i32.const 65752)))
    (call $putfat (call $secp_recover_v2 (i32.const 65608) (i32.const 65752)))
    (call $putfat (call $secp_recover_v2 (i32.const 65680) (i32.const 65752)))
    (call $put (call $ecdsa_verify_v2 (i32.const 65536) (call $fat (i32.const 65824) (i32.const 19)) (i32.const 65784)))
    (call $put (call $ecdsa_verify_v2 (i32.const 65608) (call $fat (i32.const 65824) (i32.const 19)) (i32.const 65784)))
    (call $put (call $ecdsa_verify_v2 (i32.const 65680) (call $fat (i32.const 65824) (i32.const 19)) (i32.const 65784)))
    (call $put (call $ecdsa_verify_v1 (i32.const 65536) (call $fat (i32.const 65824) (i32.const 19)) (i32.const 65784)))
    (call $put (call $ecdsa_verify_v1 (i32.const 65608) (call $fat (i32.const 65824) (i32.const 19)) (i32.const 65784)))
    (call $finish))
)
