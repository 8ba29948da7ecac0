//! `scenario-operator report` on a run read from a file: every format, and the HTML page as a
//! browser draws it (headless Chromium, the Debian package `chromium-headless-shell`).

use std::{path::PathBuf, process::Command};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/failed-run.yaml")
}

fn report(format: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_scenario-operator"))
        .args(["report", "--file"])
        .arg(fixture())
        .args(["-o", format])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn table_json_and_junit_from_a_file() {
    let table = report("table");
    assert!(
        table.starts_with(
            "ScenarioRun rehearsals/zdt (ZeroDowntimeUpgradeEntireMz): Failed in 20.0s"
        ),
        "{table}"
    );
    // The header, the run's downtime, the column titles, a line per step.
    assert_eq!(table.lines().count(), 3 + 6, "{table}");
    assert!(
        table.contains("client downtime 0.500s (1 window), 5/140 probes failed"),
        "{table}"
    );
    let promote = table.lines().find(|l| l.contains("PromoteMz")).unwrap();
    assert!(promote.contains("0.500s (5/20)"), "{promote}");
    let json: serde_json::Value = serde_json::from_str(&report("json")).unwrap();
    assert_eq!(json["steps"][2]["action"], "WaitReadyMz");
    assert_eq!(json["steps"][2]["offsetSeconds"], 6.0);
    assert_eq!(json["steps"][2]["durationSeconds"], 6.0);
    assert_eq!(json["steps"][3]["version"], "v26.3.0");
    let window = &json["steps"][3]["downtime"]["windows"][0];
    assert_eq!(window["offsetSeconds"], 13.0);
    assert_eq!(window["durationSeconds"], 0.5);
    assert_eq!(json["downtime"]["downtimeSeconds"], 0.5);
    let junit = report("junit");
    assert!(
        junit.contains("tests=\"8\" failures=\"2\" errors=\"0\" skipped=\"1\""),
        "{junit}"
    );
    assert!(
        junit.contains(
            "<system-out>client downtime 0.500s (longest window 0.500s), 5/20 probes failed</system-out>"
        ),
        "{junit}"
    );
}

#[test]
fn a_file_that_is_not_a_run_is_refused_naming_it() {
    let dir = std::env::temp_dir().join(format!("so-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "kind: ConfigMap\nmetadata: {name: x}\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_scenario-operator"))
        .args(["report", "--file"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yaml: not a ScenarioRun"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// The page after its script ran, as Chromium serializes the DOM.
fn drawn(page: &str) -> String {
    let dir = std::env::temp_dir().join(format!("so-report-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("report.html");
    std::fs::write(&file, page).unwrap();
    let out = Command::new("chromium-headless-shell")
        .args([
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--allow-file-access-from-files",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", file.display()))
        .output()
        .expect("chromium-headless-shell (Debian package chromium-headless-shell) runs");
    std::fs::remove_dir_all(dir).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Attribute `name` of every element of `dom` that starts with `prefix`.
fn attrs<'a>(dom: &'a str, prefix: &str, name: &str) -> Vec<&'a str> {
    dom.split(prefix)
        .skip(1)
        .map(|e| {
            let e = &e[..e.find('>').unwrap()];
            let key = format!("{name}=\"");
            // At the start (the prefix ended with a space) or after one.
            let at = if e.starts_with(&key) {
                0
            } else {
                1 + e
                    .find(&format!(" {key}"))
                    .unwrap_or_else(|| panic!("{name} in {e}"))
            };
            let v = &e[at + key.len()..];
            &v[..v.find('"').unwrap()]
        })
        .collect()
}

#[test]
#[ignore = "needs chromium-headless-shell (./test runs it; .ci/run installs it)"]
fn the_html_timeline_draws_a_bar_per_step_that_ran_and_a_dot_per_check() {
    let dom = drawn(&report("html"));
    assert!(
        dom.contains("data-drawn=\"true\""),
        "the chart script did not finish:\n{dom}"
    );
    // Five steps ran (KillMz never did): five bars, coloured by result; then the one time
    // clients could not query, marked across the chart.
    let classes = attrs(&dom, "<rect ", "class");
    assert_eq!(
        classes,
        [
            "bar Succeeded",
            "bar Succeeded",
            "bar Succeeded",
            "bar Succeeded",
            "bar Failed",
            "down"
        ]
    );
    // Bars sit at their start and are as long as the step: WaitReadyMz (6 s of 20) is three
    // times PromoteMz (2 s), and starts where StartMz mz-2 ends.
    let x: Vec<f64> = attrs(&dom, "<rect ", "x")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    let w: Vec<f64> = attrs(&dom, "<rect ", "width")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    assert!((w[2] / w[3] - 3.0).abs() < 1e-6, "{w:?}");
    assert!((x[2] - (x[1] + w[1])).abs() < 1e-6, "{x:?} {w:?}");
    assert!(
        (w[..5].iter().sum::<f64>() - 760.0).abs() < 1e-6,
        "the bars fill the axis: {w:?}"
    );
    // The window: 13 s into the 20 s run, half a second long, inside PromoteMz's bar.
    assert!((x[5] - (x[0] + 760.0 * 13.0 / 20.0)).abs() < 1e-6, "{x:?}");
    assert!((w[5] - 760.0 * 0.5 / 20.0).abs() < 1e-6, "{w:?}");
    assert!(x[5] > x[3] && x[5] + w[5] < x[3] + w[3], "{x:?} {w:?}");
    assert!(dom.contains("clients could not query for 0.500 s: cannot connect to mz-1:6875"));
    // The Validate step's two checks: one passed, one failed.
    assert_eq!(
        attrs(&dom, "<circle ", "class"),
        ["check Passed", "check Failed"]
    );
    // Six labels, the not-run step's included, and the failure written out.
    assert!(dom.contains(">6 KillMz mz-1 v26.2.0</text>"), "{dom}");
    assert!(dom.contains("Step 5 Validate mz-2 v26.3.0: check Views failed"));
}
