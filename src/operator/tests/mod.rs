//! The operator without a cluster: the real reconcile pass ([`super::reconcile::reconcile`])
//! driven against an in-memory cluster (apiserver store of the run, StatefulSet controller,
//! kubelet, environmentd's leader API and SQL in one fake), with a clock the test moves, and a
//! crash — the process dying just before or just after a status write — at every write of a
//! zero-downtime scenario.

use std::{collections::BTreeMap, sync::Mutex, time::Duration};

use k8s_openapi::{
    api::{
        apps::v1::StatefulSet,
        core::v1::{ConfigMap, Pod, Service, ServiceAccount},
        rbac::v1::RoleBinding,
    },
    apimachinery::pkg::apis::meta::v1::Time,
    jiff::Timestamp,
};
use serde_json::json;

use super::{
    actions,
    error::{KubeError, LeaderApiError, SqlError},
    io::{CheckSql, Environmentd, Kube, LeaderStatus, ProbeTarget, Probes, PromoteAnswer},
    outcome::{EventNote, Wake},
    reconcile::{After, reconcile, reconcile_cached},
};
use crate::{
    api::{
        names,
        v1alpha1::{
            CheckState, RunPhase, ScenarioRun, ScenarioRunSpec, ScenarioRunStatus, StepProbes,
            StepProgress, StepState,
        },
    },
    checks::runner::{Rows, SqlFailure},
    plan::{self, environment::SecretView},
};

/// One environmentd as the fake sees it.
#[derive(Debug, Clone)]
struct Env {
    version: String,
    /// `None` while down (killed, scaled to zero, restarting).
    status: Option<LeaderStatus>,
    /// Read-only generation not yet caught up: the next status poll makes it ReadyToPromote.
    catching_up: bool,
    /// Promoted and restarting: one poll unreachable, then IsLeader.
    restarting: bool,
}

/// When the fake operator process dies around a status write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Crash {
    /// The N-th status write is lost: everything the pass did before it happened, the write
    /// did not.
    Before(usize),
    /// The N-th status write is stored, then the process dies before doing anything else.
    After(usize),
}

#[derive(Default)]
struct State {
    /// The run as the apiserver stores it.
    run: Option<ScenarioRun>,
    /// Status writes so far, and the crash to inject at one of them.
    writes: usize,
    /// Reads of the run, and the resourceVersion the last status write returned.
    reads: usize,
    last_written: Option<String>,
    crash: Option<Crash>,
    events: Vec<EventNote>,
    /// Runs whose objects were deleted by cleanup.
    cleaned: Vec<String>,
    /// StatefulSet name → (replicas, image, revision, serviceName).
    sts: BTreeMap<String, (i32, String, u32, String)>,
    envs: BTreeMap<String, Env>,
    /// Every promote POST per StatefulSet.
    promote_posts: BTreeMap<String, u32>,
    /// Every SQL statement run, with the StatefulSet it ran on.
    sql: Vec<(String, String)>,
    configmaps: BTreeMap<String, ConfigMap>,
    /// Tables of the checks' tiny SQL engine: name → rows of one text column.
    tables: BTreeMap<String, Vec<String>>,
    /// StatefulSets whose read-only generation never catches up.
    stalled: Vec<String>,
    /// An apiserver refusal for the next apply (code, message).
    refuse_apply: Option<(u16, String)>,
    /// Every StatefulSet applied, in order.
    applied: Vec<StatefulSet>,
    /// environmentd ServiceAccounts applied (with their bindings).
    accounts: Vec<String>,
    /// environmentd refusing its configuration: (exit code, last log line) of every boot.
    crash_loop: Option<(i32, String)>,
    /// What the backend Secret shows (default: not permitted to read it).
    secret: Option<SecretView>,
    /// Names of the Secrets environmentd created (CREATE SECRET).
    user_secrets: Vec<String>,
    /// The client probe: the step it counts answers for, every target it was given (step,
    /// host), what it reports per step, and whether it was stopped.
    probing: Option<usize>,
    probe_targets: Vec<(usize, Option<String>)>,
    probe_reports: BTreeMap<usize, StepProbes>,
    probe_stopped: bool,
}

#[derive(Default)]
struct FakeCluster {
    state: Mutex<State>,
}

/// `<sts>-0.<svc>.<ns>.svc.cluster.local` → `<sts>`.
fn sts_of(host: &str) -> String {
    host.split_once("-0.")
        .map(|(s, _)| s.to_string())
        .unwrap_or_default()
}

fn image_tag(image: &str) -> String {
    image
        .rsplit_once(':')
        .map(|(_, t)| t.to_string())
        .unwrap_or_default()
}

impl FakeCluster {
    fn status(&self) -> ScenarioRunStatus {
        let st = self.state.lock().unwrap();
        st.run
            .as_ref()
            .and_then(|r| r.status.clone())
            .unwrap_or_default()
    }
    fn events(&self) -> Vec<EventNote> {
        self.state.lock().unwrap().events.clone()
    }
    fn writes(&self) -> usize {
        self.state.lock().unwrap().writes
    }
    fn configmap_names(&self) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .configmaps
            .keys()
            .cloned()
            .collect()
    }
    fn promote_posts(&self) -> BTreeMap<String, u32> {
        self.state.lock().unwrap().promote_posts.clone()
    }
    fn statements(&self) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .sql
            .iter()
            .map(|(_, s)| s.clone())
            .collect()
    }
    /// The read-only generation of `sts` never finishes catching up.
    fn stall_catch_up(&self, sts: &str) {
        self.state.lock().unwrap().stalled.push(sts.to_string());
    }
    /// An environmentd the run adopts, already running as leader.
    fn adopt(&self, sts: &str, version: &str) {
        let mut st = self.state.lock().unwrap();
        st.sts.insert(
            sts.into(),
            (
                1,
                format!("materialize/materialized:{version}"),
                1,
                sts.into(),
            ),
        );
        st.envs.insert(
            sts.into(),
            Env {
                version: version.into(),
                status: Some(LeaderStatus::IsLeader),
                catching_up: false,
                restarting: false,
            },
        );
    }
}

/// A new resourceVersion for a stored object, as the apiserver gives one on every write.
fn bump(meta: &mut kube::core::ObjectMeta) -> String {
    let n: u64 = meta
        .resource_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let next = (n + 1).to_string();
    meta.resource_version = Some(next.clone());
    next
}

fn crashed() -> KubeError {
    KubeError::Timeout {
        call: "the operator crashed".into(),
        limit: Duration::ZERO,
    }
}

