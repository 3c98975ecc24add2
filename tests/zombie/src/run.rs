//! One run: load the files, start the nodes, run the stand-in and the assertions, stop
//! everything, report.

use crate::assertions::{self, World};
use crate::dsl;
use crate::network::Network;
use crate::process::NodeProcess;
use crate::relay::{Relay, Validator};
use crate::report::{self, Progress};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options of a run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Where node logs go (default: a fresh folder under the temporary directory, kept).
    pub logs: Option<PathBuf>,
}

/// A started network: its nodes, the stand-in, the folders.
struct Started {
    network: Arc<Network>,
    nodes: Arc<tokio::sync::Mutex<Vec<NodeProcess>>>,
    relay: Relay,
    logs: PathBuf,
    _caches: tempfile::TempDir,
}

fn config_error(message: String) -> i32 {
    eprintln!("pvf-zombie: {message}");
    report::EXIT_CONFIG
}

async fn stop_all(nodes: &tokio::sync::Mutex<Vec<NodeProcess>>) {
    let mut nodes = nodes.lock().await;
    futures::future::join_all(nodes.iter_mut().map(|n| n.stop(Duration::from_secs(5)))).await;
}

/// A latch set by the first SIGINT or SIGTERM; installed once, so no signal that arrives
/// between two waits is lost.
#[derive(Clone)]
struct Interrupt(tokio::sync::watch::Receiver<bool>);

impl Interrupt {
    fn install() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        let mut int = signal(SignalKind::interrupt()).expect("a SIGINT handler");
        let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler");
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            let _ = tx.send(true);
        });
        Self(rx)
    }

    /// Resolves once a signal arrived (at once if one already did).
    async fn wait(&self) {
        let mut rx = self.0.clone();
        let _ = rx.wait_for(|set| *set).await;
    }
}

async fn start(
    network: Network,
    options: &RunOptions,
    progress: &Progress,
) -> Result<Started, String> {
    let seed = network.file.settings.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    let logs = match &options.logs {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            dir.clone()
        }
        None => tempfile::Builder::new()
            .prefix("pvf-zombie-logs-")
            .tempdir()
            .map_err(|e| format!("cannot create a logs folder: {e}"))?
            .keep(),
    };
    let caches = tempfile::Builder::new()
        .prefix("pvf-zombie-caches-")
        .tempdir()
        .map_err(|e| format!("cannot create a cache folder: {e}"))?;
    progress.println(&format!(
        "starting {} nodes (logs in {}, seed {seed})",
        network.nodes.len(),
        logs.display()
    ));
    let timeout = Duration::from_secs(network.file.settings.node_spawn_timeout);
    let spawned = futures::future::join_all(
        network
            .nodes
            .iter()
            .map(|n| NodeProcess::spawn(n, caches.path(), &logs, timeout)),
    )
    .await;
    let mut nodes = Vec::new();
    let mut errors = Vec::new();
    for s in spawned {
        match s {
            Ok(n) => nodes.push(n),
            Err(e) => errors.push(e),
        }
    }
    let nodes = Arc::new(tokio::sync::Mutex::new(nodes));
    if !errors.is_empty() {
        stop_all(&nodes).await;
        return Err(format!(
            "the network did not start:\n  {}",
            errors.join("\n  ")
        ));
    }
    let validators = nodes
        .lock()
        .await
        .iter()
        .map(|n| {
            progress.println(&format!(
                "  {} is up: pid {}, rpc {}",
                n.name, n.pid, n.rpc_addr
            ));
            Validator {
                name: n.name.clone(),
                rpc: Arc::new(crate::rpc::RpcClient::new(n.rpc_addr)),
            }
        })
        .collect();
    let relay = match Relay::new(&network, validators, seed) {
        Ok(r) => r,
        Err(e) => {
            stop_all(&nodes).await;
            return Err(e);
        }
    };
    if let Err(e) = relay.register().await {
        stop_all(&nodes).await;
        return Err(format!("registering the parachains' code: {e}"));
    }
    Ok(Started {
        network: Arc::new(network),
        nodes,
        relay,
        logs,
        _caches: caches,
    })
}

/// Loads the network file and checks the collators' set-up (the parts `start` would refuse).
fn load_network(path: &Path) -> Result<Network, String> {
    let network = Network::load(path).map_err(|e| e.to_string())?;
    for p in &network.file.parachains {
        let err = |e: String| format!("{}: parachain {}: {e}", path.display(), p.id);
        crate::relay::collator::Collator::new(&p.collator, network.base_dir()).map_err(err)?;
        let codes = p
            .genesis_wasm_path
            .iter()
            .chain(p.upgrades.iter().map(|u| &u.code));
        for code in codes {
            crate::relay::collator::load_code(code, network.base_dir()).map_err(err)?;
        }
    }
    Ok(network)
}

