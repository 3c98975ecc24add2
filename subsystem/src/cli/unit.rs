//! `pvf-node doctor`'s check of the installed systemd unit: the settings that would break
//! the workers' sandbox when the node runs as a service, though `doctor` run by hand (outside
//! the service) finds every layer working.
//!
//! Reads `pvf-node.service` as systemd would find it (the first of `/etc/systemd/system`,
//! `/run/systemd/system`, `/usr/local/lib/systemd/system`, `/usr/lib/systemd/system`,
//! `/lib/systemd/system`) and its drop-ins (`pvf-node.service.d/*.conf` in those folders, a
//! file in an earlier folder hiding one of the same name in a later one, applied in file-name
//! order), or the file given with `--unit`. Only the `[Service]` section matters. What is
//! checked, each with a hint:
//! - `RestrictNamespaces=` that forbids any of the user, mount, network, PID, IPC, UTS or
//!   cgroup namespaces the workers create (fail);
//! - `SystemCallFilter=`: an allow-list, or a deny-list naming what the sandbox calls
//!   (`mount`, `pivot_root`, `unshare`, `seccomp`, `landlock_*`, …), binds the workers too (fail;
//!   other deny-lists warn);
//! - `MemoryDenyWriteExecute=yes`: execute workers map compiled code executable (fail);
//! - `RestrictAddressFamilies=` without `AF_UNIX`: node and workers talk over Unix sockets
//!   (fail);
//! - `NoExecPaths=`: the artifact cache must allow executable mappings (warn);
//! - `Delegate=` missing or without `pids` and `memory`, `DelegateSubgroup=` missing,
//!   `ProtectControlGroups=yes`: no cgroup limits for the workers (warn: they are optional);
//! - `User=` missing or `root`: the node should have its own user (warn).

use super::doctor::Check;
use std::path::{Path, PathBuf};

/// The unit's name.
pub const UNIT: &str = "pvf-node.service";

/// Where systemd looks for system units, highest precedence first.
pub const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// The namespaces the workers and their jobs create.
const NAMESPACES: &[&str] = &["user", "mnt", "net", "pid", "ipc", "uts", "cgroup"];

/// System calls (and `SystemCallFilter=` groups holding them) the sandbox needs.
const SANDBOX_SYSCALLS: &[&str] = &[
    "@mount",
    "@process",
    "@privileged",
    "mount",
    "umount2",
    "pivot_root",
    "unshare",
    "clone",
    "clone3",
    "seccomp",
    "prctl",
    "landlock_create_ruleset",
    "landlock_add_rule",
    "landlock_restrict_self",
];

/// A unit and its drop-ins, read as systemd would: every `[Service]` assignment in order.
#[derive(Debug, Default)]
pub struct Unit {
    /// The files read, the unit first.
    pub files: Vec<PathBuf>,
    assignments: Vec<(String, String)>,
}

impl Unit {
    /// Parses unit files, in the order systemd applies them.
    pub fn parse(texts: &[(PathBuf, String)]) -> Self {
        let mut unit = Self::default();
        for (path, text) in texts {
            unit.files.push(path.clone());
            let mut section = String::new();
            let mut pending = String::new();
            for raw in text.lines() {
                let line = raw.trim();
                if pending.is_empty() && (line.starts_with('#') || line.starts_with(';')) {
                    continue;
                }
                if let Some(cont) = line.strip_suffix('\\') {
                    pending.push_str(cont);
                    pending.push(' ');
                    continue;
                }
                let line = std::mem::take(&mut pending) + line;
                let line = line.trim();
                if line.starts_with('[') && line.ends_with(']') {
                    section = line[1..line.len() - 1].to_string();
                } else if section == "Service"
                    && let Some((k, v)) = line.split_once('=')
                {
                    unit.assignments
                        .push((k.trim().to_string(), v.trim().to_string()));
                }
            }
        }
        unit
    }

