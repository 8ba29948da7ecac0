//! The environmentd container of a start, for its runtime and version: what real environmentd
//! of that tag needs to boot (src/environmentd/src/environmentd/main.rs), rendered as
//! orchestratord renders it (runtime `kubernetes`) or as mzcompose runs the all-in-one image
//! (runtime `emulator`). Every version-dependent choice comes from
//! [`crate::environmentd::versions`]; secrets only through environment variables and files
//! from the backend Secret, everything else as arguments, so a typo fails at once.

use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource,
    HTTPGetAction, KeyToPath, ObjectFieldSelector, Probe, SecretKeySelector, SecretVolumeSource,
    SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::RunRef;
use crate::{
    api::{
        names,
        v1alpha1::{ClusterdScheduling, Runtime},
    },
    environmentd::{
        LICENSE_KEY_DIR, LICENSE_KEY_FILE, LISTENERS_DIR, LISTENERS_FILE, PERSIST_PUBSUB_PORT,
        PORTS, listeners, sizes,
        versions::{self, License, ListenerSchema, Needs, SERVICE_AFFINITY_TOLERATIONS},
    },
    plan::action::StartMz,
    version::MzVersion,
};

/// Secret key of the metadata backend URL, as orchestratord's `backendSecretName`.
pub const METADATA_KEY: &str = "metadata_backend_url";
/// Secret key of the persist blob URL, as orchestratord's `backendSecretName`.
pub const PERSIST_KEY: &str = "persist_backend_url";
/// Secret key of the license key, as orchestratord's `backendSecretName`.
pub const LICENSE_KEY: &str = "license_key";

pub const CONTAINER_NAME: &str = "environmentd";
const LISTENERS_VOLUME: &str = "listeners";
const LICENSE_VOLUME: &str = "license-key";
/// The images' unprivileged user and group (uid/gid 999 in both Dockerfiles), so the pod runs
/// without root and `fsGroup` makes its volumes readable to it.
pub const MZ_UID: i64 = 999;
/// Owner-read only, as orchestratord mounts the listeners and the license key.
const READ_ONLY_MODE: i32 = 0o400;

/// The image repository a runtime runs by default.
pub fn default_image(runtime: Runtime) -> &'static str {
    match runtime {
        Runtime::Kubernetes => "materialize/environmentd",
        Runtime::Emulator => "materialize/materialized",
    }
}

/// `--clusterd-image`: the `clusterd` repository next to environmentd's, with the same tag
/// (orchestratord's `matching_image_from_environmentd_image_ref`; a repository without `/`
/// is under `materialize`).
pub fn clusterd_image(environmentd_repo: &str, tag: &str) -> String {
    let namespace = environmentd_repo
        .rsplit_once('/')
        .map_or("materialize", |(ns, _)| ns);
    format!("{namespace}/clusterd:{tag}")
}

fn repository<'a>(run: &RunRef<'a>) -> &'a str {
    let env = run.spec_env;
    env.image.as_deref().unwrap_or(default_image(env.runtime()))
}

/// Whether the run gives environmentd its own ServiceAccount and binding ([`super::access`]):
/// on Kubernetes, unless the spec names an account someone else provides.
pub fn own_account(run: &RunRef) -> bool {
    run.spec_env.runtime() == Runtime::Kubernetes && run.spec_env.service_account_name.is_none()
}

/// The service account environmentd runs as and hands its clusterd pods: the spec's, the
/// run's own on Kubernetes, the namespace's `default` for the emulator (which calls no API).
pub fn account_name(run: &RunRef) -> String {
    match &run.spec_env.service_account_name {
        Some(name) => name.clone(),
        None if own_account(run) => names::environmentd_account(run.name),
        None => "default".into(),
    }
}

/// `--system-parameter-default`: what the runtime needs off-cloud first, then the start's own
/// (which win). On Kubernetes, as orchestratord renders for a non-cloud provider: the sizes
/// allowed, no hard topology spread (kind's nodes carry no zone label, so clusterd would stay
/// Pending), no RBAC checks (the checks run as `materialize`).
fn system_parameters(run: &RunRef, start: &StartMz) -> Option<String> {
    let mut params = std::collections::BTreeMap::new();
    if run.spec_env.runtime() == Runtime::Kubernetes {
        let allowed: Vec<String> = run
            .spec_env
            .replica_sizes()
            .keys()
            .map(|k| format!("'{k}'"))
            .collect();
        params.insert("allowed_cluster_replica_sizes".into(), allowed.join(", "));
        params.insert("cluster_enable_topology_spread".into(), "false".into());
        params.insert("enable_rbac_checks".into(), "false".into());
    }
    params.extend(start.system_parameter_defaults.clone());
    let list: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    (!list.is_empty()).then(|| list.join(";"))
}

