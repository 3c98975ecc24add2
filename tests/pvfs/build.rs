//! Builds the guest PVFs in `guests/` (a separate cargo workspace) for Wasm and copies
//! them to `OUT_DIR`, where `src/guests.rs` includes them.
//!
//! The inner cargo gets its own target dir under `OUT_DIR` (the outer cargo holds the lock
//! on the outer one), `--locked`, and an environment stripped of everything the outer build
//! sets for build scripts, so outer flags, wrappers (clippy) and profiles do not leak in.

use std::{
    env,
    ffi::OsString,
    path::{Path, PathBuf},
    process::{Command, exit},
};

/// One invocation of the inner cargo.
struct GuestBuild {
    target: &'static str,
    /// `-C` flags, passed as `CARGO_ENCODED_RUSTFLAGS`.
    rustflags: &'static [&'static str],
    /// `(package, file name under OUT_DIR)`.
    outputs: &'static [(&'static str, &'static str)],
}

const BUILDS: &[GuestBuild] = &[
    // Wasm MVP (+ mutable globals), memory imported as `env.memory`: what Substrate's wasm
    // builder produces for real runtimes, and what the reference's module parser accepts.
    GuestBuild {
        target: "wasm32v1-none",
        rustflags: &["-C", "link-arg=--import-memory"],
        outputs: &[
            ("adder", "adder.wasm"),
            ("halt", "halt.wasm"),
            ("undying", "undying.wasm"),
        ],
    },
    // MVP only, memory exported.
    GuestBuild {
        target: "wasm32v1-none",
        rustflags: &[],
        outputs: &[("adder", "adder_mvp.wasm")],
    },
    // Rust's default feature set (bulk memory, sign extension, ...): rejected by the
    // reference's parser, so by ours.
    GuestBuild {
        target: "wasm32-unknown-unknown",
        rustflags: &["-C", "link-arg=--import-memory"],
        outputs: &[("adder", "adder_rust_default.wasm")],
    },
];

/// Guest sources; any change reruns this script.
const WATCHED: &[&str] = &[
    "guests/Cargo.toml",
    "guests/Cargo.lock",
    "guests/common",
    "guests/adder",
    "guests/halt",
    "guests/undying",
];

const MISSING_TARGET: &str = "run: rustup target add wasm32-unknown-unknown wasm32v1-none";

fn main() {
    for path in WATCHED {
        println!("cargo::rerun-if-changed={path}");
    }
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let jobs = env::var("NUM_JOBS").ok();
    let target_dir = out_dir.join("guests-target");

    for build in BUILDS {
        if !target_installed(build.target) {
            fail(MISSING_TARGET);
        }
    }
    for build in BUILDS {
        let mut cmd = clean_command(&cargo);
        cmd.arg("build")
            .arg("--release")
            .arg("--locked")
            .arg("--manifest-path")
            .arg(manifest_dir.join("guests/Cargo.toml"))
            .arg("--target")
            .arg(build.target)
            .arg("--target-dir")
            .arg(&target_dir)
            .env("CARGO_ENCODED_RUSTFLAGS", build.rustflags.join("\x1f"));
        if let Some(jobs) = &jobs {
            cmd.arg("--jobs").arg(jobs);
        }
        for (package, _) in build.outputs {
            cmd.arg("--package").arg(package);
        }
        match cmd.status() {
            Ok(status) if status.success() => {}
            Ok(status) => {
                // Exit non-zero so cargo shows the inner build's output.
                eprintln!(
                    "building the guest PVFs for {} failed: {status}",
                    build.target
                );
                exit(1);
            }
            Err(e) => fail(&format!(
                "could not run {}: {e}",
                Path::new(&cargo).display()
            )),
        }
        for (package, file) in build.outputs {
            let built = target_dir
                .join(build.target)
                .join("release")
                .join(format!("{package}.wasm"));
            if let Err(e) = std::fs::copy(&built, out_dir.join(file)) {
                fail(&format!("copying {}: {e}", built.display()));
            }
        }
    }
}

/// A command for `program` without the variables the outer build sets for build scripts.
/// Kept: `CARGO_HOME` and the user's network settings (`CARGO_NET_*`, `CARGO_HTTP_*`);
/// `PATH`, `HOME` and `RUSTUP_*` are untouched, so the same toolchain is used.
fn clean_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    for (key, _) in env::vars_os() {
        let Some(name) = key.to_str() else { continue };
        let keep = name == "CARGO_HOME"
            || name.starts_with("CARGO_NET_")
            || name.starts_with("CARGO_HTTP_");
        let strip = (name.starts_with("CARGO") && !keep)
            || name.starts_with("RUSTC")
            || name.starts_with("RUSTDOC")
            || name == "RUSTFLAGS"
            || name.starts_with("DEP_")
            || matches!(
                name,
                "OUT_DIR" | "TARGET" | "HOST" | "NUM_JOBS" | "OPT_LEVEL" | "DEBUG" | "PROFILE"
            );
        if strip {
            cmd.env_remove(&key);
        }
    }
    cmd
}

/// Whether the standard library for `target` is installed for the `rustc` the inner cargo
/// will use.
fn target_installed(target: &str) -> bool {
    let output = clean_command("rustc")
        .args(["--print", "target-libdir", "--target", target])
        .output();
    let Ok(output) = output else {
        fail("could not run rustc to look for the wasm targets");
    };
    if !output.status.success() {
        return false;
    }
    let libdir = PathBuf::from(OsString::from(
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
    ));
    std::fs::read_dir(libdir).is_ok_and(|entries| {
        entries.flatten().any(|entry| {
            entry
                .file_name()
                .to_str()
                .is_some_and(|name| name.starts_with("libcore-") && name.ends_with(".rlib"))
        })
    })
}

/// Reports `message` as the build error and stops.
fn fail(message: &str) -> ! {
    println!("cargo::error={message}");
    exit(0)
}
