//! StartMz and ReplaceEnvironmentdStatefulSet: environmentd's StatefulSet applied or changed,
//! the rollout awaited, then the version confirmed (or, for a read-only generation, the leader
//! API answering; for an expected failure, the container exiting non-zero).

use k8s_openapi::api::{apps::v1::StatefulSet, core::v1::Pod};

use super::{
    StepInput, done, failed, host, last_exit_code, leader_error, sql_error, wait, wait_objects,
    waiting_on,
};
use crate::{
    api::{names, v1alpha1::StepProgress},
    operator::{error::Error, io::Cluster, outcome::Outcome, render},
    plan::action::StartMz,
    version::MzVersion,
};

/// Whether a pod's Ready condition is True.
fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|st| st.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn restart_count(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|st| st.container_statuses.as_ref())
        .and_then(|c| c.first())
        .map(|c| c.restart_count)
        .unwrap_or(0)
}

/// environmentd's `halt!` exit code: "restart me" (a read-only generation that saw DDL, a
/// promoted one rebooting as leader), never a reason to give up.
const EXIT_HALT: i32 = 2;
/// Restarts with the same kind of failure after which a start is failed rather than waited
/// out: environmentd refusing its configuration exits the same way every time, and its own
/// last words say why far sooner than the step's time limit.
const CRASH_LOOP_RESTARTS: i32 = 3;

/// The last line environmentd wrote before its previous exit (its fatal error), or a pointer
/// to the logs when they cannot be read.
async fn last_words<C: Cluster>(ctx: &C, ns: &str, pod: &str) -> String {
    let logs = ctx.logs(ns, pod).await.unwrap_or_default();
    let previous = logs
        .iter()
        .find(|(k, _)| k == "previous.log")
        .map(|(_, text)| text.as_str())
        .unwrap_or_default();
    match previous.lines().rev().find(|l| !l.trim().is_empty()) {
        Some(line) => line.chars().take(500).collect(),
        None => format!("see kubectl logs --previous {pod}"),
    }
}

/// Whether the pod runs the StatefulSet's newest revision.
fn on_update_revision(sts: &StatefulSet, pod: &Pod) -> bool {
    let revision = sts
        .status
        .as_ref()
        .and_then(|st| st.update_revision.as_ref());
    let pod_revision = pod
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("controller-revision-hash"));
    revision.is_some() && pod_revision == revision
}

/// `SELECT mz_version()` on `svc` must say `tag`.
async fn confirm_version<C: Cluster>(
    ctx: &C,
    input: &StepInput<'_>,
    svc: &str,
    tag: &str,
) -> Result<Outcome, Error> {
    let Some(h) = host(ctx, input, svc).await? else {
        return wait("no pod address yet");
    };
    match ctx.mz_version(&h).await {
        Ok(v) if v == tag => Ok(Outcome::Done {
            message: format!("{svc} runs {v}"),
            version: Some(v),
        }),
        Ok(v) => failed(format!("mz_version() on {svc} is {v}, expected {tag}")),
        Err(e) => sql_error(svc, e),
    }
}

