//! The built-in collators: they build the next block on a parachain head and know the head
//! it must produce, so the stand-in can build an honest receipt.
//!
//! - `adder-collator [--add=N]`: blocks of the adder PVF (`builtin:adder`), each adding N.
//! - `undying-collator [--pov-size=BYTES] [--pvf-complexity=N]`: blocks of the undying PVF
//!   (`builtin:undying`) padded to BYTES and burning N×1000 keccak rounds.
//! - `replay-collator --workload=FILE --pvf=NAME`: the valid candidates of a workload file
//!   (such as `tests/real-blocks/workload.json`, built by our test collator from real
//!   runtimes) replayed in order, each on the head its predecessor produced; the code is
//!   the workload's.
//!
//! Adder and undying heads commit to a state hash only; the collator remembers which state
//! each head commits to, so after a revert it builds on an older head again.

use crate::network::CollatorSpec;
use parity_scale_codec::{Decode, Encode};
use pvf_messages::candidate_validation::CandidateCommitments;
use pvf_messages::primitives::HeadData;
use pvf_subsystem::workload::{WorkloadSpec, spec::builtin};
use pvf_test_pvfs::adder_chain::{self, BlockData, UndyingBlockData};
use std::collections::HashMap;
use std::path::Path;

/// A block ready to be seconded.
#[derive(Clone, Debug)]
pub struct Collation {
    /// The head it builds on.
    pub parent_head: Vec<u8>,
    /// Its block data (the PoV).
    pub pov: Vec<u8>,
    /// The head it produces.
    pub head: Vec<u8>,
    /// The relay parent number it was built for.
    pub relay_parent_number: u32,
    /// The relay parent's storage root it was built for.
    pub relay_parent_storage_root: [u8; 32],
    /// The outputs its receipt commits to.
    pub commitments: CandidateCommitments,
}

#[derive(Debug)]
enum Kind {
    Adder { add: u64 },
    Undying { pov_size: usize, iterations: u32 },
    Replay { blocks: Vec<Collation> },
}

/// A built-in collator.
#[derive(Debug)]
pub struct Collator {
    kind: Kind,
    code: Vec<u8>,
    genesis_head: Vec<u8>,
    /// post_state → the state it commits to (adder and undying).
    states: HashMap<[u8; 32], u64>,
}

fn flags(args: &[String]) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let Some(flag) = a.strip_prefix("--") else {
            return Err(format!("unexpected argument {a:?}"));
        };
        let (k, v) = match flag.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (
                flag.to_string(),
                it.next()
                    .ok_or_else(|| format!("--{flag} needs a value"))?
                    .clone(),
            ),
        };
        out.insert(k, v);
    }
    Ok(out)
}

fn number<T: std::str::FromStr>(
    flags: &HashMap<String, String>,
    key: &str,
    default: T,
) -> Result<T, String> {
    flags.get(key).map_or(Ok(default), |v| {
        v.parse()
            .map_err(|_| format!("--{key}: {v:?} is not a number"))
    })
}

fn check_known(flags: &HashMap<String, String>, known: &[&str]) -> Result<(), String> {
    match flags.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(format!("unknown flag --{k} (known: {})", known.join(", "))),
        None => Ok(()),
    }
}

/// Reads code given as `builtin:NAME` or a path relative to `base`.
pub fn load_code(code: &str, base: &Path) -> Result<Vec<u8>, String> {
    match code.strip_prefix("builtin:") {
        Some(name) => builtin(name).ok_or_else(|| {
            format!(
                "unknown builtin {name:?} (known: adder, adder-mvp, halt, undying, malformed, trap)"
            )
        }),
        None => std::fs::read(base.join(code))
            .map_err(|e| format!("cannot read {}: {e}", base.join(code).display())),
    }
}

