//! The IO half of checks: collecting a run's checks when it starts (inline and ConfigMaps),
//! freezing them in a snapshot ConfigMap, and one pass of an Initialize / Manipulate / Validate
//! step. Every decision is [`crate::checks::runner`]'s; this module only sends and stores.
//!
//! A pass: pick up to `concurrency` unfinished checks; record, in one status write, the commands
//! about to be sent that are not safe to repeat; then run each check's commands until it
//! finishes, must retry, or reaches the next such command. A restarted operator finds those
//! records and never sends such a command a second time.

use std::{collections::BTreeMap, time::Duration};

use futures::future::join_all;
use k8s_openapi::{
    api::core::v1::ConfigMap, apimachinery::pkg::apis::meta::v1::LabelSelector, jiff::Timestamp,
};
use serde_json::json;

use super::{
    Error,
    actions::Outcome,
    io::{CheckSql, Cluster},
    render::RunRef,
};
use crate::{
    api::{
        names,
        v1alpha1::{CheckRecord, CheckState, ScenarioRun},
    },
    checks::{
        library::{self, Check, Phase, Snapshot},
        runner::{self, SqlFailure, Verdict},
        script::{Command, substitute},
    },
    plan::{Plan, action::INTERNAL_HTTP_PORT},
};

/// Checks running at once when the spec does not say.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// Pause between tries of a command within a pass.
const RETRY_BACKOFF: Duration = Duration::from_millis(100);
/// How long a command is retried when the spec does not say: generous, because a result may
/// take a while to appear after a restart or under load (a run that sets nothing should not
/// fail for being on a busy machine).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

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

/// The checks in a ConfigMap, one per `*.yaml`/`*.yml` key, keys in order.
fn from_configmap(cm: &ConfigMap) -> Result<Vec<Check>, Vec<String>> {
    let name = cm.metadata.name.clone().unwrap_or_default();
    let data = cm.data.clone().unwrap_or_default();
    let (mut checks, mut errors) = (Vec::new(), Vec::new());
    for (key, text) in &data {
        if !(key.ends_with(".yaml") || key.ends_with(".yml")) {
            continue;
        }
        match library::from_yaml(text, &format!("configmap/{name}:{key}")) {
            Ok(c) => checks.push(c),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if checks.is_empty() && errors.is_empty() {
        errors.push(format!(
            "ConfigMap {name} holds no checks (no key ends in .yaml or .yml)"
        ));
    }
    if errors.is_empty() {
        Ok(checks)
    } else {
        Err(errors)
    }
}

/// The run's checks as records for each check step, or why the run must be refused. Reads the
/// snapshot if an earlier pass made it; otherwise collects, arranges and freezes.
pub async fn collect<C: Cluster>(
    ctx: &C,
    run: &ScenarioRun,
    plan: &Plan,
) -> Result<Result<Vec<CheckRecord>, Vec<String>>, Error> {
    let Some(spec) = &run.spec.checks else {
        return Ok(Ok(Vec::new()));
    };
    let r = RunRef::of(run);
    let snapshot_name = names::checks_configmap(r.name);
    let checks = match ctx.configmap(r.namespace, &snapshot_name).await? {
        Some(cm) => {
            let ours = cm
                .metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.uid == r.uid);
            if !ours {
                return Ok(Err(vec![format!(
                    "ConfigMap {snapshot_name} exists and does not belong to this run; the run \
                     keeps its frozen checks there"
                )]));
            }
            match load_snapshot(&cm) {
                Ok(c) => c,
                Err(e) => return Ok(Err(vec![e])),
            }
        }
        None => {
            let (mut checks, mut errors) = (Vec::new(), Vec::new());
            for (i, c) in spec.inline.iter().enumerate() {
                match library::compile(c, "inline") {
                    Ok(c) => checks.push(c),
                    Err(e) => errors.push(format!("spec.checks.inline[{i}]: {e}")),
                }
            }
            for (i, name) in spec.config_maps.iter().enumerate() {
                match ctx.configmap(r.namespace, name).await? {
                    None => errors.push(format!(
                        "spec.checks.configMaps[{i}]: ConfigMap {name} not found in namespace {}",
                        r.namespace
                    )),
                    Some(cm) => match from_configmap(&cm) {
                        Ok(mut c) => checks.append(&mut c),
                        Err(mut e) => errors.append(&mut e),
                    },
                }
            }
            if let Some(sel) = &spec.selector {
                let selector = selector_string(sel);
                let mut cms = ctx.configmaps(r.namespace, &selector).await?;
                cms.retain(|cm| {
                    let n = cm.metadata.name.as_deref().unwrap_or_default();
                    !spec.config_maps.iter().any(|c| c == n) && n != snapshot_name
                });
                cms.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
                if cms.is_empty() {
                    errors.push(format!(
                        "spec.checks.selector: no ConfigMap in namespace {} matches {selector:?}",
                        r.namespace
                    ));
                }
                for cm in &cms {
                    match from_configmap(cm) {
                        Ok(mut c) => checks.append(&mut c),
                        Err(mut e) => errors.append(&mut e),
                    }
                }
            }
            if !errors.is_empty() {
                return Ok(Err(errors));
            }
            let checks = match library::arrange(checks, &spec.include, spec.seed) {
                Ok(c) => c,
                Err(e) => return Ok(Err(e)),
            };
            ctx.apply_configmap(r.namespace, &snapshot(&r, &checks))
                .await?;
            checks
        }
    };
    Ok(Ok(checks
        .iter()
        .map(|c| match library::skip_reason(c, plan) {
            Some(why) => CheckRecord::new(c.name(), CheckState::Skipped, Some(why)),
            None => CheckRecord::new(c.name(), CheckState::Pending, None),
        })
        .collect()))
}

fn snapshot(run: &RunRef, checks: &[Check]) -> ConfigMap {
    let text = serde_json::to_string_pretty(&Snapshot::of(checks)).expect("serializable");
    let mut labels = BTreeMap::from([(names::run_label(), run.name.to_string())]);
    labels.insert(names::MANAGED_BY.0.into(), names::MANAGED_BY.1.into());
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {
            "name": names::checks_configmap(run.name), "namespace": run.namespace,
            "labels": labels, "ownerReferences": [run.owner()],
        },
        "immutable": true,
        "data": { names::CHECKS_KEY: text },
    }))
    .expect("valid ConfigMap")
}

