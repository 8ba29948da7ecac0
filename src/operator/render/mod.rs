//! Pure builders of the objects a run creates, rendered the way orchestratord renders
//! environmentd: backend URLs only through environment variables from the Secret, everything
//! else as arguments (so a typo fails fast), listeners from a ConfigMap, grace period 0.
//!
//! Every object is built from k8s-openapi's typed structs rather than `json!` run through
//! `serde_json::from_value`: a misspelt key in `json!` compiles and is silently dropped by the
//! deserializer, a misspelt field does not compile. The tests pin the JSON the objects
//! serialize to, written out by hand, so a change in what is sent to the apiserver is seen.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        apps::v1::{StatefulSet, StatefulSetSpec},
        core::v1::{
            Capabilities, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EnvVar,
            EnvVarSource, HTTPGetAction, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
            SecretKeySelector, SecurityContext, Service, ServicePort, ServiceSpec, Volume,
            VolumeMount,
        },
    },
    apimachinery::pkg::{
        apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference},
        util::intstr::IntOrString,
    },
};
use serde_json::json;

use crate::{
    api::{
        names,
        v1alpha1::{Environment, ScenarioRun},
    },
    environmentd::{
        HTTP_PORT, INTERNAL_HTTP_PORT, INTERNAL_SQL_PORT, LISTENERS_DIR, LISTENERS_FILE, PORTS,
        SQL_PORT,
    },
    plan::action::StartMz,
};

/// Default image repository for environmentd.
pub const DEFAULT_IMAGE: &str = "materialize/materialized";
/// Secret key of the metadata backend URL, as orchestratord's `backendSecretName`.
pub const METADATA_KEY: &str = "metadata_backend_url";
/// Secret key of the persist blob URL, as orchestratord's `backendSecretName`.
pub const PERSIST_KEY: &str = "persist_backend_url";

/// The container, and the volume holding [`listeners_configmap`], as the pod names them.
const CONTAINER_NAME: &str = "environmentd";
const LISTENERS_VOLUME: &str = "listeners";
/// The image's unprivileged user and group, so the pod runs without root and `fsGroup` makes
/// its volumes readable to it.
const MZ_UID: i64 = 999;

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

/// Metadata of an object the run owns: in the run's namespace, with the run as controller so
/// deleting the run deletes it.
fn owned_meta(run: &RunRef, name: String, labels: BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(run.namespace.to_string()),
        labels: Some(labels),
        owner_references: Some(vec![run.owner()]),
        ..Default::default()
    }
}

/// environmentd's listener configuration: external SQL/HTTP for normal roles, internal for
/// `mz_system`, no TLS or authentication (as orchestratord with authenticatorKind None).
/// environmentd's own file format, not a Kubernetes object, so `json!` is the schema here.
pub fn listeners_json() -> String {
    let listener = |port: u16, roles: &str| json!({"addr": format!("0.0.0.0:{port}"), "authenticator_kind": "None", "allowed_roles": roles, "enable_tls": false});
    json!({
        "sql": {"external": listener(SQL_PORT, "Normal"), "internal": listener(INTERNAL_SQL_PORT, "Internal")},
        "http": {"external": listener(HTTP_PORT, "Normal"), "internal": listener(INTERNAL_HTTP_PORT, "NormalAndInternal")},
    })
    .to_string()
}

/// The ConfigMap mounted at [`LISTENERS_DIR`] that `--listeners-config-path` points into.
pub fn listeners_configmap(run: &RunRef, mz_service: &str) -> ConfigMap {
    ConfigMap {
        metadata: owned_meta(
            run,
            names::listeners_configmap(run.name, mz_service),
            names::labels(run.name, mz_service),
        ),
        data: Some(BTreeMap::from([(
            LISTENERS_FILE.to_string(),
            listeners_json(),
        )])),
        ..Default::default()
    }
}

/// The ConfigMap keeping the logs a KillMz at step `step` captured from `mz_service`'s pod,
/// so they outlive the pod.
pub fn logs_configmap(
    run: &RunRef,
    mz_service: &str,
    step: usize,
    data: BTreeMap<String, String>,
) -> ConfigMap {
    ConfigMap {
        metadata: owned_meta(
            run,
            names::logs_configmap(run.name, step),
            names::labels(run.name, mz_service),
        ),
        data: Some(data),
        ..Default::default()
    }
}

