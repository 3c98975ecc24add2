//! Finding the worker binaries.
//!
//! Order: `--workers-path` (a folder holding both binaries, or one binary that serves both
//! roles via `--kind`), else the folder of the running node binary, then
//! [`LIBEXEC_DIR`] (where packages install them), then each folder of `$PATH`. A binary that is
//! missing everywhere is an error listing every place tried, so the operator can act on it.
//!
//! The installed layout (the Debian package, `packaging/`): `pvf-node` in `/usr/bin`, the
//! workers in [`LIBEXEC_DIR`]. The folder of the running node comes first so that a build
//! tree (`target/release/`) or a `cargo install` (`~/.cargo/bin/`) uses its own workers
//! even on a machine that also has the package; `/usr/bin` holds no worker, so the packaged
//! node finds the packaged workers.
//!
//! Found binaries are then asked for their version ([`check_versions`]): a node refuses to
//! start with workers of another build, which is what an in-place upgrade of only some of
//! the binaries leaves behind.

use pvf_messages::{
    protocol::WorkerKind,
    version::{BUILD_ID, MISMATCH_HINT, VERSION, builds_match},
};
use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
};

/// Where distribution packages install the worker binaries.
pub const LIBEXEC_DIR: &str = "/usr/libexec/pvf-host";

/// The worker binary for each role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerPaths {
    /// Serves preparation.
    pub prepare: PathBuf,
    /// Serves execution.
    pub execute: PathBuf,
}

impl WorkerPaths {
    /// The binary serving `kind`.
    pub fn get(&self, kind: WorkerKind) -> &Path {
        match kind {
            WorkerKind::Prepare => &self.prepare,
            WorkerKind::Execute => &self.execute,
        }
    }
}

/// A worker binary could not be found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// No usable binary of this name in any place tried.
    #[error(
        "cannot find the {binary} binary; looked in: {}. Install it next to pvf-node or pass --workers-path DIR",
        .tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NotFound {
        /// The binary's file name.
        binary: &'static str,
        /// Every candidate path, in the order tried.
        tried: Vec<PathBuf>,
    },
    /// `--workers-path` names something that is neither an executable file nor a folder.
    #[error("--workers-path {0}: not an executable file or a folder")]
    BadWorkersPath(PathBuf),
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The folders searched when no `--workers-path` is given, in order.
pub fn default_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        dirs.push(dir);
    }
    dirs.push(PathBuf::from(LIBEXEC_DIR));
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path).filter(|p| p.is_absolute()));
    }
    dirs
}

fn find_in(dirs: &[PathBuf], kind: WorkerKind) -> Result<PathBuf, DiscoveryError> {
    let binary = kind.binary_name();
    let tried: Vec<PathBuf> = dirs.iter().map(|d| d.join(binary)).collect();
    tried
        .iter()
        .find(|p| is_executable(p))
        .cloned()
        .ok_or(DiscoveryError::NotFound { binary, tried })
}

/// Finds both worker binaries.
pub fn discover(workers_path: Option<&Path>) -> Result<WorkerPaths, DiscoveryError> {
    let dirs = match workers_path {
        Some(p) if p.is_dir() => vec![p.to_path_buf()],
        Some(p) if is_executable(p) => {
            return Ok(WorkerPaths {
                prepare: p.to_path_buf(),
                execute: p.to_path_buf(),
            });
        }
        Some(p) => return Err(DiscoveryError::BadWorkersPath(p.to_path_buf())),
        None => default_dirs(),
    };
    Ok(WorkerPaths {
        prepare: find_in(&dirs, WorkerKind::Prepare)?,
        execute: find_in(&dirs, WorkerKind::Execute)?,
    })
}

/// A worker binary that is not from the node's build.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} is {found}, pvf-node is {VERSION} ({BUILD_ID}): {MISMATCH_HINT}", .path.display())]
pub struct VersionError {
    /// The binary.
    pub path: PathBuf,
    /// What it reported (or why it reported nothing).
    pub found: String,
}

