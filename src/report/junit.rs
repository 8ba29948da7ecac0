//! JUnit XML, as CI systems read it (Jenkins, GitLab, GitHub test reporters): one `testsuite`
//! per run, one `testcase` per step (classname `<namespace>.<run>`) and one per check of a
//! check step (classname `<namespace>.<run>.<step number> <action> <service>`). A failed step
//! or check carries its message in `failure`'s attribute and its statement and diff in the
//! body; steps never reached (or still running, in a report taken mid-run) and skipped checks
//! are `skipped`; a step's client downtime is its `system-out`. A run that failed with no step failing (refused at planning) gets one
//! testcase `run` carrying its message.

use std::fmt::Write;

use super::timeline::{Check, Step, Timeline};
use crate::api::v1alpha1::CheckState;

/// XML-escapes text for an attribute or element (also control characters XML 1.0 forbids).
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn secs(v: Option<f64>) -> String {
    format!("{:.3}", v.unwrap_or(0.0))
}

/// A check's duration as its record writes it (`1.25s`, `300ms`), in seconds.
fn check_secs(c: &Check) -> Option<f64> {
    let d = c.duration.as_deref()?;
    if let Some(ms) = d.strip_suffix("ms") {
        return ms.parse::<f64>().ok().map(|v| v / 1000.0);
    }
    d.strip_suffix('s')?.parse().ok()
}

fn step_case(out: &mut String, class: &str, s: &Step) {
    let name = format!("{:02} {}", s.number, s.label());
    let _ = write!(
        out,
        "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\"",
        esc(class),
        esc(&name),
        secs(s.duration_seconds)
    );
    let message = s.message.as_deref().unwrap_or("");
    let mut inner = String::new();
    if s.failed() {
        let first = message.lines().next().unwrap_or("failed");
        let _ = writeln!(
            inner,
            "      <failure message=\"{}\" type=\"StepFailed\">{}</failure>",
            esc(first),
            esc(message)
        );
    } else if s.not_run() || s.running() {
        // A running step has not passed yet (a report taken mid-run).
        let _ = writeln!(
            inner,
            "      <skipped message=\"{}\"/>",
            esc(&format!("step {:?}", s.state).to_lowercase())
        );
    }
    if let Some(d) = &s.downtime {
        let _ = writeln!(
            inner,
            "      <system-out>client downtime {:.3}s (longest window {:.3}s), {}/{} probes failed</system-out>",
            d.downtime_seconds, d.longest_window_seconds, d.failed, d.sent
        );
    }
    if inner.is_empty() {
        out.push_str("/>\n");
    } else {
        let _ = writeln!(out, ">\n{inner}    </testcase>");
    }
}

