//! The host's table of artifacts: what is prepared (and where), being prepared, or failed,
//! and which prepared artifacts to prune.
//!
//! Kept apart from [`super::artifacts`], which deals with files: the table is plain data the
//! host actor owns and changes without touching the disk; deleting what it gives up is the
//! sweeper's.

use super::artifacts::{ArtifactId, StartupScan};
use pvf_messages::PrepareError;
use std::{
    collections::{HashMap, HashSet},
    path::PathBuf,
    time::{Duration, Instant},
};

/// A prepared artifact in the table.
#[derive(Clone, Debug)]
pub struct PreparedArtifact {
    /// Where it is.
    pub path: PathBuf,
    /// Its size in bytes.
    pub len: u64,
    /// When it was last used (or prepared, or found at start-up).
    pub last_used: Instant,
    /// Distinguishes this file from a later one at the same path (a re-preparation yields
    /// the same name), so a late failure report cannot delete a fresh artifact.
    pub generation: u64,
    /// Whether a pre-check of this code under these parameters passed on this node since it
    /// started. A pre-check is answered from the artifact only then: an artifact prepared
    /// leniently (longer timeout, no memory limit, no runtime-construction check) says
    /// nothing about what a pre-check would conclude.
    pub prechecked: bool,
}

/// A preparation that failed, remembered so that it is not repeated in a tight loop.
#[derive(Clone, Debug)]
pub struct FailedPreparation {
    /// The error.
    pub error: PrepareError,
    /// When it last failed.
    pub last_failed: Instant,
    /// How many times it failed.
    pub failures: u32,
}

/// The state of one artifact.
#[derive(Debug)]
pub enum ArtifactState {
    /// On disk and usable.
    Prepared(PreparedArtifact),
    /// A preparation is queued or running; `prior_failures` counts the failed attempts
    /// before it, so the retry limit holds across attempts.
    Preparing {
        /// Failed attempts before this one.
        prior_failures: u32,
    },
    /// The last preparation failed.
    Failed(FailedPreparation),
}

/// When a failed preparation may be tried again.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Wait this long after a non-deterministic failure before trying again.
    pub cooldown: Duration,
    /// Give up after this many failures.
    pub max_failures: u32,
}

impl Default for RetryPolicy {
    /// The reference's policy: 15 minutes, at most 5 attempts.
    fn default() -> Self {
        Self {
            cooldown: Duration::from_secs(15 * 60),
            max_failures: 5,
        }
    }
}

impl FailedPreparation {
    /// Whether the preparation may be tried again now. Deterministic failures never are.
    pub fn may_retry(&self, policy: &RetryPolicy, now: Instant) -> bool {
        !self.error.is_deterministic()
            && self.failures < policy.max_failures
            && now.duration_since(self.last_failed) >= policy.cooldown
    }
}

/// Every artifact the host knows of.
#[derive(Debug, Default)]
pub struct ArtifactTable {
    states: HashMap<ArtifactId, ArtifactState>,
    generations: u64,
}

impl ArtifactTable {
    /// A table holding what a start-up scan kept: artifacts and deterministic failures.
    pub fn from_scan(scan: &StartupScan) -> Self {
        let now = Instant::now();
        let mut table = Self::default();
        for f in &scan.kept {
            table.set_prepared(f.id, f.path.clone(), f.len, false);
        }
        for (id, error) in &scan.failed {
            let state = ArtifactState::Failed(FailedPreparation {
                error: error.clone(),
                last_failed: now,
                failures: 1,
            });
            table.set(*id, state);
        }
        table
    }

    /// Records a prepared artifact, with a new generation.
    pub fn set_prepared(&mut self, id: ArtifactId, path: PathBuf, len: u64, prechecked: bool) {
        self.generations += 1;
        let state = ArtifactState::Prepared(PreparedArtifact {
            path,
            len,
            last_used: Instant::now(),
            generation: self.generations,
            prechecked,
        });
        self.states.insert(id, state);
    }

