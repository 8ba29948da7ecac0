//! The controller: executes each ScenarioRun's plan step by step.
//!
//! A pass is observe → decide → act → commit ([`reconcile`]): the decision is pure
//! ([`decide`]), status changes are pure ([`transition`]), and every IO call goes through the
//! traits in [`io`]. Every irreversible act is preceded by a status write, so a restarted
//! operator resumes without repeating it.
//!
//! Modules depend one way: `reconcile` → `actions` → `checks` → `check_sources` → `render`,
//! all of them → `io`/`outcome`/`error` (leaves); `kube` and `clients` implement `io` for the
//! [`context::Context`]; nothing imports this file's items. Beside the controller, this file
//! starts the process's servers — `health` (probes), `webhook` (admission) — and waits for
//! the Lease (`leader`) before reconciling.

pub mod actions;
pub mod check_sources;
pub mod checks;
pub mod clients;
pub mod context;
pub mod decide;
pub mod error;
pub mod health;
pub mod io;
pub mod kube;
pub mod leader;
pub mod metrics;
pub mod outcome;
pub mod probe;
pub mod reconcile;
pub mod render;
pub mod slot;
pub mod transition;
pub mod wake;
pub mod webhook;

use std::{sync::Arc, time::Duration};

use ::kube::{
    Api, Client, ResourceExt,
    api::ListParams,
    runtime::{
        Controller,
        controller::{self, Action as Requeue},
        events::{Recorder, Reporter},
        reflector::ObjectRef,
        watcher,
    },
};
use futures::StreamExt;
use k8s_openapi::{
    api::{apps::v1::StatefulSet, core::v1::Pod},
    jiff::Timestamp,
};
use tracing::{Instrument, error, info, warn};

pub use self::context::{Context, Settings, WebhookSettings};
use self::{
    error::{Class, Error},
    reconcile::After,
};
use crate::api::{FIELD_MANAGER, names, v1alpha1::ScenarioRun};

/// Retry delay after a pass the apiserver refused (a permission or an invalid status): not
/// soon, but not never either, since an administrator may fix the permission.
const REFUSED_RETRY: Duration = Duration::from_secs(300);

/// The passes of a run not started yet that follow each other in one first-pass slot
/// ([`reconcile_run`]): finalizer, plan, the first step's start.
const FIRST_PASSES: usize = 3;

fn api<K>(client: &Client, namespace: &Option<String>) -> Api<K>
where
    K: ::kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Starts the controller; returns when it stops (signal).
