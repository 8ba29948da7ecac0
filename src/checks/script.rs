//! The subset of Materialize's testdrive language that platform checks use, parsed with line
//! numbers so a bad script is reported before anything runs:
//!
//! - `> SQL` then the expected rows (whitespace-separated values, `"quoted"` with `\` escapes,
//!   `<null>` for NULL; an optional header line followed by a `---` line names the columns);
//! - `! SQL` then `contains:<text>` or `exact:<text>` for the expected error;
//! - `$ postgres-execute connection=<url>` then one statement per line;
//! - `# comments`, and SQL continued on following lines that start with whitespace;
//! - `${name}` variables (e.g. `${testdrive.materialize-internal-sql-addr}`).

use std::collections::BTreeMap;

/// One parsed command, with the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Query {
        line: usize,
        sql: String,
        columns: Option<Vec<String>>,
        rows: Vec<Vec<String>>,
    },
    Fail {
        line: usize,
        sql: String,
        error: ErrorMatch,
    },
    PostgresExecute {
        line: usize,
        connection: String,
        statements: Vec<String>,
    },
}

impl Command {
    /// The line the command starts on.
    pub fn line(&self) -> usize {
        match self {
            Command::Query { line, .. }
            | Command::Fail { line, .. }
            | Command::PostgresExecute { line, .. } => *line,
        }
    }

    /// The statement text, as shown when it fails.
    pub fn text(&self) -> String {
        match self {
            Command::Query { sql, .. } => format!("> {sql}"),
            Command::Fail { sql, .. } => format!("! {sql}"),
            Command::PostgresExecute {
                connection,
                statements,
                ..
            } => format!(
                "$ postgres-execute connection={connection}\n{}",
                statements.join("\n")
            ),
        }
    }

    /// Every `${name}` the command uses, with the command's line.
    pub fn variables(&self) -> Vec<(usize, String)> {
        let texts: Vec<&str> = match self {
            Command::Query { sql, rows, .. } => std::iter::once(sql.as_str())
                .chain(rows.iter().flatten().map(String::as_str))
                .collect(),
            Command::Fail { sql, .. } => vec![sql.as_str()],
            Command::PostgresExecute {
                connection,
                statements,
                ..
            } => std::iter::once(connection.as_str())
                .chain(statements.iter().map(String::as_str))
                .collect(),
        };
        let mut out = Vec::new();
        for t in texts {
            let mut rest = t;
            while let Some(start) = rest.find("${") {
                let Some(end) = rest[start..].find('}') else {
                    break;
                };
                out.push((self.line(), rest[start + 2..start + end].to_string()));
                rest = &rest[start + end + 1..];
            }
        }
        out
    }
}

/// How an expected error is matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorMatch {
    Contains(String),
    Exact(String),
}

impl ErrorMatch {
    pub fn matches(&self, message: &str) -> bool {
        match self {
            ErrorMatch::Contains(t) => message.contains(t.as_str()),
            ErrorMatch::Exact(t) => message == t,
        }
    }
}

/// A script error: where and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

fn err(line: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        message: message.into(),
    }
}

fn is_command(line: &str) -> bool {
    matches!(line.chars().next(), Some('>' | '!' | '$' | '?'))
}

/// Parses a script.
pub fn parse(script: &str) -> Result<Vec<Command>, ParseError> {
    let lines: Vec<&str> = script.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let (line_no, line) = (i + 1, lines[i]);
        i += 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if !is_command(line) {
            return Err(err(
                line_no,
                format!("expected a command (>, !, $), found {line:?}"),
            ));
        }
        let text = command_text(&lines, &mut i, line);
        let block = command_block(&lines, &mut i);
        let command = match line.chars().next() {
            Some('>') => parse_query(line_no, text, &block)?,
            Some('!') => parse_fail(line_no, text, &block)?,
            Some('$') => parse_postgres_execute(line_no, &text, &block)?,
            _ => return Err(err(line_no, "? (EXPLAIN) commands are not supported")),
        };
        out.push(command);
    }
    Ok(out)
}

/// SQL may be wrapped for readability, so the command's text continues on the lines after
/// it that start with whitespace; `i` is left on the first line past them.
fn command_text(lines: &[&str], i: &mut usize, line: &str) -> String {
    let mut text = line[1..].trim().to_string();
    while *i < lines.len() && lines[*i].starts_with([' ', '\t']) && !lines[*i].trim().is_empty() {
        text.push('\n');
        text.push_str(lines[*i].trim_end());
        *i += 1;
    }
    text
}

