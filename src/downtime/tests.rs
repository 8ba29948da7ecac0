use std::time::Duration;

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::MicroTime, jiff::Timestamp};

use super::*;
use crate::api::v1alpha1::{StepBudget, StepState};

/// `ms` milliseconds after a fixed instant.
fn t(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(1_800_000_000_000 + ms).unwrap()
}

fn ok(ms: u64) -> ProbeResult {
    Ok(Duration::from_millis(ms))
}

fn refused() -> ProbeResult {
    Err("connection refused".into())
}

#[test]
fn nothing_counts_before_the_first_answer() {
    let mut tally = RunTally::new(0, t(0));
    for ms in [0, 100, 200] {
        tally.record(t(ms), refused());
    }
    tally.record(t(300), ok(2));
    let p = tally.end_step(t(400));
    assert_eq!((p.sent, p.failed), (1, 0));
    assert_eq!(p.downtime_seconds, 0.0);
    assert!(p.windows.is_empty());
}

#[test]
fn a_window_runs_from_the_first_unanswered_probe_to_the_next_answer() {
    let mut tally = RunTally::new(3, t(0));
    tally.record(t(0), ok(1));
    tally.record(t(100), Err("timed out".into()));
    tally.record(t(200), refused());
    tally.record(t(300), refused());
    tally.record(t(400), ok(3));
    tally.record(t(500), refused());
    tally.record(t(600), ok(5));
    let p = tally.end_step(t(650));
    assert_eq!(tally.index, 4, "answers now belong to the next step");
    assert_eq!((p.sent, p.failed), (7, 4));
    assert_eq!(p.downtime_seconds, 0.4);
    assert_eq!(p.longest_window_seconds, 0.3);
    assert_eq!(p.windows.len(), 2);
    assert_eq!(p.windows[0].start, MicroTime(t(100)));
    assert_eq!(p.windows[0].end, MicroTime(t(400)));
    assert_eq!(p.windows[0].error, "timed out", "the first error is kept");
    assert!(!p.windows[0].continues);
    assert_eq!(p.since, Some(MicroTime(t(0))));
}

#[test]
fn latency_percentiles_are_nearest_rank() {
    let mut tally = RunTally::new(0, t(0));
    for (i, ms) in (1..=100).enumerate() {
        tally.record(t(i as i64 * 100), ok(ms));
    }
    let p = tally.end_step(t(10_000));
    assert_eq!(p.latency_p50_seconds, Some(0.05));
    assert_eq!(p.latency_p99_seconds, Some(0.099));
    // No answers, no latency.
    let p = tally.end_step(t(11_000));
    assert_eq!((p.latency_p50_seconds, p.latency_p99_seconds), (None, None));
}

#[test]
fn a_window_open_at_the_step_end_is_cut_and_goes_on() {
    let mut tally = RunTally::new(0, t(0));
    tally.record(t(0), ok(1));
    tally.record(t(100), refused());
    let first = tally.end_step(t(250));
    assert_eq!(first.downtime_seconds, 0.15);
    assert!(first.windows[0].continues);
    tally.record(t(300), refused());
    tally.record(t(400), ok(1));
    let second = tally.end_step(t(500));
    assert_eq!(
        second.downtime_seconds, 0.15,
        "from the boundary to the answer"
    );
    assert_eq!(second.windows[0].start, MicroTime(t(250)));
    assert_eq!(second.windows[0].error, "connection refused");

    let steps = [record(Some(first)), record(None), record(Some(second))];
    // A step without probes between them breaks nothing: the parts still touch.
    let run = run_downtime(&steps).unwrap();
    assert_eq!(run.downtime_seconds, 0.3);
    assert_eq!(
        run.longest_window_seconds, 0.3,
        "the two parts are one window"
    );
    assert_eq!(run.summary, "0.300s (1 window)");
    assert_eq!((run.sent, run.failed), (4, 2));
}

#[test]
fn windows_past_the_limit_are_counted_not_kept() {
    let mut tally = RunTally::new(0, t(0));
    tally.record(t(0), ok(1));
    let n = StepProbes::MAX_WINDOWS as i64 + 5;
    for i in 0..n {
        tally.record(t(1 + i * 20), refused());
        tally.record(t(11 + i * 20), ok(1));
    }
    let p = tally.end_step(t(10_000));
    assert_eq!(p.windows.len(), StepProbes::MAX_WINDOWS);
    assert_eq!(p.windows_omitted, 5);
    assert!((p.downtime_seconds - n as f64 * 0.01).abs() < 1e-9);
    let run = run_downtime(&[record(Some(p))]).unwrap();
    assert_eq!(run.summary, format!("0.250s ({n} windows)"));
}

