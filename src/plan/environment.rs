//! What the planner checks of `spec.environment` before anything runs: the backend Secret
//! named, and the parts environmentd
//! would refuse at boot (its environment id, a bootstrap size missing from the size map), so
//! a bad spec fails at once, naming the field, instead of as a crash-looping pod.

use std::collections::BTreeSet;

use super::{Action, PlanError, PlannedStep};
use crate::{
    api::v1alpha1::{Environment, Runtime},
    environmentd::{
        environment_id, sizes,
        versions::{License, Needs, SERVICE_AFFINITY_TOLERATIONS},
    },
};

/// What the operator may learn of the backend Secret: its key names and the scheme of its
/// blob URL — never a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretView {
    /// The operator may not read Secrets (the chart's default): nothing is checked.
    NotPermitted,
    Missing,
    Keys {
        keys: BTreeSet<String>,
        /// What `persist_backend_url` starts with before `://`.
        blob_scheme: Option<String>,
    },
}

/// The backend Secret against what the run will start: the backend URLs always, the license
/// key for the versions that need one on Kubernetes, and a blob store every pod shares.
pub fn check_secret(
    env: &Environment,
    namespace: &str,
    steps: &[PlannedStep],
    view: &SecretView,
) -> Vec<PlanError> {
    let path = "spec.environment.backendSecretName";
    let name = format!(
        "{namespace}/{}",
        env.backend_secret_name.as_deref().unwrap_or_default()
    );
    let (keys, scheme) = match view {
        SecretView::NotPermitted => return vec![],
        SecretView::Missing => {
            return vec![PlanError::at(path, format!("Secret {name} does not exist"))];
        }
        SecretView::Keys { keys, blob_scheme } => (keys, blob_scheme),
    };
    let mut errors = Vec::new();
    let mut need = |key: &str, why: String| {
        if !keys.contains(key) {
            errors.push(PlanError::at(
                path,
                format!("Secret {name} has no key {key} ({why})"),
            ));
        }
    };
    need("metadata_backend_url", "every environmentd needs it".into());
    need("persist_backend_url", "every environmentd needs it".into());
    let licensed = steps.iter().find_map(|s| match &s.action {
        Action::StartMz(start) if Needs::of(&start.tag).license == License::Required => {
            Some(format!("StartMz {}", start.tag))
        }
        Action::ReplaceEnvironmentdStatefulSet { new_tag, .. }
            if Needs::of(new_tag).license == License::Required =>
        {
            Some(format!("ReplaceEnvironmentdStatefulSet {new_tag}"))
        }
        _ => None,
    });
    if env.runtime() == Runtime::Kubernetes
        && let Some(what) = licensed
    {
        need(
            "license_key",
            format!("runtime kubernetes needs a license key for {what}"),
        );
    }
    if scheme.as_deref() == Some("file") {
        errors.push(PlanError::at(
            path,
            format!(
                "Secret {name} key persist_backend_url is a file:// URL: that is each pod's own \
                 disk, which clusterd and the next generation cannot read; use an \
                 S3-compatible store every pod shares"
            ),
        ));
    }
    errors
}

/// Every problem with `env`, for a run that starts environmentd with `steps`.
pub fn check(env: &Environment, steps: &[PlannedStep]) -> Vec<PlanError> {
    let mut errors = Vec::new();
    if let Some(id) = &env.environment_id
        && let Err(why) = environment_id::parse(id, false)
    {
        errors.push(PlanError::at(
            "spec.environment.environmentId",
            format!("environmentd would refuse {id:?}: {why}"),
        ));
    }
    if env.backend_secret_name.is_none() {
        let message = "required: the run starts environmentd, which needs the Secret with \
                       metadata_backend_url and persist_backend_url";
        errors.push(PlanError::at("spec.environment.backendSecretName", message));
    }
    match env.runtime() {
        Runtime::Kubernetes => {
            errors.extend(check_sizes(env));
            errors.extend(check_scheduling(env, steps));
        }
        Runtime::Emulator => {
            let sizes = "the emulator image brings its own sizes";
            let clusterd = "the emulator runs clusterd as processes in its own pod";
            for (field, set, why) in [
                (
                    "clusterReplicaSizes",
                    !env.cluster_replica_sizes.is_empty(),
                    sizes,
                ),
                (
                    "bootstrapReplicaSize",
                    env.bootstrap_replica_size.is_some(),
                    sizes,
                ),
                ("clusterd", env.clusterd.is_some(), clusterd),
            ] {
                if set {
                    errors.push(PlanError::at(
                        format!("spec.environment.{field}"),
                        format!("only for runtime kubernetes: {why}"),
                    ));
                }
            }
        }
    }
    errors
}