impl Kube for FakeCluster {
    async fn run(&self, _ns: &str, _name: &str) -> Result<Option<ScenarioRun>, KubeError> {
        let mut st = self.state.lock().unwrap();
        st.reads += 1;
        Ok(st.run.clone())
    }

    fn is_own_last_write(&self, cached: &ScenarioRun) -> bool {
        let st = self.state.lock().unwrap();
        st.last_written.is_some() && st.last_written == cached.metadata.resource_version
    }

    async fn write_status(
        &self,
        run: &ScenarioRun,
        status: &ScenarioRunStatus,
    ) -> Result<Option<String>, KubeError> {
        let mut st = self.state.lock().unwrap();
        st.writes += 1;
        let n = st.writes;
        if st.crash == Some(Crash::Before(n)) {
            return Err(crashed());
        }
        let Some(stored) = st.run.as_mut() else {
            return Err(crashed());
        };
        // The apiserver's optimistic concurrency: a write from a stale read conflicts.
        if stored.metadata.resource_version != run.metadata.resource_version {
            return Err(KubeError::Api {
                call: "write status".into(),
                code: 409,
                reason: "Conflict".into(),
                message: "the object has been modified".into(),
            });
        }
        let version = bump(&mut stored.metadata);
        stored.status = Some(status.clone());
        // As the real client: a write that failed (even one that landed) is not remembered.
        st.last_written = None;
        if st.crash == Some(Crash::After(n)) {
            return Err(crashed());
        }
        st.last_written = Some(version.clone());
        Ok(Some(version))
    }

    async fn publish(&self, _run: &ScenarioRun, event: &EventNote) {
        self.state.lock().unwrap().events.push(event.clone());
    }

    async fn delete_run_objects(&self, _ns: &str, run: &str) -> Result<(), KubeError> {
        self.state.lock().unwrap().cleaned.push(run.to_string());
        Ok(())
    }

    async fn delete_environmentd_secrets(
        &self,
        _ns: &str,
        account: &str,
        prefix: &str,
    ) -> Result<Option<usize>, KubeError> {
        let mut st = self.state.lock().unwrap();
        // Cleanup deletes the account with the run's other objects.
        let deleted = st
            .cleaned
            .iter()
            .any(|r| names::environmentd_account(r) == account);
        if deleted || !st.accounts.iter().any(|a| a == account) {
            return Ok(None);
        }
        let before = st.user_secrets.len();
        st.user_secrets.retain(|s| !s.starts_with(prefix));
        Ok(Some(before - st.user_secrets.len()))
    }

    async fn set_finalizers(
        &self,
        _run: &ScenarioRun,
        finalizers: &[String],
    ) -> Result<(), KubeError> {
        let mut st = self.state.lock().unwrap();
        if let Some(run) = st.run.as_mut() {
            run.metadata.finalizers = Some(finalizers.to_vec());
            let version = bump(&mut run.metadata);
            st.last_written = Some(version);
        }
        Ok(())
    }

    async fn apply_access(
        &self,
        _ns: &str,
        sa: &ServiceAccount,
        _rb: &RoleBinding,
    ) -> Result<(), KubeError> {
        let name = sa.metadata.name.clone().unwrap();
        self.state.lock().unwrap().accounts.push(name);
        Ok(())
    }

    async fn apply_start(
        &self,
        _ns: &str,
        _cm: &ConfigMap,
        _svc: &Service,
        sts: &StatefulSet,
    ) -> Result<(), KubeError> {
        if let Some((code, message)) = self.state.lock().unwrap().refuse_apply.take() {
            return Err(KubeError::Api {
                call: "apply StatefulSet".into(),
                code,
                reason: "Invalid".into(),
                message,
            });
        }
        let name = sts.metadata.name.clone().unwrap();
        let spec = &sts.spec;
        let container = &spec.template.spec.as_ref().unwrap().containers[0];
        let image = container.image.clone().unwrap();
        let read_only = container
            .args
            .iter()
            .flatten()
            .any(|a| a.starts_with("--deploy-generation="));
        let mut st = self.state.lock().unwrap();
        st.applied.push(sts.clone());
        let stalled = st.stalled.contains(&name);
        let revision = st.sts.get(&name).map(|s| s.2 + 1).unwrap_or(1);
        st.sts.insert(
            name.clone(),
            (
                spec.replicas.unwrap_or(1),
                image.clone(),
                revision,
                name.clone(),
            ),
        );
        let status = Some(if read_only {
            LeaderStatus::Initializing
        } else {
            LeaderStatus::IsLeader
        });
        st.envs.insert(
            name,
            Env {
                version: image_tag(&image),
                status,
                catching_up: read_only && !stalled,
                restarting: false,
            },
        );
        Ok(())
    }

    async fn statefulset(&self, _ns: &str, name: &str) -> Result<Option<StatefulSet>, KubeError> {
        let st = self.state.lock().unwrap();
        Ok(st.sts.get(name).map(|(replicas, image, revision, service)| {
            serde_json::from_value(json!({
                "metadata": {"name": name, "generation": revision},
                "spec": {
                    "replicas": replicas, "serviceName": service, "selector": {},
                    "template": {"spec": {"containers": [{"name": "environmentd", "image": image}]}},
                },
                "status": {
                    "replicas": replicas, "observedGeneration": revision, "updatedReplicas": replicas,
                    "readyReplicas": replicas, "currentRevision": format!("rev-{revision}"),
                    "updateRevision": format!("rev-{revision}"),
                },
            }))
            .unwrap()
        }))
    }

    async fn pod(&self, _ns: &str, name: &str) -> Result<Option<Pod>, KubeError> {
        let st = self.state.lock().unwrap();
        let sts = name.trim_end_matches("-0");
        let Some((replicas, image, revision, _)) = st.sts.get(sts) else {
            return Ok(None);
        };
        if *replicas == 0 {
            return Ok(None);
        }
        if let Some((code, _)) = &st.crash_loop {
            return Ok(Some(
                serde_json::from_value(json!({
                    "metadata": {"name": name, "labels": {"controller-revision-hash": format!("rev-{revision}")}},
                    "status": {
                        "podIP": "10.0.0.1",
                        "conditions": [{"type": "Ready", "status": "False"}],
                        "containerStatuses": [{"name": "environmentd", "image": image, "imageID": "", "ready": false, "restartCount": 3,
                            "lastState": {"terminated": {"exitCode": code}}}],
                    },
                }))
                .unwrap(),
            ));
        }
        Ok(Some(
            serde_json::from_value(json!({
                "metadata": {"name": name, "labels": {"controller-revision-hash": format!("rev-{revision}")}},
                "status": {
                    "podIP": "10.0.0.1",
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "containerStatuses": [{"name": "environmentd", "image": image, "imageID": "", "ready": true, "restartCount": 0}],
                },
            }))
            .unwrap(),
        ))
    }

