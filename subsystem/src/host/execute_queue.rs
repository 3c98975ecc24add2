//! The execute queue: which waiting candidate runs next.
//!
//! Disputes come first, then approvals, then backing, but not strictly: over a window of
//! [`WINDOW`] jobs, disputes may take 70 %, approvals 80 % of the rest, and backing what is
//! left (the reference's allocation), so a flood of disputes cannot starve backing entirely
//! and a flood of backing never delays a dispute by more than one job. Backing jobs whose
//! relay parent is no longer an active leaf, or that have waited longer than their own
//! timeout, are dropped with [`ValidationError::ExecutionDeadline`]: their result could no
//! longer be used.
//!
//! [`ValidationError::ExecutionDeadline`]: pvf_messages::ValidationError::ExecutionDeadline

use super::artifacts::ArtifactId;
use pvf_messages::{Hash, PvfExecKind, host::ExecutePvf, verdict_policy::Retries};
use std::{
    collections::{HashSet, VecDeque},
    path::PathBuf,
    time::{Duration, Instant},
};

/// Jobs per priority window.
pub const WINDOW: usize = 12;
/// Of a window: disputes up to 70 %, approvals up to 80 % of the rest, backing the rest.
const QUOTAS: [usize; 3] = [8, 3, 1];

/// A request being served, with what the host tracks about it.
#[derive(Debug)]
pub struct PendingExecute {
    /// The request and its response channel.
    pub req: ExecutePvf,
    /// When the host received it (retries never go past its execution timeout).
    pub received: Instant,
    /// Retries left, per class of failure.
    pub retries: Retries,
    /// The CPU budget of the next attempt: the execution timeout, and for a retry what is left
    /// of it (as in the reference).
    pub timeout: Duration,
}

impl PendingExecute {
    /// A request just received.
    pub fn new(req: ExecutePvf) -> Self {
        Self {
            timeout: req.exec_timeout,
            req,
            received: Instant::now(),
            retries: Retries::default(),
        }
    }
}

/// A request whose artifact is prepared, waiting for a worker.
#[derive(Debug)]
pub struct ExecuteJob {
    /// The request.
    pub pending: PendingExecute,
    /// Its artifact.
    pub id: ArtifactId,
    /// Where the artifact is.
    pub artifact: PathBuf,
    /// The artifact's generation in the table (see [`super::artifacts::PreparedArtifact`]).
    pub generation: u64,
    /// When it entered the queue.
    pub queued: Instant,
}

fn slot(kind: PvfExecKind) -> usize {
    match kind {
        PvfExecKind::Dispute => 0,
        PvfExecKind::Approval => 1,
        PvfExecKind::Backing => 2,
    }
}

/// The three queues and the current window's counts.
#[derive(Debug, Default)]
pub struct ExecuteQueue {
    queues: [VecDeque<ExecuteJob>; 3],
    window: [usize; 3],
}

impl ExecuteQueue {
    /// Adds a job at the back of its kind's queue.
    pub fn push(&mut self, job: ExecuteJob) {
        self.queues[slot(job.pending.req.exec_kind)].push_back(job);
    }

    /// Jobs waiting, per kind: (dispute, approval, backing).
    pub fn depths(&self) -> [usize; 3] {
        [
            self.queues[0].len(),
            self.queues[1].len(),
            self.queues[2].len(),
        ]
    }

