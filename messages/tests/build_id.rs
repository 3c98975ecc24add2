//! The build id covers a dirty tree: every edit to what goes into a binary gives another id,
//! so a worker built before an edit never pairs with a node built after it. Runs the same
//! code as `build.rs` on temporary git trees, and checks that the id baked into this build is
//! the one this workspace's tree has now.

#[path = "../build_id.rs"]
#[allow(dead_code)]
mod build_id;

use pvf_messages::version::{BUILD_ID, BUILD_ID_SOURCE};
use std::{path::Path, process::Command};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .expect("git is installed");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// A small workspace-shaped tree with one commit.
fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "Cargo.toml", "[workspace]\n");
    write(root, "messages/src/lib.rs", "pub const A: u8 = 1;\n");
    write(root, "workers/src/worker.rs", "fn main() {}\n");
    write(root, "subsystem/src/lib.rs", "\n");
    write(root, "subsystem/tests/t.rs", "#[test] fn t() {}\n");
    write(root, "README.md", "readme\n");
    git(root, &["init", "-q"]);
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "one"]);
    dir
}

#[test]
fn a_clean_tree_is_its_commit() {
    let dir = repo();
    let id = build_id::compute(dir.path());
    assert_eq!(id.source, "git");
    assert_eq!(id.id, git(dir.path(), &["rev-parse", "--short=12", "HEAD"]));
}

#[test]
fn every_edit_to_a_source_gives_another_id_and_undoing_it_gives_the_commit_back() {
    let dir = repo();
    let root = dir.path();
    let clean = build_id::compute(root).id;

    write(
        root,
        "workers/src/worker.rs",
        "fn main() { println!(\"stale\"); }\n",
    );
    let edited = build_id::compute(root).id;
    assert!(
        edited.starts_with(&format!("{clean}-dirty-")),
        "{edited} for a dirty tree at {clean}"
    );
    assert_eq!(edited.len(), clean.len() + "-dirty-".len() + 12, "{edited}");

    write(
        root,
        "workers/src/worker.rs",
        "fn main() { println!(\"other\"); }\n",
    );
    let edited_again = build_id::compute(root).id;
    assert_ne!(
        edited_again, edited,
        "a second edit must change the id again"
    );

    // Staging changes nothing that goes into a binary.
    git(root, &["add", "-A"]);
    assert_eq!(build_id::compute(root).id, edited_again);
    git(root, &["reset", "-q"]);

    write(root, "workers/src/worker.rs", "fn main() {}\n");
    assert_eq!(build_id::compute(root).id, clean, "the edit was undone");

    // A new file and a deleted file count too.
    write(root, "subsystem/src/new.rs", "\n");
    let added = build_id::compute(root).id;
    assert!(added.starts_with(&format!("{clean}-dirty-")), "{added}");
    std::fs::remove_file(root.join("subsystem/src/new.rs")).unwrap();
    std::fs::remove_file(root.join("messages/src/lib.rs")).unwrap();
    let deleted = build_id::compute(root).id;
    assert!(deleted.starts_with(&format!("{clean}-dirty-")), "{deleted}");
    assert_ne!(deleted, added);
}

#[test]
fn edits_outside_the_binaries_sources_keep_the_id() {
    let dir = repo();
    let root = dir.path();
    let clean = build_id::compute(root).id;
    write(root, "README.md", "changed\n");
    write(root, "subsystem/tests/t.rs", "#[test] fn u() {}\n");
    write(root, "docs/new.md", "new\n");
    assert_eq!(build_id::compute(root).id, clean);
}

#[test]
fn a_commit_gives_a_clean_id_again() {
    let dir = repo();
    let root = dir.path();
    write(root, "messages/src/lib.rs", "pub const A: u8 = 2;\n");
    let dirty = build_id::compute(root).id;
    git(root, &["commit", "-q", "-a", "-m", "two"]);
    let committed = build_id::compute(root).id;
    assert_eq!(committed, git(root, &["rev-parse", "--short=12", "HEAD"]));
    assert!(!dirty.starts_with(&committed));
}

#[test]
fn outside_git_the_sources_are_hashed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "Cargo.toml", "[workspace]\n");
    write(root, "workers/src/worker.rs", "fn main() {}\n");
    let first = build_id::compute(root);
    assert_eq!(first.source, "sources");
    assert!(first.id.starts_with("src-"), "{}", first.id);
    write(root, "workers/src/worker.rs", "fn main() { println!(); }\n");
    assert_ne!(build_id::compute(root).id, first.id);
    write(root, "workers/src/worker.rs", "fn main() {}\n");
    assert_eq!(build_id::compute(root).id, first.id);

    let empty = tempfile::tempdir().unwrap();
    assert_eq!(build_id::compute(empty.path()).id, build_id::UNKNOWN);
}

/// The id baked into this build (and so into the binaries the integration tests compare
/// against) is what the tree says now: the build script ran again after every edit.
#[test]
fn this_build_carries_the_id_of_this_tree() {
    if BUILD_ID_SOURCE == "env" {
        eprintln!("PVF_BUILD_ID was set by the builder ({BUILD_ID}): nothing to compare");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let now = build_id::compute(root);
    assert_eq!(now.source, BUILD_ID_SOURCE);
    assert_eq!(
        now.id, BUILD_ID,
        "this build's id is stale: the build script did not run again after an edit"
    );
    assert_ne!(BUILD_ID, build_id::UNKNOWN);
}
