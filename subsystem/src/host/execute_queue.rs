//! The execute queue: which waiting candidate runs next.
//!
//! Four priorities, highest first: disputes, approvals, backing of system parachains,
//! backing. The next job is of the highest priority that has work and has not reached its
//! share of the jobs scheduled at its priority or lower in the current window of [`WINDOW`]
//! jobs (disputes 70 %, approvals 80 %, backing of system parachains 100 % of what lower
//! priorities leave; the reference's allocation): with everything waiting, a window runs 8
//! disputes, 3 approvals and 1 backing job, and no priority is starved.
//!
//! Within a priority the eldest job goes first, except that a job whose executor parameters
//! match an idle worker's is preferred while the eldest has waited less than
//! [`MAX_KEEP_WAITING`] (the reference's rule): it saves spawning a worker for other
//! parameters and retiring the idle one.
//!
//! Backing jobs are dropped with [`ValidationError::ExecutionDeadline`] once their relay
//! parent is neither an active leaf nor within a leaf's allowed ancestry ([`Viability`]), or
//! once they have waited longer than their own timeout: their result could no longer be used.
//!
//! [`ValidationError::ExecutionDeadline`]: pvf_messages::ValidationError::ExecutionDeadline

use super::artifacts::ArtifactId;
use pvf_messages::{
    Hash, PvfExecKind,
    host::{ActiveLeaf, ExecutePvf},
    verdict_policy::Retries,
};
use std::{
    collections::{HashMap, VecDeque},
    path::PathBuf,
    time::{Duration, Instant},
};

/// How long the eldest job of a priority may be passed over for one that fits an idle
/// worker (the reference's `MAX_KEEP_WAITING`: twice the backing execution timeout).
pub const MAX_KEEP_WAITING: Duration = Duration::from_secs(4);

/// Jobs per priority window (the reference's `SCHEDULING_WINDOW_SIZE`).
pub const WINDOW: usize = 12;

/// The priorities, highest first.
pub const PRIORITIES: [PvfExecKind; 4] = [
    PvfExecKind::Dispute,
    PvfExecKind::Approval,
    PvfExecKind::BackingSystemParas,
    PvfExecKind::Backing,
];

/// Of the jobs scheduled at a priority or lower in a window, the share (in percent) a
/// priority may take before lower ones get a turn (the reference's
/// `PRIORITY_ALLOCATION_THRESHOLDS`).
const THRESHOLDS: [usize; 4] = [70, 80, 100, 100];

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

/// The active leaves and their allowed ancestry: the relay parents a backing job may still
/// be built on. Before the first update (the default) every relay parent is allowed.
#[derive(Clone, Debug, Default)]
pub struct Viability {
    leaves: Option<HashMap<Hash, Vec<Hash>>>,
}

impl Viability {
    /// The view of these active leaves (the full set).
    pub fn new(leaves: impl IntoIterator<Item = ActiveLeaf>) -> Self {
        Self {
            leaves: Some(
                leaves
                    .into_iter()
                    .map(|leaf| (leaf.hash, leaf.ancestors))
                    .collect(),
            ),
        }
    }

    /// Whether a backing job built on `relay_parent` may still be used: it is an active leaf
    /// or within one's allowed ancestry (the reference's `prune_old_jobs`).
    pub fn allows(&self, relay_parent: &Hash) -> bool {
        let Some(leaves) = &self.leaves else {
            return true;
        };
        leaves
            .iter()
            .any(|(leaf, ancestors)| leaf == relay_parent || ancestors.contains(relay_parent))
    }

    /// Whether the pending request `p` is a backing job that can no longer be used.
    pub fn drops(&self, p: &PendingExecute) -> bool {
        p.req.exec_kind.is_backing() && p.req.relay_parent.is_some_and(|rp| !self.allows(&rp))
    }
}

fn slot(kind: PvfExecKind) -> usize {
    match kind {
        PvfExecKind::Dispute => 0,
        PvfExecKind::Approval => 1,
        PvfExecKind::BackingSystemParas => 2,
        PvfExecKind::Backing => 3,
    }
}

/// The four queues and the current window's counts.
#[derive(Debug, Default)]
pub struct ExecuteQueue {
    queues: [VecDeque<ExecuteJob>; 4],
    counts: [usize; 4],
}

impl ExecuteQueue {
    /// Adds a job at the back of its kind's queue.
    pub fn push(&mut self, job: ExecuteJob) {
        self.queues[slot(job.pending.req.exec_kind)].push_back(job);
    }