    async fn scale_to_zero(&self, _ns: &str, sts: &str) -> Result<(), KubeError> {
        let mut st = self.state.lock().unwrap();
        if let Some(s) = st.sts.get_mut(sts) {
            s.0 = 0;
        }
        if let Some(e) = st.envs.get_mut(sts) {
            e.status = None;
        }
        Ok(())
    }

    async fn logs(&self, _ns: &str, _pod: &str) -> Result<Vec<(String, String)>, KubeError> {
        let mut logs = vec![("current.log".to_string(), "boot decision".to_string())];
        if let Some((_, line)) = &self.state.lock().unwrap().crash_loop {
            logs.push(("previous.log".into(), format!("booting\n{line}\n")));
        }
        Ok(logs)
    }

    async fn apply_configmap(&self, _ns: &str, cm: &ConfigMap) -> Result<(), KubeError> {
        self.state
            .lock()
            .unwrap()
            .configmaps
            .insert(cm.metadata.name.clone().unwrap(), cm.clone());
        Ok(())
    }

    async fn set_image(
        &self,
        _ns: &str,
        sts: &str,
        _container: &str,
        image: &str,
        _args: Option<&[String]>,
    ) -> Result<(), KubeError> {
        let mut st = self.state.lock().unwrap();
        let s = st.sts.get_mut(sts).expect("statefulset exists");
        s.1 = image.to_string();
        s.2 += 1;
        st.envs.get_mut(sts).unwrap().version = image_tag(image);
        Ok(())
    }

    async fn backend_secret(&self, _ns: &str, _name: &str) -> Result<SecretView, KubeError> {
        Ok(self
            .state
            .lock()
            .unwrap()
            .secret
            .clone()
            .unwrap_or(SecretView::NotPermitted))
    }

    async fn configmap(&self, _ns: &str, name: &str) -> Result<Option<ConfigMap>, KubeError> {
        Ok(self.state.lock().unwrap().configmaps.get(name).cloned())
    }

    async fn frozen_configmap(
        &self,
        ns: &str,
        name: &str,
        _owner: &str,
    ) -> Result<Option<ConfigMap>, KubeError> {
        self.configmap(ns, name).await
    }

    async fn configmaps(&self, _ns: &str, selector: &str) -> Result<Vec<ConfigMap>, KubeError> {
        let (k, v) = selector.split_once('=').expect("k=v selector");
        Ok(self
            .state
            .lock()
            .unwrap()
            .configmaps
            .values()
            .filter(|cm| {
                cm.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(k))
                    .map(String::as_str)
                    == Some(v)
            })
            .cloned()
            .collect())
    }
}

fn unreachable(host: &str) -> LeaderApiError {
    LeaderApiError::Unreachable {
        url: format!("http://{host}:6878"),
        detail: "connection refused".into(),
    }
}

fn not_connected(host: &str) -> SqlError {
    SqlError::NotConnected {
        addr: format!("{host}:6877"),
        detail: "connection refused".into(),
    }
}

/// System parameters the fake environmentd has (Materialize refuses others).
const FAKE_PARAMETERS: &[&str] = &[
    "max_tables",
    "max_sinks",
    "max_sources",
    "max_materialized_views",
    "max_objects_per_schema",
    "max_secrets",
    "max_clusters",
    "enable_rbac_checks",
];

impl Environmentd for FakeCluster {
    fn pod_ip_addresses(&self) -> bool {
        false
    }

    async fn leader_status(&self, host: &str) -> Result<LeaderStatus, LeaderApiError> {
        let mut st = self.state.lock().unwrap();
        let env = st
            .envs
            .get_mut(&sts_of(host))
            .ok_or_else(|| unreachable(host))?;
        if env.restarting {
            env.restarting = false;
            env.status = Some(LeaderStatus::IsLeader);
            return Err(unreachable(host));
        }
        let now = env.status.ok_or_else(|| unreachable(host))?;
        if env.catching_up {
            env.catching_up = false;
            env.status = Some(LeaderStatus::ReadyToPromote);
        }
        Ok(now)
    }

    async fn promote(&self, host: &str) -> Result<PromoteAnswer, LeaderApiError> {
        let mut st = self.state.lock().unwrap();
        let sts = sts_of(host);
        *st.promote_posts.entry(sts.clone()).or_default() += 1;
        let env = st.envs.get_mut(&sts).ok_or_else(|| unreachable(host))?;
        match env.status {
            Some(LeaderStatus::ReadyToPromote) => {
                env.status = Some(LeaderStatus::Promoting);
                env.restarting = true;
                Ok(PromoteAnswer::Success)
            }
            Some(LeaderStatus::Promoting | LeaderStatus::IsLeader) => Ok(PromoteAnswer::Success),
            _ => Ok(PromoteAnswer::Failure(
                "cannot promote leader while initializing".into(),
            )),
        }
    }

    async fn skip_catchup(&self, host: &str) -> Result<bool, LeaderApiError> {
        let mut st = self.state.lock().unwrap();
        let env = st
            .envs
            .get_mut(&sts_of(host))
            .ok_or_else(|| unreachable(host))?;
        env.catching_up = false;
        env.status = Some(LeaderStatus::ReadyToPromote);
        Ok(true)
    }

    async fn execute_sql(
        &self,
        host: &str,
        _system: bool,
        statements: &[&str],
    ) -> Result<(), SqlError> {
        let mut st = self.state.lock().unwrap();
        let sts = sts_of(host);
        if st.envs.get(&sts).and_then(|e| e.status) != Some(LeaderStatus::IsLeader) {
            return Err(not_connected(host));
        }
        for s in statements {
            // Materialize's answer to ALTER SYSTEM SET of a parameter it does not have.
            if let Some(rest) = s.strip_prefix("ALTER SYSTEM SET ") {
                let name = rest.split_whitespace().next().unwrap_or_default();
                if !FAKE_PARAMETERS.contains(&name) {
                    return Err(SqlError::Refused {
                        statement: s.to_string(),
                        code: "42704".into(),
                        message: format!("unrecognized configuration parameter \"{name}\""),
                    });
                }
            }
            st.sql.push((sts.clone(), s.to_string()));
        }
        Ok(())
    }