/// StartMz: apply the objects, wait for the pod to be Ready on the new revision, then the
/// version check (plain starts) or the leader API answering (read-only starts).
pub(super) async fn start_mz<C: Cluster>(
    ctx: &C,
    input: &StepInput<'_>,
    s: &StartMz,
) -> Result<Outcome, Error> {
    let ns = input.namespace();
    let run = render::RunRef::of(input.run);
    let svc = &s.mz_service;
    let sts_name = names::statefulset(run.name, svc);
    let pod_name = names::pod_of(&sts_name);
    if input.record().progress.is_none() {
        if render::own_account(&run) {
            let (sa, rb) = (render::service_account(&run), render::role_binding(&run));
            ctx.apply_access(ns, &sa, &rb).await?;
        }
        let cm = render::listeners_configmap(&run, s);
        let service = render::service(&run, svc);
        ctx.apply_start(ns, &cm, &service, &render::statefulset(&run, s, 1))
            .await?;
        return Ok(Outcome::Progress {
            marker: StepProgress::Applied,
            message: format!("applied StatefulSet {sts_name} with {}", s.tag),
        });
    }
    let Some(sts) = ctx.statefulset(ns, &sts_name).await? else {
        return failed(format!("StatefulSet {sts_name} disappeared"));
    };
    let Some(pod) = ctx.pod(ns, &pod_name).await? else {
        return wait_objects("waiting for the pod");
    };
    if !on_update_revision(&sts, &pod) {
        return wait_objects("waiting for the pod of the new revision");
    }
    let (ready, restarts, last_exit) = (pod_ready(&pod), restart_count(&pod), last_exit_code(&pod));
    if s.expect_failure {
        if let Some(code) = last_exit.filter(|c| *c != 0) {
            ctx.scale_to_zero(ns, &sts_name).await?;
            return done(format!(
                "environmentd {} refused to start, as expected (exit code {code}, {restarts} restarts)",
                s.tag
            ));
        }
        if ready {
            return failed(format!(
                "expected environmentd {} to refuse to start, but it became ready",
                s.tag
            ));
        }
        return wait_objects("waiting for environmentd to refuse to start");
    }
    if !ready {
        return not_ready(ctx, ns, &pod_name, &s.tag, restarts, last_exit).await;
    }
    if !s.is_read_only() {
        return confirm_version(ctx, input, svc, &s.tag.to_string()).await;
    }
    let Some(h) = host(ctx, input, svc).await? else {
        return wait("no pod address yet");
    };
    match ctx.leader_status(&h).await {
        Ok(status) => done(format!(
            "{svc} runs {} as read-only generation {}: {status:?}",
            s.tag,
            s.deploy_generation.unwrap_or(0)
        )),
        Err(e) => leader_error(svc, e),
    }
}

/// A started pod not Ready yet: waited for, unless environmentd keeps exiting with a failure
/// (not a halt), which fails the start with its last words.
async fn not_ready<C: Cluster>(
    ctx: &C,
    ns: &str,
    pod_name: &str,
    tag: &MzVersion,
    restarts: i32,
    last_exit: Option<i32>,
) -> Result<Outcome, Error> {
    if let Some(code) = last_exit.filter(|&c| c != 0 && c != EXIT_HALT)
        && restarts >= CRASH_LOOP_RESTARTS
    {
        let why = last_words(ctx, ns, pod_name).await;
        return failed(format!(
            "environmentd {tag} keeps exiting (exit code {code}, {restarts} restarts): {why}"
        ));
    }
    let hint = match last_exit {
        Some(code) => format!(" (restarted {restarts} times, last exit code {code})"),
        None => String::new(),
    };
    wait_objects(format!("waiting for {pod_name} to be Ready{hint}"))
}

/// Why a StatefulSet's rollout is not complete, or `None` once it is: observed, every replica
/// updated and ready, on one revision.
fn rollout_pending(sts: &StatefulSet, name: &str) -> Option<String> {
    let status = sts.status.clone().unwrap_or_default();
    let want = sts.spec.replicas.unwrap_or(1);
    let observed = status.observed_generation.unwrap_or(0) >= sts.metadata.generation.unwrap_or(0);
    let rolled = observed
        && status.updated_replicas.unwrap_or(0) == want
        && status.ready_replicas.unwrap_or(0) == want
        && status.current_revision == status.update_revision;
    (!rolled).then(|| {
        format!(
            "rollout of {name}: observedGeneration {:?}/{:?}, updated {}/{want}, ready {}/{want}, revision {:?} → {:?}",
            status.observed_generation,
            sts.metadata.generation,
            status.updated_replicas.unwrap_or(0),
            status.ready_replicas.unwrap_or(0),
            status.current_revision,
            status.update_revision
        )
    })
}