/// The Kubernetes orchestrator's arguments: clusterd's image and sizes, and the options
/// orchestratord passes, so clusterd pods are the run's (name prefix, label, service account)
/// and boot on a laptop's cluster (pull policy, fs group).
fn orchestrator_args(run: &RunRef, start: &StartMz) -> Vec<String> {
    let sizes = run.spec_env.replica_sizes();
    // The planner refuses a run whose bootstrap size this cannot name, before any start.
    let bootstrap = sizes::bootstrap(run.spec_env.bootstrap_replica_size.as_deref(), &sizes)
        .unwrap_or_else(|| sizes::DEFAULT_SIZE.to_string());
    let pubsub_host = names::pod_dns(run.name, &start.mz_service, run.namespace);
    let mut args = vec![
        "--orchestrator=kubernetes".to_string(),
        format!(
            "--clusterd-image={}",
            clusterd_image(repository(run), &start.tag.to_string())
        ),
        format!("--cluster-replica-sizes={}", sizes::to_json(&sizes)),
    ];
    args.extend(sizes::bootstrap_args(&bootstrap));
    args.extend([
        format!(
            "--orchestrator-kubernetes-service-account={}",
            account_name(run)
        ),
        "--orchestrator-kubernetes-image-pull-policy=if-not-present".into(),
        format!(
            "--orchestrator-kubernetes-name-prefix={}",
            names::clusterd_prefix(run.uid)
        ),
        format!(
            "--orchestrator-kubernetes-service-label={}={}",
            names::run_label(),
            run.name
        ),
        format!("--orchestrator-kubernetes-service-fs-group={MZ_UID}"),
        format!("--internal-persist-pubsub-listen-addr=0.0.0.0:{PERSIST_PUBSUB_PORT}"),
        format!("--persist-pubsub-url=http://{pubsub_host}:{PERSIST_PUBSUB_PORT}"),
    ]);
    if Needs::of(&start.tag).license == License::Disableable {
        args.push("--disable-license-key-checks".into());
    }
    if let Some(clusterd) = &run.spec_env.clusterd {
        args.extend(scheduling_args(clusterd, &start.tag));
    }
    args
}

/// Where clusterd pods go, in orchestratord's order and under its version gate (the planner
/// refuses affinity or tolerations for a start before the gate, so none is dropped here).
fn scheduling_args(c: &ClusterdScheduling, tag: &MzVersion) -> Vec<String> {
    let mut args: Vec<String> = c
        .node_selector
        .iter()
        .map(|(k, v)| format!("--orchestrator-kubernetes-service-node-selector={k}={v}"))
        .collect();
    if SERVICE_AFFINITY_TOLERATIONS.admits(tag) {
        if let Some(affinity) = &c.affinity {
            let json = serde_json::to_string(affinity).expect("an Affinity serializes");
            args.push(format!("--orchestrator-kubernetes-service-affinity={json}"));
        }
        if !c.tolerations.is_empty() {
            let json = serde_json::to_string(&c.tolerations).expect("Tolerations serialize");
            args.push(format!(
                "--orchestrator-kubernetes-service-tolerations={json}"
            ));
        }
    }
    if let Some(name) = &c.scheduler_name {
        args.push(format!("--orchestrator-kubernetes-scheduler-name={name}"));
    }
    args
}

/// environmentd's arguments for a start.
pub fn args(run: &RunRef, start: &StartMz) -> Vec<String> {
    let needs = Needs::of(&start.tag);
    let mut args = Vec::new();
    if let Some(g) = start.deploy_generation {
        args.push(format!("--deploy-generation={g}"));
    }
    args.push(format!("--environment-id={}", run.environment_id()));
    match needs.listeners {
        ListenerSchema::Flags => args.extend(listeners::listen_addr_args()),
        _ => args.push(format!(
            "--listeners-config-path={LISTENERS_DIR}/{LISTENERS_FILE}"
        )),
    }
    match run.spec_env.runtime() {
        Runtime::Kubernetes => args.extend(orchestrator_args(run, start)),
        Runtime::Emulator => args.push("--orchestrator=process".into()),
    }
    if let Some(params) = system_parameters(run, start) {
        args.push(format!("--system-parameter-default={params}"));
    }
    if let Some(f) = &start.force_migrations {
        args.push("--unsafe-mode".into());
        args.push(format!("{}={f}", versions::forced_migration_flag(f)));
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

fn plain_env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value.to_string()),
        ..Default::default()
    }
}

fn needs_license(run: &RunRef, start: &StartMz) -> bool {
    run.spec_env.runtime() == Runtime::Kubernetes
        && Needs::of(&start.tag).license == License::Required
}

