//! One run as a timeline: every step with its service, version, start (offset from the run's
//! first step), duration, result, client downtime and checks — the one model the JSON, JUnit and HTML reports
//! are rendered from, built from the run's status alone.

use serde::Serialize;

use crate::api::v1alpha1::{
    CheckRecord, CheckState, RunDowntime, ScenarioRun, StepProbes, StepRecord, StepState,
};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    pub namespace: String,
    pub name: String,
    /// The built-in scenario, or `actions` for an explicit list.
    pub scenario: String,
    /// `Pending` before the first pass.
    pub phase: String,
    pub message: Option<String>,
    /// The Materialize version the run last confirmed.
    pub version: Option<String>,
    /// The first step's start (RFC 3339, microseconds).
    pub started: Option<String>,
    /// First step's start to the last step's finish, in seconds.
    pub duration_seconds: Option<f64>,
    /// What the client probe saw over the whole run (absent without a probe).
    pub downtime: Option<RunDowntime>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// 1-based, as in status and Events.
    pub number: usize,
    /// platform-checks' class name.
    pub action: String,
    pub service: Option<String>,
    /// The version the step's service runs: its start's tag (this step's, or the last start of
    /// that service before it).
    pub version: Option<String>,
    /// Added by Scenario.run()'s enrichment.
    pub implicit: bool,
    pub state: StepState,
    pub started: Option<String>,
    /// Seconds from the run's start to this step's.
    pub offset_seconds: Option<f64>,
    pub duration_seconds: Option<f64>,
    pub message: Option<String>,
    /// What the client probe saw during the step, once it ended.
    pub downtime: Option<Downtime>,
    pub checks: Vec<Check>,
}

/// A step's client downtime, with its windows placed on the run's time axis.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Downtime {
    pub sent: u32,
    pub failed: u32,
    pub downtime_seconds: f64,
    pub longest_window_seconds: f64,
    pub latency_p50_seconds: Option<f64>,
    pub latency_p99_seconds: Option<f64>,
    pub windows: Vec<Window>,
}

/// A time no probe was answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Window {
    /// Seconds from the run's start.
    pub offset_seconds: f64,
    pub duration_seconds: f64,
    pub error: String,
}

impl Downtime {
    fn of(p: &StepProbes, start: Option<k8s_openapi::jiff::Timestamp>) -> Downtime {
        Downtime {
            sent: p.sent,
            failed: p.failed,
            downtime_seconds: p.downtime_seconds,
            longest_window_seconds: p.longest_window_seconds,
            latency_p50_seconds: p.latency_p50_seconds,
            latency_p99_seconds: p.latency_p99_seconds,
            windows: p
                .windows
                .iter()
                .map(|w| Window {
                    offset_seconds: start.map_or(0.0, |s| seconds(s, w.start.0)),
                    duration_seconds: seconds(w.start.0, w.end.0),
                    error: w.error.clone(),
                })
                .collect(),
        }
    }

