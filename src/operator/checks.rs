//! The IO half of a check step (Initialize / Manipulate / Validate): one pass sends each
//! picked check's commands until it finishes, must retry, or reaches the next command that is
//! not safe to repeat. Every decision is [`crate::checks::runner`]'s; this module only sends.
//!
//! A pass whose picked checks need a marker first returns [`Outcome::WriteAhead`] without
//! sending anything; the reconcile pass writes the markers and runs the step again at once,
//! telling it which markers are fresh. A restarted operator finds markers it did not just write,
//! and never sends such a command a second time.

use std::{collections::BTreeMap, time::Duration};

use futures::future::join_all;
use k8s_openapi::jiff::Timestamp;

use super::{
    check_sources::load_snapshot,
    error::Error,
    io::{CheckSql, Kube},
    outcome::{ChecksEnd, Outcome},
    render::RunRef,
};
use crate::{
    api::{
        names,
        v1alpha1::{CheckRecord, CheckState, ScenarioRun, ScenarioRunStatus},
    },
    checks::{
        library::Phase,
        runner::{self, SqlFailure, Verdict},
        script::{self, Command, substitute},
    },
    environmentd,
};

/// Checks running at once when the spec does not say.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// Pause between tries of a pass's waiting checks.
const RETRY_BACKOFF: Duration = Duration::from_millis(100);
/// How long a command is retried when the spec does not say: generous, because a result may
/// take a while to appear after a restart or under load (a run that sets nothing should not
/// fail for being on a busy machine).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// The variables scripts see, for environmentd at `host`.
pub fn variables(host: &str, seed: Option<u64>) -> BTreeMap<String, String> {
    let mut vars: BTreeMap<String, String> = environmentd::testdrive_addresses(host)
        .into_iter()
        .chain(crate::checks::library::arguments())
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    vars.insert("testdrive.seed".into(), seed.unwrap_or(0).to_string());
    vars
}

/// Sends one command; variables are known (checked when the check was compiled).
async fn send<C: CheckSql>(
    ctx: &C,
    session: &str,
    host: &str,
    vars: &BTreeMap<String, String>,
    command: &Command,
    before: &[Command],
    version: u64,
) -> Result<runner::Rows, SqlFailure> {
    let sub = |t: &str| substitute(t, vars).map_err(SqlFailure::Db);
    match command.unguarded() {
        Command::Query { sql, .. }
        | Command::Fail { sql, .. }
        | Command::SkipIf { sql, .. }
        | Command::SetFromSql { sql, .. }
        | Command::Explain { sql, .. } => ctx.check_sql(session, host, &sub(sql)?).await,
        Command::PostgresExecute {
            connection,
            statements,
            ..
        } => {
            let statements = statements
                .iter()
                .map(|s| sub(s))
                .collect::<Result<Vec<_>, _>>()?;
            let url = sub(&script::connection_url(before, connection, version))?;
            if !url.contains("://") {
                return Err(SqlFailure::Db(format!(
                    "connection '{connection}' not found (no $ postgres-connect name={connection} before)"
                )));
            }
            ctx.postgres_execute(&url, &statements)
                .await
                .map(|()| runner::Rows::default())
        }
        // Builtins that only set state: `run_check` reads them from the script.
        Command::Nop { .. }
        | Command::Set { .. }
        | Command::SetRegex { .. }
        | Command::SkipEnd { .. }
        | Command::PostgresConnect { .. }
        | Command::Sleep { .. }
        | Command::SetSqlTimeout { .. } => Ok(runner::Rows::default()),
        Command::Guarded { .. } => unreachable!("unguarded above"),
    }
}

/// Where and what one check runs in a pass.
pub struct Pass<'a> {
    pub session: String,
    pub host: &'a str,
    pub vars: &'a BTreeMap<String, String>,
    pub script: &'a [Command],
    /// The default retry timeout (`spec.checks.timeout`); `$ set-sql-timeout` changes it.
    pub timeout: Duration,
    /// `mz_version_num()` of the version the step's service runs (version guards); `None`
    /// when the run does not know it (an adopted environment without `adopt.version`).
    pub version: Option<u64>,
    /// `spec.checks.seed` (`$ random-sleep`).
    pub seed: u64,
}

