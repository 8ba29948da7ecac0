//! What a statement is and how mzsim runs it: on PostgreSQL (rewritten where Materialize's SQL
//! differs), against its own catalog (clusters, connections, roles, grants, system parameters),
//! or not at all. Pure: no IO, so every rule is unit-tested.

use super::lexer::{Kind, Token, tokenize};

/// How a statement touches durable state: what a read-only generation refuses and what the
/// statement counters record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Read,
    /// Changes table contents.
    Write,
    /// Changes the catalog; `creates_item` when it adds an object (which makes a catching-up
    /// read-only generation halt).
    Ddl {
        creates_item: bool,
    },
    /// BEGIN/COMMIT/ROLLBACK and friends.
    Transaction,
}

/// What to do with one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// Run on PostgreSQL as `sql`; `tag` is the command tag to report.
    Pg {
        sql: String,
        effect: Effect,
        tag: String,
    },
    /// `ALTER SYSTEM SET name = value` (`value: None` resets; `name: None` is RESET ALL).
    AlterSystem {
        name: Option<String>,
        value: Option<String>,
    },
    /// `SHOW name`: a system parameter if mzsim knows it, else PostgreSQL's.
    Show { name: String, pg_sql: String },
    /// `SHOW CLUSTERS` and friends: the names of catalog objects of `kind`.
    ShowObjects { kind: &'static str },
    /// Recorded in mzsim's catalog, not run in PostgreSQL.
    Catalog { item: CatalogChange, tag: String },
    /// A Materialize session setting PostgreSQL lacks: accepted, without effect.
    Ignored { tag: String },
    /// Refused with this message.
    Unsupported(String),
}

/// A change to a catalog object mzsim keeps itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogChange {
    Create {
        kind: &'static str,
        name: String,
        if_not_exists: bool,
    },
    Drop {
        kind: &'static str,
        name: String,
        if_exists: bool,
    },
    /// `GRANT|REVOKE <privileges> ON [<type>] <object> TO|FROM <roles>`: kept, and shown in
    /// `mz_internal.mz_show_all_privileges`.
    Privilege {
        grant: bool,
        privileges: Vec<String>,
        object_type: String,
        object: String,
        roles: Vec<String>,
    },
    /// ALTER of such an object, other GRANT/REVOKE forms, ALTER DEFAULT PRIVILEGES: recorded as
    /// statements.
    Other { kind: &'static str },
}

impl Statement {
    pub fn effect(&self) -> Effect {
        match self {
            Statement::Pg { effect, .. } => *effect,
            Statement::AlterSystem { .. } => Effect::Ddl {
                creates_item: false,
            },
            Statement::Catalog {
                item: CatalogChange::Create { .. },
                ..
            } => Effect::Ddl { creates_item: true },
            Statement::Catalog { .. } => Effect::Ddl {
                creates_item: false,
            },
            _ => Effect::Read,
        }
    }
}

/// Materialize session variables PostgreSQL does not have; `SET` of them is accepted and ignored.
const MZ_SESSION_VARS: &[&str] = &[
    "cluster",
    "cluster_replica",
    "database",
    "transaction_isolation",
    "real_time_recency",
    "emit_timestamp_notice",
    "emit_trace_id_notice",
    "auto_route_catalog_queries",
    "enable_session_rbac_checks",
    "welcome_message",
    "statement_logging_sample_rate",
];

/// Objects mzsim keeps in its own catalog, by the keyword(s) after CREATE/DROP/ALTER.
const CATALOG_KINDS: &[(&str, &str)] = &[
    ("CLUSTER REPLICA", "cluster replica"),
    ("CLUSTER", "cluster"),
    ("CONNECTION", "connection"),
    ("SECRET", "secret"),
    ("ROLE", "role"),
    // One PostgreSQL database per environment: more would be databases on the shared server,
    // outliving the environment.
    ("DATABASE", "database"),
    ("NETWORK POLICY", "network policy"),
];

