//! The method handlers: each decodes its parameters, talks to the overseer through its
//! [`Handle`] (a message with a oneshot response channel, or the active-leaves event) and
//! encodes the answer.
//!
//! Nothing here validates or seconds by itself: validation and pre-checks go to candidate
//! validation, seconding to candidate backing, code lookups to the runtime-API stand-in, as
//! a validator's own subsystems would send them. Only `pvf_submitCode` writes the stand-in's
//! [`RuntimeApiStore`] directly: that store is the chain state, which a real node would not
//! write either but read from the relay chain.
//!
//! Every call is counted per method and outcome: `ok`, `error`, or `abandoned` when the
//! client left before the answer (jsonrpsee then drops the call's future, which drops its
//! response channel, so the subsystems abandon the work too).

use super::{
    encoding::{self, Candidate},
    error::{ParamError, RpcError},
};
use crate::{
    overseer::{AllMessages, Handle},
    runtime_api::RuntimeApiStore,
};
use futures::channel::oneshot;
use jsonrpsee::{
    RpcModule,
    types::{ErrorObjectOwned, Params},
};
use pvf_messages::{
    ExecutorParams, Hash, PvfExecKind, ValidationCode, ValidationCodeHash,
    candidate_backing::{CandidateBackingMessage, SecondOutcome},
    candidate_validation::{
        CandidateValidationMessage, HeadsUpError, RuntimeApiMessage, ValidationFailed,
    },
    host::ActiveLeaf,
    version::FULL_VERSION,
};
use serde_json::{Value, json};
use std::{
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

/// Where the handlers send their messages from, in the overseer's logs.
const ORIGIN: &str = "rpc";

/// Every method the server offers, in docs/rpc.md's order.
pub const METHODS: [&str; 8] = [
    "pvf_version",
    "pvf_health",
    "pvf_submitCode",
    "pvf_activeLeaves",
    "pvf_headsUp",
    "pvf_preCheck",
    "pvf_validateCandidate",
    "pvf_second",
];

/// What the handlers share: the node's name, its overseer, its chain state and metrics.
/// Cloning shares everything.
#[derive(Clone)]
pub struct Node {
    name: String,
    handle: Handle,
    store: RuntimeApiStore,
    metrics: pvf_metrics::Metrics,
    /// The last full set of active leaves, for requests that name no relay parent.
    leaves: Arc<Mutex<Vec<ActiveLeaf>>>,
    shutting_down: Arc<AtomicBool>,
}

impl Node {
    /// The state of a node called `name` that talks to the overseer through `handle`.
    pub fn new(
        name: String,
        handle: Handle,
        store: RuntimeApiStore,
        metrics: pvf_metrics::Metrics,
    ) -> Self {
        Self {
            name,
            handle,
            store,
            metrics,
            leaves: Arc::default(),
            shutting_down: Arc::default(),
        }
    }

    /// From now on, new calls are answered -32002; calls already running go on.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// The relay parent of requests that name none (pre-checks, heads-ups): the first of
    /// the current active leaves, else the zero hash. With the stand-in's default executor
    /// parameters every relay parent has the same session.
    fn relay_parent(&self) -> Hash {
        self.leaves
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .first()
            .map(|leaf| leaf.hash)
            .unwrap_or_default()
    }

    /// Sends the message `make` builds around a response channel and awaits the answer.
    async fn ask<T, M: Into<AllMessages>>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> M,
    ) -> Result<T, RpcError> {
        let (tx, rx) = oneshot::channel();
        self.handle.clone().send_msg(make(tx), ORIGIN).await;
        rx.await.map_err(|oneshot::Canceled| {
            if self.is_shutting_down() {
                RpcError::ShuttingDown
            } else {
                RpcError::Internal("the node dropped the request (a subsystem stopped)".into())
            }
        })
    }

    /// The code with this hash, from the runtime API.
    async fn code(&self, code_hash: ValidationCodeHash) -> Result<ValidationCode, RpcError> {
        self.ask(|tx| RuntimeApiMessage::ValidationCodeByHash(code_hash, tx))
            .await?
            .ok_or(RpcError::UnknownCode(vec![code_hash]))
    }

    /// The executor parameters of `relay_parent`'s session, from the runtime API.
    async fn executor_params(&self, relay_parent: Hash) -> Result<ExecutorParams, RpcError> {
        self.ask(|tx| RuntimeApiMessage::SessionExecutorParams(relay_parent, tx))
            .await?
            .ok_or_else(|| {
                RpcError::Internal(format!(
                    "no executor parameters known at relay parent {relay_parent}"
                ))
            })
    }

    /// Runs one call: refuses it during shutdown, counts its outcome (an `abandoned` one if
    /// the future is dropped before it ends).
    async fn call(
        &self,
        method: &'static str,
        work: impl Future<Output = Result<Value, RpcError>>,
    ) -> Result<Value, ErrorObjectOwned> {
        let mut count = CallCounter {
            metrics: &self.metrics,
            method,
            outcome: "abandoned",
        };
        let result = if self.is_shutting_down() {
            Err(RpcError::ShuttingDown)
        } else {
            work.await
        };
        count.outcome = if result.is_ok() { "ok" } else { "error" };
        if let Err(e) = &result {
            tracing::debug!(target: super::LOG_TARGET, method, error = %e, "call failed");
        }
        result.map_err(Into::into)
    }
}

