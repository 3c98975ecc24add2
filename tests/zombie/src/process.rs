//! Node processes: started on 127.0.0.1 with their own cache and ports, stopped for sure.
//!
//! Each node runs `COMMAND --name NAME --rpc-port 0 --prometheus-port 0 --cache-path DIR
//! ARGS…`, so the kernel picks free ports and no two nodes share a cache; the ports come
//! from the one line a node prints on stdout once it listens (docs/rpc.md). Everything else
//! the node writes, stdout and stderr, goes to `LOGS/NAME.log`, which outlives the run.
//!
//! Stopping must not depend on the runner ending well: each node runs in a process group of
//! its own (Ctrl-C in a terminal reaches the runner only, which then stops the nodes in
//! order) with `PR_SET_PDEATHSIG`, so a runner killed outright still takes its nodes along.

use crate::network::NodeLaunch;
use crate::rpc::RpcClient;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// A running node.
#[derive(Debug)]
pub struct NodeProcess {
    /// Its name.
    pub name: String,
    /// How it was launched.
    pub launch: NodeLaunch,
    /// Its process id.
    pub pid: u32,
    /// Its JSON-RPC address.
    pub rpc_addr: SocketAddr,
    /// Its Prometheus address, if it serves one.
    pub prometheus: Option<SocketAddr>,
    /// Its log file.
    pub log_path: PathBuf,
    /// A client of its JSON-RPC endpoint.
    pub client: RpcClient,
    child: Child,
}

/// Finds a bare program name next to this executable first, then on `$PATH`; a name with
/// a `/` is taken as a path.
pub fn resolve_program(program: &str) -> Result<PathBuf, String> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("{program}: no such file"))
        };
    }
    let mut tried = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        let p = dir.join(program);
        if p.is_file() {
            return Ok(p);
        }
        tried.push(dir.display().to_string());
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        let p = dir.join(program);
        if p.is_file() {
            return Ok(p);
        }
    }
    tried.push("$PATH".into());
    Err(format!(
        "{program} not found (looked in {}): build it with `cargo build --release --bins`",
        tried.join(", ")
    ))
}

/// Parses the serving line: `… serving: name=N rpc=127.0.0.1:P prometheus=127.0.0.1:P|none`.
pub fn parse_serving_line(line: &str) -> Option<(SocketAddr, Option<SocketAddr>)> {
    let (_, fields) = line.split_once("serving:")?;
    let mut rpc = None;
    let mut prometheus = None;
    for field in fields.split_whitespace() {
        if let Some(v) = field.strip_prefix("rpc=") {
            rpc = Some(v.parse().ok()?);
        } else if let Some(v) = field.strip_prefix("prometheus=") {
            prometheus = Some(if v == "none" {
                None
            } else {
                Some(v.parse().ok()?)
            });
        }
    }
    Some((rpc?, prometheus?))
}

impl NodeProcess {
    /// Starts `launch`, its cache under `cache_root/NAME`, its log `logs/NAME.log`, and
    /// waits for its serving line.
    pub async fn spawn(
        launch: &NodeLaunch,
        cache_root: &Path,
        logs: &Path,
        timeout: Duration,
    ) -> Result<Self, String> {
        let name = &launch.name;
        let program = resolve_program(&launch.command[0])?;
        let cache = cache_root.join(name);
        std::fs::create_dir_all(&cache)
            .map_err(|e| format!("{name}: cannot create {}: {e}", cache.display()))?;
        let log_path = logs.join(format!("{name}.log"));
        let open_log = || {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .map_err(|e| format!("{name}: cannot open {}: {e}", log_path.display()))
        };
        let mut cmd = Command::new(&program);
        cmd.args(&launch.command[1..])
            .args(["--name", name, "--rpc-port", "0", "--prometheus-port", "0"])
            .arg("--cache-path")
            .arg(&cache)
            .args(&launch.args)
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(open_log()?))
            .kill_on_drop(true);
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setpgid(0, 0) != 0
                    || libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("{name}: cannot start {}: {e}", program.display()))?;
        let pid = child.id().unwrap_or(0);
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let mut log = tokio::fs::File::from_std(open_log()?);
        let wait_line = async {
            while let Some(line) = lines.next_line().await.map_err(|e| e.to_string())? {
                let _ = log.write_all(format!("{line}\n").as_bytes()).await;
                if let Some(addrs) = parse_serving_line(&line) {
                    return Ok(addrs);
                }
            }
            Err("it exited before it served".to_string())
        };
        let (rpc_addr, prometheus) = match tokio::time::timeout(timeout, wait_line).await {
            Ok(Ok(addrs)) => addrs,
            Ok(Err(e)) => {
                let status = child
                    .wait()
                    .await
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                return Err(format!(
                    "{name}: {e} ({status}); see {}",
                    log_path.display()
                ));
            }
            Err(_) => {
                let _ = child.start_kill();
                return Err(format!(
                    "{name}: no serving line within {timeout:?}; see {}",
                    log_path.display()
                ));
            }
        };
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = log.write_all(format!("{line}\n").as_bytes()).await;
            }
        });
        Ok(Self {
            name: name.clone(),
            launch: launch.clone(),
            pid,
            rpc_addr,
            prometheus,
            log_path,
            client: RpcClient::new(rpc_addr),
            child,
        })
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops the node: SIGTERM, then SIGKILL to its whole process group after `grace`.
    pub async fn stop(&mut self, grace: Duration) {
        if self.is_running() {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGTERM) };
            if tokio::time::timeout(grace, self.child.wait())
                .await
                .is_err()
            {
                let _ = self.child.start_kill();
                let _ = self.child.wait().await;
            }
        }
        // Workers left in the node's group go too.
        // SAFETY: the group is the node's own (setpgid in pre_exec).
        unsafe { libc::kill(-(self.pid as libc::pid_t), libc::SIGKILL) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serving_line() {
        let (rpc, prom) = parse_serving_line(
            "pvf-node serving: name=alice rpc=127.0.0.1:41234 prometheus=127.0.0.1:41235",
        )
        .unwrap();
        assert_eq!(rpc, "127.0.0.1:41234".parse().unwrap());
        assert_eq!(prom, Some("127.0.0.1:41235".parse().unwrap()));
        let (_, prom) =
            parse_serving_line("pvf-malus serving: name=m rpc=127.0.0.1:1 prometheus=none")
                .unwrap();
        assert_eq!(prom, None);
        assert!(parse_serving_line("starting up").is_none());
        assert!(parse_serving_line("pvf-node serving: name=a prometheus=none").is_none());
        assert!(parse_serving_line("pvf-node serving: rpc=x prometheus=none").is_none());
    }

    #[test]
    fn programs_resolve_as_documented() {
        assert!(resolve_program("sh").unwrap().is_file());
        let err = resolve_program("no-such-program-here").unwrap_err();
        assert!(
            err.contains("$PATH") && err.contains("cargo build"),
            "{err}"
        );
        assert!(resolve_program("/no/such/file").is_err());
    }
}
