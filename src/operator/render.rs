//! Pure builders of the objects a StartMz needs, rendered the way orchestratord renders
//! environmentd: backend URLs only through environment variables from the Secret, everything
//! else as arguments (so a typo fails fast), listeners from a ConfigMap, grace period 0.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        apps::v1::StatefulSet,
        core::v1::{ConfigMap, Service},
    },
    apimachinery::pkg::apis::meta::v1::OwnerReference,
};
use serde_json::json;

use crate::{
    api::{
        names,
        v1alpha1::{Environment, ScenarioRun},
    },
    plan::action::{INTERNAL_HTTP_PORT, StartMz},
};

/// Default image repository for environmentd.
pub const DEFAULT_IMAGE: &str = "materialize/materialized";
/// Secret keys, as orchestratord's `backendSecretName`.
pub const METADATA_KEY: &str = "metadata_backend_url";
pub const PERSIST_KEY: &str = "persist_backend_url";
/// Where the listener configuration is mounted (orchestratord's path).
const LISTENERS_DIR: &str = "/listeners";

/// The identity of a run, as the builders need it.
pub struct RunRef<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub uid: &'a str,
    pub spec_env: &'a Environment,
}

impl<'a> RunRef<'a> {
    pub fn of(run: &'a ScenarioRun) -> RunRef<'a> {
        RunRef {
            name: run.metadata.name.as_deref().unwrap_or_default(),
            namespace: run.metadata.namespace.as_deref().unwrap_or("default"),
            uid: run.metadata.uid.as_deref().unwrap_or_default(),
            spec_env: &run.spec.environment,
        }
    }

    /// Controller ownerReference: deleting the run garbage-collects what it created.
    pub fn owner(&self) -> OwnerReference {
        OwnerReference {
            api_version: format!("{}/v1alpha1", crate::api::GROUP),
            kind: "ScenarioRun".into(),
            name: self.name.to_string(),
            uid: self.uid.to_string(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }

    /// `--environment-id`: the spec's, or one derived from the run (unique per run).
    pub fn environment_id(&self) -> String {
        self.spec_env.environment_id.clone().unwrap_or_else(|| {
            let uid: String = self.uid.chars().take(36).collect();
            format!("scenariorun-{}-{uid}-0", self.namespace)
        })
    }
}

/// environmentd's listener configuration: external SQL/HTTP for normal roles, internal for
/// `mz_system`, no TLS or authentication (as orchestratord with authenticatorKind None).
pub fn listeners_json() -> String {
    let listener = |port: u16, roles: &str| json!({"addr": format!("0.0.0.0:{port}"), "authenticator_kind": "None", "allowed_roles": roles, "enable_tls": false});
    json!({
        "sql": {"external": listener(6875, "Normal"), "internal": listener(6877, "Internal")},
        "http": {"external": listener(6876, "Normal"), "internal": listener(INTERNAL_HTTP_PORT, "NormalAndInternal")},
    })
    .to_string()
}

pub fn listeners_configmap(run: &RunRef, mz_service: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {
            "name": names::listeners_configmap(run.name, mz_service), "namespace": run.namespace,
            "labels": names::labels(run.name, mz_service), "ownerReferences": [run.owner()],
        },
        "data": {"listeners.json": listeners_json()},
    }))
    .expect("valid ConfigMap")
}

/// The headless Service giving the pod its stable DNS name.
pub fn service(run: &RunRef, mz_service: &str) -> Service {
    let sts = names::statefulset(run.name, mz_service);
    let port = |name: &str, port: u16| json!({"name": name, "port": port, "targetPort": port});
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": sts, "namespace": run.namespace, "labels": names::labels(run.name, mz_service), "ownerReferences": [run.owner()]},
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": true,
            "selector": names::selector(run.name, mz_service),
            "ports": [port("sql", 6875), port("http", 6876), port("internal-sql", 6877), port("internal-http", INTERNAL_HTTP_PORT)],
        },
    }))
    .expect("valid Service")
}

/// environmentd's arguments for a start.
pub fn args(run: &RunRef, start: &StartMz) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(g) = start.deploy_generation {
        args.push(format!("--deploy-generation={g}"));
    }
    args.push(format!("--environment-id={}", run.environment_id()));
    args.push(format!(
        "--listeners-config-path={LISTENERS_DIR}/listeners.json"
    ));
    args.push("--orchestrator=kubernetes".into());
    if !start.system_parameter_defaults.is_empty() {
        let list: Vec<String> = start
            .system_parameter_defaults
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        args.push(format!("--system-parameter-default={}", list.join(";")));
    }
    if let Some(f) = &start.force_migrations {
        args.push("--unsafe-mode".into());
        args.push(format!("--unsafe-builtin-table-fingerprint-whitespace={f}"));
    }
    args.extend(run.spec_env.extra_args.iter().cloned());
    args
}

