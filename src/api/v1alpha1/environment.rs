//! `spec.environment`: the environmentd under test and where its state lives.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, EnvVar, ResourceRequirements, Toleration};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::environmentd::sizes::{self, Allocation};

/// The environmentd under test, rendered the way orchestratord renders it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Environment {
    /// How environmentd runs. `kubernetes` (default): the `materialize/environmentd` image
    /// with the Kubernetes orchestrator, as orchestratord runs self-managed Materialize
    /// (clusterd in their own pods, a license key). `emulator`: the all-in-one
    /// `materialize/materialized` image with the process orchestrator, as platform-checks'
    /// mzcompose runs it (no clusterd image, RBAC or license key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<Runtime>,

    /// Image repository; the tag is the version an action resolves. Default
    /// `materialize/environmentd` (runtime `kubernetes`) or `materialize/materialized`
    /// (runtime `emulator`). With `kubernetes`, `--clusterd-image` is the `clusterd`
    /// repository next to it, with the same tag (as orchestratord derives it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200), pattern(r"^[a-z0-9]+([._/:-][a-z0-9]+)*$"))]
    pub image: Option<String>,

    /// Secret in this namespace with keys `metadata_backend_url` and `persist_backend_url`
    /// (as orchestratord's `backendSecretName`), and `license_key` for runtime `kubernetes`
    /// from v0.153 on. Passed to environmentd only as environment variables and a file from
    /// the Secret, never copied. Required when the run starts an environmentd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub backend_secret_name: Option<String>,

    /// `--environment-id`, in environmentd's grammar `<provider>-<region>-<org uuid>-<ordinal>`
    /// with provider one of local, docker, mzcompose, cloudtest, aws. Default
    /// `local-<namespace>-<run uid>-0`, unique per run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 200),
        pattern(crate::environmentd::environment_id::PATTERN)
    )]
    pub environment_id: Option<String>,

    /// Runtime `kubernetes`: the cluster replica sizes (`--cluster-replica-sizes`) by name.
    /// Default: one size `scale=1,workers=1` (1 worker, 2 GiB memory, no disk).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 50))]
    pub cluster_replica_sizes: BTreeMap<String, ReplicaSize>,

    /// Runtime `kubernetes`: the size of the bootstrap clusters (the default cluster and the
    /// builtin ones); a key of `clusterReplicaSizes`. Default: its only key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub bootstrap_replica_size: Option<String>,

    /// System parameter defaults for every StartMz (`--system-parameter-default`), like
    /// platform-checks' `get_default_system_parameters()`. A StartMz may replace or extend them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 100))]
    pub system_parameter_defaults: BTreeMap<String, String>,

    /// Extra environmentd command-line arguments, appended after the rendered ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50), inner(length(max = 1024)))]
    pub extra_args: Vec<String>,

    /// Extra environment variables for environmentd.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub extra_env: Vec<EnvVar>,

    /// Resource requests and limits of the environmentd container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// Labels added to environmentd pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 50))]
    pub pod_labels: BTreeMap<String, String>,

    /// Annotations added to environmentd pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 50))]
    pub pod_annotations: BTreeMap<String, String>,

    /// Runtime `kubernetes`: where environmentd schedules its clusterd pods, passed as
    /// orchestratord passes its `clusterd` settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clusterd: Option<ClusterdScheduling>,

    /// Service account environmentd pods run as. Default: on runtime `kubernetes` the run's
    /// own (`<run>-environmentd`, bound to the chart's environmentd ClusterRole), else the
    /// namespace's `default`. A named account must hold that role's rules itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub service_account_name: Option<String>,

    /// An environmentd StatefulSet that already exists (cloud scenarios whose first action is
    /// not StartMz). The run drives it but never deletes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adopt: Option<AdoptedEnvironment>,
}

