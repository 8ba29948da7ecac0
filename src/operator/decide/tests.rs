//! The pass decision as a pure function: step selection, the run and step time limits (with
//! their defaults and per-action overrides), and the terminal and planning paths.

use std::time::Duration;

use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::{MicroTime, Time},
    jiff::Timestamp,
};
use serde_json::json;

use super::*;
use crate::{
    api::v1alpha1::{ActionKind, RunPhase, ScenarioRunSpec, ScenarioRunStatus, StepState},
    operator::transition::plan_steps,
};

fn spec(extra: serde_json::Value) -> ScenarioRunSpec {
    let mut base = json!({
        "versions": {"current": "v26.3.0", "previous": ["v26.2.0"]},
        "environment": {"backendSecretName": "backend"},
        "actions": [
            {"action": "StartMz", "mzService": "a"},
            {"action": "StartMz", "mzService": "b", "deployGeneration": 1},
            {"action": "WaitReadyMz", "mzService": "b"},
        ],
    });
    base.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    serde_json::from_value(base).unwrap()
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// A planned run started at 10:00, its steps in the given states.
fn status(spec: &ScenarioRunSpec, states: &[StepState]) -> ScenarioRunStatus {
    let plan = crate::plan::plan(spec).unwrap();
    let mut steps = plan_steps(&plan, &[]);
    for (s, state) in steps.iter_mut().zip(states) {
        s.state = *state;
        if *state == StepState::Running {
            s.started_at = Some(MicroTime(at("2026-12-01T10:00:00Z")));
            s.message = Some("waiting for the pod".into());
        }
    }
    ScenarioRunStatus {
        phase: Some(RunPhase::Running),
        started_at: Some(Time(at("2026-12-01T10:00:00Z"))),
        steps,
        ..Default::default()
    }
}

fn decision(spec: &ScenarioRunSpec, status: &ScenarioRunStatus, now: &str) -> Decision {
    decide(status, &frozen_plan(status), &Limits::of(spec), at(now))
}

use StepState::{Pending, Running, Succeeded};

#[test]
fn an_unplanned_run_is_planned_and_an_ended_one_only_cleaned_up() {
    let spec = spec(json!({}));
    let empty = ScenarioRunStatus::default();
    assert_eq!(
        decision(&spec, &empty, "2026-12-01T10:00:00Z"),
        Decision::Plan
    );
    for (phase, succeeded) in [
        (RunPhase::Succeeded, true),
        (RunPhase::Failed, false),
        (RunPhase::Cancelled, false),
    ] {
        let mut s = status(&spec, &[Succeeded, Running, Pending]);
        s.phase = Some(phase);
        // Even far past every deadline: an ended run is never failed again.
        let d = decision(&spec, &s, "2027-01-01T00:00:00Z");
        assert_eq!(d, Decision::Ended { succeeded }, "{phase:?}");
    }
}

#[test]
fn the_first_unfinished_step_is_started_then_executed() {
    let spec = spec(json!({}));
    let s = status(&spec, &[Succeeded, Pending, Pending]);
    let d = decision(&spec, &s, "2026-12-01T10:00:01Z");
    assert_eq!(d, Decision::Start { index: 1 });
    // Skipped counts as done, like Succeeded.
    let s = status(&spec, &[StepState::Skipped, Running, Pending]);
    let d = decision(&spec, &s, "2026-12-01T10:00:01Z");
    assert_eq!(d, Decision::Execute { index: 1 });
    // (The plan is enriched: StartMz a, ConfigureMz a, StartMz b, WaitReadyMz b.)
    let s = status(&spec, &[Succeeded; 4]);
    let d = decision(&spec, &s, "2026-12-01T10:00:01Z");
    assert_eq!(d, Decision::Complete);
}

#[test]
fn a_step_past_its_default_limit_expires_naming_what_it_waited_for() {
    let spec = spec(json!({}));
    // StartMz: 10 minutes by default.
    let s = status(&spec, &[Running, Pending, Pending]);
    let d = decision(&spec, &s, "2026-12-01T10:10:00Z");
    assert_eq!(d, Decision::Execute { index: 0 }, "exactly at the limit");
    let d = decision(&spec, &s, "2026-12-01T10:10:01Z");
    let Decision::Expire { index: 0, deadline } = d else {
        panic!("{d:?}")
    };
    assert_eq!(
        deadline.cause(),
        "timed out after 600s (waiting for the pod)"
    );
    // WaitReadyMz: 15 minutes by default, as platform-checks.
    let s = status(&spec, &[Succeeded, Succeeded, Succeeded, Running]);
    let d = decision(&spec, &s, "2026-12-01T10:14:59Z");
    assert_eq!(d, Decision::Execute { index: 3 });
    let d = decision(&spec, &s, "2026-12-01T10:15:01Z");
    assert!(matches!(d, Decision::Expire { index: 3, .. }), "{d:?}");
}

#[test]
fn per_action_limits_apply_to_their_kind_only() {
    let spec = spec(json!({"timeouts": {"actions": {"StartMz": "30s"}}}));
    let limits = Limits::of(&spec);
    assert_eq!(limits.step(ActionKind::StartMz), Duration::from_secs(30));
    assert_eq!(
        limits.step(ActionKind::WaitReadyMz),
        Duration::from_secs(900)
    );
    assert_eq!(limits.step(ActionKind::PromoteMz), Duration::from_secs(600));
    let s = status(&spec, &[Running, Pending, Pending]);
    let d = decision(&spec, &s, "2026-12-01T10:00:31Z");
    assert!(matches!(d, Decision::Expire { index: 0, .. }), "{d:?}");
}

#[test]
fn the_run_limit_fails_the_current_step_even_before_it_starts() {
    let spec = spec(json!({"timeouts": {"run": "1h"}}));
    let mut s = status(&spec, &[Succeeded, Pending, Pending]);
    let d = decision(&spec, &s, "2026-12-01T11:00:00Z");
    assert_eq!(d, Decision::Start { index: 1 }, "exactly at the limit");
    let d = decision(&spec, &s, "2026-12-01T11:00:01Z");
    let Decision::Expire { index: 1, deadline } = d else {
        panic!("{d:?}")
    };
    assert_eq!(deadline.cause(), "the run exceeded its time limit of 3600s");
    // Default: two hours.
    let default = spec_default();
    s.started_at = Some(Time(at("2026-12-01T08:00:00Z")));
    let d = decision(&default, &s, "2026-12-01T10:00:01Z");
    assert!(
        matches!(
            d,
            Decision::Expire {
                index: 1,
                deadline: Deadline::Run(_)
            }
        ),
        "{d:?}"
    );
}

fn spec_default() -> ScenarioRunSpec {
    spec(json!({}))
}

#[test]
fn an_unreadable_frozen_plan_fails_the_run_naming_the_step() {
    let spec = spec(json!({}));
    let mut s = status(&spec, &[Succeeded, Running, Pending]);
    s.steps[2]
        .plan
        .insert("action".into(), json!("NoSuchAction"));
    let d = decision(&spec, &s, "2026-12-01T10:00:01Z");
    let Decision::Unreadable(message) = d else {
        panic!("{d:?}")
    };
    assert!(
        message.starts_with("step 3 has an unreadable plan in status: "),
        "{message}"
    );
}
