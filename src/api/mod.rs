//! The `ScenarioRun` custom resource and the names every other module shares.
//!
//! This is the one home for the API group, the field manager and the label prefix; child object
//! names are derived by methods in [`names`] so no `format!` of a name appears twice.

pub mod crd;
pub mod names;
pub mod v1alpha1;
pub mod vpc_endpoint;

/// API group of every resource this operator defines.
pub const GROUP: &str = "mzcheck.dev";
/// Server-side-apply field manager for everything the operator writes.
pub const FIELD_MANAGER: &str = "scenario-operator";
/// Prefix of every label and annotation the operator sets.
pub const LABEL_PREFIX: &str = "mzcheck.dev/";
/// `mzService` used when an action names none: platform-checks' compose service `materialized`.
pub const DEFAULT_MZ_SERVICE: &str = "materialized";
/// Pattern of an `mzService`: it becomes part of Kubernetes object names (a DNS label).
pub const MZ_SERVICE_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// Longest `mzService`: leaves room in a 63-character label for the run's name prefix.
pub const MZ_SERVICE_MAX_LEN: u32 = 40;

/// Schema of a free-form JSON object the apiserver stores as is. Written by hand because the
/// derived one adds `additionalProperties: true`, which structural schemas do not need and
/// older apiservers reject next to `x-kubernetes-preserve-unknown-fields`.
pub(crate) fn free_form_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true })
}