fn load_snapshot(cm: &ConfigMap) -> Result<Vec<Check>, String> {
    let name = cm.metadata.name.clone().unwrap_or_default();
    let text = cm
        .data
        .as_ref()
        .and_then(|d| d.get(names::CHECKS_KEY))
        .ok_or_else(|| format!("ConfigMap {name} has no {}", names::CHECKS_KEY))?;
    let snapshot: Snapshot =
        serde_json::from_str(text).map_err(|e| format!("ConfigMap {name}: {e}"))?;
    snapshot
        .compile()
        .map_err(|e| format!("ConfigMap {name}: {e}"))
}

/// The variables scripts see, for environmentd at `host`.
pub fn variables(host: &str, seed: Option<u64>) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "testdrive.materialize-sql-addr".into(),
            format!("{host}:6875"),
        ),
        (
            "testdrive.materialize-internal-sql-addr".into(),
            format!("{host}:6877"),
        ),
        (
            "testdrive.materialize-http-addr".into(),
            format!("{host}:6876"),
        ),
        (
            "testdrive.materialize-internal-http-addr".into(),
            format!("{host}:{INTERNAL_HTTP_PORT}"),
        ),
        ("testdrive.materialize-user".into(), "materialize".into()),
        ("testdrive.seed".into(), seed.unwrap_or(0).to_string()),
    ])
}

/// Sends one command; variables are known (checked when the check was compiled).
async fn send<C: CheckSql>(
    ctx: &C,
    session: &str,
    host: &str,
    vars: &BTreeMap<String, String>,
    command: &Command,
) -> Result<runner::Rows, SqlFailure> {
    let sub = |t: &str| substitute(t, vars).map_err(SqlFailure::Db);
    match command {
        Command::Query { sql, .. } | Command::Fail { sql, .. } => {
            ctx.check_sql(session, host, &sub(sql)?).await
        }
        Command::PostgresExecute {
            connection,
            statements,
            ..
        } => {
            let statements = statements
                .iter()
                .map(|s| sub(s))
                .collect::<Result<Vec<_>, _>>()?;
            ctx.postgres_execute(&sub(connection)?, &statements)
                .await
                .map(|()| runner::Rows::default())
        }
    }
}

/// Where and what one check runs in a pass.
pub struct Pass<'a> {
    pub session: String,
    pub host: &'a str,
    pub vars: &'a BTreeMap<String, String>,
    pub script: &'a [Command],
    pub timeout: Duration,
    /// How long a failing command is retried within this pass before the pass records it and
    /// ends (a pass per try would write status, and wake the run, as fast as it can).
    pub retry_for: Duration,
}

/// Runs one check's commands until it finishes, must retry, or reaches an unmarked command
/// that needs a marker. Returns the record and whether it moved.
pub async fn run_check<C: CheckSql>(
    ctx: &C,
    p: Pass<'_>,
    mut record: CheckRecord,
    mut resumed: bool,
) -> (CheckRecord, bool) {
    let mut moved = false;
    let started = tokio::time::Instant::now();
    loop {
        let k = record.done as usize;
        let Some(command) = p.script.get(k) else {
            runner::pass(&mut record, Timestamp::now());
            ctx.end_session(&p.session).await;
            return (record, true);
        };
        if runner::needs_marker(command) && record.sending != Some(record.done) {
            return (record, moved);
        }
        let result = send(ctx, &p.session, p.host, p.vars, command).await;
        match runner::judge(command, &result, resumed) {
            Verdict::Pass => {
                runner::advance(&mut record);
                moved = true;
                resumed = false;
            }
            Verdict::Retry(why) => {
                if runner::retry(&mut record, command, why, Timestamp::now(), p.timeout) {
                    ctx.end_session(&p.session).await;
                    return (record, true);
                }
                if started.elapsed() + RETRY_BACKOFF > p.retry_for {
                    return (record, moved);
                }
                tokio::time::sleep(RETRY_BACKOFF).await;
            }
            Verdict::Fail(why) => {
                runner::fail(&mut record, command, why, Timestamp::now());
                ctx.end_session(&p.session).await;
                return (record, true);
            }
        }
    }
}

