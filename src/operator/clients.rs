//! Reaching environmentd: its leader API over HTTP and its SQL ports over pgwire, with a
//! timeout around every call and typed errors that say whether the call never connected,
//! was refused, or lost its answer ([`super::error`]). Also the real [`Environmentd`] and
//! [`CheckSql`] of the operator's [`Context`].

use std::time::Duration;

use serde::Deserialize;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};
use tracing::debug;

use super::{
    context::Context,
    error::{LeaderApiError, SqlError},
    io::{CheckSql, Environmentd, LeaderStatus, PromoteAnswer},
};
use crate::{
    checks::runner::{Rows, SqlFailure},
    environmentd::{
        INTERNAL_HTTP_PORT, INTERNAL_SQL_PORT, LEADER_PROMOTE_PATH, LEADER_SKIP_CATCHUP_PATH,
        LEADER_STATUS_PATH, SQL_PORT, SYSTEM_USER, USER,
    },
};

/// Time limit of one HTTP call or SQL connect/statement.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
struct StatusBody {
    status: LeaderStatus,
}

pub fn http_client() -> reqwest::Client {
    // Only a TLS backend or system configuration that cannot load fails here, and this
    // client uses neither; the default client is the same minus the timeouts.
    reqwest::Client::builder()
        .timeout(CALL_TIMEOUT)
        .connect_timeout(CALL_TIMEOUT)
        .build()
        .unwrap_or_default()
}

fn url(host: &str, path: &str) -> String {
    format!("http://{host}:{INTERNAL_HTTP_PORT}{path}")
}

/// A request error: never connected, or sent without an answer.
fn request_error(url: &str, e: reqwest::Error) -> LeaderApiError {
    let (url, detail) = (url.to_string(), e.to_string());
    if e.is_connect() {
        LeaderApiError::Unreachable { url, detail }
    } else {
        LeaderApiError::NoAnswer { url, detail }
    }
}

/// Sends a request; an HTTP error status becomes [`LeaderApiError::Status`] unless `accept`
/// takes it.
async fn send(
    req: reqwest::RequestBuilder,
    url: &str,
    accept: &[u16],
) -> Result<reqwest::Response, LeaderApiError> {
    let r = req.send().await.map_err(|e| request_error(url, e))?;
    let code = r.status().as_u16();
    if r.status().is_success() || accept.contains(&code) {
        return Ok(r);
    }
    let body = r.text().await.unwrap_or_default();
    Err(LeaderApiError::Status {
        url: url.to_string(),
        code,
        body: body.chars().take(300).collect(),
    })
}

/// The leader status.
pub async fn leader_status(
    http: &reqwest::Client,
    host: &str,
) -> Result<LeaderStatus, LeaderApiError> {
    let u = url(host, LEADER_STATUS_PATH);
    let r = send(http.get(&u), &u, &[]).await?;
    let text = r.text().await.map_err(|e| request_error(&u, e))?;
    serde_json::from_str::<StatusBody>(&text)
        .map(|b| b.status)
        .map_err(|e| LeaderApiError::Protocol {
            url: u,
            detail: format!("{e}: {text}"),
        })
}

/// `POST /api/leader/promote`; `NoAnswer` when the answer never arrived (the caller must not
/// assume either way).
pub async fn promote(http: &reqwest::Client, host: &str) -> Result<PromoteAnswer, LeaderApiError> {
    let u = url(host, LEADER_PROMOTE_PATH);
    // A refused promotion comes with an error status and environmentd's reason in the body:
    // the reason is the answer, not the status.
    let r = send(http.post(&u), &u, &[400, 500]).await?;
    let code = r.status().as_u16();
    let text = r.text().await.map_err(|e| request_error(&u, e))?;
    let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    if body["result"] == "Success" {
        return Ok(PromoteAnswer::Success);
    }
    match body["result"]["Failure"]["message"].as_str() {
        Some(message) => Ok(PromoteAnswer::Failure(message.to_string())),
        None if (200..300).contains(&code) => Err(LeaderApiError::Protocol {
            url: u,
            detail: format!("no result in {text}"),
        }),
        None => Err(LeaderApiError::Status {
            url: u,
            code,
            body: text.chars().take(300).collect(),
        }),
    }
}

/// `POST /api/leader/skip-catchup`: `Ok(true)` on 2xx, `Ok(false)` on 400 (too early).
pub async fn skip_catchup(http: &reqwest::Client, host: &str) -> Result<bool, LeaderApiError> {
    let u = url(host, LEADER_SKIP_CATCHUP_PATH);
    let r = send(http.post(&u), &u, &[400]).await?;
    Ok(r.status().is_success())
}

/// A SQL session as `materialize` on the SQL port, or as `mz_system` on the internal one.
pub async fn sql(host: &str, system: bool) -> Result<Client, SqlError> {
    connect(host, system, CALL_TIMEOUT, "scenario-operator").await
}

