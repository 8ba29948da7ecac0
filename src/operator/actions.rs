//! One pass of one step: each action does the next thing it can and says whether it is done,
//! must wait, made irreversible progress (recorded before going on), or failed. Nothing here
//! blocks for long: waiting is the caller's requeue.

use std::time::Duration;

use k8s_openapi::{api::core::v1::ConfigMap, jiff::Timestamp};
use serde_json::json;

use super::{
    Error,
    clients::{LeaderStatus, PromoteAnswer},
    io::Cluster,
    render::{self, RunRef},
};
use crate::{
    api::{
        names,
        v1alpha1::{ScenarioRun, ScenarioRunStatus, StepRecord},
    },
    checks::library::Phase,
    plan::{Action, action::StartMz},
};

/// What a pass of a step achieved.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Done {
        message: String,
        version: Option<String>,
    },
    Wait(String),
    /// Irreversible progress: record `marker` in the step before anything else happens.
    Progress {
        marker: String,
        message: String,
    },
    /// A ConfigureMz statement is now applied (remembered for the whole run).
    Applied(String),
    Failed(String),
    /// A check step's pass: the checks' records; `end` once every check finished (`Err` when
    /// one failed), with the per-check summary; `moved` when a check got further.
    Checks {
        records: Vec<crate::api::v1alpha1::CheckRecord>,
        end: Option<Result<String, String>>,
        moved: bool,
    },
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

fn progress(marker: &str, message: impl Into<String>) -> Result<Outcome, Error> {
    Ok(Outcome::Progress {
        marker: marker.into(),
        message: message.into(),
    })
}

/// The statements ConfigureMz runs as `mz_system` (platform-checks' list for current versions;
/// the Kafka and schema-registry connections are left out: no Kafka runs here).
pub const CONFIGURE_STATEMENTS: &[&str] = &[
    "ALTER SYSTEM SET max_tables = 1000",
    "ALTER SYSTEM SET max_sinks = 1000",
    "ALTER SYSTEM SET max_sources = 1000",
    "ALTER SYSTEM SET max_materialized_views = 1000",
    "ALTER SYSTEM SET max_objects_per_schema = 1000",
    "ALTER SYSTEM SET max_secrets = 1000",
    "ALTER SYSTEM SET max_clusters = 1000",
    "GRANT ALL PRIVILEGES ON SYSTEM TO materialize",
    "ALTER SYSTEM SET enable_rbac_checks TO false",
    "GRANT CREATE ON DATABASE materialize TO materialize",
    "GRANT CREATE ON SCHEMA materialize.public TO materialize",
    "GRANT CREATE ON CLUSTER quickstart TO materialize",
];

pub struct StepInput<'a> {
    pub run: &'a ScenarioRun,
    pub status: &'a ScenarioRunStatus,
    pub record: &'a StepRecord,
    pub number: usize,
    pub action: &'a Action,
}

impl StepInput<'_> {
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
    fn elapsed(&self) -> Duration {
        let started = self
            .record
            .started_at
            .as_ref()
            .map(|t| t.0)
            .unwrap_or_else(Timestamp::now);
        Duration::try_from(Timestamp::now().duration_since(started)).unwrap_or_default()
    }
}

/// Where environmentd of `svc` answers: its stable DNS name, or its pod IP.
async fn host<C: Cluster>(
    ctx: &C,
    input: &StepInput<'_>,
    svc: &str,
) -> Result<Option<String>, Error> {
    let sts_name = input.statefulset(svc);
    if ctx.pod_ip_addresses() {
        let pod = ctx.pod(input.namespace(), &format!("{sts_name}-0")).await?;
        return Ok(pod.and_then(|p| p.status?.pod_ip));
    }
    if input.adopted(svc).is_some() {
        let service = ctx
            .statefulset(input.namespace(), &sts_name)
            .await?
            .and_then(|s| s.spec.service_name)
            .unwrap_or(sts_name.clone());
        return Ok(Some(format!(
            "{sts_name}-0.{service}.{}.svc.cluster.local",
            input.namespace()
        )));
    }
    Ok(Some(names::pod_dns(input.name(), svc, input.namespace())))
}