/// The StatefulSet of a service, at `replicas` (0 while killed).
pub fn statefulset(run: &RunRef, start: &StartMz, replicas: i32) -> StatefulSet {
    let env = run.spec_env;
    let secret = env.backend_secret_name.clone().unwrap_or_default();
    let from_secret = |name: &str, key: &str| json!({"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}});
    let mut container_env = vec![
        from_secret("MZ_METADATA_BACKEND_URL", METADATA_KEY),
        from_secret("MZ_PERSIST_BLOB_URL", PERSIST_KEY),
    ];
    for entry in &start.environment_extra {
        if let Some((k, v)) = entry.split_once('=') {
            container_env.push(json!({"name": k, "value": v}));
        }
    }
    for e in &env.extra_env {
        container_env.push(serde_json::to_value(e).expect("EnvVar serializes"));
    }
    let image = format!(
        "{}:{}",
        env.image.as_deref().unwrap_or(DEFAULT_IMAGE),
        start.tag
    );
    let mut pod_labels: BTreeMap<String, String> = env.pod_labels.clone();
    pod_labels.extend(names::labels(run.name, &start.mz_service));
    pod_labels.insert("app".into(), "environmentd".into());
    let mut annotations = env.pod_annotations.clone();
    annotations.insert(
        format!("{}generation", crate::api::LABEL_PREFIX),
        start.deploy_generation.unwrap_or(0).to_string(),
    );
    let port = |name: &str, port: u16| json!({"name": name, "containerPort": port});
    let mut container = json!({
        "name": "environmentd",
        "image": image,
        "args": args(run, start),
        "env": container_env,
        "ports": [port("sql", 6875), port("http", 6876), port("internal-sql", 6877), port("internal-http", INTERNAL_HTTP_PORT)],
        "readinessProbe": {
            "httpGet": {"path": start.healthcheck.path, "port": start.healthcheck.port},
            "periodSeconds": 1, "failureThreshold": 3, "timeoutSeconds": 1,
        },
        "volumeMounts": [{"name": "listeners", "mountPath": LISTENERS_DIR}],
        "securityContext": {
            "allowPrivilegeEscalation": false, "runAsNonRoot": true, "runAsUser": 999,
            "capabilities": {"drop": ["ALL"]},
        },
    });
    if let Some(r) = &env.resources {
        container["resources"] = serde_json::to_value(r).expect("resources serialize");
    }
    let sts = names::statefulset(run.name, &start.mz_service);
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": sts, "namespace": run.namespace, "labels": names::labels(run.name, &start.mz_service), "ownerReferences": [run.owner()]},
        "spec": {
            "replicas": replicas,
            "serviceName": sts,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": names::selector(run.name, &start.mz_service)},
            "template": {
                "metadata": {"labels": pod_labels, "annotations": annotations},
                "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "serviceAccountName": env.service_account_name.clone().unwrap_or_else(|| "default".into()),
                    "securityContext": {"fsGroup": 999, "runAsUser": 999, "runAsGroup": 999},
                    "containers": [container],
                    "volumes": [{"name": "listeners", "configMap": {"name": names::listeners_configmap(run.name, &start.mz_service)}}],
                },
            },
        },
    }))
    .expect("valid StatefulSet")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::action::ResolvedHealthcheck;

    fn start(generation: Option<u64>) -> StartMz {
        StartMz {
            mz_service: "mz-2".into(),
            tag: "v26.2.0".parse().unwrap(),
            deploy_generation: generation,
            system_parameter_defaults: [
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), "2".to_string()),
            ]
            .into(),
            system_parameter_version: "v26.2.0".parse().unwrap(),
            environment_extra: vec!["MZ_X=1".into()],
            healthcheck: ResolvedHealthcheck {
                path: "/api/leader/status".into(),
                port: 6878,
            },
            restart: crate::api::v1alpha1::RestartPolicy::OnFailure,
            force_migrations: Some("all".into()),
            publish: None,
            expect_failure: false,
        }
    }

    #[test]
    fn statefulset_renders_like_orchestratord() {
        let env = Environment {
            backend_secret_name: Some("backend".into()),
            ..Default::default()
        };
        let run = RunRef {
            name: "r",
            namespace: "ns",
            uid: "0000-uid",
            spec_env: &env,
        };
        let sts = serde_json::to_value(statefulset(&run, &start(Some(1)), 1)).unwrap();
        let c = &sts["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["image"], "materialize/materialized:v26.2.0");
        let args: Vec<&str> = c["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(args[0], "--deploy-generation=1");
        assert!(args.contains(&"--environment-id=scenariorun-ns-0000-uid-0"));
        assert!(args.contains(&"--system-parameter-default=a=1;b=2"));
        assert!(args.contains(&"--unsafe-builtin-table-fingerprint-whitespace=all"));
        // Backend URLs only via the Secret, never as literal values.
        assert_eq!(
            c["env"][0]["valueFrom"]["secretKeyRef"]["key"],
            METADATA_KEY
        );
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/api/leader/status");
        assert_eq!(
            sts["spec"]["template"]["spec"]["terminationGracePeriodSeconds"],
            0
        );
        assert_eq!(sts["metadata"]["ownerReferences"][0]["kind"], "ScenarioRun");
        assert_eq!(
            sts["spec"]["selector"]["matchLabels"]["mzcheck.dev/mz-service"],
            "mz-2"
        );
    }

    #[test]
    fn listeners_have_internal_and_external_ports() {
        let v: serde_json::Value = serde_json::from_str(&listeners_json()).unwrap();
        assert_eq!(v["sql"]["internal"]["addr"], "0.0.0.0:6877");
        assert_eq!(v["http"]["internal"]["addr"], "0.0.0.0:6878");
    }
}
