//! Where prepared artifacts live on disk.
//!
//! Layout under the cache folder:
//! - `artifacts/<code hash>_<prep-params hash>_<build key>.pvf`: prepared artifacts. The build
//!   key keeps artifacts of different node builds apart; the host issue replaces it with a
//!   full environment hash (engine configuration, CPU features) and checksum verification.
//! - `workers/`: one folder per running worker. A preparation job writes its artifact there,
//!   and the node moves it into `artifacts/` with a `rename`, so a reader never sees half a file.

use pvf_messages::{PrepParamsHash, PrepareError, ValidationCodeHash, version::FULL_VERSION};
use std::path::{Path, PathBuf};

/// Identifies one artifact: the code and the parameters it was prepared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ArtifactId {
    /// Hash of the validation code.
    pub code_hash: ValidationCodeHash,
    /// Hash of the executor parameters that affect preparation.
    pub prep_hash: PrepParamsHash,
}

impl ArtifactId {
    /// The artifact's file name in the cache.
    pub fn file_name(&self) -> String {
        format!(
            "{}_{}_{}.pvf",
            self.code_hash.0.to_hex(),
            self.prep_hash.0.to_hex(),
            build_key()
        )
    }
}

/// A short key for this build, so that artifacts of other builds are never picked up.
fn build_key() -> String {
    hex::encode(&blake3::hash(FULL_VERSION.as_bytes()).as_bytes()[..8])
}

/// The default cache folder: `$XDG_CACHE_HOME/pvf-host`, else `~/.cache/pvf-host`, else a
/// folder in the system's temporary directory.
pub fn default_cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("pvf-host")
}

/// The cache folder and its two subfolders.
#[derive(Clone, Debug)]
pub struct CacheDir {
    artifacts: PathBuf,
    workers: PathBuf,
}

impl CacheDir {
    /// Opens (creating if needed) the cache at `root`, made absolute so that workers can use
    /// the paths whatever their working folder.
    pub fn open(root: &Path) -> std::io::Result<Self> {
        let root = std::path::absolute(root)?;
        let this = Self {
            artifacts: root.join("artifacts"),
            workers: root.join("workers"),
        };
        for dir in [&this.artifacts, &this.workers] {
            std::fs::create_dir_all(dir).map_err(|e| {
                std::io::Error::new(e.kind(), format!("creating {}: {e}", dir.display()))
            })?;
        }
        Ok(this)
    }

    /// The folder under which workers get their own folders.
    pub fn workers_dir(&self) -> &Path {
        &self.workers
    }

    /// Where the artifact `id` lives.
    pub fn artifact_path(&self, id: &ArtifactId) -> PathBuf {
        self.artifacts.join(id.file_name())
    }

    /// Moves a freshly prepared artifact from a worker's folder into the cache, checking that
    /// it has the length the worker reported.
    pub fn install(
        &self,
        from: &Path,
        id: &ArtifactId,
        expected_len: u64,
    ) -> Result<PathBuf, PrepareError> {
        let len = std::fs::metadata(from)
            .map_err(|e| PrepareError::RenameTmpFile(format!("{}: {e}", from.display())))?
            .len();
        if len != expected_len {
            return Err(PrepareError::RenameTmpFile(format!(
                "{} has {len} bytes, the worker reported {expected_len}",
                from.display()
            )));
        }
        let to = self.artifact_path(id);
        std::fs::rename(from, &to).map_err(|e| {
            PrepareError::RenameTmpFile(format!("{} -> {}: {e}", from.display(), to.display()))
        })?;
        Ok(to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pvf_messages::{ExecutorParams, ValidationCode};

    fn id() -> ArtifactId {
        ArtifactId {
            code_hash: ValidationCode(vec![1, 2, 3]).hash(),
            prep_hash: ExecutorParams::default().prep_hash(),
        }
    }

    #[test]
    fn install_moves_the_file_and_checks_its_length() {
        let root = tempfile::tempdir().unwrap();
        let cache = CacheDir::open(root.path()).unwrap();
        let src = cache.workers_dir().join("artifact");
        std::fs::write(&src, b"abcd").unwrap();
        assert!(matches!(
            cache.install(&src, &id(), 5),
            Err(PrepareError::RenameTmpFile(_))
        ));
        let to = cache.install(&src, &id(), 4).unwrap();
        assert_eq!(std::fs::read(&to).unwrap(), b"abcd");
        assert!(!src.exists());
        assert!(to.starts_with(root.path()));
    }

    #[test]
    fn file_names_differ_by_code_and_params() {
        let a = id();
        let mut b = a;
        b.code_hash = ValidationCode(vec![9]).hash();
        assert_ne!(a.file_name(), b.file_name());
        assert!(a.file_name().ends_with(".pvf"));
    }
}