/// Scheduling of the clusterd pods environmentd creates (runtime `kubernetes`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterdScheduling {
    /// Node labels clusterd pods require (`--orchestrator-kubernetes-service-node-selector`,
    /// one per entry).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 20))]
    pub node_selector: BTreeMap<String, String>,
    /// Affinity of clusterd pods (`--orchestrator-kubernetes-service-affinity`, as JSON;
    /// environmentd v0.144 and later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// Tolerations of clusterd pods (`--orchestrator-kubernetes-service-tolerations`, as
    /// JSON; environmentd v0.144 and later).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub tolerations: Vec<Toleration>,
    /// A non-default scheduler for clusterd pods (`--orchestrator-kubernetes-scheduler-name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub scheduler_name: Option<String>,
}

impl ClusterdScheduling {
    /// Whether it asks for something only v0.144 and later can take.
    pub fn needs_json_flags(&self) -> bool {
        self.affinity.is_some() || !self.tolerations.is_empty()
    }
}

/// How environmentd runs: as self-managed Materialize on Kubernetes, or as mzcompose's
/// all-in-one emulator.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    #[default]
    Kubernetes,
    Emulator,
}

/// One cluster replica size, as environmentd's `--cluster-replica-sizes` map holds it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplicaSize {
    /// Timely workers per process.
    #[schemars(range(min = 1, max = 256))]
    pub workers: u32,
    /// Processes per replica.
    #[schemars(range(min = 1, max = 256))]
    pub scale: u32,
    /// Credits per hour, a decimal string. Default `1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^[0-9]+(\.[0-9]+)?$"))]
    pub credits_per_hour: Option<String>,
    /// Memory limit, e.g. `2GiB`. A real license key requires one on every size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^[0-9]+ ?([KMGT]i?B)?$"))]
    pub memory_limit: Option<String>,
    /// CPU limit in CPUs, e.g. `0.5`; none by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_limit: Option<f64>,
    /// Scratch disk, e.g. `10GiB`. Default `0`: no disk, so no ephemeral volume storage
    /// class is needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^[0-9]+ ?([KMGT]i?B)?$"))]
    pub disk_limit: Option<String>,
    /// Extra node selectors for clusterd pods of this size.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 20))]
    pub selectors: BTreeMap<String, String>,
}

impl ReplicaSize {
    /// The size as environmentd's map holds it, with the defaults filled in.
    pub fn allocation(&self) -> Allocation {
        Allocation {
            workers: self.workers,
            scale: self.scale,
            credits_per_hour: self.credits_per_hour.clone().unwrap_or_else(|| "1".into()),
            disk_limit: self.disk_limit.clone().unwrap_or_else(|| "0".into()),
            memory_limit: self.memory_limit.clone(),
            cpu_limit: self.cpu_limit,
            selectors: self.selectors.clone(),
        }
    }
}

impl Environment {
    pub fn runtime(&self) -> Runtime {
        self.runtime.unwrap_or_default()
    }

    /// The replica sizes this environment uses: the spec's, or the default map.
    pub fn replica_sizes(&self) -> BTreeMap<String, Allocation> {
        if self.cluster_replica_sizes.is_empty() {
            sizes::default_sizes()
        } else {
            self.cluster_replica_sizes
                .iter()
                .map(|(k, v)| (k.clone(), v.allocation()))
                .collect()
        }
    }
}

/// An existing environmentd StatefulSet the run adopts.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdoptedEnvironment {
    /// Name of the StatefulSet in the run's namespace.
    #[schemars(length(min = 1, max = 253))]
    pub stateful_set_name: String,
    /// The `mzService` actions use to address it. Default `materialized`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = crate::api::MZ_SERVICE_MAX_LEN), pattern(crate::api::MZ_SERVICE_PATTERN))]
    pub mz_service: Option<String>,
    /// The version it runs now, if known: lets the planner check the first version step. The
    /// operator confirms it with `SELECT mz_version()` before the first action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(crate::version::VERSION_PATTERN))]
    pub version: Option<String>,
}
