//! One pass over a run: observe → decide → act → commit.
//!
//! - observe: the run as the apiserver has it now, its frozen plan decoded once;
//! - decide: [`decide::decide`], pure, with the time as an input;
//! - act: plan the run, or one pass of the current step ([`actions::execute`]);
//! - commit: the one place a pass writes status, publishes Events, cleans up and requeues.
//!
//! Generic over [`Cluster`], so the cluster-free tests drive this very pass.

use std::time::Duration;

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
use tracing::Instrument;

use super::{
    actions::{self, StepInput},
    check_sources,
    decide::{self, Deadline, Decision, Limits},
    error::{Class, Error},
    io::{Cluster, Kube, Probes},
    outcome::{Effect, EventNote, Next, Outcome, Wake},
    render,
    transition::{self, Stamp, Step},
};
use crate::{
    api::{
        names,
        v1alpha1::{
            CleanupAction, RunPhase, Runtime, ScenarioRun, ScenarioRunStatus, StepState, reasons,
        },
    },
    plan::{self, Action, PlannedStep},
};

/// When the controller should look at the run again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum After {
    /// At once: the run moved on.
    Now,
    /// After this long: the step waits for something that cannot be watched.
    Poll(Duration),
    /// When `wake` sees a change, or after `fallback` if it sees none.
    Watch { wake: Wake, fallback: Duration },
    /// Only when something changes (the run ended, or is gone).
    AwaitChange,
}

/// A watched wait comes back after this many poll intervals even if nothing woke it.
const WATCH_FALLBACK_POLLS: u32 = 10;

/// How many times one pass may run a step that keeps writing write-ahead records.
const MAX_ACTS_PER_PASS: usize = 3;

/// One pass over the run `namespace/name` at time `now`, read from the apiserver.
pub async fn reconcile<C: Cluster>(
    ctx: &C,
    namespace: &str,
    name: &str,
    now: Timestamp,
) -> Result<After, Error> {
    reconcile_cached(ctx, namespace, name, None, now).await
}

/// One pass, starting from the watch cache's copy of the run when that is exactly what this
/// process last wrote.
pub async fn reconcile_cached<C: Cluster>(
    ctx: &C,
    namespace: &str,
    name: &str,
    cached: Option<&ScenarioRun>,
    now: Timestamp,
) -> Result<After, Error> {
    // The watch cache can lag behind our own status writes; acting on a stale status would
    // repeat what the previous pass already did (a ConfigureMz statement, a step start). So a
    // pass starts from the apiserver's current object, unless the cache holds the very
    // version our last write returned. A newer write by anyone else makes the cached copy
    // stale, but then our next write, conditional on its resourceVersion, conflicts.
    let run = match cached {
        Some(c) if ctx.is_own_last_write(c) => Some(c.clone()),
        _ => ctx.run(namespace, name).await?,
    };
    let Some(mut run) = run else {
        return Ok(After::AwaitChange);
    };
    if run.metadata.deletion_timestamp.is_some() {
        finalize(ctx, &run).await?;
        return Ok(After::AwaitChange);
    }
    let mut status = run.status.clone().unwrap_or_default();
    let stamp = Stamp {
        generation: run.metadata.generation,
        now: Time(now),
    };
    let plan = decide::frozen_plan(&status);
    let decision = decide::decide(&status, &plan, &Limits::of(&run.spec), now);
    // Once the plan is accepted, before the first step creates anything.
    let acting = matches!(decision, Decision::Start { .. } | Decision::Execute { .. });
    if acting && needs_finalizer(&run) {
        let mut finalizers = run.metadata.finalizers.clone().unwrap_or_default();
        finalizers.push(names::cleanup_finalizer());
        ctx.set_finalizers(&run, &finalizers).await?;
        return Ok(After::Now);
    }
    let label = |index: usize| match &plan {
        Ok(p) => p[index].action.label(),
        Err(_) => format!("step {}", index + 1),
    };
    let effect = match decision {
        Decision::Ended { succeeded } => Effect {
            write: false,
            events: Vec::new(),
            next: Next::Ended { succeeded },
        },
        Decision::Plan => plan_run(ctx, &run, &mut status, &stamp).await?,
        Decision::Unreadable(message) => {
            transition::refuse(&mut status, &stamp, reasons::PLAN_UNREADABLE, message)
        }
        Decision::Complete => transition::complete(&mut status, &stamp),
        Decision::Expire { index, deadline } => {
            let reason = match deadline {
                Deadline::Run(_) => reasons::FAILED,
                Deadline::Step { .. } => reasons::STEP_FAILED,
                Deadline::Budget(_) => reasons::BUDGET_EXCEEDED,
            };
            let label = label(index);
            let step = Step {
                index,
                label: &label,
            };
            let effect = transition::fail_step(&mut status, &stamp, step, reason, deadline.cause());
            match &plan {
                Ok(p) => end_probes(ctx, &run, &mut status, &stamp, step, &p[index], effect),
                Err(_) => effect,
            }
        }
        Decision::Start { index } => {
            let label = label(index);
            let step = Step {
                index,
                label: &label,
            };
            transition::start_step(&mut status, &stamp, step)
        }
        Decision::Execute { index } => {
            // decide() returns Execute only for a readable plan.
            let Ok(plan) = &plan else {
                unreachable!("Execute with an unreadable plan")
            };
            return execute(ctx, &mut run, status, &stamp, index, plan).await;
        }
    };
    commit(ctx, &mut run, &status, effect).await
}