/// Classifies one statement.
pub fn classify(sql: &str) -> Statement {
    let toks = tokenize(sql);
    let words: Vec<String> = toks
        .iter()
        .take(6)
        .map(|t| t.upper(sql).unwrap_or_default())
        .collect();
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    let tag = |n: usize| words.iter().take(n).cloned().collect::<Vec<_>>().join(" ");

    match w(0) {
        "ALTER" if w(1) == "SYSTEM" => return alter_system(sql, &toks),
        "SHOW" => return show(sql, &toks),
        "SET" if w(1) == "SCHEMA" => {
            // Materialize takes `SET SCHEMA [=|TO] name`; PostgreSQL only a string literal.
            let eq = toks.get(2).is_some_and(|t| t.text(sql) == "=") || w(2) == "TO";
            let at = if eq { 3 } else { 2 };
            if let Some(name) = toks.get(at).filter(|t| t.ident(sql).is_some()) {
                return Statement::Pg {
                    // Materialize always searches its catalog schemas too.
                    sql: format!(
                        "SET search_path TO {}, mz_catalog, mz_internal",
                        name.text(sql)
                    ),
                    effect: Effect::Read,
                    tag: "SET".into(),
                };
            }
        }
        "SET" | "RESET" => {
            let name_at = if matches!(w(1), "SESSION" | "LOCAL") {
                2
            } else {
                1
            };
            let name = toks
                .get(name_at)
                .and_then(|t| t.ident(sql))
                .unwrap_or_default();
            if MZ_SESSION_VARS.contains(&name.as_str()) {
                return Statement::Ignored {
                    tag: w(0).to_string(),
                };
            }
            if w(1) == "TRANSACTION" || (w(1) == "SESSION" && w(2) == "CHARACTERISTICS") {
                // Materialize's STRICT SERIALIZABLE has no PostgreSQL spelling.
                return Statement::Ignored { tag: "SET".into() };
            }
        }
        // Owners are mzsim catalog roles PostgreSQL does not have: recorded only.
        "REASSIGN" => {
            return Statement::Catalog {
                item: CatalogChange::Other { kind: "owner" },
                tag: "REASSIGN OWNED".into(),
            };
        }
        "DROP" if w(1) == "OWNED" => {
            return Statement::Catalog {
                item: CatalogChange::Other { kind: "owner" },
                tag: "DROP OWNED".into(),
            };
        }
        "GRANT" | "REVOKE" => {
            let item = privilege(sql, &toks).unwrap_or(CatalogChange::Other { kind: "privilege" });
            return Statement::Catalog {
                item,
                tag: w(0).into(),
            };
        }
        "CREATE" | "DROP" | "ALTER" => {
            if let Some(stmt) = catalog_ddl(sql, &toks, &words) {
                return stmt;
            }
            if w(0) == "ALTER" {
                let at = |keywords: &[&str]| {
                    toks.windows(keywords.len()).any(|ts| {
                        ts.iter()
                            .zip(keywords)
                            .all(|(t, k)| t.text(sql).eq_ignore_ascii_case(k))
                    })
                };
                // Owners are mzsim catalog roles PostgreSQL does not have: recorded only.
                if at(&["OWNER", "TO"]) {
                    return Statement::Catalog {
                        item: CatalogChange::Other { kind: "owner" },
                        tag: tag(2),
                    };
                }
                // Compaction windows change nothing a query returns here.
                if at(&["SET", "(", "RETAIN"]) || at(&["RESET", "(", "RETAIN"]) {
                    return Statement::Ignored { tag: tag(2) };
                }
            }
            if matches!(w(1), "SOURCE" | "SINK")
                || (w(1) == "TABLE" && has_word(sql, &toks, "SOURCE"))
            {
                return Statement::Unsupported(
                    "mzsim does not simulate sources and sinks".to_string(),
                );
            }
        }
        "SUBSCRIBE" => return Statement::Unsupported("mzsim does not simulate SUBSCRIBE".into()),
        _ => {}
    }

    let effect = match w(0) {
        "INSERT" | "UPDATE" | "DELETE" | "TRUNCATE" | "MERGE" => Effect::Write,
        "COPY" if has_word(sql, &toks, "FROM") => Effect::Write,
        "WITH"
            if ["INSERT", "UPDATE", "DELETE"]
                .iter()
                .any(|k| has_word(sql, &toks, k)) =>
        {
            Effect::Write
        }
        "CREATE" => Effect::Ddl { creates_item: true },
        "DROP" | "ALTER" | "COMMENT" => Effect::Ddl {
            creates_item: false,
        },
        "BEGIN" | "START" | "COMMIT" | "ROLLBACK" | "END" | "ABORT" | "SAVEPOINT" | "RELEASE" => {
            Effect::Transaction
        }
        _ => Effect::Read,
    };
    let tag = match w(0) {
        "CREATE" | "DROP" | "ALTER" => {
            // CREATE [OR REPLACE] [MATERIALIZED] VIEW → "CREATE VIEW"; CREATE TABLE → "CREATE TABLE".
            let object: Vec<&str> = words[1..]
                .iter()
                .map(String::as_str)
                .filter(|w| {
                    !matches!(
                        *w,
                        "OR" | "REPLACE"
                            | "MATERIALIZED"
                            | "TEMP"
                            | "TEMPORARY"
                            | "UNIQUE"
                            | "DEFAULT"
                    )
                })
                .take(1)
                .collect();
            format!("{} {}", w(0), object.join(" "))
        }
        "START" => "START TRANSACTION".to_string(),
        _ => tag(1),
    };
    Statement::Pg {
        sql: rewrite(sql, &toks),
        effect,
        tag,
    }
}