    /// Every assignment of `key`, in order.
    fn all(&self, key: &str) -> impl Iterator<Item = &str> {
        self.assignments
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The last assignment of `key` (an empty one resets it: `None`).
    pub fn last(&self, key: &str) -> Option<&str> {
        self.all(key).last().filter(|v| !v.is_empty())
    }

    /// The assignments of a list setting since the last empty one (which resets the list).
    fn list(&self, key: &str) -> Vec<&str> {
        let mut out = Vec::new();
        for v in self.all(key) {
            if v.is_empty() {
                out.clear();
            } else {
                out.push(v);
            }
        }
        out
    }
}

fn is_true(v: &str) -> bool {
    matches!(v, "yes" | "true" | "on" | "1")
}

fn is_false(v: &str) -> bool {
    matches!(v, "no" | "false" | "off" | "0")
}

/// The namespaces a unit's `RestrictNamespaces=` assignments forbid.
fn restricted_namespaces(unit: &Unit) -> Vec<&'static str> {
    let mut allowed: Vec<&'static str> = NAMESPACES.to_vec();
    let mut allow_list: Option<Vec<&str>> = None;
    for v in unit.all("RestrictNamespaces") {
        if v.is_empty() || is_false(v) {
            allowed = NAMESPACES.to_vec();
            allow_list = None;
        } else if is_true(v) {
            allowed.clear();
            allow_list = Some(Vec::new());
        } else if let Some(denied) = v.strip_prefix('~') {
            let denied: Vec<&str> = denied.split_whitespace().collect();
            allowed.retain(|n| !denied.contains(n));
        } else {
            // Allow-lists of several assignments are merged.
            let list = allow_list.get_or_insert_with(Vec::new);
            list.extend(v.split_whitespace());
            allowed = NAMESPACES
                .iter()
                .copied()
                .filter(|n| list.contains(n))
                .collect();
        }
    }
    NAMESPACES
        .iter()
        .copied()
        .filter(|n| !allowed.contains(n))
        .collect()
}

