//! The controller: executes each ScenarioRun's plan step by step.
//!
//! Pipeline of one pass: read the run → plan once (frozen into status) → pick the current step
//! → mark it Running (written before acting) → one pass of the step ([`actions`]) → record the
//! outcome in status (and an Event) → requeue while waiting. Every irreversible act is preceded
//! by a status write, so a restarted operator resumes without repeating it.

pub mod actions;
pub mod checks;
pub mod clients;
pub mod io;
pub mod machine;
pub mod render;

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use k8s_openapi::{api::apps::v1::StatefulSet, jiff::Timestamp};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams},
    runtime::{
        Controller,
        controller::Action as Requeue,
        events::{Event, EventType, Recorder, Reporter},
        watcher,
    },
};
use serde_json::json;
use tracing::{info, warn};

use self::{
    actions::StepInput,
    machine::{fail_step, now, start_step, summarize},
};
use crate::{
    api::{
        FIELD_MANAGER, names,
        v1alpha1::{CleanupAction, RunPhase, ScenarioRun, ScenarioRunStatus, StepState},
    },
    plan::{self, PlannedStep},
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}

/// How the operator runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Watch one namespace, or all.
    pub namespace: Option<String>,
    /// Reach environmentd by pod IP instead of the pods' DNS names (for running the operator
    /// outside the cluster network).
    pub pod_ip_addresses: bool,
    /// Runs reconciled at once.
    pub concurrency: u16,
}

pub struct Context {
    pub client: Client,
    pub http: reqwest::Client,
    pub settings: Settings,
    recorder: Recorder,
    /// Check sessions by [`names::check_session`].
    sessions: clients::Sessions,
}

/// Default time limits: WaitReadyMz as platform-checks (900 s), everything else 10 minutes.
fn step_timeout(run: &ScenarioRun, action: &str) -> Duration {
    if let Some(d) = run.spec.timeouts.actions.get(action) {
        return (*d).into();
    }
    Duration::from_secs(if action == "WaitReadyMz" { 900 } else { 600 })
}

pub(crate) fn poll_interval(run: &ScenarioRun) -> Duration {
    run.spec
        .poll_interval
        .map(Duration::from)
        .unwrap_or(Duration::from_secs(1))
}

/// Starts the controller; returns when it stops (signal).
pub async fn run(client: Client, settings: Settings) -> Result<(), String> {
    let runs: Api<ScenarioRun> = match &settings.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    // Refuse to start without the CRD, with a message that says what to do.
    if let Err(e) = runs.list(&ListParams::default().limit(1)).await {
        return Err(format!(
            "cannot list ScenarioRuns ({e}); is the CRD installed? kubectl apply --server-side -f crds/"
        ));
    }
    let statefulsets: Api<StatefulSet> = match &settings.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let reporter = Reporter {
        controller: FIELD_MANAGER.into(),
        instance: std::env::var("HOSTNAME").ok(),
    };
    let ctx = Arc::new(Context {
        client: client.clone(),
        http: clients::http_client(),
        recorder: Recorder::new(client.clone(), reporter),
        settings: settings.clone(),
        sessions: Default::default(),
    });
    let owned = watcher::Config::default().labels(&format!(
        "{}={}",
        names::MANAGED_BY.0,
        names::MANAGED_BY.1
    ));
    info!(namespace = ?settings.namespace, "scenario-operator running");
    let pods: Api<k8s_openapi::api::core::v1::Pod> = match &settings.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    // Pods belong to StatefulSets, not to runs: map them back to their run by label, so a pod
    // becoming Ready or restarting wakes its run at once.
    let run_pods = watcher::Config::default().labels(&names::run_label());
    Controller::new(runs, watcher::Config::default())
        .owns(statefulsets, owned)
        .watches(pods, run_pods, |pod| {
            let run = pod.labels().get(&names::run_label())?.clone();
            Some(kube::runtime::reflector::ObjectRef::new(&run).within(&pod.namespace()?))
        })
        .with_config(kube::runtime::controller::Config::default().concurrency(settings.concurrency))
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|r| async move {
            match r {
                // A run deleted while a requeue was pending: nothing to do.
                Err(kube::runtime::controller::Error::ObjectNotFound(_)) | Ok(_) => {}
                Err(e) => warn!(error = %e, "reconcile failed"),
            }
        })
        .await;
    Ok(())
}