/// The expectations after a command run up to the next command; blank lines and comments
/// carry no expectation, so they are dropped here, keeping each line's number for errors.
fn command_block<'a>(lines: &[&'a str], i: &mut usize) -> Vec<(usize, &'a str)> {
    let mut block = Vec::new();
    while *i < lines.len() && !is_command(lines[*i]) {
        let l = lines[*i];
        if !l.trim().is_empty() && !l.starts_with('#') {
            block.push((*i + 1, l));
        }
        *i += 1;
    }
    block
}

/// `>`: the block is the expected rows, led by a column header when its second line is a
/// `---` separator.
fn parse_query(
    line_no: usize,
    text: String,
    block: &[(usize, &str)],
) -> Result<Command, ParseError> {
    if text.is_empty() {
        return Err(err(line_no, "> needs a SQL statement"));
    }
    let (columns, body) = match block.get(1) {
        Some((_, sep)) if sep.trim().len() >= 3 && sep.trim().chars().all(|c| c == '-') => {
            (Some(split_row(block[0].0, block[0].1)?), &block[2..])
        }
        _ => (None, block),
    };
    let rows = body
        .iter()
        .map(|(n, l)| split_row(*n, l))
        .collect::<Result<_, _>>()?;
    Ok(Command::Query {
        line: line_no,
        sql: text,
        columns,
        rows,
    })
}

/// `!`: the block must be exactly one `contains:`/`exact:` line, so a stray line is not
/// silently taken for part of the expectation.
fn parse_fail(
    line_no: usize,
    text: String,
    block: &[(usize, &str)],
) -> Result<Command, ParseError> {
    let Some((n, spec)) = block.first() else {
        return Err(err(
            line_no,
            "! needs an expected error on the next line (contains:… or exact:…)",
        ));
    };
    let error = if let Some(t) = spec.strip_prefix("contains:") {
        ErrorMatch::Contains(t.trim().to_string())
    } else if let Some(t) = spec.strip_prefix("exact:") {
        ErrorMatch::Exact(t.trim().to_string())
    } else {
        return Err(err(
            *n,
            format!("expected contains:… or exact:…, found {spec:?}"),
        ));
    };
    if let Some((n, extra)) = block.get(1) {
        return Err(err(
            *n,
            format!("unexpected line after the expected error: {extra:?}"),
        ));
    }
    Ok(Command::Fail {
        line: line_no,
        sql: text,
        error,
    })
}

/// `$`: only the `postgres-execute` builtin is supported, so any other builtin or argument
/// is refused at parse time rather than ignored at run time.
fn parse_postgres_execute(
    line_no: usize,
    text: &str,
    block: &[(usize, &str)],
) -> Result<Command, ParseError> {
    let mut words = text.split_whitespace();
    match words.next() {
        Some("postgres-execute") => {}
        Some(other) => {
            return Err(err(
                line_no,
                format!("unsupported builtin ${other}; supported: postgres-execute"),
            ));
        }
        None => return Err(err(line_no, "$ needs a builtin name")),
    }
    let mut connection = None;
    for w in words {
        match w.split_once('=') {
            Some(("connection", v)) => connection = Some(v.to_string()),
            _ => {
                return Err(err(
                    line_no,
                    format!("unknown postgres-execute argument {w:?}"),
                ));
            }
        }
    }
    let connection =
        connection.ok_or_else(|| err(line_no, "postgres-execute needs connection=…"))?;
    let statements = block.iter().map(|(_, l)| l.trim().to_string()).collect();
    Ok(Command::PostgresExecute {
        line: line_no,
        connection,
        statements,
    })
}

/// Splits an expected row like testdrive: whitespace-separated, `"quoted"` values with `\`
/// escapes (`\n`, `\t`, `\"`, `\\`).
pub fn split_row(line_no: usize, line: &str) -> Result<Vec<String>, ParseError> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut in_field = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted => {
                out.push(std::mem::take(&mut field));
                quoted = false;
                in_field = false;
            }
            '"' if !in_field => {
                quoted = true;
            }
            '\\' if quoted => match chars.next() {
                Some('n') => field.push('\n'),
                Some('t') => field.push('\t'),
                Some(other) => field.push(other),
                None => return Err(err(line_no, "dangling \\ in a quoted value")),
            },
            c if c.is_whitespace() && !quoted => {
                if in_field {
                    out.push(std::mem::take(&mut field));
                    in_field = false;
                }
            }
            c => {
                field.push(c);
                in_field |= !quoted;
            }
        }
    }
    if quoted {
        return Err(err(line_no, "unterminated quote"));
    }
    if in_field {
        out.push(field);
    }
    Ok(out)
}