/// Affinity and tolerations reach clusterd only through flags environmentd has from v0.144:
/// an older start would drop them silently (orchestratord does) and the rehearsal would
/// schedule clusterd somewhere else than asked.
fn check_scheduling(env: &Environment, steps: &[PlannedStep]) -> Option<PlanError> {
    let clusterd = env.clusterd.as_ref()?;
    if !clusterd.needs_json_flags() {
        return None;
    }
    let gate = SERVICE_AFFINITY_TOLERATIONS;
    let old = steps.iter().find_map(|s| match &s.action {
        Action::StartMz(start) if !gate.admits(&start.tag) => {
            Some(format!("StartMz {}", start.tag))
        }
        Action::ReplaceEnvironmentdStatefulSet { new_tag, .. } if !gate.admits(new_tag) => {
            Some(format!("ReplaceEnvironmentdStatefulSet {new_tag}"))
        }
        _ => None,
    })?;
    Some(PlanError::at(
        "spec.environment.clusterd",
        format!(
            "affinity and tolerations need environmentd {} or later ({}); {old} has no flag \
             for them",
            gate.since, gate.upstream
        ),
    ))
}

/// The bootstrap size must be a key of the size map: environmentd dies at boot with "unknown
/// cluster replica size" otherwise.
fn check_sizes(env: &Environment) -> Option<PlanError> {
    let sizes = env.replica_sizes();
    let names: Vec<&str> = sizes.keys().map(String::as_str).collect();
    let path = "spec.environment.bootstrapReplicaSize";
    match sizes::bootstrap(env.bootstrap_replica_size.as_deref(), &sizes) {
        None => Some(PlanError::at(
            path,
            format!(
                "required: clusterReplicaSizes has {} sizes ({}); name the one bootstrap \
                 clusters use",
                names.len(),
                names.join(", ")
            ),
        )),
        Some(size) if !sizes.contains_key(&size) => Some(PlanError::at(
            path,
            format!(
                "{size:?} is not a key of clusterReplicaSizes ({})",
                names.join(", ")
            ),
        )),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::v1alpha1::ReplicaSize;

    fn size() -> ReplicaSize {
        ReplicaSize {
            workers: 1,
            scale: 1,
            credits_per_hour: None,
            memory_limit: None,
            cpu_limit: None,
            disk_limit: None,
            selectors: Default::default(),
        }
    }

    /// The messages about `env` (with a backend Secret, which every case here has).
    fn messages(env: &Environment) -> Vec<String> {
        let env = Environment {
            backend_secret_name: Some("backend".into()),
            ..env.clone()
        };
        check(&env, &[]).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_defaults_pass_given_a_backend_secret() {
        let env = Environment {
            backend_secret_name: Some("backend".into()),
            ..Default::default()
        };
        assert!(check(&env, &[]).is_empty());
    }

    #[test]
    fn an_environment_id_environmentd_refuses_is_refused_naming_why() {
        let env = Environment {
            environment_id: Some("scenariorun-ns-0b5e1a2c-3d4e-4f50-8a6b-7c8d9e0f1a2b-0".into()),
            ..Default::default()
        };
        assert_eq!(
            messages(&env),
            ["spec.environment.environmentId: environmentd would refuse \
              \"scenariorun-ns-0b5e1a2c-3d4e-4f50-8a6b-7c8d9e0f1a2b-0\": \"scenariorun\" is not \
              a cloud provider environmentd knows (local, docker, mzcompose, cloudtest, aws)"]
        );
    }

    #[test]
    fn the_bootstrap_size_must_be_a_key_of_the_map() {
        let mut env = Environment {
            cluster_replica_sizes: [("a".to_string(), size()), ("b".to_string(), size())].into(),
            ..Default::default()
        };
        assert_eq!(
            messages(&env),
            [
                "spec.environment.bootstrapReplicaSize: required: clusterReplicaSizes has 2 sizes \
              (a, b); name the one bootstrap clusters use"
            ]
        );
        env.bootstrap_replica_size = Some("c".into());
        assert_eq!(
            messages(&env),
            [
                "spec.environment.bootstrapReplicaSize: \"c\" is not a key of clusterReplicaSizes \
              (a, b)"
            ]
        );
        env.bootstrap_replica_size = Some("b".into());
        assert!(messages(&env).is_empty());
    }

    #[test]
    fn the_emulator_refuses_sizes() {
        let env = Environment {
            runtime: Some(Runtime::Emulator),
            bootstrap_replica_size: Some("x".into()),
            ..Default::default()
        };
        assert_eq!(
            messages(&env),
            [
                "spec.environment.bootstrapReplicaSize: only for runtime kubernetes: the emulator \
              image brings its own sizes"
            ]
        );
    }

    #[test]
    fn clusterd_affinity_and_tolerations_need_a_version_with_their_flags() {
        let spec = |previous: &str, clusterd: serde_json::Value| {
            let spec: crate::api::v1alpha1::ScenarioRunSpec =
                serde_json::from_value(serde_json::json!({
                    "versions": {"current": "v26.3.0", "previous": [previous]},
                    "environment": {"backendSecretName": "backend", "clusterd": clusterd},
                    "actions": [{"action": "StartMz", "tag": "previous[0]"}],
                }))
                .unwrap();
            crate::plan::plan(&spec).map_err(|e| e.to_string())
        };
        let tolerations = serde_json::json!({"tolerations": [{"key": "mz", "operator": "Exists"}]});
        let err = spec("v0.143.0", tolerations.clone()).unwrap_err();
        assert!(
            err.contains(
                "spec.environment.clusterd: affinity and tolerations need environmentd v0.144.0 \
                 or later"
            ) && err.contains("StartMz v0.143.0 has no flag for them"),
            "{err}"
        );
        assert!(spec("v0.144.0", tolerations).is_ok());
        // A node selector has had its flag all along.
        assert!(
            spec(
                "v0.143.0",
                serde_json::json!({"nodeSelector": {"pool": "mz"}})
            )
            .is_ok()
        );
        let env = Environment {
            runtime: Some(Runtime::Emulator),
            clusterd: Some(Default::default()),
            ..Default::default()
        };
        assert_eq!(
            messages(&env),
            [
                "spec.environment.clusterd: only for runtime kubernetes: the emulator runs \
              clusterd as processes in its own pod"
            ]
        );
    }

    fn keys(names: &[&str], scheme: &str) -> SecretView {
        SecretView::Keys {
            keys: names.iter().map(|k| k.to_string()).collect(),
            blob_scheme: Some(scheme.into()),
        }
    }

    fn secret_messages(env: &Environment, view: &SecretView) -> Vec<String> {
        let spec: crate::api::v1alpha1::ScenarioRunSpec = serde_json::from_value(serde_json::json!({
            "versions": {"current": "v26.3.0", "previous": ["v0.147.20"]},
            "environment": {"backendSecretName": "backend"},
            "actions": [{"action": "StartMz", "tag": "previous[0]"}, {"action": "StartMz", "mzService": "b"}],
        }))
        .unwrap();
        let plan = crate::plan::plan(&spec).unwrap();
        let env = Environment {
            backend_secret_name: Some("backend".into()),
            ..env.clone()
        };
        check_secret(&env, "ns", &plan.actions, view)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn the_backend_secret_needs_its_keys_and_a_shared_blob_store() {
        let env = Environment::default();
        let all = ["metadata_backend_url", "persist_backend_url", "license_key"];
        assert!(secret_messages(&env, &keys(&all, "s3")).is_empty());
        assert!(secret_messages(&env, &SecretView::NotPermitted).is_empty());
        assert_eq!(
            secret_messages(&env, &SecretView::Missing),
            ["spec.environment.backendSecretName: Secret ns/backend does not exist"]
        );
        assert_eq!(
            secret_messages(&env, &keys(&all[..2], "s3")),
            [
                "spec.environment.backendSecretName: Secret ns/backend has no key license_key \
              (runtime kubernetes needs a license key for StartMz v26.3.0)"
            ]
        );
        let file = secret_messages(&env, &keys(&all, "file"));
        assert_eq!(file.len(), 1);
        assert!(
            file[0].contains("key persist_backend_url is a file:// URL"),
            "{file:?}"
        );
        // The emulator needs no license key.
        let emulator = Environment {
            runtime: Some(Runtime::Emulator),
            ..Default::default()
        };
        assert!(secret_messages(&emulator, &keys(&all[..2], "s3")).is_empty());
    }
}