/// Context of a check step's pass.
pub struct StepCtx<'a> {
    pub run: &'a ScenarioRun,
    pub status: &'a crate::api::v1alpha1::ScenarioRunStatus,
    /// 0-based index of the step; its check records are `status.steps[index].checks`.
    pub index: usize,
    pub host: &'a str,
    /// In-pass retry window (the run's poll interval).
    pub retry_for: Duration,
}

/// One pass of a check step.
pub async fn step<C: Cluster>(ctx: &C, s: StepCtx<'_>, phase: Phase) -> Result<Outcome, Error> {
    let mut records = s.status.steps[s.index].checks.clone();
    let r = RunRef::of(s.run);
    let spec = s.run.spec.checks.clone().unwrap_or_default();
    let snapshot_name = names::checks_configmap(r.name);
    let Some(cm) = ctx.configmap(r.namespace, &snapshot_name).await? else {
        return Ok(Outcome::Failed(format!(
            "the run's frozen checks (ConfigMap {snapshot_name}) are gone"
        )));
    };
    let checks = match load_snapshot(&cm) {
        Ok(c) => c,
        Err(e) => return Ok(Outcome::Failed(e)),
    };
    let concurrency = spec
        .concurrency
        .map(usize::from)
        .unwrap_or(DEFAULT_CONCURRENCY);
    let timeout = spec.timeout.map(Duration::from).unwrap_or(DEFAULT_TIMEOUT);
    let vars = variables(s.host, spec.seed);
    let now = Timestamp::now();
    let retry_for = s.retry_for;

    let unfinished = |r: &CheckRecord| !r.state.finished();
    let active: Vec<usize> = (0..records.len())
        .filter(|&i| unfinished(&records[i]))
        .take(concurrency)
        .collect();
    let mut resumed = vec![false; records.len()];
    let mut marked = false;
    let mut scripts: Vec<Option<&[Command]>> = vec![None; records.len()];
    for &i in &active {
        let Some(check) = checks.iter().find(|c| c.name() == records[i].name) else {
            records[i].state = CheckState::Failed;
            records[i].reason = Some("not among the run's frozen checks".into());
            continue;
        };
        runner::begin(&mut records[i], now);
        let script = check.script(phase);
        scripts[i] = Some(script);
        let Some(command) = script.get(records[i].done as usize) else {
            continue;
        };
        if records[i].sending == Some(records[i].done) {
            resumed[i] = runner::resume(&mut records[i], command, now);
        } else if runner::needs_marker(command) {
            records[i].sending = Some(records[i].done);
            marked = true;
        }
    }
    if marked {
        // Write-ahead: the commands about to be sent are on record before they are sent.
        let mut status = s.status.clone();
        status.steps[s.index].checks = records.clone();
        ctx.save_status(s.run, &status).await?;
    }
    let work = active.iter().filter_map(|&i| {
        let script = scripts[i]?;
        unfinished(&records[i]).then(|| {
            let pass = Pass {
                session: names::check_session(r.namespace, r.name, s.index + 1, &records[i].name),
                host: s.host,
                vars: &vars,
                script,
                timeout,
                retry_for,
            };
            let record = records[i].clone();
            let resumed = resumed[i];
            async move { (i, run_check(ctx, pass, record, resumed).await) }
        })
    });
    let mut moved = false;
    for (i, (record, m)) in join_all(work).await {
        records[i] = record;
        moved |= m;
    }
    let end = if records.iter().any(unfinished) {
        None
    } else if records.iter().any(|r| r.state == CheckState::Failed) {
        Some(Err(runner::failure_summary(&records)))
    } else {
        Some(Ok(runner::summary(&records)))
    };
    Ok(Outcome::Checks {
        records,
        end,
        moved,
    })
}

/// Runs one check's script to its end without a status store, marking each unrepeatable
/// command just before sending it, and retrying every `retry_interval` like the operator's
/// passes do. For tests and tools that talk to an environmentd directly.
pub async fn run_to_end<C: CheckSql>(
    sql: &C,
    name: &str,
    pass: Pass<'_>,
    retry_interval: Duration,
) -> CheckRecord {
    let mut record = CheckRecord::new(name, CheckState::Pending, None);
    runner::begin(&mut record, Timestamp::now());
    loop {
        if let Some(c) = pass.script.get(record.done as usize)
            && runner::needs_marker(c)
        {
            record.sending = Some(record.done);
        }
        let p = Pass {
            session: pass.session.clone(),
            ..pass
        };
        let (next, moved) = run_check(sql, p, record, false).await;
        record = next;
        if record.state != CheckState::Running {
            return record;
        }
        if !moved {
            tokio::time::sleep(retry_interval).await;
        }
    }
}