/// The first pass: plan, collect and freeze the checks, freeze the plan into status.
async fn plan_run<C: Cluster>(
    ctx: &C,
    run: &ScenarioRun,
    status: &mut ScenarioRunStatus,
    stamp: &Stamp,
) -> Result<Effect, Error> {
    let plan = match plan::plan(&run.spec) {
        Ok(p) => p,
        Err(errors) => {
            let message = format!("the plan was refused: {errors}");
            return Ok(transition::refuse(
                status,
                stamp,
                reasons::PLAN_REFUSED,
                message,
            ));
        }
    };
    if let Some(message) = secret_refusal(ctx, run, &plan).await? {
        return Ok(transition::refuse(
            status,
            stamp,
            reasons::PLAN_REFUSED,
            message,
        ));
    }
    Ok(match check_sources::collect(ctx, run, &plan.gate).await? {
        Ok(checks) => transition::planned(status, stamp, transition::plan_steps(&plan, &checks)),
        Err(errors) => {
            let message = format!("the checks were refused: {}", errors.join("\n"));
            transition::refuse(status, stamp, reasons::CHECKS_REFUSED, message)
        }
    })
}

/// The backend Secret preflight (when the operator may read Secrets): why the run is refused
/// before anything is created, if it is.
async fn secret_refusal<C: Cluster>(
    ctx: &C,
    run: &ScenarioRun,
    plan: &plan::Plan,
) -> Result<Option<String>, Error> {
    let env = &run.spec.environment;
    let starts = plan
        .actions
        .iter()
        .any(|s| matches!(s.action, Action::StartMz(_)));
    let (Some(secret), true) = (env.backend_secret_name.as_deref(), starts) else {
        return Ok(None);
    };
    let ns = run.metadata.namespace.as_deref().unwrap_or("default");
    let view = ctx.backend_secret(ns, secret).await?;
    let errors = plan::environment::check_secret(env, ns, &plan.actions, &view);
    Ok((!errors.is_empty()).then(|| format!("the plan was refused: {}", plan::PlanErrors(errors))))
}

/// One pass of step `index`. A write-ahead outcome is committed and the step runs again at
/// once, told which markers are fresh: the only way to tell "marked, not yet sent" from
/// "marked, maybe sent before a crash" is to send in the pass that wrote the marker.
async fn execute<C: Cluster>(
    ctx: &C,
    run: &mut ScenarioRun,
    mut status: ScenarioRunStatus,
    stamp: &Stamp,
    index: usize,
    plan: &[PlannedStep],
) -> Result<After, Error> {
    let planned = &plan[index];
    let label = planned.action.label();
    let step = Step {
        index,
        label: &label,
    };
    follow_probe(ctx, run, &status, index, plan, stamp).await?;
    let mut fresh = Vec::new();
    for _ in 0..MAX_ACTS_PER_PASS {
        let input = StepInput {
            run,
            status: &status,
            index,
            action: &planned.action,
            plan,
            now: stamp.now.0,
            fresh: &fresh,
        };
        // Inside the pass's `reconcile` span (run, namespace): which step does what.
        let span = tracing::info_span!("step", step = index + 1, action = %label);
        let outcome = match actions::execute(ctx, input).instrument(span).await {
            Ok(o) => o,
            // The apiserver refused what the step sent (an invalid object, a missing
            // permission): sending it again cannot help, so the step fails saying so.
            Err(Error::Kube(e)) if e.class() == Class::Refused => Outcome::Failed(e.to_string()),
            Err(e) => return Err(e),
        };
        let mut effect = transition::apply_outcome(&mut status, stamp, step, outcome);
        if transition::step_ended(&status, index) {
            effect = end_probes(ctx, run, &mut status, stamp, step, planned, effect);
        }
        let Next::Continue { fresh: marked } = &effect.next else {
            return commit(ctx, run, &status, effect).await;
        };
        fresh = marked.clone();
        commit(ctx, run, &status, effect).await?;
    }
    Ok(After::Now)
}