/// The snapshot of the checks a run resolved when it started. Immutable, so a restarted
/// operator runs the very checks the run started with even if their source ConfigMaps change.
pub fn checks_snapshot(run: &RunRef, text: String) -> ConfigMap {
    ConfigMap {
        metadata: owned_meta(
            run,
            names::checks_configmap(run.name),
            names::run_labels(run.name),
        ),
        immutable: Some(true),
        data: Some(BTreeMap::from([(names::CHECKS_KEY.to_string(), text)])),
        ..Default::default()
    }
}

fn service_port(name: &str, port: u16) -> ServicePort {
    ServicePort {
        name: Some(name.to_string()),
        port: i32::from(port),
        target_port: Some(IntOrString::Int(i32::from(port))),
        ..Default::default()
    }
}

/// The headless Service giving the pod its stable DNS name. Not-ready addresses are published
/// so that name resolves before the pod is ready: the operator talks to environmentd while it
/// is not (a read-only generation catching up, the leader API that promotes it).
pub fn service(run: &RunRef, mz_service: &str) -> Service {
    Service {
        metadata: owned_meta(
            run,
            names::statefulset(run.name, mz_service),
            names::labels(run.name, mz_service),
        ),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            publish_not_ready_addresses: Some(true),
            selector: Some(names::selector(run.name, mz_service)),
            ports: Some(PORTS.iter().map(|&(n, p)| service_port(n, p)).collect()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// environmentd's arguments for a start.
pub fn args(run: &RunRef, start: &StartMz) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(g) = start.deploy_generation {
        args.push(format!("--deploy-generation={g}"));
    }
    args.push(format!("--environment-id={}", run.environment_id()));
    args.push(format!(
        "--listeners-config-path={LISTENERS_DIR}/{LISTENERS_FILE}"
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

/// An environment variable read from a key of a Secret (the value never enters the spec).
fn secret_env(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_string(),
                key: key.to_string(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The container's environment: the backends from the Secret, then the StartMz's
/// `NAME=value` entries (an entry without `=` is not a variable and is left out), then the
/// spec's own variables, last so they win.
fn container_env(env: &Environment, start: &StartMz) -> Vec<EnvVar> {
    let secret = env.backend_secret_name.as_deref().unwrap_or_default();
    let mut vars = vec![
        secret_env("MZ_METADATA_BACKEND_URL", secret, METADATA_KEY),
        secret_env("MZ_PERSIST_BLOB_URL", secret, PERSIST_KEY),
    ];
    for entry in &start.environment_extra {
        if let Some((name, value)) = entry.split_once('=') {
            vars.push(EnvVar {
                name: name.to_string(),
                value: Some(value.to_string()),
                ..Default::default()
            });
        }
    }
    vars.extend(env.extra_env.iter().cloned());
    vars
}

fn container_port(name: &str, port: u16) -> ContainerPort {
    ContainerPort {
        name: Some(name.to_string()),
        container_port: i32::from(port),
        ..Default::default()
    }
}

/// Readiness from the StartMz's healthcheck, polled every second so WaitReadyMz sees it soon.
fn readiness_probe(start: &StartMz) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(start.healthcheck.path.clone()),
            port: IntOrString::Int(i32::from(start.healthcheck.port)),
            ..Default::default()
        }),
        period_seconds: Some(1),
        failure_threshold: Some(3),
        timeout_seconds: Some(1),
        ..Default::default()
    }
}

/// Least privilege: environmentd needs no capabilities and no root.
fn container_security() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        run_as_non_root: Some(true),
        run_as_user: Some(MZ_UID),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn container(run: &RunRef, start: &StartMz) -> Container {
    let env = run.spec_env;
    let image = format!(
        "{}:{}",
        env.image.as_deref().unwrap_or(DEFAULT_IMAGE),
        start.tag
    );
    Container {
        name: CONTAINER_NAME.into(),
        image: Some(image),
        args: Some(args(run, start)),
        env: Some(container_env(env, start)),
        ports: Some(PORTS.iter().map(|&(n, p)| container_port(n, p)).collect()),
        readiness_probe: Some(readiness_probe(start)),
        volume_mounts: Some(vec![VolumeMount {
            name: LISTENERS_VOLUME.into(),
            mount_path: LISTENERS_DIR.into(),
            ..Default::default()
        }]),
        security_context: Some(container_security()),
        resources: env.resources.clone(),
        ..Default::default()
    }
}

/// The pod: the spec's labels and annotations first, so ours (which the selectors and the
/// operator rely on) win; the deploy generation recorded on the pod (0 when the start names
/// none).
fn pod_template(run: &RunRef, start: &StartMz) -> PodTemplateSpec {
    let env = run.spec_env;
    let mut labels = env.pod_labels.clone();
    labels.extend(names::labels(run.name, &start.mz_service));
    labels.insert("app".into(), "environmentd".into());
    let mut annotations = env.pod_annotations.clone();
    annotations.insert(
        format!("{}generation", crate::api::LABEL_PREFIX),
        start.deploy_generation.unwrap_or(0).to_string(),
    );
    let listeners = Volume {
        name: LISTENERS_VOLUME.into(),
        config_map: Some(ConfigMapVolumeSource {
            name: names::listeners_configmap(run.name, &start.mz_service),
            ..Default::default()
        }),
        ..Default::default()
    };
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels),
            annotations: Some(annotations),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            // As orchestratord renders it; and KillMz must kill at once, as platform-checks' does.
            termination_grace_period_seconds: Some(0),
            service_account_name: Some(
                env.service_account_name
                    .clone()
                    .unwrap_or_else(|| "default".into()),
            ),
            security_context: Some(PodSecurityContext {
                fs_group: Some(MZ_UID),
                run_as_user: Some(MZ_UID),
                run_as_group: Some(MZ_UID),
                ..Default::default()
            }),
            containers: vec![container(run, start)],
            volumes: Some(vec![listeners]),
            ..Default::default()
        }),
    }
}

