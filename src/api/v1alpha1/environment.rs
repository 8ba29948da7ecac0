//! `spec.environment`: the environmentd under test and where its state lives.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EnvVar, ResourceRequirements};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The environmentd under test, rendered the way orchestratord renders it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Environment {
    /// Image repository; the tag is the version an action resolves. Default
    /// `materialize/materialized`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200), pattern(r"^[a-z0-9]+([._/:-][a-z0-9]+)*$"))]
    pub image: Option<String>,

    /// Secret in this namespace with keys `metadata_backend_url` and `persist_backend_url`
    /// (as orchestratord's `backendSecretName`). Passed to environmentd only as environment
    /// variables from the Secret, never copied. Required when the run starts an environmentd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub backend_secret_name: Option<String>,

    /// `--environment-id`. Default `scenariorun-<namespace>-<run uid>-0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200))]
    pub environment_id: Option<String>,

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

    /// Service account environmentd pods run as. Default: the namespace's `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub service_account_name: Option<String>,

    /// An environmentd StatefulSet that already exists (cloud scenarios whose first action is
    /// not StartMz). The run drives it but never deletes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adopt: Option<AdoptedEnvironment>,
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
