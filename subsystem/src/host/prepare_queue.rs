//! The prepare queue: which PVF compiles next, and on how many workers.
//!
//! Critical work (someone waits: an execution or a pre-check) goes before normal work
//! (heads-up). Normal work runs on at most the soft number of workers; critical work may use
//! up to the hard number. The same artifact is never queued twice: a heads-up that becomes
//! urgent is moved to the critical queue.

use super::artifacts::ArtifactId;
use pvf_messages::{
    PvfPrepKind,
    host::{PreparePriority, PvfPrepData},
};
use std::collections::VecDeque;

/// One preparation waiting for a worker.
#[derive(Debug)]
pub struct PrepareJob {
    /// Which artifact.
    pub id: ArtifactId,
    /// What to prepare.
    pub pvf: PvfPrepData,
    /// How urgent.
    pub priority: PreparePriority,
}

/// Worker limits of the prepare pool.
#[derive(Clone, Copy, Debug)]
pub struct PrepareLimits {
    /// Workers for normal-priority work.
    pub soft: usize,
    /// Workers when critical work waits.
    pub hard: usize,
}

/// Queued preparations, by priority.
#[derive(Debug, Default)]
pub struct PrepareQueue {
    critical: VecDeque<PrepareJob>,
    normal: VecDeque<PrepareJob>,
}

impl PrepareQueue {
    /// Queues `job`, or raises the priority of the queued job for the same artifact.
    pub fn push(&mut self, job: PrepareJob) {
        if let Some(pos) = self.normal.iter().position(|j| j.id == job.id) {
            if job.priority == PreparePriority::Critical {
                let mut queued = self.normal.remove(pos).expect("position is in range");
                queued.priority = PreparePriority::Critical;
                self.critical.push_back(queued);
            }
            return;
        }
        if self.critical.iter().any(|j| j.id == job.id) {
            return;
        }
        match job.priority {
            PreparePriority::Critical => self.critical.push_back(job),
            PreparePriority::Normal => self.normal.push_back(job),
        }
    }

    /// Raises the priority of the queued job for `id`, if it is queued as normal.
    pub fn make_critical(&mut self, id: &ArtifactId) {
        if let Some(pos) = self.normal.iter().position(|j| &j.id == id) {
            let mut job = self.normal.remove(pos).expect("position is in range");
            job.priority = PreparePriority::Critical;
            self.critical.push_back(job);
        }
    }

    /// Raises the priority of the queued job for `id` like [`Self::make_critical`]; if `pvf` is
    /// a pre-check, the queued job takes its (strict) kind and limits.
    pub fn make_critical_with(&mut self, id: &ArtifactId, pvf: PvfPrepData) {
        self.make_critical(id);
        if pvf.prep_kind == PvfPrepKind::Precheck
            && let Some(job) = self.critical.iter_mut().find(|j| &j.id == id)
        {
            job.pvf = pvf;
        }
    }

    /// The next job that may start with `busy` workers working, if any.
    pub fn pop(&mut self, busy: usize, limits: PrepareLimits) -> Option<PrepareJob> {
        if busy < limits.hard && !self.critical.is_empty() {
            return self.critical.pop_front();
        }
        if busy < limits.soft {
            return self.normal.pop_front();
        }
        None
    }

    /// Jobs waiting: (critical, normal).
    pub fn depths(&self) -> (usize, usize) {
        (self.critical.len(), self.normal.len())
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.critical.is_empty() && self.normal.is_empty()
    }

    /// Removes every job (at shutdown).
    pub fn drain(&mut self) -> Vec<PrepareJob> {
        self.critical
            .drain(..)
            .chain(self.normal.drain(..))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pvf_messages::{ExecutorParams, PvfPrepKind, ValidationCode};

    fn job(n: u8, priority: PreparePriority) -> PrepareJob {
        let pvf = PvfPrepData::new(
            ValidationCode(vec![n]),
            ExecutorParams::default(),
            PvfPrepKind::Prepare,
        );
        PrepareJob {
            id: ArtifactId::of(&pvf),
            pvf,
            priority,
        }
    }

    const LIMITS: PrepareLimits = PrepareLimits { soft: 1, hard: 2 };

    #[test]
    fn critical_first_and_only_critical_beyond_the_soft_limit() {
        let mut q = PrepareQueue::default();
        q.push(job(1, PreparePriority::Normal));
        q.push(job(2, PreparePriority::Critical));
        assert_eq!(
            q.pop(0, LIMITS).unwrap().id,
            job(2, PreparePriority::Normal).id
        );
        assert!(
            q.pop(1, LIMITS).is_none(),
            "normal work waits beyond the soft limit"
        );
        q.push(job(3, PreparePriority::Critical));
        assert_eq!(
            q.pop(1, LIMITS).unwrap().id,
            job(3, PreparePriority::Normal).id
        );
        assert!(q.pop(2, LIMITS).is_none());
        assert_eq!(
            q.pop(0, LIMITS).unwrap().id,
            job(1, PreparePriority::Normal).id
        );
    }

    #[test]
    fn duplicates_are_merged_and_upgraded() {
        let mut q = PrepareQueue::default();
        q.push(job(1, PreparePriority::Normal));
        q.push(job(1, PreparePriority::Normal));
        assert_eq!(q.depths(), (0, 1));
        q.push(job(1, PreparePriority::Critical));
        assert_eq!(q.depths(), (1, 0));
        q.push(job(1, PreparePriority::Critical));
        assert_eq!(q.depths(), (1, 0));
    }
}
