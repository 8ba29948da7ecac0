//! Typed errors of the operator's IO, one enum per layer (Kubernetes API, environmentd's leader
//! API, SQL), each classified by cause: what the step does about an error is decided here, by
//! what went wrong, not at each call site.
//!
//! - [`Class::Wait`]: not reachable yet (booting, restarting, a transient server error): try
//!   again at the next poll; the step's time limit names the last cause if it lasts.
//! - [`Class::Refused`]: the other side understood and said no (Materialize rejected the
//!   statement, the apiserver rejected the object): fail the step now with that message.
//! - [`Class::Lost`]: sent, but no answer came back: it may or may not have taken effect. Each
//!   action applies its own evidence rule (an idempotent statement is sent again; a promote is
//!   re-sent only if the leader API shows it never arrived).

use std::time::Duration;

use crate::checks::runner::SqlFailure;

/// What a failed call means for the step that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Wait,
    Refused,
    Lost,
}

/// A Kubernetes API call that failed.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// The apiserver answered with an error status.
    #[error("{call}: the apiserver answered {code} {reason}: {message}")]
    Api {
        call: String,
        code: u16,
        reason: String,
        message: String,
    },
    /// No usable answer: transport failure or an undecodable body.
    #[error("{call}: no usable answer from the apiserver")]
    Unavailable {
        call: String,
        #[source]
        source: kube::Error,
    },
    /// No answer within the call's time limit.
    #[error("{call}: no answer within {limit:?}")]
    Timeout { call: String, limit: Duration },
}

impl KubeError {
    /// Sorts a kube-rs error; `call` says what was attempted (`apply StatefulSet ns/name`).
    pub fn from_kube(call: String, e: kube::Error) -> Self {
        match e {
            kube::Error::Api(s) => KubeError::Api {
                call,
                code: s.code,
                reason: s.reason.clone(),
                message: s.message.clone(),
            },
            source => KubeError::Unavailable { call, source },
        }
    }

    /// Invalid (400, 422) and forbidden (403) objects are refused for good: retrying sends the
    /// same object with the same permissions. Everything else (conflicts, 404 races, throttling,
    /// 5xx, no answer) is transient.
    pub fn class(&self) -> Class {
        match self {
            KubeError::Api {
                code: 400 | 403 | 422,
                ..
            } => Class::Refused,
            _ => Class::Wait,
        }
    }
}

/// A call to environmentd's leader API (`/api/leader/*`) that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaderApiError {
    /// No connection: environmentd is not listening yet (or its pod has no address).
    #[error("{url} is not reachable: {detail}")]
    Unreachable { url: String, detail: String },
    /// The request went out but no answer came back.
    #[error("{url} sent no answer: {detail}")]
    NoAnswer { url: String, detail: String },
    /// An HTTP error status.
    #[error("{url} answered HTTP {code}: {body}")]
    Status {
        url: String,
        code: u16,
        body: String,
    },
    /// An answer this operator cannot read (an unknown leader status, say).
    #[error("{url} answered something unexpected: {detail}")]
    Protocol { url: String, detail: String },
}

impl LeaderApiError {
    /// 5xx is a server still booting or restarting; 4xx and unreadable answers are refusals
    /// (an environmentd without this API will not grow one by waiting).
    pub fn class(&self) -> Class {
        match self {
            LeaderApiError::Unreachable { .. } => Class::Wait,
            LeaderApiError::NoAnswer { .. } => Class::Lost,
            LeaderApiError::Status { code, .. } if *code >= 500 => Class::Wait,
            LeaderApiError::Status { .. } | LeaderApiError::Protocol { .. } => Class::Refused,
        }
    }
}

