//! How a run's status changes, pure: each function takes the status, the pass's [`Stamp`]
//! (generation seen and the time) and what happened, changes the status, and returns the
//! [`Effect`] the controller commits (write, Events, what next). No IO and no clock.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, MicroTime, Time};

use super::outcome::{ChecksEnd, Effect, EventNote, Next, Outcome};
use crate::{
    api::v1alpha1::{
        ActionKind, Budgets, CheckRecord, CheckState, RunPhase, ScenarioRunStatus, StepProbes,
        StepRecord, StepState, conditions, reasons,
    },
    downtime,
    plan::Plan,
};

/// What every transition of a pass shares.
#[derive(Debug, Clone)]
pub struct Stamp {
    /// `metadata.generation` seen at the start of the pass.
    pub generation: Option<i64>,
    pub now: Time,
}

/// A step as transitions name it: 0-based index and label (`StartMz mz-1 v26.1.0`).
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    pub index: usize,
    pub label: &'a str,
}

impl Step<'_> {
    fn prefix(&self) -> String {
        format!("step {} ({})", self.index + 1, self.label)
    }
}

fn phase_reason(phase: RunPhase) -> &'static str {
    match phase {
        RunPhase::Pending => reasons::PENDING,
        RunPhase::Running => reasons::RUNNING,
        RunPhase::Succeeded => reasons::SUCCEEDED,
        RunPhase::Failed => reasons::FAILED,
        RunPhase::Cancelled => reasons::CANCELLED,
    }
}

fn set_condition(
    status: &mut ScenarioRunStatus,
    stamp: &Stamp,
    type_: &str,
    ok: bool,
    reason: &str,
) {
    let value = if ok { "True" } else { "False" };
    let message = status.message.clone().unwrap_or_default();
    let existing = status.conditions.iter().position(|c| c.type_ == type_);
    // apimachinery semantics: the transition time changes only when the status does.
    let transition = match existing.map(|i| &status.conditions[i]) {
        Some(c) if c.status == value => c.last_transition_time.clone(),
        _ => stamp.now.clone(),
    };
    let c = Condition {
        type_: type_.into(),
        status: value.into(),
        reason: reason.into(),
        message,
        observed_generation: stamp.generation,
        last_transition_time: transition,
    };
    match existing {
        Some(i) => status.conditions[i] = c,
        None => status.conditions.push(c),
    }
}

/// The first step not yet Succeeded or Skipped: the one the run is at.
pub fn current_step(status: &ScenarioRunStatus) -> Option<usize> {
    status
        .steps
        .iter()
        .position(|s| !matches!(s.state, StepState::Succeeded | StepState::Skipped))
}

/// Phase, progress, current action and conditions derived from the steps.
pub fn summarize(status: &mut ScenarioRunStatus, stamp: &Stamp, phase: RunPhase, message: String) {
    let n = status.steps.len();
    let current = current_step(status);
    let shown = current.unwrap_or(n.saturating_sub(1));
    status.progress = Some(format!("{}/{n}", current.map(|i| i + 1).unwrap_or(n)));
    status.current_action = status
        .steps
        .get(shown)
        .and_then(|s| s.plan.get("action"))
        .and_then(|a| a.as_str())
        .map(str::to_string);
    status.phase = Some(phase);
    status.observed_generation = stamp.generation;
    status.message = Some(message);
    let (ready, progressing, failed) = match phase {
        RunPhase::Succeeded => (true, false, false),
        RunPhase::Failed | RunPhase::Cancelled => (false, false, true),
        _ => (false, true, false),
    };
    let reason = phase_reason(phase);
    set_condition(status, stamp, conditions::READY, ready, reason);
    set_condition(status, stamp, conditions::PROGRESSING, progressing, reason);
    set_condition(status, stamp, conditions::FAILED, failed, reason);
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
            probes: None,
        })
        .collect()
}

/// The first pass planned the run: its steps are frozen into status.
pub fn planned(status: &mut ScenarioRunStatus, stamp: &Stamp, steps: Vec<StepRecord>) -> Effect {
    status.steps = steps;
    status.started_at = Some(stamp.now.clone());
    let message = format!("planned {} steps", status.steps.len());
    summarize(status, stamp, RunPhase::Running, message.clone());
    Effect {
        write: true,
        events: vec![EventNote::normal(reasons::PLANNED, message)],
        next: Next::Again,
    }
}

