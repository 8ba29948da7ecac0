//! `ScenarioRun.status`: the frozen plan and a record per step, written only by the operator.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, MicroTime, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Observed state of a ScenarioRun.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScenarioRunStatus {
    /// `metadata.generation` the status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Where the run is: Pending, Running, Succeeded, Failed or Cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<RunPhase>,
    /// `<current step>/<steps>`, 1-based, for `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    /// Action name of the current (or last) step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_action: Option<String>,
    /// Materialize version last confirmed with `SELECT mz_version()` on the leader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_version: Option<String>,
    /// Human-readable summary; on failure it names the step, the action, the service and the
    /// cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Standard conditions (`Ready`, `Progressing`, `Failed`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// One record per planned step, in order; frozen when the run starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepRecord>,
    /// ConfigureMz statements already applied in this run (each runs at most once per run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applied_statements: Vec<String>,
    /// When the run started executing its first step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// What the client probe saw over the steps that ended so far (`spec.probe`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downtime: Option<RunDowntime>,
}

/// Phase of a whole run.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum RunPhase {
    Pending,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

/// State of one step.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum StepState {
    Pending,
    Running,
    Succeeded,
    Failed,
    Skipped,
}

/// One planned step and what happened to it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepRecord {
    /// The planned action exactly as `scenario-operator plan -o json` prints it: `action`,
    /// `implicit` and the resolved parameters.
    #[schemars(schema_with = "crate::api::free_form_object")]
    pub plan: serde_json::Map<String, serde_json::Value>,
    /// Pending, Running, Succeeded, Failed or Skipped.
    pub state: StepState,
    /// How many times the step was started.
    #[serde(default)]
    pub attempt: u32,
    /// When the step last started (to the microsecond).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<MicroTime>,
    /// When the step finished (to the microsecond).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<MicroTime>,
    /// What the step did or why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// How far an irreversible step got, written before each irreversible act (e.g.
    /// `promote-sent`), so a restarted operator never repeats it blindly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<StepProgress>,
    /// Initialize / Manipulate / Validate: one record per check, in the order they start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckRecord>,
    /// What the client probe saw while the step ran (`spec.probe`), once it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probes: Option<StepProbes>,
}

/// What the client probe saw during one step. Probes count from the environment's first
/// answer in the run (before it, there was nothing to be down), and from `since`: a probe runs
/// in the operator, so after an operator restart the step's record covers only the time since.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepProbes {
    /// When this step's probing began (to the microsecond).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<MicroTime>,
    /// Probes sent.
    pub sent: u32,
    /// Probes not answered (refused, timed out, or no leader to ask).
    pub failed: u32,
    /// Time within the step during which no probe was answered, in seconds.
    pub downtime_seconds: f64,
    /// The longest such window within the step, in seconds.
    pub longest_window_seconds: f64,
    /// Median latency of the answered probes, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p50_seconds: Option<f64>,
    /// 99th percentile latency of the answered probes, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p99_seconds: Option<f64>,
    /// The unavailable windows, in order (at most [`StepProbes::MAX_WINDOWS`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<DowntimeWindow>,
    /// Windows left out of `windows` (their time still counts in `downtimeSeconds`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub windows_omitted: u32,
}

impl StepProbes {
    /// Windows kept per step: a flapping environment must not grow status without bound.
    pub const MAX_WINDOWS: usize = 20;
}

/// A time during which no probe was answered: from the first unanswered probe to the next
/// answered one (or to the step's end, when it went on into the next step).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DowntimeWindow {
    /// The first unanswered probe.
    pub start: MicroTime,
    /// The next answered probe, or the step's end.
    pub end: MicroTime,
    /// The first failed probe's error.
    pub error: String,
    /// The window went on past the step's end (its rest is in the next step's record).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub continues: bool,
}

/// The run's client downtime so far: the sum over its steps, and the longest window with
/// windows that ran across a step boundary joined.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunDowntime {
    /// Probes sent.
    pub sent: u32,
    /// Probes not answered.
    pub failed: u32,
    /// Time during which no probe was answered, in seconds.
    pub downtime_seconds: f64,
    /// The longest such window, in seconds.
    pub longest_window_seconds: f64,
    /// For `kubectl get`: e.g. `1.234s (3 windows)`.
    pub summary: String,
}

/// How far a step with irreversible parts got. Stored as the strings earlier versions wrote
/// (`applied`, `replaced`, `promote-sent`, `promoted`, `logs:<ConfigMap>`), so runs started by
/// them resume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepProgress {
    /// StartMz: the ConfigMap, Service and StatefulSet were applied.
    Applied,
    /// ReplaceEnvironmentdStatefulSet: the new image was set.
    Replaced,
    /// PromoteMz: the promote request is about to be sent (or was).
    PromoteSent,
    /// PromoteMz: environmentd accepted the promotion.
    Promoted,
    /// KillMz: the logs were saved in this ConfigMap.
    LogsSaved(String),
    /// A marker this operator does not know (written by hand, or by a newer version). Never
    /// guessed at: the step fails naming it.
    Unrecognized(String),
}

