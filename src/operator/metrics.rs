//! The operator's Prometheus metrics, served at `/metrics` beside the probes: reconcile passes
//! by outcome and duration, steps by action and outcome with durations, runs by phase (from
//! the controller's cache at scrape time), promote detection (the operator first seeing a
//! generation ReadyToPromote → its promote request sent), how long passes wait for a slot,
//! client probes by outcome, and Kubernetes API calls by verb.
//! One registry for
//! the process, because the API-call counter sits in the one wrapper every call goes through.

use std::{collections::BTreeMap, sync::OnceLock};

use prometheus_client::{
    encoding::text::encode,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

use crate::api::v1alpha1::{ScenarioRunStatus, StepState};

type Labels = Vec<(String, String)>;

struct Metrics {
    registry: Registry,
    reconciles: Family<Labels, Counter>,
    reconcile_seconds: Histogram,
    steps: Family<Labels, Counter>,
    step_seconds: Family<Labels, Histogram>,
    runs: Family<Labels, Gauge>,
    api_calls: Family<Labels, Counter>,
    promote_detection: Histogram,
    pass_wait: Histogram,
    probes: Family<Labels, Counter>,
}

fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let mut registry = Registry::with_prefix("scenario_operator");
        let reconciles = Family::<Labels, Counter>::default();
        registry.register(
            "reconciles",
            "Reconcile passes by outcome (ok, transient, refused)",
            reconciles.clone(),
        );
        // 1 ms .. ~33 s.
        let reconcile_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register(
            "reconcile_duration_seconds",
            "Wall time of one reconcile pass",
            reconcile_seconds.clone(),
        );
        let steps = Family::<Labels, Counter>::default();
        registry.register(
            "steps",
            "Steps that ended, by action and outcome (succeeded, failed)",
            steps.clone(),
        );
        // 0.1 s .. ~55 min.
        let step_seconds = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.1, 2.0, 16))
        });
        registry.register(
            "step_duration_seconds",
            "Duration of the steps that ended, by action",
            step_seconds.clone(),
        );
        let runs = Family::<Labels, Gauge>::default();
        registry.register(
            "runs",
            "ScenarioRuns by phase, as the operator's cache has them",
            runs.clone(),
        );
        let api_calls = Family::<Labels, Counter>::default();
        registry.register(
            "kube_api_calls",
            "Kubernetes API calls the reconcile passes made, by verb and resource (watches not included)",
            api_calls.clone(),
        );
        // 1 ms .. ~33 s.
        let promote_detection = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register(
            "promote_detection_seconds",
            "From the operator first seeing a generation ReadyToPromote to sending its promote",
            promote_detection.clone(),
        );
        // 1 ms .. ~33 s.
        let pass_wait = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register(
            "pass_wait_seconds",
            "How long a pass waited for one of the --concurrency slots",
            pass_wait.clone(),
        );
        let probes = Family::<Labels, Counter>::default();
        registry.register(
            "probes",
            "Client probes sent to environmentd, by outcome (answered, failed)",
            probes.clone(),
        );
        Metrics {
            registry,
            probes,
            reconciles,
            reconcile_seconds,
            steps,
            step_seconds,
            runs,
            api_calls,
            promote_detection,
            pass_wait,
        }
    })
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// One reconcile pass ended with `outcome` after `seconds`.
pub fn reconciled(outcome: &str, seconds: f64) {
    let m = metrics();
    m.reconciles
        .get_or_create(&labels(&[("outcome", outcome)]))
        .inc();
    m.reconcile_seconds.observe(seconds);
}

/// A pass got its slot after waiting `seconds`.
pub fn pass_waited(seconds: f64) {
    metrics().pass_wait.observe(seconds);
}

/// A promote request is being sent `seconds` after its generation was first seen ready.
pub fn promote_detected(seconds: f64) {
    metrics().promote_detection.observe(seconds);
}

/// One client probe ([`super::probe`]) was answered, or not.
pub fn probed(answered: bool) {
    let outcome = if answered { "answered" } else { "failed" };
    metrics()
        .probes
        .get_or_create(&labels(&[("outcome", outcome)]))
        .inc();
}