fn has_word(sql: &str, toks: &[Token], word: &str) -> bool {
    toks.iter().any(|t| t.upper(sql).as_deref() == Some(word))
}

/// CREATE/DROP/ALTER of objects mzsim keeps in its catalog, and `CREATE DEFAULT INDEX`.
fn catalog_ddl(sql: &str, toks: &[Token], words: &[String]) -> Option<Statement> {
    let verb = words[0].as_str();
    if verb == "CREATE" && words.get(1).map(String::as_str) == Some("DEFAULT") {
        // A default index has no PostgreSQL equivalent worth building: record it.
        let tag = "CREATE INDEX".to_string();
        return Some(Statement::Catalog {
            item: CatalogChange::Other { kind: "index" },
            tag,
        });
    }
    for (keywords, kind) in CATALOG_KINDS {
        let n = keywords.split(' ').count();
        let matches = keywords
            .split(' ')
            .enumerate()
            .all(|(i, k)| words.get(1 + i).map(String::as_str) == Some(k));
        if !matches {
            continue;
        }
        let mut at = 1 + n;
        let upper = |i: usize| toks.get(i).and_then(|t| t.upper(sql)).unwrap_or_default();
        let tag = format!("{verb} {}", keywords);
        let (if_not_exists, if_exists) = match (verb, upper(at).as_str()) {
            ("CREATE", "IF") => {
                at += 3;
                (true, false)
            }
            ("DROP", "IF") => {
                at += 2;
                (false, true)
            }
            _ => (false, false),
        };
        let name = object_name(sql, toks, at);
        let item = match verb {
            "CREATE" => CatalogChange::Create {
                kind,
                name,
                if_not_exists,
            },
            "DROP" => CatalogChange::Drop {
                kind,
                name,
                if_exists,
            },
            _ => CatalogChange::Other { kind },
        };
        return Some(Statement::Catalog { item, tag });
    }
    if verb == "ALTER" && words.get(1).map(String::as_str) == Some("DEFAULT") {
        let item = CatalogChange::Other {
            kind: "default privilege",
        };
        return Some(Statement::Catalog {
            item,
            tag: "ALTER DEFAULT PRIVILEGES".into(),
        });
    }
    None
}

/// Object types a privilege may name, as `mz_show_all_privileges.object_type` spells them.
const PRIVILEGE_OBJECTS: &[(&str, &str)] = &[
    ("TABLE", "table"),
    ("VIEW", "view"),
    ("SCHEMA", "schema"),
    ("DATABASE", "database"),
    ("CLUSTER", "cluster"),
    ("CONNECTION", "connection"),
    ("SECRET", "secret"),
    ("TYPE", "type"),
];

