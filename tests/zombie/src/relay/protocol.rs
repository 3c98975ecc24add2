//! Backing, approval checking and disputes of one candidate (see the parent module).

use super::candidate::{Candidate, SecondOutcome, Verdict, to_hex};
use super::votes::{Side, Stage, Statements};
use super::{DisputeRecord, DisputeStatus, Included, Relay, VALIDATION_TIMEOUT};
use pvf_messages::primitives::blake2_256;
use rand::seq::SliceRandom;
use serde_json::json;

impl Relay {
    /// The backing group of `para` at block `number`: groups of `group_size` in node order
    /// (the last takes the remainder), rotating over the parachains every block.
    pub(crate) fn group(&self, para_index: usize, number: u32) -> Vec<usize> {
        let n = self.validators.len();
        let size = self.params.group_size.min(n);
        let groups: Vec<Vec<usize>> = (0..n / size)
            .map(|g| {
                let end = if g + 1 == n / size { n } else { (g + 1) * size };
                (g * size..end).collect()
            })
            .collect();
        groups[(para_index + number as usize) % groups.len()].clone()
    }

    async fn validate(&self, v: usize, candidate: &Candidate, kind: &str) -> Verdict {
        match self
            .call(
                v,
                "pvf_validateCandidate",
                json!([candidate, kind]),
                VALIDATION_TIMEOUT,
            )
            .await
        {
            Ok(answer) => Verdict::from_json(&answer),
            Err(e) => Verdict::NoVote(e),
        }
    }

    fn release(&self, para: u32) {
        let mut state = self.state.lock().expect("state lock");
        if let Some(p) = state.paras.get_mut(&para) {
            p.busy = false;
        }
    }

    fn not_backed(&self, para: u32, why: String) {
        let mut state = self.state.lock().expect("state lock");
        if let Some(p) = state.paras.get_mut(&para) {
            p.facts.not_backed += 1;
        }
        state.event(format!("parachain {para}: not backed: {why}"));
    }

    /// Collates, seconds and backs a candidate of `para` on the leaf `relay_parent`.
    pub(crate) async fn back(&self, para: u32, relay_parent: [u8; 32], number: u32) {
        self.back_inner(para, relay_parent, number).await;
        self.release(para);
    }

