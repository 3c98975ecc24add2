//! Host-side mirrors of the adder and undying state transitions, to build valid candidates
//! and predict the heads the guests return.
//!
//! Both chains share [`HeadData`]. A block is valid iff `keccak256(SCALE(block.state))`
//! equals the parent's `post_state`; the guests decode heads and blocks strictly (no
//! trailing bytes), so `parent_hash` is also `keccak256(SCALE(parent))`.

use parity_scale_codec::{Decode, Encode};
use tiny_keccak::{Hasher, Keccak};

/// The head of the adder and undying chains.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub struct HeadData {
    /// Block number; genesis is 0.
    pub number: u64,
    /// keccak256 of the parent's encoded head; zero at genesis.
    pub parent_hash: [u8; 32],
    /// keccak256 of the SCALE-encoded state after this block.
    pub post_state: [u8; 32],
}

/// An adder block: proves the current `state` and adds `add` to it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub struct BlockData {
    /// The state before this block; must hash to the parent's `post_state`.
    pub state: u64,
    /// What to add (wrapping) to `state`.
    pub add: u64,
}

/// An undying block: proves the current `state`, then burns `iterations` keccak rounds;
/// `padding` only makes the PoV bigger.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub struct UndyingBlockData {
    /// The state before this block; must hash to the parent's `post_state`.
    pub state: u64,
    /// Compute knob: the number of chained keccak256 rounds.
    pub iterations: u32,
    /// PoV-size knob: decoded by the guest and otherwise ignored.
    pub padding: Vec<u8>,
}

/// keccak256 of `data`.
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    let mut hasher = Keccak::v256();
    hasher.update(data);
    hasher.finalize(&mut out);
    out
}

/// keccak256 of the SCALE encoding (8 bytes, little endian) of `state`.
pub fn hash_state(state: u64) -> [u8; 32] {
    keccak256(&state.encode())
}

/// The genesis head shared by both chains: number 0, zero parent hash, state 0.
pub fn genesis_head() -> HeadData {
    HeadData {
        number: 0,
        parent_hash: [0; 32],
        post_state: hash_state(0),
    }
}

/// Whether `state` is the state `parent` commits to, i.e. whether the guests accept a block
/// claiming it.
pub fn state_matches(parent: &HeadData, state: u64) -> bool {
    hash_state(state) == parent.post_state
}

/// The head the adder PVF returns for `block` on `parent`.
///
/// # Panics
/// Where the guest traps: if `block.state` is not the state `parent` commits to
/// (check with [`state_matches`]).
pub fn next_head(parent: &HeadData, block: &BlockData) -> HeadData {
    assert!(
        state_matches(parent, block.state),
        "block state {} is not the parent's",
        block.state
    );
    HeadData {
        number: parent.number.wrapping_add(1),
        parent_hash: keccak256(&parent.encode()),
        post_state: hash_state(block.state.wrapping_add(block.add)),
    }
}

/// The state the undying PVF moves to: `h := keccak256(SCALE(state))`, then
/// `h := keccak256(h)` `iterations` times; the new state is `h[0..8]` read as a
/// little-endian `u64`.
pub fn undying_next_state(state: u64, iterations: u32) -> u64 {
    let mut h = hash_state(state);
    for _ in 0..iterations {
        h = keccak256(&h);
    }
    u64::from_le_bytes(h[..8].try_into().expect("32 >= 8"))
}

/// The head the undying PVF returns for `block` on `parent`.
///
/// # Panics
/// Where the guest traps: if `block.state` is not the state `parent` commits to
/// (check with [`state_matches`]).
pub fn undying_next_head(parent: &HeadData, block: &UndyingBlockData) -> HeadData {
    assert!(
        state_matches(parent, block.state),
        "block state {} is not the parent's",
        block.state
    );
    HeadData {
        number: parent.number.wrapping_add(1),
        parent_hash: keccak256(&parent.encode()),
        post_state: hash_state(undying_next_state(block.state, block.iterations)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keccak_matches_known_vector() {
        // keccak256("") (the Ethereum empty hash).
        let expected = "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470";
        let hex: String = keccak256(b"").iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, expected);
    }

    #[test]
    fn types_round_trip() {
        let head = next_head(&genesis_head(), &BlockData { state: 0, add: 5 });
        assert_eq!(head.encode().len(), 8 + 32 + 32);
        assert_eq!(HeadData::decode(&mut &head.encode()[..]).unwrap(), head);
        let block = BlockData { state: 5, add: 7 };
        assert_eq!(block.encode().len(), 16);
        assert_eq!(BlockData::decode(&mut &block.encode()[..]).unwrap(), block);
        let block = UndyingBlockData {
            state: 1,
            iterations: 2,
            padding: vec![3; 100],
        };
        assert_eq!(
            UndyingBlockData::decode(&mut &block.encode()[..]).unwrap(),
            block
        );
    }

    #[test]
    #[should_panic(expected = "not the parent's")]
    fn wrong_state_panics_like_the_guest() {
        next_head(&genesis_head(), &BlockData { state: 1, add: 1 });
    }

    #[test]
    fn adder_chain_links() {
        let genesis = genesis_head();
        let one = next_head(&genesis, &BlockData { state: 0, add: 5 });
        assert_eq!(one.number, 1);
        assert_eq!(one.parent_hash, keccak256(&genesis.encode()));
        assert!(state_matches(&one, 5));
        let two = next_head(
            &one,
            &BlockData {
                state: 5,
                add: u64::MAX,
            },
        );
        assert!(state_matches(&two, 4), "adds wrap");
        assert!(!state_matches(&two, 5));
    }

    #[test]
    fn undying_chain_links() {
        let genesis = genesis_head();
        let block = UndyingBlockData {
            state: 0,
            iterations: 3,
            padding: vec![0; 10],
        };
        let one = undying_next_head(&genesis, &block);
        let state = undying_next_state(0, 3);
        assert!(state_matches(&one, state));
        let manual = keccak256(&keccak256(&keccak256(&hash_state(0))));
        assert_eq!(state.to_le_bytes(), manual[..8]);
        let next = UndyingBlockData {
            state,
            iterations: 0,
            padding: Vec::new(),
        };
        assert_eq!(undying_next_head(&one, &next).number, 2);
        assert!(!state_matches(&one, block.state));
    }
}
