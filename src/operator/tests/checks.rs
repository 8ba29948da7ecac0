//! Checks through the step machine on the fake cluster: phases, results and diffs, sources
//! (ConfigMaps by name and selector, frozen when the run starts), refusals, and a crash at every
//! pass never sending an unrepeatable statement twice.

use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::json;

use super::{super::check_sources::collect, *};

/// A 0dt run with one inline check that inserts a row in each Manipulate phase.
fn run_with_check(validate: &str) -> ScenarioRun {
    run_of(spec(json!({
        "scenario": "ZeroDowntimeUpgradeEntireMzTwoVersions",
        "checks": {"inline": [{
            "name": "Inserts",
            "initialize": "> CREATE TABLE t (v text)\n",
            "manipulate": ["> INSERT INTO t VALUES ('one')\n", "> INSERT INTO t VALUES ('two')\n"],
            "validate": validate,
        }]},
    })))
}

fn inserts(cluster: &FakeCluster) -> Vec<String> {
    cluster
        .statements()
        .into_iter()
        .filter(|s| s.starts_with("INSERT"))
        .collect()
}

#[tokio::test]
async fn checks_run_in_their_phases_and_report_per_check_results() {
    let run = run_with_check("> SELECT * FROM t\none\ntwo\n");
    let cluster = FakeCluster::default();
    let status = drive(&cluster, &run, None).await;
    assert!(all_succeeded(&status), "{:?}", status.message);
    assert_eq!(inserts(&cluster).len(), 2);
    for step in status.steps.iter().filter(|s| {
        matches!(
            s.plan["action"].as_str(),
            Some("Initialize" | "Manipulate" | "Validate")
        )
    }) {
        assert_eq!(step.checks.len(), 1, "{step:?}");
        assert_eq!(step.checks[0].state, CheckState::Passed, "{step:?}");
        assert!(step.checks[0].duration.is_some());
        let message = step.message.as_deref().unwrap();
        assert!(
            message.starts_with("checks: 1 passed, 0 failed, 0 skipped\nInserts: passed in "),
            "{message}"
        );
    }
    // The frozen checks live in the run's own ConfigMap.
    assert!(
        cluster
            .configmap_names()
            .contains(&"fixture-run-checks".to_string())
    );
}

#[tokio::test]
async fn a_wrong_validate_fails_the_step_with_a_diff() {
    let mut run = run_with_check("> SELECT * FROM t\none\nthree\n");
    run.spec.checks.as_mut().unwrap().timeout = Some("1ms".parse().unwrap());
    let cluster = FakeCluster::default();
    let status = drive(&cluster, &run, None).await;
    let failed = status
        .steps
        .iter()
        .find(|s| s.state == StepState::Failed)
        .expect("a failed step");
    assert_eq!(failed.plan["action"], "Validate");
    let check = &failed.checks[0];
    assert_eq!(check.state, CheckState::Failed);
    assert_eq!(check.line, Some(1));
    assert_eq!(check.statement.as_deref(), Some("> SELECT * FROM t"));
    assert_eq!(
        check.diff.as_deref(),
        Some("rows differ (expected 2 rows, got 2):\n- three\n+ two")
    );
    assert!(
        status
            .message
            .as_deref()
            .unwrap()
            .contains("Inserts: FAILED line 1:"),
        "{:?}",
        status.message
    );
}

#[tokio::test]
async fn a_crash_at_any_pass_never_sends_an_insert_twice() {
    let run = run_with_check("> SELECT * FROM t\none\ntwo\n");
    let mut in_doubt = Vec::new();
    for crash in crash_points(&run).await {
        let cluster = FakeCluster::default();
        let status = drive(&cluster, &run, Some(crash)).await;
        let sent = inserts(&cluster);
        let mut unique = sent.clone();
        unique.dedup();
        assert_eq!(sent, unique, "{crash:?}: an INSERT was sent twice");
        if all_succeeded(&status) {
            assert_eq!(sent.len(), 2, "{crash:?}");
            continue;
        }
        // The only acceptable failure: an INSERT whose fate the crash hid, named as such.
        in_doubt.push(crash);
        let failed = status
            .steps
            .iter()
            .find(|s| s.state == StepState::Failed)
            .unwrap();
        let reason = failed.checks[0].reason.as_deref().unwrap();
        assert!(
            reason.contains("the operator stopped while sending this statement"),
            "{crash:?}: {reason}"
        );
        assert!(
            failed.checks[0]
                .statement
                .as_deref()
                .unwrap()
                .starts_with("> INSERT")
        );
    }
    // For each of the two INSERTs, exactly two crash points leave it in doubt: dying just
    // after its marker was written (before sending) and just before its result was written
    // (after sending). CREATE TABLE is resent and recognised as done by "already exists".
    assert_eq!(in_doubt.len(), 4, "{in_doubt:?}");
    assert_eq!(
        in_doubt
            .iter()
            .filter(|c| matches!(c, Crash::After(_)))
            .count(),
        2,
        "{in_doubt:?}"
    );
}

fn library_configmap(name: &str, labels: serde_json::Value, data: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "ns", "labels": labels},
        "data": data,
    }))
    .unwrap()
}

const CHECK_A: &str = "name: A\nmanipulate: ['', '']\nvalidate: |\n  > SELECT * FROM t\n";
const CHECK_B: &str = "name: B\nminBaseVersion: v99.0.0\nmanipulate: ['', '']\nvalidate: ''\n";