/// Reads a test file and its network file and checks everything that can be checked
/// without starting a node: syntax, references, collators, code.
pub fn check_test(test_path: &Path) -> Result<(dsl::TestFile, Network), String> {
    let text = std::fs::read_to_string(test_path)
        .map_err(|e| format!("cannot read {}: {e}", test_path.display()))?;
    let test = dsl::parse(&text).map_err(|e| format!("{}: {e}", test_path.display()))?;
    let net_path = test_path
        .parent()
        .unwrap_or(Path::new("."))
        .join(&test.network);
    let network = load_network(&net_path)?;
    assertions::check_references(&network, &test.assertions)
        .map_err(|e| format!("{}: {e}", test_path.display()))?;
    Ok((test, network))
}

/// `pvf-zombie test FILE.zndsl`: runs the test; returns the exit status.
pub async fn run_test(test_path: &Path, options: RunOptions) -> i32 {
    let started_at = Instant::now();
    let (test, network) = match check_test(test_path) {
        Ok(t) => t,
        Err(e) => return config_error(e),
    };
    let deadline = started_at + Duration::from_secs(network.file.settings.timeout);
    let title = format!(
        "pvf-zombie: {}{}",
        test_path.display(),
        test.description
            .as_deref()
            .map(|d| format!(" — {d}"))
            .unwrap_or_default()
    );
    let interrupt = Interrupt::install();
    let relay_state = Arc::new(std::sync::Mutex::new(crate::relay::State::default()));
    let mut progress = Progress::new(relay_state);
    let started = tokio::select! {
        s = start(network, &options, &progress) => s,
        _ = interrupt.wait() => {
            progress.finish();
            eprintln!("pvf-zombie: interrupted while starting");
            return report::EXIT_INTERRUPTED;
        }
    };
    let started = match started {
        Ok(s) => s,
        Err(e) => {
            progress.finish();
            return config_error(e);
        }
    };
    progress.finish();
    progress = Progress::new(started.relay.state.clone());
    let chain = tokio::spawn(started.relay.clone().run());
    let world = World {
        network: started.network.clone(),
        nodes: started.nodes.clone(),
        state: started.relay.state.clone(),
    };
    let mut results = Vec::new();
    let mut was_interrupted = false;
    for a in &test.assertions {
        let current = format!("line {}: {}", a.line, a.text);
        let evaluation = world.evaluate(a, deadline);
        tokio::pin!(evaluation);
        let outcome = loop {
            progress.refresh(&current);
            tokio::select! {
                o = &mut evaluation => break Some(o),
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = interrupt.wait() => break None,
            }
        };
        let Some(outcome) = outcome else {
            was_interrupted = true;
            break;
        };
        progress.refresh(&current);
        progress.println(&format!(
            "{} line {}: {} ({:.1} s) — {}",
            if outcome.observation.holds {
                "ok    "
            } else {
                "FAILED"
            },
            a.line,
            a.text,
            outcome.elapsed.as_secs_f64(),
            outcome.observation.observed
        ));
        results.push((a.clone(), outcome));
    }
    chain.abort();
    let _ = chain.await;
    progress.refresh("stopping the nodes");
    stop_all(&started.nodes).await;
    progress.finish();
    let nodes = started.nodes.lock().await;
    let state = started.relay.state.lock().expect("state lock");
    print!(
        "{}",
        report::summary(
            &title,
            &results,
            &nodes,
            &state,
            &started.logs,
            started_at.elapsed()
        )
    );
    if was_interrupted {
        eprintln!("pvf-zombie: interrupted; nodes stopped");
        report::EXIT_INTERRUPTED
    } else if results.iter().all(|(_, o)| o.observation.holds) {
        report::EXIT_PASS
    } else {
        report::EXIT_FAIL
    }
}

/// `pvf-zombie spawn NETWORK.toml`: runs the network until SIGINT/SIGTERM.
pub async fn run_network(net_path: &Path, options: RunOptions) -> i32 {
    let started_at = Instant::now();
    let interrupt = Interrupt::install();
    let network = match load_network(net_path) {
        Ok(n) => n,
        Err(e) => return config_error(e),
    };
    let progress = Progress::new(Arc::new(std::sync::Mutex::new(
        crate::relay::State::default(),
    )));
    let started = tokio::select! {
        s = start(network, &options, &progress) => s,
        _ = interrupt.wait() => return report::EXIT_INTERRUPTED,
    };
    progress.finish();
    let started = match started {
        Ok(s) => s,
        Err(e) => return config_error(e),
    };
    let progress = Progress::new(started.relay.state.clone());
    let chain = tokio::spawn(started.relay.clone().run());
    loop {
        progress.refresh("running until Ctrl-C");
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = interrupt.wait() => break,
        }
    }
    chain.abort();
    let _ = chain.await;
    stop_all(&started.nodes).await;
    progress.finish();
    let nodes = started.nodes.lock().await;
    let state = started.relay.state.lock().expect("state lock");
    print!(
        "{}",
        report::summary(
            &format!("pvf-zombie: {}", net_path.display()),
            &[],
            &nodes,
            &state,
            &started.logs,
            started_at.elapsed()
        )
    );
    report::EXIT_PASS
}
