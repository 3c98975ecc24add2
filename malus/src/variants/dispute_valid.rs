//! `dispute-valid-candidates`: votes valid candidates invalid (the reference's
//! dispute-ancestor), so that honest validators must dispute and win.
//!
//! The real validation still runs: the interceptor swaps the request's response channel for
//! its own and rewrites only a `Valid` answer, into `Invalid(<fake reason>)`. Invalid answers,
//! no-vote failures and pre-checks pass unchanged, and so does every candidate that
//! `--percentage` leaves out, so the node behaves (and is timed) like an honest one except for
//! the lie itself.

use super::{Percentage, log_intercept, random_seed, relay};
use crate::interceptor::{Interception, MessageInterceptor};
use futures::channel::oneshot;
use parity_scale_codec::Encode;
use pvf_messages::{
    InvalidCandidate, PersistedValidationData, PoV, PossiblyInvalidError,
    candidate_validation::{CandidateValidationMessage, CandidateVerdict, InvalidCandidateReason},
};

/// The variant's name on the command line and in its log lines.
pub const NAME: &str = "dispute-valid-candidates";

/// Which [`InvalidCandidateReason`] the lie gives (the kebab-case names of its variants).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, clap::ValueEnum)]
pub enum FakeValidationError {
    /// The PoV is larger than the validation data allows (with the real sizes).
    #[value(name = "pov-too-large")]
    PoVTooLarge,
    /// The PoV does not match the descriptor's PoV hash.
    #[value(name = "pov-hash-mismatch")]
    PoVHashMismatch,
    /// The code does not match the descriptor's code hash.
    CodeHashMismatch,
    /// The validation data does not match the descriptor's hash of it.
    PersistedValidationDataHashMismatch,
    /// The output head does not match the descriptor's para head hash.
    ParaHeadHashMismatch,
    /// The outputs do not match the receipt's commitments hash.
    CommitmentsHashMismatch,
    /// The PVF failed to execute (the reference's default): an execution error as an honest
    /// node reports a failure that persisted after its retries.
    #[default]
    Execution,
}

impl FakeValidationError {
    /// The reason given for a candidate with this validation data and PoV.
    pub fn reason(self, data: &PersistedValidationData, pov: &PoV) -> InvalidCandidateReason {
        match self {
            Self::PoVTooLarge => InvalidCandidateReason::PoVTooLarge {
                pov_size: pov.encoded_size() as u64,
                max_pov_size: data.max_pov_size,
            },
            Self::PoVHashMismatch => InvalidCandidateReason::PoVHashMismatch,
            Self::CodeHashMismatch => InvalidCandidateReason::CodeHashMismatch,
            Self::PersistedValidationDataHashMismatch => {
                InvalidCandidateReason::PersistedValidationDataHashMismatch
            }
            Self::ParaHeadHashMismatch => InvalidCandidateReason::ParaHeadHashMismatch,
            Self::CommitmentsHashMismatch => InvalidCandidateReason::CommitmentsHashMismatch,
            Self::Execution => InvalidCandidateReason::Execution(InvalidCandidate::ExecutionError(
                PossiblyInvalidError::AmbiguousWorkerDeath.to_string(),
            )),
        }
    }
}

/// The variant's command-line options.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Percentage of valid candidates to vote invalid (0..=100), decided per candidate.
    #[arg(long, short, default_value_t = 100, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub percentage: u8,
    /// The reason the false `Invalid` verdicts give.
    #[arg(long, value_enum, ignore_case = true, default_value_t = FakeValidationError::Execution)]
    pub fake_validation_error: FakeValidationError,
    /// Seed of the per-candidate choice (default: a new one each run, logged at start).
    #[arg(long)]
    pub seed: Option<u64>,
}

/// The interceptor in front of candidate validation.
#[derive(Clone, Copy, Debug)]
pub struct DisputeValid {
    pick: Percentage,
    error: FakeValidationError,
}

impl DisputeValid {
    /// Lies about the candidates `pick` picks, with `error`.
    pub fn new(pick: Percentage, error: FakeValidationError) -> Self {
        Self { pick, error }
    }

    /// From the command line (a fresh seed unless one is given; logged).
    pub fn from_args(args: &Args) -> Self {
        let seed = args.seed.unwrap_or_else(random_seed);
        tracing::info!(
            target: super::LOG_TARGET,
            variant = NAME,
            percentage = args.percentage,
            fake_validation_error = ?args.fake_validation_error,
            seed,
            "malus variant active"
        );
        Self::new(
            Percentage::new(args.percentage, seed),
            args.fake_validation_error,
        )
    }
}

impl<Sender: Send + 'static> MessageInterceptor<Sender> for DisputeValid {
    type Message = CandidateValidationMessage;

    fn intercept_incoming(
        &self,
        interception: &mut Interception<'_, Sender>,
        mut msg: CandidateValidationMessage,
    ) -> Option<CandidateValidationMessage> {
        let CandidateValidationMessage::ValidateFromExhaustive {
            validation_data,
            candidate_receipt,
            pov,
            response_sender,
            ..
        } = &mut msg
        else {
            return Some(msg);
        };
        let candidate = candidate_receipt.hash();
        if !self.pick.picks(candidate) {
            return Some(msg);
        }
        let fake = self.error.reason(validation_data, pov);
        let (ours, rx) = oneshot::channel();
        let mut caller = std::mem::replace(response_sender, ours);
        interception.spawn("malus-dispute-valid", async move {
            let Some(answer) = relay(rx, &mut caller).await else {
                return;
            };
            let answer = match answer {
                Ok(CandidateVerdict::Valid(..)) => {
                    log_intercept(
                        NAME,
                        candidate,
                        &format!("valid answered as invalid: {fake}"),
                    );
                    Ok(CandidateVerdict::Invalid(fake))
                }
                honest => honest,
            };
            let _ = caller.send(answer);
        });
        Some(msg)
    }
}
