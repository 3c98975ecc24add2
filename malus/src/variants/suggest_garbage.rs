//! `suggest-garbage-candidate`: seconds a candidate with a garbage PoV under a receipt that
//! looks honest (the reference's variant of the same name).
//!
//! The honest collation is validated for real (the interceptor swaps the request's response
//! channel for its own). Once it is found valid and seconded, the PoV is replaced by garbage
//! of the same size and the descriptor's `pov_hash` by the garbage's hash; everything else —
//! para, relay parent, validation-data hash, head hash, code hash, commitments hash — stays
//! the honest collation's. The receipt then passes every check that does not run the block;
//! only validators that execute it (the other backers, the approval checkers) see that it is
//! invalid. Collations found invalid, failures and everything else pass unchanged.

use super::{LOG_TARGET, log_intercept, random_seed, relay};
use crate::interceptor::{Interception, MessageInterceptor};
use futures::channel::oneshot;
use pvf_messages::{
    BlockData, PoV,
    candidate_backing::{CandidateBackingMessage, SecondOutcome, SecondedCandidate},
};
use std::sync::Arc;

/// The variant's name on the command line and in its log lines.
pub const NAME: &str = "suggest-garbage-candidate";

/// The variant's command-line options.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Seed of the garbage (default: a new one each run, logged at start).
    #[arg(long)]
    pub seed: Option<u64>,
}

/// Garbage of the same size as `pov` (at least one byte, so that it differs from an empty
/// PoV), derived from `seed` and the original PoV so that it differs from it.
pub fn garbage_pov(pov: &PoV, seed: u64) -> PoV {
    let original = &pov.block_data.0;
    let mut hasher = blake3::Hasher::new();
    hasher.update(&seed.to_le_bytes());
    hasher.update(original);
    let mut garbage = vec![0; original.len().max(1)];
    hasher.finalize_xof().fill(&mut garbage);
    if garbage == *original {
        garbage[0] ^= 0xff;
    }
    PoV {
        block_data: BlockData(garbage),
    }
}

/// The seconded candidate with its PoV replaced by garbage and the receipt's PoV hash
/// updated to match; nothing else changes.
pub fn with_garbage(honest: &SecondedCandidate, seed: u64) -> SecondedCandidate {
    let pov = garbage_pov(&honest.pov, seed);
    let mut candidate_receipt = honest.candidate_receipt.clone();
    candidate_receipt.descriptor.pov_hash = pov.hash();
    SecondedCandidate {
        candidate_receipt,
        pov: Arc::new(pov),
    }
}

/// The interceptor in front of candidate backing.
#[derive(Clone, Copy, Debug)]
pub struct SuggestGarbage {
    seed: u64,
}

impl SuggestGarbage {
    /// Garbage derived from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }

    /// From the command line (a fresh seed unless one is given; logged).
    pub fn from_args(args: &Args) -> Self {
        let seed = args.seed.unwrap_or_else(random_seed);
        tracing::info!(target: LOG_TARGET, variant = NAME, seed, "malus variant active");
        Self::new(seed)
    }
}

impl<Sender: Send + 'static> MessageInterceptor<Sender> for SuggestGarbage {
    type Message = CandidateBackingMessage;

    fn intercept_incoming(
        &self,
        interception: &mut Interception<'_, Sender>,
        mut msg: CandidateBackingMessage,
    ) -> Option<CandidateBackingMessage> {
        let CandidateBackingMessage::Second {
            response_sender, ..
        } = &mut msg;
        let (ours, rx) = oneshot::channel();
        let mut caller = std::mem::replace(response_sender, ours);
        let seed = self.seed;
        interception.spawn("malus-suggest-garbage", async move {
            let Some(outcome) = relay(rx, &mut caller).await else {
                return;
            };
            let outcome = match outcome {
                SecondOutcome::Seconded(honest) => {
                    let garbage = with_garbage(&honest, seed);
                    log_intercept(
                        NAME,
                        garbage.candidate_receipt.hash(),
                        &format!(
                            "seconded a garbage PoV instead of candidate {}",
                            honest.candidate_receipt.hash()
                        ),
                    );
                    SecondOutcome::Seconded(garbage)
                }
                honest => honest,
            };
            let _ = caller.send(outcome);
        });
        Some(msg)
    }
}
