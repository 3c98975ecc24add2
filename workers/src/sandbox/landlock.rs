//! Landlock: the job may read and write only beneath the folders its policy names (never
//! execute), and a preparation job only write its one output file.
//!
//! The ABI is pinned (v1, as in the reference) so that every validator enforces the same
//! rules whatever its kernel: a newer ABI would make more operations fail on some machines
//! than on others, and a PVF could tell them apart.

use super::{Policy, SandboxError};
use landlock::{
    ABI, Access, AccessFs, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr,
    RulesetStatus, path_beneath_rules,
};
use std::path::Path;

/// The Landlock ABI the sandbox uses: pinned, so that the same rules hold on every kernel.
pub const LANDLOCK_ABI: ABI = ABI::V1;

/// Restricts this process (and whatever it starts later) to the policy's folders.
pub fn restrict(policy: &Policy) -> Result<(), SandboxError> {
    let err = |e: landlock::RulesetError| SandboxError::Landlock(e.to_string());
    let all = AccessFs::from_all(LANDLOCK_ABI);
    let read = AccessFs::from_read(LANDLOCK_ABI);
    let status = Ruleset::default()
        .handle_access(all)
        .map_err(err)?
        .create()
        .map_err(err)?
        .add_rules(path_beneath_rules(&policy.writable, all))
        .map_err(err)?
        .add_rules(path_beneath_rules(
            &policy.readable,
            read & !AccessFs::Execute,
        ))
        .map_err(err)?
        .restrict_self()
        .map_err(err)?;
    fully_enforced(status.ruleset)
}

/// Adds a layer on top of what this process already has: it may write the one existing file
/// `file` (open it for writing, truncate it with `O_TRUNC`) and nothing else at all: no
/// reading, no creating, linking, renaming or removing anything. A preparation job gets this,
/// so that it cannot leave anything behind for the next job in its worker's folder.
pub fn restrict_to_writing(file: &Path) -> Result<(), SandboxError> {
    let err = |e: landlock::RulesetError| SandboxError::Landlock(e.to_string());
    let fd = PathFd::new(file).map_err(|e| SandboxError::Landlock(e.to_string()))?;
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(LANDLOCK_ABI))
        .map_err(err)?
        .create()
        .map_err(err)?
        .add_rule(PathBeneath::new(fd, AccessFs::WriteFile))
        .map_err(err)?
        .restrict_self()
        .map_err(err)?;
    fully_enforced(status.ruleset)
}

/// A ruleset the kernel enforces only partly is an error: a layer that holds half its rules
/// would pass for the whole.
fn fully_enforced(status: RulesetStatus) -> Result<(), SandboxError> {
    match status {
        RulesetStatus::FullyEnforced => Ok(()),
        other => Err(SandboxError::Landlock(format!(
            "the kernel enforces the rules only {other:?}"
        ))),
    }
}
