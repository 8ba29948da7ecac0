//! The resolved, typed form of every action: what the operator executes and what
//! `scenario-operator plan -o json` prints (`action`, `implicit`, camelCase parameters).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{
    api::v1alpha1::{ActionKind, RestartPolicy},
    version::MzVersion,
};

/// A resolved StartMz.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StartMz {
    pub mz_service: String,
    /// Concrete version (the image tag).
    pub tag: MzVersion,
    /// `--deploy-generation`; `None` renders no flag (generation 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_generation: Option<u64>,
    /// Effective `--system-parameter-default` entries.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub system_parameter_defaults: BTreeMap<String, String>,
    pub system_parameter_version: MzVersion,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environment_extra: Vec<String>,
    pub healthcheck: ResolvedHealthcheck,
    pub restart: RestartPolicy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_migrations: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish: Option<bool>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub expect_failure: bool,
}

impl StartMz {
    /// A read-only start: a new generation that must catch up and be promoted.
    pub fn is_read_only(&self) -> bool {
        self.deploy_generation.is_some()
    }
}

/// Healthcheck with its defaults filled in.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedHealthcheck {
    pub path: String,
    pub port: u16,
}

/// One resolved action. Serialized internally tagged by `action` with platform-checks' class
/// names, so the JSON plan reads like the framework's own action list.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "action", rename_all_fields = "camelCase")]
pub enum Action {
    StartMz(StartMz),
    ConfigureMz {
        mz_service: String,
    },
    SetupSqlServerTesting {
        mz_service: String,
    },
    KillMz {
        mz_service: String,
        capture_logs: bool,
    },
    WaitReadyMz {
        mz_service: String,
    },
    PromoteMz {
        mz_service: String,
    },
    SkipCatchup {
        mz_service: String,
    },
    ReplaceEnvironmentdStatefulSet {
        mz_service: String,
        new_tag: MzVersion,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        expect_failure: bool,
    },
    Initialize {
        mz_service: String,
    },
    Manipulate {
        mz_service: String,
        phase: u8,
    },
    Validate {
        mz_service: String,
    },
    SystemVarChange {
        mz_service: String,
        name: String,
        value: String,
    },
    Sleep {
        /// Seconds, as platform-checks' `Sleep(interval)`.
        seconds: f64,
    },
}

impl Action {
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::StartMz(_) => ActionKind::StartMz,
            Action::ConfigureMz { .. } => ActionKind::ConfigureMz,
            Action::SetupSqlServerTesting { .. } => ActionKind::SetupSqlServerTesting,
            Action::KillMz { .. } => ActionKind::KillMz,
            Action::WaitReadyMz { .. } => ActionKind::WaitReadyMz,
            Action::PromoteMz { .. } => ActionKind::PromoteMz,
            Action::SkipCatchup { .. } => ActionKind::SkipCatchup,
            Action::ReplaceEnvironmentdStatefulSet { .. } => {
                ActionKind::ReplaceEnvironmentdStatefulSet
            }
            Action::Initialize { .. } => ActionKind::Initialize,
            Action::Manipulate { .. } => ActionKind::Manipulate,
            Action::Validate { .. } => ActionKind::Validate,
            Action::SystemVarChange { .. } => ActionKind::SystemVarChange,
            Action::Sleep { .. } => ActionKind::Sleep,
        }
    }

    /// The service the action targets (`None` for Sleep).
    pub fn mz_service(&self) -> Option<&str> {
        match self {
            Action::StartMz(s) => Some(&s.mz_service),
            Action::ConfigureMz { mz_service }
            | Action::SetupSqlServerTesting { mz_service }
            | Action::KillMz { mz_service, .. }
            | Action::WaitReadyMz { mz_service }
            | Action::PromoteMz { mz_service }
            | Action::SkipCatchup { mz_service }
            | Action::ReplaceEnvironmentdStatefulSet { mz_service, .. }
            | Action::Initialize { mz_service }
            | Action::Manipulate { mz_service, .. }
            | Action::Validate { mz_service }
            | Action::SystemVarChange { mz_service, .. } => Some(mz_service),
            Action::Sleep { .. } => None,
        }
    }

    /// `StartMz mz-1 v26.1.0`: how steps are named in messages, Events and errors.
    pub fn label(&self) -> String {
        format!("{} {}", self.kind(), self.summary())
    }

    /// A short human summary of the parameters that matter, for tables and messages.
    pub fn summary(&self) -> String {
        let svc = self.mz_service().unwrap_or("-");
        match self {
            Action::StartMz(s) => {
                let mut out = format!("{svc} {}", s.tag);
                if let Some(g) = s.deploy_generation {
                    out.push_str(&format!(" generation={g} (read-only)"));
                }
                if let Some(f) = &s.force_migrations {
                    out.push_str(&format!(" forceMigrations={f}"));
                }
                if s.expect_failure {
                    out.push_str(" expectFailure");
                }
                out
            }
            Action::KillMz {
                capture_logs: true, ..
            } => format!("{svc} captureLogs"),
            Action::ReplaceEnvironmentdStatefulSet {
                new_tag,
                expect_failure,
                ..
            } => {
                let suffix = if *expect_failure {
                    " expectFailure"
                } else {
                    ""
                };
                format!("{svc} {new_tag}{suffix}")
            }
            Action::Manipulate { phase, .. } => format!("{svc} phase={phase}"),
            Action::SystemVarChange { name, value, .. } => format!("{svc} {name}={value}"),
            Action::Sleep { seconds } => format!("{seconds}s"),
            _ => svc.to_string(),
        }
    }
}
