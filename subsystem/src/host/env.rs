//! The artifact environment: what must match for an artifact to be loaded.
//!
//! The reference deletes every artifact at start-up, because artifacts compiled for another
//! CPU once caused disputes; every restart then recompiles every PVF. We keep artifacts and
//! key them instead by everything that can make an artifact wrong for this machine: the
//! build (node and workers must match it, see the handshake), the engine and its
//! configuration, and the CPU features the compiler may use. An artifact from another
//! environment has another name and is never opened; start-up deletes it.

use pvf_messages::version::{BUILD_ID, ENGINE, VERSION};

/// CPU features this machine has, among those Cranelift may use.
pub fn cpu_features() -> Vec<&'static str> {
    let mut features = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! probe {
            ($($f:tt),*) => {$(
                if std::arch::is_x86_feature_detected!($f) {
                    features.push($f);
                }
            )*};
        }
        probe!(
            "sse3",
            "ssse3",
            "sse4.1",
            "sse4.2",
            "popcnt",
            "avx",
            "avx2",
            "bmi1",
            "bmi2",
            "lzcnt",
            "fma",
            "avx512f",
            "avx512vl",
            "avx512dq",
            "avx512bitalg",
            "avx512vbmi"
        );
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("lse") {
            features.push("lse");
        }
    }
    features
}

/// A description of this environment, in the form that is hashed.
pub fn description() -> String {
    format!(
        "version {VERSION}; build {BUILD_ID}; engine {ENGINE}; arch {}; cpu {}",
        std::env::consts::ARCH,
        cpu_features().join(",")
    )
}

/// The environment hash that names artifacts: 16 hex digits of blake3 over [`description`].
pub fn hash() -> String {
    hex::encode(&blake3::hash(description().as_bytes()).as_bytes()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_stable_and_covers_the_build() {
        assert_eq!(hash(), hash());
        assert_eq!(hash().len(), 16);
        let d = description();
        assert!(d.contains(BUILD_ID) && d.contains(ENGINE), "{d}");
    }
}
