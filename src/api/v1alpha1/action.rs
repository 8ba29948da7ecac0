//! One action of an explicit action list, and the table of which action takes which parameter.
//!
//! Why a flat struct rather than a Rust enum per action: a CRD's structural schema cannot give
//! each `oneOf` branch its own property set (kube hoists every branch's properties into one
//! object and demands identical schemas), so an internally tagged enum cannot be expressed.
//! Instead every parameter is an optional field, [`PARAMS`] says which actions take it, and the
//! same table generates the CEL rules the apiserver enforces and drives the planner's check, so
//! `kubectl apply` and `scenario-operator plan` refuse the same misplaced parameters.

use std::{collections::BTreeMap, fmt, str::FromStr};

use kube::core::{Duration, Message, Rule};
use schemars::{JsonSchema, Schema};
use serde::{Deserialize, Serialize};

/// The platform-checks action classes a ScenarioRun can run, by their upstream class names.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
pub enum ActionKind {
    /// Start (or restart) environmentd for an `mzService`; waits for its healthcheck.
    StartMz,
    /// Apply the system settings and grants checks need, as `mz_system` (once per run each).
    ConfigureMz,
    /// Prepare SQL Server CDC testing (only with `features.sqlServer`).
    SetupSqlServerTesting,
    /// Kill environmentd with grace period 0, optionally capturing its logs first.
    KillMz,
    /// Poll `GET /api/leader/status` until `ReadyToPromote`.
    WaitReadyMz,
    /// `POST /api/leader/promote`, then wait for `IsLeader` across the restart.
    PromoteMz,
    /// `POST /api/leader/skip-catchup` (orchestratord's force-promote path).
    SkipCatchup,
    /// Replace the environmentd StatefulSet's image in place and wait for the rollout.
    ReplaceEnvironmentdStatefulSet,
    /// Run every check's initialize script.
    Initialize,
    /// Run every check's manipulate script for `phase` 1 or 2.
    Manipulate,
    /// Run every check's validate script (idempotent; may run many times).
    Validate,
    /// `ALTER SYSTEM SET <name> = <value>` as `mz_system`.
    SystemVarChange,
    /// Wait for `duration`.
    Sleep,
}

impl ActionKind {
    /// Every kind, in declaration order.
    pub const ALL: [ActionKind; 13] = [
        ActionKind::StartMz,
        ActionKind::ConfigureMz,
        ActionKind::SetupSqlServerTesting,
        ActionKind::KillMz,
        ActionKind::WaitReadyMz,
        ActionKind::PromoteMz,
        ActionKind::SkipCatchup,
        ActionKind::ReplaceEnvironmentdStatefulSet,
        ActionKind::Initialize,
        ActionKind::Manipulate,
        ActionKind::Validate,
        ActionKind::SystemVarChange,
        ActionKind::Sleep,
    ];

    /// Initialize, Manipulate or Validate: a step that runs the checks.
    pub fn is_check_phase(self) -> bool {
        matches!(
            self,
            ActionKind::Initialize | ActionKind::Manipulate | ActionKind::Validate
        )
    }

    /// The platform-checks class name.
    pub fn name(self) -> &'static str {
        match self {
            ActionKind::StartMz => "StartMz",
            ActionKind::ConfigureMz => "ConfigureMz",
            ActionKind::SetupSqlServerTesting => "SetupSqlServerTesting",
            ActionKind::KillMz => "KillMz",
            ActionKind::WaitReadyMz => "WaitReadyMz",
            ActionKind::PromoteMz => "PromoteMz",
            ActionKind::SkipCatchup => "SkipCatchup",
            ActionKind::ReplaceEnvironmentdStatefulSet => "ReplaceEnvironmentdStatefulSet",
            ActionKind::Initialize => "Initialize",
            ActionKind::Manipulate => "Manipulate",
            ActionKind::Validate => "Validate",
            ActionKind::SystemVarChange => "SystemVarChange",
            ActionKind::Sleep => "Sleep",
        }
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ActionKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ActionKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let known: Vec<_> = ActionKind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown action {s:?}; known actions: {}", known.join(", "))
            })
    }
}

/// Which readiness endpoint marks an environmentd pod Ready.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Healthcheck {
    /// HTTP path on environmentd, e.g. `/api/readyz` or `/api/leader/status`.
    #[schemars(length(max = 200), pattern(r"^/[-A-Za-z0-9_./?=&]*$"))]
    pub path: String,
    /// Port of that path. Default 6878, environmentd's internal HTTP port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u16>,
}

/// platform-checks' `restart` for a StartMz, in Kubernetes spelling.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum RestartPolicy {
    /// Do not restart an exited environmentd (compose `no`).
    No,
    /// Restart after a non-zero exit (compose `on-failure`): what read-only generations need,
    /// since they halt on DDL by the old leader and on promotion.
    OnFailure,
    /// Always restart.
    Always,
}

