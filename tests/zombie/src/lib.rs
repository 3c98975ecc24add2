//! `pvf-zombie`: zombienet's scenario tests, for the PVF host.
//!
//! Zombienet runs a network of real Polkadot nodes and checks a test file of assertions
//! against it. Our nodes are `pvf-node serve` and `pvf-malus` — the PVF host without a
//! relay chain — so this runner keeps zombienet's two files (a TOML network, a DSL test) and
//! its real processes, and plays the relay chain itself: a stand-in ([`relay`]) that backs,
//! approves and disputes candidates over the nodes' JSON-RPC interface (docs/rpc.md) and
//! records what happened (candidates, disputes, slashes) for the assertions to check.
//!
//! Modules by concern: [`network`] (the TOML), [`dsl`] (the test file), [`process`] (node
//! processes), [`rpc`] (the JSON-RPC client), [`metrics`] (Prometheus text), [`relay`] (the
//! stand-in), [`assertions`] (evaluation), [`report`] (progress, summary, exit status).

pub mod assertions;
pub mod dsl;
pub mod metrics;
pub mod network;
pub mod process;
pub mod relay;
pub mod report;
pub mod rpc;
mod run;

pub use run::{RunOptions, check_test, run_network, run_test};