    async fn back_inner(&self, para: u32, relay_parent: [u8; 32], number: u32) {
        let (collator, parent_head, code_hash, para_index) = {
            let state = self.state.lock().expect("state lock");
            let index = state
                .paras
                .keys()
                .position(|id| *id == para)
                .expect("a known para");
            let p = &state.paras[&para];
            (p.collator.clone(), p.head.clone(), p.code_hash, index)
        };
        let head = parent_head.clone();
        let collation = tokio::task::spawn_blocking(move || {
            collator
                .lock()
                .expect("collator lock")
                .collate(&head, number)
        })
        .await
        .expect("the collator does not panic");
        let Some(collation) = collation else {
            let mut state = self.state.lock().expect("state lock");
            if let Some(p) = state.paras.get_mut(&para) {
                p.exhausted = true;
            }
            state.event(format!("parachain {para}: the collator has no more blocks"));
            return;
        };
        let collation_candidate = Candidate::new(
            para,
            &collation,
            relay_parent,
            code_hash,
            self.params.max_pov_size,
        );
        let group = self.group(para_index, number);
        let seconder = group[number as usize % group.len()];
        let answer = self
            .call(
                seconder,
                "pvf_second",
                json!([collation_candidate, "backing"]),
                VALIDATION_TIMEOUT,
            )
            .await;
        let candidate = match answer.map(|a| SecondOutcome::from_json(&a)) {
            Ok(SecondOutcome::Seconded(c)) => *c,
            Ok(SecondOutcome::Invalid(r)) => {
                let name = &self.validators[seconder].name;
                return self.not_backed(para, format!("{name} found the collation invalid: {r}"));
            }
            Ok(SecondOutcome::Failed(e)) | Err(e) => {
                let name = &self.validators[seconder].name;
                return self.not_backed(para, format!("{name} did not second: {e}"));
            }
        };
        let mut statements = Statements::default();
        statements.add(seconder, Stage::Backing, Side::Valid);
        let others: Vec<usize> = group.iter().copied().filter(|v| *v != seconder).collect();
        let verdicts = futures::future::join_all(
            others
                .iter()
                .map(|v| self.validate(*v, &candidate, "backing")),
        )
        .await;
        let mut head = None;
        for (v, verdict) in others.iter().zip(verdicts) {
            match verdict {
                Verdict::Valid { head_data } => {
                    statements.add(*v, Stage::Backing, Side::Valid);
                    head.get_or_insert(head_data);
                }
                Verdict::Invalid(_) => statements.add(*v, Stage::Backing, Side::Invalid),
                Verdict::NoVote(_) => {}
            }
        }
        let backers = statements.at(Stage::Backing, Side::Valid);
        if statements.any(Side::Invalid) {
            self.not_backed(
                para,
                format!("candidate {} found invalid by a backer", candidate.label()),
            );
            return self.dispute(candidate, statements).await;
        }
        let needed = self.params.min_backing_votes.min(group.len());
        if backers.len() < needed {
            return self.not_backed(
                para,
                format!(
                    "candidate {}: {} of {needed} backing votes",
                    candidate.label(),
                    backers.len()
                ),
            );
        }
        // The head the candidate commits to: the collator's if the seconded receipt is the
        // collation's, else the one a backer's validation produced.
        let claimed = to_hex(&blake2_256(&collation.head).0);
        let new_head = if candidate.para_head == claimed {
            collation.head.clone()
        } else if let Some(h) = head.filter(|h| to_hex(&blake2_256(h).0) == candidate.para_head) {
            h
        } else {
            return self.not_backed(
                para,
                format!(
                    "candidate {}: no head matches its para_head",
                    candidate.label()
                ),
            );
        };
        {
            let mut state = self.state.lock().expect("state lock");
            let p = state.paras.get_mut(&para).expect("a known para");
            if p.head != parent_head {
                return; // reverted meanwhile: this candidate builds on a dead head
            }
            p.facts.backed += 1;
            p.facts.height += 1;
            p.chain.push(Included {
                id: candidate.id(),
                parent_head: parent_head.clone(),
            });
            p.head = new_head;
            let names: Vec<&str> = backers
                .iter()
                .map(|v| self.validators[*v].name.as_str())
                .collect();
            state.event(format!(
                "parachain {para}: candidate {} backed by {} and included at block {number}",
                candidate.label(),
                names.join(", ")
            ));
        }
        let relay = self.clone();
        tokio::spawn(async move { relay.approve(candidate, statements).await });
    }

    /// Approval checking by checkers other than the backers; no-shows are replaced.
    async fn approve(&self, candidate: Candidate, mut statements: Statements) {
        let para = candidate.para_id;
        let backers = statements.at(Stage::Backing, Side::Valid);
        let (mut pool, mut rest): (Vec<usize>, Vec<usize>) =
            (0..self.validators.len()).partition(|v| !backers.contains(v));
        {
            let mut rng = self.rng.lock().expect("rng lock");
            pool.shuffle(&mut *rng);
            rest.shuffle(&mut *rng);
        }
        pool.extend(rest);
        let needed = self.params.needed_approvals;
        let mut next = needed.min(pool.len());
        let mut batch: Vec<usize> = pool[..next].to_vec();
        let mut approvals = 0;
        while !batch.is_empty() {
            let verdicts = futures::future::join_all(
                batch
                    .iter()
                    .map(|v| self.validate(*v, &candidate, "approval")),
            )
            .await;
            let mut no_shows = 0;
            for (v, verdict) in batch.iter().zip(verdicts) {
                match verdict {
                    Verdict::Valid { .. } => {
                        statements.add(*v, Stage::Approval, Side::Valid);
                        approvals += 1;
                    }
                    Verdict::Invalid(_) => statements.add(*v, Stage::Approval, Side::Invalid),
                    Verdict::NoVote(_) => no_shows += 1,
                }
            }
            if statements.any(Side::Invalid) {
                return self.dispute(candidate, statements).await;
            }
            let end = (next + no_shows).min(pool.len());
            batch = pool[next..end].to_vec();
            next = end;
        }
        let mut state = self.state.lock().expect("state lock");
        if approvals >= needed {
            if let Some(p) = state.paras.get_mut(&para) {
                p.facts.approved += 1;
                if candidate.code_hash != to_hex(&p.genesis_code_hash) {
                    p.facts.approved_on_new_code += 1;
                }
            }
            state.event(format!(
                "parachain {para}: candidate {} approved ({approvals} checkers)",
                candidate.label()
            ));
        } else {
            state.event(format!(
                "parachain {para}: candidate {} not approved: {approvals} of {needed} approvals, no checker left",
                candidate.label()
            ));
        }
    }

