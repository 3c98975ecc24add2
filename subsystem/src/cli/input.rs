//! Reading the command line's inputs: code files and `HEX|@FILE` byte arguments.

use parity_scale_codec::DecodeAll;
use pvf_messages::{ExecutorParams, Hash};
use std::path::Path;

/// Reads a code file, with its name in the error.
pub fn read_code(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read --code {}: {e}", path.display()))
}

/// Parses `HEX` (optionally `0x`-prefixed) or `@FILE` (raw bytes) for the flag `flag`.
pub fn parse_bytes(flag: &str, value: &str) -> Result<Vec<u8>, String> {
    if let Some(path) = value.strip_prefix('@') {
        return std::fs::read(path).map_err(|e| format!("cannot read {flag} file {path}: {e}"));
    }
    let hex_str = value.strip_prefix("0x").unwrap_or(value);
    hex::decode(hex_str).map_err(|e| {
        format!("{flag} {value:?} is neither hex nor @FILE: {e} (example: {flag} 0x0102 or {flag} @block.bin)")
    })
}

/// Parses `--executor-params`: the SCALE encoding of `ExecutorParams`, as the relay chain's
/// runtime API returns it (`0x00`: none), in hex or @FILE.
pub fn parse_executor_params(value: &str) -> Result<ExecutorParams, String> {
    let bytes = parse_bytes("--executor-params", value)?;
    ExecutorParams::decode_all(&mut &bytes[..]).map_err(|e| {
        format!("--executor-params {value:?} is not a SCALE-encoded ExecutorParams: {e} (example: 0x00 for none, 0x0407 for WasmExtBulkMemory)")
    })
}

/// Parses `--relay-parent-storage-root`: 32 bytes, in hex or @FILE.
pub fn parse_hash(flag: &str, value: &str) -> Result<Hash, String> {
    let bytes = parse_bytes(flag, value)?;
    let array: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| format!("{flag} must be 32 bytes, got {}", bytes.len()))?;
    Ok(Hash(array))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_files() {
        assert_eq!(parse_bytes("--x", "0x0aff").unwrap(), vec![10, 255]);
        assert_eq!(parse_bytes("--x", "0aff").unwrap(), vec![10, 255]);
        assert_eq!(parse_bytes("--x", "").unwrap(), Vec::<u8>::new());
        let err = parse_bytes("--block-data", "xyz").unwrap_err();
        assert!(
            err.contains("--block-data") && err.contains("@FILE"),
            "{err}"
        );
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), [1, 2, 3]).unwrap();
        let arg = format!("@{}", f.path().display());
        assert_eq!(parse_bytes("--x", &arg).unwrap(), vec![1, 2, 3]);
        assert!(
            parse_bytes("--x", "@/nonexistent/file")
                .unwrap_err()
                .contains("/nonexistent/file")
        );
    }

    #[test]
    fn executor_params_and_hashes() {
        assert_eq!(
            parse_executor_params("0x00").unwrap(),
            ExecutorParams::new()
        );
        assert!(parse_executor_params("0x0407").unwrap().wasm_bulk_memory());
        let err = parse_executor_params("0x0409").unwrap_err();
        assert!(err.contains("ExecutorParams"), "{err}");
        assert!(parse_executor_params("0x040700").is_err(), "trailing bytes");
        assert_eq!(parse_hash("--h", &"ab".repeat(32)).unwrap().0, [0xab; 32]);
        assert!(parse_hash("--h", "0x01").unwrap_err().contains("32 bytes"));
    }
}
