//! Every validation error the planner gives, with the field path and step it names.

use super::{fixture_spec, with_actions, with_scenario};
use crate::{
    api::v1alpha1::{ActionKind, ActionSpec, ScenarioRunSpec, Versions},
    plan::{Action, PlanError, catalogue, plan},
};

fn errors(spec: &ScenarioRunSpec) -> Vec<PlanError> {
    plan(spec).expect_err("plan should be refused").0
}

fn one_error(spec: &ScenarioRunSpec) -> PlanError {
    let errs = errors(spec);
    assert_eq!(errs.len(), 1, "{errs:?}");
    errs.into_iter().next().unwrap()
}

fn assert_error(spec: &ScenarioRunSpec, path: &str, step: Option<usize>, fragment: &str) {
    let e = one_error(spec);
    assert_eq!(e.path, path, "{e}");
    assert_eq!(e.step.as_ref().map(|s| s.number), step, "{e}");
    assert!(e.message.contains(fragment), "{e:?} lacks {fragment:?}");
}

#[test]
fn unknown_scenario_lists_the_known_ones() {
    let e = one_error(&with_scenario("NoSuchScenario"));
    assert_eq!(e.path, "spec.scenario");
    assert!(e.message.contains("unknown scenario \"NoSuchScenario\""));
    for s in catalogue::SCENARIOS {
        assert!(e.message.contains(s.name), "{} missing", s.name);
    }
}

#[test]
fn scenario_and_actions_are_exclusive() {
    let mut both = with_scenario("NoRestartNoUpgrade");
    both.actions = Some(vec![ActionSpec::new(ActionKind::StartMz)]);
    assert_error(&both, "spec", None, "not both");
    assert_error(
        &fixture_spec(),
        "spec",
        None,
        "exactly one of scenario or actions",
    );
    assert_error(
        &with_actions(serde_json::json!([])),
        "spec.actions",
        None,
        "at least one",
    );
}

#[test]
fn wait_promote_and_skip_catchup_need_a_read_only_generation() {
    for kind in ["WaitReadyMz", "PromoteMz", "SkipCatchup"] {
        let spec = with_actions(serde_json::json!([{"action": "StartMz"}, {"action": kind}]));
        assert_error(
            &spec,
            "spec.actions[1]",
            Some(3),
            "needs a read-only generation",
        );
    }
}

#[test]
fn promote_before_ready_is_refused_like_environmentd_does() {
    let spec = with_actions(serde_json::json!([
        {"action": "StartMz", "mzService": "a"},
        {"action": "StartMz", "mzService": "b", "deployGeneration": 1},
        {"action": "PromoteMz", "mzService": "b"}
    ]));
    assert_error(
        &spec,
        "spec.actions[2]",
        Some(4),
        "cannot promote leader while initializing",
    );
}

#[test]
fn actions_on_services_never_started_or_stopped() {
    let never = with_actions(
        serde_json::json!([{"action": "StartMz"}, {"action": "KillMz", "mzService": "other"}]),
    );
    assert_error(
        &never,
        "spec.actions[1]",
        Some(3),
        "other was never started",
    );
    let killed = with_actions(serde_json::json!([
        {"action": "StartMz"}, {"action": "KillMz"}, {"action": "Initialize"}
    ]));
    assert_error(&killed, "spec.actions[2]", Some(4), "killed at step 3");
    let fenced = with_actions(serde_json::json!([
        {"action": "StartMz", "mzService": "a"},
        {"action": "StartMz", "mzService": "b", "deployGeneration": 1},
        {"action": "WaitReadyMz", "mzService": "b"},
        {"action": "PromoteMz", "mzService": "b"},
        {"action": "Initialize", "mzService": "a"}
    ]));
    assert_error(
        &fenced,
        "spec.actions[4]",
        Some(6),
        "fenced out at step 5 when b was promoted",
    );
    let running = with_actions(serde_json::json!([{"action": "StartMz"}, {"action": "StartMz"}]));
    assert_error(&running, "spec.actions[1]", Some(3), "already running");
}

#[test]
fn cloud_scenario_without_adoption_says_how_to_fix_it() {
    let mut spec = with_scenario("CloudtestUpgrade");
    spec.environment.adopt = None;
    assert_error(
        &spec,
        "spec.scenario",
        Some(1),
        "set spec.environment.adopt",
    );
}

