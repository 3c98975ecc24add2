//! Reading the command line's inputs: code files and `HEX|@FILE` byte arguments.

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
}
