//! scenario-operator: rehearses Materialize upgrades on Kubernetes.
//!
//! - [`api`]: the `ScenarioRun` resource and shared names.
//! - [`checks`]: the testdrive-dialect check scripts.
//! - [`plan`]: the pure planner (built-in scenarios, enrichment, semantic checks).
//! - [`manifest`]: reading manifests with field-path and line errors.
//! - [`version`]: Materialize versions and upgrade rules.
//! - [`operator`]: the controller that runs ScenarioRuns on a cluster.
//! - [`cli`]: the command line.
#![forbid(unsafe_code)]

pub mod api;
pub mod checks;
pub mod cli;
pub mod manifest;
pub mod operator;
pub mod plan;
pub mod report;
pub mod version;

/// FNV-1a: a hash that is the same in every build and process (unlike `DefaultHasher`), for
/// names derived from names.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
