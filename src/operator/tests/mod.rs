//! The operator without a cluster: every action and whole plans driven through the step
//! machine against a scripted in-memory cluster (StatefulSet controller, kubelet and
//! environmentd's leader API and SQL in one fake), including a crash — the outcome of a pass
//! lost before its status write — at every pass of a zero-downtime scenario.

use std::{collections::BTreeMap, sync::Mutex};

use k8s_openapi::api::{
    apps::v1::StatefulSet,
    core::v1::{ConfigMap, Pod, Service},
};
use serde_json::json;

use super::{
    Error,
    actions::{self, Outcome, StepInput},
    checks::collect,
    clients::{LeaderStatus, PromoteAnswer},
    io::{CheckSql, Cluster},
    machine::{apply_outcome, plan_steps, start_step},
};
use crate::{
    api::v1alpha1::{CheckState, ScenarioRun, ScenarioRunSpec, ScenarioRunStatus, StepState},
    checks::runner::{Rows, SqlFailure},
    plan::{self, PlannedStep},
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

#[derive(Default)]
struct State {
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
    /// The last write-ahead status a pass saved (what survives a crash).
    saved: Option<ScenarioRunStatus>,
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

impl Cluster for FakeCluster {
    fn pod_ip_addresses(&self) -> bool {
        false
    }

    async fn apply_start(
        &self,
        _ns: &str,
        _cm: &ConfigMap,
        _svc: &Service,
        sts: &StatefulSet,
    ) -> Result<(), Error> {
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
                catching_up: read_only,
                restarting: false,
            },
        );
        Ok(())
    }

    async fn statefulset(&self, _ns: &str, name: &str) -> Result<Option<StatefulSet>, Error> {
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

    async fn pod(&self, _ns: &str, name: &str) -> Result<Option<Pod>, Error> {
        let st = self.state.lock().unwrap();
        let sts = name.trim_end_matches("-0");
        let Some((replicas, image, revision, _)) = st.sts.get(sts) else {
            return Ok(None);
        };
        if *replicas == 0 {
            return Ok(None);
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

    async fn scale_to_zero(&self, _ns: &str, sts: &str) -> Result<(), Error> {
        let mut st = self.state.lock().unwrap();
        if let Some(s) = st.sts.get_mut(sts) {
            s.0 = 0;
        }
        if let Some(e) = st.envs.get_mut(sts) {
            e.status = None;
        }
        Ok(())
    }

    async fn logs(&self, _ns: &str, _pod: &str) -> Result<Vec<(String, String)>, Error> {
        Ok(vec![("current.log".into(), "boot decision".into())])
    }

    async fn apply_configmap(&self, _ns: &str, cm: &ConfigMap) -> Result<(), Error> {
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
    ) -> Result<(), Error> {
        let mut st = self.state.lock().unwrap();
        let s = st.sts.get_mut(sts).expect("statefulset exists");
        s.1 = image.to_string();
        s.2 += 1;
        st.envs.get_mut(sts).unwrap().version = image_tag(image);
        Ok(())
    }

    async fn leader_status(&self, host: &str) -> Option<LeaderStatus> {
        let mut st = self.state.lock().unwrap();
        let env = st.envs.get_mut(&sts_of(host))?;
        if env.restarting {
            env.restarting = false;
            env.status = Some(LeaderStatus::IsLeader);
            return None;
        }
        let now = env.status;
        if env.catching_up {
            env.catching_up = false;
            env.status = Some(LeaderStatus::ReadyToPromote);
        }
        now
    }

    async fn promote(&self, host: &str) -> Result<PromoteAnswer, String> {
        let mut st = self.state.lock().unwrap();
        let sts = sts_of(host);
        *st.promote_posts.entry(sts.clone()).or_default() += 1;
        let env = st.envs.get_mut(&sts).ok_or("unreachable")?;
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

    async fn skip_catchup(&self, host: &str) -> Result<bool, String> {
        let mut st = self.state.lock().unwrap();
        let env = st.envs.get_mut(&sts_of(host)).ok_or("unreachable")?;
        env.catching_up = false;
        env.status = Some(LeaderStatus::ReadyToPromote);
        Ok(true)
    }

    async fn execute_sql(
        &self,
        host: &str,
        _system: bool,
        statements: &[&str],
    ) -> Result<(), String> {
        let mut st = self.state.lock().unwrap();
        let sts = sts_of(host);
        if st.envs.get(&sts).and_then(|e| e.status) != Some(LeaderStatus::IsLeader) {
            return Err(format!("{sts} is not a running leader"));
        }
        st.sql
            .extend(statements.iter().map(|s| (sts.clone(), s.to_string())));
        Ok(())
    }

    async fn mz_version(&self, host: &str) -> Result<String, String> {
        let st = self.state.lock().unwrap();
        let env = st.envs.get(&sts_of(host)).ok_or("unreachable")?;
        env.status
            .map(|_| env.version.clone())
            .ok_or_else(|| "connection refused".into())
    }

    async fn configmap(&self, _ns: &str, name: &str) -> Result<Option<ConfigMap>, Error> {
        Ok(self.state.lock().unwrap().configmaps.get(name).cloned())
    }

    async fn configmaps(&self, _ns: &str, selector: &str) -> Result<Vec<ConfigMap>, Error> {
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

    async fn save_status(
        &self,
        _run: &ScenarioRun,
        status: &ScenarioRunStatus,
    ) -> Result<(), Error> {
        self.state.lock().unwrap().saved = Some(status.clone());
        Ok(())
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

/// Drives a run to its end through the step machine. `crash_at`: the pass whose outcome is
/// lost (the operator died after acting, before writing status).
async fn drive(
    cluster: &FakeCluster,
    run: &ScenarioRun,
    crash_at: Option<usize>,
) -> ScenarioRunStatus {
    drive_counting(cluster, run, crash_at).await.0
}

/// As [`drive`], also returning how many action passes ran.
async fn drive_counting(
    cluster: &FakeCluster,
    run: &ScenarioRun,
    crash_at: Option<usize>,
) -> (ScenarioRunStatus, usize) {
    let plan = plan::plan(&run.spec).unwrap();
    let checks = collect(cluster, run, &plan).await.unwrap().unwrap();
    let mut status = ScenarioRunStatus {
        steps: plan_steps(&plan, &checks),
        ..Default::default()
    };
    let mut pass = 0;
    for _ in 0..5000 {
        let Some(index) = status
            .steps
            .iter()
            .position(|s| s.state != StepState::Succeeded)
        else {
            return (status, pass);
        };
        let planned: PlannedStep =
            serde_json::from_value(serde_json::Value::Object(status.steps[index].plan.clone()))
                .unwrap();
        let what = planned.action.label();
        match status.steps[index].state {
            StepState::Pending => {
                start_step(&mut status, index, &what, None);
                continue;
            }
            StepState::Failed => return (status, pass),
            _ => {}
        }
        let input = StepInput {
            run,
            status: &status,
            record: &status.steps[index],
            number: index + 1,
            action: &planned.action,
        };
        let outcome = actions::execute(cluster, input).await.unwrap();
        pass += 1;
        let saved = cluster.state.lock().unwrap().saved.take();
        if Some(pass) == crash_at {
            // What survives is the last status written: a write-ahead record, if any.
            if let Some(saved) = saved {
                status = saved;
            }
            continue;
        }
        apply_outcome(&mut status, index, &what, None, outcome);
    }
    panic!("the run did not end: {:?}", status.message);
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
    // Count the passes of a clean run, then lose the outcome of each one in turn.
    let (_, passes) = drive_counting(&FakeCluster::default(), &run, None).await;
    assert!(
        passes > 40,
        "a 16-step 0dt run takes many passes, got {passes}"
    );
    for crash_at in 1..=passes {
        let cluster = FakeCluster::default();
        let status = drive(&cluster, &run, Some(crash_at)).await;
        assert!(
            all_succeeded(&status),
            "crash at pass {crash_at}: {:?}",
            status.message
        );
        let posts = cluster.promote_posts();
        assert_eq!(posts.len(), 3, "crash at pass {crash_at}: {posts:?}");
        assert!(
            posts.values().all(|n| *n == 1),
            "crash at pass {crash_at}: promote sent twice: {posts:?}"
        );
        // ConfigureMz's statements are idempotent; a lost outcome may repeat one, never more.
        let statements = cluster.statements();
        for s in actions::CONFIGURE_STATEMENTS {
            let n = statements.iter().filter(|x| x == s).count();
            assert!(
                (1..=2).contains(&n),
                "crash at pass {crash_at}: {s} ran {n} times"
            );
        }
    }
}

#[tokio::test]
async fn promote_is_resent_only_when_the_leader_api_shows_it_never_arrived() {
    let run = run_of(spec(json!({"actions": [
        {"action": "StartMz", "mzService": "a"},
        {"action": "StartMz", "mzService": "b", "deployGeneration": 1},
        {"action": "WaitReadyMz", "mzService": "b"},
        {"action": "PromoteMz", "mzService": "b"},
    ]})));
    let cluster = FakeCluster::default();
    let mut status = drive(&cluster, &run, None).await;
    assert!(all_succeeded(&status));
    // Rewind PromoteMz to "promote-sent" (as if the operator died right after the POST): the
    // leader API now says IsLeader, so no second POST.
    let step = status
        .steps
        .iter_mut()
        .find(|s| s.plan["action"] == "PromoteMz")
        .unwrap();
    step.state = StepState::Running;
    step.progress = Some("promote-sent".into());
    let planned: PlannedStep =
        serde_json::from_value(serde_json::Value::Object(step.plan.clone())).unwrap();
    let record = step.clone();
    let input = StepInput {
        run: &run,
        status: &status,
        record: &record,
        number: 5,
        action: &planned.action,
    };
    let outcome = actions::execute(&cluster, input).await.unwrap();
    assert!(
        matches!(outcome, Outcome::Progress { ref marker, .. } if marker == "promoted"),
        "{outcome:?}"
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