/// Checks a parsed unit; `name` describes where it came from.
pub fn checks(unit: &Unit, name: &str) -> Vec<Check> {
    let mut out = Vec::new();
    let check_name = |what: &str| format!("unit: {what}");

    let restricted = restricted_namespaces(unit);
    if !restricted.is_empty() {
        out.push(Check::fail(
            check_name("RestrictNamespaces="),
            format!("forbids the {} namespaces", restricted.join(", ")),
            "remove RestrictNamespaces= from the unit (or its drop-ins): the workers confine \
             themselves and their jobs in user, mount, network, PID, IPC, UTS and cgroup \
             namespaces",
        ));
    }

    let filters = unit.list("SystemCallFilter");
    if !filters.is_empty() {
        let allow_list = filters.iter().any(|f| !f.starts_with('~'));
        let denied: Vec<&str> = filters
            .iter()
            .filter_map(|f| f.strip_prefix('~'))
            .flat_map(str::split_whitespace)
            .filter(|s| SANDBOX_SYSCALLS.contains(&s.split(':').next().unwrap_or(s)))
            .collect();
        if allow_list {
            out.push(Check::fail(
                check_name("SystemCallFilter="),
                format!("an allow-list ({})", filters.join(" ")),
                "remove SystemCallFilter=: a unit's filter binds the workers too, which need \
                 mount, pivot_root, unshare, clone3, seccomp and landlock_* (and install their \
                 own, stricter filter in every job)",
            ));
        } else if !denied.is_empty() {
            out.push(Check::fail(
                check_name("SystemCallFilter="),
                format!("denies {}", denied.join(" ")),
                "remove these from SystemCallFilter=: the workers' sandbox needs them",
            ));
        } else {
            out.push(Check::warn(
                check_name("SystemCallFilter="),
                format!("set ({})", filters.join(" ")),
                "a unit's filter binds the workers too: make sure it allows what their \
                 sandbox calls (doctor run inside the service shows it)",
            ));
        }
    }

    if unit.last("MemoryDenyWriteExecute").is_some_and(is_true) {
        out.push(Check::fail(
            check_name("MemoryDenyWriteExecute="),
            "yes",
            "remove MemoryDenyWriteExecute=: execute workers map compiled PVF code executable",
        ));
    }

    let families = unit.list("RestrictAddressFamilies");
    if !families.is_empty() {
        let mut allowed_unix = true;
        for f in &families {
            if *f == "none" {
                allowed_unix = false;
            } else if let Some(denied) = f.strip_prefix('~') {
                if denied.split_whitespace().any(|a| a == "AF_UNIX") {
                    allowed_unix = false;
                }
            } else {
                allowed_unix = f.split_whitespace().any(|a| a == "AF_UNIX");
            }
        }
        if !allowed_unix {
            out.push(Check::fail(
                check_name("RestrictAddressFamilies="),
                format!("no AF_UNIX ({})", families.join(" ")),
                "allow AF_UNIX: node and workers talk over Unix sockets",
            ));
        }
    }

    let noexec = unit.list("NoExecPaths");
    if !noexec.is_empty() {
        out.push(Check::warn(
            check_name("NoExecPaths="),
            noexec.join(" "),
            "artifacts are mapped executable: keep the cache (/var/lib/pvf-host) out of \
             NoExecPaths=",
        ));
    }

    let cgroup_hint = "add Delegate=pids memory and DelegateSubgroup=supervisor (systemd 254 or \
                       later) so that the node can give each worker a task and memory limit";
    match unit.last("Delegate") {
        None => out.push(Check::warn(
            check_name("Delegate="),
            "missing: no cgroup subtree is delegated",
            cgroup_hint,
        )),
        Some(v) if is_false(v) => {
            out.push(Check::warn(check_name("Delegate="), v, cgroup_hint));
        }
        Some(v) => {
            let missing: Vec<&str> = if is_true(v) {
                Vec::new()
            } else {
                ["pids", "memory"]
                    .into_iter()
                    .filter(|c| !v.split_whitespace().any(|x| x == *c))
                    .collect()
            };
            if !missing.is_empty() {
                out.push(Check::warn(
                    check_name("Delegate="),
                    format!("{v}: without {}", missing.join(", ")),
                    cgroup_hint,
                ));
            }
            if unit.last("DelegateSubgroup").is_none() {
                out.push(Check::warn(
                    check_name("DelegateSubgroup="),
                    "missing: the node's processes sit in the delegated cgroup, which then \
                     cannot pass controllers down",
                    cgroup_hint,
                ));
            }
        }
    }
    if let Some(v) = unit.last("ProtectControlGroups")
        && (is_true(v) || v == "strict")
    {
        out.push(Check::warn(
            check_name("ProtectControlGroups="),
            v,
            "remove ProtectControlGroups=: it makes /sys/fs/cgroup read-only, so workers get \
             no cgroup limits",
        ));
    }

    match unit
        .last("User")
        .or(unit.last("DynamicUser").filter(|v| is_true(v)))
    {
        None | Some("root" | "0") => out.push(Check::warn(
            check_name("User="),
            "the node runs as root",
            "run the node as its own user (User=pvf-host, which the package creates)",
        )),
        Some(_) => {}
    }

    let files = unit
        .files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if out.iter().all(|c| c.status == "ok") {
        out.push(Check::ok(
            "systemd unit",
            format!("{name}: {files}: no setting breaks the sandbox"),
        ));
    } else {
        out.insert(0, Check::ok("systemd unit", format!("{name}: {files}")));
    }
    out
}

