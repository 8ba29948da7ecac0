//! The SQL ports: pgwire sessions (simple and extended protocol) that run statements on the
//! environment's PostgreSQL database, answer Materialize-only statements from mzsim's catalog,
//! and refuse writes while this process is a read-only generation.

pub mod classify;
mod jsonb;
pub mod lexer;
pub mod params;
mod values;

use std::{fmt::Debug, sync::Arc};

use async_trait::async_trait;
use futures::{Sink, stream};
use pgwire::{
    api::{
        ClientInfo, ClientPortalStore, METADATA_USER, PgWireServerHandlers, Type,
        auth::noop::NoopStartupHandler,
        portal::{Format, Portal},
        query::{ExtendedQueryHandler, SimpleQueryHandler},
        results::{
            DataRowEncoder, DescribePortalResponse, DescribeStatementResponse, FieldInfo,
            QueryResponse, Response, Tag,
        },
        stmt::{NoopQueryParser, StoredStatement},
        store::PortalStore,
    },
    error::{ErrorInfo, PgWireError, PgWireResult},
    messages::{PgWireBackendMessage, data::DataRow},
};
use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};
use tracing::warn;

use self::{
    classify::{CatalogChange, Effect, Statement, classify, inline_params},
    values::{RawParam, RawValue},
};
use crate::server::Sim;

/// The role allowed on the internal SQL port, and refused on the external one.
pub const SYSTEM_USER: &str = "mz_system";

/// One client connection.
pub struct Session {
    sim: Arc<Sim>,
    /// Accepted on the internal SQL port (6877).
    internal: bool,
    /// This session's own PostgreSQL connection, opened on first use, so transactions and
    /// session settings behave as the client expects.
    pg: Mutex<Option<Client>>,
    parser: Arc<NoopQueryParser>,
}

impl Session {
    pub fn new(sim: Arc<Sim>, internal: bool) -> Session {
        Session {
            sim,
            internal,
            pg: Mutex::new(None),
            parser: Arc::new(NoopQueryParser::new()),
        }
    }
}

/// One session per connection: pgwire asks its handlers from this.
pub struct SessionHandlers(pub Arc<Session>);

impl PgWireServerHandlers for SessionHandlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.0.clone()
    }
    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.0.clone()
    }
    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        self.0.clone()
    }
}

impl NoopStartupHandler for Session {}

fn error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        code.into(),
        message.into(),
    )))
}

/// Materialize's refusal for writes in a read-only generation (SQLSTATE read_only_sql_transaction).
fn read_only_error() -> PgWireError {
    error("25006", "cannot write in read-only mode")
}

/// Materialize's wording of PostgreSQL's messages about missing and duplicate objects, which
/// checks match on (`unknown catalog item 'x'`, `catalog item 'x' already exists`).
fn materialize_message(message: &str) -> String {
    let quoted = |rest: &str| {
        rest.strip_prefix("relation \"")?
            .split_once('"')
            .map(|(n, tail)| (n.to_string(), tail.to_string()))
    };
    match quoted(message) {
        Some((name, tail)) if tail == " does not exist" => format!("unknown catalog item '{name}'"),
        Some((name, tail)) if tail == " already exists" => {
            format!("catalog item '{name}' already exists")
        }
        _ => message.to_string(),
    }
}

/// PostgreSQL's own error, passed on with its SQLSTATE, message (in Materialize's words where
/// they differ), detail and hint.
fn pg_error(e: tokio_postgres::Error) -> PgWireError {
    match e.as_db_error() {
        Some(db) => {
            let mut info = ErrorInfo::new(
                db.severity().into(),
                db.code().code().into(),
                materialize_message(db.message()),
            );
            info.detail = db.detail().map(str::to_string);
            info.hint = db.hint().map(str::to_string);
            PgWireError::UserError(Box::new(info))
        }
        None => error("XX000", format!("mzsim backend: {e}")),
    }
}

/// Command tags that carry a row count (`INSERT 0 n` also carries an OID).
fn tag(command: &str, rows: u64) -> Response {
    let base = Tag::new(command);
    let t = match command {
        "INSERT" => base.with_oid(0).with_rows(rows as usize),
        "UPDATE" | "DELETE" | "SELECT" | "MERGE" | "COPY" | "FETCH" | "MOVE" => {
            base.with_rows(rows as usize)
        }
        _ => base,
    };
    match command {
        "BEGIN" | "START TRANSACTION" => Response::TransactionStart(t),
        "COMMIT" | "ROLLBACK" | "END" | "ABORT" => Response::TransactionEnd(t),
        _ => Response::Execution(t),
    }
}

