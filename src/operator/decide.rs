//! The decision of a pass, pure: from the run's status, its time limits and the time, what this
//! pass must do — clean up after the end, plan, start a step, run one, fail one past its time
//! limit, or finish the run. No IO and no clock, so every path, the deadlines included, is a
//! plain unit test.

use std::{collections::BTreeMap, time::Duration};

use k8s_openapi::jiff::Timestamp;

use super::transition::current_step;
use crate::{
    api::v1alpha1::{ActionKind, Budgets, RunPhase, ScenarioRunSpec, ScenarioRunStatus, StepState},
    downtime::{self, Overrun},
    plan::PlannedStep,
};

/// Default limit of a whole run, from its first step.
pub const DEFAULT_RUN_LIMIT: Duration = Duration::from_secs(2 * 60 * 60);
/// Default limit of a step: 10 minutes, but WaitReadyMz as platform-checks (900 s).
pub const DEFAULT_STEP_LIMIT: Duration = Duration::from_secs(600);
pub const DEFAULT_WAIT_READY_LIMIT: Duration = Duration::from_secs(900);

/// How long a waiting step waits between passes (`spec.pollInterval`, default 1 s).
pub fn poll_interval(spec: &ScenarioRunSpec) -> Duration {
    spec.poll_interval
        .map(Duration::from)
        .unwrap_or(Duration::from_secs(1))
}

/// A run's time limits and budgets, read once from its spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub run: Duration,
    steps: BTreeMap<ActionKind, Duration>,
    pub budgets: Budgets,
}

impl Limits {
    /// Keys that are not action names cannot reach here (the CRD's CEL refuses them); were one
    /// to, it would limit nothing rather than fail the run.
    pub fn of(spec: &ScenarioRunSpec) -> Limits {
        let steps = spec
            .timeouts
            .actions
            .iter()
            .filter_map(|(k, d)| Some((k.parse::<ActionKind>().ok()?, Duration::from(*d))))
            .collect();
        Limits {
            run: spec
                .timeouts
                .run
                .map(Duration::from)
                .unwrap_or(DEFAULT_RUN_LIMIT),
            steps,
            budgets: spec.budgets.clone(),
        }
    }

    /// The limit of one step of `kind`.
    pub fn step(&self, kind: ActionKind) -> Duration {
        self.steps.get(&kind).copied().unwrap_or(match kind {
            ActionKind::WaitReadyMz => DEFAULT_WAIT_READY_LIMIT,
            _ => DEFAULT_STEP_LIMIT,
        })
    }
}

/// The frozen plan, decoded once per pass; `Err` names the step whose record is unreadable.
pub fn frozen_plan(status: &ScenarioRunStatus) -> Result<Vec<PlannedStep>, String> {
    status
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            serde_json::from_value(serde_json::Value::Object(s.plan.clone()))
                .map_err(|e| format!("step {} has an unreadable plan in status: {e}", i + 1))
        })
        .collect()
}

/// Why a step is failed by the clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deadline {
    /// The whole run went past `spec.timeouts.run`.
    Run(Duration),
    /// The step went past its limit; `last` is what it was waiting for.
    Step { limit: Duration, last: String },
    /// The step or the run went past its duration budget (`spec.budgets`).
    Budget(Overrun),
}

impl Deadline {
    pub fn cause(&self) -> String {
        match self {
            Deadline::Run(limit) => format!("the run exceeded its time limit of {limit:?}"),
            Deadline::Step { limit, last } => format!("timed out after {limit:?} ({last})"),
            Deadline::Budget(overrun) => overrun.to_string(),
        }
    }
}

/// What one pass does.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The run ended: clean up per `spec.cleanup` (idempotent) and wait for deletion.
    Ended { succeeded: bool },
    /// Nothing is planned yet: plan, collect the checks, freeze both.
    Plan,
    /// The frozen plan cannot be read: the run fails with this message.
    Unreadable(String),
    /// Every step succeeded (or was skipped).
    Complete,
    /// Step `index` fails for the clock.
    Expire { index: usize, deadline: Deadline },
    /// Mark step `index` Running before doing anything for it.
    Start { index: usize },
    /// Run one pass of step `index`.
    Execute { index: usize },
}

fn since(start: Option<&Timestamp>, now: Timestamp) -> Duration {
    start
        .and_then(|s| Duration::try_from(now.duration_since(*s)).ok())
        .unwrap_or_default()
}

/// The pass's decision. `plan` is [`frozen_plan`]'s answer for this status.
pub fn decide(
    status: &ScenarioRunStatus,
    plan: &Result<Vec<PlannedStep>, String>,
    limits: &Limits,
    now: Timestamp,
) -> Decision {
    if let Some(phase @ (RunPhase::Succeeded | RunPhase::Failed | RunPhase::Cancelled)) =
        status.phase
    {
        return Decision::Ended {
            succeeded: phase == RunPhase::Succeeded,
        };
    }
    if status.steps.is_empty() {
        return Decision::Plan;
    }
    let Some(index) = current_step(status) else {
        return Decision::Complete;
    };
    let plan = match plan {
        Ok(p) => p,
        Err(e) => return Decision::Unreadable(e.clone()),
    };
    if since(status.started_at.as_ref().map(|t| &t.0), now) > limits.run {
        let deadline = Deadline::Run(limits.run);
        return Decision::Expire { index, deadline };
    }
    let record = &status.steps[index];
    match record.state {
        StepState::Pending => return Decision::Start { index },
        // Only written together with a Failed run; never run a failed step again.
        StepState::Failed => return Decision::Ended { succeeded: false },
        _ => {}
    }
    let kind = plan[index].action.kind();
    let (step_start, run_start) = (
        record.started_at.as_ref().map(|t| t.0),
        status.started_at.as_ref().map(|t| t.0),
    );
    if let Some(o) = downtime::duration_overrun(&limits.budgets, kind, step_start, run_start, now) {
        return Decision::Expire {
            index,
            deadline: Deadline::Budget(o),
        };
    }
    let limit = limits.step(kind);
    if since(record.started_at.as_ref().map(|t| &t.0), now) > limit {
        let last = record.message.clone().unwrap_or_default();
        return Decision::Expire {
            index,
            deadline: Deadline::Step { limit, last },
        };
    }
    Decision::Execute { index }
}

#[cfg(test)]
mod tests;
