//! The relay-chain stand-in: the parts of the protocol the PVF host serves, played against
//! real nodes over JSON-RPC.
//!
//! At each block (the network file's block time) it makes a new leaf and sends the active
//! leaves, with ancestry, to every node; starts pre-checking of the code upgrades due and
//! enacts accepted ones after the upgrade delay; and asks each idle parachain's collator for
//! a block. A collation goes to its backing group (groups rotate over the parachains every
//! block): one validator seconds it (`pvf_second`, backing kind), the others validate the
//! seconded candidate — the one the seconder vouches for, not the collation — and it is
//! backed with enough valid votes, then included. A random set of approval checkers, not
//! its backers, validate it (approval kind); a checker with no vote is a no-show and is
//! replaced. Any `invalid` statement next to a valid one raises a dispute: every validator
//! judges the candidate (dispute kind) and it concludes by a supermajority ([`votes`]); the
//! losing side is slashed, and a candidate concluded invalid is reverted with its
//! descendants.
//!
//! Everything observable — counts per parachain, disputes, slashes — is kept in [`State`]
//! for the assertions and the summary.

pub mod candidate;
pub mod collator;
mod protocol;
pub mod votes;

use crate::network::Network;
use crate::rpc::RpcClient;
use candidate::to_hex;
use collator::{Collator, load_code};
use pvf_messages::primitives::blake2_256;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A validator the stand-in drives.
#[derive(Clone, Debug)]
pub struct Validator {
    /// Its name.
    pub name: String,
    /// Its JSON-RPC endpoint.
    pub rpc: Arc<RpcClient>,
}

/// The protocol parameters.
#[derive(Clone, Debug)]
pub struct Params {
    /// The block time.
    pub block_time: Duration,
    /// Validators per backing group.
    pub group_size: usize,
    /// Valid backing votes needed.
    pub min_backing_votes: usize,
    /// Approval checkers per candidate.
    pub needed_approvals: usize,
    /// The PoV limit.
    pub max_pov_size: u32,
    /// Blocks between acceptance and enactment of an upgrade.
    pub upgrade_delay: u32,
}

/// A scheduled code upgrade.
#[derive(Clone, Debug)]
struct Upgrade {
    at_block: u32,
    code: Vec<u8>,
}

/// An included candidate, for reverts.
#[derive(Clone, Debug)]
struct Included {
    id: [u8; 32],
    parent_head: Vec<u8>,
}

/// What the stand-in observed of one parachain.
#[derive(Clone, Debug, Default)]
pub struct ParaFacts {
    /// Candidates backed.
    pub backed: u64,
    /// Collations not backed (refused, no quorum, failed).
    pub not_backed: u64,
    /// Candidates approved.
    pub approved: u64,
    /// Candidates disputed.
    pub disputed: u64,
    /// Candidates approved whose code is not the genesis code.
    pub approved_on_new_code: u64,
    /// Included candidates reverted.
    pub reverted: u64,
    /// Included minus reverted.
    pub height: u64,
    /// Upgrades accepted by pre-check voting.
    pub upgrades_accepted: u64,
    /// Upgrades rejected.
    pub upgrades_rejected: u64,
    /// Upgrades enacted.
    pub upgrades_enacted: u64,
}

/// One parachain's live state.
#[derive(Debug)]
pub struct Para {
    /// The para id.
    pub id: u32,
    collator: Arc<Mutex<Collator>>,
    code_hash: [u8; 32],
    genesis_code_hash: [u8; 32],
    head: Vec<u8>,
    busy: bool,
    exhausted: bool,
    chain: Vec<Included>,
    upgrades: Vec<Upgrade>,
    pending: Option<(Vec<u8>, u32)>,
    /// What was observed.
    pub facts: ParaFacts,
}

/// How a dispute ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisputeStatus {
    /// Votes are still coming in.
    Open,
    /// A supermajority found the candidate valid.
    ConcludedValid,
    /// A supermajority found it invalid.
    ConcludedInvalid,
    /// Every vote is in, no supermajority.
    Unconcluded,
}

/// One dispute.
#[derive(Clone, Debug)]
pub struct DisputeRecord {
    /// The parachain.
    pub para: u32,
    /// The candidate's label.
    pub candidate: String,
    /// Its full identity.
    pub id: [u8; 32],
    /// Valid and invalid votes counted.
    pub votes: (usize, usize),
    /// The outcome.
    pub status: DisputeStatus,
    /// Who was slashed for it.
    pub slashed: Vec<String>,
}

/// Everything the stand-in observed.
#[derive(Debug, Default)]
pub struct State {
    /// The current relay block number.
    pub block: u32,
    /// The parachains, by id.
    pub paras: BTreeMap<u32, Para>,
    /// Every dispute raised.
    pub disputes: Vec<DisputeRecord>,
    /// Validators slashed, by name.
    pub slashed: BTreeSet<String>,
    /// Calls that failed (timeouts, transport, node errors).
    pub rpc_errors: u64,
    /// Recent events, for the progress display (drained by the reporter).
    pub events: VecDeque<String>,
}