/// The version and build id in a binary's `--version` line (`name VERSION (BUILD_ID)`).
pub fn parse_version_line(line: &str) -> Option<(&str, &str)> {
    let line = line.trim();
    let (head, rest) = line.rsplit_once(" (")?;
    let build = rest.strip_suffix(')')?;
    let version = head.rsplit(' ').next()?;
    Some((version, build))
}

/// Asks `binary --version` (with an empty environment, as workers are spawned) and checks
/// that it is this node's version and build; an unidentified build never passes.
pub fn check_version(binary: &Path) -> Result<String, VersionError> {
    let err = |found: String| VersionError {
        path: binary.to_path_buf(),
        found,
    };
    let out = Command::new(binary)
        .arg("--version")
        .env_clear()
        .output()
        .map_err(|e| err(format!("not runnable ({e})")))?;
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match parse_version_line(&line) {
        Some((version, build)) if version == VERSION && builds_match(BUILD_ID, build) => Ok(line),
        Some((version, build)) => Err(err(format!("{version} ({build})"))),
        None => Err(err(format!(
            "not a worker of this host (--version said {line:?})"
        ))),
    }
}

/// Checks both worker binaries with [`check_version`].
pub fn check_versions(paths: &WorkerPaths) -> Result<(), VersionError> {
    check_version(&paths.prepare)?;
    if paths.execute != paths.prepare {
        check_version(&paths.execute)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_lines_are_parsed() {
        assert_eq!(
            parse_version_line("pvf-workers 0.1.0 (d5802470ebf6-dirty-0123456789ab)\n"),
            Some(("0.1.0", "d5802470ebf6-dirty-0123456789ab"))
        );
        assert_eq!(parse_version_line("pvf-workers 0.1.0"), None);
    }

    /// A script that prints a `--version` line, as a worker binary of another build would.
    fn fake_worker(dir: &Path, line: &str) -> PathBuf {
        let p = dir.join("pvf-execute-worker");
        std::fs::write(&p, format!("#!/bin/sh\necho '{line}'\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn only_a_worker_of_this_exact_build_passes() {
        let dir = tempfile::tempdir().unwrap();
        let same = fake_worker(dir.path(), &format!("pvf-workers {VERSION} ({BUILD_ID})"));
        assert!(check_version(&same).is_ok());
        for other in [
            format!("pvf-workers {VERSION} ({BUILD_ID}-dirty-0123456789ab)"),
            format!("pvf-workers 0.0.0-other ({BUILD_ID})"),
            format!("pvf-workers {VERSION} (unknown)"),
            "something else".to_string(),
        ] {
            let p = fake_worker(dir.path(), &other);
            let e = check_version(&p).unwrap_err().to_string();
            assert!(e.contains("same build") && e.contains("restart"), "{e}");
            assert!(e.contains(&p.display().to_string()), "{e}");
        }
    }

    #[test]
    fn missing_binary_lists_every_place_tried() {
        let dir = tempfile::tempdir().unwrap();
        let err = discover(Some(dir.path())).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("pvf-prepare-worker"), "{msg}");
        assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
        assert!(msg.contains("--workers-path"), "{msg}");
    }

    #[test]
    fn non_executable_files_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        for kind in [WorkerKind::Prepare, WorkerKind::Execute] {
            std::fs::write(dir.path().join(kind.binary_name()), b"#!/bin/sh\n").unwrap();
        }
        assert!(matches!(
            discover(Some(dir.path())),
            Err(DiscoveryError::NotFound { .. })
        ));
        for kind in [WorkerKind::Prepare, WorkerKind::Execute] {
            let p = dir.path().join(kind.binary_name());
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let paths = discover(Some(dir.path())).unwrap();
        assert_eq!(paths.execute, dir.path().join("pvf-execute-worker"));
    }

    #[test]
    fn a_single_file_serves_both_roles() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("both");
        std::fs::write(&bin, b"").unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let paths = discover(Some(&bin)).unwrap();
        assert_eq!(paths.prepare, bin);
        assert_eq!(paths.execute, bin);
        let missing = dir.path().join("nope");
        assert_eq!(
            discover(Some(&missing)),
            Err(DiscoveryError::BadWorkersPath(missing))
        );
    }
}