pub async fn run(config: ::kube::Config, settings: Settings) -> Result<(), String> {
    let client = Client::try_from(config.clone())
        .map_err(|e| format!("cannot build a Kubernetes client: {e}"))?;
    let runs: Api<ScenarioRun> = api(&client, &settings.namespace);
    // Refuse to start without the CRD, with a message that says what to do.
    if let Err(e) = runs.list(&ListParams::default().limit(1)).await {
        return Err(format!(
            "cannot list ScenarioRuns ({e}); is the CRD installed? kubectl apply --server-side -f crds/"
        ));
    }
    let reporter = Reporter {
        controller: FIELD_MANAGER.into(),
        instance: std::env::var("HOSTNAME").ok(),
    };
    let tls = match &settings.webhook {
        Some(w) => Some(webhook_tls(client.clone(), w).await?),
        None => None,
    };
    let ca_pending = tls.as_ref().is_some_and(|t| t.ca_pem.is_some());
    let health = Arc::new(health::Health::new(ca_pending));
    if let Some(addr) = settings.health_addr {
        health::serve(addr, health.clone()).await?;
    }
    if let (Some(w), Some(tls)) = (&settings.webhook, &tls) {
        webhook::serve(w.addr, tls).await?;
        if w.cert_dir.is_some() {
            tokio::spawn(webhook::keep_reloading(
                tls.clone(),
                webhook::RELOAD_INTERVAL,
            ));
        }
        if let Some(ca) = tls.ca_pem.clone() {
            let (client, name, health) = (client.clone(), w.configuration.clone(), health.clone());
            tokio::spawn(async move {
                webhook::keep_ca(client, &name, &ca, || health.set_webhook_ready()).await
            });
        }
    }
    let recorder = Recorder::new(client.clone(), reporter);
    let ctx = Arc::new(Context::new(
        client.clone(),
        config,
        recorder,
        settings.clone(),
    ));
    let owned = watcher::Config::default().labels(&format!(
        "{}={}",
        names::MANAGED_BY.0,
        names::MANAGED_BY.1
    ));
    // Pods belong to StatefulSets, not to runs: map them back to their run by label, so a pod
    // becoming Ready or restarting wakes its run at once.
    let run_pods = watcher::Config::default().labels(&names::run_label());
    let held = match &settings.lease {
        Some(lease) => {
            health.set_standby();
            Some(leader::acquire(client.clone(), lease).await?)
        }
        None => None,
    };
    info!(namespace = ?settings.namespace, "scenario-operator running");
    let controller = Controller::new(runs, watcher::Config::default());
    let store = controller.store();
    let _ = ctx.store.set(store.clone());
    health.set_phases(move || {
        let mut phases = std::collections::BTreeMap::new();
        for run in store.state() {
            let phase = run.status.as_ref().and_then(|s| s.phase);
            let phase = phase.map_or("Pending".to_string(), |p| format!("{p:?}"));
            *phases.entry(phase).or_insert(0) += 1;
        }
        phases
    });
    health.set_ready();
    tokio::spawn({
        let ctx = ctx.clone();
        async move {
            stop_signal().await;
            slot::close(&ctx.passes);
            slot::close(&ctx.first_passes);
        }
    });
    controller
        .owns(api::<StatefulSet>(&client, &settings.namespace), owned)
        .watches(api::<Pod>(&client, &settings.namespace), run_pods, |pod| {
            let run = pod.labels().get(&names::run_label())?.clone();
            Some(ObjectRef::new(&run).within(&pod.namespace()?))
        })
        .reconcile_on(ctx.wakers.stream())
        // Unbounded here: passes are admitted by ctx.passes, in arrival order (`slot`).
        .with_config(controller::Config::default().concurrency(0))
        .shutdown_on_signal()
        .run(reconcile_run, error_policy, ctx.clone())
        .for_each(|r| {
            let ctx = ctx.clone();
            async move {
                match r {
                    // A run deleted while a requeue was pending: nothing of it is kept.
                    Err(controller::Error::ObjectNotFound(obj)) => {
                        let key = format!("{}/{}", obj.namespace.unwrap_or_default(), obj.name);
                        ctx.wakers.cancel(&key);
                        ctx.forget(&key);
                    }
                    Ok(_) => {}
                    Err(e) => warn!(error = %e, "reconcile failed"),
                }
            }
        })
        .await;
    if let Some(held) = held {
        held.release().await;
    }
    Ok(())
}

/// SIGTERM or Ctrl-C: what the controller's own shutdown listens for too.
async fn stop_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// The webhook's certificate: cert-manager's from a directory, or issued for its hosts from
/// the CA the replicas share (or, without `--webhook-ca-secret`, one of this process's own).
async fn webhook_tls(client: Client, w: &WebhookSettings) -> Result<webhook::Tls, String> {
    if let Some(dir) = &w.cert_dir {
        return webhook::Tls::from_dir(dir);
    }
    if w.hosts.is_empty() {
        return Err(
            "--webhook-addr without --webhook-cert-dir needs --webhook-host: the names the \
             apiserver reaches the webhook by (e.g. scenario-operator-webhook.<ns>.svc)"
                .into(),
        );
    }
    let ca = match &w.ca_secret {
        Some((ns, name)) => webhook::shared_ca(client, ns, name).await?,
        None => webhook::CaPem::generate()?,
    };
    webhook::Tls::issue(&ca, &w.hosts)
}

