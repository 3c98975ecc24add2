//! Landlock: the job may read and write only beneath the folders its policy names.
//!
//! The ABI is pinned (v1, as in the reference) so that every validator enforces the same
//! rules whatever its kernel: a newer ABI would make more operations fail on some machines
//! than on others, and a PVF could tell them apart.

use super::{Policy, SandboxError};
use landlock::{
    ABI, Access, AccessFs, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus,
    path_beneath_rules,
};

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
        .add_rules(path_beneath_rules(&policy.readable, read))
        .map_err(err)?
        .restrict_self()
        .map_err(err)?;
    match status.ruleset {
        RulesetStatus::FullyEnforced => Ok(()),
        other => Err(SandboxError::Landlock(format!(
            "the kernel enforces the rules only {other:?}"
        ))),
    }
}