#[test]
fn checks_on_a_read_only_generation_are_refused() {
    let spec = with_actions(serde_json::json!([
        {"action": "StartMz", "mzService": "a"},
        {"action": "StartMz", "mzService": "b", "deployGeneration": 1},
        {"action": "Initialize", "mzService": "b"}
    ]));
    assert_error(&spec, "spec.actions[2]", Some(4), "rejects writes and DDL");
}

#[test]
fn deploy_generations_must_increase() {
    let spec = with_actions(serde_json::json!([
        {"action": "StartMz", "mzService": "a"},
        {"action": "StartMz", "mzService": "b", "deployGeneration": 2},
        {"action": "StartMz", "mzService": "c", "deployGeneration": 1}
    ]));
    assert_error(
        &spec,
        "spec.actions[2]",
        Some(4),
        "deploy generations must increase",
    );
    let fenced = with_actions(serde_json::json!([
        {"action": "StartMz", "mzService": "a"},
        {"action": "StartMz", "mzService": "b", "deployGeneration": 1},
        {"action": "WaitReadyMz", "mzService": "b"},
        {"action": "PromoteMz", "mzService": "b"},
        {"action": "KillMz", "mzService": "b"},
        {"action": "StartMz", "mzService": "b"}
    ]));
    assert_error(
        &fenced,
        "spec.actions[5]",
        Some(7),
        "this deployment has been fenced out",
    );
}

#[test]
fn version_steps_materialize_refuses() {
    let downgrade = with_actions(serde_json::json!([
        {"action": "StartMz"}, {"action": "KillMz"}, {"action": "StartMz", "tag": "last"}
    ]));
    assert_error(
        &downgrade,
        "spec.actions[2]",
        Some(4),
        "received persist state from the future",
    );
    let mut skip = with_actions(serde_json::json!([
        {"action": "StartMz", "tag": "v0.145.0"}, {"action": "KillMz"},
        {"action": "StartMz", "tag": "v0.147.0"}
    ]));
    skip.versions.current = "v0.148.0".into();
    skip.versions.previous = vec![];
    skip.versions.self_managed = vec![];
    assert_error(
        &skip,
        "spec.actions[2]",
        Some(4),
        "one version forward at a time",
    );
    let major = with_actions(serde_json::json!([
        {"action": "StartMz", "tag": "v26.3.0"}, {"action": "KillMz"},
        {"action": "StartMz", "tag": "v28.0.0"}
    ]));
    assert_error(
        &major,
        "spec.actions[2]",
        Some(4),
        "More than one major version",
    );
    let ro_downgrade = with_actions(serde_json::json!([
        {"action": "StartMz", "mzService": "a"},
        {"action": "StartMz", "mzService": "b", "deployGeneration": 1, "tag": "last"}
    ]));
    assert_error(
        &ro_downgrade,
        "spec.actions[1]",
        Some(3),
        "state from the future",
    );
}

#[test]
fn expected_failures_are_accepted_and_leave_the_service_down() {
    let spec = with_actions(serde_json::json!([
        {"action": "StartMz"}, {"action": "KillMz"},
        {"action": "StartMz", "tag": "last", "expectFailure": true},
        {"action": "KillMz"},
        {"action": "StartMz"},
        {"action": "Initialize"}
    ]));
    let p = plan(&spec).unwrap();
    assert!(matches!(&p.actions[3].action, Action::StartMz(s) if s.expect_failure));
    // Nothing to configure after a start that is expected to fail.
    assert!(matches!(&p.actions[4].action, Action::KillMz { .. }));
    let down = with_actions(serde_json::json!([
        {"action": "StartMz"}, {"action": "KillMz"},
        {"action": "StartMz", "tag": "last", "expectFailure": true},
        {"action": "Initialize"}
    ]));
    assert_error(
        &down,
        "spec.actions[3]",
        Some(5),
        "refused to start at step 4",
    );
}

#[test]
fn check_phases_must_come_in_order() {
    let cases = [
        (
            serde_json::json!([{"action": "StartMz"}, {"action": "Manipulate", "phase": 1}]),
            "before Initialize",
        ),
        (
            serde_json::json!([{"action": "StartMz"}, {"action": "Initialize"}, {"action": "Manipulate", "phase": 2}]),
            "phase 2 before phase 1",
        ),
        (
            serde_json::json!([{"action": "StartMz"}, {"action": "Initialize"}, {"action": "Validate"}]),
            "Validate before",
        ),
        (
            serde_json::json!([{"action": "StartMz"}, {"action": "Initialize"}, {"action": "Initialize"}]),
            "already ran at step 3",
        ),
    ];
    for (actions, fragment) in cases {
        let e = one_error(&with_actions(actions));
        assert!(e.message.contains(fragment), "{e}");
    }
}