/// The StatefulSet of a service, at `replicas` (0 while killed). `Parallel`: there is one pod
/// and no order among pods to keep.
pub fn statefulset(run: &RunRef, start: &StartMz, replicas: i32) -> StatefulSet {
    let sts = names::statefulset(run.name, &start.mz_service);
    StatefulSet {
        metadata: owned_meta(run, sts.clone(), names::labels(run.name, &start.mz_service)),
        spec: StatefulSetSpec {
            replicas: Some(replicas),
            service_name: Some(sts),
            pod_management_policy: Some("Parallel".into()),
            selector: LabelSelector {
                match_labels: Some(names::selector(run.name, &start.mz_service)),
                ..Default::default()
            },
            template: pod_template(run, start),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// A label selector in the apiserver's string form.
pub fn selector_string(s: &LabelSelector) -> String {
    let mut parts: Vec<String> = s
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in s.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            _ => format!("!{}", e.key),
        });
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use k8s_openapi::{
        api::core::v1::ResourceRequirements,
        apimachinery::pkg::{api::resource::Quantity, apis::meta::v1::LabelSelectorRequirement},
    };
    use serde_json::Value;

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

    /// An Environment that sets every field the StatefulSet renders.
    fn full_environment() -> Environment {
        Environment {
            backend_secret_name: Some("backend".into()),
            extra_env: vec![EnvVar {
                name: "MZ_LOG_FILTER".into(),
                value: Some("debug".into()),
                ..Default::default()
            }],
            resources: Some(ResourceRequirements {
                limits: Some(BTreeMap::from([("cpu".to_string(), Quantity("1".into()))])),
                ..Default::default()
            }),
            pod_labels: BTreeMap::from([("team".to_string(), "qa".to_string())]),
            pod_annotations: BTreeMap::from([("note".to_string(), "golden".to_string())]),
            service_account_name: Some("environmentd".into()),
            ..Default::default()
        }
    }

    fn run_ref(env: &Environment) -> RunRef<'_> {
        RunRef {
            name: "r",
            namespace: "ns",
            uid: "0000-uid",
            spec_env: env,
        }
    }

    fn owner_json() -> Value {
        json!({
            "apiVersion": "mzcheck.dev/v1alpha1", "kind": "ScenarioRun", "name": "r",
            "uid": "0000-uid", "controller": true, "blockOwnerDeletion": true,
        })
    }

    fn labels_json() -> Value {
        json!({
            "mzcheck.dev/run": "r", "mzcheck.dev/mz-service": "mz-2",
            "app.kubernetes.io/managed-by": "scenario-operator",
        })
    }

    fn selector_json() -> Value {
        json!({"mzcheck.dev/run": "r", "mzcheck.dev/mz-service": "mz-2"})
    }

    /// The container the pre-typed `json!` renderer produced for `full_environment()` and
    /// `start(Some(1))`, written out by hand.
    fn golden_container() -> Value {
        json!({
            "name": "environmentd",
            "image": "materialize/materialized:v26.2.0",
            "args": [
                "--deploy-generation=1",
                "--environment-id=scenariorun-ns-0000-uid-0",
                "--listeners-config-path=/listeners/listeners.json",
                "--orchestrator=kubernetes",
                "--system-parameter-default=a=1;b=2",
                "--unsafe-mode",
                "--unsafe-builtin-table-fingerprint-whitespace=all",
            ],
            "env": [
                {"name": "MZ_METADATA_BACKEND_URL", "valueFrom": {"secretKeyRef": {"name": "backend", "key": "metadata_backend_url"}}},
                {"name": "MZ_PERSIST_BLOB_URL", "valueFrom": {"secretKeyRef": {"name": "backend", "key": "persist_backend_url"}}},
                {"name": "MZ_X", "value": "1"},
                {"name": "MZ_LOG_FILTER", "value": "debug"},
            ],
            "ports": [
                {"name": "sql", "containerPort": 6875},
                {"name": "http", "containerPort": 6876},
                {"name": "internal-sql", "containerPort": 6877},
                {"name": "internal-http", "containerPort": 6878},
            ],
            "readinessProbe": {
                "httpGet": {"path": "/api/leader/status", "port": 6878},
                "periodSeconds": 1, "failureThreshold": 3, "timeoutSeconds": 1,
            },
            "volumeMounts": [{"name": "listeners", "mountPath": "/listeners"}],
            "securityContext": {
                "allowPrivilegeEscalation": false, "runAsNonRoot": true, "runAsUser": 999,
                "capabilities": {"drop": ["ALL"]},
            },
            "resources": {"limits": {"cpu": "1"}},
        })
    }

    fn golden_statefulset() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {
                "name": "r-mz-2", "namespace": "ns",
                "labels": labels_json(), "ownerReferences": [owner_json()],
            },
            "spec": {
                "replicas": 1,
                "serviceName": "r-mz-2",
                "podManagementPolicy": "Parallel",
                "selector": {"matchLabels": selector_json()},
                "template": {
                    "metadata": {
                        "labels": {
                            "team": "qa", "app": "environmentd",
                            "mzcheck.dev/run": "r", "mzcheck.dev/mz-service": "mz-2",
                            "app.kubernetes.io/managed-by": "scenario-operator",
                        },
                        "annotations": {"note": "golden", "mzcheck.dev/generation": "1"},
                    },
                    "spec": {
                        "terminationGracePeriodSeconds": 0,
                        "serviceAccountName": "environmentd",
                        "securityContext": {"fsGroup": 999, "runAsUser": 999, "runAsGroup": 999},
                        "containers": [golden_container()],
                        "volumes": [{"name": "listeners", "configMap": {"name": "r-mz-2-listeners"}}],
                    },
                },
            },
        })
    }

    fn golden_service() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {
                "name": "r-mz-2", "namespace": "ns",
                "labels": labels_json(), "ownerReferences": [owner_json()],
            },
            "spec": {
                "clusterIP": "None",
                "publishNotReadyAddresses": true,
                "selector": selector_json(),
                "ports": [
                    {"name": "sql", "port": 6875, "targetPort": 6875},
                    {"name": "http", "port": 6876, "targetPort": 6876},
                    {"name": "internal-sql", "port": 6877, "targetPort": 6877},
                    {"name": "internal-http", "port": 6878, "targetPort": 6878},
                ],
            },
        })
    }

    fn golden_listeners() -> Value {
        let listener = |port: u16, roles: &str| json!({"addr": format!("0.0.0.0:{port}"), "authenticator_kind": "None", "allowed_roles": roles, "enable_tls": false});
        json!({
            "sql": {"external": listener(6875, "Normal"), "internal": listener(6877, "Internal")},
            "http": {"external": listener(6876, "Normal"), "internal": listener(6878, "NormalAndInternal")},
        })
    }

    #[test]
    fn statefulset_json_is_unchanged() {
        let env = full_environment();
        let run = run_ref(&env);
        let sts = serde_json::to_value(statefulset(&run, &start(Some(1)), 1)).unwrap();
        assert_eq!(sts, golden_statefulset());
        let svc = serde_json::to_value(service(&run, "mz-2")).unwrap();
        assert_eq!(svc, golden_service());

        let cm = serde_json::to_value(listeners_configmap(&run, "mz-2")).unwrap();
        // The file's text is compared as JSON: its key order is serde_json's, not a contract.
        let text = cm["data"]["listeners.json"].as_str().unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(text).unwrap(),
            golden_listeners()
        );
        let expected = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "name": "r-mz-2-listeners", "namespace": "ns",
                "labels": labels_json(), "ownerReferences": [owner_json()],
            },
            "data": {"listeners.json": text},
        });
        assert_eq!(cm, expected);
    }

    #[test]
    fn statefulset_renders_like_orchestratord() {
        let env = Environment {
            backend_secret_name: Some("backend".into()),
            ..Default::default()
        };
        let run = run_ref(&env);
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
        // Without resources in the spec the container sets none (no empty object).
        assert!(c.get("resources").is_none());
        let pod = &sts["spec"]["template"]["spec"];
        assert_eq!(pod["terminationGracePeriodSeconds"], 0);
        assert_eq!(pod["serviceAccountName"], "default");
        assert_eq!(sts["metadata"]["ownerReferences"][0]["kind"], "ScenarioRun");
        assert_eq!(
            sts["spec"]["selector"]["matchLabels"]["mzcheck.dev/mz-service"],
            "mz-2"
        );
        // Generation 0 when the start names none.
        let sts = serde_json::to_value(statefulset(&run, &start(None), 0)).unwrap();
        assert_eq!(sts["spec"]["replicas"], 0);
        assert_eq!(
            sts["spec"]["template"]["metadata"]["annotations"]["mzcheck.dev/generation"],
            "0"
        );
    }

    #[test]
    fn listeners_have_internal_and_external_ports() {
        let v: Value = serde_json::from_str(&listeners_json()).unwrap();
        assert_eq!(v["sql"]["internal"]["addr"], "0.0.0.0:6877");
        assert_eq!(v["http"]["internal"]["addr"], "0.0.0.0:6878");
    }

    #[test]
    fn logs_configmap_is_owned_and_labelled_by_service() {
        let env = Environment::default();
        let run = run_ref(&env);
        let data = BTreeMap::from([("environmentd".to_string(), "log line".to_string())]);
        let cm = serde_json::to_value(logs_configmap(&run, "mz-2", 3, data)).unwrap();
        assert_eq!(
            cm,
            json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {
                    "name": "r-step3-logs", "namespace": "ns",
                    "labels": labels_json(), "ownerReferences": [owner_json()],
                },
                "data": {"environmentd": "log line"},
            })
        );
        // No logs still renders the (empty) data, as before.
        let empty = serde_json::to_value(logs_configmap(&run, "mz-2", 3, BTreeMap::new())).unwrap();
        assert_eq!(empty["data"], json!({}));
    }

    #[test]
    fn checks_snapshot_is_immutable_and_labelled_by_run() {
        let env = Environment::default();
        let run = run_ref(&env);
        let cm = serde_json::to_value(checks_snapshot(&run, "[]".into())).unwrap();
        assert_eq!(
            cm,
            json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {
                    "name": "r-checks", "namespace": "ns",
                    "labels": {
                        "mzcheck.dev/run": "r",
                        "app.kubernetes.io/managed-by": "scenario-operator",
                    },
                    "ownerReferences": [owner_json()],
                },
                "immutable": true,
                "data": {"checks.json": "[]"},
            })
        );
    }

    #[test]
    fn selector_string_is_the_apiservers_form() {
        let s = LabelSelector {
            match_labels: Some(BTreeMap::from([("a".to_string(), "1".to_string())])),
            match_expressions: Some(vec![
                LabelSelectorRequirement {
                    key: "b".into(),
                    operator: "In".into(),
                    values: Some(vec!["x".into(), "y".into()]),
                },
                LabelSelectorRequirement {
                    key: "c".into(),
                    operator: "DoesNotExist".into(),
                    values: None,
                },
            ]),
        };
        assert_eq!(selector_string(&s), "a=1,b in (x,y),!c");
        assert_eq!(selector_string(&LabelSelector::default()), "");
    }
}