/// `GRANT p[, p] ON [type] name TO r[, r]` / `REVOKE … FROM …`; other forms (`ON SYSTEM`,
/// `ALL`, role membership) are `None`.
fn privilege(sql: &str, toks: &[Token]) -> Option<CatalogChange> {
    let upper = |i: usize| toks.get(i).and_then(|t| t.upper(sql)).unwrap_or_default();
    let grant = upper(0) == "GRANT";
    let mut at = 1;
    let mut privileges = Vec::new();
    loop {
        let p = upper(at);
        if !matches!(
            p.as_str(),
            "SELECT" | "INSERT" | "UPDATE" | "DELETE" | "CREATE" | "USAGE"
        ) {
            return None;
        }
        privileges.push(p);
        at += 1;
        match toks.get(at).map(|t| t.text(sql)) {
            Some(",") => at += 1,
            _ => break,
        }
    }
    if upper(at) != "ON" {
        return None;
    }
    at += 1;
    let mut object_type = "table".to_string();
    if let Some((_, t)) = PRIVILEGE_OBJECTS.iter().find(|(k, _)| upper(at) == *k) {
        object_type = t.to_string();
        at += 1;
    }
    let object = object_name(sql, toks, at);
    if object.is_empty() {
        return None;
    }
    // Past the name's parts and their dots.
    at += 1;
    while toks.get(at).is_some_and(|t| t.text(sql) == ".") {
        at += 2;
    }
    if upper(at) != if grant { "TO" } else { "FROM" } {
        return None;
    }
    at += 1;
    let mut roles = Vec::new();
    while let Some(r) = toks.get(at).and_then(|t| t.ident(sql)) {
        roles.push(r);
        at += 1;
        if toks.get(at).map(|t| t.text(sql)) == Some(",") {
            at += 1;
        } else {
            break;
        }
    }
    (!roles.is_empty()).then_some(CatalogChange::Privilege {
        grant,
        privileges,
        object_type,
        object,
        roles,
    })
}

/// A possibly qualified name starting at token `at`: `a`, `a.b`, `"A".b`.
fn object_name(sql: &str, toks: &[Token], mut at: usize) -> String {
    let mut parts = Vec::new();
    while let Some(part) = toks.get(at).and_then(|t| t.ident(sql)) {
        parts.push(part);
        if toks.get(at + 1).is_some_and(|t| t.text(sql) == ".") {
            at += 2;
        } else {
            break;
        }
    }
    parts.join(".")
}

/// `ALTER SYSTEM SET name {= | TO} value|DEFAULT`, `ALTER SYSTEM RESET name|ALL`.
fn alter_system(sql: &str, toks: &[Token]) -> Statement {
    let upper = |i: usize| toks.get(i).and_then(|t| t.upper(sql)).unwrap_or_default();
    let name = toks.get(3).and_then(|t| t.ident(sql));
    match (upper(2).as_str(), name) {
        ("RESET", _) if upper(3) == "ALL" => Statement::AlterSystem {
            name: None,
            value: None,
        },
        ("RESET", Some(name)) => Statement::AlterSystem {
            name: Some(name),
            value: None,
        },
        ("SET", Some(name)) => {
            let rest = toks
                .get(4)
                .filter(|t| t.text(sql) == "=" || t.upper(sql).as_deref() == Some("TO"));
            let Some(eq) = rest else {
                return Statement::Unsupported(
                    "expected = or TO after ALTER SYSTEM SET name".into(),
                );
            };
            let raw = sql[eq.end..].trim();
            if raw.eq_ignore_ascii_case("default") {
                return Statement::AlterSystem {
                    name: Some(name),
                    value: None,
                };
            }
            Statement::AlterSystem {
                name: Some(name),
                value: Some(unquote(raw)),
            }
        }
        _ => Statement::Unsupported("expected ALTER SYSTEM SET name = value or RESET name".into()),
    }
}

/// A value as Materialize stores it: quotes removed, `''` unescaped.
fn unquote(raw: &str) -> String {
    let raw = raw.trim();
    if raw.len() >= 2 && raw.starts_with('\'') && raw.ends_with('\'') {
        raw[1..raw.len() - 1].replace("''", "'")
    } else {
        raw.to_string()
    }
}

