//! scenario-operator: rehearses Materialize upgrades on Kubernetes.
//!
//! - [`api`]: the `ScenarioRun` resource and shared names.
//! - [`plan`]: the pure planner (built-in scenarios, enrichment, semantic checks).
//! - [`manifest`]: reading manifests with field-path and line errors.
//! - [`version`]: Materialize versions and upgrade rules.
//! - [`cli`]: the command line.
#![forbid(unsafe_code)]

pub mod api;
pub mod cli;
pub mod manifest;
pub mod plan;
pub mod version;