    /// The artifacts the queued jobs will run.
    pub fn artifacts(&self) -> impl Iterator<Item = ArtifactId> + '_ {
        self.queues.iter().flatten().map(|job| job.id)
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queues.iter().all(VecDeque::is_empty)
    }

    /// The next job by priority, if any.
    pub fn pop(&mut self) -> Option<ExecuteJob> {
        let nonempty = |k: usize| !self.queues[k].is_empty();
        if !(0..3).any(nonempty) {
            return None;
        }
        if self.window.iter().sum::<usize>() >= WINDOW {
            self.window = [0; 3];
        }
        let k = (0..3)
            .find(|&k| nonempty(k) && self.window[k] < QUOTAS[k])
            .or_else(|| (0..3).find(|&k| nonempty(k)))?;
        self.window[k] += 1;
        self.queues[k].pop_front()
    }

    /// Removes the backing jobs that can no longer be used: built on a relay parent outside
    /// `active` (when given), or queued for longer than their execution timeout.
    pub fn take_expired(
        &mut self,
        active: Option<&HashSet<Hash>>,
        now: Instant,
    ) -> Vec<ExecuteJob> {
        let backing = &mut self.queues[slot(PvfExecKind::Backing)];
        let (expired, keep): (Vec<_>, Vec<_>) = backing.drain(..).partition(|job| {
            let req = &job.pending.req;
            let stale_parent = match (active, req.relay_parent) {
                (Some(active), Some(parent)) => !active.contains(&parent),
                _ => false,
            };
            stale_parent || now.duration_since(job.queued) > req.exec_timeout
        });
        *backing = keep.into();
        expired
    }

    /// Removes every job (at shutdown).
    pub fn drain(&mut self) -> Vec<ExecuteJob> {
        self.queues.iter_mut().flat_map(|q| q.drain(..)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::channel::oneshot;
    use pvf_messages::{
        BlockData, ExecutorParams, HeadData, PvfPrepKind, ValidationCode, ValidationParams,
        host::PvfPrepData,
    };

    fn job(kind: PvfExecKind, tag: u32, relay_parent: Option<Hash>) -> ExecuteJob {
        let pvf = PvfPrepData::new(
            ValidationCode(vec![]),
            ExecutorParams::default(),
            PvfPrepKind::Prepare,
        );
        let (response, _) = oneshot::channel();
        ExecuteJob {
            id: ArtifactId::of(&pvf),
            pending: PendingExecute {
                req: ExecutePvf {
                    pvf,
                    params: ValidationParams {
                        parent_head: HeadData(vec![]),
                        block_data: BlockData(vec![]),
                        relay_parent_number: tag,
                        relay_parent_storage_root: Hash::default(),
                    },
                    exec_timeout: Duration::from_secs(2),
                    exec_kind: kind,
                    relay_parent,
                    response,
                },
                received: Instant::now(),
                retries: Default::default(),
                timeout: Duration::from_secs(2),
            },
            artifact: PathBuf::new(),
            generation: 0,
            queued: Instant::now(),
        }
    }

    fn kind_of(j: &ExecuteJob) -> PvfExecKind {
        j.pending.req.exec_kind
    }

    #[test]
    fn a_dispute_overtakes_a_flood_of_backing() {
        let mut q = ExecuteQueue::default();
        for i in 0..100 {
            q.push(job(PvfExecKind::Backing, i, None));
        }
        q.pop();
        q.push(job(PvfExecKind::Dispute, 0, None));
        assert_eq!(kind_of(&q.pop().unwrap()), PvfExecKind::Dispute);
    }

    #[test]
    fn backing_is_not_starved_by_disputes_and_approvals() {
        let mut q = ExecuteQueue::default();
        for i in 0..50 {
            q.push(job(PvfExecKind::Dispute, i, None));
            q.push(job(PvfExecKind::Approval, i, None));
            q.push(job(PvfExecKind::Backing, i, None));
        }
        let first: Vec<_> = (0..WINDOW).map(|_| kind_of(&q.pop().unwrap())).collect();
        let count = |k| first.iter().filter(|&&x| x == k).count();
        assert_eq!(count(PvfExecKind::Dispute), 8);
        assert_eq!(count(PvfExecKind::Approval), 3);
        assert_eq!(count(PvfExecKind::Backing), 1);
    }

    #[test]
    fn backing_jobs_on_dead_relay_parents_or_too_old_are_dropped() {
        let mut q = ExecuteQueue::default();
        let (a, b) = (Hash([1; 32]), Hash([2; 32]));
        q.push(job(PvfExecKind::Backing, 1, Some(a)));
        q.push(job(PvfExecKind::Backing, 2, Some(b)));
        q.push(job(PvfExecKind::Approval, 3, Some(b)));
        let active: HashSet<Hash> = [a].into();
        let dropped = q.take_expired(Some(&active), Instant::now());
        assert_eq!(dropped.len(), 1);
        assert_eq!(dropped[0].pending.req.params.relay_parent_number, 2);
        assert_eq!(q.depths(), [0, 1, 1]);
        let later = Instant::now() + Duration::from_secs(3);
        assert_eq!(q.take_expired(None, later).len(), 1);
        assert_eq!(q.depths(), [0, 1, 0]);
    }
}