fn show(sql: &str, toks: &[Token]) -> Statement {
    let word = toks.get(1).and_then(|t| t.upper(sql)).unwrap_or_default();
    let kind = match word.as_str() {
        "CLUSTERS" => Some("cluster"),
        "CONNECTIONS" => Some("connection"),
        "SECRETS" => Some("secret"),
        "ROLES" => Some("role"),
        _ => None,
    };
    if let Some(kind) = kind {
        return Statement::ShowObjects { kind };
    }
    let name = toks.get(1).and_then(|t| t.ident(sql)).unwrap_or_default();
    Statement::Show {
        name,
        pg_sql: sql.to_string(),
    }
}

/// Materialize spellings PostgreSQL lacks, rewritten token by token.
fn rewrite(sql: &str, toks: &[Token]) -> String {
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let upper = |i: usize| toks.get(i).and_then(|t| t.upper(sql)).unwrap_or_default();
    let text = |i: usize| toks.get(i).map(|t| t.text(sql)).unwrap_or("");
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i];
        match upper(i).as_str() {
            // Materialized views are always up to date as clients see them: a plain view is.
            "MATERIALIZED" if upper(i + 1).starts_with("VIEW") => {
                edits.push((t.start, toks[i + 1].start, String::new()));
            }
            // Clusters are simulated in the catalog only.
            "IN" if upper(i + 1) == "CLUSTER"
                && toks.get(i + 2).is_some_and(|t| t.ident(sql).is_some()) =>
            {
                edits.push((t.start, toks[i + 2].end, String::new()));
                i += 3;
                continue;
            }
            "MZ_NOW" if text(i + 1) == "(" && text(i + 2) == ")" => {
                edits.push((t.start, toks[i + 2].end, "now()".to_string()));
                i += 3;
                continue;
            }
            // Materialize's `string` is an alias of `text`: rewritten where a type is expected
            // (after `::`, `AS` in a cast, or a column name in a column list), so a column or
            // alias named string is left alone.
            "STRING" if is_type_position(sql, toks, i) => {
                edits.push((t.start, t.end, "text".to_string()));
            }
            // `double` alone is Materialize's `double precision`.
            "DOUBLE" if upper(i + 1) != "PRECISION" && is_type_position(sql, toks, i) => {
                edits.push((t.start, t.end, "double precision".to_string()));
            }
            // Unsigned integers as the narrowest signed type holding their range (casts of
            // negative values succeed here where Materialize refuses them).
            w @ ("UINT2" | "UINT4" | "UINT8") if is_type_position(sql, toks, i) => {
                let pg = match w {
                    "UINT2" => "int4",
                    "UINT4" => "int8",
                    _ => "numeric(20)",
                };
                edits.push((t.start, t.end, pg.to_string()));
            }
            // Materialize's object options (`WITH (RETAIN HISTORY FOR …)`, `REFRESH EVERY …`,
            // `ASSERT NOT NULL c`, `PARTITION BY (c)`) change compaction, scheduling or layout,
            // never what a query returns here: dropped with their parentheses.
            "WITH"
                if text(i + 1) == "("
                    && matches!(
                        upper(i + 2).as_str(),
                        "RETAIN" | "REFRESH" | "ASSERT" | "PARTITION"
                    ) =>
            {
                if let Some(close) = closing_paren(sql, toks, i + 1) {
                    edits.push((t.start, toks[close].end, String::new()));
                    i = close + 1;
                    continue;
                }
            }
            _ => {}
        }
        // `materialize.schema.object`: one database per environment, so drop the database part.
        let is_db = t.ident(sql).as_deref() == Some("materialize")
            && text(i + 1) == "."
            && toks.get(i + 2).is_some_and(|t| t.ident(sql).is_some())
            && text(i + 3) == "."
            && (i == 0 || text(i - 1) != ".");
        if is_db {
            edits.push((t.start, toks[i + 1].end, String::new()));
        }
        i += 1;
    }
    apply(sql, edits)
}

