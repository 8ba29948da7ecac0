//! Reaching environmentd: its leader API over HTTP and its SQL ports over pgwire, with a
//! timeout around every call. Connection errors are "not there yet", never a protocol failure.

use std::time::Duration;

use serde::Deserialize;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};
use tracing::debug;

use crate::{
    checks::runner::{Rows, SqlFailure},
    plan::action::INTERNAL_HTTP_PORT,
};

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

/// Time limit of one check statement (a check's expected result is retried separately).
pub const CHECK_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

fn failure(e: &tokio_postgres::Error) -> SqlFailure {
    match e.as_db_error() {
        Some(db) => SqlFailure::Db(db.message().to_string()),
        None => SqlFailure::Lost(e.to_string()),
    }
}

/// Runs a check's statement with the simple protocol and returns its rows as text. Booleans
/// are spelled `true`/`false` as testdrive prints them; their columns are found by preparing
/// the query first (only queries: preparing DDL would be pointless).
pub async fn check_query(client: &Client, sql: &str) -> Result<Rows, SqlFailure> {
    let first = sql
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    let booleans: Vec<bool> = if matches!(first.as_str(), "SELECT" | "WITH" | "TABLE" | "VALUES") {
        match tokio::time::timeout(CALL_TIMEOUT, client.prepare(sql)).await {
            Ok(Ok(stmt)) => stmt
                .columns()
                .iter()
                .map(|c| *c.type_() == tokio_postgres::types::Type::BOOL)
                .collect(),
            // The query itself reports the problem.
            _ => Vec::new(),
        }
    } else {
        Vec::new()
    };
    let messages = tokio::time::timeout(CHECK_STATEMENT_TIMEOUT, client.simple_query(sql))
        .await
        .map_err(|_| SqlFailure::Lost(format!("no answer within {CHECK_STATEMENT_TIMEOUT:?}")))?
        .map_err(|e| failure(&e))?;
    let mut out = Rows::default();
    for m in messages {
        match m {
            SimpleQueryMessage::RowDescription(cols) => {
                out.columns = cols.iter().map(|c| c.name().to_string()).collect();
            }
            SimpleQueryMessage::Row(row) => {
                let values = (0..row.len())
                    .map(|i| {
                        row.get(i).map(|v| match (booleans.get(i), v) {
                            (Some(true), "t") => "true".to_string(),
                            (Some(true), "f") => "false".to_string(),
                            _ => v.to_string(),
                        })
                    })
                    .collect();
                out.rows.push(values);
            }
            _ => {}
        }
    }
    Ok(out)
}

/// testdrive's `$ postgres-execute`: connects to `url` (database `materialize` unless it names
/// one) and runs the statements in order.
pub async fn postgres_execute(url: &str, statements: &[String]) -> Result<(), SqlFailure> {
    let mut cfg: tokio_postgres::Config = url
        .parse()
        .map_err(|e| SqlFailure::Db(format!("connection={url}: {e}")))?;
    if cfg.get_dbname().is_none() {
        cfg.dbname("materialize");
    }
    cfg.application_name("scenario-operator")
        .connect_timeout(CALL_TIMEOUT);
    let (client, connection) = tokio::time::timeout(CALL_TIMEOUT, cfg.connect(NoTls))
        .await
        .map_err(|_| SqlFailure::NotSent(format!("connecting to {url} timed out")))?
        .map_err(|e| SqlFailure::NotSent(format!("connecting to {url}: {}", db_message(&e))))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            debug!(error = %e, "SQL connection closed");
        }
    });
    for s in statements {
        tokio::time::timeout(CHECK_STATEMENT_TIMEOUT, client.batch_execute(s))
            .await
            .map_err(|_| {
                SqlFailure::Lost(format!("{s}: no answer within {CHECK_STATEMENT_TIMEOUT:?}"))
            })?
            .map_err(|e| failure(&e))?;
    }
    Ok(())
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

/// Check sessions by name, each with the host it is connected to: a check's commands share one
/// session within a phase, as testdrive's do, and other checks' sessions are never held up.
#[derive(Default)]
pub struct Sessions {
    /// Session → host, client and when it was last used.
    open: tokio::sync::Mutex<
        std::collections::HashMap<String, (String, Client, tokio::time::Instant)>,
    >,
}

/// A session unused this long belongs to a check that will not come back (its run was deleted
/// mid-phase): it is closed.
const SESSION_IDLE: Duration = Duration::from_secs(600);

impl super::io::CheckSql for Sessions {
    async fn check_sql(&self, session: &str, host: &str, sql: &str) -> Result<Rows, SqlFailure> {
        // Taken out while in use, put back after.
        let cached = {
            let mut open = self.open.lock().await;
            open.retain(|_, (_, _, used)| used.elapsed() < SESSION_IDLE);
            open.remove(session)
        };
        let client = match cached {
            Some((h, c, _)) if h == host && !c.is_closed() => c,
            _ => self::sql(host, false).await.map_err(SqlFailure::NotSent)?,
        };
        let result = check_query(&client, sql).await;
        self.open.lock().await.insert(
            session.to_string(),
            (host.to_string(), client, tokio::time::Instant::now()),
        );
        result
    }

    async fn postgres_execute(&self, url: &str, statements: &[String]) -> Result<(), SqlFailure> {
        postgres_execute(url, statements).await
    }

    async fn end_session(&self, session: &str) {
        self.open.lock().await.remove(session);
    }
}
