//! Heads-up for code the node will soon be asked to validate.
//!
//! A candidate backed in a block is approved and perhaps disputed within the next seconds,
//! with 12 s of execution time each; preparing its code then (up to the lenient preparation
//! timeout of 360 s) would make the node miss the window. So, as the reference's candidate
//! validation does, on every new active leaf it asks the runtime for the candidates backed in
//! that block and sends the host a heads-up for the code of those it has not announced in
//! this session, under the session's executor parameters. The host prepares what it lacks
//! and refreshes what it has (a heads-up keeps an artifact from being pruned).
//!
//! What it remembers: the leaves it handled, the code it announced in the current session
//! (cleared when the session changes, since the executor parameters may too), and the
//! executor parameters of the last [`DISPUTE_WINDOW_SESSIONS`] sessions in an LRU cache, so
//! a leaf in a known session costs two runtime-API round trips plus one per new code.
//!
//! Departure from the reference, on purpose: the reference does this only while the node
//! is an authority of the next session; this node has no notion of authorities and does it
//! on every leaf.

use super::{LOG_TARGET, precheck::ask};
use crate::host::ValidationHost;
use lru::LruCache;
use orchestra::SubsystemSender;
use pvf_messages::{
    ExecutorParams, Hash, PvfPrepKind, ValidationCodeHash,
    candidate_validation::{RuntimeApiMessage, SessionIndex},
    host::PvfPrepData,
};
use std::{
    collections::HashSet,
    num::NonZeroUsize,
    sync::{Arc, Mutex, MutexGuard},
};

/// Sessions whose executor parameters are kept: the reference's dispute window (a candidate
/// may be disputed for this many sessions after its inclusion).
pub const DISPUTE_WINDOW_SESSIONS: usize = 6;

/// Leaves remembered as handled (a leaf stays active for several signals).
const LEAVES_REMEMBERED: usize = 64;

struct State {
    session: Option<SessionIndex>,
    announced: HashSet<ValidationCodeHash>,
    executor_params: LruCache<SessionIndex, ExecutorParams>,
    leaves: LruCache<Hash, ()>,
}

/// What candidate validation remembers between leaves; cloning shares it.
#[derive(Clone)]
pub(super) struct Upcoming(Arc<Mutex<State>>);

impl Upcoming {
    pub(super) fn new() -> Self {
        let sessions = NonZeroUsize::new(DISPUTE_WINDOW_SESSIONS).expect("not zero");
        let leaves = NonZeroUsize::new(LEAVES_REMEMBERED).expect("not zero");
        Self(Arc::new(Mutex::new(State {
            session: None,
            announced: HashSet::new(),
            executor_params: LruCache::new(sessions),
            leaves: LruCache::new(leaves),
        })))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Plain data, never left half-changed by a panic.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The leaves among `leaves` not handled before; they are remembered as handled.
    pub(super) fn new_leaves(&self, leaves: impl IntoIterator<Item = Hash>) -> Vec<Hash> {
        let mut state = self.lock();
        leaves
            .into_iter()
            .filter(|leaf| state.leaves.put(*leaf, ()).is_none())
            .collect()
    }

    /// Sends the host a heads-up for the code of the candidates backed in `leaf` that this
    /// session has not announced yet. Unknown blocks, code or parameters are skipped (logged):
    /// a heads-up is an optimisation, never a verdict.
    pub(super) async fn on_new_leaf<S>(&self, sender: &mut S, host: &ValidationHost, leaf: Hash)
    where
        S: SubsystemSender<RuntimeApiMessage>,
    {
        let Some(session) = ask(sender, |tx| {
            RuntimeApiMessage::SessionIndexForChild(leaf, tx)
        })
        .await
        else {
            tracing::debug!(target: LOG_TARGET, %leaf, "heads-up: the leaf's session is unknown");
            return;
        };
        let backed = ask(sender, |tx| {
            RuntimeApiMessage::BackedCandidateCodeHashes(leaf, tx)
        })
        .await
        .unwrap_or_default();
        let (fresh, cached_params) = {
            let mut state = self.lock();
            if state.session != Some(session) {
                state.session = Some(session);
                state.announced.clear();
            }
            let fresh: Vec<_> = backed
                .into_iter()
                .filter(|hash| !state.announced.contains(hash))
                .collect();
            (fresh, state.executor_params.get(&session).cloned())
        };
        if fresh.is_empty() {
            return;
        }
        let params = match cached_params {
            Some(params) => params,
            None => {
                let Some(params) = ask(sender, |tx| {
                    RuntimeApiMessage::SessionExecutorParams(leaf, tx)
                })
                .await
                else {
                    tracing::debug!(target: LOG_TARGET, %leaf, session, "heads-up: no executor parameters");
                    return;
                };
                self.lock().executor_params.put(session, params.clone());
                params
            }
        };
        let mut pvfs = Vec::with_capacity(fresh.len());
        for code_hash in fresh {
            match ask(sender, |tx| {
                RuntimeApiMessage::ValidationCodeByHash(code_hash, tx)
            })
            .await
            {
                Some(code) if code.hash() == code_hash => {
                    pvfs.push(PvfPrepData::new(code, params.clone(), PvfPrepKind::Prepare));
                }
                _ => {
                    tracing::debug!(target: LOG_TARGET, %code_hash, "heads-up: code not found");
                }
            }
        }
        if pvfs.is_empty() {
            return;
        }
        {
            let mut state = self.lock();
            // The session may have moved on while this leaf was handled: then these belong
            // to the old one and are not remembered.
            if state.session == Some(session) {
                state.announced.extend(pvfs.iter().map(|p| p.code_hash));
            }
        }
        tracing::debug!(target: LOG_TARGET, %leaf, session, count = pvfs.len(), "heads-up for backed code");
        host.heads_up(pvfs).await;
    }
}
