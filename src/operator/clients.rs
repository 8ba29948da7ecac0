//! Reaching environmentd: its leader API over HTTP and its SQL ports over pgwire, with a
//! timeout around every call. Connection errors are "not there yet", never a protocol failure.

use std::time::Duration;

use serde::Deserialize;
use tokio_postgres::{Client, NoTls};
use tracing::debug;

use crate::plan::action::INTERNAL_HTTP_PORT;

/// Time limit of one HTTP call or SQL connect/statement.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// `GET /api/leader/status`'s `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum LeaderStatus {
    Initializing,
    ReadyToPromote,
    Promoting,
    IsLeader,
}

#[derive(Deserialize)]
struct StatusBody {
    status: LeaderStatus,
}

/// What `POST /api/leader/promote` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromoteAnswer {
    Success,
    Failure(String),
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(CALL_TIMEOUT)
        .connect_timeout(CALL_TIMEOUT)
        .build()
        .expect("HTTP client")
}

fn url(host: &str, path: &str) -> String {
    format!("http://{host}:{INTERNAL_HTTP_PORT}{path}")
}

/// The leader status, or `None` while environmentd cannot be reached.
pub async fn leader_status(http: &reqwest::Client, host: &str) -> Option<LeaderStatus> {
    let r = http
        .get(url(host, "/api/leader/status"))
        .send()
        .await
        .ok()?;
    let body: StatusBody = r.json().await.ok()?;
    Some(body.status)
}

/// `POST /api/leader/promote`; `Err` when the answer never arrived (the caller must not assume
/// either way).
pub async fn promote(http: &reqwest::Client, host: &str) -> Result<PromoteAnswer, String> {
    let r = http
        .post(url(host, "/api/leader/promote"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let body: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
    if body["result"] == "Success" {
        return Ok(PromoteAnswer::Success);
    }
    let message = body["result"]["Failure"]["message"]
        .as_str()
        .unwrap_or("unknown failure")
        .to_string();
    Ok(PromoteAnswer::Failure(message))
}

/// `POST /api/leader/skip-catchup`: `Ok(true)` on 204, `Ok(false)` when it is too early.
pub async fn skip_catchup(http: &reqwest::Client, host: &str) -> Result<bool, String> {
    let r = http
        .post(url(host, "/api/leader/skip-catchup"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    match r.status().as_u16() {
        204 | 200 => Ok(true),
        400 => Ok(false),
        code => Err(format!("skip-catchup answered HTTP {code}")),
    }
}

/// A SQL session as `materialize` on 6875, or as `mz_system` on the internal port 6877.
pub async fn sql(host: &str, system: bool) -> Result<Client, String> {
    let (port, user) = if system {
        (6877, "mz_system")
    } else {
        (6875, "materialize")
    };
    let mut cfg = tokio_postgres::Config::new();
    cfg.host(host)
        .port(port)
        .user(user)
        .dbname("materialize")
        .application_name("scenario-operator")
        .connect_timeout(CALL_TIMEOUT);
    let (client, connection) = tokio::time::timeout(CALL_TIMEOUT, cfg.connect(NoTls))
        .await
        .map_err(|_| format!("connecting to {host}:{port} timed out"))?
        .map_err(|e| format!("connecting to {host}:{port}: {}", db_message(&e)))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            debug!(error = %e, "SQL connection closed");
        }
    });
    Ok(client)
}

/// Runs one statement with the simple protocol (how testdrive's postgres-execute sends them).
pub async fn execute(client: &Client, statement: &str) -> Result<(), String> {
    tokio::time::timeout(CALL_TIMEOUT, client.batch_execute(statement))
        .await
        .map_err(|_| format!("{statement}: timed out"))?
        .map_err(|e| format!("{statement}: {}", db_message(&e)))
}

/// `SELECT mz_version()` → the semver part (`v26.1.0` of `v26.1.0 (abc)`).
pub async fn mz_version(host: &str) -> Result<String, String> {
    let client = sql(host, false).await?;
    let row = tokio::time::timeout(CALL_TIMEOUT, client.query_one("SELECT mz_version()", &[]))
        .await
        .map_err(|_| "SELECT mz_version(): timed out".to_string())?
        .map_err(|e| format!("SELECT mz_version(): {}", db_message(&e)))?;
    let full: String = row.get(0);
    Ok(full
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string())
}

/// The server's message when there is one.
pub fn db_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => e.to_string(),
    }
}