    /// `0.153s (2/40)`: downtime and failed/sent probes, for tables.
    pub fn short(&self) -> String {
        format!(
            "{:.3}s ({}/{})",
            self.downtime_seconds, self.failed, self.sent
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub name: String,
    pub state: CheckState,
    pub reason: Option<String>,
    /// As the check's record has it (e.g. `1.2s`).
    pub duration: Option<String>,
    pub retries: u32,
    pub statement: Option<String>,
    pub diff: Option<String>,
}

impl Check {
    fn of(c: &CheckRecord) -> Check {
        Check {
            name: c.name.clone(),
            state: c.state,
            reason: c.reason.clone(),
            duration: c.duration.clone(),
            retries: c.retries,
            statement: c.statement.clone(),
            diff: c.diff.clone(),
        }
    }

    pub fn failed(&self) -> bool {
        self.state == CheckState::Failed
    }

    pub fn skipped(&self) -> bool {
        self.state == CheckState::Skipped
    }
}

impl Step {
    pub fn failed(&self) -> bool {
        self.state == StepState::Failed
    }

    /// Never reached or skipped: nothing ran.
    pub fn not_run(&self) -> bool {
        matches!(self.state, StepState::Pending | StepState::Skipped)
    }

    /// Still running (a report taken mid-run).
    pub fn running(&self) -> bool {
        self.state == StepState::Running
    }

    /// `StartMz mz-2 v26.2.0`, the label status and Events use.
    pub fn label(&self) -> String {
        [
            Some(&self.action),
            self.service.as_ref(),
            self.version.as_ref(),
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
    }
}

fn text(step: &StepRecord, key: &str) -> Option<String> {
    step.plan.get(key)?.as_str().map(str::to_string)
}

/// Seconds from `from` to `to`.
fn seconds(from: k8s_openapi::jiff::Timestamp, to: k8s_openapi::jiff::Timestamp) -> f64 {
    to.duration_since(from).as_secs_f64()
}

fn rfc3339(t: &k8s_openapi::jiff::Timestamp) -> String {
    format!("{t:.6}")
}

impl Timeline {
    pub fn of(run: &ScenarioRun) -> Timeline {
        let status = run.status.clone().unwrap_or_default();
        let start = status
            .steps
            .iter()
            .find_map(|s| s.started_at.as_ref())
            .map(|t| t.0);
        let mut versions = std::collections::BTreeMap::new();
        let steps: Vec<Step> = status
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let service = text(s, "mzService");
                // A start's tag, or the one an image swap put in.
                let tag = text(s, "tag").or_else(|| text(s, "newTag"));
                if let (Some(svc), Some(tag)) = (&service, tag) {
                    versions.insert(svc.clone(), tag);
                }
                let version = service.as_ref().and_then(|svc| versions.get(svc).cloned());
                let (started, finished) = (s.started_at.as_ref(), s.finished_at.as_ref());
                Step {
                    number: i + 1,
                    action: text(s, "action").unwrap_or_default(),
                    service,
                    version,
                    implicit: s.plan.get("implicit").and_then(|v| v.as_bool()) == Some(true),
                    state: s.state,
                    started: started.map(|t| rfc3339(&t.0)),
                    offset_seconds: start.zip(started).map(|(a, b)| seconds(a, b.0)),
                    duration_seconds: started.zip(finished).map(|(a, b)| seconds(a.0, b.0)),
                    message: s.message.clone(),
                    downtime: s.probes.as_ref().map(|p| Downtime::of(p, start)),
                    checks: s.checks.iter().map(Check::of).collect(),
                }
            })
            .collect();
        let end = status
            .steps
            .iter()
            .filter_map(|s| s.finished_at.as_ref())
            .map(|t| t.0)
            .max();
        Timeline {
            namespace: run
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
            name: run.metadata.name.clone().unwrap_or_default(),
            scenario: run
                .spec
                .scenario
                .clone()
                .unwrap_or_else(|| "actions".into()),
            phase: status.phase.map_or("Pending".into(), |p| format!("{p:?}")),
            message: status.message.clone(),
            version: status.current_version.clone(),
            started: start.map(|t| rfc3339(&t)),
            duration_seconds: start.zip(end).map(|(a, b)| seconds(a, b)),
            downtime: status.downtime.clone(),
            steps,
        }
    }

    /// The per-step table of `report -o table`.
    pub fn table(&self) -> String {
        let mut out = format!(
            "ScenarioRun {}/{} ({}): {}{}\n",
            self.namespace,
            self.name,
            self.scenario,
            self.phase,
            self.duration_seconds
                .map(|d| format!(" in {d:.1}s"))
                .unwrap_or_default()
        );
        if let Some(d) = &self.downtime {
            out.push_str(&format!(
                "  client downtime {}, {}/{} probes failed\n",
                d.summary, d.failed, d.sent
            ));
        }
        out.push_str(&format!(
            "  {:>3}  {:<27} {:<12} {:<10} {:>8} {:>8} {:>15}  {:<9}  {}\n",
            "#",
            "ACTION",
            "SERVICE",
            "VERSION",
            "START",
            "DURATION",
            "DOWNTIME",
            "RESULT",
            "CHECKS"
        ));
        for s in &self.steps {
            let secs = |v: Option<f64>| v.map_or("-".into(), |d| format!("{d:.2}s"));
            let checks = if s.checks.is_empty() {
                String::new()
            } else {
                let n = |f: fn(&Check) -> bool| s.checks.iter().filter(|c| f(c)).count();
                let failed = n(Check::failed);
                let skipped = n(Check::skipped);
                format!(
                    "{} passed, {failed} failed, {skipped} skipped",
                    s.checks.len() - failed - skipped
                )
            };
            out.push_str(&format!(
                "  {:>3}{} {:<27} {:<12} {:<10} {:>8} {:>8} {:>15}  {:<9}  {checks}\n",
                s.number,
                if s.implicit { "*" } else { " " },
                s.action,
                s.service.as_deref().unwrap_or("-"),
                s.version.as_deref().unwrap_or("-"),
                secs(s.offset_seconds),
                secs(s.duration_seconds),
                s.downtime.as_ref().map_or("-".into(), Downtime::short),
                format!("{:?}", s.state),
            ));
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A 0dt run that failed at its Validate: four steps, one check failed, one skipped.
    pub fn failed_run() -> ScenarioRun {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "mzcheck.dev/v1alpha1", "kind": "ScenarioRun",
            "metadata": {"name": "zdt", "namespace": "ns"},
            "spec": {"scenario": "ZeroDowntimeUpgradeEntireMz", "versions": {"current": "v26.3.0"}},
            "status": {"phase": "Failed", "currentVersion": "v26.3.0",
                "message": "step 4 (Validate mz-2) failed: checks: 1 passed, 1 failed, 1 skipped",
                "steps": [
                    {"plan": {"action": "StartMz", "mzService": "mz-1", "tag": "v26.2.0"}, "state": "Succeeded",
                     "startedAt": "2026-12-03T10:00:00.000000Z", "finishedAt": "2026-12-03T10:00:02.500000Z"},
                    {"plan": {"action": "StartMz", "mzService": "mz-2", "tag": "v26.3.0", "deployGeneration": 1},
                     "state": "Succeeded",
                     "startedAt": "2026-12-03T10:00:02.600000Z", "finishedAt": "2026-12-03T10:00:04.000000Z"},
                    {"plan": {"action": "PromoteMz", "mzService": "mz-2"}, "state": "Succeeded",
                     "startedAt": "2026-12-03T10:00:04.100000Z", "finishedAt": "2026-12-03T10:00:05.000000Z"},
                    {"plan": {"action": "Validate", "mzService": "mz-2"}, "state": "Failed",
                     "startedAt": "2026-12-03T10:00:05.000000Z", "finishedAt": "2026-12-03T10:00:06.250000Z",
                     "message": "checks: 1 passed, 1 failed, 1 skipped",
                     "checks": [
                        {"name": "Tables", "state": "Passed", "duration": "0.4s"},
                        {"name": "Views & <Joins>", "state": "Failed", "reason": "line 3: still not the expected result",
                         "statement": "> SELECT a FROM v", "diff": "rows differ:\n- 1\n+ 2", "retries": 4},
                        {"name": "Kafka", "state": "Skipped", "reason": "needs Kafka"}]},
                    {"plan": {"action": "KillMz", "mzService": "mz-2", "implicit": true}, "state": "Pending"}]},
        }))
        .unwrap()
    }