/// Replaces `${name}` with its value; an unknown name is an error naming it.
pub fn substitute(text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| format!("unterminated ${{ in {text:?}"))?;
        let name = &rest[start + 2..start + end];
        out.push_str(
            vars.get(name)
                .ok_or_else(|| format!("unknown variable ${{{name}}}"))?,
        );
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Compares rows as testdrive does: order matters only when the query says ORDER BY.
pub fn rows_match(sql: &str, expected: &[Vec<String>], actual: &[Vec<String>]) -> bool {
    let ordered = sql
        .to_ascii_uppercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .any(|w| w == ["ORDER", "BY"]);
    if ordered {
        return expected == actual;
    }
    let (mut e, mut a) = (expected.to_vec(), actual.to_vec());
    e.sort();
    a.sort();
    e == a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_queries_errors_and_postgres_execute() {
        let script = "\
# a comment
> CREATE TABLE t (a int, b text)

> INSERT INTO t VALUES (1, 'x y'), (2, NULL)
> SELECT a, b
  FROM t
1 \"x y\"
2 <null>
! SELECT * FROM nope
contains:unknown catalog item 'nope'
$ postgres-execute connection=postgres://mz_system@${testdrive.materialize-internal-sql-addr}
ALTER SYSTEM SET max_tables = 1000
GRANT ALL PRIVILEGES ON SYSTEM TO materialize
> SELECT count(*) AS n FROM t
n
---
2
";
        let cmds = parse(script).unwrap();
        assert_eq!(cmds.len(), 6);
        assert_eq!(
            cmds[0],
            Command::Query {
                line: 2,
                sql: "CREATE TABLE t (a int, b text)".into(),
                columns: None,
                rows: vec![]
            }
        );
        match &cmds[2] {
            Command::Query {
                line, sql, rows, ..
            } => {
                assert_eq!(*line, 5);
                assert_eq!(sql, "SELECT a, b\n  FROM t");
                assert_eq!(
                    rows,
                    &vec![
                        vec!["1".to_string(), "x y".into()],
                        vec!["2".into(), "<null>".into()]
                    ]
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            cmds[3],
            Command::Fail {
                line: 9,
                sql: "SELECT * FROM nope".into(),
                error: ErrorMatch::Contains("unknown catalog item 'nope'".into())
            }
        );
        match &cmds[4] {
            Command::PostgresExecute {
                statements,
                connection,
                ..
            } => {
                assert_eq!(statements.len(), 2);
                assert!(connection.contains("${testdrive.materialize-internal-sql-addr}"));
            }
            other => panic!("{other:?}"),
        }
        match &cmds[5] {
            Command::Query { columns, rows, .. } => {
                assert_eq!(columns.as_deref(), Some(&["n".to_string()][..]));
                assert_eq!(rows, &vec![vec!["2".to_string()]]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_scripts_name_the_line() {
        let cases = [
            ("SELECT 1", 1, "expected a command"),
            ("> SELECT 1\n! SELECT x\n", 2, "needs an expected error"),
            ("! SELECT x\nmaybe: it fails", 2, "expected contains:"),
            ("$ kafka-ingest topic=t", 1, "unsupported builtin"),
            ("$ postgres-execute\nSELECT 1", 1, "needs connection"),
            ("> SELECT 1\n\"open", 2, "unterminated quote"),
            ("? EXPLAIN SELECT 1", 1, "not supported"),
        ];
        for (script, line, fragment) in cases {
            let e = parse(script).unwrap_err();
            assert_eq!(e.line, line, "{script:?}: {e}");
            assert!(e.message.contains(fragment), "{script:?}: {e}");
        }
    }

    #[test]
    fn rows_split_and_compare_like_testdrive() {
        assert_eq!(
            split_row(1, r#"a  "b c" "" "q\"x\n""#).unwrap(),
            ["a", "b c", "", "q\"x\n"]
        );
        let rows = |v: &[&[&str]]| -> Vec<Vec<String>> {
            v.iter()
                .map(|r| r.iter().map(|s| s.to_string()).collect())
                .collect()
        };
        let (one, two) = (rows(&[&["1"], &["2"]]), rows(&[&["2"], &["1"]]));
        assert!(rows_match("SELECT a FROM t", &one, &two));
        assert!(!rows_match("SELECT a FROM t ORDER BY a", &one, &two));
        assert!(!rows_match("SELECT a FROM t", &one, &rows(&[&["1"]])));
    }

    #[test]
    fn variables_are_substituted_and_unknown_ones_named() {
        let vars = BTreeMap::from([(
            "testdrive.materialize-internal-sql-addr".to_string(),
            "h:6877".to_string(),
        )]);
        assert_eq!(
            substitute(
                "postgres://mz_system@${testdrive.materialize-internal-sql-addr}",
                &vars
            )
            .unwrap(),
            "postgres://mz_system@h:6877"
        );
        assert!(
            substitute("${nope}", &vars)
                .unwrap_err()
                .contains("${nope}")
        );
    }
}
