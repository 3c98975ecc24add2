//! The sweeper: an actor that does the host's file work on the blocking thread pool, so the
//! host never waits on the disk: deleting artifacts (pruned, proven unusable, failed at
//! runtime construction) and recording failed preparations in the cache.

use super::artifacts::{ArtifactId, CacheDir};
use pvf_messages::PrepareError;
use std::path::PathBuf;
use tokio::sync::mpsc;

/// File work for the sweeper.
#[derive(Debug)]
pub(crate) enum ToSweeper {
    /// Delete an artifact the table no longer lists; the host hears back when it is gone,
    /// so that a new preparation of the same artifact never races the deletion.
    Delete {
        /// The artifact.
        id: ArtifactId,
        /// Its file.
        path: PathBuf,
    },
    /// Persist a failed preparation, so that a restart does not repeat it.
    RecordFailure {
        /// The artifact.
        id: ArtifactId,
        /// Its error.
        error: PrepareError,
    },
}

/// Runs until the host drops its sender, doing each piece of work in order and reporting
/// each deleted artifact on `deleted`.
pub(crate) async fn run(
    cache: CacheDir,
    mut work: mpsc::UnboundedReceiver<ToSweeper>,
    deleted: mpsc::UnboundedSender<ArtifactId>,
) {
    while let Some(first) = work.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = work.try_recv() {
            batch.push(more);
        }
        let cache = cache.clone();
        let done = tokio::task::spawn_blocking(move || {
            batch
                .into_iter()
                .filter_map(|item| sweep(&cache, item))
                .collect::<Vec<_>>()
        });
        for id in done.await.unwrap_or_default() {
            let _ = deleted.send(id);
        }
    }
}

/// Does one piece of work; returns the artifact it deleted, if it was a deletion.
fn sweep(cache: &CacheDir, item: ToSweeper) -> Option<ArtifactId> {
    match item {
        ToSweeper::Delete { id, path } => {
            match std::fs::remove_file(&path) {
                Ok(()) => tracing::debug!(path = %path.display(), "deleted an artifact"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(path = %path.display(), %e, "cannot delete an artifact"),
            }
            Some(id)
        }
        ToSweeper::RecordFailure { id, error } => {
            if let Err(e) = cache.record_failure(&id, &error) {
                tracing::warn!(%e, "cannot record a failed preparation in the cache");
            }
            None
        }
    }
}

/// Removes worker folders that earlier faults left behind (a worker dropped while the cache
/// was read-only), on the blocking thread pool.
pub(crate) async fn clear_workers_dir(cache: CacheDir) {
    let cleared = tokio::task::spawn_blocking(move || cache.clear_workers_dir()).await;
    match cleared {
        Ok(Ok(0)) => {}
        Ok(Ok(left)) => tracing::info!(left, "removed worker folders left by earlier faults"),
        Ok(Err(e)) => tracing::warn!(%e, "cannot clear the workers folder"),
        Err(e) => tracing::warn!(%e, "clearing the workers folder panicked"),
    }
}
