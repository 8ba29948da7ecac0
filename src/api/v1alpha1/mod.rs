//! `mzcheck.dev/v1alpha1`: the `ScenarioRun` spec.
//!
//! Validation lives in three layers, each catching what it can express: the OpenAPI schema
//! (types, patterns, bounds), CEL rules the apiserver runs (immutability, one-of, which action
//! takes which parameter) and the planner's semantic checks (what Materialize would refuse).

mod action;
mod budgets;
mod checks;
mod environment;
mod status;

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema, core::Duration};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use self::{action::*, budgets::*, checks::*, environment::*, status::*};

/// A rehearsal of a Materialize upgrade: the ordered actions of one platform-checks scenario,
/// run against environmentd StatefulSets in this namespace, step by step.
// Several printcolumns share `type_ = "string"`, which clippy mistakes for a repeated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "mzcheck.dev",
    version = "v1alpha1",
    kind = "ScenarioRun",
    namespaced,
    status = "ScenarioRunStatus",
    shortname = "sr",
    category = "mzcheck",
    doc = "A rehearsal of a Materialize upgrade: one platform-checks scenario, run step by step.",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Step", type_ = "string", json_path = ".status.progress"),
    printcolumn(name = "Action", type_ = "string", json_path = ".status.currentAction"),
    printcolumn(
        name = "Version",
        type_ = "string",
        json_path = ".status.currentVersion"
    ),
    printcolumn(
        name = "Downtime",
        type_ = "string",
        json_path = ".status.downtime.summary"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(
    validation = Rule::new("self == oldSelf").message("spec is immutable once created; create a new ScenarioRun instead"),
    validation = Rule::new("has(self.scenario) != has(self.actions)").message("set exactly one of scenario or actions"),
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScenarioRunSpec {
    /// Name of a built-in scenario (platform-checks class name, e.g. `ZeroDowntimeUpgradeEntireMz`).
    /// `scenario-operator plan --help` lists them. Exactly one of `scenario` and `actions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub scenario: Option<String>,

    /// An explicit list of platform-checks actions, run in order after the same enrichment
    /// `Scenario.run()` applies (implicit ConfigureMz after starts). Exactly one of `scenario`
    /// and `actions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200))]
    pub actions: Option<Vec<ActionSpec>>,

    /// The versions that version templates in actions (`current`, `last`, `previous[N]`,
    /// `selfManaged[N]`) resolve to.
    pub versions: Versions,

    /// The environmentd under test: image, metadata/persist backends, parameters, pod settings,
    /// or an existing StatefulSet to adopt.
    #[serde(default)]
    pub environment: Environment,

    /// Optional infrastructure the run may use, as platform-checks' `Features`.
    #[serde(default)]
    pub features: Features,

    /// The variables the built-in `SystemVarChange` scenario changes, with their value per phase.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub system_var_changes: Vec<SystemVarChangeEntry>,

    /// Time limits per action kind and for the whole run.
    #[serde(default)]
    pub timeouts: Timeouts,

    /// How often to poll while waiting (rollouts, leader status, version checks). Default `1s`,
    /// as platform-checks' WaitReadyMz.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval: Option<Duration>,

    /// What to keep of the objects the run created once it ends.
    #[serde(default)]
    pub cleanup: CleanupPolicy,

    /// The client probe: what an application querying the environment saw, step by step.
    /// On by default (`SELECT 1` every 100 ms).
    #[serde(default, skip_serializing_if = "ProbeSpec::is_default")]
    pub probe: ProbeSpec,

    /// Limits on client downtime and on durations that fail the run when exceeded.
    #[serde(default, skip_serializing_if = "Budgets::is_empty")]
    pub budgets: Budgets,

    /// Data checks run by Initialize / Manipulate / Validate: inline, or from ConfigMaps by
    /// name or label selector. Without checks those steps run nothing and say so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<ChecksSpec>,
}

/// Versions that version templates resolve to, as platform-checks' `get_minor_versions()`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Versions {
    /// The version under test: what platform-checks calls the source build (`tag=None`).
    /// Template `current`.
    #[schemars(pattern(crate::version::VERSION_PATTERN))]
    pub current: String,

    /// Published versions below `current`, newest first: `previous[0]` (alias `last`) is
    /// platform-checks' `get_last_version()`, `previous[1]` its `get_previous_version()`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20), inner(pattern(crate::version::VERSION_PATTERN)))]
    pub previous: Vec<String>,

    /// Self-managed releases below `current`, newest first, for the self-managed upgrade-path
    /// scenarios. Template `selfManaged[N]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20), inner(pattern(crate::version::VERSION_PATTERN)))]
    pub self_managed: Vec<String>,
}

/// Optional infrastructure, as platform-checks' `Features`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Features {
    /// SQL Server is available for CDC checks: the first plain StartMz is followed by
    /// SetupSqlServerTesting.
    #[serde(default)]
    pub sql_server: bool,
}

/// One variable of the `SystemVarChange` scenario.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SystemVarChangeEntry {
    /// System variable name, as in `ALTER SYSTEM SET <name>`.
    #[schemars(length(min = 1, max = 100), pattern(r"^[a-z_][a-z0-9_]*$"))]
    pub name: String,
    /// Value set before Manipulate phase 1 and again before the first Validate.
    #[schemars(length(max = 256))]
    pub phase1_value: String,
    /// Value set before Manipulate phase 2 and again before the second Validate.
    #[schemars(length(max = 256))]
    pub phase2_value: String,
}

/// Time limits.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(transform = action::restrict_action_keys)]
pub struct Timeouts {
    /// Limit for the whole run, from its first step. Default `2h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Duration>,

    /// Limit per action kind, keyed by action name (e.g. `WaitReadyMz: 15m`). Defaults:
    /// WaitReadyMz 15m (platform-checks' 900 s), every other action 10m.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 20))]
    pub actions: BTreeMap<String, Duration>,
}

/// What to keep of the run's objects (StatefulSets, Services, ConfigMaps) once it ends.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CleanupPolicy {
    /// After a Succeeded run. Default `Delete`.
    #[serde(default = "CleanupAction::delete")]
    pub on_success: CleanupAction,
    /// After a Failed or Cancelled run. Default `Keep`, so the evidence stays for inspection.
    #[serde(default = "CleanupAction::keep")]
    pub on_failure: CleanupAction,
}

/// Whether to delete or keep a run's objects.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum CleanupAction {
    /// Delete the objects the run created (never an adopted StatefulSet).
    Delete,
    /// Keep everything for inspection; deleting the ScenarioRun removes it later.
    Keep,
}

impl Default for CleanupPolicy {
    fn default() -> Self {
        CleanupPolicy {
            on_success: CleanupAction::Delete,
            on_failure: CleanupAction::Keep,
        }
    }
}

impl CleanupAction {
    fn delete() -> Self {
        CleanupAction::Delete
    }
    fn keep() -> Self {
        CleanupAction::Keep
    }
}
