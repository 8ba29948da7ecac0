//! The operator's whole outside world as traits, and nothing else: the Kubernetes API
//! ([`Kube`]), environmentd's leader API and SQL ([`Environmentd`]), the checks' SQL
//! sessions ([`CheckSql`]) and the client probe ([`Probes`]). The real implementations live in `kube.rs` and `clients.rs`; the
//! tests implement them with an in-memory cluster, so the real reconcile pass runs without one.

use k8s_openapi::api::{
    apps::v1::StatefulSet,
    core::v1::{ConfigMap, Pod, Service, ServiceAccount},
    rbac::v1::RoleBinding,
};
use serde::Deserialize;

use super::{
    error::{KubeError, LeaderApiError, SqlError},
    outcome::EventNote,
};
use crate::{
    api::v1alpha1::{ScenarioRun, ScenarioRunStatus, StepProbes},
    checks::runner::{Rows, SqlFailure},
    plan::environment::SecretView,
};

/// `GET /api/leader/status`'s `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum LeaderStatus {
    Initializing,
    ReadyToPromote,
    Promoting,
    IsLeader,
}

/// What `POST /api/leader/promote` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromoteAnswer {
    Success,
    Failure(String),
}

/// The Kubernetes API, as the operator uses it. Every write is under the one field manager.
#[allow(async_fn_in_trait)]
pub trait Kube {
    /// The run as the apiserver has it now (`None` once deleted).
    async fn run(&self, namespace: &str, name: &str) -> Result<Option<ScenarioRun>, KubeError>;
    /// Whether `cached` (the watch cache's copy) is at the resourceVersion this process's own
    /// last write of it (status or finalizers) returned: then it is exactly what that write stored, and a pass
    /// may start from it without reading the run again.
    fn is_own_last_write(&self, cached: &ScenarioRun) -> bool;
    /// Replaces the run's whole status: the only way status is ever written. Only if the run
    /// is still at its `resourceVersion` (a conflict otherwise); returns the new one.
    async fn write_status(
        &self,
        run: &ScenarioRun,
        status: &ScenarioRunStatus,
    ) -> Result<Option<String>, KubeError>;
    /// Publishes an Event about the run (best effort: a lost Event never fails a pass).
    async fn publish(&self, run: &ScenarioRun, event: &EventNote);
    /// Server-side applies environmentd's ServiceAccount and its RoleBinding.
    async fn apply_access(
        &self,
        ns: &str,
        sa: &ServiceAccount,
        rb: &RoleBinding,
    ) -> Result<(), KubeError>;
    /// Server-side applies a start's ConfigMap, Service and StatefulSet.
    async fn apply_start(
        &self,
        ns: &str,
        cm: &ConfigMap,
        svc: &Service,
        sts: &StatefulSet,
    ) -> Result<(), KubeError>;
    async fn statefulset(&self, ns: &str, name: &str) -> Result<Option<StatefulSet>, KubeError>;
    async fn pod(&self, ns: &str, name: &str) -> Result<Option<Pod>, KubeError>;
    /// Replicas to 0 and the pod deleted with grace period 0.
    async fn scale_to_zero(&self, ns: &str, sts: &str) -> Result<(), KubeError>;
    /// The pod's current and previous container logs (tails), keyed `current.log`/`previous.log`.
    async fn logs(&self, ns: &str, pod: &str) -> Result<Vec<(String, String)>, KubeError>;
    async fn apply_configmap(&self, ns: &str, cm: &ConfigMap) -> Result<(), KubeError>;
    /// A new image (and, when given, new arguments) for one container of a StatefulSet.
    async fn set_image(
        &self,
        ns: &str,
        sts: &str,
        container: &str,
        image: &str,
        args: Option<&[String]>,
    ) -> Result<(), KubeError>;
    /// What the operator may know of a backend Secret: key names and the blob URL's scheme.
    async fn backend_secret(&self, ns: &str, name: &str) -> Result<SecretView, KubeError>;
    async fn configmap(&self, ns: &str, name: &str) -> Result<Option<ConfigMap>, KubeError>;
    /// A ConfigMap that cannot change once made (`immutable`, owned by `owner`, the run's
    /// uid: a run's frozen checks), read once and then kept by the process; every check pass
    /// reads it, and reading it again could only give the same answer.
    async fn frozen_configmap(
        &self,
        ns: &str,
        name: &str,
        owner: &str,
    ) -> Result<Option<ConfigMap>, KubeError>;
    /// ConfigMaps matching a label selector (string form).
    async fn configmaps(&self, ns: &str, selector: &str) -> Result<Vec<ConfigMap>, KubeError>;
    /// Deletes the StatefulSets and Services labelled with the run (never an adopted one, which
    /// does not carry the label).
    async fn delete_run_objects(&self, ns: &str, run: &str) -> Result<(), KubeError>;
    /// Deletes the Secrets environmentd created for the run's CREATE SECRETs (names starting
    /// with `prefix`), acting as environmentd's own `account` through a short-lived token: the
    /// operator holds no Secret rule and reads only names. How many; `None` if the account is
    /// gone.
    async fn delete_environmentd_secrets(
        &self,
        ns: &str,
        account: &str,
        prefix: &str,
    ) -> Result<Option<usize>, KubeError>;
    /// Sets the run's finalizers, unless the run changed since it was read (a conflict).
    async fn set_finalizers(
        &self,
        run: &ScenarioRun,
        finalizers: &[String],
    ) -> Result<(), KubeError>;
}