/// A result of text columns mzsim computed itself.
fn text_rows(names: &[&str], rows: Vec<Vec<Option<String>>>, format: &Format) -> Response {
    let fields: Vec<FieldInfo> = names
        .iter()
        .enumerate()
        .map(|(i, n)| FieldInfo::new(n.to_string(), None, None, Type::TEXT, format.format_for(i)))
        .collect();
    let fields = Arc::new(fields);
    let mut encoder = DataRowEncoder::new(fields.clone());
    let mut out: Vec<PgWireResult<DataRow>> = Vec::with_capacity(rows.len());
    for row in rows {
        for value in &row {
            if let Err(e) = encoder.encode_field(value) {
                out.push(Err(e));
            }
        }
        out.push(Ok(encoder.take_row()));
    }
    Response::Query(QueryResponse::new(fields, stream::iter(out)))
}

impl Session {
    /// The session's PostgreSQL connection, opened on first use.
    async fn pg(&self) -> PgWireResult<tokio::sync::MutexGuard<'_, Option<Client>>> {
        let mut guard = self.pg.lock().await;
        if guard.is_none() {
            let (client, connection) = self
                .sim
                .catalog()
                .session_config()
                .connect(NoTls)
                .await
                .map_err(|e| error("08006", format!("mzsim backend unavailable: {e}")))?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    warn!(error = %e, "session backend connection closed");
                }
            });
            // mz_version() reads this setting: each process answers with its own version.
            let set = format!(
                "SET mzsim.version = '{}'",
                self.sim.version_string.replace('\'', "''")
            );
            client.batch_execute(&set).await.map_err(pg_error)?;
            *guard = Some(client);
        }
        Ok(guard)
    }

    /// Materialize's role rules per port: `mz_system` only on the internal one.
    fn check_user<C: ClientInfo>(&self, client: &C) -> PgWireResult<()> {
        let user = client
            .metadata()
            .get(METADATA_USER)
            .cloned()
            .unwrap_or_default();
        let system = user == SYSTEM_USER || user == "mz_support";
        if system != self.internal {
            return Err(error(
                "28000",
                format!("unauthorized login to user '{user}'"),
            ));
        }
        Ok(())
    }

    /// Checks shared by both protocols before running `stmt`.
    async fn admit(&self, stmt: &Statement) -> PgWireResult<()> {
        if let Some(delay) = self.sim.config.failpoints.slow_sql {
            tokio::time::sleep(delay).await;
        }
        if self.sim.is_read_only() && matches!(stmt.effect(), Effect::Write | Effect::Ddl { .. }) {
            return Err(read_only_error());
        }
        Ok(())
    }

    /// After a statement succeeded: count it, and a new catalog item bumps the item id that a
    /// catching-up read-only generation watches.
    async fn record(&self, stmt: &Statement, text: &str) {
        let kind = match stmt {
            Statement::AlterSystem { .. } => "system",
            _ => match stmt.effect() {
                Effect::Write => "write",
                Effect::Ddl { .. } => "ddl",
                _ => return,
            },
        };
        let catalog = self.sim.catalog();
        if let Err(e) = catalog.count_statement(kind, text).await {
            warn!(error = %e, "could not count statement");
        }
        if matches!(stmt.effect(), Effect::Ddl { creates_item: true })
            && let Err(e) = catalog.bump_item_id().await
        {
            warn!(error = %e, "could not bump the catalog item id");
        }
    }

    /// Runs one statement that does not go to PostgreSQL as is.
    async fn run_mz(&self, stmt: &Statement, format: &Format) -> PgWireResult<Response> {
        let catalog = self.sim.catalog();
        let backend = |e| error("XX000", format!("mzsim catalog: {e}"));
        match stmt {
            Statement::AlterSystem { name, value } => {
                if !self.internal {
                    return Err(error(
                        "42501",
                        "permission denied to alter system: must be mz_system",
                    ));
                }
                // environmentd looks the name up before changing anything (VarError::
                // UnknownParameter → SQLSTATE 42704 undefined_object); RESET ALL names none.
                if let Some(name) = name
                    && !params::is_known(name)
                {
                    return Err(error("42704", params::unrecognized(name)));
                }
                catalog
                    .set_system_parameter(name.as_deref(), value.as_deref())
                    .await
                    .map_err(backend)?;
                Ok(tag("ALTER SYSTEM", 0))
            }
            Statement::Show { name, .. } => {
                let value = self.sim.system_parameter(name).await.map_err(backend)?;
                let value = value.expect("Show is answered here only for known parameters");
                Ok(text_rows(&[name.as_str()], vec![vec![Some(value)]], format))
            }
            Statement::ShowObjects { kind } => {
                let names = catalog.items(kind).await.map_err(backend)?;
                Ok(text_rows(
                    &["name"],
                    names.into_iter().map(|n| vec![Some(n)]).collect(),
                    format,
                ))
            }
            Statement::Catalog { item, tag: t } => {
                match item {
                    CatalogChange::Create {
                        kind,
                        name,
                        if_not_exists,
                    } => {
                        // The Secret first, as environmentd ensures it before the catalog
                        // commit: a failure leaves no item without its Secret. (Ensuring it
                        // again for an existing secret is harmless: same id, same object.)
                        // mzsim keeps no secret values: the Secret's `contents` is empty.
                        if *kind == "secret" {
                            self.sim
                                .secret_created(name, b"")
                                .await
                                .map_err(|e| error("XX000", e))?;
                        }
                        let created = catalog.create_item(kind, name).await.map_err(backend)?;
                        if !created && !if_not_exists {
                            return Err(error("42710", format!("{kind} '{name}' already exists")));
                        }
                    }
                    CatalogChange::Drop {
                        kind,
                        name,
                        if_exists,
                    } => {
                        let dropped = catalog.drop_item(kind, name).await.map_err(backend)?;
                        if !dropped && !if_exists {
                            return Err(error("42704", format!("unknown {kind} '{name}'")));
                        }
                        if dropped && *kind == "secret" {
                            self.sim
                                .secret_dropped(name)
                                .await
                                .map_err(|e| error("XX000", e))?;
                        }
                    }
                    CatalogChange::Privilege {
                        grant,
                        privileges,
                        object_type,
                        object,
                        roles,
                    } => {
                        // Built-in roles, and `materialize`, which a login creates.
                        let builtin = ["public", "materialize", "mz_system", "mz_support"];
                        let created = catalog.items("role").await.map_err(backend)?;
                        for role in roles {
                            let known = builtin.contains(&role.as_str()) || created.contains(role);
                            if !known {
                                return Err(error("42704", format!("unknown role '{role}'")));
                            }
                        }
                        catalog
                            .set_privileges(*grant, privileges, object_type, object, roles)
                            .await
                            .map_err(backend)?;
                    }
                    CatalogChange::Other { .. } => {}
                }
                Ok(tag(t, 0))
            }
            Statement::Ignored { tag: t } => Ok(tag(t, 0)),
            Statement::Unsupported(message) => Err(error("0A000", message.clone())),
            Statement::Pg { .. } => unreachable!("PostgreSQL statements are run by the callers"),
        }
    }

    /// Whether a SHOW is about a system parameter mzsim answers, or goes to PostgreSQL.
    async fn show_is_ours(&self, stmt: &Statement) -> PgWireResult<bool> {
        match stmt {
            Statement::Show { name, .. } => Ok(self
                .sim
                .system_parameter(name)
                .await
                .map_err(|e| error("XX000", format!("mzsim catalog: {e}")))?
                .is_some()),
            _ => Ok(false),
        }
    }

    /// Runs `sql` on PostgreSQL with the simple protocol: text results.
    async fn run_pg_simple(
        &self,
        sql: &str,
        command: &str,
        fields: Option<Vec<FieldInfo>>,
    ) -> PgWireResult<Response> {
        let guard = self.pg().await?;
        let client = guard.as_ref().expect("connected above");
        let messages = client.simple_query(sql).await.map_err(pg_error)?;
        let mut columns: Option<Vec<String>> = None;
        let mut rows: Vec<Vec<Option<String>>> = Vec::new();
        let mut affected = 0;
        for m in messages {
            match m {
                SimpleQueryMessage::RowDescription(cols) => {
                    columns = Some(cols.iter().map(|c| c.name().to_string()).collect());
                }
                SimpleQueryMessage::Row(row) => {
                    if columns.is_none() {
                        columns =
                            Some(row.columns().iter().map(|c| c.name().to_string()).collect());
                    }
                    rows.push(
                        (0..row.len())
                            .map(|i| row.get(i).map(str::to_string))
                            .collect(),
                    );
                }
                SimpleQueryMessage::CommandComplete(n) => affected = n,
                _ => {}
            }
        }
        match (columns, fields) {
            (Some(_), Some(fields)) => Ok(typed_text_rows(fields, rows)),
            (Some(names), None) => {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                Ok(text_rows(&names, rows, &Format::UnifiedText))
            }
            (None, _) => Ok(tag(command, affected)),
        }
    }

    /// Runs one statement of a simple query.
    async fn run_simple(&self, text: &str) -> PgWireResult<Response> {
        let stmt = classify(text);
        // Failpoints (slow_sql) apply to SELECT 1 as to any statement.
        self.admit(&stmt).await?;
        if is_select_one(text) {
            let field = FieldInfo::new(
                "?column?".into(),
                None,
                None,
                Type::INT4,
                Format::UnifiedText.format_for(0),
            );
            return Ok(typed_text_rows(vec![field], vec![vec![Some("1".into())]]));
        }
        let response = match &stmt {
            Statement::Pg { sql, tag: t, .. } => self.run_pg_simple(sql, t, None).await?,
            Statement::Show { pg_sql, .. } if !self.show_is_ours(&stmt).await? => {
                self.run_pg_simple(pg_sql, "SHOW", None).await?
            }
            _ => self.run_mz(&stmt, &Format::UnifiedText).await?,
        };
        self.record(&stmt, text).await;
        Ok(response)
    }
}

