//! The build id node and workers compare at spawn time, computed from the source tree.
//!
//! Shared by `build.rs` (which bakes the id into every binary) and `tests/build_id.rs`
//! (which checks it on temporary trees and on this workspace). Only `std` and the `git`
//! command are used, because build scripts have no dependencies here.
//!
//! - In a git checkout whose top is the workspace: the commit (`git rev-parse --short=12`),
//!   and when any file that goes into a binary differs from it (modified, added, deleted or
//!   untracked, staged or not), `<commit>-dirty-<hash>` with a hash over those files' paths
//!   and current contents. Two builds from differently edited trees therefore never share an
//!   id, and undoing an edit gives the commit's id back.
//! - Without git (a source tarball, `cargo install` from an exported tree): `src-<hash>` over
//!   every source file that goes into a binary.
//! - [`UNKNOWN`] when neither works; node and workers refuse to pair on it.

use std::{
    hash::Hasher,
    path::{Path, PathBuf},
    process::Command,
};

/// The id of a build whose sources could not be identified.
pub const UNKNOWN: &str = "unknown";

/// What goes into the binaries, relative to the workspace root: manifests, build scripts and
/// library/binary sources. Tests, benches and docs are left out, so editing a test does not
/// make the binaries stale.
pub const SOURCES: &[&str] = &[
    "Cargo.toml",
    "Cargo.lock",
    "messages/Cargo.toml",
    "messages/build.rs",
    "messages/build_id.rs",
    "messages/src",
    "subsystem/Cargo.toml",
    "subsystem/src",
    "workers/Cargo.toml",
    "workers/src",
    "metrics/Cargo.toml",
    "metrics/src",
    "malus/Cargo.toml",
    "malus/src",
    "tests/pvfs/Cargo.toml",
    "tests/pvfs/build.rs",
    "tests/pvfs/src",
    "tests/pvfs/guests",
];

/// A computed build id and how it was obtained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildId {
    /// The id.
    pub id: String,
    /// `git`, `sources` or `unknown`.
    pub source: &'static str,
    /// Files and folders whose change must recompute the id (for `rerun-if-changed`).
    pub watch: Vec<PathBuf>,
}

/// Computes the build id of the workspace at `root`.
pub fn compute(root: &Path) -> BuildId {
    let mut watch: Vec<PathBuf> = SOURCES
        .iter()
        .map(|s| root.join(s))
        .filter(|p| p.exists())
        .collect();
    if let Some((id, git_paths)) = from_git(root) {
        watch.extend(git_paths);
        return BuildId {
            id,
            source: "git",
            watch,
        };
    }
    let mut files = Vec::new();
    for s in SOURCES {
        collect_files(&root.join(s), &mut files);
    }
    if files.is_empty() {
        return BuildId {
            id: UNKNOWN.into(),
            source: "unknown",
            watch,
        };
    }
    files.sort();
    let mut h = StableHasher::default();
    for f in &files {
        hash_file(&mut h, root, f);
    }
    BuildId {
        id: format!("src-{:016x}", h.finish()),
        source: "sources",
        watch,
    }
}

fn git(root: &Path, args: &[&str]) -> Option<Vec<u8>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

fn git_line(root: &Path, args: &[&str]) -> Option<String> {
    let out = git(root, args)?;
    let s = String::from_utf8(out).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// The id from git, and the git files whose change moves HEAD; `None` when `root` is not the
/// top of a git work tree with a commit.
fn from_git(root: &Path) -> Option<(String, Vec<PathBuf>)> {
    let top = git_line(root, &["rev-parse", "--show-toplevel"])?;
    if std::fs::canonicalize(&top).ok()? != std::fs::canonicalize(root).ok()? {
        return None;
    }
    let head = git_line(root, &["rev-parse", "--short=12", "HEAD"])?;
    // HEAD, the branch it points to and packed-refs; `--git-path` resolves them in linked
    // work trees too (the branch lives in the common folder there).
    let mut refs = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git_line(root, &["symbolic-ref", "-q", "HEAD"]) {
        refs.push(branch);
    }
    let git_paths = refs
        .iter()
        .filter_map(|r| git_line(root, &["rev-parse", "--git-path", r]))
        .map(|p| root.join(p))
        .filter(|p| p.exists())
        .collect();
    // No optional locks: a build must not take `index.lock` from under the developer's git.
    let mut args = vec![
        "--no-optional-locks",
        "status",
        "--porcelain=v1",
        "-z",
        "--untracked-files=all",
        "--no-renames",
        "--",
    ];
    args.extend(SOURCES);
    let status = git(root, &args)?;
    let mut changed: Vec<PathBuf> = status
        .split(|b| *b == 0)
        .filter(|e| e.len() > 3)
        .filter_map(|e| std::str::from_utf8(&e[3..]).ok())
        .map(PathBuf::from)
        .collect();
    if changed.is_empty() {
        return Some((head, git_paths));
    }
    changed.sort();
    changed.dedup();
    let mut h = StableHasher::default();
    for f in &changed {
        hash_file(&mut h, root, &root.join(f));
    }
    Some((format!("{head}-dirty-{:012x}", h.finish() >> 16), git_paths))
}

/// Every file under `path` (or `path` itself), skipping `target` and hidden folders.
fn collect_files(path: &Path, out: &mut Vec<PathBuf>) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if !meta.is_dir() {
        out.push(path.to_path_buf());
        return;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == "target" || name.starts_with('.') {
            continue;
        }
        collect_files(&entry.path(), out);
    }
}

/// Feeds a file's path relative to `root` and its current content (a symlink's target, or a
/// marker for a file that is gone) into `h`.
fn hash_file(h: &mut StableHasher, root: &Path, file: &Path) {
    let rel = file.strip_prefix(root).unwrap_or(file);
    h.write(rel.as_os_str().as_encoded_bytes());
    h.write(&[0]);
    match std::fs::symlink_metadata(file) {
        Ok(m) if m.file_type().is_symlink() => {
            h.write(b"symlink:");
            if let Ok(t) = std::fs::read_link(file) {
                h.write(t.as_os_str().as_encoded_bytes());
            }
        }
        Ok(_) => match std::fs::read(file) {
            Ok(bytes) => {
                h.write(b"file:");
                h.write(&(bytes.len() as u64).to_le_bytes());
                h.write(&bytes);
            }
            Err(_) => h.write(b"unreadable"),
        },
        Err(_) => h.write(b"deleted"),
    }
    h.write(&[0]);
}

/// 64-bit FNV-1a followed by a final avalanche (SplitMix64), fixed forever so that an id can
/// be recomputed by any later toolchain; it tells edits apart, it is not a security boundary.
struct StableHasher(u64);

impl Default for StableHasher {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for StableHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        let mut z = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