    /// Jobs waiting, per kind, highest priority first.
    pub fn depths(&self) -> [(PvfExecKind, usize); 4] {
        PRIORITIES.map(|k| (k, self.queues[slot(k)].len()))
    }

    /// The artifacts the queued jobs will run.
    pub fn artifacts(&self) -> impl Iterator<Item = ArtifactId> + '_ {
        self.queues.iter().flatten().map(|job| job.id)
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queues.iter().all(VecDeque::is_empty)
    }

    /// Whether priority `k` has taken its share of what was scheduled at `k` or lower.
    fn reached_threshold(&self, k: usize) -> bool {
        let at_or_below: usize = self.counts[k..].iter().sum();
        at_or_below != 0 && self.counts[k] * 100 / at_or_below >= THRESHOLDS[k]
    }

    /// The priority of the next job, if any waits (the reference's `select_next_priority`).
    fn next_priority(&self) -> Option<usize> {
        let pending = |k: usize| !self.queues[k].is_empty();
        (0..4)
            .find(|&k| pending(k) && !self.reached_threshold(k))
            .or_else(|| (0..4).find(|&k| pending(k)))
    }

    /// The next job by priority, if any; counts it in the window. Of that priority's jobs,
    /// the eldest, or the eldest one that `fits` (an idle worker could run it) while the
    /// eldest has waited less than [`MAX_KEEP_WAITING`].
    pub fn pop(&mut self, now: Instant, fits: impl Fn(&ExecuteJob) -> bool) -> Option<ExecuteJob> {
        let k = self.next_priority()?;
        self.counts[k] += 1;
        if self.counts.iter().sum::<usize>() >= WINDOW {
            self.counts = [0; 4];
        }
        let queue = &mut self.queues[k];
        let eldest_waited = now.saturating_duration_since(queue.front()?.queued);
        let index = if eldest_waited < MAX_KEEP_WAITING {
            queue.iter().position(fits).unwrap_or(0)
        } else {
            0
        };
        queue.remove(index)
    }

    /// Removes the backing jobs that can no longer be used: built on a relay parent `view`
    /// (when given) does not allow, or queued for longer than their execution timeout.
    pub fn take_expired(&mut self, view: Option<&Viability>, now: Instant) -> Vec<ExecuteJob> {
        let mut expired = Vec::new();
        for kind in [PvfExecKind::BackingSystemParas, PvfExecKind::Backing] {
            let queue = &mut self.queues[slot(kind)];
            let (gone, keep): (Vec<_>, Vec<_>) = queue.drain(..).partition(|job| {
                view.is_some_and(|v| v.drops(&job.pending))
                    || now.duration_since(job.queued) > job.pending.req.exec_timeout
            });
            *queue = keep.into();
            expired.extend(gone);
        }
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
    use PvfExecKind::{Approval, Backing, BackingSystemParas, Dispute};
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

    /// The next job when no idle worker fits any.
    fn pop(q: &mut ExecuteQueue) -> Option<ExecuteJob> {
        q.pop(Instant::now(), |_| false)
    }

    #[test]
    fn a_job_fitting_an_idle_worker_is_preferred_until_the_eldest_waited_too_long() {
        let params =
            |pages| ExecutorParams(vec![pvf_messages::ExecutorParam::MaxMemoryPages(pages)]);
        let with_params = |tag, pages| {
            let mut j = job(Approval, tag, None);
            j.pending.req.pvf =
                PvfPrepData::new(ValidationCode(vec![]), params(pages), PvfPrepKind::Prepare);
            j
        };
        let fits = |j: &ExecuteJob| *j.pending.req.pvf.executor_params == params(2);
        let tag = |j: ExecuteJob| j.pending.req.params.relay_parent_number;

        let mut q = ExecuteQueue::default();
        q.push(with_params(1, 1));
        q.push(with_params(2, 2));
        q.push(with_params(3, 1));
        let now = Instant::now();
        assert_eq!(
            q.pop(now, fits).map(tag),
            Some(2),
            "the job for the idle worker first"
        );
        assert_eq!(q.pop(now, fits).map(tag), Some(1), "none fits: the eldest");

        let mut q = ExecuteQueue::default();
        q.push(with_params(1, 1));
        q.push(with_params(2, 2));
        let later = Instant::now() + MAX_KEEP_WAITING;
        assert_eq!(
            q.pop(later, fits).map(tag),
            Some(1),
            "the eldest waited long enough"
        );
    }

    /// The kinds of the first `n` jobs popped from a queue holding `each` jobs of each of
    /// `kinds`, pushed round-robin.
    fn order(kinds: &[PvfExecKind], each: usize, n: usize) -> Vec<PvfExecKind> {
        let mut q = ExecuteQueue::default();
        for i in 0..each {
            for &k in kinds {
                q.push(job(k, i as u32, None));
            }
        }
        (0..n)
            .map(|_| pop(&mut q).unwrap().pending.req.exec_kind)
            .collect()
    }

    fn count(v: &[PvfExecKind], k: PvfExecKind) -> usize {
        v.iter().filter(|&&x| x == k).count()
    }

    #[test]
    fn a_dispute_overtakes_a_flood_of_backing() {
        let mut q = ExecuteQueue::default();
        for i in 0..100 {
            q.push(job(Backing, i, None));
        }
        pop(&mut q);
        q.push(job(Dispute, 0, None));
        assert_eq!(pop(&mut q).unwrap().pending.req.exec_kind, Dispute);
    }

    // The reference's scheduling tests (`polkadot-node-core-pvf` 36, `execute/queue.rs`:
    // `test_unscheduled_priority_distribution*`, `test_unscheduled_does_not_postpone_backing`),
    // with the same inputs and expected counts.

    #[test]
    fn every_kind_waiting_gives_8_disputes_3_approvals_1_system_backing() {
        let v = order(
            &[Dispute, Approval, BackingSystemParas, Backing],
            WINDOW,
            WINDOW,
        );
        assert_eq!(count(&v, Dispute), 8);
        assert_eq!(count(&v, Approval), 3);
        assert_eq!(count(&v, BackingSystemParas), 1);
        assert_eq!(count(&v, Backing), 0);
    }

    #[test]
    fn without_system_parachains_backing_gets_the_last_slot() {
        let v = order(&[Dispute, Approval, Backing], WINDOW, WINDOW);
        assert_eq!(count(&v, Dispute), 8);
        assert_eq!(count(&v, Approval), 3);
        assert_eq!(count(&v, Backing), 1);
    }

    #[test]
    fn without_disputes_approvals_take_80_percent() {
        let v = order(&[Approval, BackingSystemParas, Backing], WINDOW, WINDOW);
        assert_eq!(count(&v, Approval), 9);
        assert_eq!(count(&v, BackingSystemParas), 2);
        assert_eq!(count(&v, Backing), 1);
    }

    #[test]
    fn one_backing_job_is_not_postponed_behind_approvals() {
        let mut q = ExecuteQueue::default();
        for i in 0..WINDOW {
            q.push(job(Approval, i as u32, None));
        }
        q.push(job(Backing, 0, None));
        let v: Vec<_> = (0..WINDOW)
            .map(|_| pop(&mut q).unwrap().pending.req.exec_kind)
            .collect();
        assert_eq!(count(&v, Approval), 11);
        assert_eq!(count(&v, Backing), 1);
        assert_eq!(&v[..4], &[Approval, Backing, Approval, Approval]);
    }

    #[test]
    fn backing_within_the_allowed_ancestry_is_kept_beyond_it_dropped() {
        let mut q = ExecuteQueue::default();
        let (leaf, parent, grandparent, old) =
            (Hash([1; 32]), Hash([2; 32]), Hash([3; 32]), Hash([4; 32]));
        q.push(job(Backing, 1, Some(leaf)));
        q.push(job(Backing, 2, Some(grandparent)));
        q.push(job(BackingSystemParas, 3, Some(old)));
        q.push(job(Backing, 4, Some(old)));
        q.push(job(Approval, 5, Some(old)));
        let view = Viability::new([ActiveLeaf {
            hash: leaf,
            ancestors: vec![parent, grandparent],
        }]);
        let mut dropped: Vec<u32> = q
            .take_expired(Some(&view), Instant::now())
            .iter()
            .map(|j| j.pending.req.params.relay_parent_number)
            .collect();
        dropped.sort();
        assert_eq!(dropped, vec![3, 4], "only those beyond the ancestry go");
        assert_eq!(q.depths().map(|(_, n)| n), [0, 1, 0, 2]);
        let later = Instant::now() + Duration::from_secs(3);
        assert_eq!(
            q.take_expired(None, later).len(),
            2,
            "outwaited their timeout"
        );
        assert_eq!(q.depths().map(|(_, n)| n), [0, 1, 0, 0]);
    }
}