/// ReplaceEnvironmentdStatefulSet: the new version in place, then the rollout, then the
/// version check. A StatefulSet the run created is rendered again for the new tag from the
/// StartMz that created it — every version-dependent argument, the clusterd image and the
/// listeners file change with the version, not only the image. An adopted one is someone
/// else's: only its image changes.
pub(super) async fn replace<C: Cluster>(
    ctx: &C,
    input: &StepInput<'_>,
    svc: &str,
    tag: &MzVersion,
    expect_failure: bool,
) -> Result<Outcome, Error> {
    let ns = input.namespace();
    let sts_name = input.statefulset(svc);
    let Some(sts) = ctx.statefulset(ns, &sts_name).await? else {
        return failed(format!("StatefulSet {sts_name} does not exist"));
    };
    if input.record().progress.is_none() {
        let message = match (input.adopted(svc), input.last_start(svc)) {
            (None, Some(start)) => {
                let run = render::RunRef::of(input.run);
                let start = StartMz {
                    tag: tag.clone(),
                    ..start.clone()
                };
                let cm = render::listeners_configmap(&run, &start);
                let service = render::service(&run, svc);
                ctx.apply_start(ns, &cm, &service, &render::statefulset(&run, &start, 1))
                    .await?;
                format!("rendered {sts_name} again for {tag}")
            }
            _ => match set_image(ctx, ns, &sts, &sts_name, tag).await? {
                Ok(image) => format!("replaced {sts_name}'s image with {image}"),
                Err(why) => return failed(why),
            },
        };
        return Ok(Outcome::Progress {
            marker: StepProgress::Replaced,
            message,
        });
    }
    if expect_failure {
        let pod = ctx.pod(ns, &names::pod_of(&sts_name)).await?;
        if let Some(code) = pod.as_ref().and_then(last_exit_code).filter(|c| *c != 0) {
            return done(format!(
                "environmentd {tag} refused to start, as expected (exit code {code})"
            ));
        }
        return waiting_on(input, svc, "waiting for environmentd to refuse to start");
    }
    if let Some(why) = rollout_pending(&sts, &sts_name) {
        return waiting_on(input, svc, why);
    }
    confirm_version(ctx, input, svc, &tag.to_string()).await
}

/// The image swap of an adopted StatefulSet: its environmentd container (or its first) gets
/// the same repository at `tag`. `Ok(Err(why))` when there is no container to change.
async fn set_image<C: Cluster>(
    ctx: &C,
    ns: &str,
    sts: &StatefulSet,
    sts_name: &str,
    tag: &MzVersion,
) -> Result<Result<String, String>, Error> {
    let containers = sts
        .spec
        .template
        .spec
        .as_ref()
        .map(|p| p.containers.clone())
        .unwrap_or_default();
    let Some(container) = containers
        .iter()
        .find(|c| c.name == render::CONTAINER_NAME)
        .or(containers.first())
    else {
        return Ok(Err(format!("StatefulSet {sts_name} has no container")));
    };
    let image = container.image.clone().unwrap_or_default();
    let repo = image.rsplit_once(':').map(|(r, _)| r).unwrap_or(&image);
    let new_image = format!("{repo}:{tag}");
    // environmentd launches clusterd from `--clusterd-image`: left at the old tag, the new
    // environmentd would run old replicas. Its tag follows the image's, as cloudtest's
    // re-rendering does; every other argument is the owner's.
    let args = container.args.as_ref().and_then(|args| {
        let changed: Vec<String> = args
            .iter()
            .map(|a| match a.strip_prefix("--clusterd-image=") {
                Some(old) => {
                    let repo = old.rsplit_once(':').map_or(old, |(r, _)| r);
                    format!("--clusterd-image={repo}:{tag}")
                }
                None => a.clone(),
            })
            .collect();
        (changed != *args).then_some(changed)
    });
    ctx.set_image(ns, sts_name, &container.name, &new_image, args.as_deref())
        .await?;
    Ok(Ok(new_image))
}
