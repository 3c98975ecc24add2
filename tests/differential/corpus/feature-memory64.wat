(module (memory (export "memory") i64 17)
  (global (export "__heap_base") i32 (i32.const 131072))
  (func (export "validate_block") (param i32 i32) (result i64) (i64.const 0)))
