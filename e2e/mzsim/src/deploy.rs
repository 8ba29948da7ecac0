//! environmentd's deployment state machine (`DeploymentState`) and the leader API's answers.
//!
//! Initializing → CatchingUp → ReadyToPromote → Promoting (then the process halts and restarts)
//! for a read-only generation; Initializing → IsLeader for a leader. CatchingUp is reported as
//! Initializing, as environmentd does.

use std::{
    sync::Mutex,
    time::{Duration, Instant, SystemTime},
};

use tokio::sync::{Notify, watch};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Initializing,
    CatchingUp,
    ReadyToPromote,
    Promoting,
    IsLeader,
}

impl Status {
    /// The `status` field of `GET /api/leader/status`.
    pub fn reported(self) -> &'static str {
        match self {
            Status::Initializing | Status::CatchingUp => "Initializing",
            Status::ReadyToPromote => "ReadyToPromote",
            Status::Promoting => "Promoting",
            Status::IsLeader => "IsLeader",
        }
    }
}

/// Result of `POST /api/leader/promote`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromoteOutcome {
    Success,
    Failure(String),
}

/// Result of `POST /api/leader/skip-catchup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipOutcome {
    Skipped,
    TooEarly(String),
}

pub struct Deployment {
    status: watch::Sender<Status>,
    skip: Notify,
    /// When this generation became ReadyToPromote, and how long after that the promote
    /// request arrived: the promote-detection latency the benchmark reports.
    ready_at: Mutex<Option<Instant>>,
    promote_wait: Mutex<Option<Duration>>,
    /// Each status taken, with when, not yet taken by [`Deployment::drain_history`].
    history: Mutex<Vec<(Status, SystemTime)>>,
}

impl Default for Deployment {
    fn default() -> Self {
        Deployment {
            status: watch::Sender::new(Status::Initializing),
            skip: Notify::new(),
            ready_at: Mutex::new(None),
            promote_wait: Mutex::new(None),
            history: Mutex::new(vec![(Status::Initializing, SystemTime::now())]),
        }
    }
}

impl Deployment {
    pub fn status(&self) -> Status {
        *self.status.borrow()
    }

    pub fn subscribe(&self) -> watch::Receiver<Status> {
        self.status.subscribe()
    }

    /// Allowed transitions only; anything else is a bug in the caller.
    pub fn set(&self, next: Status) {
        use Status::*;
        // Before the status is published: a promote may follow it at once.
        if next == Status::ReadyToPromote {
            *self.ready_at.lock().expect("not poisoned") = Some(Instant::now());
        }
        self.status.send_modify(|s| {
            let ok = matches!(
                (*s, next),
                (Initializing, CatchingUp)
                    | (Initializing | CatchingUp, ReadyToPromote)
                    | (ReadyToPromote, Promoting)
                    | (Initializing | Promoting, IsLeader)
            );
            assert!(ok, "invalid deployment transition {s:?} -> {next:?}");
            *s = next;
            self.taken(next);
        });
    }

    fn taken(&self, status: Status) {
        let mut history = self.history.lock().expect("not poisoned");
        history.push((status, SystemTime::now()));
    }

    /// The statuses taken since the last call, with when.
    pub fn drain_history(&self) -> Vec<(Status, SystemTime)> {
        std::mem::take(&mut *self.history.lock().expect("not poisoned"))
    }

    /// From becoming ReadyToPromote to the first promote request, once one arrived.
    pub fn promote_wait(&self) -> Option<Duration> {
        *self.promote_wait.lock().expect("not poisoned")
    }

    /// The promote endpoint: idempotent once past initialization.
    pub fn promote(&self) -> PromoteOutcome {
        let mut moved = false;
        self.status.send_if_modified(|s| {
            if *s == Status::ReadyToPromote {
                *s = Status::Promoting;
                self.taken(Status::Promoting);
                moved = true;
            }
            moved
        });
        if moved {
            let ready_at = *self.ready_at.lock().expect("not poisoned");
            *self.promote_wait.lock().expect("not poisoned") = ready_at.map(|t| t.elapsed());
        }
        match self.status() {
            Status::Promoting | Status::IsLeader => PromoteOutcome::Success,
            Status::Initializing | Status::CatchingUp => {
                PromoteOutcome::Failure("cannot promote leader while initializing".into())
            }
            Status::ReadyToPromote => unreachable!("moved to Promoting above"),
        }
    }

    /// The skip-catchup endpoint: ends catch-up early; refused before catch-up started.
    pub fn skip_catchup(&self) -> SkipOutcome {
        match self.status() {
            Status::Initializing => SkipOutcome::TooEarly(
                "cannot skip catchup in this phase of initialization; try again later".into(),
            ),
            Status::CatchingUp => {
                self.skip.notify_one();
                SkipOutcome::Skipped
            }
            _ => SkipOutcome::Skipped,
        }
    }

    /// Resolves when skip-catchup is requested.
    pub async fn skip_requested(&self) {
        self.skip.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_generation_lifecycle() {
        let d = Deployment::default();
        assert_eq!(d.status().reported(), "Initializing");
        assert!(matches!(d.skip_catchup(), SkipOutcome::TooEarly(_)));
        assert_eq!(
            d.promote(),
            PromoteOutcome::Failure("cannot promote leader while initializing".into())
        );
        d.set(Status::CatchingUp);
        assert_eq!(d.status().reported(), "Initializing");
        assert_eq!(d.skip_catchup(), SkipOutcome::Skipped);
        d.set(Status::ReadyToPromote);
        assert_eq!(d.promote_wait(), None);
        assert_eq!(d.promote(), PromoteOutcome::Success);
        assert_eq!(d.status(), Status::Promoting);
        let waited = d.promote_wait().expect("measured at the first promote");
        // A second promote does not move the measurement.
        assert_eq!(d.promote(), PromoteOutcome::Success);
        assert_eq!(d.promote_wait(), Some(waited));
        // Idempotent once past initialization.
        assert_eq!(d.promote(), PromoteOutcome::Success);
        assert_eq!(d.skip_catchup(), SkipOutcome::Skipped);
    }

    #[test]
    fn leader_goes_straight_to_is_leader() {
        let d = Deployment::default();
        d.set(Status::IsLeader);
        assert_eq!(d.promote(), PromoteOutcome::Success);
        assert_eq!(d.status().reported(), "IsLeader");
    }

    #[test]
    #[should_panic(expected = "invalid deployment transition")]
    fn refuses_invalid_transitions() {
        Deployment::default().set(Status::Promoting);
    }
}