/// The run cannot go on as a whole (its plan or checks were refused, its frozen plan is
/// unreadable): it fails with `message`.
pub fn refuse(
    status: &mut ScenarioRunStatus,
    stamp: &Stamp,
    reason: &'static str,
    message: String,
) -> Effect {
    summarize(status, stamp, RunPhase::Failed, message.clone());
    Effect {
        write: true,
        events: vec![EventNote::warning(reason, message)],
        next: Next::Ended { succeeded: false },
    }
}

/// Every step succeeded.
pub fn complete(status: &mut ScenarioRunStatus, stamp: &Stamp) -> Effect {
    let message = format!("all {} steps succeeded", status.steps.len());
    summarize(status, stamp, RunPhase::Succeeded, message.clone());
    Effect {
        write: true,
        events: vec![EventNote::normal(reasons::SUCCEEDED, message)],
        next: Next::Ended { succeeded: true },
    }
}

/// Marks a Pending step Running (a new attempt), before anything is done for it.
pub fn start_step(status: &mut ScenarioRunStatus, stamp: &Stamp, step: Step) -> Effect {
    let record = &mut status.steps[step.index];
    record.state = StepState::Running;
    record.attempt += 1;
    record.started_at = Some(MicroTime(stamp.now.0));
    let message = format!("step {}: {}", step.index + 1, step.label);
    summarize(status, stamp, RunPhase::Running, message.clone());
    Effect {
        write: true,
        events: vec![EventNote::normal(reasons::STEP_STARTED, message)],
        next: Next::Again,
    }
}

/// Marks the step Failed and the run with it; the Event carries `reason`.
pub fn fail_step(
    status: &mut ScenarioRunStatus,
    stamp: &Stamp,
    step: Step,
    reason: &'static str,
    cause: String,
) -> Effect {
    let message = format!("{} failed: {cause}", step.prefix());
    let record = &mut status.steps[step.index];
    record.state = StepState::Failed;
    record.finished_at = Some(MicroTime(stamp.now.0));
    record.message = Some(cause);
    summarize(status, stamp, RunPhase::Failed, message.clone());
    Effect {
        write: true,
        events: vec![EventNote::warning(reason, message)],
        next: Next::Ended { succeeded: false },
    }
}

fn succeed_step(
    status: &mut ScenarioRunStatus,
    stamp: &Stamp,
    step: Step,
    message: String,
    version: Option<String>,
) -> Effect {
    let record = &mut status.steps[step.index];
    record.state = StepState::Succeeded;
    record.finished_at = Some(MicroTime(stamp.now.0));
    record.message = Some(message.clone());
    if let Some(v) = version {
        status.current_version = Some(v);
    }
    let note = format!("{}: {message}", step.prefix());
    summarize(status, stamp, RunPhase::Running, note.clone());
    Effect {
        write: true,
        events: vec![EventNote::normal(reasons::STEP_SUCCEEDED, note)],
        next: Next::Again,
    }
}

/// A step that waits: unchanged waiting writes nothing, so polling causes no status churn.
fn wait(status: &mut ScenarioRunStatus, stamp: &Stamp, step: Step, message: String) -> Effect {
    let changed = status.steps[step.index].message.as_deref() != Some(message.as_str());
    if changed {
        let note = format!("{}: {message}", step.prefix());
        status.steps[step.index].message = Some(message);
        summarize(status, stamp, RunPhase::Running, note);
    }
    Effect {
        write: changed,
        events: Vec::new(),
        next: Next::Poll,
    }
}

/// Records one pass's outcome for the step.
pub fn apply_outcome(
    status: &mut ScenarioRunStatus,
    stamp: &Stamp,
    step: Step,
    outcome: Outcome,
) -> Effect {
    let record = &mut status.steps[step.index];
    match outcome {
        Outcome::Done { message, version } => succeed_step(status, stamp, step, message, version),
        Outcome::Wait(message) => wait(status, stamp, step, message),
        Outcome::Await { message, wake } => Effect {
            next: Next::Watch(wake),
            ..wait(status, stamp, step, message)
        },
        Outcome::Progress { marker, message } => {
            record.progress = Some(marker);
            record.message = Some(message);
            moved()
        }
        Outcome::Applied(statement) => {
            record.message = Some(format!("applied {statement}"));
            status.applied_statements.push(statement);
            moved()
        }
        Outcome::Failed(cause) => fail_step(status, stamp, step, reasons::STEP_FAILED, cause),
        Outcome::WriteAhead { records, fresh } => {
            record.checks = records;
            Effect {
                write: true,
                events: Vec::new(),
                next: Next::Continue { fresh },
            }
        }
        Outcome::Checks { records, end } => {
            record.checks = records;
            checks_end(status, stamp, step, end)
        }
    }
}

