//! The one home of every child object name and label the operator derives from a run.

use std::collections::BTreeMap;

use super::LABEL_PREFIX;

/// Label naming the ScenarioRun an object belongs to.
pub fn run_label() -> String {
    format!("{LABEL_PREFIX}run")
}

/// Label naming the `mzService` an object serves.
pub fn service_label() -> String {
    format!("{LABEL_PREFIX}mz-service")
}

/// The standard managed-by label and its value.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "scenario-operator");

/// Labels on everything the operator creates for `run`'s `mz_service`, and its pod selector.
pub fn labels(run: &str, mz_service: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (run_label(), run.to_string()),
        (service_label(), mz_service.to_string()),
        (MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string()),
    ])
}

/// Labels on what belongs to the whole run rather than one service (the checks snapshot).
pub fn run_labels(run: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (run_label(), run.to_string()),
        (MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string()),
    ])
}

/// Selector labels of a service's pods (a subset of [`labels`]; immutable on a StatefulSet).
pub fn selector(run: &str, mz_service: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (run_label(), run.to_string()),
        (service_label(), mz_service.to_string()),
    ])
}

/// Shortens `name` to `max` characters with a stable hash suffix when it is longer.
fn fit(name: String, max: usize) -> String {
    if name.len() <= max {
        return name;
    }
    let hash = crate::stable_hash(name.as_bytes());
    format!(
        "{}-{:08x}",
        name[..max - 9].trim_end_matches('-'),
        hash as u32
    )
}

/// StatefulSet (and headless Service) of a service: `<run>-<mzService>`. At most 52 characters,
/// so the pod's `controller-revision-hash` label (name + 11) fits 63.
pub fn statefulset(run: &str, mz_service: &str) -> String {
    fit(format!("{run}-{mz_service}"), 52)
}

/// The single pod of a StatefulSet named `statefulset` (also an adopted one, whose name the
/// run does not derive).
pub fn pod_of(statefulset: &str) -> String {
    format!("{statefulset}-0")
}

/// The single pod of a service's StatefulSet.
pub fn pod(run: &str, mz_service: &str) -> String {
    pod_of(&statefulset(run, mz_service))
}

/// ConfigMap with environmentd's listener configuration for a service.
pub fn listeners_configmap(run: &str, mz_service: &str) -> String {
    fit(format!("{run}-{mz_service}-listeners"), 63)
}

/// ConfigMap holding the logs a KillMz captured at step `step` (1-based).
pub fn logs_configmap(run: &str, step: usize) -> String {
    fit(format!("{run}-step{step}-logs"), 63)
}

/// ConfigMap freezing the checks a run resolved when it started.
pub fn checks_configmap(run: &str) -> String {
    fit(format!("{run}-checks"), 253)
}

/// Key of the frozen checks in [`checks_configmap`].
pub const CHECKS_KEY: &str = "checks.json";

/// The SQL session a check's phase runs its commands in.
pub fn check_session(namespace: &str, run: &str, step: usize, check: &str) -> String {
    format!("{namespace}/{run}/step{step}/{check}")
}

/// The stable DNS name of the single pod of StatefulSet `statefulset` through its headless
/// Service `service` (the StatefulSet's `serviceName`; an adopted one may differ in name).
pub fn pod_dns_of(statefulset: &str, service: &str, namespace: &str) -> String {
    format!(
        "{}.{service}.{namespace}.svc.cluster.local",
        pod_of(statefulset)
    )
}

/// The stable DNS name of a service's pod through its headless Service (named as the
/// StatefulSet).
pub fn pod_dns(run: &str, mz_service: &str, namespace: &str) -> String {
    let sts = statefulset(run, mz_service);
    pod_dns_of(&sts, &sts, namespace)
}

/// The ClusterRole the chart installs with exactly the rules orchestratord grants
/// environmentd; each run binds its environmentd ServiceAccount to it in the run's namespace.
pub const ENVIRONMENTD_CLUSTER_ROLE: &str = "scenario-operator-environmentd";

