//! The malicious behaviours, each a [`MessageInterceptor`](crate::interceptor::MessageInterceptor)
//! for one slot of the overseer.
//!
//! | variant | slot | lie |
//! |---|---|---|
//! | [`dispute_valid`] (`dispute-valid-candidates`) | candidate validation | a valid candidate is `Invalid` |
//! | [`back_garbage`] (`back-garbage-candidate`) | candidate validation | any candidate is `Valid`, never run |
//! | [`suggest_garbage`] (`suggest-garbage-candidate`) | candidate backing | seconds a garbage PoV under an honest-looking receipt |
//!
//! Every falsified answer logs one line at `info` on target `malus` containing
//! [`INTERCEPT_MARKER`], the variant name and the candidate hash: test scenarios count these
//! lines. Honest answers log nothing of the kind.

pub mod back_garbage;
pub mod dispute_valid;
pub mod suggest_garbage;

#[cfg(test)]
mod backing_tests;
#[cfg(test)]
mod validation_tests;

use futures::{
    FutureExt,
    channel::oneshot::{self, Canceled},
};
use pvf_messages::Hash;

/// The text every log line of a falsified answer contains.
pub const INTERCEPT_MARKER: &str = "MALUS intercept";

/// The log target of those lines.
pub const LOG_TARGET: &str = "malus";

/// Logs one falsified answer of `variant` about `candidate` (the receipt's hash).
pub fn log_intercept(variant: &'static str, candidate: Hash, what: &str) {
    tracing::info!(
        target: LOG_TARGET,
        variant,
        %candidate,
        "{INTERCEPT_MARKER}: {variant} {candidate}: {what}"
    );
}

/// Waits for the wrapped subsystem's answer on `rx` while watching the original caller's
/// channel: `None` if either side went away first (the caller then sees a cancellation, and
/// dropping `rx` tells the wrapped subsystem its caller left).
pub(crate) async fn relay<T>(
    rx: oneshot::Receiver<T>,
    caller: &mut oneshot::Sender<impl Sized>,
) -> Option<T> {
    futures::select_biased! {
        answer = rx.fuse() => answer.map_err(|Canceled| ()).ok(),
        () = caller.cancellation().fuse() => None,
    }
}

/// Picks `percentage` out of every hundred candidates, seeded and decided per candidate: the
/// same candidate always gets the same decision from one node (whether it is backed,
/// approved or disputed), while nodes with different seeds pick different candidates.
#[derive(Clone, Copy, Debug)]
pub struct Percentage {
    percentage: u8,
    seed: u64,
}

impl Percentage {
    /// `percentage` is clamped to 100.
    pub fn new(percentage: u8, seed: u64) -> Self {
        Self {
            percentage: percentage.min(100),
            seed,
        }
    }

    /// Whether `candidate` is one of the picked.
    pub fn picks(&self, candidate: Hash) -> bool {
        let mut hasher = blake3::Hasher::new();
        hasher.update(&self.seed.to_le_bytes());
        hasher.update(&candidate.0);
        let roll = u64::from_le_bytes(
            hasher.finalize().as_bytes()[..8]
                .try_into()
                .expect("8 bytes"),
        );
        roll % 100 < u64::from(self.percentage)
    }
}

/// A seed that differs between runs: the clock and the process id.
pub fn random_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    nanos ^ (u64::from(std::process::id()) << 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates() -> impl Iterator<Item = Hash> {
        (0u16..1000).map(|i| {
            let mut h = [0; 32];
            h[..2].copy_from_slice(&i.to_le_bytes());
            Hash(h)
        })
    }

    #[test]
    fn percentage_picks_about_that_share_and_always_the_same() {
        for pct in [0u8, 30, 100] {
            let p = Percentage::new(pct, 7);
            let picked = candidates().filter(|c| p.picks(*c)).count();
            match pct {
                0 => assert_eq!(picked, 0),
                100 => assert_eq!(picked, 1000),
                _ => assert!((200..400).contains(&picked), "{picked} of 1000 at {pct}%"),
            }
            assert!(candidates().all(|c| p.picks(c) == p.picks(c)));
        }
        let (a, b) = (Percentage::new(50, 1), Percentage::new(50, 2));
        assert!(
            candidates().any(|c| a.picks(c) != b.picks(c)),
            "the seed changes the picks"
        );
    }

    #[test]
    fn above_a_hundred_is_a_hundred() {
        let p = Percentage::new(200, 0);
        assert!(candidates().all(|c| p.picks(c)));
    }
}