    async fn mz_version(&self, host: &str) -> Result<String, SqlError> {
        let st = self.state.lock().unwrap();
        let env = st
            .envs
            .get(&sts_of(host))
            .ok_or_else(|| not_connected(host))?;
        env.status
            .map(|_| env.version.clone())
            .ok_or_else(|| not_connected(host))
    }
}

impl Probes for FakeCluster {
    fn probing(&self, _run: &str) -> Option<usize> {
        let st = self.state.lock().unwrap();
        let target = st.probe_targets.last().map(|(i, _)| *i);
        target.filter(|_| st.probing == target)
    }
    fn probe(&self, _run: &str, index: usize, target: ProbeTarget) {
        let mut st = self.state.lock().unwrap();
        st.probing = Some(index);
        st.probe_targets.push((index, target.host));
    }
    fn step_probes(&self, _run: &str, index: usize) -> Option<StepProbes> {
        let mut st = self.state.lock().unwrap();
        if st.probing != Some(index) {
            return None;
        }
        st.probing = Some(index + 1);
        st.probe_reports.get(&index).cloned()
    }
    fn stop_probe(&self, _run: &str) {
        let mut st = self.state.lock().unwrap();
        st.probing = None;
        st.probe_stopped = true;
    }
}

impl CheckSql for FakeCluster {
    /// A tiny SQL engine for checks: `CREATE TABLE t …`, `INSERT INTO t VALUES ('x')`,
    /// `SELECT * FROM t`; anything else fails.
    async fn check_sql(&self, _session: &str, host: &str, sql: &str) -> Result<Rows, SqlFailure> {
        let mut st = self.state.lock().unwrap();
        let sts = sts_of(host);
        if st.envs.get(&sts).and_then(|e| e.status) != Some(LeaderStatus::IsLeader) {
            return Err(SqlFailure::Lost(format!("{sts} is not a running leader")));
        }
        st.sql.push((sts, sql.to_string()));
        let words: Vec<&str> = sql.split_whitespace().collect();
        match words.as_slice() {
            ["CREATE", "TABLE", t, ..] => {
                if st.tables.contains_key(*t) {
                    return Err(SqlFailure::Db(format!("catalog item '{t}' already exists")));
                }
                st.tables.insert(t.to_string(), Vec::new());
                Ok(Rows::default())
            }
            ["INSERT", "INTO", t, "VALUES", v] => {
                let v = v.trim_matches(|c| "()'".contains(c)).to_string();
                let rows = st
                    .tables
                    .get_mut(*t)
                    .ok_or_else(|| SqlFailure::Db(format!("unknown catalog item '{t}'")))?;
                rows.push(v);
                Ok(Rows::default())
            }
            ["SELECT", "*", "FROM", t] => {
                let rows = st
                    .tables
                    .get(*t)
                    .ok_or_else(|| SqlFailure::Db(format!("unknown catalog item '{t}'")))?;
                Ok(Rows {
                    columns: vec!["v".into()],
                    rows: rows.iter().map(|r| vec![Some(r.clone())]).collect(),
                })
            }
            _ => Err(SqlFailure::Db(format!("the fake does not know {sql:?}"))),
        }
    }

    async fn postgres_execute(&self, _url: &str, statements: &[String]) -> Result<(), SqlFailure> {
        let mut st = self.state.lock().unwrap();
        st.sql.extend(
            statements
                .iter()
                .map(|s| ("internal".to_string(), s.clone())),
        );
        Ok(())
    }

    async fn end_session(&self, _session: &str) {}
}

fn spec(json: serde_json::Value) -> ScenarioRunSpec {
    let mut base = json!({
        "versions": {"current": "v26.3.0", "previous": ["v26.2.0", "v26.1.0", "v26.0.0", "v0.164.0"], "selfManaged": ["v26.1.0", "v26.0.0", "v0.147.20"]},
        "environment": {"backendSecretName": "backend"},
    });
    base.as_object_mut()
        .unwrap()
        .extend(json.as_object().unwrap().clone());
    serde_json::from_value(base).unwrap()
}

fn run_of(spec: ScenarioRunSpec) -> ScenarioRun {
    let mut run = ScenarioRun::new("fixture-run", spec);
    run.metadata.namespace = Some("ns".into());
    run.metadata.uid = Some("0000-uid".into());
    run
}

/// The fake clock's start.
fn t0() -> Timestamp {
    "2026-12-01T00:00:00Z".parse().unwrap()
}

/// Drives a run to its end through the real reconcile pass, as the controller would: a pass
/// that asks to be requeued runs again (the clock moving by the poll interval when it waits),
/// and a pass that fails (the injected crash) is followed by a fresh one, as after a restart.
async fn drive(
    cluster: &FakeCluster,
    run: &ScenarioRun,
    crash: Option<Crash>,
) -> ScenarioRunStatus {
    drive_from(cluster, run, crash, t0()).await.0
}

/// As [`drive`] from time `start`; also returns the time the run ended.
async fn drive_from(
    cluster: &FakeCluster,
    run: &ScenarioRun,
    crash: Option<Crash>,
    start: Timestamp,
) -> (ScenarioRunStatus, Timestamp) {
    {
        let mut st = cluster.state.lock().unwrap();
        st.run = Some(run.clone());
        st.crash = crash;
    }
    let mut now = start;
    for _ in 0..5000 {
        match reconcile(cluster, "ns", "fixture-run", now).await {
            Ok(After::AwaitChange) => return (cluster.status(), now),
            Ok(After::Now) => {}
            // Without a wake-up task, a watched wait ends at its fallback.
            Ok(After::Poll(d) | After::Watch { fallback: d, .. }) => {
                now = now.checked_add(d).unwrap()
            }
            Err(e) => assert!(
                crash.is_some(),
                "a pass failed without an injected crash: {e}"
            ),
        }
        now = now.checked_add(Duration::from_millis(10)).unwrap();
    }
    panic!("the run did not end: {:?}", cluster.status().message);
}

/// Every crash point of a run: before and after each status write a clean run makes.
async fn crash_points(run: &ScenarioRun) -> Vec<Crash> {
    let clean = FakeCluster::default();
    drive(&clean, run, None).await;
    (1..=clean.writes())
        .flat_map(|n| [Crash::Before(n), Crash::After(n)])
        .collect()
}

fn all_succeeded(status: &ScenarioRunStatus) -> bool {
    !status.steps.is_empty() && status.steps.iter().all(|s| s.state == StepState::Succeeded)
}