/// Counts a call's outcome when dropped: `abandoned` unless the call ended.
struct CallCounter<'a> {
    metrics: &'a pvf_metrics::Metrics,
    method: &'static str,
    outcome: &'static str,
}

impl Drop for CallCounter<'_> {
    fn drop(&mut self) {
        self.metrics.on_rpc_request(self.method, self.outcome);
    }
}

/// The RPC module with every method of [`METHODS`] on `node`.
pub fn module(node: Node) -> RpcModule<Node> {
    let mut module = RpcModule::new(node);
    register(&mut module, "pvf_version", version);
    register(&mut module, "pvf_health", health);
    register(&mut module, "pvf_submitCode", submit_code);
    register(&mut module, "pvf_activeLeaves", active_leaves);
    register(&mut module, "pvf_headsUp", heads_up);
    register(&mut module, "pvf_preCheck", precheck);
    register(&mut module, "pvf_validateCandidate", validate);
    register(&mut module, "pvf_second", second);
    module
}

/// Registers `handler` as `method`, run through [`Node::call`].
fn register<F, Fut>(module: &mut RpcModule<Node>, method: &'static str, handler: F)
where
    F: Fn(Arc<Node>, Params<'static>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, RpcError>> + Send,
{
    module
        .register_async_method(method, move |params, node, _| {
            let handler = handler.clone();
            async move { node.call(method, handler(node.clone(), params)).await }
        })
        .expect("every method name is registered once");
}

async fn version(_: Arc<Node>, p: Params<'static>) -> Result<Value, RpcError> {
    encoding::positional(p.as_str(), &[])?;
    Ok(Value::from(FULL_VERSION))
}

async fn health(node: Arc<Node>, p: Params<'static>) -> Result<Value, RpcError> {
    encoding::positional(p.as_str(), &[])?;
    Ok(json!({"status": "ok", "name": node.name, "version": FULL_VERSION}))
}

async fn submit_code(node: Arc<Node>, p: Params<'static>) -> Result<Value, RpcError> {
    let params = encoding::positional(p.as_str(), &["code"])?;
    let code = ValidationCode(encoding::bytes("code", &params[0])?);
    let hash = node.store.insert_code(code);
    Ok(Value::from(encoding::hex_bytes(&hash.0.0)))
}

async fn active_leaves(node: Arc<Node>, p: Params<'static>) -> Result<Value, RpcError> {
    let params = encoding::positional(p.as_str(), &["leaves"])?;
    let leaves = encoding::active_leaves("leaves", &params[0])?;
    *node.leaves.lock().unwrap_or_else(|e| e.into_inner()) = leaves.clone();
    node.handle.clone().active_leaves(leaves).await;
    Ok(Value::Null)
}

async fn heads_up(node: Arc<Node>, p: Params<'static>) -> Result<Value, RpcError> {
    let params = encoding::positional(p.as_str(), &["code_hashes"])?;
    let validation_code_hashes = encoding::code_hashes("code_hashes", &params[0])?;
    let relay_parent = node.relay_parent();
    let answer = node
        .ask(|response_sender| CandidateValidationMessage::HeadsUp {
            relay_parent,
            validation_code_hashes,
            response_sender,
        })
        .await?;
    match answer {
        Ok(()) => Ok(Value::Null),
        Err(HeadsUpError::UnknownCode(hashes)) => Err(RpcError::UnknownCode(hashes)),
        Err(HeadsUpError::ShuttingDown) => Err(RpcError::ShuttingDown),
        Err(e @ HeadsUpError::UnknownExecutorParams(_)) => Err(RpcError::Internal(e.to_string())),
    }
}

async fn precheck(node: Arc<Node>, p: Params<'static>) -> Result<Value, RpcError> {
    let params = encoding::positional(p.as_str(), &["code_hash"])?;
    let validation_code_hash = encoding::code_hash("code_hash", &params[0])?;
    // Candidate validation would answer `failed` for unknown code; the caller gets the
    // typed error instead.
    node.code(validation_code_hash).await?;
    let relay_parent = node.relay_parent();
    let outcome = node
        .ask(|response_sender| CandidateValidationMessage::PreCheck {
            relay_parent,
            validation_code_hash,
            response_sender,
        })
        .await?;
    Ok(encoding::precheck_outcome(outcome))
}

/// The candidate and exec kind of a validation or seconding request, with the code and
/// executor parameters fetched from the runtime API.
struct Request {
    candidate: Candidate,
    exec_kind: PvfExecKind,
    code: ValidationCode,
    executor_params: ExecutorParams,
}

/// Decodes the parameters (refusing a kind other than backing if `backing_only`), then
/// fetches the code and the executor parameters.
async fn request(node: &Node, raw: Option<&str>, backing_only: bool) -> Result<Request, RpcError> {
    let params = encoding::positional(raw, &["candidate", "exec_kind"])?;
    let candidate = Candidate::decode("candidate", &params[0])?;
    let exec_kind = encoding::exec_kind("exec_kind", &params[1])?;
    if backing_only && !exec_kind.is_backing() {
        return Err(ParamError::new(
            "exec_kind",
            "seconding takes a backing kind: \"backing\" or \"backing-system-paras\"",
        )
        .into());
    }
    let code = node
        .code(candidate.receipt.descriptor.validation_code_hash)
        .await?;
    let executor_params = node
        .executor_params(candidate.receipt.descriptor.relay_parent)
        .await?;
    Ok(Request {
        candidate,
        exec_kind,
        code,
        executor_params,
    })
}

async fn validate(node: Arc<Node>, p: Params<'static>) -> Result<Value, RpcError> {
    let r = request(&node, p.as_str(), false).await?;
    let answer = node
        .ask(
            |response_sender| CandidateValidationMessage::ValidateFromExhaustive {
                validation_data: r.candidate.validation_data,
                validation_code: r.code,
                candidate_receipt: r.candidate.receipt,
                pov: Arc::new(r.candidate.pov),
                executor_params: r.executor_params,
                exec_kind: r.exec_kind,
                response_sender,
            },
        )
        .await?;
    if let Err(ValidationFailed::ShuttingDown) = answer {
        return Err(RpcError::ShuttingDown);
    }
    Ok(encoding::verdict(&answer))
}

async fn second(node: Arc<Node>, p: Params<'static>) -> Result<Value, RpcError> {
    let r = request(&node, p.as_str(), true).await?;
    let validation_data = r.candidate.validation_data.clone();
    let outcome = node
        .ask(|response_sender| CandidateBackingMessage::Second {
            validation_data: r.candidate.validation_data,
            validation_code: r.code,
            candidate_receipt: r.candidate.receipt,
            pov: Arc::new(r.candidate.pov),
            executor_params: r.executor_params,
            exec_kind: r.exec_kind,
            response_sender,
        })
        .await?;
    if let SecondOutcome::Failed(ValidationFailed::ShuttingDown) = outcome {
        return Err(RpcError::ShuttingDown);
    }
    encoding::second_outcome(&outcome, &validation_data)
        .map_err(|e| RpcError::Internal(format!("the seconded candidate cannot be encoded: {e}")))
}
