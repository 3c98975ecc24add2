//! Compiling a PVF into an artifact.

use crate::{engine, prevalidate::prevalidate};
use pvf_messages::{ExecutorParams, PrepareError};

/// Prevalidates and compiles `code`; returns the serialized artifact.
///
/// Runs in the preparation job process; also used in-process by the benchmarks so that
/// "through the worker" and "in process" compile exactly the same way.
pub fn prepare(code: &[u8], params: &ExecutorParams) -> Result<Vec<u8>, PrepareError> {
    prevalidate(code)?;
    let engine = engine::engine(params).map_err(PrepareError::RuntimeConstruction)?;
    engine
        .precompile_module(code)
        .map_err(|e| PrepareError::Preparation(format!("{e:#}")))
}
