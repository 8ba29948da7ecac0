//! Planner tests: golden action lists for every built-in scenario (written by hand from
//! platform-checks' scenario tables), enrichment in context, and every validation error.

use super::*;
use crate::api::v1alpha1::{
    ActionKind, ActionSpec, AdoptedEnvironment, ScenarioRunSpec, SystemVarChangeEntry, Versions,
};

/// A spec fixture: versions that make every built-in scenario plannable.
pub(crate) fn fixture_spec() -> ScenarioRunSpec {
    serde_json::from_value(serde_json::json!({
        "versions": {
            "current": "v26.3.0",
            "previous": ["v26.2.0", "v26.1.0", "v26.0.0", "v0.164.0"],
            "selfManaged": ["v26.1.0", "v26.0.0", "v0.147.20"]
        },
        "environment": { "backendSecretName": "backend" }
    }))
    .unwrap()
}

fn with_scenario(name: &str) -> ScenarioRunSpec {
    let mut spec = fixture_spec();
    spec.scenario = Some(name.to_string());
    if name == "CloudtestUpgrade" {
        spec.environment.adopt = Some(AdoptedEnvironment {
            stateful_set_name: "environmentd".into(),
            mz_service: None,
            version: Some("v26.2.0".into()),
        });
    }
    if name == "SystemVarChange" {
        spec.system_var_changes = vec![SystemVarChangeEntry {
            name: "max_tables".into(),
            phase1_value: "100".into(),
            phase2_value: "200".into(),
        }];
    }
    spec
}

fn with_actions(actions: serde_json::Value) -> ScenarioRunSpec {
    let mut spec = fixture_spec();
    spec.actions = Some(serde_json::from_value(actions).unwrap());
    spec
}

/// Compact notation: `S svc tag [gN] [fm=…]`, `C`, `SQL`, `I`, `M1`/`M2`, `V`, `K [logs]`, `W`,
/// `P`, `X` (SkipCatchup), `R tag`, `SVC name=value`, `Z secs`; `*` marks implicit steps; the
/// service is left out when it is the default `materialized`.
fn compact(plan: &Plan) -> Vec<String> {
    plan.actions
        .iter()
        .map(|step| {
            let a = &step.action;
            let code = match a {
                Action::StartMz(s) => {
                    let mut c = format!("S {}", s.tag);
                    if let Some(g) = s.deploy_generation {
                        c.push_str(&format!(" g{g}"));
                    }
                    if let Some(f) = &s.force_migrations {
                        c.push_str(&format!(" fm={f}"));
                    }
                    c
                }
                Action::ConfigureMz { .. } => "C".into(),
                Action::SetupSqlServerTesting { .. } => "SQL".into(),
                Action::Initialize { .. } => "I".into(),
                Action::Manipulate { phase, .. } => format!("M{phase}"),
                Action::Validate { .. } => "V".into(),
                Action::KillMz { capture_logs, .. } => {
                    if *capture_logs {
                        "K logs".into()
                    } else {
                        "K".into()
                    }
                }
                Action::WaitReadyMz { .. } => "W".into(),
                Action::PromoteMz { .. } => "P".into(),
                Action::SkipCatchup { .. } => "X".into(),
                Action::ReplaceEnvironmentdStatefulSet { new_tag, .. } => format!("R {new_tag}"),
                Action::SystemVarChange { name, value, .. } => format!("SVC {name}={value}"),
                Action::Sleep { seconds } => format!("Z {seconds}"),
            };
            let (head, rest) = code
                .split_once(' ')
                .map_or((code.as_str(), ""), |(h, r)| (h, r));
            let star = if step.implicit { "*" } else { "" };
            let svc = match a.mz_service() {
                Some("materialized") | None => String::new(),
                Some(s) => format!(" {s}"),
            };
            let rest = if rest.is_empty() {
                String::new()
            } else {
                format!(" {rest}")
            };
            format!("{head}{star}{svc}{rest}")
        })
        .collect()
}