#[tokio::test]
async fn every_builtin_scenario_runs_to_success_on_the_fake_cluster() {
    for scenario in plan::catalogue::SCENARIOS {
        let mut extra = json!({"scenario": scenario.name});
        if scenario.name == "SystemVarChange" {
            extra["systemVarChanges"] =
                json!([{"name": "max_tables", "phase1Value": "1", "phase2Value": "2"}]);
        }
        if scenario.name == "CloudtestUpgrade" {
            extra["environment"] = json!({"backendSecretName": "backend", "adopt": {"statefulSetName": "envd", "version": "v26.2.0"}});
        }
        let run = run_of(spec(extra));
        let cluster = FakeCluster::default();
        cluster.adopt("envd", "v26.2.0");
        let status = drive(&cluster, &run, None).await;
        assert!(
            all_succeeded(&status),
            "{}: {:?}",
            scenario.name,
            status.message
        );
        // Every PromoteMz step is exactly one POST; every ConfigureMz statement runs once.
        let mut promotes: BTreeMap<String, u32> = BTreeMap::new();
        for s in status
            .steps
            .iter()
            .filter(|s| s.plan["action"] == "PromoteMz")
        {
            *promotes
                .entry(format!(
                    "fixture-run-{}",
                    s.plan["mzService"].as_str().unwrap()
                ))
                .or_default() += 1;
        }
        assert_eq!(cluster.promote_posts(), promotes, "{}", scenario.name);
        let statements = cluster.statements();
        for s in actions::CONFIGURE_STATEMENTS {
            assert_eq!(
                statements.iter().filter(|x| x == s).count(),
                1,
                "{}: {s}",
                scenario.name
            );
        }
        let expected = if scenario.name == "PreflightCheckRollback" {
            "v26.2.0"
        } else {
            "v26.3.0"
        };
        assert_eq!(
            status.current_version.as_deref(),
            Some(expected),
            "{}",
            scenario.name
        );
    }
}

#[tokio::test]
async fn a_crash_at_any_pass_of_a_zero_downtime_run_repeats_no_promote() {
    let run = run_of(spec(
        json!({"scenario": "ZeroDowntimeUpgradeEntireMzTwoVersions"}),
    ));
    // Every status write of a clean run, then the process dying just before and just after
    // each one in turn.
    let points = crash_points(&run).await;
    assert!(
        points.len() > 80,
        "a 16-step 0dt run writes status many times, got {} crash points",
        points.len()
    );
    for crash in points {
        let cluster = FakeCluster::default();
        let status = drive(&cluster, &run, Some(crash)).await;
        assert!(all_succeeded(&status), "{crash:?}: {:?}", status.message);
        let posts = cluster.promote_posts();
        assert_eq!(posts.len(), 3, "{crash:?}: {posts:?}");
        assert!(
            posts.values().all(|n| *n == 1),
            "{crash:?}: promote sent twice: {posts:?}"
        );
        // ConfigureMz's statements are idempotent; a lost outcome may repeat one, never more.
        let statements = cluster.statements();
        for s in actions::CONFIGURE_STATEMENTS {
            let n = statements.iter().filter(|x| x == s).count();
            assert!((1..=2).contains(&n), "{crash:?}: {s} ran {n} times");
        }
    }
}

/// A leader `a`, then a read-only `b` that is waited for and promoted.
fn promote_b() -> ScenarioRun {
    run_of(spec(json!({"actions": [
        {"action": "StartMz", "mzService": "a"},
        {"action": "StartMz", "mzService": "b", "deployGeneration": 1},
        {"action": "WaitReadyMz", "mzService": "b"},
        {"action": "PromoteMz", "mzService": "b"},
    ]})))
}

#[tokio::test]
async fn a_run_waiting_on_the_leader_api_asks_to_be_woken_by_it() {
    let run = promote_b();
    let cluster = FakeCluster::default();
    cluster.state.lock().unwrap().run = Some(run.clone());
    let mut now = t0();
    let mut watched = Vec::new();
    for _ in 0..500 {
        match reconcile(&cluster, "ns", "fixture-run", now).await.unwrap() {
            After::AwaitChange => break,
            After::Now => {}
            After::Poll(d) => now = now.checked_add(d).unwrap(),
            After::Watch { wake, fallback } => {
                let status = cluster.status();
                let step = status.steps.iter().find(|s| s.state == StepState::Running);
                watched.push((step.unwrap().plan["action"].clone(), wake));
                now = now.checked_add(fallback).unwrap();
            }
        }
    }
    assert!(
        all_succeeded(&cluster.status()),
        "{:?}",
        cluster.status().message
    );
    // The fake's b is ReadyToPromote by the time WaitReadyMz looks (StartMz's own poll moved
    // it on); PromoteMz then waits while b restarts as leader, woken by b answering at all.
    let b = |seen| Wake::LeaderStatus {
        host: "fixture-run-b-0.fixture-run-b.ns.svc.cluster.local".into(),
        seen,
    };
    assert_eq!(watched, vec![(json!("PromoteMz"), b(None))]);
    // b still catching up when WaitReadyMz first looks: woken by b leaving Initializing.
    let cluster = FakeCluster::default();
    cluster.state.lock().unwrap().run = Some(run.clone());
    let (mut now, mut reset) = (t0(), false);
    let first = loop {
        match reconcile(&cluster, "ns", "fixture-run", now).await.unwrap() {
            After::Watch { wake, .. } => break wake,
            After::AwaitChange => panic!("ended without a watched wait"),
            _ => {}
        }
        now = now.checked_add(Duration::from_millis(10)).unwrap();
        let waiting = cluster
            .status()
            .steps
            .iter()
            .any(|s| s.state == StepState::Running && s.plan["action"] == "WaitReadyMz");
        if waiting && !reset {
            let mut st = cluster.state.lock().unwrap();
            let env = st.envs.get_mut("fixture-run-b").unwrap();
            (env.status, env.catching_up, reset) = (Some(LeaderStatus::Initializing), true, true);
        }
    };
    assert_eq!(first, b(Some(LeaderStatus::Initializing)));
}

#[tokio::test]
async fn a_pass_starts_from_the_cache_only_when_it_holds_our_last_write() {
    let run = run_of(spec(json!({"actions": [
        {"action": "StartMz", "mzService": "a"},
        {"action": "KillMz", "mzService": "a"},
    ]})));
    let cluster = FakeCluster::default();
    cluster.state.lock().unwrap().run = Some(run.clone());
    let reads = || cluster.state.lock().unwrap().reads;
    // Nothing written yet: the cache's copy is not trusted.
    reconcile_cached(&cluster, "ns", "fixture-run", Some(&run), t0())
        .await
        .unwrap();
    assert_eq!(reads(), 1);
    // The cache caught up with that write: the next pass starts from it.
    let current = cluster.state.lock().unwrap().run.clone().unwrap();
    reconcile_cached(&cluster, "ns", "fixture-run", Some(&current), t0())
        .await
        .unwrap();
    assert_eq!(reads(), 1);
    // A copy older than our last write (the watch event not there yet) is read afresh.
    reconcile_cached(&cluster, "ns", "fixture-run", Some(&current), t0())
        .await
        .unwrap();
    assert_eq!(reads(), 2);
    // The run drives to its end either way.
    let status = drive(&cluster, &run, None).await;
    assert!(all_succeeded(&status), "{:?}", status.message);
}

