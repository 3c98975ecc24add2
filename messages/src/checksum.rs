//! The artifact checksum: 16 hex digits of blake3.
//!
//! The node names each artifact by it and sends it with every execution request; the
//! execute job recomputes it before mapping the file. Both sides must compute it the same
//! way, so it lives here, next to the protocol that carries it.

use std::{io, path::Path};

fn short_hex(hash: blake3::Hash) -> String {
    hash.as_bytes()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The checksum of `bytes`.
pub fn of_bytes(bytes: &[u8]) -> String {
    short_hex(blake3::hash(bytes))
}

/// The checksum of the file at `path`, read in chunks.
pub fn of_file(path: &Path) -> io::Result<String> {
    of_reader(std::fs::File::open(path)?)
}

/// The checksum of what `reader` yields (an open file, from where it stands), read in chunks.
pub fn of_reader(reader: impl io::Read) -> io::Result<String> {
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(reader)?;
    Ok(short_hex(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn file_and_bytes_agree() {
        let dir = std::env::temp_dir().join(format!("pvf-checksum-{}", std::process::id()));
        std::fs::write(&dir, b"artifact").unwrap();
        assert_eq!(super::of_file(&dir).unwrap(), super::of_bytes(b"artifact"));
        assert_eq!(super::of_bytes(b"").len(), 16);
        std::fs::remove_file(dir).unwrap();
    }
}