    /// The state of `id`.
    pub fn get(&self, id: &ArtifactId) -> Option<&ArtifactState> {
        self.states.get(id)
    }

    /// Sets the state of `id`.
    pub fn set(&mut self, id: ArtifactId, state: ArtifactState) {
        self.states.insert(id, state);
    }

    /// Marks `id` used now and returns its path and generation if it is prepared.
    pub fn touch(&mut self, id: &ArtifactId) -> Option<(PathBuf, u64)> {
        match self.states.get_mut(id) {
            Some(ArtifactState::Prepared(a)) => {
                a.last_used = Instant::now();
                Some((a.path.clone(), a.generation))
            }
            _ => None,
        }
    }

    /// Forgets `id` whatever its state (a preparation abandoned at shutdown, a local fault).
    pub fn forget(&mut self, id: &ArtifactId) {
        self.states.remove(id);
    }

    /// Forgets the artifact `id` if it is still the given generation (after a
    /// runtime-construction failure or a checksum mismatch) and returns the file to delete;
    /// a newer file is left alone. The caller deletes the file off the async executor (the
    /// host's sweeper).
    pub fn remove_generation(&mut self, id: &ArtifactId, generation: u64) -> Option<PathBuf> {
        match self.states.get(id) {
            Some(ArtifactState::Prepared(a)) if a.generation == generation => {
                match self.states.remove(id) {
                    Some(ArtifactState::Prepared(a)) => Some(a.path),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn remove(&mut self, id: &ArtifactId) -> Option<PathBuf> {
        match self.states.remove(id) {
            Some(ArtifactState::Prepared(a)) => Some(a.path),
            _ => None,
        }
    }

    /// Number of prepared artifacts and their total size in bytes.
    pub fn prepared_size(&self) -> (usize, u64) {
        self.states
            .values()
            .filter_map(|s| match s {
                ArtifactState::Prepared(a) => Some(a.len),
                _ => None,
            })
            .fold((0, 0), |(n, total), len| (n + 1, total + len))
    }

    /// Deletes least-recently-used artifacts, only while the total size exceeds `max_total`
    /// and only those unused for at least `min_unused` (the reference: 10 GiB, 24 hours).
    /// Returns the artifacts whose files are to be deleted (the table forgets them at once).
    pub fn prune(
        &mut self,
        max_total: u64,
        min_unused: Duration,
        now: Instant,
        in_use: &HashSet<ArtifactId>,
    ) -> Vec<(ArtifactId, PathBuf)> {
        let (_, mut total) = self.prepared_size();
        if total <= max_total {
            return Vec::new();
        }
        let mut candidates: Vec<(Instant, ArtifactId, u64)> = self
            .states
            .iter()
            .filter_map(|(id, s)| match s {
                ArtifactState::Prepared(a)
                    if now.duration_since(a.last_used) >= min_unused && !in_use.contains(id) =>
                {
                    Some((a.last_used, *id, a.len))
                }
                _ => None,
            })
            .collect();
        candidates.sort_by_key(|(used, _, _)| *used);
        let mut removed = Vec::new();
        for (_, id, len) in candidates {
            if total <= max_total {
                break;
            }
            removed.extend(self.remove(&id).map(|path| (id, path)));
            total -= len;
        }
        removed
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_non_deterministic_failures_are_retried_after_the_cooldown() {
        let policy = RetryPolicy::default();
        let t = Instant::now();
        let failed = |error| FailedPreparation {
            error,
            last_failed: t,
            failures: 1,
        };
        let det = failed(PrepareError::Prevalidation("x".into()));
        let nondet = failed(PrepareError::TimedOut);
        let after = t + policy.cooldown;
        assert!(!det.may_retry(&policy, after));
        assert!(!nondet.may_retry(&policy, t));
        assert!(nondet.may_retry(&policy, after));
        let exhausted = FailedPreparation {
            failures: policy.max_failures,
            ..nondet
        };
        assert!(!exhausted.may_retry(&policy, after));
    }
}