#[tokio::test]
async fn promote_is_resent_only_when_the_leader_api_shows_it_never_arrived() {
    let run = promote_b();
    let cluster = FakeCluster::default();
    let mut status = drive(&cluster, &run, None).await;
    assert!(all_succeeded(&status));
    // Rewind PromoteMz to "promote-sent" (as if the operator died right after the POST): the
    // leader API now says IsLeader, so no second POST, and the step completes.
    let step = status
        .steps
        .iter_mut()
        .find(|s| s.plan["action"] == "PromoteMz")
        .unwrap();
    step.state = StepState::Running;
    step.progress = Some(StepProgress::PromoteSent);
    status.phase = Some(RunPhase::Running);
    let mut rewound = run.clone();
    rewound.status = Some(status);
    let status = drive(&cluster, &rewound, None).await;
    assert!(all_succeeded(&status), "{:?}", status.message);
    assert_eq!(cluster.promote_posts()["fixture-run-b"], 1);
}

#[tokio::test]
async fn an_unknown_progress_marker_fails_the_promote_instead_of_guessing() {
    let run = promote_b();
    let cluster = FakeCluster::default();
    let mut status = drive(&cluster, &run, None).await;
    let step = status.steps.last_mut().unwrap();
    step.state = StepState::Running;
    step.progress = Some(StepProgress::from_text("promote-snet"));
    status.phase = Some(RunPhase::Running);
    let mut rewound = run.clone();
    rewound.status = Some(status);
    let status = drive(&cluster, &rewound, None).await;
    assert_eq!(status.phase, Some(RunPhase::Failed));
    assert!(
        status
            .message
            .as_deref()
            .unwrap()
            .contains("step progress \"promote-snet\" is not one PromoteMz records"),
        "{:?}",
        status.message
    );
    assert_eq!(cluster.promote_posts()["fixture-run-b"], 1);
}

#[tokio::test]
async fn remaining_actions_do_what_they_name() {
    let run = run_of(spec(json!({"actions": [
        {"action": "StartMz", "mzService": "a"},
        {"action": "StartMz", "mzService": "b", "deployGeneration": 1},
        {"action": "SkipCatchup", "mzService": "b"},
        {"action": "PromoteMz", "mzService": "b"},
        {"action": "SystemVarChange", "name": "max_tables", "value": "7"},
        {"action": "KillMz", "mzService": "b", "captureLogs": true},
        {"action": "Sleep", "duration": "1ms"},
    ]})));
    let cluster = FakeCluster::default();
    let status = drive(&cluster, &run, None).await;
    assert!(all_succeeded(&status), "{:?}", status.message);
    assert!(
        cluster
            .statements()
            .contains(&"ALTER SYSTEM SET max_tables = '7'".to_string())
    );
    let kill = status
        .steps
        .iter()
        .find(|s| s.plan["action"] == "KillMz")
        .unwrap();
    assert!(
        kill.message
            .as_deref()
            .unwrap()
            .contains("logs in ConfigMap fixture-run-step"),
        "{kill:?}"
    );
    let configmaps = cluster.configmap_names();
    assert_eq!(configmaps.len(), 1, "{configmaps:?}");
    assert!(
        configmaps[0].starts_with("fixture-run-step"),
        "{configmaps:?}"
    );
    assert_eq!(
        cluster.state.lock().unwrap().sts["fixture-run-b"].0,
        0,
        "KillMz leaves the service scaled to zero"
    );

    // SetupSqlServerTesting fails honestly: there is no SQL Server here.
    let mut with_sql = spec(json!({"scenario": "NoRestartNoUpgrade"}));
    with_sql.features.sql_server = true;
    let status = drive(&FakeCluster::default(), &run_of(with_sql), None).await;
    let failed = status
        .steps
        .iter()
        .find(|s| s.state == StepState::Failed)
        .unwrap();
    assert_eq!(failed.plan["action"], "SetupSqlServerTesting");
    assert!(
        status
            .message
            .unwrap()
            .starts_with("step 2 (SetupSqlServerTesting materialized) failed")
    );
}

mod checks;
mod probes;

#[tokio::test]
async fn a_statement_materialize_refuses_fails_the_step_at_once_with_its_message() {
    let run = run_of(spec(json!({"actions": [
        {"action": "StartMz", "mzService": "a"},
        {"action": "SystemVarChange", "mzService": "a", "name": "no_such_parameter", "value": "1"},
    ]})));
    let cluster = FakeCluster::default();
    let (status, ended) = drive_from(&cluster, &run, None, t0()).await;
    assert_eq!(status.phase, Some(RunPhase::Failed));
    let message = status.message.as_deref().unwrap();
    assert!(
        message.starts_with(
            "step 3 (SystemVarChange a no_such_parameter=1) failed: a refused ALTER SYSTEM SET \
             no_such_parameter = '1': unrecognized configuration parameter \"no_such_parameter\" \
             (SQLSTATE 42704)"
        ),
        "{message}"
    );
    // Failed on its first try, not after the step's 10-minute limit.
    let took = ended.duration_since(t0());
    assert!(took.as_secs_f64() < 60.0, "took {took:?}");
}

#[tokio::test]
async fn an_object_the_apiserver_refuses_fails_the_step_with_its_message() {
    let run = run_of(spec(
        json!({"actions": [{"action": "StartMz", "mzService": "a"}]}),
    ));
    let cluster = FakeCluster::default();
    cluster.state.lock().unwrap().refuse_apply = Some((
        422,
        "spec.template.spec.containers[0].resources: Invalid value".into(),
    ));
    let status = drive(&cluster, &run, None).await;
    assert_eq!(status.phase, Some(RunPhase::Failed));
    assert!(
        status.message.as_deref().unwrap().contains(
            "failed: apply StatefulSet: the apiserver answered 422 Invalid: \
             spec.template.spec.containers[0].resources: Invalid value"
        ),
        "{:?}",
        status.message
    );
}

