//! Capabilities: the job keeps none.
//!
//! A job may be root (the node often runs as root) or root of its own user namespace; either
//! way it holds capabilities that the rest of the sandbox does not all cover (Landlock does
//! not restrict `reboot`, module loading or raw I/O ports, for instance). The job empties its
//! bounding, ambient, effective, permitted and inheritable sets, so that neither it nor
//! anything it could execute regains one.

use super::SandboxError;
use rustix::thread::{
    CapabilitySet, CapabilitySets, clear_ambient_capability_set,
    remove_capability_from_bounding_set, set_capabilities,
};

/// Drops every capability of this process, for good.
pub fn drop_all() -> Result<(), SandboxError> {
    let err = |what: &'static str| {
        move |e: rustix::io::Errno| SandboxError::Capabilities {
            what,
            err: e.into(),
        }
    };
    // Without CAP_SETPCAP (a job of an unprivileged node outside a user namespace) the
    // bounding set cannot be lowered, and need not be: with no permitted capabilities and
    // `no_new_privs`, nothing the job could execute gains one.
    let can_drop_bounding = rustix::thread::capabilities(None)
        .map_err(err("capget"))?
        .effective
        .contains(CapabilitySet::SETPCAP);
    for cap in CapabilitySet::all().iter().filter(|_| can_drop_bounding) {
        match remove_capability_from_bounding_set(cap) {
            // Capabilities newer than the kernel do not exist there.
            Ok(()) | Err(rustix::io::Errno::INVAL) => {}
            Err(e) => return Err(err("dropping the bounding set")(e)),
        }
    }
    clear_ambient_capability_set().map_err(err("clearing the ambient set"))?;
    let none = CapabilitySet::empty();
    set_capabilities(
        None,
        CapabilitySets {
            effective: none,
            permitted: none,
            inheritable: none,
        },
    )
    .map_err(err("capset"))
}