/// One action of `spec.actions`. `action` names the platform-checks class; the other fields
/// are its parameters, and each is accepted only by the actions listed in its description.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(transform = restrict_params_to_actions)]
pub struct ActionSpec {
    /// The platform-checks action class, e.g. `StartMz` or `WaitReadyMz`.
    pub action: ActionKind,
    /// The environmentd service the action targets (becomes part of object names). Every action
    /// but Sleep. Default: `materialized` for StartMz/KillMz and the Mz lifecycle actions; the
    /// current leader for checks, ConfigureMz and SystemVarChange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = crate::api::MZ_SERVICE_MAX_LEN), pattern(crate::api::MZ_SERVICE_PATTERN))]
    pub mz_service: Option<String>,
    /// StartMz: version to run, a template (`current`, `last`, `previous[N]`, `selfManaged[N]`)
    /// or a literal like `v26.1.0`. Default `current`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), pattern(TAG_PATTERN))]
    pub tag: Option<String>,
    /// StartMz: `--deploy-generation`. Set, it starts a read-only new generation (0dt): no
    /// version check, no implicit ConfigureMz.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 1000))]
    pub deploy_generation: Option<u64>,
    /// StartMz: system parameter defaults replacing `environment.systemParameterDefaults`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 100))]
    pub system_parameter_defaults: Option<BTreeMap<String, String>>,
    /// StartMz: system parameter defaults added on top of the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 100))]
    pub additional_system_parameter_defaults: Option<BTreeMap<String, String>>,
    /// StartMz: whose default system parameters apply (a version template). Default: `tag`.
    /// Resolved and reported in the plan; the parameters themselves come from
    /// `systemParameterDefaults` (there is no per-version table of Materialize's defaults here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), pattern(TAG_PATTERN))]
    pub system_parameter_version: Option<String>,
    /// StartMz: extra environment variables, each `NAME=VALUE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50), inner(length(max = 1024)))]
    pub environment_extra: Option<Vec<String>>,
    /// StartMz: the readiness endpoint. Default `/api/readyz`, or `/api/leader/status` with a
    /// deploy generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    /// StartMz: restart behaviour. Default `No`, or `OnFailure` with a deploy generation.
    /// Recorded for fidelity with platform-checks: StatefulSet pods always restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<RestartPolicy>,
    /// StartMz: force builtin migrations: `all` or `half` add `--unsafe-mode
    /// --unsafe-builtin-table-fingerprint-whitespace=<value>` (older images), `evolution` or
    /// `replacement` add `--unsafe-mode --unsafe-force-builtin-schema-migration=<value>`
    /// (newer images, which dropped the first flag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^(all|half|evolution|replacement)$"))]
    pub force_migrations: Option<String>,
    /// StartMz: whether ports are published (compose). Recorded for fidelity; Services are
    /// always created on Kubernetes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish: Option<bool>,
    /// KillMz: save the pod's logs in a ConfigMap before killing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture_logs: Option<bool>,
    /// ReplaceEnvironmentdStatefulSet: the new version (a template or literal). Default `current`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), pattern(TAG_PATTERN))]
    pub new_tag: Option<String>,
    /// Manipulate: which manipulation, 1 or 2 (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 2))]
    pub phase: Option<u8>,
    /// SystemVarChange: the system variable (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100), pattern(r"^[a-z_][a-z0-9_]*$"))]
    pub name: Option<String>,
    /// SystemVarChange: the value to set (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub value: Option<String>,
    /// Sleep: how long (required), e.g. `10s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Duration>,
    /// StartMz, ReplaceEnvironmentdStatefulSet: Materialize is expected to refuse this version
    /// (e.g. a downgrade); the planner then accepts the step and the step passes when
    /// environmentd refuses to boot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_failure: Option<bool>,
}

/// Pattern of a version template or literal version.
pub const TAG_PATTERN: &str = r"^(current|last|previous\[[0-9]+\]|selfManaged\[[0-9]+\]|v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?)$";

/// One parameter of [`ActionSpec`]: its camelCase name, the actions that take it and the ones
/// that require it.
pub struct Param {
    pub name: &'static str,
    pub allowed: &'static [ActionKind],
    pub required: &'static [ActionKind],
}

use ActionKind as K;

/// Every lifecycle and SQL action: those that take `mzService`.
const SERVICE_ACTIONS: &[ActionKind] = &[
    K::StartMz,
    K::ConfigureMz,
    K::SetupSqlServerTesting,
    K::KillMz,
    K::WaitReadyMz,
    K::PromoteMz,
    K::SkipCatchup,
    K::ReplaceEnvironmentdStatefulSet,
    K::Initialize,
    K::Manipulate,
    K::Validate,
    K::SystemVarChange,
];