#[tokio::test]
async fn checks_come_from_configmaps_by_name_and_selector_and_are_frozen() {
    let cluster = FakeCluster::default();
    cluster
        .apply_configmap(
            "ns",
            &library_configmap(
                "by-name",
                json!({}),
                json!({"a.yaml": CHECK_A, "README": "not a check"}),
            ),
        )
        .await
        .unwrap();
    cluster
        .apply_configmap(
            "ns",
            &library_configmap("by-label", json!({"lib": "x"}), json!({"b.yml": CHECK_B})),
        )
        .await
        .unwrap();
    let run = run_of(spec(json!({
        "scenario": "NoRestartNoUpgrade",
        "checks": {"configMaps": ["by-name"], "selector": {"matchLabels": {"lib": "x"}}},
    })));
    let plan = plan::plan(&run.spec).unwrap();
    let records = collect(&cluster, &run, &plan.gate).await.unwrap().unwrap();
    let summary: Vec<(String, CheckState, Option<String>)> = records
        .iter()
        .map(|r| (r.name.clone(), r.state, r.reason.clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("A".into(), CheckState::Pending, None),
            (
                "B".into(),
                CheckState::Skipped,
                Some("needs base version v99.0.0 or newer; the run starts at v26.3.0".into())
            ),
        ]
    );
    // Frozen: editing the library afterwards changes nothing for this run.
    cluster
        .apply_configmap(
            "ns",
            &library_configmap("by-name", json!({}), json!({"a.yaml": "garbage: ["})),
        )
        .await
        .unwrap();
    let again = collect(&cluster, &run, &plan.gate).await.unwrap().unwrap();
    assert_eq!(again, records);
}

#[tokio::test]
async fn bad_check_sources_are_refused_naming_them() {
    let cluster = FakeCluster::default();
    cluster
        .apply_configmap(
            "ns",
            &library_configmap("empty", json!({"lib": "empty"}), json!({"notes.txt": "hi"})),
        )
        .await
        .unwrap();
    let run = run_of(spec(json!({
        "scenario": "NoRestartNoUpgrade",
        "checks": {"configMaps": ["missing"], "selector": {"matchLabels": {"lib": "empty"}}},
    })));
    let plan = plan::plan(&run.spec).unwrap();
    let errors = collect(&cluster, &run, &plan.gate)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(
        errors,
        vec![
            "spec.checks.configMaps[0]: ConfigMap missing not found in namespace ns".to_string(),
            "ConfigMap empty holds no checks (no key ends in .yaml or .yml)".to_string(),
        ]
    );
    // Nothing was frozen for a refused run.
    assert!(
        !cluster
            .state
            .lock()
            .unwrap()
            .configmaps
            .contains_key("fixture-run-checks")
    );
}

#[test]
fn a_failed_check_gets_an_event_with_its_statement_and_diff() {
    use super::super::{
        outcome::{ChecksEnd, Outcome},
        transition::{Stamp, Step, apply_outcome, plan_steps},
    };
    use crate::api::v1alpha1::CheckRecord;
    let run = run_with_check("> SELECT * FROM t\none\n");
    let plan = plan::plan(&run.spec).unwrap();
    let mut status = ScenarioRunStatus {
        steps: plan_steps(
            &plan,
            &[CheckRecord::new("Inserts", CheckState::Pending, None)],
        ),
        ..Default::default()
    };
    let mut failed = CheckRecord::new(
        "Inserts",
        CheckState::Failed,
        Some("line 1: rows differ".into()),
    );
    failed.statement = Some("> SELECT * FROM t".into());
    failed.diff = Some("rows differ (expected 1 rows, got 0):\n- one".into());
    let stamp = Stamp {
        generation: None,
        now: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t0()),
    };
    let step = Step {
        index: 2,
        label: "Validate mz-1",
    };
    let effect = apply_outcome(
        &mut status,
        &stamp,
        step,
        Outcome::Checks {
            records: vec![failed],
            end: ChecksEnd::Failed("checks: 0 passed, 1 failed, 0 skipped".into()),
        },
    );
    assert_eq!(status.steps[2].state, StepState::Failed);
    assert_eq!(effect.events.len(), 2);
    assert_eq!(effect.events[0].reason, "StepFailed");
    let event = &effect.events[1];
    assert_eq!(event.reason, "CheckFailed");
    assert_eq!(
        event.note,
        "step 3 (Validate mz-1): check Inserts failed: line 1: rows differ\n> SELECT * FROM t\nrows differ (expected 1 rows, got 0):\n- one"
    );
}

#[tokio::test]
async fn set_variables_arguments_and_version_guards_reach_the_server_as_testdrive_sends_them() {
    let run = run_of(spec(json!({
        "scenario": "ZeroDowntimeUpgradeEntireMzTwoVersions",
        "checks": {"inline": [{
            "name": "Testdrive",
            "initialize": "$ set tbl=t\n> CREATE TABLE ${tbl} (v text)\n",
            "manipulate": [
                ">[version<100] INSERT INTO t VALUES ('never')\n$[version>=100] set v=${arg.replicas}\n> INSERT INTO t VALUES ('${v}')\n",
                "$ nop\n",
            ],
            "validate": "$ set-sql-timeout duration=1s\n> SELECT * FROM t\n1\n",
        }]},
    })));
    let cluster = FakeCluster::default();
    let status = drive(&cluster, &run, None).await;
    assert!(all_succeeded(&status), "{:?}", status.message);
    let sent = cluster.statements();
    assert!(
        sent.contains(&"CREATE TABLE t (v text)".to_string()),
        "{sent:?}"
    );
    // The guarded INSERT is below every version this run starts; `${arg.replicas}` is 1.
    assert_eq!(inserts(&cluster), ["INSERT INTO t VALUES ('1')"]);
}
