//! Pre-checking a code upgrade: fetch the code and the executor parameters, prepare it.

use super::LOG_TARGET;
use crate::host::ValidationHost;
use futures::channel::oneshot;
use orchestra::SubsystemSender;
use pvf_messages::{
    Hash, PvfPrepKind, ValidationCodeHash,
    candidate_validation::{PreCheckOutcome, RuntimeApiMessage},
    host::PvfPrepData,
};

/// Asks the runtime API through `sender` and awaits the answer; `None` if it is unknown or the
/// runtime API dropped the request.
pub(super) async fn ask<S, T>(
    sender: &mut S,
    request: impl FnOnce(oneshot::Sender<Option<T>>) -> RuntimeApiMessage,
) -> Option<T>
where
    S: SubsystemSender<RuntimeApiMessage>,
{
    let (tx, rx) = oneshot::channel();
    sender.send_message(request(tx)).await;
    rx.await.ok().flatten()
}

/// Pre-checks the code with hash `code_hash` under the executor parameters of
/// `relay_parent`'s session.
///
/// `Valid` if it prepares, `Invalid` only for a deterministic preparation failure, `Failed`
/// when there is nothing to judge (code or parameters unknown, the fetched code does not
/// match its hash) or the failure may be local (a timeout, a dead worker, an I/O error).
pub(super) async fn precheck<S>(
    sender: &mut S,
    host: &ValidationHost,
    relay_parent: Hash,
    code_hash: ValidationCodeHash,
) -> PreCheckOutcome
where
    S: SubsystemSender<RuntimeApiMessage>,
{
    let Some(code) = ask(sender, |tx| {
        RuntimeApiMessage::ValidationCodeByHash(code_hash, tx)
    })
    .await
    else {
        tracing::warn!(target: LOG_TARGET, %code_hash, "pre-check: code not found");
        return PreCheckOutcome::Failed;
    };
    let Some(params) = ask(sender, |tx| {
        RuntimeApiMessage::SessionExecutorParams(relay_parent, tx)
    })
    .await
    else {
        tracing::warn!(target: LOG_TARGET, %relay_parent, "pre-check: executor parameters not found");
        return PreCheckOutcome::Failed;
    };
    let pvf = PvfPrepData::new(code, params, PvfPrepKind::Precheck);
    if pvf.code_hash != code_hash {
        tracing::warn!(
            target: LOG_TARGET,
            %code_hash,
            got = %pvf.code_hash,
            "pre-check: the runtime API returned code with another hash"
        );
        return PreCheckOutcome::Failed;
    }
    match host.precheck_pvf(pvf).await {
        Ok(()) => PreCheckOutcome::Valid,
        Err(e) if e.is_deterministic() => {
            tracing::info!(target: LOG_TARGET, %code_hash, error = %e, "pre-check: invalid code");
            PreCheckOutcome::Invalid
        }
        Err(e) => {
            tracing::warn!(target: LOG_TARGET, %code_hash, error = %e, "pre-check failed locally");
            PreCheckOutcome::Failed
        }
    }
}