/// `SELECT 1`, what clients (and the operator's probe) send to see that environmentd answers.
/// environmentd answers it in its coordinator, without a cluster; mzsim answers it itself, so
/// a probe costs no PostgreSQL round trip.
fn is_select_one(text: &str) -> bool {
    text.trim()
        .trim_end_matches(';')
        .trim_end()
        .eq_ignore_ascii_case("SELECT 1")
}

/// Text values with the column types PostgreSQL described.
fn typed_text_rows(fields: Vec<FieldInfo>, rows: Vec<Vec<Option<String>>>) -> Response {
    let fields = Arc::new(fields);
    let mut encoder = DataRowEncoder::new(fields.clone());
    let out: Vec<PgWireResult<DataRow>> = rows
        .into_iter()
        .map(|row| {
            for v in row {
                encoder.encode_field(&RawValue(v.map(String::into_bytes)))?;
            }
            Ok(encoder.take_row())
        })
        .collect();
    Response::Query(QueryResponse::new(fields, stream::iter(out)))
}

#[async_trait]
impl SimpleQueryHandler for Session {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.check_user(client)?;
        let mut out = Vec::new();
        for text in lexer::split(query) {
            match self.run_simple(&text).await {
                Ok(r) => out.push(r),
                Err(PgWireError::UserError(info)) => {
                    // Later statements of the same query string do not run, as in PostgreSQL.
                    out.push(Response::Error(info));
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

/// Columns of a prepared PostgreSQL statement, in the formats the client asked for.
fn fields_of(stmt: &tokio_postgres::Statement, format: &Format) -> Vec<FieldInfo> {
    stmt.columns()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            FieldInfo::new(
                c.name().to_string(),
                None,
                None,
                c.type_().clone(),
                format.format_for(i),
            )
        })
        .collect()
}

/// Columns of statements mzsim answers itself.
fn mz_fields(stmt: &Statement, format: &Format) -> Vec<FieldInfo> {
    let name = match stmt {
        Statement::Show { name, .. } => name.clone(),
        Statement::ShowObjects { .. } => "name".to_string(),
        _ => return Vec::new(),
    };
    vec![FieldInfo::new(
        name,
        None,
        None,
        Type::TEXT,
        format.format_for(0),
    )]
}

impl Session {
    /// Describes a statement: PostgreSQL's own description for what runs there.
    async fn describe(
        &self,
        sql: &str,
        format: &Format,
    ) -> PgWireResult<(Vec<Type>, Vec<FieldInfo>)> {
        let stmt = classify(sql);
        let pg_sql = match &stmt {
            Statement::Pg { sql, .. } => Some(sql.clone()),
            Statement::Show { pg_sql, .. } if !self.show_is_ours(&stmt).await? => {
                Some(pg_sql.clone())
            }
            _ => None,
        };
        match pg_sql {
            Some(sql) => {
                let guard = self.pg().await?;
                let prepared = guard
                    .as_ref()
                    .expect("connected")
                    .prepare(&sql)
                    .await
                    .map_err(pg_error)?;
                Ok((prepared.params().to_vec(), fields_of(&prepared, format)))
            }
            None => Ok((Vec::new(), mz_fields(&stmt, format))),
        }
    }

    /// Executes a bound portal.
    async fn execute_portal(&self, portal: &Portal<String>) -> PgWireResult<Response> {
        let text = portal.statement.statement.as_str();
        let stmt = classify(text);
        self.admit(&stmt).await?;
        let (sql, command) = match &stmt {
            Statement::Pg { sql, tag: t, .. } => (sql.clone(), t.clone()),
            Statement::Show { pg_sql, .. } if !self.show_is_ours(&stmt).await? => {
                (pg_sql.clone(), "SHOW".into())
            }
            _ => {
                let r = self.run_mz(&stmt, &portal.result_column_format).await?;
                self.record(&stmt, text).await;
                return Ok(r);
            }
        };
        let prepared = {
            let guard = self.pg().await?;
            guard
                .as_ref()
                .expect("connected")
                .prepare(&sql)
                .await
                .map_err(pg_error)?
        };
        let columns = prepared.columns().len();
        let all_binary = (0..columns).all(|i| portal.result_column_format.is_binary(i));
        let response = if all_binary {
            // Parameters and results pass through in PostgreSQL's own encoding.
            let params: Vec<RawParam> = portal
                .parameters
                .iter()
                .enumerate()
                .map(|(i, b)| RawParam {
                    bytes: b.clone(),
                    text: !portal.parameter_format.is_binary(i),
                })
                .collect();
            let guard = self.pg().await?;
            let client = guard.as_ref().expect("connected");
            let rows = client
                .query_raw(&prepared, params.iter())
                .await
                .map_err(pg_error)?;
            use futures::TryStreamExt;
            futures::pin_mut!(rows);
            let mut collected = Vec::new();
            while let Some(row) = rows.try_next().await.map_err(pg_error)? {
                collected.push(row);
            }
            let affected = rows.rows_affected().unwrap_or(collected.len() as u64);
            if columns == 0 {
                tag(&command, affected)
            } else {
                let fields = Arc::new(fields_of(&prepared, &portal.result_column_format));
                let mut encoder = DataRowEncoder::new(fields.clone());
                let out: Vec<PgWireResult<DataRow>> = collected
                    .iter()
                    .map(|row| {
                        for i in 0..columns {
                            let v: RawValue = row.try_get(i).map_err(pg_error)?;
                            encoder.encode_field(&v)?;
                        }
                        Ok(encoder.take_row())
                    })
                    .collect();
                Response::Query(QueryResponse::new(fields, stream::iter(out)))
            }
        } else {
            // Text results: run through the simple protocol with text parameters inlined.
            let mut params = Vec::new();
            for (i, b) in portal.parameters.iter().enumerate() {
                if portal.parameter_format.is_binary(i) {
                    return Err(error(
                        "0A000",
                        "mzsim: binary parameters with text results are not supported",
                    ));
                }
                params.push(b.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()));
            }
            let inlined = inline_params(&sql, &params).map_err(|e| error("08P01", e))?;
            let fields = fields_of(&prepared, &portal.result_column_format);
            self.run_pg_simple(&inlined, &command, Some(fields)).await?
        };
        self.record(&stmt, text).await;
        Ok(response)
    }
}

#[async_trait]
impl ExtendedQueryHandler for Session {
    type Statement = String;
    type QueryParser = NoopQueryParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser.clone()
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.check_user(client)?;
        self.execute_portal(portal).await
    }

    async fn do_describe_statement<C>(
        &self,
        client: &mut C,
        stmt: &StoredStatement<Self::Statement>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.check_user(client)?;
        let (params, fields) = self.describe(&stmt.statement, &Format::UnifiedText).await?;
        Ok(DescribeStatementResponse::new(params, fields))
    }

    async fn do_describe_portal<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.check_user(client)?;
        let (_, fields) = self
            .describe(&portal.statement.statement, &portal.result_column_format)
            .await?;
        Ok(DescribePortalResponse::new(fields))
    }
}
