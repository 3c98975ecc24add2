//! Host functions that runtimes of 2021 still call while a block is built, and that today's
//! `sp-io` no longer has.
//!
//! `frame_system::finalize` of that era asks for the changes-trie root. Changes tries were never
//! enabled on Cumulus chains, so the node answered `None`; Cumulus's `validate_block` answers the
//! same inside the Wasm. Without it such a runtime traps at the end of every block.

use sp_runtime_interface::{
    pass_by::{AllocateAndReturnByCodec, PassFatPointerAndRead},
    runtime_interface,
};

/// The storage functions removed from `sp-io`.
// The runtime side (the function) is only ever called by old runtimes, never from here.
#[allow(dead_code)]
#[runtime_interface]
pub trait Storage {
    /// The changes-trie root: always `None`, as on every Cumulus chain.
    fn changes_root(
        &mut self,
        _parent_hash: PassFatPointerAndRead<&[u8]>,
    ) -> AllocateAndReturnByCodec<Option<Vec<u8>>> {
        None
    }
}
