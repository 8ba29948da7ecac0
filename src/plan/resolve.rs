//! Resolution of one action template into a typed [`Action`]: version templates, defaults,
//! the parameter table, and the spec-wide checks the schema cannot make on its own.

use std::time::Duration as StdDuration;

use super::{
    PlanError,
    action::{Action, ResolvedHealthcheck, StartMz},
    enrich::{Item, Origin},
};
use crate::{
    api::{
        MZ_SERVICE_MAX_LEN,
        v1alpha1::{ActionKind, ActionSpec, PARAMS, RestartPolicy, ScenarioRunSpec, Versions},
    },
    environmentd::{INTERNAL_HTTP_PORT, LEADER_STATUS_PATH, READYZ_PATH},
    version::MzVersion,
};

/// `spec.versions`, parsed.
pub struct VersionTable {
    pub current: MzVersion,
    previous: Vec<MzVersion>,
    self_managed: Vec<MzVersion>,
}

impl VersionTable {
    /// Parses `spec.versions`; lists must be newest first and below `current`.
    pub fn new(v: &Versions) -> Result<Self, Vec<PlanError>> {
        let mut errors = Vec::new();
        let current = v.current.parse::<MzVersion>();
        if let Err(e) = &current {
            errors.push(PlanError::at("spec.versions.current", e.to_string()));
        }
        let mut list = |name: &str, raw: &[String]| -> Vec<MzVersion> {
            let mut out: Vec<MzVersion> = Vec::new();
            for (i, s) in raw.iter().enumerate() {
                let path = format!("spec.versions.{name}[{i}]");
                match s.parse::<MzVersion>() {
                    Err(e) => errors.push(PlanError::at(path, e.to_string())),
                    Ok(version) => {
                        if let Ok(cur) = &current
                            && version >= *cur
                        {
                            let msg = format!("{version} is not below versions.current {cur}");
                            errors.push(PlanError::at(path, msg));
                        } else if let Some(newer) = out.last()
                            && version >= *newer
                        {
                            let msg = format!(
                                "{version} is not below the entry before it ({newer}): list \
                                 versions newest first"
                            );
                            errors.push(PlanError::at(path, msg));
                        }
                        out.push(version);
                    }
                }
            }
            out
        };
        let previous = list("previous", &v.previous);
        let self_managed = list("selfManaged", &v.self_managed);
        match current {
            Ok(current) if errors.is_empty() => Ok(VersionTable {
                current,
                previous,
                self_managed,
            }),
            _ => Err(errors),
        }
    }

    /// Resolves a template (`current`, `last`, `previous[N]`, `selfManaged[N]`) or a literal.
    pub fn resolve(&self, template: &str) -> Result<MzVersion, String> {
        let indexed = |prefix: &str| -> Option<Result<usize, String>> {
            let rest = template
                .strip_prefix(prefix)?
                .strip_prefix('[')?
                .strip_suffix(']')?;
            Some(
                rest.parse()
                    .map_err(|_| format!("{template:?} has a malformed index")),
            )
        };
        let pick = |list: &[MzVersion], field: &str, n: usize| {
            list.get(n).cloned().ok_or_else(|| {
                format!(
                    "{template} needs at least {} versions in spec.versions.{field} (it has {})",
                    n + 1,
                    list.len()
                )
            })
        };
        match template {
            "current" => Ok(self.current.clone()),
            "last" => pick(&self.previous, "previous", 0),
            _ => {
                if let Some(n) = indexed("previous") {
                    return pick(&self.previous, "previous", n?);
                }
                if let Some(n) = indexed("selfManaged") {
                    return pick(&self.self_managed, "selfManaged", n?);
                }
                template.parse::<MzVersion>().map_err(|e| {
                    format!("{e}; or use a template: current, last, previous[N], selfManaged[N]")
                })
            }
        }
    }
}

/// Default services for actions that name none.
pub struct Defaults {
    /// Lifecycle actions (StartMz, KillMz, leader API, Replace): the adopted service or
    /// platform-checks' `materialized`.
    pub lifecycle: String,
    /// Checks, ConfigureMz and SystemVarChange: the current leader.
    pub leader: String,
}