/// The backends as the runtime takes them. Kubernetes: the metadata backend URL (consensus
/// and timestamp oracle in one). Emulator: the all-in-one image's entrypoint exports its
/// built-in PostgreSQL's consensus, stash and oracle URLs unless they are set, and those
/// conflict with `--metadata-backend-url`, so all three come from the same Secret key and the
/// built-in PostgreSQL is off, as mzcompose runs it with an external metadata store.
fn backend_env(run: &RunRef) -> Vec<EnvVar> {
    let secret = run
        .spec_env
        .backend_secret_name
        .as_deref()
        .unwrap_or_default();
    let mut vars = match run.spec_env.runtime() {
        Runtime::Kubernetes => vec![secret_env("MZ_METADATA_BACKEND_URL", secret, METADATA_KEY)],
        Runtime::Emulator => vec![
            plain_env("MZ_NO_BUILTIN_POSTGRES", "1"),
            plain_env("MZ_NO_TELEMETRY", "1"),
            secret_env("MZ_PERSIST_CONSENSUS_URL", secret, METADATA_KEY),
            secret_env("MZ_TIMESTAMP_ORACLE_URL", secret, METADATA_KEY),
            secret_env("MZ_ADAPTER_STASH_URL", secret, METADATA_KEY),
        ],
    };
    vars.push(secret_env("MZ_PERSIST_BLOB_URL", secret, PERSIST_KEY));
    vars
}

/// The container's environment: the backends, the license key file, the pod's name, then
/// the StartMz's `NAME=value` entries (an entry without `=` is not a variable and is left
/// out), then the spec's own variables, last so they win.
fn container_env(run: &RunRef, start: &StartMz) -> Vec<EnvVar> {
    let mut vars = backend_env(run);
    if needs_license(run, start) {
        vars.push(plain_env(
            "MZ_LICENSE_KEY",
            &format!("{LICENSE_KEY_DIR}/{LICENSE_KEY_FILE}"),
        ));
    }
    vars.push(EnvVar {
        name: "MZ_POD_NAME".into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: "metadata.name".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    let extra = start
        .environment_extra
        .iter()
        .filter_map(|entry| entry.split_once('='))
        .map(|(name, value)| plain_env(name, value));
    for var in extra.chain(run.spec_env.extra_env.iter().cloned()) {
        // A later variable of the same name replaces the earlier one in place: the apiserver
        // refuses a container with two (server-side apply keys env by name).
        match vars.iter_mut().find(|v| v.name == var.name) {
            Some(earlier) => *earlier = var,
            None => vars.push(var),
        }
    }
    vars
}

/// The pod's volumes and the container's mounts: the listeners file (versions that read one)
/// and the license key (versions and runtimes that need one), each a single read-only item.
pub fn volumes(run: &RunRef, start: &StartMz) -> (Vec<Volume>, Vec<VolumeMount>) {
    let mut volumes = Vec::new();
    let mut mounts = Vec::new();
    let item = |key: &str| {
        Some(vec![KeyToPath {
            key: key.into(),
            path: key.into(),
            ..Default::default()
        }])
    };
    if Needs::of(&start.tag).listeners != ListenerSchema::Flags {
        volumes.push(Volume {
            name: LISTENERS_VOLUME.into(),
            config_map: Some(ConfigMapVolumeSource {
                name: names::listeners_configmap(run.name, &start.mz_service),
                items: item(LISTENERS_FILE),
                default_mode: Some(READ_ONLY_MODE),
                ..Default::default()
            }),
            ..Default::default()
        });
        mounts.push(mount(LISTENERS_VOLUME, LISTENERS_DIR));
    }
    if needs_license(run, start) {
        volumes.push(Volume {
            name: LICENSE_VOLUME.into(),
            secret: Some(SecretVolumeSource {
                secret_name: run.spec_env.backend_secret_name.clone(),
                items: item(LICENSE_KEY),
                default_mode: Some(READ_ONLY_MODE),
                optional: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        });
        mounts.push(mount(LICENSE_VOLUME, LICENSE_KEY_DIR));
    }
    (volumes, mounts)
}

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: Some(true),
        ..Default::default()
    }
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

pub fn container(run: &RunRef, start: &StartMz, mounts: Vec<VolumeMount>) -> Container {
    Container {
        name: CONTAINER_NAME.into(),
        image: Some(format!("{}:{}", repository(run), start.tag)),
        // Side-loaded images (kind load) have no registry to pull from.
        image_pull_policy: Some("IfNotPresent".into()),
        args: Some(args(run, start)),
        env: Some(container_env(run, start)),
        ports: Some(PORTS.iter().map(|&(n, p)| container_port(n, p)).collect()),
        readiness_probe: Some(readiness_probe(start)),
        volume_mounts: Some(mounts),
        security_context: Some(container_security()),
        resources: run.spec_env.resources.clone(),
        ..Default::default()
    }
}