const fn only(kinds: &'static [ActionKind]) -> Param {
    Param {
        name: "",
        allowed: kinds,
        required: &[],
    }
}

const fn param(name: &'static str, p: Param) -> Param {
    Param { name, ..p }
}

/// The single table of which action takes which parameter.
pub const PARAMS: &[Param] = &[
    param("mzService", only(SERVICE_ACTIONS)),
    param("tag", only(&[K::StartMz])),
    param("deployGeneration", only(&[K::StartMz])),
    param("systemParameterDefaults", only(&[K::StartMz])),
    param("additionalSystemParameterDefaults", only(&[K::StartMz])),
    param("systemParameterVersion", only(&[K::StartMz])),
    param("environmentExtra", only(&[K::StartMz])),
    param("healthcheck", only(&[K::StartMz])),
    param("restart", only(&[K::StartMz])),
    param("forceMigrations", only(&[K::StartMz])),
    param("publish", only(&[K::StartMz])),
    param("captureLogs", only(&[K::KillMz])),
    param("newTag", only(&[K::ReplaceEnvironmentdStatefulSet])),
    Param {
        name: "phase",
        allowed: &[K::Manipulate],
        required: &[K::Manipulate],
    },
    Param {
        name: "name",
        allowed: &[K::SystemVarChange],
        required: &[K::SystemVarChange],
    },
    Param {
        name: "value",
        allowed: &[K::SystemVarChange],
        required: &[K::SystemVarChange],
    },
    Param {
        name: "duration",
        allowed: &[K::Sleep],
        required: &[K::Sleep],
    },
    param(
        "expectFailure",
        only(&[K::StartMz, K::ReplaceEnvironmentdStatefulSet]),
    ),
];

fn cel_list(kinds: &[ActionKind]) -> String {
    let quoted: Vec<_> = kinds.iter().map(|k| format!("'{k}'")).collect();
    format!("[{}]", quoted.join(", "))
}

fn names(kinds: &[ActionKind]) -> String {
    kinds
        .iter()
        .map(|k| k.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The CEL rules [`PARAMS`] implies for one action item, in table order.
pub fn param_rules() -> Vec<Rule> {
    let mut rules = Vec::new();
    for p in PARAMS {
        if p.allowed.len() < ActionKind::ALL.len() {
            rules.push(
                Rule::new(format!(
                    "!has(self.{}) || self.action in {}",
                    p.name,
                    cel_list(p.allowed)
                ))
                .message(Message::Message(format!(
                    "{} is only a parameter of {}",
                    p.name,
                    names(p.allowed)
                ))),
            );
        }
        for kind in p.required {
            rules.push(
                Rule::new(format!("self.action != '{kind}' || has(self.{})", p.name))
                    .message(Message::Message(format!("{kind} requires {}", p.name))),
            );
        }
    }
    rules
}

/// schemars transform: attach [`param_rules`] to the action item schema.
fn restrict_params_to_actions(schema: &mut Schema) {
    for rule in param_rules() {
        kube::core::validate(schema, rule).expect("a CEL rule serializes");
    }
}

/// schemars transform for `Timeouts` and `Budgets`: keys of `actions` must be action names.
pub(super) fn restrict_action_keys(schema: &mut Schema) {
    let rule = Rule::new(format!("self.all(k, k in {})", cel_list(&ActionKind::ALL))).message(
        Message::Message(format!(
            "keys must be action names: {}",
            names(&ActionKind::ALL)
        )),
    );
    let actions = schema
        .get_mut("properties")
        .and_then(|p| p.get_mut("actions"))
        .and_then(|a| <&mut Schema>::try_from(a).ok())
        .expect("the schema has an actions property");
    kube::core::validate(actions, rule).expect("a CEL rule serializes");
}

impl ActionSpec {
    /// An item of `kind` with no parameters set.
    pub fn new(kind: ActionKind) -> Self {
        ActionSpec {
            action: kind,
            mz_service: None,
            tag: None,
            deploy_generation: None,
            system_parameter_defaults: None,
            additional_system_parameter_defaults: None,
            system_parameter_version: None,
            environment_extra: None,
            healthcheck: None,
            restart: None,
            force_migrations: None,
            publish: None,
            capture_logs: None,
            new_tag: None,
            phase: None,
            name: None,
            value: None,
            duration: None,
            expect_failure: None,
        }
    }

    /// The parameters this item sets, by their camelCase names (the keys of its JSON form
    /// other than `action`).
    pub fn set_params(&self) -> Vec<String> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(map)) => map
                .into_iter()
                .map(|(k, _)| k)
                .filter(|k| k != "action")
                .collect(),
            _ => Vec::new(),
        }
    }
}
