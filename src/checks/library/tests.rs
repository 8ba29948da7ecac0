//! Tests of checks: compiling (errors name check, script and line), YAML from ConfigMaps,
//! arranging (duplicates, include, seed) and the platform-checks `_can_run` selection.

use super::*;
use crate::api::v1alpha1::ScenarioRunSpec;

fn spec(name: &str) -> CheckSpec {
    CheckSpec {
        name: name.into(),
        externally_idempotent: true,
        initialize: "> CREATE TABLE t (a int)\n".into(),
        manipulate: vec!["> INSERT INTO t VALUES (1)\n".into(), "".into()],
        validate: "> SELECT a FROM t\n1\n".into(),
        ..Default::default()
    }
}

#[test]
fn compile_names_the_check_the_script_and_the_line() {
    let mut bad = spec("Broken");
    bad.validate = "> SELECT 1\n1\n! SELECT x\n".into();
    let e = compile(&bad, "inline").unwrap_err();
    assert_eq!(
        e.to_string(),
        "check Broken (inline): validate line 3: ! needs an expected error on the next line (contains:…, exact:…, regex:… or timeout)"
    );

    let mut var = spec("Vars");
    var.manipulate[1] =
        "$ postgres-execute connection=postgres://mz_system@${testdrive.nope}\nSELECT 1\n".into();
    let e = compile(&var, "inline").unwrap_err();
    assert!(
        e.to_string().starts_with(
            "check Vars (inline): manipulate[1] line 1: unknown variable ${testdrive.nope}"
        ),
        "{e}"
    );

    // Names a script sets are known after the set (and within it, in order); expected errors
    // and needs are checked too.
    let mut set = spec("Sets");
    set.validate = "$ set a=1 b=x${a}\n> SELECT '${b}'\nx1\n! SELECT 1\ncontains:${a}\n".into();
    assert!(compile(&set, "inline").is_ok());
    set.validate = "! SELECT 1\ncontains:${later}\n$ set later=1\n".into();
    let e = compile(&set, "inline").unwrap_err();
    assert!(
        e.to_string()
            .contains("validate line 1: unknown variable ${later}"),
        "{e}"
    );
    set.validate = "> SELECT '${testdrive.kafka-addr}'\nx\n".into();
    let e = compile(&set, "inline").unwrap_err();
    assert_eq!(e.needs, Some("Kafka"));
    assert!(compile_for(&set, "inline", true).unwrap().needs == Some("Kafka"));

    let mut three = spec("Three");
    three.manipulate.push(String::new());
    assert!(
        compile(&three, "inline")
            .unwrap_err()
            .message
            .contains("exactly 2")
    );
    assert!(
        compile(&spec("9lives"), "inline")
            .unwrap_err()
            .message
            .contains("must start with a letter")
    );
    let mut version = spec("V");
    version.min_base_version = Some("26.1".into());
    assert!(
        compile(&version, "inline")
            .unwrap_err()
            .message
            .starts_with("minBaseVersion:")
    );
}

#[test]
fn yaml_checks_report_the_field_or_line() {
    let good = "name: A\nmanipulate: ['', '']\nvalidate: |\n  > SELECT 1\n  1\n";
    assert_eq!(from_yaml(good, "configmap/lib:a.yaml").unwrap().name(), "A");
    let e = from_yaml(
        "name: A\nmanipulate: []\nvalidate: ''\nbogus: 1\n",
        "configmap/lib:a.yaml",
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("configmap/lib:a.yaml: "), "{e}");
    assert!(e.message.contains("bogus"), "{e}");
    let e = from_yaml("name: [\n", "configmap/lib:b.yaml").unwrap_err();
    assert!(e.message.contains("invalid YAML"), "{e}");
}

