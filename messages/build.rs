//! Computes the build id that node and workers compare at spawn time.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PVF_BUILD_ID");
    let id = std::env::var("PVF_BUILD_ID")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(git_commit);
    println!(
        "cargo:rustc-env=PVF_BUILD_ID={}",
        id.as_deref().unwrap_or("unknown")
    );
}

/// The current commit (short), and rebuild triggers for when it moves.
fn git_commit() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--git-dir"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let git_dir = String::from_utf8(out.stdout).ok()?.trim().to_string();
    println!("cargo:rerun-if-changed={git_dir}/HEAD");
    if let Ok(head) = std::fs::read_to_string(format!("{git_dir}/HEAD"))
        && let Some(r) = head.strip_prefix("ref: ")
    {
        let reference = format!("{git_dir}/{}", r.trim());
        if std::path::Path::new(&reference).exists() {
            println!("cargo:rerun-if-changed={reference}");
        }
    }
    if std::path::Path::new(&format!("{git_dir}/packed-refs")).exists() {
        println!("cargo:rerun-if-changed={git_dir}/packed-refs");
    }
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