fn check_case(out: &mut String, class: &str, c: &Check) {
    let _ = write!(
        out,
        "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\"",
        esc(class),
        esc(&c.name),
        secs(check_secs(c))
    );
    let reason = c.reason.as_deref().unwrap_or("");
    if c.failed() {
        let body: Vec<&str> = [c.statement.as_deref(), c.diff.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        let _ = writeln!(
            out,
            ">\n      <failure message=\"{}\" type=\"CheckFailed\">{}</failure>\n    </testcase>",
            esc(reason),
            esc(&body.join("\n"))
        );
    } else if c.state != CheckState::Passed {
        let message = match (c.skipped(), reason.is_empty()) {
            (true, false) => reason.to_string(),
            (true, true) => "skipped".to_string(),
            // Pending or Running: a report taken mid-run.
            (false, _) => format!("check {:?}", c.state).to_lowercase(),
        };
        let _ = writeln!(
            out,
            ">\n      <skipped message=\"{}\"/>\n    </testcase>",
            esc(&message)
        );
    } else {
        out.push_str("/>\n");
    }
}

/// The run's JUnit XML document.
pub fn render(t: &Timeline) -> String {
    let class = format!("{}.{}", t.namespace, t.name);
    let mut cases = String::new();
    let (mut tests, mut failures, mut skipped) = (0, 0, 0);
    for s in &t.steps {
        step_case(&mut cases, &class, s);
        tests += 1;
        failures += usize::from(s.failed());
        skipped += usize::from(s.not_run() || s.running());
        let step_class = format!("{class}.{:02} {}", s.number, s.label());
        for c in &s.checks {
            check_case(&mut cases, &step_class, c);
            tests += 1;
            failures += usize::from(c.failed());
            skipped += usize::from(!c.failed() && c.state != CheckState::Passed);
        }
    }
    // A run that failed with no step or check failing (its plan or checks refused, or its
    // whole time limit): one testcase says why, so CI sees the failure.
    if matches!(t.phase.as_str(), "Failed" | "Cancelled") && failures == 0 {
        let message = t.message.as_deref().unwrap_or("the run failed");
        let first = message.lines().next().unwrap_or(message);
        let _ = writeln!(
            cases,
            "    <testcase classname=\"{}\" name=\"run\" time=\"{}\">\n      <failure message=\"{}\" type=\"RunFailed\">{}</failure>\n    </testcase>",
            esc(&class),
            secs(t.duration_seconds),
            esc(first),
            esc(message)
        );
        tests += 1;
        failures += 1;
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let suite = format!(
        "name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{}\"",
        esc(&class),
        secs(t.duration_seconds)
    );
    let _ = writeln!(out, "<testsuites {suite}>");
    let timestamp = t
        .started
        .as_deref()
        .map(|s| format!(" timestamp=\"{}\"", esc(s)))
        .unwrap_or_default();
    let _ = writeln!(out, "  <testsuite {suite}{timestamp}>");
    let _ = writeln!(
        out,
        "    <properties>\n      <property name=\"scenario\" value=\"{}\"/>\n      <property name=\"phase\" value=\"{}\"/>\n      <property name=\"version\" value=\"{}\"/>\n    </properties>",
        esc(&t.scenario),
        esc(&t.phase),
        esc(t.version.as_deref().unwrap_or(""))
    );
    out.push_str(&cases);
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::timeline::tests::failed_run;

    #[test]
    fn one_case_per_step_and_check_with_failures_and_skips() {
        let xml = render(&Timeline::of(&failed_run()));
        // 5 steps + 3 checks; the Validate step and one check failed; KillMz never ran and
        // the Kafka check was skipped.
        assert!(
            xml.contains("<testsuite name=\"ns.zdt\" tests=\"8\" failures=\"2\" errors=\"0\" skipped=\"2\" time=\"6.250\" timestamp=\"2026-12-03T10:00:00.000000Z\">"),
            "{xml}"
        );
        assert!(xml.contains(
            "<testcase classname=\"ns.zdt\" name=\"04 Validate mz-2 v26.3.0\" time=\"1.250\">\n      <failure message=\"checks: 1 passed, 1 failed, 1 skipped\" type=\"StepFailed\">"
        ), "{xml}");
        // The check's name and diff are escaped; the statement and diff are the body.
        assert!(xml.contains(
            "<testcase classname=\"ns.zdt.04 Validate mz-2 v26.3.0\" name=\"Views &amp; &lt;Joins&gt;\" time=\"0.000\">\n      <failure message=\"line 3: still not the expected result\" type=\"CheckFailed\">&gt; SELECT a FROM v\nrows differ:\n- 1\n+ 2</failure>"
        ), "{xml}");
        assert!(xml.contains("name=\"Tables\" time=\"0.400\"/>"), "{xml}");
        assert!(
            xml.contains(
                "name=\"Kafka\" time=\"0.000\">\n      <skipped message=\"needs Kafka\"/>"
            ),
            "{xml}"
        );
        assert!(xml.contains("name=\"05 KillMz mz-2 v26.3.0\" time=\"0.000\">\n      <skipped message=\"step pending\"/>"), "{xml}");
        // Well-formed, as an XML parser sees it: 8 testcases, 2 failures, 2 skipped.
        let mut reader = quick_xml::Reader::from_str(&xml);
        let mut names = Vec::new();
        loop {
            match reader.read_event().expect("well-formed XML") {
                quick_xml::events::Event::Eof => break,
                quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                    names.push(String::from_utf8(e.name().as_ref().to_vec()).unwrap())
                }
                _ => {}
            }
        }
        let count = |n: &str| names.iter().filter(|x| *x == n).count();
        assert_eq!(
            (count("testcase"), count("failure"), count("skipped")),
            (8, 2, 2)
        );
    }

    #[test]
    fn a_run_refused_before_any_step_is_one_failed_testcase() {
        let run: crate::api::v1alpha1::ScenarioRun = serde_json::from_value(serde_json::json!({
            "apiVersion": "mzcheck.dev/v1alpha1", "kind": "ScenarioRun",
            "metadata": {"name": "bad", "namespace": "ns"},
            "spec": {"scenario": "NoRestartNoUpgrade", "versions": {"current": "v26.3.0"}},
            "status": {"phase": "Failed", "message": "the checks were refused: check Broken: line 3"}
        }))
        .unwrap();
        let xml = render(&Timeline::of(&run));
        assert!(xml.contains("tests=\"1\" failures=\"1\""), "{xml}");
        assert!(xml.contains("<testcase classname=\"ns.bad\" name=\"run\" time=\"0.000\">\n      <failure message=\"the checks were refused: check Broken: line 3\" type=\"RunFailed\">"), "{xml}");
    }

    #[test]
    fn control_characters_never_make_the_document_invalid() {
        assert_eq!(esc("a\u{1}b\"c"), "a\u{fffd}b&quot;c");
    }
}