/// Runs one check's commands until it finishes, must retry (one try: the step's pass decides
/// when to try again), or reaches an unmarked command that needs a marker. Returns the record
/// and whether it moved.
pub async fn run_check<C: CheckSql>(
    ctx: &C,
    p: Pass<'_>,
    mut record: CheckRecord,
    mut resumed: bool,
) -> (CheckRecord, bool) {
    let mut moved = false;
    loop {
        let k = record.done as usize;
        let Some(command) = p.script.get(k) else {
            runner::pass(&mut record, Timestamp::now());
            ctx.end_session(&p.session).await;
            return (record, true);
        };
        // Out of its version guard's range: skipped silently, as testdrive does.
        let version = match (p.version, command) {
            (Some(v), _) => v,
            (None, Command::Guarded { .. }) => {
                let why = "a version guard needs the version the service runs, which this run \
                           does not know (set spec.environment.adopt.version)"
                    .to_string();
                runner::fail(&mut record, command, why, Timestamp::now());
                ctx.end_session(&p.session).await;
                return (record, true);
            }
            // No guard so far: the guards before this command (none) decide nothing.
            (None, _) => 0,
        };
        if !script::applies(command, version) {
            runner::advance(&mut record);
            moved = true;
            resumed = false;
            continue;
        }
        if let Command::Sleep {
            duration, random, ..
        } = command.unguarded()
        {
            let wait = match random {
                true => runner::random_part(*duration, &record.name, k, p.seed),
                false => *duration,
            };
            // Not a wait in the pass: the check comes back to it, as to a retry.
            if !runner::slept(&mut record, command, wait, Timestamp::now()) {
                return (record, moved);
            }
            runner::advance(&mut record);
            moved = true;
            resumed = false;
            continue;
        }
        if runner::needs_marker(command) && record.sending != Some(record.done) {
            return (record, moved);
        }
        let before = &p.script[..k];
        let vars = match script::script_vars(before, p.vars, &record.vars, version) {
            Ok(v) => v,
            Err(why) => {
                runner::fail(&mut record, command, why, Timestamp::now());
                ctx.end_session(&p.session).await;
                return (record, true);
            }
        };
        let timeout = script::script_timeout(before, p.timeout, version);
        let expecting = match script::expecting(command, &vars) {
            Ok(c) => c,
            Err(why) => {
                runner::fail(&mut record, command, why, Timestamp::now());
                ctx.end_session(&p.session).await;
                return (record, true);
            }
        };
        let mut result = send(ctx, &p.session, p.host, &vars, command, before, version).await;
        if let Some((regex, replacement)) = script::script_regex(before, version) {
            result = runner::replace_matches(result, &regex, &replacement);
        }
        match runner::judge(&expecting, &result, resumed) {
            Verdict::Pass => {
                runner::advance(&mut record);
                moved = true;
                resumed = false;
            }
            Verdict::Read(value) => {
                if let Command::SetFromSql { var, .. } = command.unguarded() {
                    record.vars.insert(var.clone(), value);
                }
                runner::advance(&mut record);
                moved = true;
                resumed = false;
            }
            Verdict::Skip => {
                let to = script::skip_end(p.script, k);
                while (record.done as usize) < to {
                    runner::advance(&mut record);
                }
                moved = true;
                resumed = false;
            }
            Verdict::Retry(why) => {
                if runner::retry(&mut record, command, why, Timestamp::now(), timeout) {
                    ctx.end_session(&p.session).await;
                    return (record, true);
                }
                return (record, moved);
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
    pub status: &'a ScenarioRunStatus,
    /// 0-based index of the step; its check records are `status.steps[index].checks`.
    pub index: usize,
    pub host: &'a str,
    /// How long the pass retries its checks before it records them and ends (a pass per try
    /// would write status, and wake the run, as fast as it can). Between tries the pass gives
    /// its reconcile slot back ([`super::slot::idle`]).
    pub retry_for: Duration,
    /// The version the step's service runs (version guards).
    pub version: Option<&'a crate::version::MzVersion>,
    pub now: Timestamp,
    /// Checks whose markers this pass wrote and has not sent yet.
    pub fresh: &'a [String],
}

/// One pass of a check step.
pub async fn step<C: Kube + CheckSql>(
    ctx: &C,
    s: StepCtx<'_>,
    phase: Phase,
) -> Result<Outcome, Error> {
    let r = RunRef::of(s.run);
    let snapshot_name = names::checks_configmap(r.name);
    let Some(cm) = ctx
        .frozen_configmap(r.namespace, &snapshot_name, r.uid)
        .await?
    else {
        return Ok(Outcome::Failed(format!(
            "the run's frozen checks (ConfigMap {snapshot_name}) are gone"
        )));
    };
    let skip_unavailable = s
        .run
        .spec
        .checks
        .as_ref()
        .is_some_and(|c| c.skip_unavailable);
    let checks = match load_snapshot(&cm, skip_unavailable) {
        Ok(c) => c,
        Err(e) => return Ok(Outcome::Failed(e)),
    };
    let spec = s.run.spec.checks.clone().unwrap_or_default();
    let concurrency = spec
        .concurrency
        .map(usize::from)
        .unwrap_or(DEFAULT_CONCURRENCY);
    let mut records = s.status.steps[s.index].checks.clone();
    let version = s.version.map(script::guard::version_num);
    let prepared = runner::prepare(
        &mut records,
        &checks,
        phase,
        concurrency,
        s.fresh,
        version,
        s.now,
    );
    if !prepared.marked.is_empty() {
        // Write-ahead: the commands about to be sent are on record before they are sent.
        return Ok(Outcome::WriteAhead {
            records,
            fresh: prepared.marked,
        });
    }
    let vars = variables(s.host, spec.seed);
    let timeout = spec.timeout.map(Duration::from).unwrap_or(DEFAULT_TIMEOUT);
    let started = tokio::time::Instant::now();
    loop {
        // One try of every active check, at once; a round where none got further (all wait
        // for Materialize) is tried again after a pause, without a slot, while time remains.
        let work = prepared.active.iter().map(|&(i, script, resumed)| {
            let pass = Pass {
                session: names::check_session(r.namespace, r.name, s.index + 1, &records[i].name),
                host: s.host,
                vars: &vars,
                script,
                timeout,
                version,
                seed: spec.seed.unwrap_or_default(),
            };
            let record = records[i].clone();
            async move { (i, run_check(ctx, pass, record, resumed).await) }
        });
        let mut moved = false;
        for (i, (record, m)) in join_all(work).await {
            records[i] = record;
            moved |= m;
        }
        let end = ends(&records, moved);
        if moved
            || !matches!(end, ChecksEnd::Running { .. })
            || started.elapsed() + RETRY_BACKOFF > s.retry_for
        {
            return Ok(Outcome::Checks { records, end });
        }
        super::slot::idle(RETRY_BACKOFF).await;
    }
}

fn ends(records: &[CheckRecord], moved: bool) -> ChecksEnd {
    if records.iter().any(|r| !r.state.finished()) {
        ChecksEnd::Running { moved }
    } else if records.iter().any(|r| r.state == CheckState::Failed) {
        ChecksEnd::Failed(runner::failure_summary(records))
    } else {
        ChecksEnd::Passed(runner::summary(records))
    }
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