fn error_policy(_run: Arc<ScenarioRun>, error: &Error, _ctx: Arc<Context>) -> Requeue {
    warn!(%error, "will retry");
    Requeue::requeue(Duration::from_secs(2))
}

async fn publish(ctx: &Context, run: &ScenarioRun, type_: EventType, reason: &str, note: String) {
    let mut note = note;
    note.truncate(1024);
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &run.object_ref(&())).await {
        warn!(error = %e, "cannot publish event");
    }
}

/// Writes the whole status (merge patch: lists are replaced wholesale).
async fn write_status(
    ctx: &Context,
    run: &ScenarioRun,
    status: &ScenarioRunStatus,
) -> Result<(), Error> {
    let api: Api<ScenarioRun> =
        Api::namespaced(ctx.client.clone(), &run.namespace().unwrap_or_default());
    let patch = json!({ "status": status });
    api.patch_status(
        &run.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

/// Deletes what the run created once it ended, per `spec.cleanup` (never an adopted object).
async fn cleanup(ctx: &Context, run: &ScenarioRun, succeeded: bool) -> Result<(), Error> {
    let policy = if succeeded {
        run.spec.cleanup.on_success
    } else {
        run.spec.cleanup.on_failure
    };
    if policy != CleanupAction::Delete {
        return Ok(());
    }
    let ns = run.namespace().unwrap_or_default();
    let selector = format!("{}={}", names::run_label(), run.name_any());
    let lp = ListParams::default().labels(&selector);
    let sts: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), &ns);
    sts.delete_collection(&DeleteParams::background(), &lp)
        .await?;
    let svcs: Api<k8s_openapi::api::core::v1::Service> = Api::namespaced(ctx.client.clone(), &ns);
    for s in svcs.list(&lp).await? {
        let _ = svcs
            .delete(&s.name_any(), &DeleteParams::background())
            .await;
    }
    Ok(())
}

