//! Pure builders of the objects a run creates, rendered the way orchestratord renders
//! environmentd: a StatefulSet, a headless Service and a listeners ConfigMap per mzService,
//! grace period 0; the container itself is [`container`]'s.
//!
//! Every object is built from k8s-openapi's typed structs rather than `json!` run through
//! `serde_json::from_value`: a misspelt key in `json!` compiles and is silently dropped by the
//! deserializer, a misspelt field does not compile. The tests pin the JSON the objects
//! serialize to, written out by hand, so a change in what is sent to the apiserver is seen.

mod access;
mod container;

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        apps::v1::{StatefulSet, StatefulSetSpec},
        core::v1::{
            ConfigMap, PodSecurityContext, PodSpec, PodTemplateSpec, Service, ServicePort,
            ServiceSpec,
        },
    },
    apimachinery::pkg::{
        apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference},
        util::intstr::IntOrString,
    },
};

pub use self::access::{role_binding, service_account};
pub use self::container::{
    CONTAINER_NAME, LICENSE_KEY, METADATA_KEY, PERSIST_KEY, account_name, args, clusterd_image,
    default_image, own_account,
};
use crate::{
    api::{
        names,
        v1alpha1::{Environment, ScenarioRun},
    },
    environmentd::{LISTENERS_FILE, PORTS, environment_id, listeners, versions::Needs},
    plan::action::StartMz,
};

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
            environment_id::default_for(self.namespace, &uid)
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

/// The ConfigMap `--listeners-config-path` points into, in the schema of the version being
/// started (empty for versions that take listen-address flags instead).
pub fn listeners_configmap(run: &RunRef, start: &StartMz) -> ConfigMap {
    let schema = Needs::of(&start.tag).listeners;
    let data = listeners::config_json(schema)
        .map(|json| BTreeMap::from([(LISTENERS_FILE.to_string(), json)]))
        .unwrap_or_default();
    ConfigMap {
        metadata: owned_meta(
            run,
            names::listeners_configmap(run.name, &start.mz_service),
            names::labels(run.name, &start.mz_service),
        ),
        data: Some(data),
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
    let (volumes, mounts) = container::volumes(run, start);
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels),
            annotations: Some(annotations),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            // As orchestratord renders it; and KillMz must kill at once, as platform-checks' does.
            termination_grace_period_seconds: Some(0),
            service_account_name: Some(container::account_name(run)),
            security_context: Some(PodSecurityContext {
                fs_group: Some(container::MZ_UID),
                run_as_user: Some(container::MZ_UID),
                run_as_group: Some(container::MZ_UID),
                ..Default::default()
            }),
            containers: vec![container::container(run, start, mounts)],
            volumes: Some(volumes),
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
mod tests;
