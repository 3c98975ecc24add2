//! Vote counting: dispute supermajorities, who is slashed, and pre-check outcomes.
//!
//! Polkadot's thresholds: with `n` validators at most `f = (n - 1) / 3` are assumed
//! byzantine, and a supermajority is `n - f`. A dispute concludes for the side that reaches
//! it; a validator counts once, by its dispute vote if it cast one, else by its earlier
//! statement (backing or approval), as Polkadot imports those into the dispute. The losing
//! side is slashed: every validator that signed any statement for it — so a backer of a
//! candidate concluded invalid is slashed even if it voted against it later.
//! A code upgrade is accepted by a supermajority of pre-check votes for it and rejected once
//! more than `n - supermajority` voted against it (acceptance can no longer be reached).

use std::collections::BTreeMap;

/// Which way a statement goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The candidate (or code) is valid.
    Valid,
    /// It is invalid.
    Invalid,
}

/// Where a statement was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Seconding or backing.
    Backing,
    /// Approval checking.
    Approval,
    /// Dispute participation.
    Dispute,
}

/// The largest number of byzantine validators among `n`.
pub fn byzantine_threshold(n: usize) -> usize {
    n.saturating_sub(1) / 3
}

/// The votes a side needs among `n` validators.
pub fn supermajority(n: usize) -> usize {
    n - byzantine_threshold(n)
}

/// The statements made on one candidate, by validator index.
#[derive(Clone, Debug, Default)]
pub struct Statements {
    by_validator: BTreeMap<usize, Vec<(Stage, Side)>>,
}

impl Statements {
    /// Records a statement.
    pub fn add(&mut self, validator: usize, stage: Stage, side: Side) {
        self.by_validator
            .entry(validator)
            .or_default()
            .push((stage, side));
    }

    /// Whether anyone stated `side`.
    pub fn any(&self, side: Side) -> bool {
        self.by_validator
            .values()
            .flatten()
            .any(|(_, s)| *s == side)
    }

    /// The validators that stated `side` at `stage`.
    pub fn at(&self, stage: Stage, side: Side) -> Vec<usize> {
        self.by_validator
            .iter()
            .filter(|(_, st)| st.contains(&(stage, side)))
            .map(|(v, _)| *v)
            .collect()
    }

    /// Each validator's counted vote: its last dispute vote, else its last statement.
    pub fn tally(&self) -> (usize, usize) {
        let mut valid = 0;
        let mut invalid = 0;
        for st in self.by_validator.values() {
            let counted = st
                .iter()
                .rev()
                .find(|(stage, _)| *stage == Stage::Dispute)
                .or(st.last());
            match counted {
                Some((_, Side::Valid)) => valid += 1,
                Some((_, Side::Invalid)) => invalid += 1,
                None => {}
            }
        }
        (valid, invalid)
    }

    /// The side that reached a supermajority of `n`, if any.
    pub fn outcome(&self, n: usize) -> Option<Side> {
        let (valid, invalid) = self.tally();
        let needed = supermajority(n);
        if valid >= needed {
            Some(Side::Valid)
        } else if invalid >= needed {
            Some(Side::Invalid)
        } else {
            None
        }
    }

    /// The validators slashed when the dispute concluded `outcome`: every signer of the
    /// other side.
    pub fn slashed(&self, outcome: Side) -> Vec<usize> {
        let losing = match outcome {
            Side::Valid => Side::Invalid,
            Side::Invalid => Side::Valid,
        };
        self.by_validator
            .iter()
            .filter(|(_, st)| st.iter().any(|(_, s)| *s == losing))
            .map(|(v, _)| *v)
            .collect()
    }
}

/// The outcome of pre-check voting among `n` validators: `Some(Valid)` accepted,
/// `Some(Invalid)` rejected, `None` undecided.
pub fn precheck_outcome(n: usize, accept: usize, reject: usize) -> Option<Side> {
    let needed = supermajority(n);
    if accept >= needed {
        Some(Side::Valid)
    } else if reject > n - needed {
        Some(Side::Invalid)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_follow_polkadot() {
        for (n, f, s) in [
            (1, 0, 1),
            (3, 0, 3),
            (4, 1, 3),
            (6, 1, 5),
            (7, 2, 5),
            (8, 2, 6),
            (10, 3, 7),
        ] {
            assert_eq!(
                (byzantine_threshold(n), supermajority(n)),
                (f, s),
                "n = {n}"
            );
        }
    }

    #[test]
    fn one_liar_among_four_loses_and_is_slashed() {
        let mut s = Statements::default();
        s.add(0, Stage::Backing, Side::Valid);
        s.add(1, Stage::Backing, Side::Valid);
        s.add(3, Stage::Approval, Side::Invalid);
        assert_eq!(s.outcome(4), None, "2 valid of 3 needed");
        s.add(2, Stage::Dispute, Side::Valid);
        assert_eq!(s.tally(), (3, 1));
        assert_eq!(s.outcome(4), Some(Side::Valid));
        assert_eq!(s.slashed(Side::Valid), [3]);
    }

    #[test]
    fn backers_of_garbage_are_slashed_even_if_they_turn() {
        let mut s = Statements::default();
        s.add(4, Stage::Backing, Side::Valid);
        s.add(5, Stage::Backing, Side::Valid);
        for v in 0..4 {
            s.add(v, Stage::Approval, Side::Invalid);
            s.add(v, Stage::Dispute, Side::Invalid);
        }
        // A backer votes against in the dispute: its dispute vote counts …
        s.add(5, Stage::Dispute, Side::Invalid);
        assert_eq!(s.tally(), (1, 5));
        assert_eq!(s.outcome(6), Some(Side::Invalid));
        // … but its backing statement still gets it slashed.
        assert_eq!(s.slashed(Side::Invalid), [4, 5]);
        assert_eq!(s.at(Stage::Backing, Side::Valid), [4, 5]);
    }

    #[test]
    fn more_than_a_third_of_liars_stalls_the_dispute() {
        let mut s = Statements::default();
        for v in 0..4 {
            s.add(v, Stage::Dispute, Side::Valid);
        }
        for v in 4..7 {
            s.add(v, Stage::Dispute, Side::Invalid);
        }
        assert_eq!(s.outcome(7), None);
        assert!(s.any(Side::Invalid) && s.any(Side::Valid));
    }

    #[test]
    fn precheck_accepts_by_supermajority_rejects_beyond_a_third() {
        assert_eq!(precheck_outcome(4, 3, 0), Some(Side::Valid));
        assert_eq!(precheck_outcome(4, 2, 1), None);
        assert_eq!(precheck_outcome(4, 2, 2), Some(Side::Invalid));
        assert_eq!(precheck_outcome(3, 0, 1), Some(Side::Invalid));
        assert_eq!(precheck_outcome(7, 5, 2), Some(Side::Valid));
        assert_eq!(precheck_outcome(7, 4, 2), None);
        assert_eq!(precheck_outcome(7, 0, 3), Some(Side::Invalid));
    }
}
