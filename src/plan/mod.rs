//! The planner: turns a `ScenarioRunSpec` into the ordered, enriched, fully resolved action list
//! platform-checks' `Scenario.run()` would execute, or explains why Materialize (or the spec)
//! would not allow it.
//!
//! Pure: no IO, no clock, no randomness. Pipeline: source (built-in scenario or `spec.actions`)
//! → [`enrich`] → resolve each item (templates, defaults, parameter table) → [`simulate`] the
//! environment's life to catch what Materialize would refuse.

pub mod action;
pub mod catalogue;
pub mod enrich;
pub mod environment;
pub mod render;
mod resolve;
mod simulate;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use self::action::Action;
use self::enrich::{Item, Origin};
use crate::{api::v1alpha1::ScenarioRunSpec, checks::library::CheckGate};

/// One step of a plan.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PlannedStep {
    #[serde(flatten)]
    pub action: Action,
    /// Inserted by `Scenario.run()`'s enrichment rather than listed by the scenario.
    pub implicit: bool,
}

/// An enriched, resolved plan.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub actions: Vec<PlannedStep>,
    /// What gates the checks: base version, check floor, external idempotence.
    #[serde(flatten)]
    pub gate: CheckGate,
}

/// A spec the planner refuses, with the field it comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanError {
    /// Field path in the ScenarioRun, e.g. `spec.actions[3].tag` or `spec.scenario`.
    pub path: String,
    /// The step the problem shows up at, when it is about the run's course.
    pub step: Option<StepRef>,
    pub message: String,
}

/// A step number (1-based, as in `plan -o table`) and a short label of the action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepRef {
    pub number: usize,
    pub label: String,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.path)?;
        if let Some(step) = &self.step {
            write!(f, "step {} ({}): ", step.number, step.label)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found, in spec order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanErrors(pub Vec<PlanError>);

impl fmt::Display for PlanErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(|e| e.to_string()).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl std::error::Error for PlanErrors {}

impl PlanError {
    fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        PlanError {
            path: path.into(),
            step: None,
            message: message.into(),
        }
    }
}

/// Field path of an item's origin, for messages about the whole item.
fn origin_path(origin: Origin) -> String {
    match origin {
        Origin::Explicit(i) | Origin::Implicit(Some(i)) => format!("spec.actions[{i}]"),
        Origin::Scenario(_) | Origin::Implicit(None) => "spec.scenario".to_string(),
    }
}

/// Plans a run.
pub fn plan(spec: &ScenarioRunSpec) -> Result<Plan, PlanErrors> {
    let mut errors = resolve::check_spec(spec);
    // Inline checks are parsed now, so a bad script is refused before anything runs. Checks in
    // ConfigMaps are read (and refused the same way) by the operator when the run starts.
    let skip_unavailable = spec.checks.as_ref().is_some_and(|c| c.skip_unavailable);
    for (i, check) in spec.checks.iter().flat_map(|c| c.inline.iter()).enumerate() {
        if let Err(e) = crate::checks::library::compile_for(check, "inline", skip_unavailable) {
            errors.push(PlanError::at(
                format!("spec.checks.inline[{i}]"),
                e.to_string(),
            ));
        }
    }
    let items = match source(spec) {
        Ok(items) => items,
        Err(e) => {
            errors.push(e);
            return Err(PlanErrors(errors));
        }
    };
    let items = enrich::enrich(items, spec.features.sql_server);
    let versions = match resolve::VersionTable::new(&spec.versions) {
        Ok(v) => v,
        Err(mut e) => {
            errors.append(&mut e);
            return Err(PlanErrors(errors));
        }
    };
    let mut sim = simulate::Sim::new(spec, &versions);
    let mut steps = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let resolved = resolve::resolve(item, spec, &versions, &sim.defaults());
        match resolved {
            Ok(action) => {
                // Once the course has gone wrong, later state would only echo the first error.
                if errors.is_empty()
                    && let Err(message) = sim.apply(&action, index + 1)
                {
                    let step = StepRef {
                        number: index + 1,
                        label: action.label(),
                    };
                    errors.push(PlanError {
                        path: origin_path(item.origin),
                        step: Some(step),
                        message,
                    });
                }
                steps.push(PlannedStep {
                    action,
                    implicit: item.is_implicit(),
                });
            }
            // An implicit item only repeats its source's parameters: report the source alone.
            Err(_) if item.is_implicit() => {}
            Err(mut e) => errors.append(&mut e),
        }
    }
    if !errors.is_empty() {
        return Err(PlanErrors(errors));
    }
    let starts = steps.iter().any(|s| matches!(s.action, Action::StartMz(_)));
    let errors = if starts {
        environment::check(&spec.environment, &steps)
    } else {
        vec![]
    };
    if !errors.is_empty() {
        return Err(PlanErrors(errors));
    }
    Ok(Plan {
        actions: steps,
        gate: CheckGate {
            base_version: sim.base_version(),
            requires_external_idempotence: sim.repeats_manipulate(),
            check_floor: sim.check_floor(),
        },
    })
}

/// The service clients reach as leader while each step of an accepted plan runs (`None`: no
/// environmentd serves as leader then, e.g. before the first start or after the leader was
/// killed), from the same model of the environment the planner judged the plan with. A step
/// that changes the leader (a promotion) counts for the next step.
pub fn serving_leaders(spec: &ScenarioRunSpec, steps: &[PlannedStep]) -> Vec<Option<String>> {
    let Ok(versions) = resolve::VersionTable::new(&spec.versions) else {
        return vec![None; steps.len()];
    };
    let mut sim = simulate::Sim::new(spec, &versions);
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let leader = sim.serving_leader().map(str::to_string);
            // An accepted plan applies cleanly; were one not to, the model stays as it was.
            let _ = sim.apply(&s.action, i + 1);
            leader
        })
        .collect()
}

/// The action list before enrichment: the built-in scenario's or `spec.actions`.
fn source(spec: &ScenarioRunSpec) -> Result<Vec<Item>, PlanError> {
    match (&spec.scenario, &spec.actions) {
        (Some(name), None) => {
            let scenario = catalogue::find(name).map_err(|e| PlanError::at("spec.scenario", e))?;
            let inputs = catalogue::Inputs {
                versions: &spec.versions,
                system_var_changes: &spec.system_var_changes,
            };
            let actions = scenario
                .actions(&inputs)
                .map_err(|e| PlanError::at("spec.scenario", format!("{name} {e}")))?;
            Ok(actions
                .into_iter()
                .enumerate()
                .map(|(i, spec)| Item {
                    spec,
                    origin: Origin::Scenario(i),
                })
                .collect())
        }
        (None, Some(actions)) if !actions.is_empty() => Ok(actions
            .iter()
            .enumerate()
            .map(|(i, spec)| Item {
                spec: spec.clone(),
                origin: Origin::Explicit(i),
            })
            .collect()),
        (None, Some(_)) => Err(PlanError::at(
            "spec.actions",
            "must list at least one action",
        )),
        (Some(_), Some(_)) => Err(PlanError::at(
            "spec",
            "set exactly one of scenario or actions, not both",
        )),
        (None, None) => Err(PlanError::at(
            "spec",
            "set exactly one of scenario or actions",
        )),
    }
}

#[cfg(test)]
mod tests;