impl State {
    /// Records an event for the progress display.
    pub fn event(&mut self, text: String) {
        if self.events.len() >= 1000 {
            self.events.pop_front();
        }
        self.events.push_back(text);
    }
}

/// The stand-in.
#[derive(Clone)]
pub struct Relay {
    pub(crate) params: Params,
    pub(crate) validators: Arc<Vec<Validator>>,
    /// What was observed; read by assertions and the summary.
    pub state: Arc<Mutex<State>>,
    pub(crate) rng: Arc<Mutex<StdRng>>,
}

/// Timeout of a call that validates or seconds (an approval may retry, a first preparation
/// of a real runtime takes seconds).
pub(crate) const VALIDATION_TIMEOUT: Duration = Duration::from_secs(90);
const SHORT_TIMEOUT: Duration = Duration::from_secs(10);

impl Relay {
    /// A stand-in for `network` driving `validators` (in the network's node order).
    pub fn new(network: &Network, validators: Vec<Validator>, seed: u64) -> Result<Self, String> {
        let relay = &network.file.relaychain;
        let params = Params {
            block_time: network.block_time(),
            group_size: relay.backing_group_size,
            min_backing_votes: relay.minimum_backing_votes,
            needed_approvals: relay.needed_approvals,
            max_pov_size: relay.max_pov_size,
            upgrade_delay: relay.validation_upgrade_delay,
        };
        let mut state = State::default();
        let base = network.base_dir();
        for p in &network.file.parachains {
            let err = |e: String| format!("parachain {}: {e}", p.id);
            let collator = Collator::new(&p.collator, base).map_err(err)?;
            let code = match &p.genesis_wasm_path {
                Some(c) => load_code(c, base).map_err(err)?,
                None => collator.code().to_vec(),
            };
            let upgrades = p
                .upgrades
                .iter()
                .map(|u| {
                    Ok(Upgrade {
                        at_block: u.at_block,
                        code: load_code(&u.code, base)?,
                    })
                })
                .collect::<Result<_, String>>()
                .map_err(err)?;
            state.paras.insert(
                p.id,
                Para {
                    id: p.id,
                    code_hash: blake2_256(&code).0,
                    genesis_code_hash: blake2_256(&code).0,
                    head: collator.genesis_head().to_vec(),
                    collator: Arc::new(Mutex::new(collator)),
                    busy: false,
                    exhausted: false,
                    chain: Vec::new(),
                    upgrades,
                    pending: None,
                    facts: ParaFacts::default(),
                },
            );
            // The genesis code is registered with every node before the first block.
            state
                .paras
                .get_mut(&p.id)
                .expect("just inserted")
                .upgrades
                .push(Upgrade { at_block: 0, code });
        }
        Ok(Self {
            params,
            validators: Arc::new(validators),
            state: Arc::new(Mutex::new(state)),
            rng: Arc::new(Mutex::new(StdRng::seed_from_u64(seed))),
        })
    }

    /// Records an event.
    pub(crate) fn event(&self, text: String) {
        self.state.lock().expect("state lock").event(text);
    }

    /// Calls `method` on validator `v`; an error is counted and returned as text.
    pub(crate) async fn call(
        &self,
        v: usize,
        method: &str,
        params: serde_json::Value,
        timeout: Duration,
    ) -> Result<serde_json::Value, String> {
        let validator = &self.validators[v];
        validator
            .rpc
            .call(method, params, timeout)
            .await
            .map_err(|e| {
                let text = format!("{}: {e}", validator.name);
                let mut state = self.state.lock().expect("state lock");
                state.rpc_errors += 1;
                state.event(format!("rpc error: {text}"));
                text
            })
    }

    /// Registers the genesis code of every parachain with every node (submit + heads-up).
    pub async fn register(&self) -> Result<(), String> {
        let genesis: Vec<(u32, Vec<u8>)> = {
            let mut state = self.state.lock().expect("state lock");
            state
                .paras
                .values_mut()
                .map(|p| {
                    let at = p
                        .upgrades
                        .iter()
                        .position(|u| u.at_block == 0)
                        .expect("genesis code");
                    (p.id, p.upgrades.remove(at).code)
                })
                .collect()
        };
        for (id, code) in genesis {
            let hash = self.submit(&code).await?;
            self.heads_up(hash).await;
            self.event(format!(
                "parachain {id}: code {} registered",
                &to_hex(&hash)[..10]
            ));
        }
        Ok(())
    }

    /// Submits `code` to every node and checks each answers its hash.
    async fn submit(&self, code: &[u8]) -> Result<[u8; 32], String> {
        let hash = blake2_256(code).0;
        let hex_code = to_hex(code);
        let calls = (0..self.validators.len())
            .map(|v| self.call(v, "pvf_submitCode", json!([hex_code]), SHORT_TIMEOUT * 3));
        for (v, answer) in futures::future::join_all(calls)
            .await
            .into_iter()
            .enumerate()
        {
            let answer = answer?;
            if answer.as_str() != Some(to_hex(&hash).as_str()) {
                return Err(format!(
                    "{}: pvf_submitCode answered {answer}, expected {}",
                    self.validators[v].name,
                    to_hex(&hash)
                ));
            }
        }
        Ok(hash)
    }