/// The installed unit and its drop-ins, in the order systemd applies them (empty when the
/// unit is not installed).
pub fn installed(dirs: &[&str]) -> Vec<PathBuf> {
    let Some(main) = dirs
        .iter()
        .map(|d| Path::new(d).join(UNIT))
        .find(|p| p.is_file())
    else {
        return Vec::new();
    };
    let mut dropins: Vec<(std::ffi::OsString, PathBuf)> = Vec::new();
    for d in dirs {
        let Ok(entries) = std::fs::read_dir(Path::new(d).join(format!("{UNIT}.d"))) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            if name.to_string_lossy().ends_with(".conf") && !dropins.iter().any(|(n, _)| *n == name)
            {
                dropins.push((name, e.path()));
            }
        }
    }
    dropins.sort();
    std::iter::once(main)
        .chain(dropins.into_iter().map(|(_, p)| p))
        .collect()
}

/// The checks for `--unit FILE` (with drop-ins in `FILE.d/`), or for the installed unit.
pub fn report(unit_file: Option<&Path>) -> Vec<Check> {
    let (files, name) = match unit_file {
        Some(f) => {
            let mut files = vec![f.to_path_buf()];
            let dir = PathBuf::from(format!("{}.d", f.display()));
            if let Ok(entries) = std::fs::read_dir(&dir) {
                let mut extra: Vec<PathBuf> = entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "conf"))
                    .collect();
                extra.sort();
                files.extend(extra);
            }
            (files, "--unit")
        }
        None => (installed(UNIT_DIRS), "installed"),
    };
    if files.is_empty() {
        return vec![Check::ok(
            "systemd unit",
            format!("{UNIT} is not installed: nothing to check"),
        )];
    }
    let mut texts = Vec::new();
    for f in files {
        match std::fs::read_to_string(&f) {
            Ok(t) => texts.push((f, t)),
            Err(e) => {
                return vec![Check::fail(
                    "systemd unit",
                    format!("cannot read {}: {e}", f.display()),
                    "check the unit file's permissions",
                )];
            }
        }
    }
    checks(&Unit::parse(&texts), name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The unit the package installs.
    const SHIPPED: &str = include_str!("../../../packaging/pvf-node.service");

    fn unit(extra: &str) -> Unit {
        Unit::parse(&[
            ("pvf-node.service".into(), SHIPPED.into()),
            ("override.conf".into(), format!("[Service]\n{extra}\n")),
        ])
    }

    fn statuses(checks: &[Check]) -> Vec<(String, &'static str)> {
        checks
            .iter()
            .filter(|c| c.status != "ok")
            .map(|c| (c.name.clone(), c.status))
            .collect()
    }

    #[test]
    fn the_shipped_unit_breaks_nothing() {
        let checks = checks(&unit(""), "test");
        assert_eq!(statuses(&checks), vec![], "{checks:?}");
        assert!(checks[0].detail.contains("no setting breaks"), "{checks:?}");
    }

    #[test]
    fn each_setting_that_breaks_the_sandbox_is_named_with_a_hint() {
        for (setting, name, status) in [
            (
                "RestrictNamespaces=yes",
                "unit: RestrictNamespaces=",
                "fail",
            ),
            (
                "RestrictNamespaces=~user",
                "unit: RestrictNamespaces=",
                "fail",
            ),
            (
                "RestrictNamespaces=mnt pid",
                "unit: RestrictNamespaces=",
                "fail",
            ),
            (
                "SystemCallFilter=@system-service",
                "unit: SystemCallFilter=",
                "fail",
            ),
            (
                "SystemCallFilter=~@mount",
                "unit: SystemCallFilter=",
                "fail",
            ),
            ("SystemCallFilter=~@swap", "unit: SystemCallFilter=", "warn"),
            (
                "MemoryDenyWriteExecute=yes",
                "unit: MemoryDenyWriteExecute=",
                "fail",
            ),
            (
                "RestrictAddressFamilies=AF_INET",
                "unit: RestrictAddressFamilies=",
                "fail",
            ),
            ("NoExecPaths=/", "unit: NoExecPaths=", "warn"),
            ("Delegate=no", "unit: Delegate=", "warn"),
            ("Delegate=pids", "unit: Delegate=", "warn"),
            (
                "ProtectControlGroups=yes",
                "unit: ProtectControlGroups=",
                "warn",
            ),
            ("User=root", "unit: User=", "warn"),
        ] {
            let checks = checks(&unit(setting), "test");
            let bad = statuses(&checks);
            assert_eq!(
                bad,
                vec![(name.to_string(), status)],
                "{setting}: {checks:?}"
            );
            let c = checks.iter().find(|c| c.name == name).unwrap();
            assert!(c.hint.as_deref().is_some_and(|h| h.len() > 20), "{c:?}");
        }
    }

    #[test]
    fn later_assignments_and_resets_follow_systemd() {
        // A drop-in that resets a filter, or allows every namespace again, breaks nothing.
        let u = unit("SystemCallFilter=@system-service\nSystemCallFilter=");
        assert_eq!(statuses(&checks(&u, "t")), vec![]);
        let u = unit("RestrictNamespaces=yes\nRestrictNamespaces=no");
        assert_eq!(statuses(&checks(&u, "t")), vec![]);
        let u = unit("RestrictNamespaces=user mnt net pid ipc uts cgroup");
        assert_eq!(statuses(&checks(&u, "t")), vec![]);
        // A unit without Delegate= at all, and one that delegates without a subgroup.
        let bare = Unit::parse(&[(
            "x.service".into(),
            "[Service]\nUser=pvf-host\nExecStart=/usr/bin/pvf-node run\n".into(),
        )]);
        assert_eq!(
            statuses(&checks(&bare, "t")),
            vec![("unit: Delegate=".to_string(), "warn")]
        );
        let u = Unit::parse(&[(
            "x.service".into(),
            "[Service]\nUser=pvf-host\nDelegate=yes\n# Delegate=no\n".into(),
        )]);
        assert_eq!(
            statuses(&checks(&u, "t")),
            vec![("unit: DelegateSubgroup=".to_string(), "warn")]
        );
        // Settings outside [Service] do not count.
        let u = Unit::parse(&[(
            "x.service".into(),
            "[Unit]\nRestrictNamespaces=yes\n[Service]\nUser=a\nDelegate=yes\nDelegateSubgroup=s\n"
                .into(),
        )]);
        assert_eq!(statuses(&checks(&u, "t")), vec![]);
    }

    #[test]
    fn the_installed_unit_and_its_drop_ins_are_found_in_systemds_order() {
        let root = tempfile::tempdir().unwrap();
        let etc = root.path().join("etc");
        let lib = root.path().join("lib");
        std::fs::create_dir_all(lib.join(format!("{UNIT}.d"))).unwrap();
        std::fs::create_dir_all(etc.join(format!("{UNIT}.d"))).unwrap();
        std::fs::write(lib.join(UNIT), SHIPPED).unwrap();
        std::fs::write(lib.join(format!("{UNIT}.d/10-a.conf")), "[Service]\n").unwrap();
        std::fs::write(
            etc.join(format!("{UNIT}.d/10-a.conf")),
            "[Service]\nRestrictNamespaces=yes\n",
        )
        .unwrap();
        std::fs::write(lib.join(format!("{UNIT}.d/20-b.conf")), "[Service]\n").unwrap();
        let dirs = [etc.to_str().unwrap(), lib.to_str().unwrap()];
        let files = installed(&dirs);
        assert_eq!(
            files,
            vec![
                lib.join(UNIT),
                etc.join(format!("{UNIT}.d/10-a.conf")),
                lib.join(format!("{UNIT}.d/20-b.conf")),
            ]
        );
        let texts: Vec<(PathBuf, String)> = files
            .into_iter()
            .map(|f| {
                let t = std::fs::read_to_string(&f).unwrap();
                (f, t)
            })
            .collect();
        let checks = checks(&Unit::parse(&texts), "installed");
        assert_eq!(
            statuses(&checks),
            vec![("unit: RestrictNamespaces=".to_string(), "fail")]
        );
        assert!(installed(&[root.path().join("none").to_str().unwrap()]).is_empty());
    }
}