/// The status changed and the step goes on at once.
fn moved() -> Effect {
    Effect {
        write: true,
        events: Vec::new(),
        next: Next::Again,
    }
}

fn checks_end(status: &mut ScenarioRunStatus, stamp: &Stamp, step: Step, end: ChecksEnd) -> Effect {
    match end {
        ChecksEnd::Passed(summary) => succeed_step(status, stamp, step, summary, None),
        ChecksEnd::Failed(summary) => {
            let mut effect = fail_step(status, stamp, step, reasons::STEP_FAILED, summary);
            effect
                .events
                .extend(failed_check_events(&status.steps[step.index].checks, step));
            effect
        }
        ChecksEnd::Running { moved } => {
            let records = &status.steps[step.index].checks;
            let finished = records.iter().filter(|r| r.state.finished()).count();
            let mut message = format!("checks: {finished}/{} finished", records.len());
            if let Some(r) = records.iter().find(|r| r.tries > 0) {
                message.push_str(&format!(
                    "; {} retrying line {}",
                    r.name,
                    r.line.unwrap_or(0)
                ));
            }
            let note = format!("{}: {message}", step.prefix());
            status.steps[step.index].message = Some(message);
            summarize(status, stamp, RunPhase::Running, note);
            Effect {
                write: true,
                events: Vec::new(),
                next: if moved { Next::Again } else { Next::Poll },
            }
        }
    }
}

/// Whether step `index` has ended (so its probe record is due).
pub fn step_ended(status: &ScenarioRunStatus, index: usize) -> bool {
    matches!(
        status.steps[index].state,
        StepState::Succeeded | StepState::Failed
    )
}

/// A step (of `kind`) ended, as `effect` records: what the client probe saw goes into its
/// record, the run's total and the step's Event; a step that succeeded but exceeded a budget
/// fails the run, naming the budget and the measured value.
pub fn end_probes(
    status: &mut ScenarioRunStatus,
    stamp: &Stamp,
    step: Step,
    kind: ActionKind,
    probes: Option<StepProbes>,
    budgets: &Budgets,
    mut effect: Effect,
) -> Effect {
    if let (Some(p), Some(event)) = (&probes, effect.events.first_mut()) {
        event.note = format!("{}; {}", event.note, downtime::describe(p));
    }
    status.steps[step.index].probes = probes;
    status.downtime = downtime::run_downtime(&status.steps);
    effect.write = true;
    if status.steps[step.index].state != StepState::Succeeded {
        return effect;
    }
    let overrun = downtime::judge_step(budgets, kind, &status.steps[step.index])
        .or_else(|| downtime::judge_run(budgets, status));
    let Some(o) = overrun else {
        return effect;
    };
    let mut failed = fail_step(status, stamp, step, reasons::BUDGET_EXCEEDED, o.to_string());
    let probes = status.steps[step.index].probes.as_ref();
    if let (Some(p), Some(event)) = (probes, failed.events.first_mut()) {
        event.note = format!("{}; {}", event.note, downtime::describe(p));
    }
    failed
}

/// One Warning per failed check, with its statement and diff.
fn failed_check_events(records: &[CheckRecord], step: Step) -> Vec<EventNote> {
    records
        .iter()
        .filter(|c| c.state == CheckState::Failed)
        .map(|c| {
            let mut note = format!(
                "{}: check {} failed: {}",
                step.prefix(),
                c.name,
                c.reason.as_deref().unwrap_or("")
            );
            for part in [&c.statement, &c.diff].into_iter().flatten() {
                note.push('\n');
                note.push_str(part);
            }
            EventNote::warning(reasons::CHECK_FAILED, note)
        })
        .collect()
}