#[tokio::test]
async fn every_ending_publishes_an_event_and_cleans_up() {
    // An unreadable frozen plan (the path that used to end silently): an Event, and cleanup.
    let mut run = run_of(spec(json!({
        "actions": [{"action": "StartMz", "mzService": "a"}],
        "cleanup": {"onFailure": "Delete"},
    })));
    let planned = drive(&FakeCluster::default(), &run, None).await;
    let mut broken = planned.clone();
    broken.phase = Some(RunPhase::Running);
    broken.steps[1].state = StepState::Pending;
    broken.steps[1]
        .plan
        .insert("action".into(), json!("NoSuchAction"));
    run.status = Some(broken);
    let cluster = FakeCluster::default();
    let status = drive(&cluster, &run, None).await;
    assert_eq!(status.phase, Some(RunPhase::Failed));
    let events = cluster.events();
    let last = events.last().unwrap();
    assert_eq!(last.reason, "PlanUnreadable");
    assert!(
        last.note.starts_with("step 2 has an unreadable plan"),
        "{last:?}"
    );
    assert_eq!(cluster.state.lock().unwrap().cleaned, vec!["fixture-run"]);

    // A refused plan: PlanRefused, the run Failed, nothing created.
    let refused = run_of(spec(
        json!({"actions": [{"action": "PromoteMz", "mzService": "a"}]}),
    ));
    let cluster = FakeCluster::default();
    let status = drive(&cluster, &refused, None).await;
    assert_eq!(status.phase, Some(RunPhase::Failed));
    assert!(status.steps.is_empty());
    assert_eq!(cluster.events().last().unwrap().reason, "PlanRefused");
    assert!(cluster.state.lock().unwrap().sts.is_empty());
}

#[tokio::test]
async fn a_step_past_its_limit_fails_through_the_real_pass() {
    // WaitReadyMz on a generation that never catches up: it fails at its limit (here 1 minute
    // by the moving clock), naming what it waited for.
    let run = run_of(spec(json!({
        "actions": [
            {"action": "StartMz", "mzService": "a"},
            {"action": "StartMz", "mzService": "b", "deployGeneration": 1},
            {"action": "WaitReadyMz", "mzService": "b"},
        ],
        "timeouts": {"actions": {"WaitReadyMz": "1m"}},
    })));
    let cluster = FakeCluster::default();
    cluster.stall_catch_up("fixture-run-b");
    let (status, ended) = drive_from(&cluster, &run, None, t0()).await;
    assert_eq!(status.phase, Some(RunPhase::Failed));
    assert!(
        status.message.as_deref().unwrap().starts_with(
            "step 4 (WaitReadyMz b) failed: timed out after 60s (b reports Initializing)"
        ),
        "{:?}",
        status.message
    );
    let took = ended.duration_since(t0()).as_secs_f64();
    assert!((60.0..70.0).contains(&took), "took {took}s");
    assert_eq!(cluster.events().last().unwrap().reason, "StepFailed");
}

#[tokio::test]
async fn replace_renders_every_version_dependent_argument_for_the_new_tag() {
    let run = run_of(spec(json!({"actions": [
        {"action": "StartMz", "mzService": "a", "tag": "v26.2.0"},
        {"action": "ReplaceEnvironmentdStatefulSet", "mzService": "a", "newTag": "v26.3.0"},
    ]})));
    let cluster = FakeCluster::default();
    let status = drive(&cluster, &run, None).await;
    assert_eq!(
        status.phase,
        Some(RunPhase::Succeeded),
        "{:?}",
        status.message
    );
    let applied = cluster.state.lock().unwrap().applied.clone();
    let args = |sts: &StatefulSet| -> Vec<String> {
        let pod = sts.spec.template.spec.as_ref().unwrap();
        pod.containers[0].args.clone().unwrap()
    };
    let [first, second] = &applied[..] else {
        panic!("expected two applies, got {}", applied.len());
    };
    assert!(args(first).contains(&"--clusterd-image=materialize/clusterd:v26.2.0".to_string()));
    assert!(args(second).contains(&"--clusterd-image=materialize/clusterd:v26.3.0".to_string()));
    let image = &second.spec.template.spec.as_ref().unwrap().containers[0].image;
    assert_eq!(image.as_deref(), Some("materialize/environmentd:v26.3.0"));
}

#[tokio::test]
async fn a_kubernetes_start_gives_environmentd_its_own_account_once_per_start() {
    let run = run_of(spec(json!({"actions": [
        {"action": "StartMz", "mzService": "a"},
        {"action": "KillMz", "mzService": "a"},
        {"action": "StartMz", "mzService": "a"},
    ]})));
    let cluster = FakeCluster::default();
    let status = drive(&cluster, &run, None).await;
    assert_eq!(
        status.phase,
        Some(RunPhase::Succeeded),
        "{:?}",
        status.message
    );
    let st = cluster.state.lock().unwrap();
    assert_eq!(
        st.accounts,
        ["fixture-run-environmentd", "fixture-run-environmentd"]
    );
    let pod = st.applied[0].spec.template.spec.clone().unwrap();
    assert_eq!(
        pod.service_account_name.as_deref(),
        Some("fixture-run-environmentd")
    );
}

#[tokio::test]
async fn environmentd_refusing_its_configuration_fails_the_start_with_its_last_words() {
    let run = run_of(spec(
        json!({"actions": [{"action": "StartMz", "mzService": "a"}]}),
    ));
    let cluster = FakeCluster::default();
    let fatal = "environmentd: fatal: --license-key is required when running in Kubernetes";
    cluster.state.lock().unwrap().crash_loop = Some((101, fatal.into()));
    let (status, ended) = drive_from(&cluster, &run, None, t0()).await;
    assert_eq!(status.phase, Some(RunPhase::Failed));
    let message = status.message.unwrap();
    assert!(
        message.ends_with(&format!(
            "keeps exiting (exit code 101, 3 restarts): {fatal}"
        )),
        "{message}"
    );
    assert!(ended.duration_since(t0()).as_secs_f64() < 60.0);
    // A halt (exit 2) asks for a restart: waited out, not failed.
    let cluster = FakeCluster::default();
    cluster.state.lock().unwrap().crash_loop = Some((2, "halting".into()));
    let (status, _) = drive_from(&cluster, &run, None, t0()).await;
    assert!(status.message.unwrap().contains("timed out"));
}