#[test]
fn a_run_without_probes_has_no_downtime_record() {
    assert_eq!(run_downtime(&[record(None)]), None);
    let quiet = StepProbes {
        sent: 12,
        ..Default::default()
    };
    assert_eq!(
        run_downtime(&[record(Some(quiet))]).unwrap().summary,
        "0s (12 probes)"
    );
}

fn record(probes: Option<StepProbes>) -> StepRecord {
    StepRecord {
        plan: Default::default(),
        state: StepState::Succeeded,
        attempt: 1,
        started_at: Some(MicroTime(t(0))),
        finished_at: Some(MicroTime(t(2_500))),
        message: None,
        progress: None,
        checks: Vec::new(),
        probes,
    }
}

fn budgets(json: serde_json::Value) -> Budgets {
    serde_json::from_value(json).unwrap()
}

fn down(seconds: f64) -> StepRecord {
    record(Some(StepProbes {
        sent: 10,
        failed: 3,
        downtime_seconds: seconds,
        ..Default::default()
    }))
}

#[test]
fn a_step_budget_names_itself_and_the_measured_value() {
    let b = budgets(serde_json::json!({"stepDowntime": "500ms"}));
    assert_eq!(
        judge_step(&b, ActionKind::PromoteMz, &down(0.5)),
        None,
        "at the limit is within"
    );
    let o = judge_step(&b, ActionKind::PromoteMz, &down(1.25)).unwrap();
    assert_eq!(o.budget, "spec.budgets.stepDowntime");
    assert_eq!(
        o.to_string(),
        "budget spec.budgets.stepDowntime (500ms) exceeded: client downtime in this step 1.250s"
    );
}

#[test]
fn an_action_budget_replaces_the_general_one_for_its_steps() {
    let mut b = budgets(serde_json::json!({"stepDowntime": "100ms", "stepDuration": "1s"}));
    b.actions.insert(
        "StartMz".into(),
        StepBudget {
            downtime: Some(std::time::Duration::from_secs(10).into()),
            duration: None,
        },
    );
    assert_eq!(
        judge_step(&b, ActionKind::StartMz, &down(5.0)).map(|o| o.measure),
        Some(Measure::StepDuration),
        "StartMz's own downtime budget holds; the general duration budget still applies (2.5 s)"
    );
    let o = judge_step(&b, ActionKind::PromoteMz, &down(5.0)).unwrap();
    assert_eq!(o.budget, "spec.budgets.stepDowntime");
    let o = judge_step(&b, ActionKind::StartMz, &down(11.0)).unwrap();
    assert_eq!(o.budget, "spec.budgets.actions.StartMz.downtime");
}

#[test]
fn a_step_without_probes_is_judged_on_duration_only() {
    let b = budgets(serde_json::json!({"stepDowntime": "1ms", "stepDuration": "2s"}));
    let o = judge_step(&b, ActionKind::KillMz, &record(None)).unwrap();
    assert_eq!(o.measure, Measure::StepDuration);
    assert_eq!(o.measured, Duration::from_millis(2500));
}

#[test]
fn the_run_budget_judges_the_total() {
    let b = budgets(serde_json::json!({"downtime": "1s"}));
    let mut status = ScenarioRunStatus {
        steps: vec![down(0.6), down(0.6)],
        ..Default::default()
    };
    status.downtime = run_downtime(&status.steps);
    let o = judge_run(&b, &status).unwrap();
    assert_eq!(
        o.to_string(),
        "budget spec.budgets.downtime (1s) exceeded: client downtime in the run so far 1.200s"
    );
    assert_eq!(judge_run(&Budgets::default(), &status), None);
}

#[test]
fn duration_budgets_are_judged_while_running() {
    let b = budgets(serde_json::json!({"runDuration": "10s", "stepDuration": "3s"}));
    let (step, run) = (Some(t(5_000)), Some(t(0)));
    assert_eq!(
        duration_overrun(&b, ActionKind::WaitReadyMz, step, run, t(8_000)),
        None
    );
    let o = duration_overrun(&b, ActionKind::WaitReadyMz, step, run, t(8_001)).unwrap();
    assert_eq!(o.budget, "spec.budgets.stepDuration");
    let o = duration_overrun(&b, ActionKind::WaitReadyMz, step, run, t(10_001)).unwrap();
    assert_eq!(
        o.budget, "spec.budgets.runDuration",
        "the run's budget first"
    );
}

#[test]
fn describe_says_what_clients_saw() {
    let mut tally = RunTally::new(0, t(0));
    tally.record(t(0), ok(2));
    tally.record(t(100), refused());
    tally.record(t(300), ok(4));
    let line = describe(&tally.end_step(t(400)));
    assert_eq!(
        line,
        "clients: 0.200s down (longest 0.200s), 1/3 probes failed, latency p50 2.0ms p99 4.0ms"
    );
}
