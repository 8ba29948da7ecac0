//! What a run did, for people and CI systems: `scenario-operator status` waits for a run to end
//! and prints its per-step table; `scenario-operator report` renders one run's [`timeline`]
//! as a table, JSON, JUnit XML ([`junit`]) or a self-contained HTML page ([`html`]). All of it
//! is pure over the run's status except the waiting.

pub mod html;
pub mod junit;
pub mod timeline;

use std::time::Duration;

use kube::{Api, Client};

use crate::api::{
    LABEL_PREFIX,
    v1alpha1::{CheckState, RunPhase, ScenarioRun, StepState},
};

/// Annotation naming the phase a run is expected to end in (default `Succeeded`), for suites
/// that rehearse refusals.
pub fn expected_phase_annotation() -> String {
    format!("{LABEL_PREFIX}expected-phase")
}

/// Annotation with text the run's final message must contain.
pub fn expected_message_annotation() -> String {
    format!("{LABEL_PREFIX}expected-message")
}

/// The table for one run, from its status (pure).
pub fn table(run: &ScenarioRun) -> String {
    let name = run.metadata.name.as_deref().unwrap_or("?");
    let status = run.status.clone().unwrap_or_default();
    let phase = status
        .phase
        .map(|p| format!("{p:?}"))
        .unwrap_or_else(|| "Pending".into());
    let mut out = format!(
        "ScenarioRun {}/{name}: {phase}{}\n",
        run.metadata.namespace.as_deref().unwrap_or("default"),
        status
            .current_version
            .as_ref()
            .map(|v| format!(" (Materialize {v})"))
            .unwrap_or_default()
    );
    if let Some(m) = &status.message {
        out.push_str(&format!("  {}\n", m.replace('\n', "\n  ")));
    }
    if let Some(d) = &status.downtime {
        out.push_str(&format!(
            "  client downtime {}, {}/{} probes failed\n",
            d.summary, d.failed, d.sent
        ));
    }
    for (i, step) in status.steps.iter().enumerate() {
        let get = |k: &str| step.plan.get(k).and_then(|v| v.as_str()).unwrap_or("");
        let implicit = if step.plan.get("implicit").and_then(|v| v.as_bool()) == Some(true) {
            "*"
        } else {
            " "
        };
        let secs = match (&step.started_at, &step.finished_at) {
            (Some(s), Some(f)) => format!("{:.1}s", f.0.duration_since(s.0).as_secs_f64()),
            _ => "-".into(),
        };
        let message = step.message.as_deref().unwrap_or("");
        let down = step.probes.as_ref().map_or(String::new(), |p| {
            format!("{:.3}s down", p.downtime_seconds)
        });
        out.push_str(&format!(
            "  {:>3}{implicit} {:<31} {:<14} {:<9} {:>7} {:>12}  {}\n",
            i + 1,
            get("action"),
            get("mzService"),
            format!("{:?}", step.state),
            secs,
            down,
            // A check step's message lists every check; the lines below show what matters.
            message.lines().next().unwrap_or("")
        ));
        for c in &step.checks {
            match c.state {
                CheckState::Failed => {
                    out.push_str(&format!(
                        "         check {} FAILED: {}\n",
                        c.name,
                        c.reason.as_deref().unwrap_or("")
                    ));
                    if let Some(s) = &c.statement {
                        out.push_str(&format!(
                            "           {}\n",
                            s.replace('\n', "\n           ")
                        ));
                    }
                    if let Some(d) = &c.diff {
                        for line in d.lines() {
                            out.push_str(&format!("           {line}\n"));
                        }
                    }
                }
                CheckState::Passed if c.retries > 0 => out.push_str(&format!(
                    "         check {} passed in {} after {} retries\n",
                    c.name,
                    c.duration.as_deref().unwrap_or("?"),
                    c.retries
                )),
                CheckState::Skipped if step.state != StepState::Pending => out.push_str(&format!(
                    "         check {} skipped: {}\n",
                    c.name,
                    c.reason.as_deref().unwrap_or("")
                )),
                _ => {}
            }
        }
    }
    out
}

/// Whether the run ended as expected; `None` while it has not ended.
pub fn verdict(run: &ScenarioRun) -> Option<bool> {
    let phase = run.status.as_ref()?.phase?;
    if !matches!(
        phase,
        RunPhase::Succeeded | RunPhase::Failed | RunPhase::Cancelled
    ) {
        return None;
    }
    let annotation = |key: String| {
        run.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(&key))
            .cloned()
    };
    let expected = annotation(expected_phase_annotation()).unwrap_or_else(|| "Succeeded".into());
    let message = run
        .status
        .as_ref()
        .and_then(|s| s.message.clone())
        .unwrap_or_default();
    let message_ok = annotation(expected_message_annotation()).is_none_or(|m| message.contains(&m));
    Some(format!("{phase:?}") == expected && message_ok)
}

/// Waits (polling) until `name` ends or `timeout` passes; prints the table (and writes the
/// JUnit report to `junit`); `Ok(true)` if it ended as expected.
pub async fn wait_and_print(
    client: Client,
    namespace: &str,
    name: &str,
    timeout: Duration,
    junit: Option<&std::path::Path>,
) -> Result<bool, String> {
    let write_junit = |run: &ScenarioRun| -> Result<(), String> {
        let Some(path) = junit else { return Ok(()) };
        let xml = self::junit::render(&timeline::Timeline::of(run));
        std::fs::write(path, xml).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    let api: Api<ScenarioRun> = Api::namespaced(client, namespace);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let run = api
            .get(name)
            .await
            .map_err(|e| format!("cannot read ScenarioRun {namespace}/{name}: {e}"))?;
        if let Some(ok) = verdict(&run) {
            print!("{}", table(&run));
            write_junit(&run)?;
            return Ok(ok);
        }
        if tokio::time::Instant::now() >= deadline {
            print!("{}", table(&run));
            write_junit(&run)?;
            return Err(format!(
                "ScenarioRun {namespace}/{name} did not end within {timeout:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_check_shows_its_statement_and_diff() {
        let run: ScenarioRun = serde_json::from_value(serde_json::json!({
            "apiVersion": "mzcheck.dev/v1alpha1", "kind": "ScenarioRun",
            "metadata": {"name": "r", "namespace": "ns"},
            "spec": {"scenario": "NoRestartNoUpgrade", "versions": {"current": "v26.3.0"}},
            "status": {"phase": "Failed", "message": "step 6 (Validate materialized) failed: checks: 0 passed, 1 failed, 0 skipped",
                "steps": [{"plan": {"action": "Validate", "mzService": "materialized"}, "state": "Failed",
                    "message": "checks: 0 passed, 1 failed, 0 skipped\nT: FAILED line 1: rows differ",
                    "checks": [{"name": "T", "state": "Failed", "reason": "line 1: still not the expected result",
                        "statement": "> SELECT a FROM t", "diff": "rows differ (expected 1 rows, got 1):\n- 1\n+ 2"}]}]},
        }))
        .unwrap();
        let t = table(&run);
        assert!(
            t.contains(
                "checks: 0 passed, 1 failed, 0 skipped\n         check T FAILED: line 1: still not the expected result\n           > SELECT a FROM t\n           rows differ (expected 1 rows, got 1):\n           - 1\n           + 2\n"
            ),
            "{t}"
        );
    }
}
