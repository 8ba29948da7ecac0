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
pub mod outcome;
pub mod reconcile;
pub mod render;
pub mod transition;
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
    let tls = settings.webhook.as_ref().map(webhook_tls).transpose()?;
    let ca_pending = tls.as_ref().is_some_and(|t| t.ca_pem.is_some());
    let health = Arc::new(health::Health::new(ca_pending));
    if let Some(addr) = settings.health_addr {
        health::serve(addr, health.clone()).await?;
    }
    if let (Some(w), Some(tls)) = (&settings.webhook, &tls) {
        webhook::serve(w.addr, tls).await?;
        if let Some(ca) = tls.ca_pem.clone() {
            let (client, name, health) = (client.clone(), w.configuration.clone(), health.clone());
            tokio::spawn(async move {
                match webhook::install_ca(client, &name, &ca).await {
                    Ok(()) => health.set_webhook_ready(),
                    Err(e) => error!("{e}"),
                }
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
    if let Some(lease) = &settings.lease {
        health.set_standby();
        leader::acquire(client.clone(), lease).await?;
    }
    info!(namespace = ?settings.namespace, "scenario-operator running");
    health.set_ready();
    Controller::new(runs, watcher::Config::default())
        .owns(api::<StatefulSet>(&client, &settings.namespace), owned)
        .watches(api::<Pod>(&client, &settings.namespace), run_pods, |pod| {
            let run = pod.labels().get(&names::run_label())?.clone();
            Some(ObjectRef::new(&run).within(&pod.namespace()?))
        })
        .with_config(controller::Config::default().concurrency(settings.concurrency))
        .shutdown_on_signal()
        .run(reconcile_run, error_policy, ctx)
        .for_each(|r| async move {
            match r {
                // A run deleted while a requeue was pending: nothing to do.
                Err(controller::Error::ObjectNotFound(_)) | Ok(_) => {}
                Err(e) => warn!(error = %e, "reconcile failed"),
            }
        })
        .await;
    Ok(())
}

/// The webhook's certificate: cert-manager's from a directory, or generated for its hosts.
fn webhook_tls(w: &WebhookSettings) -> Result<webhook::Tls, String> {
    match &w.cert_dir {
        Some(dir) => webhook::Tls::from_dir(dir),
        None if w.hosts.is_empty() => Err(
            "--webhook-addr without --webhook-cert-dir needs --webhook-host: the names the \
             apiserver reaches the webhook by (e.g. scenario-operator-webhook.<ns>.svc)"
                .into(),
        ),
        None => webhook::Tls::generate(&w.hosts),
    }
}

fn key(run: &ScenarioRun) -> String {
    format!("{}/{}", run.namespace().unwrap_or_default(), run.name_any())
}

/// The controller's entry: one [`reconcile::reconcile`] pass at the current time.
async fn reconcile_run(cached: Arc<ScenarioRun>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    let (ns, name) = (cached.namespace().unwrap_or_default(), cached.name_any());
    let span = tracing::info_span!("reconcile", run = %name, namespace = %ns);
    let after = reconcile::reconcile(ctx.as_ref(), &ns, &name, Timestamp::now())
        .instrument(span)
        .await?;
    ctx.passed(&key(&cached));
    Ok(match after {
        After::Now => Requeue::requeue(Duration::ZERO),
        After::Poll(d) => Requeue::requeue(d),
        After::AwaitChange => Requeue::await_change(),
    })
}

/// A failed pass: a refusal is retried slowly; a transient failure with exponential back-off
/// and jitter, per run, reset by the next pass that succeeds.
fn error_policy(run: Arc<ScenarioRun>, err: &Error, ctx: Arc<Context>) -> Requeue {
    let key = key(&run);
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