#[test]
fn parameters_are_checked_against_the_table() {
    let misplaced = with_actions(serde_json::json!([{"action": "KillMz", "phase": 1}]));
    let errs = errors(&misplaced);
    assert!(
        errs.iter().any(|e| e.path == "spec.actions[0].phase"
            && e.message
                .contains("not a parameter of KillMz; only of Manipulate")),
        "{errs:?}"
    );
    let missing =
        with_actions(serde_json::json!([{"action": "StartMz"}, {"action": "Manipulate"}]));
    assert_error(
        &missing,
        "spec.actions[1].phase",
        None,
        "Manipulate requires phase",
    );
    let phase3 = with_actions(
        serde_json::json!([{"action": "StartMz"}, {"action": "Manipulate", "phase": 3}]),
    );
    assert_error(&phase3, "spec.actions[1].phase", None, "must be 1 or 2");
    let sleep = with_actions(serde_json::json!([{"action": "StartMz"}, {"action": "Sleep"}]));
    assert_error(
        &sleep,
        "spec.actions[1].duration",
        None,
        "Sleep requires duration",
    );
}

#[test]
fn bad_values_name_their_field() {
    let tag = with_actions(serde_json::json!([{"action": "StartMz", "tag": "previous[7]"}]));
    assert_error(
        &tag,
        "spec.actions[0].tag",
        None,
        "needs at least 8 versions in spec.versions.previous (it has 4)",
    );
    let literal = with_actions(serde_json::json!([{"action": "StartMz", "tag": "26.1"}]));
    assert_error(
        &literal,
        "spec.actions[0].tag",
        None,
        "is not a Materialize version",
    );
    let svc = with_actions(serde_json::json!([{"action": "StartMz", "mzService": "mz_1"}]));
    assert_error(&svc, "spec.actions[0].mzService", None, "mz_1 is mz-1 here");
    let env =
        with_actions(serde_json::json!([{"action": "StartMz", "environmentExtra": ["NOEQUALS"]}]));
    assert_error(
        &env,
        "spec.actions[0].environmentExtra[0]",
        None,
        "NAME=VALUE",
    );
}

#[test]
fn scenario_needing_more_versions_says_which() {
    let mut spec = with_scenario("UpgradeEntireMzFourVersions");
    spec.versions.previous.truncate(2);
    let errs = errors(&spec);
    assert!(errs.iter().all(|e| e.path == "spec.scenario"), "{errs:?}");
    assert!(
        errs[0]
            .message
            .contains("previous[3] needs at least 4 versions"),
        "{errs:?}"
    );
    let mut svc = with_scenario("SystemVarChange");
    svc.system_var_changes.clear();
    assert_error(
        &svc,
        "spec.scenario",
        None,
        "needs at least one entry in spec.systemVarChanges",
    );
}

#[test]
fn versions_must_be_ordered_and_below_current() {
    let mut spec = with_scenario("NoRestartNoUpgrade");
    spec.versions = Versions {
        current: "v26.1.0".into(),
        previous: vec![
            "v26.0.0".into(),
            "v26.0.5".into(),
            "v26.2.0".into(),
            "bad".into(),
        ],
        self_managed: vec![],
    };
    let paths: Vec<_> = errors(&spec).into_iter().map(|e| e.path).collect();
    assert_eq!(
        paths,
        [
            "spec.versions.previous[1]",
            "spec.versions.previous[2]",
            "spec.versions.previous[3]"
        ]
    );
}

#[test]
fn spec_wide_values_are_checked() {
    let mut spec = with_scenario("NoRestartNoUpgrade");
    spec.timeouts
        .actions
        .insert("WaitReady".into(), "5m".parse().unwrap());
    spec.poll_interval = Some("0s".parse().unwrap());
    let paths: Vec<_> = errors(&spec).into_iter().map(|e| e.path).collect();
    assert_eq!(
        paths,
        ["spec.pollInterval", "spec.timeouts.actions.WaitReady"]
    );
    let mut no_secret = with_scenario("NoRestartNoUpgrade");
    no_secret.environment.backend_secret_name = None;
    assert_error(
        &no_secret,
        "spec.environment.backendSecretName",
        None,
        "required",
    );
}
