//! `scenario-operator import-checks` on a stand-in checkout (`tests/fixtures/platform-checks`:
//! modules written for this test in the shape of platform-checks' API): every Check class
//! rendered to the exact text it returns, `_can_run` version tests mapped, disabled, `Base`
//! and non-testdrive classes left out with the reason, and the result linted.

use std::{
    path::Path,
    process::{Command, Output},
};

use scenario_operator::checks::library::{self, Phase};

const CHECKOUT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/platform-checks"
);

fn run_import(checkout: &str, version: &str, out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scenario-operator"))
        .args([
            "import-checks",
            "--materialize",
            checkout,
            "--base-version",
            version,
        ])
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

fn import(out: &Path) -> (bool, String, String) {
    let o = run_import(CHECKOUT, "v26.1.0", out);
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn every_check_class_is_rendered_to_the_text_it_returns() {
    let out = std::env::temp_dir().join(format!("so-import-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let (ok, stdout, stderr) = import(&out);
    assert!(ok, "{stdout}{stderr}");
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "AfterRelease.yaml",
            "ControlCharacters.yaml",
            "Counter.yaml",
            "KafkaSink.yaml",
            "NewerFeature.yaml",
            "OnlyWithSettings.yaml",
            "SharedA.yaml",
            "TableRows.yaml"
        ]
    );
    // The exact text, dedented as Testdrive() does, instantiated for the base version.
    let load = |name: &str| {
        let path = out.join(format!("{name}.yaml"));
        let text = std::fs::read_to_string(&path).unwrap();
        library::from_yaml_for(&text, &path.display().to_string(), true)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let rows = load("TableRows");
    assert_eq!(
        rows.spec.initialize,
        "\n> CREATE TABLE rows_t (a int, b text)\n> INSERT INTO rows_t VALUES (1, 'one')\n"
    );
    assert_eq!(
        rows.spec.manipulate,
        [
            "\n> INSERT INTO rows_t VALUES (2, 'two')\n",
            "\n> INSERT INTO rows_t VALUES (3, 'three')\n"
        ]
    );
    assert_eq!(
        rows.spec.validate,
        "\n> SELECT a, b FROM rows_t\n1 one\n2 two\n3 three\n\n# made for v26.1.0 on quickstart\n\
         > SELECT 'indented\n  continuation'\n\"indented\\n  continuation\"\n"
    );
    assert_eq!(rows.script(Phase::Validate).len(), 2);
    // _can_run: a version test on the base version, or on the version running now.
    assert_eq!(
        load("NewerFeature").spec.min_base_version.as_deref(),
        Some("v26.0.0")
    );
    let after = load("AfterRelease").spec;
    assert_eq!(
        (after.min_base_version, after.min_current_version.as_deref()),
        (None, Some("v0.131.0"))
    );
    // Anything else is reported, and the check imported without a condition.
    assert!(
        stdout.contains(
            "imported OnlyWithSettings (_can_run is not a plain version test: return \
             \"enable_feature\" in e.system_settings)"
        ),
        "{stdout}"
    );
    assert_eq!(load("OnlyWithSettings").spec.min_base_version, None);
    assert!(!load("Counter").spec.externally_idempotent);
    assert!(load("TableRows").spec.externally_idempotent);
    // A subclass of a `Base` class is a check; the base itself is not.
    assert_eq!(load("SharedA").spec.validate, "> SELECT 'a'\na\n");
    // Characters YAML carries only escaped arrive exactly.
    assert_eq!(
        load("ControlCharacters").spec.validate,
        "> SELECT 1\n1\n# nul \0 soh \u{1} del \u{7f} nel \u{85} ls \u{2028} bom \u{feff} \u{1F600} \"q\" \\ \t tab\n"
    );
    for line in [
        "skipped Switched: disabled (@disabled)",
        "skipped PythonValidate: a phase is not testdrive (PyAction)",
        "skipped OneManipulate: manipulate() returned 1 actions, not 2",
        "skipped module broken: import failed: ModuleNotFoundError: No module named 'a_package_nobody_has'",
        "import-checks: 8 imported, 4 skipped",
        "lint: KafkaSink: needs Kafka",
        "lint: 7 of 8 pass lint-checks; 1 need a system a rehearsal does not have; 0 refused",
    ] {
        assert!(stdout.contains(line), "no {line:?} in:\n{stdout}");
    }
    assert!(!stdout.contains("SharedBase"), "{stdout}");
    // Nothing written into the checkout.
    let pycache = |dir: &Path| dir.join("__pycache__").exists();
    let python = Path::new(CHECKOUT).join("misc/python/materialize");
    assert!(!pycache(&python) && !pycache(&python.join("checks/all_checks")));
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn a_directory_that_is_no_checkout_and_a_bad_version_are_refused() {
    let out = std::env::temp_dir().join(format!("so-import-bad-{}", std::process::id()));
    let o = run_import("/nonexistent", "v26.1.0", &out);
    assert!(!o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("/nonexistent has no misc/python/materialize/checks/all_checks"),
        "{stderr}"
    );
    let o = run_import(CHECKOUT, "26.1", &out);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("--base-version 26.1: "));
    assert!(!out.exists());
}
