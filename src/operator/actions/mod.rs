//! One pass of one step: each action does the next thing it can and says whether it is done,
//! must wait, made irreversible progress (recorded before going on), or failed. Nothing here
//! blocks for long: waiting is the caller's requeue. IO errors are turned into outcomes by
//! their class ([`super::error`]), never by call site.

mod lifecycle;
mod promote;
mod start;

use std::time::Duration;

use k8s_openapi::{api::core::v1::Pod, jiff::Timestamp};

pub use self::lifecycle::CONFIGURE_STATEMENTS;
use super::{
    checks,
    decide::poll_interval,
    error::{Class, Error, LeaderApiError, SqlError},
    io::Cluster,
    outcome::{Outcome, Wake},
};
use crate::{
    api::{
        names,
        v1alpha1::{ScenarioRun, ScenarioRunStatus, StepRecord},
    },
    checks::library::Phase,
    plan::{Action, PlannedStep, action::StartMz},
};

/// What a step's pass works from.
pub struct StepInput<'a> {
    pub run: &'a ScenarioRun,
    /// The run's status as of this pass (the step's record is `steps[index]`).
    pub status: &'a ScenarioRunStatus,
    /// 0-based index of the step.
    pub index: usize,
    pub action: &'a Action,
    /// The whole frozen plan (a step may need what an earlier one did).
    pub plan: &'a [PlannedStep],
    /// The pass's time.
    pub now: Timestamp,
    /// Check markers written in this very pass and not sent yet.
    pub fresh: &'a [String],
}

impl StepInput<'_> {
    fn record(&self) -> &StepRecord {
        &self.status.steps[self.index]
    }
    fn number(&self) -> usize {
        self.index + 1
    }
    fn namespace(&self) -> &str {
        self.run.metadata.namespace.as_deref().unwrap_or("default")
    }
    fn name(&self) -> &str {
        self.run.metadata.name.as_deref().unwrap_or_default()
    }
    /// The adopted StatefulSet, if `svc` names it.
    fn adopted(&self, svc: &str) -> Option<&str> {
        let adopt = self.run.spec.environment.adopt.as_ref()?;
        let adopted_svc = adopt
            .mz_service
            .as_deref()
            .unwrap_or(crate::api::DEFAULT_MZ_SERVICE);
        (adopted_svc == svc).then_some(adopt.stateful_set_name.as_str())
    }
    fn statefulset(&self, svc: &str) -> String {
        self.adopted(svc)
            .map(str::to_string)
            .unwrap_or_else(|| names::statefulset(self.name(), svc))
    }
    /// The StartMz that last (re)created `svc`'s StatefulSet before this step.
    fn last_start(&self, svc: &str) -> Option<&StartMz> {
        self.plan[..self.index]
            .iter()
            .rev()
            .find_map(|p| match &p.action {
                Action::StartMz(s) if s.mz_service == svc => Some(s),
                _ => None,
            })
    }
    /// The version `svc` runs at this step: its last start's tag, the tag a later
    /// ReplaceEnvironmentdStatefulSet swapped in, or an adopted environment's stated version.
    fn service_version(&self, svc: &str) -> Option<crate::version::MzVersion> {
        let planned = self.plan[..self.index]
            .iter()
            .rev()
            .find_map(|p| match &p.action {
                Action::StartMz(s) if s.mz_service == svc => Some(s.tag.clone()),
                Action::ReplaceEnvironmentdStatefulSet {
                    mz_service,
                    new_tag,
                    ..
                } if mz_service == svc => Some(new_tag.clone()),
                _ => None,
            });
        planned.or_else(|| {
            self.adopted(svc)?;
            let adopt = self.run.spec.environment.adopt.as_ref()?;
            adopt.version.as_deref()?.parse().ok()
        })
    }
    fn elapsed(&self) -> Duration {
        let started = self.record().started_at.as_ref().map(|t| t.0);
        started
            .and_then(|s| Duration::try_from(self.now.duration_since(s)).ok())
            .unwrap_or_default()
    }
}

fn done(message: impl Into<String>) -> Result<Outcome, Error> {
    Ok(Outcome::Done {
        message: message.into(),
        version: None,
    })
}

fn wait(message: impl Into<String>) -> Result<Outcome, Error> {
    Ok(Outcome::Wait(message.into()))
}

/// Waiting on the run's own StatefulSet or pod (never an adopted one: its pods do not carry
/// the run's label the controller watches them by). The controller wakes the run when either
/// changes, so its passes need not read them every poll interval: at 100 concurrent runs these
/// reads were four fifths of all API requests.
fn wait_objects(message: impl Into<String>) -> Result<Outcome, Error> {
    Ok(Outcome::Await {
        message: message.into(),
        wake: Wake::Objects,
    })
}

/// A wait on `svc`'s StatefulSet or pod: woken by their changes when the run created them,
/// polled when adopted.
fn waiting_on(
    input: &StepInput<'_>,
    svc: &str,
    message: impl Into<String>,
) -> Result<Outcome, Error> {
    match input.adopted(svc) {
        Some(_) => wait(message),
        None => wait_objects(message),
    }
}