impl Collator {
    /// Builds the collator a network file describes; paths are relative to `base`.
    pub fn new(spec: &CollatorSpec, base: &Path) -> Result<Self, String> {
        let err = |e: String| format!("collator {:?} ({}): {e}", spec.name, spec.command);
        let f = flags(&spec.args).map_err(err)?;
        let genesis = adder_chain::genesis_head().encode();
        let (kind, code, genesis_head) = match spec.command.as_str() {
            "adder-collator" => {
                check_known(&f, &["add"]).map_err(err)?;
                let add = number(&f, "add", 1).map_err(err)?;
                (
                    Kind::Adder { add },
                    pvf_test_pvfs::adder().to_vec(),
                    genesis,
                )
            }
            "undying-collator" => {
                check_known(&f, &["pov-size", "pvf-complexity"]).map_err(err)?;
                let pov_size = number(&f, "pov-size", 0).map_err(err)?;
                let complexity: u32 = number(&f, "pvf-complexity", 1).map_err(err)?;
                let iterations = complexity
                    .checked_mul(1000)
                    .ok_or_else(|| err("--pvf-complexity is too large".into()))?;
                (
                    Kind::Undying {
                        pov_size,
                        iterations,
                    },
                    pvf_test_pvfs::undying().to_vec(),
                    genesis,
                )
            }
            "replay-collator" => {
                check_known(&f, &["workload", "pvf"]).map_err(err)?;
                let file = f
                    .get("workload")
                    .ok_or_else(|| err("--workload is required".into()))?;
                let pvf = f
                    .get("pvf")
                    .ok_or_else(|| err("--pvf is required".into()))?;
                Self::replay(&base.join(file), pvf).map_err(err)?
            }
            other => {
                return Err(err(format!(
                    "unknown collator {other:?} (built in: adder-collator, undying-collator, replay-collator)"
                )));
            }
        };
        let mut states = HashMap::new();
        states.insert(adder_chain::hash_state(0), 0);
        Ok(Self {
            kind,
            code,
            genesis_head,
            states,
        })
    }

    fn replay(file: &Path, pvf: &str) -> Result<(Kind, Vec<u8>, Vec<u8>), String> {
        let workload = WorkloadSpec::load(file)?;
        let index = workload
            .pvfs
            .iter()
            .position(|(name, _)| name == pvf)
            .ok_or_else(|| format!("{} has no pvf {pvf:?}", file.display()))?;
        let code = workload.pvfs[index].1.0.clone();
        let blocks: Vec<Collation> = workload
            .candidates
            .iter()
            .filter(|c| c.pvf == index && c.expect == pvf_messages::VerdictClass::Valid)
            .filter_map(|c| {
                let head = c.head_data.clone()?;
                Some(Collation {
                    parent_head: c.parent_head.clone(),
                    pov: c.block_data.clone(),
                    relay_parent_number: c.relay_parent_number,
                    relay_parent_storage_root: c.relay_parent_storage_root.0,
                    commitments: CandidateCommitments {
                        upward_messages: c.messages.upward_messages.clone(),
                        horizontal_messages: c.messages.horizontal_messages.clone(),
                        new_validation_code: c.messages.new_validation_code.clone(),
                        head_data: HeadData(head.clone()),
                        processed_downward_messages: c.messages.processed_downward_messages,
                        hrmp_watermark: c.hrmp_watermark,
                    },
                    head,
                })
            })
            .collect();
        let genesis = blocks
            .first()
            .ok_or_else(|| format!("{} has no valid candidate of {pvf:?}", file.display()))?
            .parent_head
            .clone();
        Ok((Kind::Replay { blocks }, code, genesis))
    }

    /// The parachain's genesis code, if the network file names none.
    pub fn code(&self) -> &[u8] {
        &self.code
    }

    /// The parachain's genesis head.
    pub fn genesis_head(&self) -> &[u8] {
        &self.genesis_head
    }