/// Points the run's client probe at whoever leads while step `index` runs (the plan's model
/// of the environment says who), starting it on the run's first step. Once per step, or every
/// pass when environmentd is reached by pod IP, which changes when its pod restarts.
async fn follow_probe<C: Cluster>(
    ctx: &C,
    run: &ScenarioRun,
    status: &ScenarioRunStatus,
    index: usize,
    plan: &[PlannedStep],
    stamp: &Stamp,
) -> Result<(), Error> {
    let key = super::context::run_key(run);
    if !run.spec.probe.enabled || (ctx.probing(&key) == Some(index) && !ctx.pod_ip_addresses()) {
        return Ok(());
    }
    let leader = plan::serving_leaders(&run.spec, plan).swap_remove(index);
    let host = match &leader {
        Some(svc) => {
            let input = StepInput {
                run,
                status,
                index,
                action: &plan[index].action,
                plan,
                now: stamp.now.0,
                fresh: &[],
            };
            actions::host(ctx, &input, svc).await?
        }
        None => None,
    };
    ctx.probe(&key, index, super::probe::target(&run.spec.probe, host));
    Ok(())
}

/// Step `step` ended, as `effect` records: its probe record and budgets
/// ([`transition::end_probes`]).
fn end_probes<C: Probes>(
    ctx: &C,
    run: &ScenarioRun,
    status: &mut ScenarioRunStatus,
    stamp: &Stamp,
    step: Step,
    planned: &PlannedStep,
    effect: Effect,
) -> Effect {
    let probes = ctx.step_probes(&super::context::run_key(run), step.index);
    let kind = planned.action.kind();
    transition::end_probes(status, stamp, step, kind, probes, &run.spec.budgets, effect)
}

/// The one tail of every pass: write status if it changed, publish Events, clean up a run that
/// ended, and say when to come back.
async fn commit<C: Kube + Probes>(
    ctx: &C,
    run: &mut ScenarioRun,
    status: &ScenarioRunStatus,
    effect: Effect,
) -> Result<After, Error> {
    if effect.write {
        // Conditional on the run's resourceVersion: a write from a process that is no longer
        // the only one driving the run (a leader past its Lease) fails instead of recording a
        // marker the new leader did not see.
        let version = ctx.write_status(run, status).await?;
        super::metrics::steps_ended(run.status.as_ref(), status);
        if version.is_some() {
            run.metadata.resource_version = version;
        }
        run.status = Some(status.clone());
    }
    for event in &effect.events {
        ctx.publish(run, event).await;
    }
    Ok(match effect.next {
        Next::Again | Next::Continue { .. } => After::Now,
        Next::Poll => After::Poll(decide::poll_interval(&run.spec)),
        // The watch wakes the run on any change; the fallback only covers a watch that saw
        // nothing (a lost wake-up), so it need not come every poll interval.
        Next::Watch(wake) => After::Watch {
            wake,
            fallback: decide::poll_interval(&run.spec) * WATCH_FALLBACK_POLLS,
        },
        Next::Ended { succeeded } => {
            ctx.stop_probe(&super::context::run_key(run));
            cleanup(ctx, run, succeeded).await?;
            After::AwaitChange
        }
    })
}

/// Deletes what the run created once it ended, per `spec.cleanup` (never an adopted object).
async fn cleanup<C: Kube>(ctx: &C, run: &ScenarioRun, succeeded: bool) -> Result<(), Error> {
    let policy = if succeeded {
        run.spec.cleanup.on_success
    } else {
        run.spec.cleanup.on_failure
    };
    if policy != CleanupAction::Delete {
        return Ok(());
    }
    let ns = run.metadata.namespace.as_deref().unwrap_or("default");
    let name = run.metadata.name.as_deref().unwrap_or_default();
    // Before the account they are deleted as (which exists here if a start made it).
    delete_environmentd_secrets(ctx, run, false).await?;
    ctx.delete_run_objects(ns, name).await?;
    Ok(())
}