pub async fn execute<C: Cluster>(ctx: &C, input: StepInput<'_>) -> Result<Outcome, Error> {
    match input.action {
        Action::StartMz(s) => start_mz(ctx, &input, s).await,
        Action::ConfigureMz { mz_service } => configure(ctx, &input, mz_service).await,
        Action::SetupSqlServerTesting { .. } => Ok(Outcome::Failed(
            "SetupSqlServerTesting needs a SQL Server, which this environment does not provide"
                .into(),
        )),
        Action::KillMz {
            mz_service,
            capture_logs,
        } => kill(ctx, &input, mz_service, *capture_logs).await,
        Action::WaitReadyMz { mz_service } => {
            let Some(h) = host(ctx, &input, mz_service).await? else {
                return wait("no pod address yet");
            };
            match ctx.leader_status(&h).await {
                Some(LeaderStatus::ReadyToPromote) => {
                    done(format!("{mz_service} is ReadyToPromote"))
                }
                Some(s) => wait(format!("{mz_service} reports {s:?}")),
                None => wait(format!("{mz_service} is not reachable yet")),
            }
        }
        Action::PromoteMz { mz_service } => promote(ctx, &input, mz_service).await,
        Action::SkipCatchup { mz_service } => {
            let Some(h) = host(ctx, &input, mz_service).await? else {
                return wait("no pod address yet");
            };
            match ctx.skip_catchup(&h).await {
                Ok(true) => done(format!("{mz_service} skips catch-up")),
                Ok(false) => wait(format!(
                    "{mz_service} is too early in initialization to skip catch-up"
                )),
                Err(e) => wait(format!("{mz_service}: {e}")),
            }
        }
        Action::ReplaceEnvironmentdStatefulSet {
            mz_service,
            new_tag,
            expect_failure,
        } => {
            replace(
                ctx,
                &input,
                mz_service,
                &new_tag.to_string(),
                *expect_failure,
            )
            .await
        }
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
        } => {
            let Some(h) = host(ctx, &input, mz_service).await? else {
                return wait("no pod address yet");
            };
            let statement = format!("ALTER SYSTEM SET {name} = '{}'", value.replace('\'', "''"));
            match ctx.execute_sql(&h, true, &[&statement]).await {
                Ok(()) => done(format!("{statement} on {mz_service}")),
                // Not reachable yet and refused look alike from here; the step time limit
                // turns a lasting refusal into a failure that names it.
                Err(e) => wait(e),
            }
        }
        Action::Sleep { seconds } => {
            let elapsed = input.elapsed().as_secs_f64();
            if elapsed >= *seconds {
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
    if input.record.checks.is_empty() {
        return done(match &input.run.spec.checks {
            None => "no checks configured (spec.checks), so this phase ran nothing",
            Some(_) => "no checks selected, so this phase ran nothing",
        });
    }
    let Some(h) = host(ctx, input, svc).await? else {
        return wait("no pod address yet");
    };
    let s = super::checks::StepCtx {
        run: input.run,
        status: input.status,
        index: input.number - 1,
        host: &h,
        retry_for: super::poll_interval(input.run).min(Duration::from_secs(5)),
    };
    super::checks::step(ctx, s, phase).await
}

/// StartMz: apply the objects, wait for the pod to be Ready on the new revision, then the
/// version check (plain starts) or the leader API answering (read-only starts).
async fn start_mz<C: Cluster>(
    ctx: &C,
    input: &StepInput<'_>,
    s: &StartMz,
) -> Result<Outcome, Error> {
    let ns = input.namespace();
    let run = RunRef::of(input.run);
    let svc = &s.mz_service;
    let sts_name = names::statefulset(run.name, svc);
    if input.record.progress.is_none() {
        let cm = render::listeners_configmap(&run, svc);
        let service = render::service(&run, svc);
        ctx.apply_start(ns, &cm, &service, &render::statefulset(&run, s, 1))
            .await?;
        return progress(
            "applied",
            format!("applied StatefulSet {sts_name} with {}", s.tag),
        );
    }
    let Some(sts) = ctx.statefulset(ns, &sts_name).await? else {
        return Ok(Outcome::Failed(format!(
            "StatefulSet {sts_name} disappeared"
        )));
    };
    let revision = sts
        .status
        .as_ref()
        .and_then(|st| st.update_revision.clone());
    let Some(pod) = ctx.pod(ns, &format!("{sts_name}-0")).await? else {
        return wait("waiting for the pod");
    };
    let pod_revision = pod
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("controller-revision-hash"))
        .cloned();
    if revision.is_none() || pod_revision != revision {
        return wait("waiting for the pod of the new revision");
    }
    let container = pod
        .status
        .as_ref()
        .and_then(|st| st.container_statuses.as_ref())
        .and_then(|c| c.first())
        .cloned();
    let restarts = container.as_ref().map(|c| c.restart_count).unwrap_or(0);
    let last_exit = container.as_ref().and_then(|c| {
        c.last_state
            .as_ref()?
            .terminated
            .as_ref()
            .map(|t| t.exit_code)
    });
    let ready = pod
        .status
        .as_ref()
        .and_then(|st| st.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    if s.expect_failure {
        if let Some(code) = last_exit.filter(|c| *c != 0) {
            ctx.scale_to_zero(ns, &sts_name).await?;
            return done(format!(
                "environmentd {} refused to start, as expected (exit code {code}, {restarts} restarts)",
                s.tag
            ));
        }
        if ready {
            return Ok(Outcome::Failed(format!(
                "expected environmentd {} to refuse to start, but it became ready",
                s.tag
            )));
        }
        return wait("waiting for environmentd to refuse to start");
    }
    if !ready {
        let hint = match last_exit {
            Some(code) => format!(" (restarted {restarts} times, last exit code {code})"),
            None => String::new(),
        };
        return wait(format!("waiting for {sts_name}-0 to be Ready{hint}"));
    }
    let Some(h) = host(ctx, input, svc).await? else {
        return wait("no pod address yet");
    };
    if s.is_read_only() {
        return match ctx.leader_status(&h).await {
            Some(status) => done(format!(
                "{svc} runs {} as read-only generation {}: {status:?}",
                s.tag,
                s.deploy_generation.unwrap_or(0)
            )),
            None => wait("waiting for the leader API"),
        };
    }
    match ctx.mz_version(&h).await {
        Ok(v) if v == s.tag.to_string() => Ok(Outcome::Done {
            message: format!("{svc} runs {v}"),
            version: Some(v),
        }),
        Ok(v) => Ok(Outcome::Failed(format!(
            "mz_version() on {svc} is {v}, expected {}",
            s.tag
        ))),
        Err(e) => wait(e),
    }
}

/// KillMz: optionally save logs (recorded before killing), then scale to 0 and delete the pod
/// with grace 0; done once the pod is gone.
async fn kill<C: Cluster>(
    ctx: &C,
    input: &StepInput<'_>,
    svc: &str,
    capture: bool,
) -> Result<Outcome, Error> {
    let ns = input.namespace();
    let sts_name = input.statefulset(svc);
    let pod_name = format!("{sts_name}-0");
    if capture && input.record.progress.is_none() {
        let cm_name = names::logs_configmap(input.name(), input.number);
        let data: std::collections::BTreeMap<String, String> =
            ctx.logs(ns, &pod_name).await?.into_iter().collect();
        let run = RunRef::of(input.run);
        let cm: ConfigMap = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": cm_name, "namespace": ns, "labels": names::labels(run.name, svc), "ownerReferences": [run.owner()]},
            "data": data,
        }))
        .expect("valid ConfigMap");
        ctx.apply_configmap(ns, &cm).await?;
        return progress(
            &format!("logs:{cm_name}"),
            format!("saved {pod_name}'s logs in ConfigMap {cm_name}"),
        );
    }
    let logs = input
        .record
        .progress
        .as_deref()
        .and_then(|p| p.strip_prefix("logs:"))
        .map(|cm| format!("; logs in ConfigMap {cm}"))
        .unwrap_or_default();
    match ctx.pod(ns, &pod_name).await? {
        Some(pod) if pod.metadata.deletion_timestamp.is_some() => {
            wait(format!("waiting for {pod_name} to be gone"))
        }
        Some(_) => {
            ctx.scale_to_zero(ns, &sts_name).await?;
            wait(format!("killing {pod_name}"))
        }
        None => {
            // Scaled to zero even if the pod was already gone, so it stays down.
            if let Some(s) = ctx.statefulset(ns, &sts_name).await?
                && s.spec.replicas.unwrap_or(1) != 0
            {
                ctx.scale_to_zero(ns, &sts_name).await?;
                return wait(format!("killing {pod_name}"));
            }
            done(format!("killed {pod_name}{logs}"))
        }
    }
}

