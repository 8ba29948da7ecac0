//! The leader API steps: WaitReadyMz, SkipCatchup and PromoteMz. PromoteMz is the one
//! irreversible act here: `promote-sent` is recorded before the POST, and the POST is sent
//! again only when the leader API shows the first one never arrived.

use super::{StepInput, done, failed, host, leader_error, sql_error, wait};
use crate::{
    api::v1alpha1::StepProgress,
    operator::{
        error::{Class, Error},
        io::{Cluster, LeaderStatus, PromoteAnswer},
        outcome::{Outcome, Wake},
    },
};

fn progress(marker: StepProgress, message: String) -> Result<Outcome, Error> {
    Ok(Outcome::Progress { marker, message })
}

/// Waits, woken as soon as `host`'s leader status is no longer `seen`: the next state of
/// these steps is decided by that status alone, so watching it (not the apiserver) is what
/// makes promotion follow readiness within one HTTP poll.
fn await_status(message: String, host: &str, seen: Option<LeaderStatus>) -> Result<Outcome, Error> {
    Ok(Outcome::Await {
        message,
        wake: Wake::LeaderStatus {
            host: host.to_string(),
            seen,
        },
    })
}

/// WaitReadyMz: poll the leader status until ReadyToPromote.
pub(super) async fn wait_ready<C: Cluster>(
    ctx: &C,
    input: &StepInput<'_>,
    svc: &str,
) -> Result<Outcome, Error> {
    let Some(h) = host(ctx, input, svc).await? else {
        return wait("no pod address yet");
    };
    match ctx.leader_status(&h).await {
        Ok(LeaderStatus::ReadyToPromote) => done(format!("{svc} is ReadyToPromote")),
        Ok(s) => await_status(format!("{svc} reports {s:?}"), &h, Some(s)),
        Err(e) if e.class() == Class::Refused => leader_error(svc, e),
        // Not answering yet (booting): woken by its first answer.
        Err(e) => await_status(format!("{svc}: {e}"), &h, None),
    }
}

/// SkipCatchup: ask a read-only generation to stop catching up.
pub(super) async fn skip_catchup<C: Cluster>(
    ctx: &C,
    input: &StepInput<'_>,
    svc: &str,
) -> Result<Outcome, Error> {
    let Some(h) = host(ctx, input, svc).await? else {
        return wait("no pod address yet");
    };
    match ctx.skip_catchup(&h).await {
        Ok(true) => done(format!("{svc} skips catch-up")),
        Ok(false) => wait(format!(
            "{svc} is too early in initialization to skip catch-up"
        )),
        Err(e) => leader_error(svc, e),
    }
}

/// PromoteMz: record `promote-sent` before the POST; never POST again unless the leader API
/// shows the first one was not received (still ReadyToPromote).
pub(super) async fn promote<C: Cluster>(
    ctx: &C,
    input: &StepInput<'_>,
    svc: &str,
) -> Result<Outcome, Error> {
    let Some(h) = host(ctx, input, svc).await? else {
        return wait("no pod address yet");
    };
    let status = ctx.leader_status(&h).await;
    match &input.record().progress {
        None => before_sending(&h, svc, status),
        Some(StepProgress::PromoteSent) => sending(ctx, &h, svc, status).await,
        Some(StepProgress::Promoted) => promoted(ctx, &h, svc, status).await,
        Some(other) => failed(format!(
            "step progress {:?} is not one PromoteMz records; not guessing whether {svc} was \
             promoted",
            other.as_text()
        )),
    }
}

/// Nothing recorded yet: record the intent to send, unless it is already done.
fn before_sending(
    h: &str,
    svc: &str,
    status: Result<LeaderStatus, crate::operator::error::LeaderApiError>,
) -> Result<Outcome, Error> {
    match status {
        Ok(LeaderStatus::ReadyToPromote) => {
            progress(StepProgress::PromoteSent, format!("promoting {svc}"))
        }
        Ok(LeaderStatus::Promoting | LeaderStatus::IsLeader) => progress(
            StepProgress::Promoted,
            format!("{svc} was already promoted"),
        ),
        Ok(s @ LeaderStatus::Initializing) => {
            await_status(format!("{svc} is still initializing"), h, Some(s))
        }
        Err(e) => leader_error(svc, e),
    }
}

/// `promote-sent` is on record: send, unless the status shows an earlier POST arrived.
async fn sending<C: Cluster>(
    ctx: &C,
    h: &str,
    svc: &str,
    status: Result<LeaderStatus, crate::operator::error::LeaderApiError>,
) -> Result<Outcome, Error> {
    match status {
        // A promote that was received moves the status past ReadyToPromote at once; still
        // ReadyToPromote means the earlier one (if any) never arrived.
        Ok(LeaderStatus::ReadyToPromote) => match ctx.promote(h).await {
            Ok(PromoteAnswer::Success) => {
                progress(StepProgress::Promoted, format!("{svc} accepted promote"))
            }
            Ok(PromoteAnswer::Failure(m)) => failed(format!("promote of {svc} failed: {m}")),
            // Refused outright (an HTTP 4xx): it did not promote.
            Err(e) if e.class() == Class::Refused => {
                failed(format!("promote of {svc} was refused: {e}"))
            }
            Err(e) => wait(format!(
                "promote of {svc} got no answer ({e}); checking the leader status"
            )),
        },
        Ok(LeaderStatus::Promoting | LeaderStatus::IsLeader) => {
            progress(StepProgress::Promoted, format!("{svc} is promoting"))
        }
        // Restarting: as leader (promoted) or read-only again (the promote was lost); the
        // next answer tells which.
        Ok(LeaderStatus::Initializing) => wait(format!("{svc} is restarting")),
        Err(e) if e.class() == Class::Refused => leader_error(svc, e),
        Err(_) => wait(format!("{svc} is restarting")),
    }
}

/// Promoted: wait for IsLeader across the restart, then confirm the version.
async fn promoted<C: Cluster>(
    ctx: &C,
    h: &str,
    svc: &str,
    status: Result<LeaderStatus, crate::operator::error::LeaderApiError>,
) -> Result<Outcome, Error> {
    match status {
        Ok(LeaderStatus::IsLeader) => match ctx.mz_version(h).await {
            Ok(v) => Ok(Outcome::Done {
                message: format!("{svc} is the leader, running {v}"),
                version: Some(v),
            }),
            Err(e) => sql_error(svc, e),
        },
        Ok(LeaderStatus::ReadyToPromote) => failed(format!(
            "{svc} accepted promote but is ReadyToPromote again: it restarted before fencing the \
             old leader, so the promotion was lost; not promoting a second time"
        )),
        Ok(s) => await_status(
            format!("{svc} reports {s:?}; waiting for IsLeader"),
            h,
            Some(s),
        ),
        Err(e) if e.class() == Class::Refused => leader_error(svc, e),
        Err(_) => await_status(format!("{svc} is restarting as leader"), h, None),
    }
}
