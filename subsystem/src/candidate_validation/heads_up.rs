//! A heads-up: fetch code that will soon be needed and let the host prepare it when a
//! prepare worker is free, so the first candidate that needs it does not wait for it.

use super::{LOG_TARGET, precheck::ask};
use crate::host::ValidationHost;
use orchestra::SubsystemSender;
use pvf_messages::{
    Hash, PvfPrepKind, ValidationCodeHash,
    candidate_validation::{HeadsUpError, RuntimeApiMessage},
    host::PvfPrepData,
};

/// Fetches each code and the executor parameters of `relay_parent`'s session from the
/// runtime API and hands every code found to the host's heads-up.
///
/// Code the runtime API does not know (or returns under another hash) is reported back,
/// after the rest has been handed to the host.
pub(super) async fn heads_up<S>(
    sender: &mut S,
    host: &ValidationHost,
    relay_parent: Hash,
    code_hashes: Vec<ValidationCodeHash>,
) -> Result<(), HeadsUpError>
where
    S: SubsystemSender<RuntimeApiMessage>,
{
    let Some(params) = ask(sender, |tx| {
        RuntimeApiMessage::SessionExecutorParams(relay_parent, tx)
    })
    .await
    else {
        return Err(HeadsUpError::UnknownExecutorParams(relay_parent));
    };
    let mut pvfs = Vec::with_capacity(code_hashes.len());
    let mut unknown = Vec::new();
    for code_hash in code_hashes {
        let code = ask(sender, |tx| {
            RuntimeApiMessage::ValidationCodeByHash(code_hash, tx)
        })
        .await;
        match code.map(|code| PvfPrepData::new(code, params.clone(), PvfPrepKind::Prepare)) {
            Some(pvf) if pvf.code_hash == code_hash => pvfs.push(pvf),
            _ => unknown.push(code_hash),
        }
    }
    tracing::debug!(
        target: LOG_TARGET,
        known = pvfs.len(),
        unknown = unknown.len(),
        "heads-up"
    );
    if !pvfs.is_empty() {
        host.heads_up(pvfs).await;
    }
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(HeadsUpError::UnknownCode(unknown))
    }
}
