(module
  (import "env" "ext_crypto_start_batch_verify_version_1" (func $start_batch ))
  (import "env" "ext_crypto_finish_batch_verify_version_1" (func $finish_batch (result i32)))
  (import "env" "ext_crypto_sr25519_batch_verify_version_1" (func $sr25519_batch_verify (param i32 i64 i32) (result i32)))

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


  (data (i32.const 65536) "\d0\fd\c0\ef\f5\9d\0c\9f\4d\30\cd\98\73\08\3f\1e\0a\d8\00\04\ed\8c\c2\b7\90\1f\a6\50\a1\f0\ec\72\c8\af\e5\d4\85\9d\f8\c5\95\6e\08\6f\91\42\e6\a6\2e\9d\a7\18\2a\9f\26\2c\de\92\75\7b\29\4e\fc\0b")
  (data (i32.const 65600) "\d1\fd\c0\ef\f5\9d\0c\9f\4d\30\cd\98\73\08\3f\1e\0a\d8\00\04\ed\8c\c2\b7\90\1f\a6\50\a1\f0\ec\72\c8\af\e5\d4\85\9d\f8\c5\95\6e\08\6f\91\42\e6\a6\2e\9d\a7\18\2a\9f\26\2c\de\92\75\7b\29\4e\fc\0b")
  (data (i32.const 65664) "\9c\c4\75\1e\3d\33\74\91\13\8e\26\15\5b\da\1f\3f\fc\0b\2a\ab\f6\68\e1\72\e3\35\ad\dd\7c\5d\ad\b8")
  (data (i32.const 65696) "\64\69\66\66\65\72\65\6e\74\69\61\6c\20\6f\72\61\63\6c\65")
  (data (i32.const 65728) "\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00")
  (data (i32.const 65792) "\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00")
  (data (i32.const 65824) "\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00")
  (data (i32.const 65890) "\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00")
  (data (i32.const 65923) "\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\05")
  (data (i32.const 65988) "\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00")
  (func (export "validate_block") (param $p i32) (param $l i32) (result i64) 

    (call $start_batch)
    (call $put (call $sr25519_batch_verify (i32.const 65728) (call $fat (i32.const 65696) (i32.const 19)) (i32.const 65792)))
    (call $put (call $finish_batch))
    (call $finish))
)