/// One Kubernetes API call (`verb`, `resource`: the first two words of its description).
pub fn api_call(verb: &str, resource: &str) {
    metrics()
        .api_calls
        .get_or_create(&labels(&[("verb", verb), ("resource", resource)]))
        .inc();
}

/// The steps a status write ended: those terminal in `after` that were not in `before`, with
/// their action and duration. Pure, for the tests.
pub fn ended_steps(
    before: Option<&ScenarioRunStatus>,
    after: &ScenarioRunStatus,
) -> Vec<(String, StepState, f64)> {
    let terminal = |s: StepState| matches!(s, StepState::Succeeded | StepState::Failed);
    after
        .steps
        .iter()
        .enumerate()
        .filter(|(i, s)| {
            let was = before.and_then(|b| b.steps.get(*i)).map(|s| s.state);
            terminal(s.state) && !was.is_some_and(terminal)
        })
        .map(|(_, s)| {
            let action = s.plan.get("action").and_then(|a| a.as_str()).unwrap_or("?");
            let seconds = match (&s.started_at, &s.finished_at) {
                (Some(a), Some(b)) => b.0.duration_since(a.0).as_secs_f64().max(0.0),
                _ => 0.0,
            };
            (action.to_string(), s.state, seconds)
        })
        .collect()
}

/// Counts the steps a status write ended.
pub fn steps_ended(before: Option<&ScenarioRunStatus>, after: &ScenarioRunStatus) {
    let m = metrics();
    for (action, state, seconds) in ended_steps(before, after) {
        let outcome = if state == StepState::Succeeded {
            "succeeded"
        } else {
            "failed"
        };
        m.steps
            .get_or_create(&labels(&[("action", &action), ("outcome", outcome)]))
            .inc();
        m.step_seconds
            .get_or_create(&labels(&[("action", &action)]))
            .observe(seconds);
    }
}

/// The text exposition, with runs by phase set from `phases` first.
pub fn render(phases: &BTreeMap<String, i64>) -> String {
    let m = metrics();
    m.runs.clear();
    for (phase, n) in phases {
        m.runs.get_or_create(&labels(&[("phase", phase)])).set(*n);
    }
    let mut out = String::new();
    encode(&mut out, &m.registry).expect("writing to a String cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
    use serde_json::json;

    fn status(states: &[(StepState, &str)]) -> ScenarioRunStatus {
        let t0: k8s_openapi::jiff::Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
        let t1: k8s_openapi::jiff::Timestamp = "2026-12-01T00:00:02.5Z".parse().unwrap();
        let mut s = ScenarioRunStatus::default();
        for (state, action) in states {
            let mut step: crate::api::v1alpha1::StepRecord =
                serde_json::from_value(json!({"plan": {"action": action}, "state": "Pending"}))
                    .unwrap();
            step.state = *state;
            step.started_at = Some(MicroTime(t0));
            step.finished_at = Some(MicroTime(t1));
            s.steps.push(step);
        }
        s
    }

    #[test]
    fn only_steps_that_ended_in_this_write_are_counted() {
        use StepState::*;
        let before = status(&[
            (Succeeded, "StartMz"),
            (Running, "PromoteMz"),
            (Pending, "KillMz"),
        ]);
        let after = status(&[
            (Succeeded, "StartMz"),
            (Failed, "PromoteMz"),
            (Pending, "KillMz"),
        ]);
        assert_eq!(
            ended_steps(Some(&before), &after),
            [("PromoteMz".to_string(), Failed, 2.5)]
        );
        // No status before (the first write): every terminal step counts.
        assert_eq!(ended_steps(None, &after).len(), 2);
        steps_ended(Some(&before), &after);
        reconciled("ok", 0.01);
        api_call("get", "ConfigMap");
        let text = render(&BTreeMap::from([("Running".to_string(), 3)]));
        for line in [
            "scenario_operator_steps_total{action=\"PromoteMz\",outcome=\"failed\"} 1",
            "scenario_operator_runs{phase=\"Running\"} 3",
            "scenario_operator_kube_api_calls_total{verb=\"get\",resource=\"ConfigMap\"}",
            "scenario_operator_reconcile_duration_seconds_count",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
    }
}