/// Whether the `STRING` word at `i` names a type: after `::`, after `AS` inside `CAST(`, or right
/// after a column name that opens a column list entry (`(name STRING`, `, name STRING`).
fn is_type_position(sql: &str, toks: &[Token], i: usize) -> bool {
    let text = |j: usize| toks.get(j).map(|t| t.text(sql)).unwrap_or("");
    if i >= 2 && text(i - 1) == ":" && text(i - 2) == ":" {
        return true;
    }
    if i >= 1 && text(i - 1).eq_ignore_ascii_case("AS") {
        // CAST(x AS STRING): the nearest unclosed parenthesis follows CAST.
        let mut depth = 0;
        for j in (0..i - 1).rev() {
            match text(j) {
                ")" => depth += 1,
                "(" if depth == 0 => return j >= 1 && text(j - 1).eq_ignore_ascii_case("CAST"),
                "(" => depth -= 1,
                _ => {}
            }
        }
        return false;
    }
    i >= 2
        && toks[i - 1].ident(sql).is_some()
        && matches!(text(i - 2), "(" | ",")
        && matches!(
            text(i + 1).to_ascii_uppercase().as_str(),
            "," | ")" | "[" | "NOT" | "NULL" | "DEFAULT" | ""
        )
}

/// The token index of the `)` closing the `(` at `open`.
fn closing_paren(sql: &str, toks: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (j, t) in toks.iter().enumerate().skip(open) {
        match t.text(sql) {
            "(" => depth += 1,
            ")" => {
                depth -= 1;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
    }
    None
}

fn apply(sql: &str, mut edits: Vec<(usize, usize, String)>) -> String {
    edits.sort_by_key(|e| e.0);
    let mut out = String::with_capacity(sql.len());
    let mut at = 0;
    for (start, end, with) in edits {
        if start < at {
            continue;
        }
        out.push_str(&sql[at..start]);
        out.push_str(&with);
        at = end;
    }
    out.push_str(&sql[at..]);
    out
}

/// Replaces `$n` placeholders with SQL literals (`None` → NULL), for running an extended-protocol
/// statement with text parameters through PostgreSQL's simple protocol.
pub fn inline_params(sql: &str, params: &[Option<String>]) -> Result<String, String> {
    let mut edits = Vec::new();
    for t in tokenize(sql).into_iter().filter(|t| t.kind == Kind::Param) {
        let n: usize = t.text(sql)[1..]
            .parse()
            .map_err(|_| "bad parameter".to_string())?;
        let value = params
            .get(n.wrapping_sub(1))
            .ok_or_else(|| format!("there is no parameter ${n}"))?;
        let literal = match value {
            None => "NULL".to_string(),
            Some(v) => format!("'{}'", v.replace('\'', "''")),
        };
        edits.push((t.start, t.end, literal));
    }
    Ok(apply(sql, edits))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(sql: &str) -> (String, Effect, String) {
        match classify(sql) {
            Statement::Pg { sql, effect, tag } => (sql, effect, tag),
            other => panic!("{sql}: {other:?}"),
        }
    }

    #[test]
    fn string_is_text_where_a_type_is_expected() {
        assert_eq!(
            pg("CREATE TABLE t (f1 INT, f2 STRING, f3 string NOT NULL, f4 STRING[])").0,
            "CREATE TABLE t (f1 INT, f2 text, f3 text NOT NULL, f4 text[])"
        );
        assert_eq!(
            pg("SELECT a::STRING, CAST(b AS string), c AS string, string FROM t").0,
            "SELECT a::text, CAST(b AS text), c AS string, string FROM t"
        );
        assert_eq!(
            pg("SELECT 'x STRING', \"STRING\"").0,
            "SELECT 'x STRING', \"STRING\""
        );
        assert_eq!(
            pg("CREATE TABLE t (a DOUBLE, b DOUBLE PRECISION, c uint2, d UINT4, e uint8)").0,
            "CREATE TABLE t (a double precision, b DOUBLE PRECISION, c int4, d int8, e numeric(20))"
        );
        assert_eq!(pg("SELECT '1'::double").0, "SELECT '1'::double precision");
    }

    #[test]
    fn object_options_that_change_no_result_are_dropped() {
        assert_eq!(
            pg("CREATE MATERIALIZED VIEW mv WITH (RETAIN HISTORY FOR '30s') AS SELECT 1").0,
            "CREATE VIEW mv  AS SELECT 1"
        );
        assert_eq!(
            pg("CREATE MATERIALIZED VIEW mv WITH (REFRESH EVERY '1d' ALIGNED TO (mz_now()::string::int8 + 2000), REFRESH AT CREATION) AS SELECT 1").0,
            "CREATE VIEW mv  AS SELECT 1"
        );
        assert_eq!(
            pg("CREATE MATERIALIZED VIEW mv WITH (ASSERT NOT NULL x) AS SELECT 1 AS x").0,
            "CREATE VIEW mv  AS SELECT 1 AS x"
        );
        assert_eq!(
            pg("CREATE TABLE t (a int) WITH (PARTITION BY (a))").0,
            "CREATE TABLE t (a int) "
        );
        // A common table expression keeps its parentheses.
        assert_eq!(
            pg("WITH (SELECT 1) AS x SELECT 1").0,
            "WITH (SELECT 1) AS x SELECT 1"
        );
        assert_eq!(
            classify("ALTER MATERIALIZED VIEW mv SET (RETAIN HISTORY FOR '1m')"),
            Statement::Ignored {
                tag: "ALTER MATERIALIZED".into()
            }
        );
        assert!(matches!(
            classify("ALTER TABLE t RESET (RETAIN HISTORY)"),
            Statement::Ignored { .. }
        ));
    }

    #[test]
    fn owners_and_schemas_take_materialize_spellings() {
        assert_eq!(
            classify("ALTER VIEW v OWNER TO r1"),
            Statement::Catalog {
                item: CatalogChange::Other { kind: "owner" },
                tag: "ALTER VIEW".into()
            }
        );
        assert_eq!(
            pg("SET SCHEMA s1").0,
            "SET search_path TO s1, mz_catalog, mz_internal"
        );
        for sql in ["REASSIGN OWNED BY r1 TO r2", "DROP OWNED BY r1 CASCADE"] {
            assert!(
                matches!(
                    classify(sql),
                    Statement::Catalog {
                        item: CatalogChange::Other { kind: "owner" },
                        ..
                    }
                ),
                "{sql}"
            );
        }
        assert_eq!(
            pg("SET SCHEMA = \"S\"").0,
            "SET search_path TO \"S\", mz_catalog, mz_internal"
        );
    }

    #[test]
    fn materialize_spellings_are_rewritten() {
        assert_eq!(pg("SELECT mz_now()").0, "SELECT now()");
        let (sql, effect, tag) =
            pg("CREATE MATERIALIZED VIEW mv IN CLUSTER quickstart AS SELECT 1");
        assert_eq!(sql, "CREATE VIEW mv  AS SELECT 1");
        assert_eq!(effect, Effect::Ddl { creates_item: true });
        assert_eq!(tag, "CREATE VIEW");
        assert_eq!(pg("DROP MATERIALIZED VIEW mv").0, "DROP VIEW mv");
        assert_eq!(
            pg("CREATE INDEX i IN CLUSTER c ON t (a)").0,
            "CREATE INDEX i  ON t (a)"
        );
        assert_eq!(
            pg("SELECT * FROM materialize.public.t, x.y.z").0,
            "SELECT * FROM public.t, x.y.z"
        );
        assert_eq!(
            pg("SELECT 'mz_now()', \"IN\"").0,
            "SELECT 'mz_now()', \"IN\""
        );
    }

    #[test]
    fn effects_drive_read_only_refusals() {
        assert_eq!(pg("SELECT 1").1, Effect::Read);
        assert_eq!(pg("insert into t values (1)").1, Effect::Write);
        assert_eq!(
            pg("WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x").1,
            Effect::Write
        );
        assert_eq!(
            pg("DROP TABLE t").1,
            Effect::Ddl {
                creates_item: false
            }
        );
        assert_eq!(
            pg("COMMENT ON TABLE t IS 'x'").1,
            Effect::Ddl {
                creates_item: false
            }
        );
        assert_eq!(pg("BEGIN").1, Effect::Transaction);
        assert_eq!(pg("CREATE TABLE t (a int)").2, "CREATE TABLE");
    }

    #[test]
    fn system_parameters() {
        let set = |sql: &str| classify(sql);
        let expect = |name: &str, value: Option<&str>| Statement::AlterSystem {
            name: Some(name.into()),
            value: value.map(str::to_string),
        };
        assert_eq!(
            set("ALTER SYSTEM SET max_tables = 1000"),
            expect("max_tables", Some("1000"))
        );
        assert_eq!(
            set("ALTER SYSTEM SET enable_rbac_checks TO false"),
            expect("enable_rbac_checks", Some("false"))
        );
        assert_eq!(
            set("alter system set x = 'it''s'"),
            expect("x", Some("it's"))
        );
        assert_eq!(set("ALTER SYSTEM SET x = DEFAULT"), expect("x", None));
        assert_eq!(set("ALTER SYSTEM RESET x"), expect("x", None));
        assert_eq!(
            set("ALTER SYSTEM RESET ALL"),
            Statement::AlterSystem {
                name: None,
                value: None
            }
        );
        assert!(
            matches!(set("SHOW max_tables"), Statement::Show { name, .. } if name == "max_tables")
        );
        assert_eq!(
            set("SHOW CLUSTERS"),
            Statement::ShowObjects { kind: "cluster" }
        );
    }

    #[test]
    fn catalog_objects_are_kept_by_mzsim() {
        let cat = |sql: &str| match classify(sql) {
            Statement::Catalog { item, tag } => (item, tag),
            other => panic!("{sql}: {other:?}"),
        };
        let (item, tag) = cat("CREATE CONNECTION IF NOT EXISTS kafka_conn FOR KAFKA BROKER 'x'");
        assert_eq!(
            item,
            CatalogChange::Create {
                kind: "connection",
                name: "kafka_conn".into(),
                if_not_exists: true
            }
        );
        assert_eq!(tag, "CREATE CONNECTION");
        let (item, _) = cat("CREATE CLUSTER REPLICA quickstart.r1 SIZE '1'");
        assert_eq!(
            item,
            CatalogChange::Create {
                kind: "cluster replica",
                name: "quickstart.r1".into(),
                if_not_exists: false
            }
        );
        let (item, _) = cat("DROP CLUSTER IF EXISTS c CASCADE");
        assert_eq!(
            item,
            CatalogChange::Drop {
                kind: "cluster",
                name: "c".into(),
                if_exists: true
            }
        );
        assert_eq!(
            cat("GRANT ALL PRIVILEGES ON SYSTEM TO materialize").0,
            CatalogChange::Other { kind: "privilege" }
        );
        assert_eq!(
            cat("GRANT INSERT, UPDATE ON TABLE materialize.public.t TO r1, r2").0,
            CatalogChange::Privilege {
                grant: true,
                privileges: vec!["INSERT".into(), "UPDATE".into()],
                object_type: "table".into(),
                object: "materialize.public.t".into(),
                roles: vec!["r1".into(), "r2".into()],
            }
        );
        assert_eq!(
            cat("REVOKE SELECT ON t FROM r").0,
            CatalogChange::Privilege {
                grant: false,
                privileges: vec!["SELECT".into()],
                object_type: "table".into(),
                object: "t".into(),
                roles: vec!["r".into()],
            }
        );
        assert_eq!(
            cat("CREATE DEFAULT INDEX ON v").0,
            CatalogChange::Other { kind: "index" }
        );
        assert_eq!(
            cat("ALTER CLUSTER quickstart SET (MANAGED = false)").0,
            CatalogChange::Other { kind: "cluster" }
        );
        assert!(matches!(
            classify("CREATE SOURCE s FROM KAFKA"),
            Statement::Unsupported(_)
        ));
        assert!(matches!(
            classify("SET CLUSTER = quickstart"),
            Statement::Ignored { .. }
        ));
        assert!(matches!(
            classify("SET TRANSACTION ISOLATION LEVEL STRICT SERIALIZABLE"),
            Statement::Ignored { .. }
        ));
        assert!(matches!(
            classify("SET search_path = public"),
            Statement::Pg { .. }
        ));
    }

    #[test]
    fn parameters_inline_as_literals() {
        let sql = inline_params("SELECT $1, '$2', $2", &[Some("a'b".into()), None]).unwrap();
        assert_eq!(sql, "SELECT 'a''b', '$2', NULL");
        assert!(inline_params("SELECT $3", &[]).is_err());
    }
}
