//! Workloads for `pvf-node run`: the file format, the embedded default, the driver that feeds
//! candidates to candidate validation, and the summary it ends with.

pub mod default;
pub mod driver;
pub mod spec;
pub mod summary;

pub use default::default_workload;
pub use spec::{Candidate, Workload, WorkloadSpec};
