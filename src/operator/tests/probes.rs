//! The client probe and budgets through the real pass: whom the probe asks at each step, the
//! records it reports going into status, Events and the run's total, and budgets failing the
//! run with their name and the measured value.

use serde_json::json;

use super::*;
use crate::api::v1alpha1::reasons;

const A: &str = "fixture-run-a-0.fixture-run-a.ns.svc.cluster.local";

/// What the fake's probe reports for a step: `down` seconds of downtime in one window.
fn report(down: f64) -> StepProbes {
    StepProbes {
        sent: 40,
        failed: if down > 0.0 { 3 } else { 0 },
        downtime_seconds: down,
        longest_window_seconds: down,
        latency_p50_seconds: Some(0.0004),
        latency_p99_seconds: Some(0.0021),
        ..Default::default()
    }
}

/// A fake cluster whose probe reports `reports` (step index, downtime) for those steps.
fn reporting(reports: &[(usize, f64)]) -> FakeCluster {
    let cluster = FakeCluster::default();
    let mut st = cluster.state.lock().unwrap();
    for (index, down) in reports {
        st.probe_reports.insert(*index, report(*down));
    }
    drop(st);
    cluster
}

fn promote_b_with(extra: serde_json::Value) -> ScenarioRun {
    let mut run = promote_b();
    let mut spec = serde_json::to_value(&run.spec).unwrap();
    spec.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    run.spec = serde_json::from_value(spec).unwrap();
    run
}

#[tokio::test]
async fn the_probe_asks_whoever_leads_at_each_step_and_stops_with_the_run() {
    let cluster = FakeCluster::default();
    let status = drive(&cluster, &promote_b(), None).await;
    assert!(all_succeeded(&status), "{:?}", status.message);
    let st = cluster.state.lock().unwrap();
    // StartMz a, ConfigureMz a (implicit), StartMz b, WaitReadyMz b, PromoteMz b: nobody
    // leads before a's start; a leads until b's promotion has ended.
    let targets: Vec<_> = st
        .probe_targets
        .iter()
        .map(|(i, h)| (*i, h.as_deref()))
        .collect();
    assert_eq!(
        targets,
        vec![
            (0, None),
            (1, Some(A)),
            (2, Some(A)),
            (3, Some(A)),
            (4, Some(A))
        ]
    );
    assert!(st.probe_stopped, "the probe stops when the run ends");
}

#[tokio::test]
async fn step_records_carry_what_the_probe_saw_and_the_run_sums_it() {
    let cluster = reporting(&[(1, 0.0), (4, 0.25)]);
    let status = drive(&cluster, &promote_b(), None).await;
    assert!(all_succeeded(&status), "{:?}", status.message);
    assert_eq!(status.steps[4].probes, Some(report(0.25)));
    assert_eq!(status.steps[0].probes, None, "no report, no record");
    let total = status.downtime.unwrap();
    assert_eq!((total.sent, total.failed), (80, 3));
    assert_eq!(total.downtime_seconds, 0.25);
    let events = cluster.events();
    let promoted = events
        .iter()
        .find(|e| e.reason == reasons::STEP_SUCCEEDED && e.note.starts_with("step 5"))
        .unwrap();
    assert!(
        promoted.note.ends_with(
            "clients: 0.250s down (longest 0.250s), 3/40 probes failed, latency p50 0.4ms p99 2.1ms"
        ),
        "{}",
        promoted.note
    );
}

#[tokio::test]
async fn a_step_over_its_downtime_budget_fails_the_run_naming_both() {
    let run = promote_b_with(json!({"budgets": {"actions": {"PromoteMz": {"downtime": "100ms"}}}}));
    let cluster = reporting(&[(4, 0.25)]);
    let status = drive(&cluster, &run, None).await;
    assert_eq!(status.phase, Some(RunPhase::Failed));
    let step = &status.steps[4];
    assert_eq!(step.state, StepState::Failed);
    let why = "budget spec.budgets.actions.PromoteMz.downtime (100ms) exceeded: client \
               downtime in this step 0.250s";
    assert_eq!(step.message.as_deref(), Some(why));
    assert_eq!(step.probes, Some(report(0.25)), "the evidence stays");
    let event = cluster
        .events()
        .into_iter()
        .find(|e| e.reason == reasons::BUDGET_EXCEEDED)
        .unwrap();
    assert!(event.note.contains(why), "{}", event.note);
    // The same downtime within the general budget passes.
    let run = promote_b_with(json!({"budgets": {"stepDowntime": "300ms", "downtime": "1s"}}));
    let cluster = reporting(&[(4, 0.25)]);
    let status = drive(&cluster, &run, None).await;
    assert!(all_succeeded(&status), "{:?}", status.message);
}

#[tokio::test]
async fn the_run_downtime_budget_counts_every_step() {
    let run = promote_b_with(json!({"budgets": {"downtime": "400ms"}}));
    let cluster = reporting(&[(3, 0.25), (4, 0.25)]);
    let status = drive(&cluster, &run, None).await;
    assert_eq!(status.steps[3].state, StepState::Succeeded);
    assert_eq!(status.steps[4].state, StepState::Failed);
    assert_eq!(
        status.steps[4].message.as_deref(),
        Some(
            "budget spec.budgets.downtime (400ms) exceeded: client downtime in the run so far 0.500s"
        )
    );
}

#[tokio::test]
async fn a_step_past_its_duration_budget_fails_while_it_runs() {
    let run = run_of(spec(json!({
        "actions": [
            {"action": "StartMz", "mzService": "a"},
            {"action": "Sleep", "duration": "30s"},
        ],
        "budgets": {"stepDuration": "5s"},
    })));
    let cluster = FakeCluster::default();
    let status = drive(&cluster, &run, None).await;
    assert_eq!(status.phase, Some(RunPhase::Failed), "{:?}", status.message);
    let sleep = status.steps.last().unwrap();
    let message = sleep.message.as_deref().unwrap();
    assert!(
        message
            .starts_with("budget spec.budgets.stepDuration (5s) exceeded: this step has taken 5."),
        "{message}"
    );
    // Well before the sleep would have ended (the run started at t0).
    let took = sleep.finished_at.as_ref().unwrap().0.duration_since(t0());
    assert!(took.as_secs() < 10, "{took:?}");
}

#[tokio::test]
async fn no_probe_runs_when_it_is_off() {
    let run = promote_b_with(json!({"probe": {"enabled": false}}));
    let cluster = FakeCluster::default();
    let status = drive(&cluster, &run, None).await;
    assert!(all_succeeded(&status));
    assert!(cluster.state.lock().unwrap().probe_targets.is_empty());
    assert_eq!(status.downtime, None);
}

#[tokio::test]
async fn a_step_whose_end_was_not_written_is_probed_again_and_keeps_its_record() {
    // The process dies right before each status write in turn: whatever write is lost, every
    // step that ended has the record the probe reported for it.
    let points = crash_points(&promote_b()).await;
    for crash in points.into_iter().filter(|c| matches!(c, Crash::Before(_))) {
        let cluster = reporting(&[(2, 0.1), (4, 0.25)]);
        let status = drive(&cluster, &promote_b(), Some(crash)).await;
        assert!(all_succeeded(&status), "{crash:?}: {:?}", status.message);
        assert_eq!(status.steps[4].probes, Some(report(0.25)), "{crash:?}");
        assert_eq!(status.steps[2].probes, Some(report(0.1)), "{crash:?}");
        assert_eq!(status.downtime.unwrap().downtime_seconds, 0.35, "{crash:?}");
    }
}