#[tokio::test]
async fn a_start_waiting_on_its_pod_is_woken_by_the_pods_changes_not_polled() {
    let run = run_of(spec(
        json!({"actions": [{"action": "StartMz", "mzService": "a"}]}),
    ));
    let cluster = FakeCluster::default();
    // Not Ready (halted, restarting): a wait, not a failure.
    cluster.state.lock().unwrap().crash_loop = Some((2, "halting".into()));
    cluster.state.lock().unwrap().run = Some(run.clone());
    let mut now = t0();
    let mut waits = Vec::new();
    for _ in 0..20 {
        match reconcile(&cluster, "ns", "fixture-run", now).await.unwrap() {
            After::Now => {}
            other => {
                waits.push(other);
                break;
            }
        }
        now = now.checked_add(Duration::from_millis(10)).unwrap();
    }
    // The controller watches the run's pods and StatefulSets: the pass asks for no poll of
    // its own but the rare fallback.
    assert_eq!(
        waits,
        vec![After::Watch {
            wake: Wake::Objects,
            fallback: Duration::from_secs(10)
        }]
    );
    let message = cluster.status().steps[0].message.clone().unwrap();
    assert!(
        message.starts_with("waiting for fixture-run-a-0 to be Ready"),
        "{message}"
    );
    // The pod's change wakes the run; that pass finds it Ready and goes on.
    cluster.state.lock().unwrap().crash_loop = None;
    for _ in 0..50 {
        if reconcile(&cluster, "ns", "fixture-run", now).await.unwrap() == After::AwaitChange {
            break;
        }
    }
    let status = cluster.status();
    assert!(all_succeeded(&status), "{:?}", status.message);
    assert_eq!(status.steps[0].message.as_deref(), Some("a runs v26.3.0"));
}

#[tokio::test]
async fn a_backend_secret_without_a_needed_key_refuses_the_run_before_anything_is_created() {
    let run = run_of(spec(
        json!({"actions": [{"action": "StartMz", "mzService": "a"}]}),
    ));
    let cluster = FakeCluster::default();
    cluster.state.lock().unwrap().secret = Some(SecretView::Keys {
        keys: ["metadata_backend_url", "persist_backend_url"]
            .map(String::from)
            .into(),
        blob_scheme: Some("s3".into()),
    });
    let status = drive(&cluster, &run, None).await;
    assert_eq!(status.phase, Some(RunPhase::Failed));
    assert_eq!(
        status.message.as_deref(),
        Some(
            "the plan was refused: spec.environment.backendSecretName: Secret ns/backend has no \
             key license_key (runtime kubernetes needs a license key for StartMz v26.3.0)"
        )
    );
    let st = cluster.state.lock().unwrap();
    assert!(st.applied.is_empty() && st.accounts.is_empty() && st.sts.is_empty());
}

#[tokio::test]
async fn environmentd_secrets_go_with_the_run_and_its_finalizer_after_them() {
    let prefix = names::user_secret_prefix("0000-uid");
    let others = "sr-11111111-user-managed-u1".to_string();
    let secrets = vec![format!("{prefix}u1"), format!("{prefix}u4"), others.clone()];
    let finalizer = Some(vec![names::cleanup_finalizer()]);

    // Kept: the Secrets stay with the environment, the finalizer holds the run.
    let run = run_of(spec(json!({
        "actions": [{"action": "StartMz", "mzService": "a"}],
        "cleanup": {"onSuccess": "Keep"},
    })));
    let cluster = FakeCluster::default();
    cluster.state.lock().unwrap().user_secrets = secrets.clone();
    let status = drive(&cluster, &run, None).await;
    assert_eq!(status.phase, Some(RunPhase::Succeeded));
    let stored = cluster.state.lock().unwrap().run.clone().unwrap();
    assert_eq!(stored.metadata.finalizers, finalizer);
    assert_eq!(cluster.state.lock().unwrap().user_secrets, secrets);

    // Deleted: the run's Secrets go (not another run's), then the finalizer.
    let mut deleted = stored;
    deleted.metadata.deletion_timestamp = Some(Time(t0()));
    cluster.state.lock().unwrap().run = Some(deleted);
    let after = reconcile(&cluster, "ns", "fixture-run", t0())
        .await
        .unwrap();
    assert_eq!(after, After::AwaitChange);
    let (left, finalizers) = {
        let st = cluster.state.lock().unwrap();
        let run = st.run.clone().unwrap();
        (st.user_secrets.clone(), run.metadata.finalizers)
    };
    assert_eq!(left, vec![others.clone()]);
    assert_eq!(finalizers, Some(vec![]));
    let events = cluster.events();
    let last = events.last().unwrap();
    assert_eq!(last.reason, "SecretsDeleted");
    assert!(last.note.starts_with("deleted 2 Secrets"), "{last:?}");

    // Succeeded with cleanup Delete: deleted at the end, while environmentd's account exists.
    let run = run_of(spec(
        json!({"actions": [{"action": "StartMz", "mzService": "a"}]}),
    ));
    let cluster = FakeCluster::default();
    cluster.state.lock().unwrap().user_secrets = secrets.clone();
    let status = drive(&cluster, &run, None).await;
    assert_eq!(status.phase, Some(RunPhase::Succeeded));
    assert_eq!(cluster.state.lock().unwrap().user_secrets, vec![others]);
    assert_eq!(cluster.state.lock().unwrap().cleaned, vec!["fixture-run"]);

    // The emulator runtime makes no Secrets: no finalizer.
    let run = run_of(spec(json!({
        "environment": {"backendSecretName": "backend", "runtime": "emulator"},
        "actions": [{"action": "StartMz", "mzService": "a"}],
    })));
    let cluster = FakeCluster::default();
    drive(&cluster, &run, None).await;
    let stored = cluster.state.lock().unwrap().run.clone().unwrap();
    assert_eq!(stored.metadata.finalizers, None);
}

#[tokio::test]
async fn a_status_write_from_a_stale_read_conflicts_and_changes_nothing() {
    // Another process (a leader past its Lease) wrote since this pass read the run.
    let run = run_of(spec(
        json!({"actions": [{"action": "StartMz", "mzService": "a"}]}),
    ));
    let cluster = FakeCluster::default();
    cluster.state.lock().unwrap().run = Some(run.clone());
    let mut stale = run.clone();
    stale.metadata.resource_version = Some("41".into());
    let failed = ScenarioRunStatus {
        phase: Some(RunPhase::Failed),
        ..Default::default()
    };
    let err = cluster.write_status(&stale, &failed).await.unwrap_err();
    assert!(matches!(err, KubeError::Api { code: 409, .. }), "{err}");
    assert_eq!(cluster.status().phase, None);
    // The real pass threads each write's new version into the next: a whole run succeeds.
    let status = drive(&cluster, &run, None).await;
    assert_eq!(status.phase, Some(RunPhase::Succeeded));
}