/// [`sql`] with its own time limit and the `application_name` environmentd shows for it.
pub async fn connect(
    host: &str,
    system: bool,
    limit: Duration,
    application: &str,
) -> Result<Client, SqlError> {
    let (port, user) = if system {
        (INTERNAL_SQL_PORT, SYSTEM_USER)
    } else {
        (SQL_PORT, USER)
    };
    let addr = format!("{host}:{port}");
    let mut cfg = tokio_postgres::Config::new();
    cfg.host(host)
        .port(port)
        .user(user)
        .dbname("materialize")
        .application_name(application)
        .connect_timeout(limit);
    let (client, connection) = tokio::time::timeout(limit, cfg.connect(NoTls))
        .await
        .map_err(|_| SqlError::NotConnected {
            addr: addr.clone(),
            detail: format!("no connection within {limit:?}"),
        })?
        .map_err(|e| SqlError::NotConnected {
            addr: addr.clone(),
            detail: db_message(&e),
        })?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            debug!(error = %e, "SQL connection closed");
        }
    });
    Ok(client)
}

/// A statement's error: the server's (refused) or none (lost).
fn statement_error(statement: &str, e: &tokio_postgres::Error) -> SqlError {
    match e.as_db_error() {
        Some(db) => SqlError::Refused {
            statement: statement.to_string(),
            code: db.code().code().to_string(),
            message: db.message().to_string(),
        },
        None => SqlError::Lost {
            statement: statement.to_string(),
            detail: e.to_string(),
        },
    }
}

/// Runs one statement with the simple protocol (how testdrive's postgres-execute sends them).
pub async fn execute(client: &Client, statement: &str) -> Result<(), SqlError> {
    tokio::time::timeout(CALL_TIMEOUT, client.batch_execute(statement))
        .await
        .map_err(|_| SqlError::Lost {
            statement: statement.to_string(),
            detail: format!("no answer within {CALL_TIMEOUT:?}"),
        })?
        .map_err(|e| statement_error(statement, &e))
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
    // The columns' types, so each value is shown as testdrive shows it (it reads results
    // typed; the values below come as text).
    let types: Vec<u32> = if matches!(first.as_str(), "SELECT" | "WITH" | "TABLE" | "VALUES") {
        match tokio::time::timeout(CALL_TIMEOUT, client.prepare(sql)).await {
            Ok(Ok(stmt)) => stmt.columns().iter().map(|c| c.type_().oid()).collect(),
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
                        row.get(i).map(|v| match types.get(i) {
                            Some(oid) => crate::checks::render::value(*oid, v),
                            None => v.to_string(),
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
pub async fn mz_version(host: &str) -> Result<String, SqlError> {
    const QUERY: &str = "SELECT mz_version()";
    let client = sql(host, false).await?;
    let row = tokio::time::timeout(CALL_TIMEOUT, client.query_one(QUERY, &[]))
        .await
        .map_err(|_| SqlError::Lost {
            statement: QUERY.into(),
            detail: format!("no answer within {CALL_TIMEOUT:?}"),
        })?
        .map_err(|e| statement_error(QUERY, &e))?;
    let full: String = row.try_get(0).map_err(|e| statement_error(QUERY, &e))?;
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

impl CheckSql for Sessions {
    async fn check_sql(&self, session: &str, host: &str, sql: &str) -> Result<Rows, SqlFailure> {
        // Taken out while in use, put back after.
        let cached = {
            let mut open = self.open.lock().await;
            open.retain(|_, (_, _, used)| used.elapsed() < SESSION_IDLE);
            open.remove(session)
        };
        let client = match cached {
            Some((h, c, _)) if h == host && !c.is_closed() => c,
            _ => self::sql(host, false).await.map_err(SqlFailure::from)?,
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

impl Environmentd for Context {
    fn pod_ip_addresses(&self) -> bool {
        self.settings.pod_ip_addresses
    }

    async fn leader_status(&self, host: &str) -> Result<LeaderStatus, LeaderApiError> {
        let status = leader_status(&self.http, host).await;
        if matches!(status, Ok(LeaderStatus::ReadyToPromote)) {
            self.wakers.ready_seen.saw_ready(host);
        }
        status
    }

    async fn promote(&self, host: &str) -> Result<PromoteAnswer, LeaderApiError> {
        if let Some(since) = self.wakers.ready_seen.promoting(host) {
            super::metrics::promote_detected(since.as_secs_f64());
        }
        promote(&self.http, host).await
    }

    async fn skip_catchup(&self, host: &str) -> Result<bool, LeaderApiError> {
        skip_catchup(&self.http, host).await
    }

    async fn execute_sql(
        &self,
        host: &str,
        system: bool,
        statements: &[&str],
    ) -> Result<(), SqlError> {
        let client = sql(host, system).await?;
        for s in statements {
            execute(&client, s).await?;
        }
        Ok(())
    }

    async fn mz_version(&self, host: &str) -> Result<String, SqlError> {
        mz_version(host).await
    }
}

impl CheckSql for Context {
    async fn check_sql(&self, session: &str, host: &str, sql: &str) -> Result<Rows, SqlFailure> {
        self.sessions.check_sql(session, host, sql).await
    }

    async fn postgres_execute(&self, url: &str, statements: &[String]) -> Result<(), SqlFailure> {
        self.sessions.postgres_execute(url, statements).await
    }

    async fn end_session(&self, session: &str) {
        self.sessions.end_session(session).await
    }
}