/// A SQL call to environmentd that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlError {
    /// No session: environmentd is not accepting connections yet. Nothing was sent.
    #[error("cannot connect to {addr}: {detail}")]
    NotConnected { addr: String, detail: String },
    /// Materialize answered the statement with an error.
    #[error("{statement}: {message} (SQLSTATE {code})")]
    Refused {
        statement: String,
        code: String,
        message: String,
    },
    /// Sent, but the answer never came (timeout, connection lost).
    #[error("{statement}: no answer: {detail}")]
    Lost { statement: String, detail: String },
}

/// SQLSTATE classes that describe the server's state rather than the statement: connection
/// exceptions, insufficient resources, operator intervention (shutting down, not accepting
/// connections yet), transaction rollbacks. A statement refused with one of these may succeed
/// when sent again.
const TRANSIENT_SQLSTATE_CLASSES: &[&str] = &["08", "40", "53", "57"];

impl SqlError {
    pub fn class(&self) -> Class {
        match self {
            SqlError::NotConnected { .. } => Class::Wait,
            SqlError::Lost { .. } => Class::Lost,
            SqlError::Refused { code, .. }
                if TRANSIENT_SQLSTATE_CLASSES
                    .iter()
                    .any(|c| code.starts_with(c)) =>
            {
                Class::Wait
            }
            SqlError::Refused { .. } => Class::Refused,
        }
    }
}

/// The check runner's own view of a failed command (it applies testdrive's retry rules).
impl From<SqlError> for SqlFailure {
    fn from(e: SqlError) -> Self {
        match e {
            SqlError::NotConnected { .. } => SqlFailure::NotSent(e.to_string()),
            SqlError::Refused { message, .. } => SqlFailure::Db(message),
            SqlError::Lost { .. } => SqlFailure::Lost(e.to_string()),
        }
    }
}

/// Why a reconcile pass failed (the controller retries it with back-off).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API call failed")]
    Kube(#[from] KubeError),
    /// The checks could not be written into their snapshot (a bug, not an input problem).
    #[error("cannot serialize the checks snapshot: {0}")]
    Snapshot(String),
}

impl Error {
    /// A stable label for logs and metrics.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube(e) if e.class() == Class::Refused => "kube-refused",
            Error::Kube(_) => "kube-transient",
            Error::Snapshot(_) => "internal",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(code: &str) -> SqlError {
        SqlError::Refused {
            statement: "ALTER SYSTEM SET x = 1".into(),
            code: code.into(),
            message: "m".into(),
        }
    }

    #[test]
    fn sql_errors_are_classified_by_cause() {
        // Materialize rejecting the statement itself fails the step at once.
        assert_eq!(refused("42704").class(), Class::Refused);
        assert_eq!(refused("42601").class(), Class::Refused);
        assert_eq!(refused("XX000").class(), Class::Refused);
        // A server shutting down or not ready yet is waited out.
        assert_eq!(refused("57P01").class(), Class::Wait);
        assert_eq!(refused("08006").class(), Class::Wait);
        let not_connected = SqlError::NotConnected {
            addr: "h:6877".into(),
            detail: "connection refused".into(),
        };
        assert_eq!(not_connected.class(), Class::Wait);
        let lost = SqlError::Lost {
            statement: "s".into(),
            detail: "timed out".into(),
        };
        assert_eq!(lost.class(), Class::Lost);
        assert_eq!(
            SqlFailure::from(refused("42704")),
            SqlFailure::Db("m".into())
        );
    }

    #[test]
    fn leader_api_and_kube_errors_are_classified_by_cause() {
        let status = |code| LeaderApiError::Status {
            url: "u".into(),
            code,
            body: String::new(),
        };
        assert_eq!(status(503).class(), Class::Wait);
        assert_eq!(status(404).class(), Class::Refused);
        let kube = |code| KubeError::Api {
            call: "apply".into(),
            code,
            reason: String::new(),
            message: String::new(),
        };
        assert_eq!(kube(422).class(), Class::Refused);
        assert_eq!(kube(403).class(), Class::Refused);
        assert_eq!(kube(409).class(), Class::Wait);
        assert_eq!(kube(500).class(), Class::Wait);
    }
}