fn failed(message: impl Into<String>) -> Result<Outcome, Error> {
    Ok(Outcome::Failed(message.into()))
}

/// A leader API call that failed: refused → the step fails now; otherwise it waits (a lost
/// answer's evidence rule is the caller's, where there is one).
fn leader_error(svc: &str, e: LeaderApiError) -> Result<Outcome, Error> {
    match e.class() {
        Class::Refused => failed(format!("{svc}: {e}")),
        Class::Wait | Class::Lost => wait(format!("{svc}: {e}")),
    }
}

/// A SQL call that failed. Every statement the actions send is idempotent (ALTER SYSTEM,
/// GRANT, reads), so a lost answer is simply retried.
fn sql_error(svc: &str, e: SqlError) -> Result<Outcome, Error> {
    match e.class() {
        Class::Refused => failed(format!("{svc} refused {e}")),
        Class::Wait | Class::Lost => wait(format!("{svc}: {e}")),
    }
}

/// The exit code of the container's last termination, if it terminated.
fn last_exit_code(pod: &Pod) -> Option<i32> {
    let container = pod.status.as_ref()?.container_statuses.as_ref()?.first()?;
    Some(
        container
            .last_state
            .as_ref()?
            .terminated
            .as_ref()?
            .exit_code,
    )
}

/// Where environmentd of `svc` answers: its stable DNS name, or its pod IP.
pub async fn host<C: Cluster>(
    ctx: &C,
    input: &StepInput<'_>,
    svc: &str,
) -> Result<Option<String>, Error> {
    let ns = input.namespace();
    let sts_name = input.statefulset(svc);
    if ctx.pod_ip_addresses() {
        let pod = ctx.pod(ns, &names::pod_of(&sts_name)).await?;
        return Ok(pod.and_then(|p| p.status?.pod_ip));
    }
    if input.adopted(svc).is_some() {
        let service = ctx
            .statefulset(ns, &sts_name)
            .await?
            .and_then(|s| s.spec.service_name)
            .unwrap_or(sts_name.clone());
        return Ok(Some(names::pod_dns_of(&sts_name, &service, ns)));
    }
    Ok(Some(names::pod_dns(input.name(), svc, ns)))
}

/// One pass of the step.
pub async fn execute<C: Cluster>(ctx: &C, input: StepInput<'_>) -> Result<Outcome, Error> {
    match input.action {
        Action::StartMz(s) => start::start_mz(ctx, &input, s).await,
        Action::ConfigureMz { mz_service } => lifecycle::configure(ctx, &input, mz_service).await,
        Action::SetupSqlServerTesting { .. } => failed(
            "SetupSqlServerTesting needs a SQL Server, which this environment does not provide",
        ),
        Action::KillMz {
            mz_service,
            capture_logs,
        } => lifecycle::kill(ctx, &input, mz_service, *capture_logs).await,
        Action::WaitReadyMz { mz_service } => promote::wait_ready(ctx, &input, mz_service).await,
        Action::PromoteMz { mz_service } => promote::promote(ctx, &input, mz_service).await,
        Action::SkipCatchup { mz_service } => promote::skip_catchup(ctx, &input, mz_service).await,
        Action::ReplaceEnvironmentdStatefulSet {
            mz_service,
            new_tag,
            expect_failure,
        } => start::replace(ctx, &input, mz_service, new_tag, *expect_failure).await,
        Action::Initialize { mz_service } => {
            check_step(ctx, &input, Phase::Initialize, mz_service).await
        }
        Action::Manipulate { mz_service, phase } => {
            check_step(ctx, &input, Phase::Manipulate(*phase), mz_service).await
        }
        Action::Validate { mz_service } => {
            check_step(ctx, &input, Phase::Validate, mz_service).await
        }
        Action::SystemVarChange {
            mz_service,
            name,
            value,
        } => lifecycle::system_var(ctx, &input, mz_service, name, value).await,
        Action::Sleep { seconds } => {
            if input.elapsed().as_secs_f64() >= *seconds {
                done(format!("slept {seconds}s"))
            } else {
                wait(format!("sleeping {seconds}s"))
            }
        }
    }
}

/// Initialize / Manipulate / Validate: every selected check's script for the phase.
async fn check_step<C: Cluster>(
    ctx: &C,
    input: &StepInput<'_>,
    phase: Phase,
    svc: &str,
) -> Result<Outcome, Error> {
    if input.record().checks.is_empty() {
        return done(match &input.run.spec.checks {
            None => "no checks configured (spec.checks), so this phase ran nothing",
            Some(_) => "no checks selected, so this phase ran nothing",
        });
    }
    let Some(h) = host(ctx, input, svc).await? else {
        return wait("no pod address yet");
    };
    let version = input.service_version(svc);
    let s = checks::StepCtx {
        run: input.run,
        status: input.status,
        index: input.index,
        host: &h,
        retry_for: poll_interval(&input.run.spec).min(Duration::from_secs(5)),
        version: version.as_ref(),
        now: input.now,
        fresh: input.fresh,
    };
    checks::step(ctx, s, phase).await
}