    /// A dispute: every validator judges the candidate (dispute kind), a supermajority
    /// concludes it, the losing side is slashed.
    async fn dispute(&self, candidate: Candidate, mut statements: Statements) {
        let para = candidate.para_id;
        let id = candidate.id();
        let n = self.validators.len();
        {
            let mut state = self.state.lock().expect("state lock");
            if state.disputes.iter().any(|d| d.id == id) {
                return;
            }
            state.disputes.push(DisputeRecord {
                para,
                candidate: candidate.label(),
                id,
                votes: statements.tally(),
                status: DisputeStatus::Open,
                slashed: Vec::new(),
            });
            if let Some(p) = state.paras.get_mut(&para) {
                p.facts.disputed += 1;
            }
            state.event(format!(
                "parachain {para}: dispute raised on candidate {}",
                candidate.label()
            ));
        }
        let verdicts =
            futures::future::join_all((0..n).map(|v| self.validate(v, &candidate, "dispute")))
                .await;
        for (v, verdict) in verdicts.into_iter().enumerate() {
            match verdict {
                Verdict::Valid { .. } => statements.add(v, Stage::Dispute, Side::Valid),
                Verdict::Invalid(_) => statements.add(v, Stage::Dispute, Side::Invalid),
                Verdict::NoVote(_) => {}
            }
        }
        let outcome = statements.outcome(n);
        let slashed: Vec<String> = outcome
            .map(|o| statements.slashed(o))
            .unwrap_or_default()
            .into_iter()
            .map(|v| self.validators[v].name.clone())
            .collect();
        let mut state = self.state.lock().expect("state lock");
        let (valid, invalid) = statements.tally();
        let status = match outcome {
            Some(Side::Valid) => DisputeStatus::ConcludedValid,
            Some(Side::Invalid) => DisputeStatus::ConcludedInvalid,
            None => DisputeStatus::Unconcluded,
        };
        if status == DisputeStatus::ConcludedInvalid
            && let Some(p) = state.paras.get_mut(&para)
            && let Some(at) = p.chain.iter().position(|c| c.id == id)
        {
            let gone = (p.chain.len() - at) as u64;
            p.head = p.chain[at].parent_head.clone();
            p.chain.truncate(at);
            p.facts.reverted += gone;
            p.facts.height -= gone;
        }
        // A candidate concluded valid is as good as approved: finality goes on past it.
        if status == DisputeStatus::ConcludedValid
            && let Some(p) = state.paras.get_mut(&para)
        {
            p.facts.approved += 1;
        }
        state.slashed.extend(slashed.iter().cloned());
        let record = state
            .disputes
            .iter_mut()
            .find(|d| d.id == id)
            .expect("recorded above");
        record.votes = (valid, invalid);
        record.status = status;
        record.slashed = slashed.clone();
        let text = match status {
            DisputeStatus::ConcludedValid => "concluded valid",
            DisputeStatus::ConcludedInvalid => "concluded invalid",
            _ => "unconcluded: no supermajority",
        };
        state.event(format!(
            "parachain {para}: dispute on {} {text} ({valid} valid, {invalid} invalid of {n}; slashed: {})",
            candidate.label(),
            if slashed.is_empty() { "none".to_string() } else { slashed.join(", ") }
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use crate::network::Network;
    use std::path::Path;

    fn relay(nodes: usize, group_size: usize) -> Relay {
        let mut toml =
            format!("[relaychain]\nbacking_group_size = {group_size}\nneeded_approvals = 1\n");
        for i in 0..nodes {
            toml.push_str(&format!("[[relaychain.nodes]]\nname = \"n{i}\"\n"));
        }
        let net = Network::parse(&toml, Path::new("n.toml")).unwrap();
        let validators = (0..nodes)
            .map(|i| Validator {
                name: format!("n{i}"),
                rpc: Arc::new(RpcClient::new("127.0.0.1:1".parse().unwrap())),
            })
            .collect();
        Relay::new(&net, validators, 1).unwrap()
    }

    #[test]
    fn groups_cover_every_validator_and_rotate() {
        let r = relay(7, 2);
        assert_eq!(r.group(0, 0), [0, 1]);
        assert_eq!(r.group(0, 1), [2, 3]);
        assert_eq!(r.group(0, 2), [4, 5, 6]);
        assert_eq!(r.group(1, 2), [0, 1]);
        let r = relay(3, 5);
        assert_eq!(r.group(0, 9), [0, 1, 2]);
    }
}