/// Runs whose environmentd uses the account the run made (runtime `kubernetes`, no account
/// named in the spec) hold a finalizer: the Secrets environmentd creates carry no owner
/// reference, so garbage collection would never delete them, and only as that account can the
/// operator delete them.
fn needs_finalizer(run: &ScenarioRun) -> bool {
    let has = run
        .metadata
        .finalizers
        .as_ref()
        .is_some_and(|f| f.contains(&names::cleanup_finalizer()));
    render::own_account(&render::RunRef::of(run)) && !has
}

/// A deleted run: environmentd's Secrets go, then our finalizer; garbage collection removes
/// the rest (owned by the run).
async fn finalize<C: Kube>(ctx: &C, run: &ScenarioRun) -> Result<(), Error> {
    let ours = names::cleanup_finalizer();
    let Some(finalizers) = run.metadata.finalizers.as_ref() else {
        return Ok(());
    };
    if !finalizers.contains(&ours) {
        return Ok(());
    }
    if !cleaned_up(run) {
        // A start made the account; if it is gone now, it went before the run.
        let started = run.status.iter().flat_map(|s| &s.steps).any(|s| {
            s.state != StepState::Pending && s.plan.get("action") == Some(&"StartMz".into())
        });
        delete_environmentd_secrets(ctx, run, started).await?;
    }
    let rest: Vec<String> = finalizers.iter().filter(|f| **f != ours).cloned().collect();
    ctx.set_finalizers(run, &rest).await?;
    Ok(())
}

/// Whether the run ended and its cleanup (`spec.cleanup`: Delete) already deleted what it made,
/// environmentd's Secrets with the account they were deleted as.
fn cleaned_up(run: &ScenarioRun) -> bool {
    let policy = match run.status.as_ref().and_then(|s| s.phase) {
        Some(RunPhase::Succeeded) => run.spec.cleanup.on_success,
        Some(RunPhase::Failed | RunPhase::Cancelled) => run.spec.cleanup.on_failure,
        _ => return false,
    };
    policy == CleanupAction::Delete
}

/// Deletes the Secrets environmentd created for the run as its own account, saying so in an
/// Event. Refused (the chart withholds the token rule): says which Secrets are left, and lets
/// the run go rather than hold its deletion forever.
async fn delete_environmentd_secrets<C: Kube>(
    ctx: &C,
    run: &ScenarioRun,
    warn_if_gone: bool,
) -> Result<(), Error> {
    let r = render::RunRef::of(run);
    let prefix = names::user_secret_prefix(r.uid);
    let account = render::account_name(&r);
    // Tokens are minted only for the account the run made itself, never for one its spec
    // names: that one's Secrets are its owner's to delete (and such a run has no finalizer).
    if !render::own_account(&r) {
        if run.spec.environment.runtime() == Runtime::Kubernetes {
            let note = format!(
                "environmentd ran as {account}, which this run does not own: the Secrets it \
                 created ({prefix}*) are left to that account's owner"
            );
            ctx.publish(run, &EventNote::warning(reasons::SECRETS_LEFT, note))
                .await;
        }
        return Ok(());
    }
    let ns = r.namespace;
    let event = match ctx.delete_environmentd_secrets(ns, &account, &prefix).await {
        Ok(Some(0)) => return Ok(()),
        Ok(None) if !warn_if_gone => return Ok(()),
        // The account went first (a foreground deletion collects it before the run): the
        // Secrets cannot be listed, so say where they are.
        Ok(None) => EventNote::warning(
            reasons::SECRETS_LEFT,
            format!(
                "environmentd's account {account} is gone: any Secrets it created \
                 ({prefix}*) are left"
            ),
        ),
        Ok(Some(n)) => EventNote::normal(
            reasons::SECRETS_DELETED,
            format!("deleted {n} Secrets environmentd created ({prefix}*), as {account}"),
        ),
        Err(e) if e.class() == Class::Refused => EventNote::warning(
            reasons::SECRETS_LEFT,
            format!("cannot delete the Secrets environmentd created ({prefix}*): {e}"),
        ),
        Err(e) => return Err(e.into()),
    };
    ctx.publish(run, &event).await;
    Ok(())
}