    #[test]
    fn steps_carry_their_service_version_offsets_and_durations() {
        let t = Timeline::of(&failed_run());
        assert_eq!(
            (t.phase.as_str(), t.scenario.as_str()),
            ("Failed", "ZeroDowntimeUpgradeEntireMz")
        );
        assert_eq!(t.duration_seconds, Some(6.25));
        let labels: Vec<String> = t.steps.iter().map(Step::label).collect();
        // PromoteMz and Validate of mz-2 run the version mz-2 was started with.
        assert_eq!(
            labels,
            [
                "StartMz mz-1 v26.2.0",
                "StartMz mz-2 v26.3.0",
                "PromoteMz mz-2 v26.3.0",
                "Validate mz-2 v26.3.0",
                "KillMz mz-2 v26.3.0"
            ]
        );
        assert_eq!(t.steps[1].offset_seconds, Some(2.6));
        assert_eq!(t.steps[3].duration_seconds, Some(1.25));
        assert_eq!(t.steps[4].offset_seconds, None);
        assert!(t.steps[4].implicit && t.steps[4].not_run());
        assert_eq!(
            t.steps[0].started.as_deref(),
            Some("2026-12-03T10:00:00.000000Z")
        );
    }

    #[test]
    fn an_image_swap_changes_the_services_version_from_that_step_on() {
        let mut run = failed_run();
        let steps = &mut run.status.as_mut().unwrap().steps;
        steps.truncate(1);
        for (action, tag) in [
            ("ReplaceEnvironmentdStatefulSet", Some("v26.4.0")),
            ("Validate", None),
        ] {
            let mut step = steps[0].clone();
            step.plan =
                serde_json::from_value(serde_json::json!({"action": action, "mzService": "mz-1"}))
                    .unwrap();
            if let Some(tag) = tag {
                step.plan.insert("newTag".into(), tag.into());
            }
            steps.push(step);
        }
        let labels: Vec<String> = Timeline::of(&run).steps.iter().map(Step::label).collect();
        assert_eq!(
            labels,
            [
                "StartMz mz-1 v26.2.0",
                "ReplaceEnvironmentdStatefulSet mz-1 v26.4.0",
                "Validate mz-1 v26.4.0"
            ]
        );
    }

    #[test]
    fn the_table_has_one_line_per_step_with_its_checks() {
        let table = Timeline::of(&failed_run()).table();
        assert!(
            table.starts_with("ScenarioRun ns/zdt (ZeroDowntimeUpgradeEntireMz): Failed in 6.2s\n"),
            "{table}"
        );
        let validate = table.lines().find(|l| l.contains("Validate")).unwrap();
        assert!(
            validate.contains("5.00s") && validate.contains("1.25s"),
            "{validate}"
        );
        assert!(
            validate.ends_with("Failed     1 passed, 1 failed, 1 skipped"),
            "{validate}"
        );
        assert!(
            table.lines().any(|l| l.starts_with("    5* KillMz")),
            "{table}"
        );
    }
}