fn golden(name: &str, expected: &[&str]) {
    let plan = plan(&with_scenario(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(compact(&plan), expected, "{name}");
}

#[test]
fn golden_no_restart_no_upgrade() {
    golden(
        "NoRestartNoUpgrade",
        &["S v26.3.0", "C*", "I", "M1", "M2", "V"],
    );
}

#[test]
fn golden_restart_entire_mz() {
    let s = ["S v26.3.0", "C*"];
    let mut expected = vec![s[0], s[1], "I", "K"];
    expected.extend([
        s[0], s[1], "M1", "K", s[0], s[1], "M2", "K", s[0], s[1], "V",
    ]);
    golden("RestartEntireMz", &expected);
}

#[test]
fn golden_upgrade_entire_mz() {
    golden(
        "UpgradeEntireMz",
        &[
            "S v26.2.0",
            "C*",
            "I",
            "M1",
            "K logs",
            "S v26.3.0",
            "C*",
            "M2",
            "V",
            "K logs",
            "S v26.3.0",
            "C*",
            "V",
        ],
    );
}

#[test]
fn golden_upgrade_entire_mz_two_versions() {
    golden(
        "UpgradeEntireMzTwoVersions",
        &[
            "S v26.1.0",
            "C*",
            "I",
            "K logs",
            "S v26.2.0",
            "C*",
            "M1",
            "K logs",
            "S v26.3.0",
            "C*",
            "M2",
            "V",
            "K logs",
            "S v26.3.0",
            "C*",
            "V",
        ],
    );
}

#[test]
fn golden_upgrade_entire_mz_four_versions() {
    golden(
        "UpgradeEntireMzFourVersions",
        &[
            "S v0.164.0",
            "C*",
            "I",
            "K logs",
            "S v26.0.0",
            "C*",
            "M1",
            "K logs",
            "S v26.1.0",
            "C*",
            "M2",
            "K logs",
            "S v26.2.0",
            "C*",
            "K logs",
            "S v26.3.0",
            "C*",
            "V",
            "K logs",
            "S v26.3.0",
            "C*",
            "V",
        ],
    );
}

#[test]
fn golden_upgrade_from_self_managed() {
    golden(
        "UpgradeEntireMzFromLatestSelfManaged",
        &[
            "S v26.1.0",
            "C*",
            "I",
            "M1",
            "K logs",
            "S v26.3.0",
            "C*",
            "M2",
            "V",
            "K logs",
            "S v26.3.0",
            "C*",
            "V",
        ],
    );
    golden(
        "UpgradeEntireMzFromPreviousSelfManaged",
        &[
            "S v26.0.0",
            "C*",
            "I",
            "M1",
            "K logs",
            "S v26.1.0",
            "C*",
            "M2",
            "K logs",
            "S v26.3.0",
            "C*",
            "V",
            "K logs",
            "S v26.3.0",
            "C*",
            "V",
        ],
    );
}

#[test]
fn golden_preflight_checks() {
    golden(
        "PreflightCheckContinue",
        &[
            "S v26.2.0",
            "C*",
            "I",
            "M1",
            "K logs",
            "S v26.3.0 g1",
            "W",
            "P",
            "M2",
            "V",
            "K logs",
            "S v26.3.0 g1",
            "V",
        ],
    );
    golden(
        "PreflightCheckRollback",
        &[
            "S v26.2.0",
            "C*",
            "I",
            "M1",
            "K logs",
            "S v26.3.0 g1",
            "W",
            "K logs",
            "S v26.2.0",
            "C*",
            "M2",
            "V",
            "K logs",
            "S v26.2.0",
            "C*",
            "V",
        ],
    );
}

#[test]
fn golden_zero_downtime_restart() {
    let expected = [
        "S mz-1 v26.3.0",
        "C* mz-1",
        "I mz-1",
        "S mz-2 v26.3.0 g1",
        "M1 mz-1",
        "W mz-2",
        "P mz-2",
        "S mz-3 v26.3.0 g2",
        "M2 mz-2",
        "W mz-3",
        "P mz-3",
        "S mz-4 v26.3.0 g3",
        "V mz-3",
        "W mz-4",
        "P mz-4",
        "V mz-4",
    ];
    golden("ZeroDowntimeRestartEntireMz", &expected);
    let forced: Vec<String> = expected
        .iter()
        .map(|s| {
            if s.contains(" g") {
                format!("{s} fm=all")
            } else {
                s.to_string()
            }
        })
        .collect();
    let forced: Vec<&str> = forced.iter().map(String::as_str).collect();
    golden("ZeroDowntimeRestartEntireMzForcedMigrations", &forced);
}

#[test]
fn golden_zero_downtime_upgrade() {
    golden(
        "ZeroDowntimeUpgradeEntireMz",
        &[
            "S mz-1 v26.2.0",
            "C* mz-1",
            "I mz-1",
            "S mz-2 v26.3.0 g1",
            "M1 mz-1",
            "W mz-2",
            "P mz-2",
            "M2 mz-2",
            "S mz-3 v26.3.0 g2",
            "V mz-2",
            "W mz-3",
            "P mz-3",
            "V mz-3",
        ],
    );
}

#[test]
fn golden_zero_downtime_upgrade_two_versions() {
    golden(
        "ZeroDowntimeUpgradeEntireMzTwoVersions",
        &[
            "S mz-1 v26.1.0",
            "C* mz-1",
            "I mz-1",
            "S mz-2 v26.2.0 g1",
            "M1 mz-1",
            "W mz-2",
            "P mz-2",
            "S mz-3 v26.3.0 g2",
            "M2 mz-2",
            "W mz-3",
            "P mz-3",
            "S mz-4 v26.3.0 g3",
            "V mz-3",
            "W mz-4",
            "P mz-4",
            "V mz-4",
        ],
    );
}

#[test]
fn golden_zero_downtime_upgrade_four_versions() {
    golden(
        "ZeroDowntimeUpgradeEntireMzFourVersions",
        &[
            "S mz-1 v0.164.0",
            "C* mz-1",
            "I mz-1",
            "S mz-2 v26.0.0 g1",
            "M1 mz-1",
            "W mz-2",
            "P mz-2",
            "S mz-3 v26.1.0 g2",
            "M2 mz-2",
            "W mz-3",
            "P mz-3",
            "S mz-4 v26.2.0 g3",
            "V mz-3",
            "W mz-4",
            "P mz-4",
            "S mz-5 v26.3.0 g4",
            "V mz-4",
            "W mz-5",
            "P mz-5",
            "V mz-5",
        ],
    );
}

#[test]
fn golden_multi_version_zero_downtime_basic() {
    golden(
        "MultiVersionZeroDowntimeBasic",
        &[
            "S mz-1 v26.2.0",
            "C* mz-1",
            "I mz-1",
            "M1 mz-1",
            "M2 mz-1",
            "S mz-2 v26.3.0 g1",
            "W mz-2",
            "P mz-2",
            "V mz-2",
        ],
    );
}

#[test]
fn golden_self_managed_linear_paths() {
    golden(
        "SelfManagedLinearUpgradePathManipulateBeforeUpgrade",
        &[
            "S mz-1 v0.147.20",
            "C* mz-1",
            "I mz-1",
            "M1 mz-1",
            "M2 mz-1",
            "V mz-1",
            "S mz-2 v26.0.0 g1",
            "W mz-2",
            "P mz-2",
            "K mz-1 logs",
            "V mz-2",
            "S mz-1 v26.1.0 g2",
            "W mz-1",
            "P mz-1",
            "K mz-2 logs",
            "V mz-1",
            "S mz-2 v26.3.0 g3",
            "W mz-2",
            "P mz-2",
            "K mz-1 logs",
            "V mz-2",
        ],
    );
    golden(
        "SelfManagedLinearUpgradePathManipulateDuringUpgrade",
        &[
            "S mz-1 v0.147.20",
            "C* mz-1",
            "I mz-1",
            "M1 mz-1",
            "S mz-2 v26.0.0 g1",
            "W mz-2",
            "P mz-2",
            "K mz-1 logs",
            "M2 mz-2",
            "V mz-2",
            "S mz-1 v26.1.0 g2",
            "W mz-1",
            "P mz-1",
            "K mz-2 logs",
            "V mz-1",
            "S mz-2 v26.3.0 g3",
            "W mz-2",
            "P mz-2",
            "K mz-1 logs",
            "V mz-2",
        ],
    );
}

#[test]
fn golden_cloudtest_upgrade() {
    golden(
        "CloudtestUpgrade",
        &["C*", "I", "M1", "R v26.3.0", "C*", "M2", "V"],
    );
}

#[test]
fn golden_system_var_change() {
    golden(
        "SystemVarChange",
        &[
            "S v26.3.0",
            "C*",
            "I",
            "SVC max_tables=100",
            "M1",
            "SVC max_tables=200",
            "M2",
            "SVC max_tables=100",
            "V",
            "SVC max_tables=200",
            "V",
        ],
    );
}

#[test]
fn every_catalogue_scenario_has_a_golden_test() {
    // The golden tests above name these scenarios; a new catalogue entry must get one too.
    let covered = [
        "NoRestartNoUpgrade",
        "RestartEntireMz",
        "UpgradeEntireMz",
        "UpgradeEntireMzTwoVersions",
        "UpgradeEntireMzFourVersions",
        "UpgradeEntireMzFromLatestSelfManaged",
        "UpgradeEntireMzFromPreviousSelfManaged",
        "PreflightCheckContinue",
        "PreflightCheckRollback",
        "ZeroDowntimeRestartEntireMz",
        "ZeroDowntimeRestartEntireMzForcedMigrations",
        "ZeroDowntimeUpgradeEntireMz",
        "ZeroDowntimeUpgradeEntireMzTwoVersions",
        "ZeroDowntimeUpgradeEntireMzFourVersions",
        "MultiVersionZeroDowntimeBasic",
        "SelfManagedLinearUpgradePathManipulateBeforeUpgrade",
        "SelfManagedLinearUpgradePathManipulateDuringUpgrade",
        "CloudtestUpgrade",
        "SystemVarChange",
    ];
    let names: Vec<_> = catalogue::SCENARIOS.iter().map(|s| s.name).collect();
    assert_eq!(names, covered);
}

#[test]
fn read_only_starts_get_leader_status_healthcheck_and_on_failure_restart() {
    let plan = plan(&with_scenario("ZeroDowntimeUpgradeEntireMz")).unwrap();
    for step in &plan.actions {
        if let Action::StartMz(s) = &step.action {
            let (path, restart) = if s.is_read_only() {
                ("/api/leader/status", "OnFailure")
            } else {
                ("/api/readyz", "No")
            };
            assert_eq!(s.healthcheck.path, path);
            assert_eq!(serde_json::to_value(s.restart).unwrap(), restart);
            // 0dt scenarios give every start the base version's parameters.
            assert_eq!(s.system_parameter_version.to_string(), "v26.2.0");
        }
    }
}

#[test]
fn sql_server_feature_adds_setup_once_after_the_first_plain_start() {
    let mut spec = with_scenario("RestartEntireMz");
    spec.features.sql_server = true;
    let steps = compact(&plan(&spec).unwrap());
    assert_eq!(&steps[..3], ["S v26.3.0", "SQL*", "C*"]);
    assert_eq!(steps.iter().filter(|s| s.starts_with("SQL")).count(), 1);
}

#[test]
fn base_version_is_the_oldest_started_and_repeat_manipulate_is_flagged() {
    let p = plan(&with_scenario("UpgradeEntireMzFourVersions")).unwrap();
    assert_eq!(p.base_version.to_string(), "v0.164.0");
    assert!(!p.requires_external_idempotence);
    let spec = with_actions(serde_json::json!([
        {"action": "StartMz"}, {"action": "Initialize"}, {"action": "Manipulate", "phase": 1},
        {"action": "Manipulate", "phase": 2}, {"action": "Manipulate", "phase": 2},
        {"action": "Validate"}
    ]));
    assert!(plan(&spec).unwrap().requires_external_idempotence);
}

#[test]
fn system_parameters_merge_environment_replacement_and_additions() {
    let mut spec = with_actions(serde_json::json!([
        {"action": "StartMz", "additionalSystemParameterDefaults": {"b": "2"}},
        {"action": "KillMz"},
        {"action": "StartMz", "systemParameterDefaults": {"c": "3"}}
    ]));
    spec.environment.system_parameter_defaults = [("a".into(), "1".into())].into();
    let p = plan(&spec).unwrap();
    let params: Vec<Vec<(String, String)>> = p
        .actions
        .iter()
        .filter_map(|s| match &s.action {
            Action::StartMz(s) => Some(s.system_parameter_defaults.clone().into_iter().collect()),
            _ => None,
        })
        .collect();
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
    assert_eq!(
        params,
        vec![vec![pair("a", "1"), pair("b", "2")], vec![pair("c", "3")]]
    );
}

#[test]
fn json_items_carry_action_implicit_and_camel_case_parameters() {
    let p = plan(&with_scenario("PreflightCheckContinue")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&render::json(&p)).unwrap();
    let items = json["actions"].as_array().unwrap();
    assert_eq!(items[0]["action"], "StartMz");
    assert_eq!(items[0]["tag"], "v26.2.0");
    assert_eq!(items[0]["mzService"], "materialized");
    assert_eq!(items[0]["implicit"], false);
    assert_eq!(items[1]["action"], "ConfigureMz");
    assert_eq!(items[1]["implicit"], true);
    assert_eq!(items[5]["deployGeneration"], 1);
    assert_eq!(items[8]["phase"], 2);
    // The JSON form reads back into the same plan (the operator freezes it into status).
    assert_eq!(serde_json::from_value::<Plan>(json).unwrap(), p);
}

// ---- validation errors -------------------------------------------------------------------

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
