//! The step machine's bookkeeping, pure: how an outcome changes a run's status, and what the
//! controller must do next (write, publish, requeue). No IO, so every transition is testable.

use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};
use kube::runtime::events::EventType;

use super::actions::Outcome;
use crate::{
    api::v1alpha1::{CheckRecord, CheckState, RunPhase, ScenarioRunStatus, StepRecord, StepState},
    plan::Plan,
};

pub fn now() -> Time {
    Time(Timestamp::now())
}

/// What the controller does after recording an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Requeue at once: the step moved on.
    Again,
    /// Requeue after the poll interval: the step waits.
    Poll,
    /// The run ended (failed): clean up and wait for changes.
    Finished,
}

#[derive(Debug)]
pub struct Effect {
    /// The status changed and must be written.
    pub write: bool,
    /// Events to publish, in order (a failed check step adds one per failed check).
    pub events: Vec<(EventType, &'static str, String)>,
    pub next: Next,
}

fn set_condition(
    status: &mut ScenarioRunStatus,
    generation: Option<i64>,
    type_: &str,
    ok: bool,
    reason: &str,
    message: &str,
) {
    let value = if ok { "True" } else { "False" };
    let existing = status.conditions.iter().position(|c| c.type_ == type_);
    // apimachinery semantics: the transition time changes only when the status does.
    let transition = match existing.map(|i| &status.conditions[i]) {
        Some(c) if c.status == value => c.last_transition_time.clone(),
        _ => now(),
    };
    let c = Condition {
        type_: type_.into(),
        status: value.into(),
        reason: reason.into(),
        message: message.into(),
        observed_generation: generation,
        last_transition_time: transition,
    };
    match existing {
        Some(i) => status.conditions[i] = c,
        None => status.conditions.push(c),
    }
}

/// Phase, progress, current action and conditions derived from the steps.
pub fn summarize(
    status: &mut ScenarioRunStatus,
    generation: Option<i64>,
    phase: RunPhase,
    message: String,
) {
    let n = status.steps.len();
    let current = status
        .steps
        .iter()
        .position(|s| !matches!(s.state, StepState::Succeeded | StepState::Skipped));
    let shown = current.unwrap_or(n.saturating_sub(1));
    status.progress = Some(format!("{}/{n}", current.map(|i| i + 1).unwrap_or(n)));
    status.current_action = status
        .steps
        .get(shown)
        .and_then(|s| s.plan.get("action"))
        .and_then(|a| a.as_str())
        .map(str::to_string);
    status.phase = Some(phase);
    status.observed_generation = generation;
    status.message = Some(message.clone());
    let (ready, progressing, failed) = match phase {
        RunPhase::Succeeded => (true, false, false),
        RunPhase::Failed | RunPhase::Cancelled => (false, false, true),
        _ => (false, true, false),
    };
    let reason = format!("{phase:?}");
    set_condition(status, generation, "Ready", ready, &reason, &message);
    set_condition(
        status,
        generation,
        "Progressing",
        progressing,
        &reason,
        &message,
    );
    set_condition(status, generation, "Failed", failed, &reason, &message);
}

/// The plan frozen into step records, all Pending.
/// Check steps get one record per check (`checks`: Pending, or Skipped with the reason).
pub fn plan_steps(plan: &Plan, checks: &[CheckRecord]) -> Vec<StepRecord> {
    plan.actions
        .iter()
        .map(|s| StepRecord {
            checks: if s.action.kind().is_check_phase() {
                checks.to_vec()
            } else {
                Vec::new()
            },
            plan: match serde_json::to_value(s) {
                Ok(serde_json::Value::Object(m)) => m,
                _ => Default::default(),
            },
            state: StepState::Pending,
            attempt: 0,
            started_at: None,
            finished_at: None,
            message: None,
            progress: None,
        })
        .collect()
}

/// Marks step `index` (labelled `what`) Failed and the run with it; the run's message.
pub fn fail_step(
    status: &mut ScenarioRunStatus,
    index: usize,
    what: &str,
    generation: Option<i64>,
    cause: String,
) -> String {
    let message = format!("step {} ({what}) failed: {cause}", index + 1);
    let step = &mut status.steps[index];
    step.state = StepState::Failed;
    step.finished_at = Some(now());
    step.message = Some(cause);
    summarize(status, generation, RunPhase::Failed, message.clone());
    message
}

/// Marks a Pending step Running (a new attempt), before anything is done for it.
pub fn start_step(
    status: &mut ScenarioRunStatus,
    index: usize,
    what: &str,
    generation: Option<i64>,
) -> String {
    let step = &mut status.steps[index];
    step.state = StepState::Running;
    step.attempt += 1;
    step.started_at = Some(now());
    let message = format!("step {}: {what}", index + 1);
    summarize(status, generation, RunPhase::Running, message.clone());
    message
}

/// Records one pass's outcome for step `index`.
pub fn apply_outcome(
    status: &mut ScenarioRunStatus,
    index: usize,
    what: &str,
    generation: Option<i64>,
    outcome: Outcome,
) -> Effect {
    let number = index + 1;
    match outcome {
        Outcome::Done { message, version } => {
            let step = &mut status.steps[index];
            step.state = StepState::Succeeded;
            step.finished_at = Some(now());
            step.message = Some(message.clone());
            if let Some(v) = version {
                status.current_version = Some(v);
            }
            let note = format!("step {number} ({what}): {message}");
            summarize(status, generation, RunPhase::Running, note.clone());
            Effect {
                write: true,
                events: vec![(EventType::Normal, "StepSucceeded", note)],
                next: Next::Again,
            }
        }
        Outcome::Wait(message) => {
            // Unchanged waiting writes nothing: no status churn while polling.
            let changed = status.steps[index].message.as_deref() != Some(message.as_str());
            if changed {
                status.steps[index].message = Some(message.clone());
                summarize(
                    status,
                    generation,
                    RunPhase::Running,
                    format!("step {number} ({what}): {message}"),
                );
            }
            Effect {
                write: changed,
                events: Vec::new(),
                next: Next::Poll,
            }
        }
        Outcome::Progress { marker, message } => {
            let step = &mut status.steps[index];
            step.progress = Some(marker);
            step.message = Some(message);
            Effect {
                write: true,
                events: Vec::new(),
                next: Next::Again,
            }
        }
        Outcome::Applied(statement) => {
            status.steps[index].message = Some(format!("applied {statement}"));
            status.applied_statements.push(statement);
            Effect {
                write: true,
                events: Vec::new(),
                next: Next::Again,
            }
        }
        Outcome::Checks {
            records,
            end,
            moved,
        } => {
            status.steps[index].checks = records;
            match end {
                Some(Ok(summary)) => apply_outcome(
                    status,
                    index,
                    what,
                    generation,
                    Outcome::Done {
                        message: summary,
                        version: None,
                    },
                ),
                Some(Err(summary)) => {
                    let mut effect =
                        apply_outcome(status, index, what, generation, Outcome::Failed(summary));
                    let failed = status.steps[index]
                        .checks
                        .iter()
                        .filter(|c| c.state == CheckState::Failed)
                        .map(|c| {
                            let mut note = format!(
                                "step {number} ({what}): check {} failed: {}",
                                c.name,
                                c.reason.as_deref().unwrap_or("")
                            );
                            for part in [&c.statement, &c.diff].into_iter().flatten() {
                                note.push('\n');
                                note.push_str(part);
                            }
                            (EventType::Warning, "CheckFailed", note)
                        });
                    effect.events.extend(failed);
                    effect
                }
                None => {
                    let records = &status.steps[index].checks;
                    let finished = records.iter().filter(|r| r.state.finished()).count();
                    let mut message = format!("checks: {finished}/{} finished", records.len());
                    if let Some(r) = records.iter().find(|r| r.tries > 0) {
                        message.push_str(&format!(
                            "; {} retrying line {}",
                            r.name,
                            r.line.unwrap_or(0)
                        ));
                    }
                    status.steps[index].message = Some(message.clone());
                    summarize(
                        status,
                        generation,
                        RunPhase::Running,
                        format!("step {number} ({what}): {message}"),
                    );
                    Effect {
                        write: true,
                        events: Vec::new(),
                        next: if moved { Next::Again } else { Next::Poll },
                    }
                }
            }
        }
        Outcome::Failed(cause) => {
            let message = fail_step(status, index, what, generation, cause);
            Effect {
                write: true,
                events: vec![(EventType::Warning, "StepFailed", message)],
                next: Next::Finished,
            }
        }
    }
}