/// The ServiceAccount (and RoleBinding) of a run's environmentd and its clusterd pods.
pub fn environmentd_account(run: &str) -> String {
    fit(format!("{run}-environmentd"), 63)
}

/// `--orchestrator-kubernetes-name-prefix`: the start of every clusterd StatefulSet, Service
/// and Secret environmentd creates for the run. From the run's UID, not its name, so a run
/// deleted and created again under the same name never meets the first one's leftovers; the
/// same for every mzService of the run, so each generation finds the clusters of the last.
/// Short (12 characters), so environmentd's names stay within Kubernetes' limits.
pub fn clusterd_prefix(run_uid: &str) -> String {
    let short: String = run_uid
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect::<String>()
        .to_ascii_lowercase();
    format!("sr-{short}-")
}

/// The start of the Secrets environmentd creates for the run's CREATE SECRETs:
/// `<prefix>user-managed-<id>` (src/orchestrator-kubernetes/src/secrets.rs). They carry no
/// label and no owner, so this name is all that ties them to the run.
pub fn user_secret_prefix(run_uid: &str) -> String {
    format!("{}user-managed-", clusterd_prefix(run_uid))
}

/// The finalizer that holds a deleted run (runtime `kubernetes`) until environmentd's Secrets
/// of it are gone: nothing else would ever delete them.
pub fn cleanup_finalizer() -> String {
    format!("{LABEL_PREFIX}cleanup")
}

#[cfg(test)]
mod tests {
    #[test]
    fn clusterd_prefix_is_short_and_from_the_uid() {
        let p = super::clusterd_prefix("0B5E1A2C-3d4e-4f50-8a6b-7c8d9e0f1a2b");
        assert_eq!(p, "sr-0b5e1a2c-");
        assert_ne!(
            p,
            super::clusterd_prefix("1b5e1a2c-3d4e-4f50-8a6b-7c8d9e0f1a2b")
        );
    }

    use super::*;

    #[test]
    fn names_fit_kubernetes_limits() {
        assert_eq!(statefulset("zdt", "mz-1"), "zdt-mz-1");
        assert_eq!(pod("zdt", "mz-1"), "zdt-mz-1-0");
        assert_eq!(
            pod_dns("zdt", "mz-1", "ns"),
            "zdt-mz-1-0.zdt-mz-1.ns.svc.cluster.local"
        );
        let long = "a".repeat(60);
        let sts = statefulset(&long, "materialized");
        assert!(sts.len() <= 52, "{sts}");
        assert_eq!(sts, statefulset(&long, "materialized"));
        assert_ne!(sts, statefulset(&long, "mz-1"));
        assert!(logs_configmap(&long, 12).len() <= 63);
    }

    #[test]
    fn pod_names_of_any_statefulset() {
        assert_eq!(pod_of("env-sts"), "env-sts-0");
        assert_eq!(
            pod_dns_of("env-sts", "env-svc", "ns"),
            "env-sts-0.env-svc.ns.svc.cluster.local"
        );
        // The run's own names are the same helpers applied to its StatefulSet.
        let sts = statefulset("zdt", "mz-1");
        assert_eq!(pod("zdt", "mz-1"), pod_of(&sts));
        assert_eq!(pod_dns("zdt", "mz-1", "ns"), pod_dns_of(&sts, &sts, "ns"));
    }

    #[test]
    fn run_labels_name_the_run_not_a_service() {
        let r = run_labels("r");
        assert_eq!(r.len(), 2);
        assert_eq!(r.get(&run_label()).map(String::as_str), Some("r"));
        assert_eq!(r.get(MANAGED_BY.0).map(String::as_str), Some(MANAGED_BY.1));
        assert!(!r.contains_key(&service_label()));
        // A subset of every service's labels, so a run-label selector finds both.
        let l = labels("r", "s");
        for (k, v) in &r {
            assert_eq!(l.get(k), Some(v));
        }
    }

    #[test]
    fn selector_is_part_of_the_labels() {
        let l = labels("r", "s");
        for (k, v) in selector("r", "s") {
            assert_eq!(l.get(&k), Some(&v));
        }
    }
}
