//! What the planner checks of `spec.environment` before anything runs: the backend Secret
//! named, and the parts environmentd
//! would refuse at boot (its environment id, a bootstrap size missing from the size map), so
//! a bad spec fails at once, naming the field, instead of as a crash-looping pod.

use super::PlanError;
use crate::{
    api::v1alpha1::{Environment, Runtime},
    environmentd::{environment_id, sizes},
};

/// Every problem with `env`, for a run that starts environmentd.
pub fn check(env: &Environment) -> Vec<PlanError> {
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
        Runtime::Kubernetes => errors.extend(check_sizes(env)),
        Runtime::Emulator => {
            for (field, set) in [
                ("clusterReplicaSizes", !env.cluster_replica_sizes.is_empty()),
                ("bootstrapReplicaSize", env.bootstrap_replica_size.is_some()),
            ] {
                if set {
                    errors.push(PlanError::at(
                        format!("spec.environment.{field}"),
                        "only for runtime kubernetes: the emulator image brings its own sizes",
                    ));
                }
            }
        }
    }
    errors
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
        check(&env).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_defaults_pass_given_a_backend_secret() {
        let env = Environment {
            backend_secret_name: Some("backend".into()),
            ..Default::default()
        };
        assert!(check(&env).is_empty());
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
}
