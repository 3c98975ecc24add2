//! The network file: zombienet's TOML layout, with the keys this runner understands.
//!
//! Zombienet describes a network as a relay chain (`[relaychain]`, its `nodes` and counted
//! `node_groups`, each with a `command` and `args`) and `[[parachains]]` with a collator.
//! We keep that shape so a reader of polkadot-sdk's zombienet tests reads ours at once, and
//! reject any key we do not understand (a typo must not silently change a scenario).
//!
//! ```toml
//! [settings]
//! timeout = 60            # seconds for the whole test
//! block_time_ms = 500     # the relay-chain stand-in's block time
//!
//! [relaychain]
//! default_command = "pvf-node serve"
//! needed_approvals = 2
//!
//! [[relaychain.nodes]]
//! name = "alice"
//!
//! [[relaychain.node_groups]]
//! name = "malus"
//! count = 1
//! command = "pvf-malus dispute-valid-candidates"
//! args = ["--percentage", "100"]
//!
//! [[parachains]]
//! id = 100
//! [parachains.collator]
//! name = "collator-100"
//! command = "undying-collator"
//! args = ["--pov-size=10000", "--pvf-complexity=2"]
//!
//! [[parachains.upgrades]]
//! at_block = 3
//! code = "builtin:adder-mvp"
//! ```
//!
//! A node's process is `COMMAND --name NAME --rpc-port 0 --prometheus-port 0 --cache-path
//! DIR ARGS…`; node groups expand to `NAME-0` … `NAME-(count-1)`. Collators are built into the
//! runner (see [`crate::relay::collator`]); code is `builtin:NAME` or a Wasm file path,
//! relative to the network file.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A network file as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkFile {
    /// Run-wide settings.
    #[serde(default)]
    pub settings: Settings,
    /// The relay chain and its validators.
    pub relaychain: RelayChain,
    /// The parachains.
    #[serde(default)]
    pub parachains: Vec<Parachain>,
}

/// `[settings]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Seconds the whole test may take (assertions beyond it fail).
    #[serde(default = "default_timeout")]
    pub timeout: u64,
    /// Seconds a node may take to print its serving line.
    #[serde(default = "default_spawn_timeout")]
    pub node_spawn_timeout: u64,
    /// The relay-chain stand-in's block time, in milliseconds.
    #[serde(default = "default_block_time")]
    pub block_time_ms: u64,
    /// Seed of the random approval-checker selection (default: drawn and printed).
    pub seed: Option<u64>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            timeout: default_timeout(),
            node_spawn_timeout: default_spawn_timeout(),
            block_time_ms: default_block_time(),
            seed: None,
        }
    }
}

fn default_timeout() -> u64 {
    300
}
fn default_spawn_timeout() -> u64 {
    30
}
fn default_block_time() -> u64 {
    1000
}

/// `[relaychain]`: the validators and the protocol parameters of the stand-in.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayChain {
    /// The command of nodes that name none.
    #[serde(default = "default_command")]
    pub default_command: String,
    /// Arguments added to every node that names none.
    #[serde(default)]
    pub default_args: Vec<String>,
    /// Zombienet's chain name; recorded, not used.
    pub chain: Option<String>,
    /// Validators per backing group (default 2; the last group takes the remainder).
    #[serde(default = "default_group_size")]
    pub backing_group_size: usize,
    /// Valid backing votes a candidate needs (default 2, at most the group's size).
    #[serde(default = "default_min_backing_votes")]
    pub minimum_backing_votes: usize,
    /// Approval checkers per candidate (default 2).
    #[serde(default = "default_needed_approvals")]
    pub needed_approvals: usize,
    /// The validation data's `max_pov_size` (default 5 MiB).
    #[serde(default = "default_max_pov_size")]
    pub max_pov_size: u32,
    /// Relay blocks between an accepted pre-check and the upgrade's enactment (default 2).
    #[serde(default = "default_upgrade_delay")]
    pub validation_upgrade_delay: u32,
    /// Named validators.
    #[serde(default)]
    pub nodes: Vec<NodeSpec>,
    /// Counted validators.
    #[serde(default)]
    pub node_groups: Vec<NodeGroup>,
}

fn default_command() -> String {
    "pvf-node serve".into()
}
fn default_group_size() -> usize {
    2
}
fn default_min_backing_votes() -> usize {
    2
}
fn default_needed_approvals() -> usize {
    2
}
fn default_max_pov_size() -> u32 {
    5 * 1024 * 1024
}
fn default_upgrade_delay() -> u32 {
    2
}

/// An environment variable for a node.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvVar {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// `[[relaychain.nodes]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// The node's name in the test file.
    pub name: String,
    /// Its command (words split on whitespace); default: the relay chain's.
    pub command: Option<String>,
    /// Its arguments; default: the relay chain's `default_args`.
    pub args: Option<Vec<String>>,
    /// Extra environment.
    #[serde(default)]
    pub env: Vec<EnvVar>,
    /// Zombienet's flag; every node here is a validator, `false` is refused.
    #[serde(default = "yes")]
    pub validator: bool,
}