    async fn heads_up(&self, hash: [u8; 32]) {
        let calls = (0..self.validators.len())
            .map(|v| self.call(v, "pvf_headsUp", json!([[to_hex(&hash)]]), SHORT_TIMEOUT));
        futures::future::join_all(calls).await;
    }

    /// Runs the chain until the task is dropped.
    pub async fn run(self) {
        let mut tasks = tokio::task::JoinSet::new();
        let mut ancestors: Vec<[u8; 32]> = Vec::new();
        let mut parent = [0u8; 32];
        let mut tick = tokio::time::interval(self.params.block_time);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for number in 1u32.. {
            tick.tick().await;
            while tasks.try_join_next().is_some() {}
            let hash = blake2_256(&[&parent[..], &number.to_le_bytes()].concat()).0;
            let leaf = json!([{
                "hash": to_hex(&hash),
                "number": number,
                "ancestors": ancestors.iter().rev().take(4).map(|h| to_hex(h)).collect::<Vec<_>>(),
            }]);
            ancestors.push(parent);
            parent = hash;
            let calls = (0..self.validators.len())
                .map(|v| self.call(v, "pvf_activeLeaves", json!([leaf]), SHORT_TIMEOUT));
            futures::future::join_all(calls).await;
            let (due, ready) = self.advance(number);
            for (para, code) in due {
                let relay = self.clone();
                tasks.spawn(async move { relay.precheck(para, code, number).await });
            }
            for para in ready {
                let relay = self.clone();
                tasks.spawn(async move { relay.back(para, hash, number).await });
            }
        }
    }

    /// Moves the state to block `number`: enacts upgrades, returns the pre-checks due and the
    /// parachains ready for a new collation (marked busy).
    fn advance(&self, number: u32) -> (Vec<(u32, Vec<u8>)>, Vec<u32>) {
        let mut state = self.state.lock().expect("state lock");
        state.block = number;
        let mut due = Vec::new();
        let mut ready = Vec::new();
        let mut events = Vec::new();
        for p in state.paras.values_mut() {
            if let Some((code, at)) = &p.pending
                && *at <= number
            {
                p.code_hash = blake2_256(code).0;
                p.facts.upgrades_enacted += 1;
                events.push(format!(
                    "parachain {}: upgrade to {} enacted at block {number}",
                    p.id,
                    &to_hex(&p.code_hash)[..10]
                ));
                p.pending = None;
            }
            due.extend(
                p.upgrades
                    .iter()
                    .filter(|u| u.at_block == number)
                    .map(|u| (p.id, u.code.clone())),
            );
            if !p.busy && !p.exhausted {
                p.busy = true;
                ready.push(p.id);
            }
        }
        for e in events {
            state.event(e);
        }
        (due, ready)
    }

    /// Pre-check voting on an upgrade of `para` to `code`, started at block `number`.
    async fn precheck(&self, para: u32, code: Vec<u8>, number: u32) {
        let n = self.validators.len();
        let hash = match self.submit(&code).await {
            Ok(h) => h,
            Err(e) => {
                self.event(format!("parachain {para}: upgrade not submitted: {e}"));
                return;
            }
        };
        let calls = (0..n).map(|v| {
            self.call(
                v,
                "pvf_preCheck",
                json!([to_hex(&hash)]),
                VALIDATION_TIMEOUT,
            )
        });
        let answers = futures::future::join_all(calls).await;
        let accept = answers
            .iter()
            .filter(|a| matches!(a, Ok(v) if v == "valid"))
            .count();
        let reject = answers
            .iter()
            .filter(|a| matches!(a, Ok(v) if v == "invalid"))
            .count();
        let outcome = votes::precheck_outcome(n, accept, reject);
        if outcome == Some(votes::Side::Valid) {
            self.heads_up(hash).await;
        }
        let mut state = self.state.lock().expect("state lock");
        let block = state.block;
        let p = state.paras.get_mut(&para).expect("a known para");
        let text = match outcome {
            Some(votes::Side::Valid) => {
                p.facts.upgrades_accepted += 1;
                let at = block + self.params.upgrade_delay;
                p.pending = Some((code, at));
                format!("accepted ({accept} for, {reject} against of {n}); enactment at block {at}")
            }
            Some(votes::Side::Invalid) => {
                p.facts.upgrades_rejected += 1;
                format!("rejected ({accept} for, {reject} against of {n})")
            }
            None => {
                p.facts.upgrades_rejected += 1;
                format!("rejected: no supermajority ({accept} for, {reject} against of {n})")
            }
        };
        state.event(format!(
            "parachain {para}: upgrade to {} (block {number}) {text}",
            &to_hex(&hash)[..10]
        ));
    }
}
