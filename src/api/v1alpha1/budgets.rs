//! `spec.probe` and `spec.budgets`: what a client saw while the run ran, and the limits that
//! fail a run for it (or for taking too long).

use std::collections::BTreeMap;

use kube::core::Duration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A table name the probe may read: `name`, `schema.name` or `database.schema.name`, plain
/// identifiers only, since it is put into the query as written.
pub const PROBE_TABLE_PATTERN: &str = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}$";

/// The client probe: while the run runs, a client of the operator's asks the environment's
/// current leader `SELECT 1` (or reads a table) every `interval`, as an application would, and
/// each step records what it saw: probes sent and failed, the windows when none was answered,
/// and the answers' latency.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProbeSpec {
    /// `false` runs no probe (and then `spec.budgets` may not limit downtime). Default true.
    #[serde(default = "yes")]
    pub enabled: bool,

    /// Time between probes. Default `100ms`; at least `10ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,

    /// A probe (connecting, if it must, and its query) not answered within this long failed.
    /// Default `1s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,

    /// Read this table (`SELECT count(*) FROM <table>`) instead of `SELECT 1`, so that an
    /// answer needs the cluster serving it, as a real application's query does. Until the
    /// table exists (e.g. before Initialize creates it) probes fail, and a probe only counts
    /// from the environment's first answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200), pattern(PROBE_TABLE_PATTERN))]
    pub table: Option<String>,
}

fn yes() -> bool {
    true
}

impl ProbeSpec {
    pub fn is_default(&self) -> bool {
        *self == ProbeSpec::default()
    }
}

impl Default for ProbeSpec {
    fn default() -> Self {
        ProbeSpec {
            enabled: true,
            interval: None,
            timeout: None,
            table: None,
        }
    }
}

/// Limits that fail the run when exceeded, naming the budget and the measured value. Client
/// downtime is the probe's: the total time within which no probe was answered. Downtime
/// budgets are judged when a step ends; duration budgets as soon as they are exceeded.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(transform = super::action::restrict_action_keys)]
pub struct Budgets {
    /// Most client downtime over the whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downtime: Option<Duration>,

    /// Most client downtime within any one step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_downtime: Option<Duration>,

    /// Longest any one step may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_duration: Option<Duration>,

    /// Longest the run may take, from its first step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_duration: Option<Duration>,

    /// Per action kind, in place of `stepDowntime` / `stepDuration` for its steps, keyed by
    /// action name: e.g. `PromoteMz: {downtime: 500ms}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 20))]
    pub actions: BTreeMap<String, StepBudget>,
}

/// The budgets of the steps of one action kind.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepBudget {
    /// Most client downtime within one such step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downtime: Option<Duration>,
    /// Longest one such step may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Duration>,
}

impl Budgets {
    pub fn is_empty(&self) -> bool {
        *self == Budgets::default()
    }

    /// Whether any budget limits client downtime (which needs the probe).
    pub fn limits_downtime(&self) -> bool {
        self.downtime.is_some()
            || self.step_downtime.is_some()
            || self.actions.values().any(|b| b.downtime.is_some())
    }
}
