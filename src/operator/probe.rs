//! The client probe (IO): one small task per running run that asks the environment's current
//! leader a query every interval, as an application would, on one kept connection that it
//! opens again after any failure, and tallies the answers per step ([`crate::downtime`]).
//!
//! A pass tells the probe which step is current and whom to ask ([`Prober::probe`]); when a
//! step ends the pass takes its tally into the step's record ([`Prober::step_probes`]). The
//! probe never writes status itself, so it adds no apiserver traffic. Its counts live in this
//! process: after an operator restart, the current step's record covers only the time since
//! (its `since` says from when).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use k8s_openapi::jiff::Timestamp;
use tokio::{task::AbortHandle, time::MissedTickBehavior};

use super::{
    clients,
    context::Context,
    io::{ProbeTarget, Probes},
    metrics,
};
use crate::{
    api::v1alpha1::{ProbeSpec, StepProbes},
    downtime::{ProbeResult, RunTally},
};

/// Defaults of `spec.probe`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(100);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// How environmentd lists the probe's sessions (`mz_sessions`, logs).
const APPLICATION: &str = "scenario-operator-probe";

/// The probe's settings from `spec.probe`, asking `host`.
pub fn target(spec: &ProbeSpec, host: Option<String>) -> ProbeTarget {
    ProbeTarget {
        host,
        interval: spec.interval.map_or(DEFAULT_INTERVAL, Duration::from),
        timeout: spec.timeout.map_or(DEFAULT_TIMEOUT, Duration::from),
        query: match &spec.table {
            Some(table) => format!("SELECT count(*) FROM {table}"),
            None => "SELECT 1".into(),
        },
    }
}

/// What a run's task and the passes share.
struct Shared {
    tally: Mutex<RunTally>,
    /// Whom to ask, and the step a pass said so for.
    target: Mutex<(usize, ProbeTarget)>,
}

struct RunProbe {
    shared: Arc<Shared>,
    task: AbortHandle,
}

/// Every run's probe.
#[derive(Default)]
pub struct Prober {
    runs: Mutex<HashMap<String, RunProbe>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Prober {
    pub fn probing(&self, run: &str) -> Option<usize> {
        let runs = lock(&self.runs);
        let probe = runs.get(run).filter(|p| !p.task.is_finished())?;
        // Pointed at a step and counting for it: after a step ends the two differ until a
        // pass points it at the next, and after a status write that failed (the step's end
        // not recorded) until a pass points it at that step again.
        let target = lock(&probe.shared.target).0;
        (lock(&probe.shared.tally).index == target).then_some(target)
    }

    pub fn probe(&self, run: &str, index: usize, target: ProbeTarget) {
        let mut runs = lock(&self.runs);
        if let Some(p) = runs.get(run).filter(|p| !p.task.is_finished()) {
            *lock(&p.shared.target) = (index, target);
            // A step whose end this process did not see (it ended elsewhere, or its record
            // was taken by a pass whose write then failed): answers count for this one now.
            lock(&p.shared.tally).index = index;
            return;
        }
        let shared = Arc::new(Shared {
            tally: Mutex::new(RunTally::new(index, Timestamp::now())),
            target: Mutex::new((index, target)),
        });
        let task = tokio::spawn(run_probe(shared.clone())).abort_handle();
        if let Some(old) = runs.insert(run.to_string(), RunProbe { shared, task }) {
            old.task.abort();
        }
    }

    pub fn step_probes(&self, run: &str, index: usize) -> Option<StepProbes> {
        let runs = lock(&self.runs);
        let mut tally = lock(&runs.get(run)?.shared.tally);
        (tally.index == index).then(|| tally.end_step(Timestamp::now()))
    }

    pub fn stop(&self, run: &str) {
        if let Some(old) = lock(&self.runs).remove(run) {
            old.task.abort();
        }
    }

    /// Probes running (the tests check that a stopped run leaves none).
    pub fn running(&self) -> usize {
        lock(&self.runs)
            .values()
            .filter(|p| !p.task.is_finished())
            .count()
    }
}

/// One run's probe, until aborted: every interval (later if a probe takes longer), one probe.
async fn run_probe(shared: Arc<Shared>) {
    let interval = lock(&shared.target).1.interval;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut conn = None;
    loop {
        ticker.tick().await;
        let target = lock(&shared.target).1.clone();
        let sent = Timestamp::now();
        let result = probe_once(&mut conn, &target).await;
        metrics::probed(result.is_ok());
        lock(&shared.tally).record(sent, result);
    }
}

/// A kept connection and the host it goes to.
type Conn = Option<(String, tokio_postgres::Client)>;

/// One probe: connect if there is no usable connection to the target, then the query, all
/// within the timeout. Any failure drops the connection, so the next probe connects afresh,
/// as a pooled client would.
pub async fn probe_once(conn: &mut Conn, target: &ProbeTarget) -> ProbeResult {
    let Some(host) = &target.host else {
        *conn = None;
        return Err("no environmentd is leader now".into());
    };
    let started = Instant::now();
    let answer = tokio::time::timeout(
        target.timeout,
        ask(conn, host, &target.query, target.timeout),
    )
    .await;
    let result = match answer {
        Ok(Ok(())) => return Ok(started.elapsed()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("no answer within {:?}", target.timeout)),
    };
    *conn = None;
    result
}

async fn ask(conn: &mut Conn, host: &str, query: &str, limit: Duration) -> Result<(), String> {
    let usable = matches!(conn, Some((h, c)) if h == host && !c.is_closed());
    if !usable {
        *conn = None;
        let client = clients::connect(host, false, limit, APPLICATION)
            .await
            .map_err(|e| e.to_string())?;
        *conn = Some((host.to_string(), client));
    }
    let Some((_, client)) = conn else {
        unreachable!("connected above")
    };
    client
        .simple_query(query)
        .await
        .map(drop)
        .map_err(|e| format!("{query}: {}", clients::db_message(&e)))
}

impl Probes for Context {
    fn probing(&self, run: &str) -> Option<usize> {
        self.probes.probing(run)
    }
    fn probe(&self, run: &str, index: usize, target: ProbeTarget) {
        self.probes.probe(run, index, target)
    }
    fn step_probes(&self, run: &str, index: usize) -> Option<StepProbes> {
        self.probes.step_probes(run, index)
    }
    fn stop_probe(&self, run: &str) {
        self.probes.stop(run)
    }
}
