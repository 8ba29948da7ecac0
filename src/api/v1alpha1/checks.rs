//! `spec.checks`: the data checks Initialize / Manipulate / Validate run, and where they come
//! from (inline, ConfigMaps by name, ConfigMaps by label selector).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::core::Duration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Which checks a run's Initialize / Manipulate / Validate steps run, and how.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChecksSpec {
    /// Checks written in this ScenarioRun.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 200))]
    pub inline: Vec<CheckSpec>,

    /// ConfigMaps in the run's namespace holding checks: every key ending in `.yaml` or `.yml`
    /// is one check in the same format as an `inline` item; other keys are ignored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50), inner(length(min = 1, max = 253)))]
    pub config_maps: Vec<String>,

    /// Also every ConfigMap in the run's namespace these labels select (same format). A team
    /// keeps one library (e.g. `mzcheck.dev/check-library: starter`) for many runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,

    /// Only the checks with these names (after collecting from every source). Empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 200))]
    pub include: Vec<String>,

    /// Shuffles the order checks start in, reproducibly (same seed, same order). Without it
    /// checks run in source order: inline, then ConfigMaps by name, then selected ConfigMaps,
    /// each ConfigMap's keys sorted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,

    /// How many checks run at once within a phase. Default 4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 32))]
    pub concurrency: Option<u8>,

    /// How long a command is retried until its expected result appears (testdrive's
    /// `--default-timeout`). Default `300s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,

    /// Skip, in every phase, a check that needs a system the rehearsal does not have (a
    /// `$ kafka-ingest`, `${testdrive.kafka-addr}`, …) instead of refusing the run: its record
    /// says `Skipped: needs Kafka`. So a whole imported library can run. Default false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_unavailable: bool,
}

/// One check, as a platform-checks `Check` class: an initialize script, exactly two manipulate
/// scripts and a validate script, in the testdrive dialect.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckSpec {
    /// Unique name, conventionally the platform-checks class name (e.g. `CreateTable`).
    #[schemars(length(min = 1, max = 63), pattern(r"^[A-Za-z][A-Za-z0-9_]*$"))]
    pub name: String,

    /// The check runs only if the oldest version the run starts is at least this
    /// (platform-checks' `_can_run` on `base_version`); otherwise it is skipped in every phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(crate::version::VERSION_PATTERN))]
    pub min_base_version: Option<String>,

    /// The check runs only if every check phase of the run happens on at least this version
    /// (platform-checks' `_can_run` on `current_mz_version`, decided once so the phases stay
    /// consistent); otherwise it is skipped in every phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(crate::version::VERSION_PATTERN))]
    pub min_current_version: Option<String>,

    /// Whether running a manipulate script more than once is harmless outside Materialize
    /// (platform-checks' `externally_idempotent`, default true). A check that says `false` is
    /// skipped in scenarios that repeat a Manipulate phase.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub externally_idempotent: bool,

    /// Runs once, in Initialize. Default: nothing.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 65536))]
    pub initialize: String,

    /// Exactly two scripts: Manipulate phase 1 runs the first, phase 2 the second.
    #[schemars(length(min = 2, max = 2), inner(length(max = 65536)))]
    pub manipulate: Vec<String>,

    /// Runs in every Validate; may run many times, so it must be idempotent.
    #[schemars(length(max = 65536))]
    pub validate: String,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}
