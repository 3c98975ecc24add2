//! The handle callers hold: typed requests into the host actor, one answer each.

use super::HostStats;
use futures::channel::oneshot;
use pvf_messages::{
    Hash, InternalValidationError, PrepareError, PvfExecKind, ValidationError, ValidationParams,
    host::{ActiveLeaf, ExecutePvf, PrecheckResult, PvfPrepData, ToHost, ValidationOutcome},
};
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::mpsc;

/// A cloneable handle to a running validation host.
///
/// If the host has stopped, requests are answered with an error that says so (an internal
/// error for executions, a worker failure for pre-checks), never with a verdict.
#[derive(Clone, Debug)]
pub struct ValidationHost {
    to_host: mpsc::Sender<ToHost>,
    stats: Arc<Mutex<HostStats>>,
}

const HOST_GONE: &str = "the validation host has shut down";

impl ValidationHost {
    /// Wraps the sending side of the host's request channel.
    pub fn new(to_host: mpsc::Sender<ToHost>) -> Self {
        Self::with_stats(to_host, Arc::default())
    }

    /// Wraps the request channel and the counters of a running host.
    pub(crate) fn with_stats(to_host: mpsc::Sender<ToHost>, stats: Arc<Mutex<HostStats>>) -> Self {
        Self { to_host, stats }
    }

    /// A snapshot of the host's counters.
    pub fn stats(&self) -> HostStats {
        self.stats
            .lock()
            .expect("stats lock is never poisoned")
            .clone()
    }

    /// Prepares `pvf` with critical priority (a pre-check) and reports whether it prepared.
    pub async fn precheck_pvf(&self, pvf: PvfPrepData) -> PrecheckResult {
        let (response, rx) = oneshot::channel();
        if self
            .to_host
            .send(ToHost::PrecheckPvf { pvf, response })
            .await
            .is_err()
        {
            return Err(PrepareError::IoErr(HOST_GONE.into()));
        }
        rx.await
            .unwrap_or_else(|_| Err(PrepareError::IoErr(HOST_GONE.into())))
    }

    /// Executes a candidate, preparing the PVF first if needed.
    pub async fn execute_pvf(
        &self,
        pvf: PvfPrepData,
        params: ValidationParams,
        exec_timeout: Duration,
        exec_kind: PvfExecKind,
        relay_parent: Option<Hash>,
    ) -> ValidationOutcome {
        let gone = || {
            ValidationError::Internal(InternalValidationError::HostCommunication(HOST_GONE.into()))
        };
        let (response, rx) = oneshot::channel();
        let req = ExecutePvf {
            pvf,
            params,
            exec_timeout,
            exec_kind,
            relay_parent,
            response,
        };
        if self.to_host.send(ToHost::ExecutePvf(req)).await.is_err() {
            return Err(gone());
        }
        rx.await.unwrap_or_else(|_| Err(gone()))
    }

    /// Asks the host to prepare `pvfs` ahead of need.
    pub async fn heads_up(&self, pvfs: Vec<PvfPrepData>) {
        let _ = self.to_host.send(ToHost::HeadsUp { pvfs }).await;
    }

    /// Tells the host which relay-chain blocks are active leaves (the full set), each with
    /// its allowed ancestry (a bare [`Hash`] is a leaf without ancestry).
    pub async fn update_active_leaves(
        &self,
        active: impl IntoIterator<Item = impl Into<ActiveLeaf>>,
    ) {
        let active = active.into_iter().map(Into::into).collect();
        let _ = self
            .to_host
            .send(ToHost::UpdateActiveLeaves { active })
            .await;
    }
}