#[test]
fn arrange_refuses_duplicates_and_unknown_includes_and_shuffles_reproducibly() {
    let compiled = |n: &str, src: &str| compile(&spec(n), src).unwrap();
    let dup = vec![
        compiled("A", "inline"),
        compiled("A", "configmap/lib:a.yaml"),
    ];
    let e = arrange(dup, &[], None).unwrap_err();
    assert_eq!(
        e,
        vec!["check A is defined more than once (inline, configmap/lib:a.yaml)".to_string()]
    );
    let many: Vec<Check> = (0..12)
        .map(|i| compiled(&format!("C{i}"), "inline"))
        .collect();
    let e = arrange(many.clone(), &["C1".into(), "Nope".into()], None).unwrap_err();
    assert_eq!(
        e,
        vec!["spec.checks.include[1]: no check is named \"Nope\"".to_string()]
    );
    let names = |v: Vec<Check>| v.iter().map(|c| c.name().to_string()).collect::<Vec<_>>();
    let kept = names(arrange(many.clone(), &["C3".into(), "C1".into()], None).unwrap());
    assert_eq!(kept, ["C1", "C3"], "include keeps source order");
    let a = names(arrange(many.clone(), &[], Some(7)).unwrap());
    let b = names(arrange(many.clone(), &[], Some(7)).unwrap());
    let c = names(arrange(many.clone(), &[], Some(8)).unwrap());
    assert_eq!(a, b, "same seed, same order");
    assert_ne!(a, c, "another seed, another order");
    assert_ne!(a, names(many.clone()), "a seed shuffles");
    let mut sorted = a.clone();
    sorted.sort();
    let mut all = names(many);
    all.sort();
    assert_eq!(sorted, all, "nothing lost");
}

#[test]
fn skip_reasons_follow_can_run_and_external_idempotence() {
    let run: ScenarioRunSpec = serde_json::from_value(serde_json::json!({
        "scenario": "UpgradeEntireMz",
        "versions": {"current": "v26.3.0", "previous": ["v26.2.0"]},
        "environment": {"backendSecretName": "b"},
    }))
    .unwrap();
    let plan = crate::plan::plan(&run).unwrap();
    assert_eq!(plan.gate.base_version.to_string(), "v26.2.0");
    assert_eq!(
        plan.gate.check_floor.as_ref().unwrap().to_string(),
        "v26.2.0"
    );
    let with = |f: &dyn Fn(&mut CheckSpec)| {
        let mut s = spec("X");
        f(&mut s);
        skip_reason(&compile(&s, "inline").unwrap(), &plan.gate)
    };
    assert_eq!(with(&|_| {}), None);
    assert_eq!(with(&|s| s.min_base_version = Some("v26.2.0".into())), None);
    assert_eq!(
        with(&|s| s.min_base_version = Some("v26.3.0".into())).unwrap(),
        "needs base version v26.3.0 or newer; the run starts at v26.2.0"
    );
    assert_eq!(
        with(&|s| s.min_current_version = Some("v26.2.1".into())).unwrap(),
        "needs current version v26.2.1 or newer; a check phase runs on v26.2.0"
    );
    assert_eq!(with(&|s| s.externally_idempotent = false), None);
}

#[test]
fn the_planner_refuses_a_bad_inline_check_before_anything_runs() {
    let run: ScenarioRunSpec = serde_json::from_value(serde_json::json!({
        "scenario": "NoRestartNoUpgrade",
        "versions": {"current": "v26.3.0"},
        "environment": {"backendSecretName": "b"},
        "checks": {"inline": [
            {"name": "Good", "manipulate": ["", ""], "validate": "> SELECT 1\n1\n"},
            {"name": "Bad", "manipulate": ["> INSERT INTO t VALUES (1)\n", "garbage\n"], "validate": ""},
        ]},
    }))
    .unwrap();
    let errors = crate::plan::plan(&run).unwrap_err();
    assert_eq!(
        errors.to_string(),
        "spec.checks.inline[1]: check Bad (inline): manipulate[1] line 1: expected a command (>, !, $), found \"garbage\""
    );
}
