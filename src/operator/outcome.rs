//! The vocabulary between the parts of a pass, and nothing else: what one pass of a step
//! achieved ([`Outcome`]), what recording it means for the controller ([`Effect`], [`Next`]),
//! and the Events it publishes ([`EventNote`]). A leaf module: actions, checks and the status
//! transitions all import it, and it imports none of them (only `io`'s leader status type).

use kube::runtime::events::EventType;

use super::io::LeaderStatus;
use crate::api::v1alpha1::{CheckRecord, StepProgress};

/// What a pass of a step achieved.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Done {
        message: String,
        /// The version `SELECT mz_version()` confirmed, when the step checked it.
        version: Option<String>,
    },
    Wait(String),
    /// Waiting for something a small task can watch without the apiserver: the run is woken
    /// the moment it changes (the poll interval stays the fallback).
    Await {
        message: String,
        wake: Wake,
    },
    /// Irreversible progress: recorded in the step before anything else happens.
    Progress {
        marker: StepProgress,
        message: String,
    },
    /// A ConfigureMz statement is now applied (remembered for the whole run).
    Applied(String),
    Failed(String),
    /// A check step's records with markers on commands about to be sent that are not safe to
    /// repeat. Nothing was sent: the pass writes them, then sends at once (`fresh` names the
    /// checks whose markers this pass set, so the send knows they are not left from a crash).
    WriteAhead {
        records: Vec<CheckRecord>,
        fresh: Vec<String>,
    },
    /// A check step's pass: the checks' records, and how it stands.
    Checks {
        records: Vec<CheckRecord>,
        end: ChecksEnd,
    },
}

/// What a waiting step's run is woken by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wake {
    /// environmentd at `host` answering a leader status other than `seen` (or answering at
    /// all, when `seen` is `None`).
    LeaderStatus {
        host: String,
        seen: Option<LeaderStatus>,
    },
    /// A change of the run's own StatefulSet or of its pod: the controller's watches deliver
    /// it (no task needed), so a pass waiting on Kubernetes reads nothing until it changes.
    Objects,
}

/// Where a check step stands after a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChecksEnd {
    /// Checks still running; `moved` when one got further in this pass.
    Running { moved: bool },
    /// Every check finished and none failed: the per-check summary.
    Passed(String),
    /// Every check finished and at least one failed: the summary of the failures.
    Failed(String),
}

/// An Event to publish about the run.
#[derive(Debug, Clone, PartialEq)]
pub struct EventNote {
    pub type_: EventType,
    pub reason: &'static str,
    pub note: String,
}

impl EventNote {
    pub fn normal(reason: &'static str, note: String) -> Self {
        EventNote {
            type_: EventType::Normal,
            reason,
            note,
        }
    }
    pub fn warning(reason: &'static str, note: String) -> Self {
        EventNote {
            type_: EventType::Warning,
            reason,
            note,
        }
    }
}

/// What the controller does after recording an outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Requeue at once: the step moved on.
    Again,
    /// Requeue after the poll interval: the step waits.
    Poll,
    /// Woken by the watch, or after the poll interval if it sees nothing.
    Watch(Wake),
    /// The write-ahead is on record: run the step again in this pass, knowing these checks'
    /// markers are fresh.
    Continue { fresh: Vec<String> },
    /// The run ended: clean up per `spec.cleanup` and wait for changes.
    Ended { succeeded: bool },
}

/// How a recorded outcome changes the world: a status write, Events, and what comes next.
#[derive(Debug, Clone, PartialEq)]
pub struct Effect {
    /// The status changed and must be written.
    pub write: bool,
    /// Events to publish after the write, in order.
    pub events: Vec<EventNote>,
    pub next: Next,
}