fn yes() -> bool {
    true
}

/// `[[relaychain.node_groups]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeGroup {
    /// The group's name; its nodes are `NAME-0` … and the test file may name the group.
    pub name: String,
    /// How many nodes.
    pub count: usize,
    /// Their command; default: the relay chain's.
    pub command: Option<String>,
    /// Their arguments; default: the relay chain's `default_args`.
    pub args: Option<Vec<String>>,
    /// Extra environment.
    #[serde(default)]
    pub env: Vec<EnvVar>,
}

/// `[[parachains]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parachain {
    /// The para id.
    pub id: u32,
    /// Zombienet's flag; recorded, every parachain is registered at genesis.
    #[serde(default = "yes", rename = "addToGenesis")]
    pub add_to_genesis: bool,
    /// Its genesis code: `builtin:NAME` or a path; default: the collator's.
    pub genesis_wasm_path: Option<String>,
    /// The collator.
    pub collator: CollatorSpec,
    /// Code upgrades to schedule (pre-checked by every validator).
    #[serde(default)]
    pub upgrades: Vec<UpgradeSpec>,
}

/// `[parachains.collator]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollatorSpec {
    /// Its name in logs.
    pub name: String,
    /// A built-in collator: `adder-collator`, `undying-collator` or `replay-collator`.
    pub command: String,
    /// Its arguments (`--key=value` or `--key value`).
    #[serde(default)]
    pub args: Vec<String>,
}

/// `[[parachains.upgrades]]`: a code upgrade the stand-in schedules.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpgradeSpec {
    /// The relay block at which pre-checking starts.
    pub at_block: u32,
    /// The new code: `builtin:NAME` or a path.
    pub code: String,
}

/// A validator to start, resolved from `nodes` and `node_groups`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeLaunch {
    /// Its name.
    pub name: String,
    /// The group it was expanded from, if any.
    pub group: Option<String>,
    /// Program and leading words of the command.
    pub command: Vec<String>,
    /// The arguments after the runner's own flags.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
}

impl NodeLaunch {
    /// The malus variant, if the command is `pvf-malus VARIANT`.
    pub fn malus_variant(&self) -> Option<&str> {
        let program = Path::new(self.command.first()?).file_name()?.to_str()?;
        (program == "pvf-malus").then(|| self.command.get(1).map_or("?", |s| s.as_str()))
    }
}

/// Why a network file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The file cannot be read.
    #[error("cannot read the network file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It is not valid TOML for this layout.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The TOML parser's message (with the line).
        message: String,
    },
    /// It is TOML, but inconsistent.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// A network ready to start.
#[derive(Clone, Debug)]
pub struct Network {
    /// Where the file lives (relative paths are taken from its folder).
    pub path: PathBuf,
    /// The file as written.
    pub file: NetworkFile,
    /// Every validator, in order.
    pub nodes: Vec<NodeLaunch>,
}

impl Network {
    /// Reads and checks a network file.
    pub fn load(path: &Path) -> Result<Self, NetworkError> {
        let text = std::fs::read_to_string(path).map_err(|source| NetworkError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses a network file's text; `path` names it in errors and anchors relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Self, NetworkError> {
        let file: NetworkFile = toml::from_str(text).map_err(|e| NetworkError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let invalid = |message: String| NetworkError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let nodes = expand_nodes(&file.relaychain).map_err(invalid)?;
        check(&file, &nodes).map_err(invalid)?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            nodes,
        })
    }

    /// The folder relative paths are taken from.
    pub fn base_dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// The block time.
    pub fn block_time(&self) -> Duration {
        Duration::from_millis(self.file.settings.block_time_ms)
    }

    /// The names of the nodes a test-file subject refers to: one node, or a whole group.
    pub fn resolve_subject(&self, subject: &str) -> Vec<String> {
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| n.name == subject || n.group.as_deref() == Some(subject))
            .map(|n| n.name.clone())
            .collect();
        nodes
    }
}

fn words(command: &str) -> Vec<String> {
    command.split_whitespace().map(str::to_string).collect()
}

fn env(vars: &[EnvVar]) -> Vec<(String, String)> {
    vars.iter()
        .map(|v| (v.name.clone(), v.value.clone()))
        .collect()
}