/// environmentd's leader API and SQL ports.
#[allow(async_fn_in_trait)]
pub trait Environmentd {
    /// Whether environmentd is reached by pod IP rather than DNS name.
    fn pod_ip_addresses(&self) -> bool;
    async fn leader_status(&self, host: &str) -> Result<LeaderStatus, LeaderApiError>;
    async fn promote(&self, host: &str) -> Result<PromoteAnswer, LeaderApiError>;
    /// `Ok(false)` while it is too early in initialization to skip catch-up.
    async fn skip_catchup(&self, host: &str) -> Result<bool, LeaderApiError>;
    /// Runs statements as `materialize` (`system: false`) or `mz_system`, in order, in one session.
    async fn execute_sql(
        &self,
        host: &str,
        system: bool,
        statements: &[&str],
    ) -> Result<(), SqlError>;
    /// `SELECT mz_version()`'s semver part.
    async fn mz_version(&self, host: &str) -> Result<String, SqlError>;
}

/// How check commands reach environmentd.
#[allow(async_fn_in_trait)]
pub trait CheckSql {
    /// One check command as `materialize` in the check's own session (kept between passes).
    async fn check_sql(&self, session: &str, host: &str, sql: &str) -> Result<Rows, SqlFailure>;
    /// testdrive's `$ postgres-execute`: a fresh connection, statements in order.
    async fn postgres_execute(&self, url: &str, statements: &[String]) -> Result<(), SqlFailure>;
    /// Closes a check's session.
    async fn end_session(&self, session: &str);
}

/// Whom a run's probe asks, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeTarget {
    /// environmentd's host (its SQL port is environmentd's own); `None`: no environmentd leads
    /// now, so every probe fails.
    pub host: Option<String>,
    pub interval: std::time::Duration,
    pub timeout: std::time::Duration,
    pub query: String,
}

/// Each run's client probe ([`super::probe`]). It runs beside the passes; a pass only tells it
/// which step is current and whom to ask, and takes a step's record when the step ends. Keyed
/// by `namespace/name`.
pub trait Probes {
    /// The step the run's probe was last pointed at ([`Probes::probe`]), if one runs and
    /// still counts answers for that step.
    fn probing(&self, run: &str) -> Option<usize>;
    /// Probe `target` for step `index` of `run`, starting the run's probe if none runs.
    fn probe(&self, run: &str, index: usize, target: ProbeTarget);
    /// Step `index` ended: what the probe saw during it (`None`: no probe counted for it).
    /// Answers from then on count for the next step.
    fn step_probes(&self, run: &str, index: usize) -> Option<StepProbes>;
    /// The run ended or is gone: its probe stops.
    fn stop_probe(&self, run: &str);
}

/// Everything a reconcile pass needs.
pub trait Cluster: Kube + Environmentd + CheckSql + Probes {}

impl<T: Kube + Environmentd + CheckSql + Probes> Cluster for T {}
