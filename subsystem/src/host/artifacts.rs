//! Prepared artifacts on disk: their names, the start-up scan, installing and recording
//! failures. The in-memory table of what is prepared, preparing or failed is
//! [`super::artifact_table`], re-exported here.
//!
//! Layout under the cache folder:
//! - `artifacts/<code hash>_<prep-params hash>_<environment hash>_<checksum>.pvf`: prepared
//!   artifacts. The [environment hash](super::env) keeps artifacts of other builds, engines or
//!   CPUs apart; the checksum (16 hex digits of blake3 over the file) is verified when the
//!   cache is opened, so a corrupted artifact is deleted and prepared again, never loaded.
//! - `workers/`: one folder per running worker. A preparation job writes its artifact there,
//!   and the node moves it into `artifacts/` with a `rename`, so a reader never sees half a
//!   file. Anything left there at start-up is from a previous run and is removed.

pub use super::artifact_table::{
    ArtifactState, ArtifactTable, FailedPreparation, PreparedArtifact, RetryPolicy,
};
use super::env;
use parity_scale_codec::{DecodeAll, Encode};
use pvf_messages::{
    Hash, PrepParamsHash, PrepareError, ValidationCodeHash, checksum, host::PvfPrepData,
};
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
    /// The id of the artifact `pvf` prepares into.
    pub fn of(pvf: &PvfPrepData) -> Self {
        Self {
            code_hash: pvf.code_hash,
            prep_hash: pvf.executor_params.prep_hash(),
        }
    }

    fn file_name(&self, env_hash: &str, checksum: &str) -> String {
        format!(
            "{}_{}_{env_hash}_{checksum}.pvf",
            self.code_hash.0.to_hex(),
            self.prep_hash.0.to_hex(),
        )
    }

    fn failure_name(&self, env_hash: &str, checksum: &str) -> String {
        format!(
            "{}_{}_{env_hash}_{checksum}.failed",
            self.code_hash.0.to_hex(),
            self.prep_hash.0.to_hex(),
        )
    }
}

fn parse_hash(s: &str) -> Option<Hash> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(Hash(out))
}

/// What a file in `artifacts/` holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Record {
    /// A prepared artifact (`.pvf`).
    Artifact,
    /// The SCALE-encoded deterministic error of a failed preparation (`.failed`).
    Failure,
}