fn expand_nodes(relay: &RelayChain) -> Result<Vec<NodeLaunch>, String> {
    let mut nodes = Vec::new();
    for n in &relay.nodes {
        if !n.validator {
            return Err(format!(
                "node {:?}: only validators are supported (validator = false)",
                n.name
            ));
        }
        nodes.push(NodeLaunch {
            name: n.name.clone(),
            group: None,
            command: words(n.command.as_deref().unwrap_or(&relay.default_command)),
            args: n.args.clone().unwrap_or_else(|| relay.default_args.clone()),
            env: env(&n.env),
        });
    }
    for g in &relay.node_groups {
        if g.count == 0 {
            return Err(format!("node group {:?}: count must be at least 1", g.name));
        }
        for i in 0..g.count {
            nodes.push(NodeLaunch {
                name: format!("{}-{i}", g.name),
                group: Some(g.name.clone()),
                command: words(g.command.as_deref().unwrap_or(&relay.default_command)),
                args: g.args.clone().unwrap_or_else(|| relay.default_args.clone()),
                env: env(&g.env),
            });
        }
    }
    Ok(nodes)
}

fn check(file: &NetworkFile, nodes: &[NodeLaunch]) -> Result<(), String> {
    if nodes.is_empty() {
        return Err("the relay chain has no validators".into());
    }
    let mut seen = std::collections::HashSet::new();
    for n in nodes {
        if n.command.is_empty() {
            return Err(format!("node {:?}: empty command", n.name));
        }
        if n.name.is_empty() || n.name.contains(char::is_whitespace) || n.name.contains(':') {
            return Err(format!("node {:?}: a name has no spaces or colons", n.name));
        }
        if !seen.insert(n.name.as_str()) {
            return Err(format!("node {:?} is defined twice", n.name));
        }
    }
    let relay = &file.relaychain;
    if relay.backing_group_size == 0 || relay.minimum_backing_votes == 0 {
        return Err("backing_group_size and minimum_backing_votes must be at least 1".into());
    }
    if relay.needed_approvals == 0 || relay.needed_approvals > nodes.len() {
        return Err(format!(
            "needed_approvals is {}, it must be between 1 and the {} validators",
            relay.needed_approvals,
            nodes.len()
        ));
    }
    if file.settings.block_time_ms == 0 {
        return Err("settings.block_time_ms must be at least 1".into());
    }
    let mut ids = std::collections::HashSet::new();
    for p in &file.parachains {
        if !ids.insert(p.id) {
            return Err(format!("parachain {} is defined twice", p.id));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NET: &str = r#"
[settings]
timeout = 30
block_time_ms = 250

[relaychain]
default_command = "pvf-node serve"
default_args = ["--execute-workers-max-num", "1"]
needed_approvals = 2

[[relaychain.nodes]]
name = "alice"

[[relaychain.nodes]]
name = "bob"
args = []

[[relaychain.node_groups]]
name = "malus"
count = 2
command = "pvf-malus dispute-valid-candidates"
args = ["--percentage", "100"]

[[parachains]]
id = 100
[parachains.collator]
name = "c"
command = "adder-collator"

[[parachains.upgrades]]
at_block = 3
code = "builtin:adder-mvp"
"#;

    #[test]
    fn parses_zombienet_layout_and_expands_groups() {
        let net = Network::parse(NET, Path::new("/x/net.toml")).unwrap();
        let names: Vec<_> = net.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["alice", "bob", "malus-0", "malus-1"]);
        assert_eq!(net.nodes[0].command, ["pvf-node", "serve"]);
        assert_eq!(net.nodes[0].args, ["--execute-workers-max-num", "1"]);
        assert!(net.nodes[1].args.is_empty());
        assert_eq!(
            net.nodes[2].malus_variant(),
            Some("dispute-valid-candidates")
        );
        assert_eq!(net.nodes[0].malus_variant(), None);
        assert_eq!(net.resolve_subject("malus"), ["malus-0", "malus-1"]);
        assert_eq!(net.resolve_subject("bob"), ["bob"]);
        assert!(net.resolve_subject("carol").is_empty());
        assert_eq!(net.block_time(), Duration::from_millis(250));
        assert_eq!(net.file.parachains[0].upgrades[0].at_block, 3);
        assert_eq!(net.base_dir(), Path::new("/x"));
    }

    #[test]
    fn unknown_keys_and_inconsistencies_are_errors() {
        let err = Network::parse(
            "[relaychain]\nnodez = []\n[[relaychain.nodes]]\nname = \"a\"\n",
            Path::new("n.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("nodez") && err.contains("line 2"), "{err}");
        let err = Network::parse("[relaychain]\n", Path::new("n.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no validators"), "{err}");
        let twice = "[relaychain]\nneeded_approvals = 1\n[[relaychain.nodes]]\nname = \"a\"\n[[relaychain.nodes]]\nname = \"a\"\n";
        let err = Network::parse(twice, Path::new("n.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("defined twice"), "{err}");
        let too_many = "[relaychain]\nneeded_approvals = 3\n[[relaychain.nodes]]\nname = \"a\"\n";
        let err = Network::parse(too_many, Path::new("n.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("needed_approvals is 3"), "{err}");
    }
}