    /// The next block on `parent_head` for relay parent `relay_parent_number`; `None` when
    /// there is none (a replay that ran out, or a head this collator did not build).
    /// Undying blocks cost as much to build as to check: call it off the async runtime.
    pub fn collate(&mut self, parent_head: &[u8], relay_parent_number: u32) -> Option<Collation> {
        if let Kind::Replay { blocks } = &self.kind {
            return blocks
                .iter()
                .find(|b| b.parent_head == parent_head)
                .cloned();
        }
        let parent = adder_chain::HeadData::decode(&mut &parent_head[..]).ok()?;
        let state = *self.states.get(&parent.post_state)?;
        let (pov, head, new_state) = match self.kind {
            Kind::Adder { add } => {
                let block = BlockData { state, add };
                let head = adder_chain::next_head(&parent, &block);
                (block.encode(), head, state.wrapping_add(add))
            }
            Kind::Undying {
                pov_size,
                iterations,
            } => {
                let block = UndyingBlockData {
                    state,
                    iterations,
                    padding: vec![0xab; pov_size],
                };
                let head = adder_chain::undying_next_head(&parent, &block);
                (
                    block.encode(),
                    head,
                    adder_chain::undying_next_state(state, iterations),
                )
            }
            Kind::Replay { .. } => unreachable!("handled above"),
        };
        self.states.insert(head.post_state, new_state);
        let head = head.encode();
        Some(Collation {
            parent_head: parent_head.to_vec(),
            pov,
            relay_parent_number,
            relay_parent_storage_root: [0; 32],
            commitments: CandidateCommitments {
                head_data: HeadData(head.clone()),
                hrmp_watermark: relay_parent_number,
                ..CandidateCommitments::default()
            },
            head,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(command: &str, args: &[&str]) -> CollatorSpec {
        CollatorSpec {
            name: "c".into(),
            command: command.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn adder_blocks_chain_and_survive_a_revert() {
        let mut c =
            Collator::new(&spec("adder-collator", &["--add", "3"]), Path::new(".")).unwrap();
        let genesis = c.genesis_head().to_vec();
        let one = c.collate(&genesis, 5).unwrap();
        assert_eq!(one.commitments.hrmp_watermark, 5);
        assert_eq!(one.commitments.head_data.0, one.head);
        let two = c.collate(&one.head, 6).unwrap();
        let head = adder_chain::HeadData::decode(&mut &two.head[..]).unwrap();
        assert_eq!(head.number, 2);
        assert_eq!(head.post_state, adder_chain::hash_state(6));
        // After a revert the collator builds on the older head again, the same block.
        assert_eq!(c.collate(&genesis, 5).unwrap().pov, one.pov);
        assert!(c.collate(&[1, 2, 3], 1).is_none());
    }

    #[test]
    fn undying_knobs_shape_the_block() {
        let mut c = Collator::new(
            &spec(
                "undying-collator",
                &["--pov-size=1000", "--pvf-complexity=1"],
            ),
            Path::new("."),
        )
        .unwrap();
        let genesis = c.genesis_head().to_vec();
        let b = c.collate(&genesis, 1).unwrap();
        let block = UndyingBlockData::decode(&mut &b.pov[..]).unwrap();
        assert_eq!((block.padding.len(), block.iterations), (1000, 1000));
        assert!(c.collate(&b.head, 2).is_some());
    }

    #[test]
    fn replay_follows_the_workload() {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut c = Collator::new(
            &spec(
                "replay-collator",
                &[
                    "--workload=real-blocks/workload.json",
                    "--pvf=collectives-polkadot-9290",
                ],
            ),
            &base,
        )
        .unwrap();
        let mut head = c.genesis_head().to_vec();
        let mut n = 0;
        while let Some(b) = c.collate(&head, 99) {
            assert_eq!(b.relay_parent_number, 1001 + n);
            head = b.head;
            n += 1;
        }
        assert_eq!(n, 3);
    }

    #[test]
    fn bad_specs_are_named() {
        let e = Collator::new(&spec("polkadot-collator", &[]), Path::new(".")).unwrap_err();
        assert!(e.contains("unknown collator"), "{e}");
        let e = Collator::new(&spec("undying-collator", &["--pov=1"]), Path::new(".")).unwrap_err();
        assert!(e.contains("unknown flag --pov"), "{e}");
        let e = Collator::new(&spec("adder-collator", &["--add=x"]), Path::new(".")).unwrap_err();
        assert!(e.contains("not a number"), "{e}");
        let e = Collator::new(
            &spec("replay-collator", &["--workload=x.json"]),
            Path::new("."),
        )
        .unwrap_err();
        assert!(e.contains("--pvf is required"), "{e}");
        assert!(load_code("builtin:nope", Path::new(".")).is_err());
        assert_eq!(
            load_code("builtin:adder", Path::new(".")).unwrap(),
            pvf_test_pvfs::adder()
        );
    }
}