/// The controller's entry: a [`reconcile::reconcile`] pass at the current time, in a slot.
///
/// A run that has not started takes the first-pass lane ([`Context::first_passes`]), and there
/// its passes follow each other while the run moves on at once ([`After::Now`]), up to
/// [`FIRST_PASSES`]: finalizer, plan, first step's start. Requeued, each would wait behind the
/// queue again for a few writes' work. Later passes take one slot each, in arrival order.
async fn reconcile_run(cached: Arc<ScenarioRun>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    let (ns, name) = (cached.namespace().unwrap_or_default(), cached.name_any());
    let span = tracing::info_span!("reconcile", run = %name, namespace = %ns);
    let first = !cached.status.as_ref().is_some_and(|s| {
        s.steps
            .iter()
            .any(|step| step.state != crate::api::v1alpha1::StepState::Pending)
    });
    let (lane, passes_in_slot) = if first {
        (ctx.first_passes.clone(), FIRST_PASSES)
    } else {
        (ctx.passes.clone(), 1)
    };
    let passes = async {
        let (mut from, mut n) = (Some(cached.clone()), 0);
        loop {
            n += 1;
            // The time is taken once the pass has its slot, not when it was queued.
            let (now, started) = (Timestamp::now(), std::time::Instant::now());
            let result =
                reconcile::reconcile_cached(ctx.as_ref(), &ns, &name, from.as_deref(), now)
                    .instrument(span.clone())
                    .await;
            let outcome = match &result {
                Ok(_) => "ok",
                Err(Error::Kube(e)) if e.class() == Class::Refused => "refused",
                Err(_) => "transient",
            };
            metrics::reconciled(outcome, started.elapsed().as_secs_f64());
            if n == passes_in_slot || !matches!(result, Ok(After::Now)) {
                return result;
            }
            // The watch cache's copy serves if it already holds what the pass wrote;
            // otherwise the next pass reads the run.
            from = ctx
                .store
                .get()
                .and_then(|s| s.get(&ObjectRef::new(&name).within(&ns)));
        }
    };
    let Some((waited, result)) = slot::hold(lane, passes).await else {
        // Shutting down before a slot came free: the next leader takes the run from here.
        return Ok(Requeue::await_change());
    };
    metrics::pass_waited(waited.as_secs_f64());
    let key = context::run_key(&cached);
    let after = match result {
        Ok(after) => after,
        Err(e) => {
            ctx.wakers.cancel(&key);
            return Err(e);
        }
    };
    ctx.passed(&key);
    if after == After::AwaitChange {
        // Ended or gone: a later pass (a deletion) reads the run afresh.
        ctx.forget(&key);
    }
    if let After::Watch { wake, fallback } = &after {
        let run = ObjectRef::new(&name).within(&ns);
        ctx.wakers.watch(&key, run, wake.clone(), *fallback);
    } else {
        ctx.wakers.cancel(&key);
    }
    Ok(match after {
        After::Now => Requeue::requeue(Duration::ZERO),
        After::Poll(d) | After::Watch { fallback: d, .. } => Requeue::requeue(d),
        After::AwaitChange => Requeue::await_change(),
    })
}

/// A failed pass: a refusal is retried slowly; a transient failure with exponential back-off
/// and jitter, per run, reset by the next pass that succeeds.
fn error_policy(run: Arc<ScenarioRun>, err: &Error, ctx: Arc<Context>) -> Requeue {
    let key = context::run_key(&run);
    let attempt = ctx.failed_pass(&key);
    let refused = matches!(err, Error::Kube(e) if e.class() == Class::Refused);
    let delay = if refused {
        REFUSED_RETRY
    } else {
        let seed = crate::stable_hash(format!("{key}/{attempt}/{:?}", Timestamp::now()).as_bytes());
        context::backoff(attempt, seed)
    };
    let cause = std::error::Error::source(err)
        .map(|s| s.to_string())
        .unwrap_or_default();
    if refused {
        error!(run = %key, category = err.category(), error = %err, %cause, ?delay, "pass refused; will retry");
    } else {
        warn!(run = %key, category = err.category(), error = %err, %cause, attempt, ?delay, "pass failed; will retry");
    }
    Requeue::requeue(delay)
}

#[cfg(test)]
mod tests;