/// ConfigureMz: each statement not yet applied in this run, one per pass, remembered in status.
async fn configure<C: Cluster>(
    ctx: &C,
    input: &StepInput<'_>,
    svc: &str,
) -> Result<Outcome, Error> {
    let Some(pending) = CONFIGURE_STATEMENTS
        .iter()
        .find(|s| !input.status.applied_statements.iter().any(|a| a == *s))
    else {
        return done(format!("{svc} configured"));
    };
    let Some(h) = host(ctx, input, svc).await? else {
        return wait("no pod address yet");
    };
    // `SELECT 1` as materialize first: it creates the role implicitly, as testdrive does.
    if let Err(e) = ctx.execute_sql(&h, false, &["SELECT 1"]).await {
        return wait(e);
    }
    // Every statement here is idempotent, so the short window between running it and
    // recording it can only repeat a harmless statement.
    match ctx.execute_sql(&h, true, &[pending]).await {
        Ok(()) => Ok(Outcome::Applied(pending.to_string())),
        Err(e) => wait(e),
    }
}

/// PromoteMz: record `promote-sent` before the POST; never POST again unless the leader API
/// shows the first one was not received (still ReadyToPromote).
async fn promote<C: Cluster>(ctx: &C, input: &StepInput<'_>, svc: &str) -> Result<Outcome, Error> {
    let Some(h) = host(ctx, input, svc).await? else {
        return wait("no pod address yet");
    };
    let status = ctx.leader_status(&h).await;
    match input.record.progress.as_deref() {
        None => match status {
            Some(LeaderStatus::ReadyToPromote) => {
                progress("promote-sent", format!("promoting {svc}"))
            }
            Some(LeaderStatus::Promoting | LeaderStatus::IsLeader) => {
                progress("promoted", format!("{svc} was already promoted"))
            }
            Some(LeaderStatus::Initializing) => wait(format!("{svc} is still initializing")),
            None => wait(format!("{svc} is not reachable")),
        },
        Some("promote-sent") => match status {
            // A promote that was received moves the status past ReadyToPromote at once; still
            // ReadyToPromote means the earlier one (if any) never arrived.
            Some(LeaderStatus::ReadyToPromote) => match ctx.promote(&h).await {
                Ok(PromoteAnswer::Success) => {
                    progress("promoted", format!("{svc} accepted promote"))
                }
                Ok(PromoteAnswer::Failure(m)) => {
                    Ok(Outcome::Failed(format!("promote of {svc} failed: {m}")))
                }
                Err(e) => wait(format!(
                    "promote of {svc} got no answer ({e}); checking the leader status"
                )),
            },
            Some(LeaderStatus::Promoting | LeaderStatus::IsLeader) => {
                progress("promoted", format!("{svc} is promoting"))
            }
            // Restarting: as leader (promoted) or read-only again (the promote was lost); the
            // next answer tells which.
            Some(LeaderStatus::Initializing) | None => wait(format!("{svc} is restarting")),
        },
        Some(_) => match status {
            Some(LeaderStatus::IsLeader) => match ctx.mz_version(&h).await {
                Ok(v) => Ok(Outcome::Done {
                    message: format!("{svc} is the leader, running {v}"),
                    version: Some(v),
                }),
                Err(e) => wait(e),
            },
            Some(LeaderStatus::ReadyToPromote) => Ok(Outcome::Failed(format!(
                "{svc} accepted promote but is ReadyToPromote again: it restarted before fencing the old \
                 leader, so the promotion was lost; not promoting a second time"
            ))),
            Some(s) => wait(format!("{svc} reports {s:?}; waiting for IsLeader")),
            None => wait(format!("{svc} is restarting as leader")),
        },
    }
}