/// The shortest probe interval: shorter would load environmentd more than it tells.
pub const MIN_PROBE_INTERVAL: StdDuration = StdDuration::from_millis(10);

/// Spec-wide checks that do not depend on the action list.
pub fn check_spec(spec: &ScenarioRunSpec) -> Vec<PlanError> {
    let mut errors = Vec::new();
    let mut positive = |path: String, d: &kube::core::Duration| {
        if d.is_negative() || StdDuration::from(*d).is_zero() {
            errors.push(PlanError::at(
                path,
                format!("must be a positive duration, got {d}"),
            ));
        }
    };
    if let Some(d) = &spec.poll_interval {
        positive("spec.pollInterval".into(), d);
    }
    if let Some(d) = &spec.timeouts.run {
        positive("spec.timeouts.run".into(), d);
    }
    for (key, d) in &spec.timeouts.actions {
        positive(format!("spec.timeouts.actions.{key}"), d);
    }
    let probe = &spec.probe;
    if let Some(d) = &probe.timeout {
        positive("spec.probe.timeout".into(), d);
    }
    let b = &spec.budgets;
    for (field, d) in [
        ("downtime", &b.downtime),
        ("stepDowntime", &b.step_downtime),
        ("stepDuration", &b.step_duration),
        ("runDuration", &b.run_duration),
    ] {
        if let Some(d) = d {
            positive(format!("spec.budgets.{field}"), d);
        }
    }
    for (key, budget) in &b.actions {
        for (field, d) in [
            ("downtime", &budget.downtime),
            ("duration", &budget.duration),
        ] {
            if let Some(d) = d {
                positive(format!("spec.budgets.actions.{key}.{field}"), d);
            }
        }
    }
    if let Some(d) = &probe.interval
        && (d.is_negative() || StdDuration::from(*d) < MIN_PROBE_INTERVAL)
    {
        errors.push(PlanError::at(
            "spec.probe.interval",
            format!("must be at least {MIN_PROBE_INTERVAL:?}, got {d}"),
        ));
    }
    if !probe.enabled && b.limits_downtime() {
        errors.push(PlanError::at(
            "spec.budgets",
            "a downtime budget needs the probe, but spec.probe.enabled is false",
        ));
    }
    for key in spec.timeouts.actions.keys() {
        if let Err(e) = key.parse::<ActionKind>() {
            errors.push(PlanError::at(format!("spec.timeouts.actions.{key}"), e));
        }
    }
    for key in b.actions.keys() {
        if let Err(e) = key.parse::<ActionKind>() {
            errors.push(PlanError::at(format!("spec.budgets.actions.{key}"), e));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, entry) in spec.system_var_changes.iter().enumerate() {
        if !seen.insert(&entry.name) {
            let msg = format!("{} is listed twice", entry.name);
            errors.push(PlanError::at(
                format!("spec.systemVarChanges[{i}].name"),
                msg,
            ));
        }
    }
    if let Some(adopt) = &spec.environment.adopt {
        if let Some(svc) = &adopt.mz_service
            && let Err(e) = check_service(svc)
        {
            errors.push(PlanError::at("spec.environment.adopt.mzService", e));
        }
        if let Some(Err(e)) = adopt.version.as_ref().map(|v| v.parse::<MzVersion>()) {
            errors.push(PlanError::at(
                "spec.environment.adopt.version",
                e.to_string(),
            ));
        }
    }
    errors
}

/// An `mzService` becomes part of object names: a short DNS label.
fn check_service(svc: &str) -> Result<(), String> {
    let dns_label = !svc.is_empty()
        && svc
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !svc.starts_with('-')
        && !svc.ends_with('-');
    if !dns_label {
        return Err(format!(
            "{svc:?} is not a valid service name: lowercase letters, digits and '-', starting \
             and ending alphanumeric (platform-checks' mz_1 is mz-1 here)"
        ));
    }
    if svc.len() > MZ_SERVICE_MAX_LEN as usize {
        return Err(format!(
            "{svc:?} is longer than {MZ_SERVICE_MAX_LEN} characters"
        ));
    }
    Ok(())
}

/// Where an item's field lives: `spec.actions[i].field` for explicit items; built-in scenario
/// and implicit items have no field of their own, so their errors point at `spec.scenario`.
fn field_path(origin: Origin, field: &str) -> String {
    match origin {
        Origin::Explicit(i) => format!("spec.actions[{i}].{field}"),
        _ => super::origin_path(origin),
    }
}

/// Resolves one item against the spec; every problem with it is reported.
pub fn resolve(
    item: &Item,
    spec: &ScenarioRunSpec,
    versions: &VersionTable,
    defaults: &Defaults,
) -> Result<Action, Vec<PlanError>> {
    let a = &item.spec;
    let mut errors = Vec::new();
    let mut err = |field: &str, message: String| {
        errors.push(PlanError::at(field_path(item.origin, field), message));
    };
    let checked = check_item(a, versions, &mut err);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(build_action(a, spec, defaults, checked))
}

/// What [`check_item`] resolved, kept so that building the action cannot fail once the
/// item has been found free of errors.
struct Checked {
    tag: Option<MzVersion>,
    parameter_version: Option<MzVersion>,
    new_tag: Option<MzVersion>,
    env_extra: Vec<String>,
    /// `(negative, seconds)` of `duration`.
    sleep: Option<(bool, f64)>,
}

/// Every check of one item runs before any action is built, so that all of its problems are
/// reported together rather than only the first.
fn check_item(
    a: &ActionSpec,
    versions: &VersionTable,
    err: &mut impl FnMut(&str, String),
) -> Checked {
    check_params(a, err);
    if let Some(svc) = &a.mz_service
        && let Err(e) = check_service(svc)
    {
        err("mzService", e);
    }
    let mut version = |field: &str, template: &Option<String>| -> Option<MzVersion> {
        let template = template.as_deref().unwrap_or("current");
        versions.resolve(template).map_err(|e| err(field, e)).ok()
    };
    let tag = version("tag", &a.tag);
    let parameter_version = match &a.system_parameter_version {
        Some(_) => version("systemParameterVersion", &a.system_parameter_version),
        None => tag.clone(),
    };
    let new_tag = version("newTag", &a.new_tag);
    let env_extra = a.environment_extra.clone().unwrap_or_default();
    for (i, entry) in env_extra.iter().enumerate() {
        if let Err(e) = check_env_entry(entry) {
            err(&format!("environmentExtra[{i}]"), e);
        }
    }
    let sleep = a
        .duration
        .map(|d| (d.is_negative(), StdDuration::from(d).as_secs_f64()));
    if let Some((true, _)) = sleep {
        err("duration", "must not be negative".to_string());
    }
    Checked {
        tag,
        parameter_version,
        new_tag,
        env_extra,
        sleep,
    }
}

/// Turns a checked item into its typed action; the `expect`s hold because [`check_item`]
/// reported no errors.
fn build_action(a: &ActionSpec, spec: &ScenarioRunSpec, defaults: &Defaults, c: Checked) -> Action {
    let lifecycle = || {
        a.mz_service
            .clone()
            .unwrap_or_else(|| defaults.lifecycle.clone())
    };
    let leader = || {
        a.mz_service
            .clone()
            .unwrap_or_else(|| defaults.leader.clone())
    };
    match a.action {
        ActionKind::StartMz => Action::StartMz(start_mz(a, spec, lifecycle(), c)),
        ActionKind::ConfigureMz => Action::ConfigureMz {
            mz_service: leader(),
        },
        ActionKind::SetupSqlServerTesting => Action::SetupSqlServerTesting {
            mz_service: leader(),
        },
        ActionKind::KillMz => Action::KillMz {
            mz_service: lifecycle(),
            capture_logs: a.capture_logs.unwrap_or(false),
        },
        ActionKind::WaitReadyMz => Action::WaitReadyMz {
            mz_service: lifecycle(),
        },
        ActionKind::PromoteMz => Action::PromoteMz {
            mz_service: lifecycle(),
        },
        ActionKind::SkipCatchup => Action::SkipCatchup {
            mz_service: lifecycle(),
        },
        ActionKind::ReplaceEnvironmentdStatefulSet => Action::ReplaceEnvironmentdStatefulSet {
            mz_service: lifecycle(),
            new_tag: c.new_tag.expect("resolved above"),
            expect_failure: a.expect_failure.unwrap_or(false),
        },
        ActionKind::Initialize => Action::Initialize {
            mz_service: leader(),
        },
        ActionKind::Manipulate => Action::Manipulate {
            mz_service: leader(),
            phase: a.phase.expect("required parameters were checked"),
        },
        ActionKind::Validate => Action::Validate {
            mz_service: leader(),
        },
        ActionKind::SystemVarChange => Action::SystemVarChange {
            mz_service: leader(),
            name: a.name.clone().expect("required parameters were checked"),
            value: a.value.clone().expect("required parameters were checked"),
        },
        ActionKind::Sleep => Action::Sleep {
            seconds: c.sleep.expect("required parameters were checked").1,
        },
    }
}

/// StartMz has the only defaults that depend on the action itself: a read-only start (one
/// with `deployGeneration`) is health-checked on the leader status and restarted on failure.
fn start_mz(a: &ActionSpec, spec: &ScenarioRunSpec, mz_service: String, c: Checked) -> StartMz {
    let read_only = a.deploy_generation.is_some();
    let mut parameters = a
        .system_parameter_defaults
        .clone()
        .unwrap_or_else(|| spec.environment.system_parameter_defaults.clone());
    parameters.extend(
        a.additional_system_parameter_defaults
            .clone()
            .unwrap_or_default(),
    );
    let default_path = if read_only {
        LEADER_STATUS_PATH
    } else {
        READYZ_PATH
    };
    let healthcheck = match &a.healthcheck {
        Some(h) => ResolvedHealthcheck {
            path: h.path.clone(),
            port: h.port.unwrap_or(INTERNAL_HTTP_PORT),
        },
        None => ResolvedHealthcheck {
            path: default_path.to_string(),
            port: INTERNAL_HTTP_PORT,
        },
    };
    let default_restart = if read_only {
        RestartPolicy::OnFailure
    } else {
        RestartPolicy::No
    };
    StartMz {
        mz_service,
        tag: c.tag.expect("resolved above"),
        deploy_generation: a.deploy_generation,
        system_parameter_defaults: parameters,
        system_parameter_version: c.parameter_version.expect("resolved above"),
        environment_extra: c.env_extra,
        healthcheck,
        restart: a.restart.unwrap_or(default_restart),
        force_migrations: a.force_migrations.clone(),
        publish: a.publish,
        expect_failure: a.expect_failure.unwrap_or(false),
    }
}

/// Applies [`PARAMS`]: parameters the action does not take, and required ones it lacks.
fn check_params(a: &ActionSpec, err: &mut impl FnMut(&str, String)) {
    let set = a.set_params();
    for name in set.iter().cloned() {
        let Some(param) = PARAMS.iter().find(|p| p.name == name) else {
            err(&name, format!("{name} has no entry in the parameter table"));
            continue;
        };
        if !param.allowed.contains(&a.action) {
            let allowed: Vec<_> = param.allowed.iter().map(|k| k.name()).collect();
            let msg = format!(
                "{name} is not a parameter of {}; only of {}",
                a.action,
                allowed.join(", ")
            );
            err(&name, msg);
        }
    }
    for param in PARAMS.iter().filter(|p| p.required.contains(&a.action)) {
        if !set.iter().any(|s| s == param.name) {
            err(param.name, format!("{} requires {}", a.action, param.name));
        }
    }
    if a.action == ActionKind::Manipulate && !matches!(a.phase, None | Some(1) | Some(2)) {
        err(
            "phase",
            format!("must be 1 or 2, got {}", a.phase.unwrap_or_default()),
        );
    }
}

/// `environmentExtra` entries are `NAME=VALUE` like compose's environment list.
fn check_env_entry(entry: &str) -> Result<(), String> {
    let Some((name, _)) = entry.split_once('=') else {
        return Err(format!("{entry:?} is not NAME=VALUE"));
    };
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!("{name:?} is not an environment variable name"));
    }
    Ok(())
}