async fn reconcile(cached: Arc<ScenarioRun>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    // The watch cache can lag behind our own status writes; acting on a stale status would
    // repeat what the previous pass already did (a ConfigureMz statement, a step start). So
    // every pass starts from the apiserver's current object.
    let api: Api<ScenarioRun> =
        Api::namespaced(ctx.client.clone(), &cached.namespace().unwrap_or_default());
    let Some(run) = api.get_opt(&cached.name_any()).await? else {
        return Ok(Requeue::await_change());
    };
    let run = Arc::new(run);
    let generation = run.meta().generation;
    let mut status = run.status.clone().unwrap_or_default();
    let poll = poll_interval(&run);

    // Terminal runs only clean up (idempotent) and wait for deletion.
    if matches!(
        status.phase,
        Some(RunPhase::Succeeded | RunPhase::Failed | RunPhase::Cancelled)
    ) {
        cleanup(&ctx, &run, status.phase == Some(RunPhase::Succeeded)).await?;
        return Ok(Requeue::await_change());
    }

    // First pass: plan and freeze the plan into status.
    if status.steps.is_empty() {
        match plan::plan(&run.spec) {
            Err(errors) => {
                let message = format!("the plan was refused: {errors}");
                summarize(&mut status, generation, RunPhase::Failed, message.clone());
                write_status(&ctx, &run, &status).await?;
                publish(&ctx, &run, EventType::Warning, "PlanRefused", message).await;
                return Ok(Requeue::await_change());
            }
            Ok(p) => {
                let checks = match checks::collect(ctx.as_ref(), &run, &p).await? {
                    Ok(c) => c,
                    Err(errors) => {
                        let message = format!("the checks were refused: {}", errors.join("\n"));
                        summarize(&mut status, generation, RunPhase::Failed, message.clone());
                        write_status(&ctx, &run, &status).await?;
                        publish(&ctx, &run, EventType::Warning, "ChecksRefused", message).await;
                        return Ok(Requeue::await_change());
                    }
                };
                status.steps = machine::plan_steps(&p, &checks);
                status.started_at = Some(now());
                let message = format!("planned {} steps", status.steps.len());
                summarize(&mut status, generation, RunPhase::Running, message.clone());
                write_status(&ctx, &run, &status).await?;
                publish(&ctx, &run, EventType::Normal, "Planned", message).await;
                return Ok(Requeue::requeue(Duration::ZERO));
            }
        }
    }

    let Some(index) = status
        .steps
        .iter()
        .position(|s| !matches!(s.state, StepState::Succeeded | StepState::Skipped))
    else {
        let message = format!("all {} steps succeeded", status.steps.len());
        summarize(
            &mut status,
            generation,
            RunPhase::Succeeded,
            message.clone(),
        );
        write_status(&ctx, &run, &status).await?;
        publish(&ctx, &run, EventType::Normal, "Succeeded", message).await;
        cleanup(&ctx, &run, true).await?;
        return Ok(Requeue::await_change());
    };
    let planned: PlannedStep =
        match serde_json::from_value(serde_json::Value::Object(status.steps[index].plan.clone())) {
            Ok(p) => p,
            Err(e) => {
                let message = format!("step {} has an unreadable plan in status: {e}", index + 1);
                summarize(&mut status, generation, RunPhase::Failed, message.clone());
                write_status(&ctx, &run, &status).await?;
                return Ok(Requeue::await_change());
            }
        };
    let number = index + 1;
    let what = planned.action.label();

    // The whole run's time limit.
    let run_limit = run
        .spec
        .timeouts
        .run
        .map(Duration::from)
        .unwrap_or(Duration::from_secs(7200));
    if let Some(started) = &status.started_at
        && Duration::try_from(Timestamp::now().duration_since(started.0)).unwrap_or_default()
            > run_limit
    {
        let message = fail_step(
            &mut status,
            index,
            &what,
            generation,
            format!("the run exceeded its time limit of {run_limit:?}"),
        );
        write_status(&ctx, &run, &status).await?;
        publish(&ctx, &run, EventType::Warning, "Failed", message).await;
        cleanup(&ctx, &run, false).await?;
        return Ok(Requeue::await_change());
    }

    if status.steps[index].state == StepState::Pending {
        let message = start_step(&mut status, index, &what, generation);
        write_status(&ctx, &run, &status).await?;
        publish(&ctx, &run, EventType::Normal, "StepStarted", message).await;
        return Ok(Requeue::requeue(Duration::ZERO));
    }

    // Running: a step past its limit fails with what it was waiting for.
    let limit = step_timeout(&run, planned.action.kind().name());
    let step_started = status.steps[index]
        .started_at
        .as_ref()
        .map(|t| t.0)
        .unwrap_or_else(Timestamp::now);
    let elapsed =
        Duration::try_from(Timestamp::now().duration_since(step_started)).unwrap_or_default();
    if elapsed > limit {
        let last = status.steps[index].message.clone().unwrap_or_default();
        let message = fail_step(
            &mut status,
            index,
            &what,
            generation,
            format!("timed out after {limit:?} ({last})"),
        );
        write_status(&ctx, &run, &status).await?;
        publish(&ctx, &run, EventType::Warning, "StepFailed", message).await;
        cleanup(&ctx, &run, false).await?;
        return Ok(Requeue::await_change());
    }

    let input = StepInput {
        run: &run,
        status: &status,
        record: &status.steps[index],
        number,
        action: &planned.action,
    };
    let outcome = actions::execute(ctx.as_ref(), input).await?;
    let effect = machine::apply_outcome(&mut status, index, &what, generation, outcome);
    if effect.write {
        write_status(&ctx, &run, &status).await?;
    }
    for (type_, reason, note) in effect.events {
        publish(&ctx, &run, type_, reason, note).await;
    }
    match effect.next {
        machine::Next::Again => Ok(Requeue::requeue(Duration::ZERO)),
        machine::Next::Poll => Ok(Requeue::requeue(poll)),
        machine::Next::Finished => {
            cleanup(&ctx, &run, false).await?;
            Ok(Requeue::await_change())
        }
    }
}

#[cfg(test)]
mod tests;