/// The parts of a file name in `artifacts/`: id, environment hash, checksum, kind.
fn parse_name(name: &str) -> Option<(ArtifactId, &str, &str, Record)> {
    let (stem, record) = match (name.strip_suffix(".pvf"), name.strip_suffix(".failed")) {
        (Some(stem), _) => (stem, Record::Artifact),
        (_, Some(stem)) => (stem, Record::Failure),
        _ => return None,
    };
    let mut parts = stem.split('_');
    let (code, prep, env, sum) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let id = ArtifactId {
        code_hash: ValidationCodeHash(parse_hash(code)?),
        prep_hash: PrepParamsHash(parse_hash(prep)?),
    };
    Some((id, env, sum, record))
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

/// An artifact found on disk when the cache was opened.
#[derive(Clone, Debug)]
pub struct FoundArtifact {
    /// Which artifact.
    pub id: ArtifactId,
    /// Where it is.
    pub path: PathBuf,
    /// Its size in bytes.
    pub len: u64,
}

/// What opening the cache found and cleaned up.
#[derive(Debug, Default)]
pub struct StartupScan {
    /// Artifacts of this environment whose checksum matched: usable at once.
    pub kept: Vec<FoundArtifact>,
    /// Deterministic preparation failures of this environment: not tried again.
    pub failed: Vec<(ArtifactId, PrepareError)>,
    /// Artifacts of another environment, deleted.
    pub other_environment: usize,
    /// Artifacts whose content did not match their checksum, deleted.
    pub corrupted: usize,
    /// Temporary files, unknown files and leftover worker folders, deleted.
    pub stray: usize,
}

/// The cache folder and its two subfolders.
#[derive(Clone, Debug)]
pub struct CacheDir {
    artifacts: PathBuf,
    workers: PathBuf,
    env_hash: String,
}

impl CacheDir {
    /// Opens (creating if needed) the cache at `root`, made absolute so that workers can use
    /// the paths whatever their working folder.
    pub fn open(root: &Path) -> std::io::Result<Self> {
        let root = std::path::absolute(root)?;
        let this = Self {
            artifacts: root.join("artifacts"),
            workers: root.join("workers"),
            env_hash: env::hash(),
        };
        for dir in [&this.artifacts, &this.workers] {
            std::fs::create_dir_all(dir).map_err(|e| {
                std::io::Error::new(e.kind(), format!("creating {}: {e}", dir.display()))
            })?;
        }
        Ok(this)
    }

    /// The folder holding the artifacts.
    pub fn artifacts_dir(&self) -> &Path {
        &self.artifacts
    }

    /// The folder under which workers get their own folders.
    pub fn workers_dir(&self) -> &Path {
        &self.workers
    }

    /// Removes leftovers of earlier runs and every artifact that is not of this environment
    /// or fails its checksum; returns the artifacts that can be used.
    ///
    /// Call it before any worker of this run is spawned: it empties the workers folder.
    pub fn startup_scan(&self) -> std::io::Result<StartupScan> {
        let mut scan = StartupScan {
            stray: self.clear_workers_dir()?,
            ..StartupScan::default()
        };
        for entry in std::fs::read_dir(&self.artifacts)? {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let verdict = match parse_name(&name) {
                None => Err(&mut scan.stray),
                Some((_, env, _, _)) if env != self.env_hash => Err(&mut scan.other_environment),
                Some((id, _, sum, Record::Artifact)) => match checksum::of_file(&path) {
                    Ok(actual) if actual == sum => Ok((id, None)),
                    _ => Err(&mut scan.corrupted),
                },
                Some((id, _, sum, Record::Failure)) => match std::fs::read(&path) {
                    Ok(bytes) if checksum::of_bytes(&bytes) == sum => {
                        match PrepareError::decode_all(&mut &bytes[..]) {
                            Ok(error) if error.is_deterministic() => Ok((id, Some(error))),
                            _ => Err(&mut scan.corrupted),
                        }
                    }
                    _ => Err(&mut scan.corrupted),
                },
            };
            match verdict {
                Ok((id, Some(error))) => scan.failed.push((id, error)),
                Ok((id, None)) => scan.kept.push(FoundArtifact {
                    id,
                    len: entry.metadata()?.len(),
                    path,
                }),
                Err(counter) => {
                    tracing::info!(path = %path.display(), "removing an unusable artifact");
                    let _ = std::fs::remove_file(&path);
                    *counter += 1;
                }
            }
        }
        Ok(scan)
    }

    /// Removes everything in the workers folder; returns how many entries it removed. Only
    /// when no worker runs: at start-up, and at shutdown for the folders of workers whose
    /// removal failed while they were dropped (a read-only or failing file system).
    pub fn clear_workers_dir(&self) -> std::io::Result<usize> {
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.workers)? {
            let path = entry?.path();
            let done = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed += usize::from(done.is_ok());
        }
        Ok(removed)
    }

    /// Moves a freshly prepared artifact from a worker's folder into the cache, checking that
    /// it has the length the worker reported. The checksum is computed here, from the file.
    ///
    /// The job that wrote it ran untrusted code, so the file is opened once, without following
    /// a symbolic link, and everything is checked on that open file: a regular file, one link
    /// (a second name would be a handle on the installed artifact), the length; the checksum is
    /// read from it, and after the `rename` the name in the cache must be that same file.
    pub fn install(
        &self,
        from: &Path,
        id: &ArtifactId,
        expected_len: u64,
    ) -> Result<PathBuf, PrepareError> {
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
        let refuse =
            |why: String| PrepareError::RenameTmpFile(format!("{}: {why}", from.display()));
        let err = |e: std::io::Error| refuse(e.to_string());
        // O_NONBLOCK: opening a FIFO planted there must not hang the node.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(from)
            .map_err(err)?;
        let meta = file.metadata().map_err(err)?;
        if !meta.file_type().is_file() {
            return Err(refuse("not a regular file".into()));
        }
        if meta.nlink() != 1 {
            return Err(refuse(format!("{} links, not one", meta.nlink())));
        }
        let len = meta.len();
        if len != expected_len {
            return Err(refuse(format!(
                "{len} bytes, the worker reported {expected_len}"
            )));
        }
        let sum = checksum::of_reader(&file).map_err(err)?;
        let to = self.artifacts.join(id.file_name(&self.env_hash, &sum));
        std::fs::rename(from, &to).map_err(|e| {
            PrepareError::RenameTmpFile(format!("{} -> {}: {e}", from.display(), to.display()))
        })?;
        let same = std::fs::symlink_metadata(&to)
            .is_ok_and(|moved| moved.dev() == meta.dev() && moved.ino() == meta.ino());
        let still_one = file
            .metadata()
            .is_ok_and(|m| m.nlink() == 1 && m.len() == len);
        if !same || !still_one {
            let _ = std::fs::remove_file(&to);
            return Err(refuse(
                "the file changed between its checks and its move into the cache".into(),
            ));
        }
        Ok(to)
    }

    /// Records a deterministic preparation failure, so that a restart does not prepare the
    /// same code again only to fail the same way. Other failures are not recorded.
    pub fn record_failure(&self, id: &ArtifactId, error: &PrepareError) -> std::io::Result<()> {
        if !error.is_deterministic() {
            return Ok(());
        }
        let bytes = error.encode();
        let to = self
            .artifacts
            .join(id.failure_name(&self.env_hash, &checksum::of_bytes(&bytes)));
        let tmp = tempfile::NamedTempFile::new_in(&self.workers)?;
        std::fs::write(tmp.path(), &bytes)?;
        tmp.persist(&to).map_err(|e| e.error)?;
        Ok(())
    }

    /// The checksum an artifact's name records.
    pub fn checksum_in_name(path: &Path) -> Option<String> {
        let name = path.file_name()?.to_str()?;
        match parse_name(name)? {
            (_, _, sum, Record::Artifact) => Some(sum.to_string()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pvf_messages::{ExecutorParams, PvfPrepKind, ValidationCode, checksum};
    use std::{
        collections::HashSet,
        time::{Duration, Instant},
    };

    fn id(n: u8) -> ArtifactId {
        ArtifactId::of(&PvfPrepData::new(
            ValidationCode(vec![n]),
            ExecutorParams::default(),
            PvfPrepKind::Prepare,
        ))
    }

    fn install_bytes(cache: &CacheDir, id: &ArtifactId, bytes: &[u8]) -> PathBuf {
        let src = cache.workers_dir().join(format!("tmp-{}", bytes.len()));
        std::fs::write(&src, bytes).unwrap();
        cache.install(&src, id, bytes.len() as u64).unwrap()
    }

    #[test]
    fn install_checks_length_and_names_the_checksum() {
        let root = tempfile::tempdir().unwrap();
        let cache = CacheDir::open(root.path()).unwrap();
        let src = cache.workers_dir().join("artifact");
        std::fs::write(&src, b"abcd").unwrap();
        assert!(matches!(
            cache.install(&src, &id(1), 5),
            Err(PrepareError::RenameTmpFile(_))
        ));
        // A second name for the file (a handle a job could keep on the installed artifact)
        // and a symbolic link are refused.
        let second = cache.workers_dir().join("second-name");
        std::fs::hard_link(&src, &second).unwrap();
        assert!(matches!(
            cache.install(&src, &id(1), 4),
            Err(PrepareError::RenameTmpFile(why)) if why.contains("2 links")
        ));
        std::fs::remove_file(&second).unwrap();
        let link = cache.workers_dir().join("link");
        std::os::unix::fs::symlink(&src, &link).unwrap();
        assert!(matches!(
            cache.install(&link, &id(1), 4),
            Err(PrepareError::RenameTmpFile(_))
        ));
        let to = cache.install(&src, &id(1), 4).unwrap();
        assert_eq!(std::fs::read(&to).unwrap(), b"abcd");
        assert!(!src.exists());
        assert!(
            to.to_string_lossy()
                .ends_with(&format!("_{}.pvf", checksum::of_bytes(b"abcd")))
        );
    }

    #[test]
    fn startup_keeps_good_artifacts_and_deletes_the_rest() {
        let root = tempfile::tempdir().unwrap();
        let cache = CacheDir::open(root.path()).unwrap();
        let good = install_bytes(&cache, &id(1), b"good artifact");
        let flipped = install_bytes(&cache, &id(2), b"to be flipped");
        let mut bytes = std::fs::read(&flipped).unwrap();
        bytes[3] ^= 1;
        std::fs::write(&flipped, bytes).unwrap();
        let other_env = root
            .path()
            .join("artifacts")
            .join(id(3).file_name("0000000000000000", &checksum::of_bytes(b"x")));
        std::fs::write(&other_env, b"x").unwrap();
        std::fs::write(root.path().join("artifacts/junk.tmp"), b"").unwrap();
        std::fs::create_dir(cache.workers_dir().join("prepare-old")).unwrap();

        let scan = CacheDir::open(root.path()).unwrap().startup_scan().unwrap();
        assert_eq!(scan.kept.len(), 1);
        assert_eq!(scan.kept[0].path, good);
        assert_eq!(
            (scan.corrupted, scan.other_environment, scan.stray),
            (1, 1, 2)
        );
        assert!(!flipped.exists() && !other_env.exists());
        assert_eq!(std::fs::read_dir(cache.workers_dir()).unwrap().count(), 0);
    }

    #[test]
    fn deterministic_failures_survive_a_restart_and_others_do_not() {
        let root = tempfile::tempdir().unwrap();
        let cache = CacheDir::open(root.path()).unwrap();
        let det = PrepareError::Prevalidation("not Wasm".into());
        cache.record_failure(&id(1), &det).unwrap();
        cache
            .record_failure(&id(2), &PrepareError::TimedOut)
            .unwrap();
        let scan = cache.startup_scan().unwrap();
        assert_eq!(scan.failed, vec![(id(1), det)]);
        let table = ArtifactTable::from_scan(&scan);
        assert!(matches!(table.get(&id(1)), Some(ArtifactState::Failed(_))));
        assert!(table.get(&id(2)).is_none());
    }

    #[test]
    fn prune_removes_least_recently_used_only_while_over_size_and_stale() {
        let root = tempfile::tempdir().unwrap();
        let cache = CacheDir::open(root.path()).unwrap();
        let mut table = ArtifactTable::default();
        let t0 = Instant::now();
        let mut paths = Vec::new();
        for n in 0..4u8 {
            let path = install_bytes(&cache, &id(n), &vec![n; 100 + n as usize]);
            paths.push(path.clone());
            table.set(
                id(n),
                ArtifactState::Prepared(PreparedArtifact {
                    path,
                    len: 100,
                    last_used: t0 + Duration::from_secs(u64::from(n)),
                    generation: u64::from(n),
                    prechecked: false,
                }),
            );
        }
        let later = t0 + Duration::from_secs(10);
        assert!(
            table
                .prune(400, Duration::ZERO, later, &HashSet::new())
                .is_empty(),
            "not over size"
        );
        assert!(
            table
                .prune(250, Duration::from_secs(60), later, &HashSet::new())
                .is_empty(),
            "none stale"
        );
        let removed = table.prune(250, Duration::from_secs(8), later, &[id(0)].into());
        assert_eq!(
            removed,
            vec![(id(1), paths[1].clone()), (id(2), paths[2].clone())]
        );
        for (_, path) in removed {
            std::fs::remove_file(path).unwrap();
        }
        assert!(paths[0].exists(), "an artifact in use is never pruned");
        assert!(!paths[1].exists() && !paths[2].exists());
        assert!(paths[3].exists());
        assert_eq!(table.prepared_size(), (2, 200));
    }
}
