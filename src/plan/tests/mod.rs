//! Planner tests: golden action lists for every built-in scenario (written by hand from
//! platform-checks' scenario tables) and enrichment in context; [`errors`] covers every
//! validation error.

mod errors;

use super::*;
use crate::api::v1alpha1::{AdoptedEnvironment, ScenarioRunSpec, SystemVarChangeEntry};

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

/// Checks a scenario's plan against `expected`, its steps in compact notation joined by " | ".
fn golden(name: &str, expected: &str) {
    let plan = plan(&with_scenario(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(compact(&plan).join(" | "), expected, "{name}");
}

#[test]
fn golden_no_restart_no_upgrade() {
    golden("NoRestartNoUpgrade", "S v26.3.0 | C* | I | M1 | M2 | V");
}

#[test]
fn golden_restart_entire_mz() {
    golden(
        "RestartEntireMz",
        "S v26.3.0 | C* | I | K | S v26.3.0 | C* | M1 | K | S v26.3.0 | C* | M2 | K | S v26.3.0 \
         | C* | V",
    );
}

#[test]
fn golden_upgrade_entire_mz() {
    golden(
        "UpgradeEntireMz",
        "S v26.2.0 | C* | I | M1 | K logs | S v26.3.0 | C* | M2 | V | K logs | S v26.3.0 | C* | \
         V",
    );
}

#[test]
fn golden_upgrade_entire_mz_two_versions() {
    golden(
        "UpgradeEntireMzTwoVersions",
        "S v26.1.0 | C* | I | K logs | S v26.2.0 | C* | M1 | K logs | S v26.3.0 | C* | M2 | V | \
         K logs | S v26.3.0 | C* | V",
    );
}

#[test]
fn golden_upgrade_entire_mz_four_versions() {
    golden(
        "UpgradeEntireMzFourVersions",
        "S v0.164.0 | C* | I | K logs | S v26.0.0 | C* | M1 | K logs | S v26.1.0 | C* | M2 | \
         K logs | S v26.2.0 | C* | K logs | S v26.3.0 | C* | V | K logs | S v26.3.0 | C* | V",
    );
}

#[test]
fn golden_upgrade_from_self_managed() {
    golden(
        "UpgradeEntireMzFromLatestSelfManaged",
        "S v26.1.0 | C* | I | M1 | K logs | S v26.3.0 | C* | M2 | V | K logs | S v26.3.0 | C* | \
         V",
    );
    golden(
        "UpgradeEntireMzFromPreviousSelfManaged",
        "S v26.0.0 | C* | I | M1 | K logs | S v26.1.0 | C* | M2 | K logs | S v26.3.0 | C* | V | \
         K logs | S v26.3.0 | C* | V",
    );
}

#[test]
fn golden_preflight_checks() {
    golden(
        "PreflightCheckContinue",
        "S v26.2.0 | C* | I | M1 | K logs | S v26.3.0 g1 | W | P | M2 | V | K logs | \
         S v26.3.0 g1 | V",
    );
    golden(
        "PreflightCheckRollback",
        "S v26.2.0 | C* | I | M1 | K logs | S v26.3.0 g1 | W | K logs | S v26.2.0 | C* | M2 | \
         V | K logs | S v26.2.0 | C* | V",
    );
}

#[test]
fn golden_zero_downtime_restart() {
    let expected = "S mz-1 v26.3.0 | C* mz-1 | I mz-1 | S mz-2 v26.3.0 g1 | M1 mz-1 | W mz-2 | \
                    P mz-2 | S mz-3 v26.3.0 g2 | M2 mz-2 | W mz-3 | P mz-3 | S mz-4 v26.3.0 g3 | \
                    V mz-3 | W mz-4 | P mz-4 | V mz-4";
    golden("ZeroDowntimeRestartEntireMz", expected);
    // The same chain, every new generation forcing builtin migrations.
    let forced = expected
        .replace(" g1", " g1 fm=all")
        .replace(" g2", " g2 fm=all");
    golden(
        "ZeroDowntimeRestartEntireMzForcedMigrations",
        &forced.replace(" g3", " g3 fm=all"),
    );
}

#[test]
fn golden_zero_downtime_upgrade() {
    golden(
        "ZeroDowntimeUpgradeEntireMz",
        "S mz-1 v26.2.0 | C* mz-1 | I mz-1 | S mz-2 v26.3.0 g1 | M1 mz-1 | W mz-2 | P mz-2 | \
         M2 mz-2 | S mz-3 v26.3.0 g2 | V mz-2 | W mz-3 | P mz-3 | V mz-3",
    );
}

#[test]
fn golden_zero_downtime_upgrade_two_versions() {
    golden(
        "ZeroDowntimeUpgradeEntireMzTwoVersions",
        "S mz-1 v26.1.0 | C* mz-1 | I mz-1 | S mz-2 v26.2.0 g1 | M1 mz-1 | W mz-2 | P mz-2 | \
         S mz-3 v26.3.0 g2 | M2 mz-2 | W mz-3 | P mz-3 | S mz-4 v26.3.0 g3 | V mz-3 | W mz-4 | \
         P mz-4 | V mz-4",
    );
}

#[test]
fn golden_zero_downtime_upgrade_four_versions() {
    golden(
        "ZeroDowntimeUpgradeEntireMzFourVersions",
        "S mz-1 v0.164.0 | C* mz-1 | I mz-1 | S mz-2 v26.0.0 g1 | M1 mz-1 | W mz-2 | P mz-2 | \
         S mz-3 v26.1.0 g2 | M2 mz-2 | W mz-3 | P mz-3 | S mz-4 v26.2.0 g3 | V mz-3 | W mz-4 | \
         P mz-4 | S mz-5 v26.3.0 g4 | V mz-4 | W mz-5 | P mz-5 | V mz-5",
    );
}

#[test]
fn golden_multi_version_zero_downtime_basic() {
    golden(
        "MultiVersionZeroDowntimeBasic",
        "S mz-1 v26.2.0 | C* mz-1 | I mz-1 | M1 mz-1 | M2 mz-1 | S mz-2 v26.3.0 g1 | W mz-2 | \
         P mz-2 | V mz-2",
    );
}

#[test]
fn golden_self_managed_linear_paths() {
    golden(
        "SelfManagedLinearUpgradePathManipulateBeforeUpgrade",
        "S mz-1 v0.147.20 | C* mz-1 | I mz-1 | M1 mz-1 | M2 mz-1 | V mz-1 | S mz-2 v26.0.0 g1 | \
         W mz-2 | P mz-2 | K mz-1 logs | V mz-2 | S mz-1 v26.1.0 g2 | W mz-1 | P mz-1 | \
         K mz-2 logs | V mz-1 | S mz-2 v26.3.0 g3 | W mz-2 | P mz-2 | K mz-1 logs | V mz-2",
    );
    golden(
        "SelfManagedLinearUpgradePathManipulateDuringUpgrade",
        "S mz-1 v0.147.20 | C* mz-1 | I mz-1 | M1 mz-1 | S mz-2 v26.0.0 g1 | W mz-2 | P mz-2 | \
         K mz-1 logs | M2 mz-2 | V mz-2 | S mz-1 v26.1.0 g2 | W mz-1 | P mz-1 | K mz-2 logs | \
         V mz-1 | S mz-2 v26.3.0 g3 | W mz-2 | P mz-2 | K mz-1 logs | V mz-2",
    );
}

#[test]
fn golden_cloudtest_upgrade() {
    golden("CloudtestUpgrade", "C* | I | M1 | R v26.3.0 | C* | M2 | V");
}

#[test]
fn golden_system_var_change() {
    golden(
        "SystemVarChange",
        "S v26.3.0 | C* | I | SVC max_tables=100 | M1 | SVC max_tables=200 | M2 | \
         SVC max_tables=100 | V | SVC max_tables=200 | V",
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
    assert_eq!(p.gate.base_version.to_string(), "v0.164.0");
    assert!(!p.gate.requires_external_idempotence);
    let spec = with_actions(serde_json::json!([
        {"action": "StartMz"}, {"action": "Initialize"}, {"action": "Manipulate", "phase": 1},
        {"action": "Manipulate", "phase": 2}, {"action": "Manipulate", "phase": 2},
        {"action": "Validate"}
    ]));
    assert!(plan(&spec).unwrap().gate.requires_external_idempotence);
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

/// Whom clients reach while each step runs: nobody before the first start, the read-only
/// generation only after its promotion, nobody once the leader is killed, an adopted
/// environment from the start.
#[test]
fn serving_leaders_follow_promotion_and_kills() {
    let leaders = |spec: &ScenarioRunSpec| {
        let plan = plan(spec).unwrap();
        let leaders = serving_leaders(spec, &plan.actions);
        compact(&plan)
            .into_iter()
            .zip(leaders)
            .map(|(step, l)| format!("{step} → {}", l.as_deref().unwrap_or("-")))
            .collect::<Vec<_>>()
    };
    let zdt = leaders(&with_scenario("ZeroDowntimeUpgradeEntireMz"));
    assert_eq!(
        zdt[..9],
        [
            "S mz-1 v26.2.0 → -",
            "C* mz-1 → mz-1",
            "I mz-1 → mz-1",
            "S mz-2 v26.3.0 g1 → mz-1",
            "M1 mz-1 → mz-1",
            "W mz-2 → mz-1",
            "P mz-2 → mz-1",
            "M2 mz-2 → mz-2",
            "S mz-3 v26.3.0 g2 → mz-2",
        ]
    );
    let killed = leaders(&with_scenario("UpgradeEntireMz"));
    let kill = killed.iter().position(|s| s.starts_with('K')).unwrap();
    assert!(killed[kill].ends_with("→ materialized"), "{killed:?}");
    assert!(killed[kill + 1].starts_with("S ") && killed[kill + 1].ends_with("→ -"));
    assert!(killed[kill + 2].ends_with("→ materialized"), "{killed:?}");
    let adopted = leaders(&with_scenario("CloudtestUpgrade"));
    assert!(
        adopted.iter().all(|s| s.ends_with("→ materialized")),
        "{adopted:?}"
    );
}