/// ReplaceEnvironmentdStatefulSet: swap the image in place, wait for the rollout, check the version.
async fn replace<C: Cluster>(
    ctx: &C,
    input: &StepInput<'_>,
    svc: &str,
    tag: &str,
    expect_failure: bool,
) -> Result<Outcome, Error> {
    let ns = input.namespace();
    let sts_name = input.statefulset(svc);
    let Some(sts) = ctx.statefulset(ns, &sts_name).await? else {
        return Ok(Outcome::Failed(format!(
            "StatefulSet {sts_name} does not exist"
        )));
    };
    let containers = sts
        .spec
        .template
        .spec
        .as_ref()
        .map(|p| p.containers.clone())
        .unwrap_or_default();
    let Some(container) = containers
        .iter()
        .find(|c| c.name == "environmentd")
        .or(containers.first())
    else {
        return Ok(Outcome::Failed(format!(
            "StatefulSet {sts_name} has no container"
        )));
    };
    if input.record.progress.is_none() {
        let image = container.image.clone().unwrap_or_default();
        let repo = image
            .rsplit_once(':')
            .map(|(r, _)| r)
            .unwrap_or(&image)
            .to_string();
        ctx.set_image(ns, &sts_name, &container.name, &format!("{repo}:{tag}"))
            .await?;
        return progress(
            "replaced",
            format!("replaced {sts_name}'s image with {repo}:{tag}"),
        );
    }
    let status = sts.status.clone().unwrap_or_default();
    let want = sts.spec.replicas.unwrap_or(1);
    let observed = status.observed_generation.unwrap_or(0) >= sts.metadata.generation.unwrap_or(0);
    let rolled = observed
        && status.updated_replicas.unwrap_or(0) == want
        && status.ready_replicas.unwrap_or(0) == want
        && status.current_revision == status.update_revision;
    if expect_failure {
        let pod = ctx.pod(ns, &format!("{sts_name}-0")).await?;
        let exit = pod.and_then(|p| {
            p.status?
                .container_statuses?
                .first()?
                .last_state
                .as_ref()?
                .terminated
                .as_ref()
                .map(|t| t.exit_code)
        });
        if let Some(code) = exit.filter(|c| *c != 0) {
            return done(format!(
                "environmentd {tag} refused to start, as expected (exit code {code})"
            ));
        }
        return wait("waiting for environmentd to refuse to start");
    }
    if !rolled {
        return wait(format!(
            "rollout of {sts_name}: observedGeneration {:?}/{:?}, updated {}/{want}, ready {}/{want}, revision {:?} → {:?}",
            status.observed_generation,
            sts.metadata.generation,
            status.updated_replicas.unwrap_or(0),
            status.ready_replicas.unwrap_or(0),
            status.current_revision,
            status.update_revision
        ));
    }
    let Some(h) = host(ctx, input, svc).await? else {
        return wait("no pod address yet");
    };
    match ctx.mz_version(&h).await {
        Ok(v) if v == tag => Ok(Outcome::Done {
            message: format!("{svc} runs {v}"),
            version: Some(v),
        }),
        Ok(v) => Ok(Outcome::Failed(format!(
            "mz_version() on {svc} is {v}, expected {tag}"
        ))),
        Err(e) => wait(e),
    }
}
