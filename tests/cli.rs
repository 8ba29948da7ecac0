//! The `scenario-operator` binary: plan output, errors with field paths and lines, exit codes.

use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_scenario-operator"))
}

/// Writes `text` to a fresh temp file and runs `plan` on it with `args`.
fn plan(text: &str, args: &[&str]) -> Output {
    let dir = std::env::temp_dir().join(format!("so-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let id = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let file = dir.join(format!("run-{id}.yaml"));
    std::fs::write(&file, text).unwrap();
    bin().arg("plan").arg(&file).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const HEADER: &str = "apiVersion: mzcheck.dev/v1alpha1\nkind: ScenarioRun\nmetadata:\n  name: t\n";

fn manifest(spec: &str) -> String {
    format!("{HEADER}spec:\n{spec}")
}

const VERSIONS: &str = "  versions:\n    current: v26.2.0\n    previous: [v26.1.0]\n  environment:\n    backendSecretName: b\n";

#[test]
fn examples_plan_cleanly() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let out = bin().arg("plan").arg(&path).output().unwrap();
            assert!(out.status.success(), "{}: {}", path.display(), stderr(&out));
        }
    }
}

/// The runs the e2e expects the admission webhook to refuse are refused by the planner
/// offline too, with the message their annotation names (so the e2e cannot pass vacuously).
#[test]
fn admission_cases_are_refused_by_the_planner_with_their_expected_message() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/admission");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let expected = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("mzcheck.dev/expected-refusal: "))
            .unwrap_or_else(|| panic!("{}: no expected-refusal", path.display()))
            .trim_matches('"')
            .to_string();
        let out = bin().arg("plan").arg(&path).output().unwrap();
        assert!(!out.status.success(), "{} planned", path.display());
        assert!(
            stderr(&out).contains(&expected),
            "{}: {}",
            path.display(),
            stderr(&out)
        );
        seen += 1;
    }
    assert!(seen >= 5, "only {seen} admission cases");
}

#[test]
fn table_numbers_steps_and_marks_implicit_ones() {
    let out = plan(
        &manifest(&format!("  scenario: UpgradeEntireMz\n{VERSIONS}")),
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[1].trim_start().starts_with("1   StartMz"), "{text}");
    assert!(
        lines[1].contains("materialized") && lines[1].contains("v26.1.0"),
        "{text}"
    );
    assert!(
        lines[2].trim_start().starts_with("2*  ConfigureMz"),
        "{text}"
    );
    assert!(text.contains("13 steps"), "{text}");
}

#[test]
fn json_is_an_object_of_actions() {
    let out = plan(
        &manifest(&format!(
            "  scenario: ZeroDowntimeUpgradeEntireMz\n{VERSIONS}"
        )),
        &["-o", "json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions = json["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 13);
    assert_eq!(actions[3]["action"], "StartMz");
    assert_eq!(actions[3]["deployGeneration"], 1);
    assert_eq!(actions[3]["tag"], "v26.2.0");
    assert_eq!(actions[3]["mzService"], "mz-2");
    assert!(actions.iter().all(|a| a["implicit"].is_boolean()));
}

#[test]
fn unknown_field_names_path_and_line() {
    let text = manifest(&format!(
        "{VERSIONS}  actions:\n    - action: StartMz\n      tagg: last\n"
    ));
    let out = plan(&text, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(":13: spec.actions[0].tagg: unknown field `tagg`"),
        "{err}"
    );
}

#[test]
fn bad_yaml_names_the_line() {
    let out = plan(&format!("{HEADER}spec:\n  versions: [unclosed\n"), &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("invalid YAML") && err.contains(":6:"), "{err}");
}

#[test]
fn wrong_kind_is_refused() {
    let out = plan("apiVersion: v1\nkind: ConfigMap\n", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(":1: apiVersion: expected \"mzcheck.dev/v1alpha1\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unknown_scenario_lists_known_ones_with_its_line() {
    let out = plan(&manifest(&format!("  scenario: Nope\n{VERSIONS}")), &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(":6: spec.scenario: unknown scenario \"Nope\""),
        "{err}"
    );
    assert!(err.contains("ZeroDowntimeUpgradeEntireMz"), "{err}");
}

#[test]
fn semantic_error_names_step_and_line() {
    let text = manifest(&format!(
        "{VERSIONS}  actions:\n    - action: StartMz\n    - action: PromoteMz\n"
    ));
    let out = plan(&text, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(":13: spec.actions[1]: step 3 (PromoteMz materialized): PromoteMz needs a read-only generation"),
        "{err}"
    );
}

#[test]
fn version_pattern_errors_point_at_the_value() {
    let text = manifest("  scenario: NoRestartNoUpgrade\n  versions:\n    current: v26.2\n");
    let out = plan(&text, &[]);
    let err = stderr(&out);
    assert!(
        err.contains(":8: spec.versions.current: \"v26.2\" is not a Materialize version"),
        "{err}"
    );
}

#[test]
fn help_documents_commands_and_scenarios() {
    let out = bin().arg("--help").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for word in ["plan", "crd", "scenarios"] {
        assert!(text.contains(word), "{text}");
    }
    let out = bin().args(["plan", "--help"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("CloudtestUpgrade") && text.contains("--output"),
        "{text}"
    );
}

#[test]
fn crd_command_prints_the_committed_crds() {
    let out = bin().arg("crd").output().unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    // Every committed CRD, in name order, is what the command prints.
    let committed: String = ["scenarioruns.mzcheck.dev", "vpcendpoints.materialize.cloud"]
        .iter()
        .map(|name| std::fs::read_to_string(dir.join(format!("{name}.yaml"))).unwrap())
        .collect();
    assert_eq!(printed, committed);
}

#[test]
fn the_starter_library_lints_cleanly_and_a_bad_check_names_file_check_and_line() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/checks/starter");
    let o = bin().args(["lint-checks", dir]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.lines().count() >= 12, "{out}");
    assert!(out.contains("TableDml"), "{out}");

    let bad = std::env::temp_dir().join(format!("so-bad-check-{}.yaml", std::process::id()));
    std::fs::write(
        &bad,
        "name: Bad\nmanipulate: ['', '']\nvalidate: |\n  > SELECT 1\n  1\n  $ kafka-ingest topic=x\n",
    )
    .unwrap();
    let o = bin().arg("lint-checks").arg(&bad).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o).trim(),
        format!(
            "check Bad ({}): validate line 3: $kafka-ingest needs Kafka, which a rehearsal does not have",
            bad.display()
        )
    );
    // As spec.checks.skipUnavailable: listed as skipped, and the lint passes.
    let o = bin()
        .arg("lint-checks")
        .arg("--skip-unavailable")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        format!(
            "Bad                      {}: skipped: needs Kafka",
            bad.display()
        )
    );
    std::fs::remove_file(&bad).unwrap();
}

#[test]
fn plan_lists_inline_checks_and_the_sources_read_at_start() {
    let o = bin()
        .args([
            "plan",
            concat!(env!("CARGO_MANIFEST_DIR"), "/examples/custom-actions.yaml"),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("check Orders: runs in every check phase\n"),
        "{out}"
    );
    assert!(
        out.contains("checks from ConfigMap mzcheck-starter are read when the run starts"),
        "{out}"
    );
}
