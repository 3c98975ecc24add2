//! Finding the worker binaries.
//!
//! Order: `--workers-path` (a folder holding both binaries, or one binary that serves both
//! roles via `--kind`), else the folder of the running node binary, then
//! [`LIBEXEC_DIR`] (where packages install them), then each folder of `$PATH`. A binary that is
//! missing everywhere is an error listing every place tried, so the operator can act on it.

use pvf_messages::protocol::WorkerKind;
use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
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

#[cfg(test)]
mod tests {
    use super::*;

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