impl StepProgress {
    pub fn as_text(&self) -> String {
        match self {
            StepProgress::Applied => "applied".into(),
            StepProgress::Replaced => "replaced".into(),
            StepProgress::PromoteSent => "promote-sent".into(),
            StepProgress::Promoted => "promoted".into(),
            StepProgress::LogsSaved(cm) => format!("logs:{cm}"),
            StepProgress::Unrecognized(s) => s.clone(),
        }
    }

    pub fn from_text(text: &str) -> Self {
        match text {
            "applied" => StepProgress::Applied,
            "replaced" => StepProgress::Replaced,
            "promote-sent" => StepProgress::PromoteSent,
            "promoted" => StepProgress::Promoted,
            _ => match text.strip_prefix("logs:") {
                Some(cm) => StepProgress::LogsSaved(cm.to_string()),
                None => StepProgress::Unrecognized(text.to_string()),
            },
        }
    }
}

impl Serialize for StepProgress {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_text())
    }
}

impl<'de> Deserialize<'de> for StepProgress {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Never an error: an unknown marker must not make the whole run unreadable.
        Ok(StepProgress::from_text(&String::deserialize(d)?))
    }
}

impl JsonSchema for StepProgress {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "StepProgress".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string" })
    }
    fn inline_schema() -> bool {
        true
    }
}

/// State of one check within one check step.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum CheckState {
    Pending,
    Running,
    Passed,
    Failed,
    Skipped,
}

impl CheckState {
    /// Passed, Failed or Skipped: nothing more to run in this phase.
    pub fn finished(self) -> bool {
        !matches!(self, CheckState::Pending | CheckState::Running)
    }
}

/// What one check did in one phase.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckRecord {
    /// The check's name.
    pub name: String,
    /// Pending, Running, Passed, Failed or Skipped.
    pub state: CheckState,
    /// Why it was skipped, or what failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Commands of the phase's script completed so far.
    #[serde(default)]
    pub done: u32,
    /// Index of a command that is not safe to repeat, recorded before it is sent: if the
    /// operator restarts before its result is recorded, it is not sent again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sending: Option<u32>,
    /// Tries of the current command (testdrive retries until the expected result appears).
    #[serde(default)]
    pub tries: u32,
    /// Retries of all commands in this phase: a check that passed after many is worth a look.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: u32,
    /// When the current command was first tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrying_since: Option<Time>,
    /// When the check started in this phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// How long the check took in this phase, e.g. `0.42s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// Script line of the failing (or last failed) command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// The failing statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    /// Expected rows minus actual (`- `) and actual minus expected (`+ `), or the error seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// Values `$ set-from-sql` read, by variable: kept so the commands after it see the
    /// same value after an operator restart (the query is not run again).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, String>,
}

impl CheckRecord {
    pub fn new(name: &str, state: CheckState, reason: Option<String>) -> Self {
        CheckRecord {
            name: name.to_string(),
            state,
            reason,
            done: 0,
            sending: None,
            tries: 0,
            retries: 0,
            retrying_since: None,
            started_at: None,
            duration: None,
            line: None,
            statement: None,
            diff: None,
            vars: BTreeMap::new(),
        }
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Condition types on a run (apimachinery semantics; `kubectl wait --for=condition=Ready`).
pub mod conditions {
    /// True once the run succeeded.
    pub const READY: &str = "Ready";
    /// True while the run is planned or running.
    pub const PROGRESSING: &str = "Progressing";
    /// True once the run failed.
    pub const FAILED: &str = "Failed";
}

/// Reasons of the run's Events and conditions: stable CamelCase words people filter on. A
/// condition's reason is the run's phase.
pub mod reasons {
    pub const PLANNED: &str = "Planned";
    pub const PLAN_REFUSED: &str = "PlanRefused";
    pub const CHECKS_REFUSED: &str = "ChecksRefused";
    pub const PLAN_UNREADABLE: &str = "PlanUnreadable";
    pub const STEP_STARTED: &str = "StepStarted";
    pub const STEP_SUCCEEDED: &str = "StepSucceeded";
    pub const STEP_FAILED: &str = "StepFailed";
    pub const CHECK_FAILED: &str = "CheckFailed";
    /// A `spec.budgets` limit was exceeded.
    pub const BUDGET_EXCEEDED: &str = "BudgetExceeded";
    pub const SUCCEEDED: &str = "Succeeded";
    pub const FAILED: &str = "Failed";
    pub const PENDING: &str = "Pending";
    pub const RUNNING: &str = "Running";
    pub const CANCELLED: &str = "Cancelled";
    /// environmentd's Secrets of the run were deleted (or could not be).
    pub const SECRETS_DELETED: &str = "SecretsDeleted";
    pub const SECRETS_LEFT: &str = "SecretsLeft";
}
