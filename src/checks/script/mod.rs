//! The subset of Materialize's testdrive language that platform checks use, parsed with line
//! numbers so a bad script is reported before anything runs:
//!
//! - `> SQL` then the expected rows (whitespace-separated values, `"quoted"` with `\` escapes,
//!   `<null>` for NULL; an optional header line followed by a `---` line names the columns), or
//!   the one line `N values hashing to MD5`; compared sorted, as testdrive always does;
//! - `! SQL` then `contains:<text>`, `exact:<text>` or `regex:<regex>` for the expected error
//!   (testdrive's `timeout` is refused: not supported yet);
//! - `$ postgres-execute connection=<url>` then one statement per line; `$ nop`;
//!   `$ set name=value …` (or `$ set name` with the value on the lines after it) and
//!   `${name}` to use it; `$ set-sql-timeout duration=…|default [force=true]`;
//!   `$ set-regex match=… [replacement=…]` and `$ unset-regex`; `$ skip-if` (a boolean
//!   query) … `$ skip-end`; `$ postgres-connect name=… url=…` for `postgres-execute`;
//!   `$ set-from-sql var=…` (a query of one value); `$ sleep-is-probably-flaky-…
//!   duration=…` and `$ random-sleep duration=…`;
//! - `? EXPLAIN …` then the plan text, compared exactly;
//! - version guards on any command: `>[version>=14700] SELECT …` ([`guard`]);
//! - `# comments`, and SQL continued on following lines that start with whitespace;
//! - `${name}` variables (e.g. `${testdrive.materialize-internal-sql-addr}`).

pub mod builtin;
pub mod guard;

use std::{collections::BTreeMap, time::Duration};

use self::guard::VersionRange;

/// One parsed command, with the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Query {
        line: usize,
        sql: String,
        columns: Option<Vec<String>>,
        rows: Vec<Vec<String>>,
        /// `N values hashing to MD5` instead of rows.
        hashed: Option<Hashed>,
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
    /// `$ nop`: does nothing (platform-checks' default `initialize()`).
    Nop {
        line: usize,
    },
    /// `$ set`: variables for the commands after it (values may use earlier ones).
    Set {
        line: usize,
        vars: Vec<(String, String)>,
    },
    /// `$ set-sql-timeout`: how long later commands are retried (`None`: the default); only
    /// ever raised, unless `force`.
    SetSqlTimeout {
        line: usize,
        timeout: Option<Duration>,
        force: bool,
    },
    /// `$ set-regex match=… [replacement=…]` (`Some`) or `$ unset-regex` (`None`): later
    /// results' values and error messages have the regex's matches replaced before they are
    /// compared (never the expected side), as testdrive's.
    SetRegex {
        line: usize,
        regex: Option<(String, String)>,
    },
    /// `$ set-from-sql var=…` with its query (one row, one column): the variable's value for
    /// the commands after it.
    SetFromSql {
        line: usize,
        var: String,
        sql: String,
    },
    /// `$ skip-if` with its query (one row, one boolean column): when true, the commands up
    /// to the next `$ skip-end` (or the script's end) are skipped.
    SkipIf {
        line: usize,
        sql: String,
    },
    SkipEnd {
        line: usize,
    },
    /// `$ postgres-connect name=… url=…`: later `$ postgres-execute connection=<name>` use
    /// `url`.
    PostgresConnect {
        line: usize,
        name: String,
        url: String,
    },
    /// `? EXPLAIN …` and the plan text expected, compared exactly (one row, one column).
    Explain {
        line: usize,
        sql: String,
        expected: String,
    },
    /// `$ sleep-is-probably-flaky-i-have-justified-my-need-with-a-comment duration=…`: the
    /// check waits this long before its next command (its session, and an open transaction,
    /// kept). `$ random-sleep duration=…` waits up to that long.
    Sleep {
        line: usize,
        duration: Duration,
        random: bool,
    },
    /// A command that runs only when the server's version number is in `range`.
    Guarded {
        range: VersionRange,
        command: Box<Command>,
    },
}

/// Testdrive's hashed result: the number of rows and the MD5 of their sorted values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hashed {
    pub rows: usize,
    /// Lowercase hex.
    pub md5: String,
}

impl Command {
    /// The line the command starts on.
    pub fn line(&self) -> usize {
        match self {
            Command::Query { line, .. }
            | Command::Fail { line, .. }
            | Command::PostgresExecute { line, .. }
            | Command::Nop { line }
            | Command::Set { line, .. }
            | Command::SetRegex { line, .. }
            | Command::SkipIf { line, .. }
            | Command::SetFromSql { line, .. }
            | Command::SkipEnd { line }
            | Command::PostgresConnect { line, .. }
            | Command::Explain { line, .. }
            | Command::Sleep { line, .. }
            | Command::SetSqlTimeout { line, .. } => *line,
            Command::Guarded { command, .. } => command.line(),
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
            Command::Nop { .. } => "$ nop".to_string(),
            Command::Set { vars, .. } => {
                let args: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("$ set {}", args.join(" "))
            }
            Command::SetSqlTimeout { timeout, force, .. } => format!(
                "$ set-sql-timeout duration={}{}",
                timeout.map_or("default".to_string(), |d| format!("{}ms", d.as_millis())),
                if *force { " force=true" } else { "" }
            ),
            Command::SetRegex {
                regex: Some((m, r)),
                ..
            } => format!("$ set-regex match={m} replacement={r}"),
            Command::SetRegex { regex: None, .. } => "$ unset-regex".to_string(),
            Command::SkipIf { sql, .. } => format!("$ skip-if\n{sql}"),
            Command::SetFromSql { var, sql, .. } => format!("$ set-from-sql var={var}\n{sql}"),
            Command::SkipEnd { .. } => "$ skip-end".to_string(),
            Command::PostgresConnect { name, url, .. } => {
                format!("$ postgres-connect name={name} url={url}")
            }
            Command::Explain { sql, .. } => format!("? {sql}"),
            Command::Sleep {
                duration, random, ..
            } => format!(
                "$ {} duration={}ms",
                if *random { RANDOM_SLEEP } else { SLEEP },
                duration.as_millis()
            ),
            Command::Guarded { range, command } => {
                format!("[version {}..={}] {}", range.min, range.max, command.text())
            }
        }
    }

    /// The command itself, without its version guard.
    pub fn unguarded(&self) -> &Command {
        match self {
            Command::Guarded { command, .. } => command.unguarded(),
            c => c,
        }
    }

    /// Every `${name}` the command uses, with the command's line.
    pub fn variables(&self) -> Vec<(usize, String)> {
        let texts: Vec<&str> = match self {
            Command::Query { sql, rows, .. } => std::iter::once(sql.as_str())
                .chain(rows.iter().flatten().map(String::as_str))
                .collect(),
            Command::Fail { sql, error, .. } => vec![sql.as_str(), error.text()],
            Command::PostgresExecute {
                connection,
                statements,
                ..
            } => std::iter::once(connection.as_str())
                .chain(statements.iter().map(String::as_str))
                .collect(),
            Command::Nop { .. }
            | Command::SetSqlTimeout { .. }
            | Command::SetRegex { .. }
            | Command::Sleep { .. }
            | Command::SkipEnd { .. } => Vec::new(),
            Command::SkipIf { sql, .. } | Command::SetFromSql { sql, .. } => vec![sql.as_str()],
            Command::PostgresConnect { url, .. } => vec![url.as_str()],
            Command::Explain { sql, expected, .. } => vec![sql.as_str(), expected.as_str()],
            Command::Set { vars, .. } => vars.iter().map(|(_, v)| v.as_str()).collect(),
            Command::Guarded { command, .. } => return command.variables(),
        };
        texts
            .into_iter()
            .flat_map(variable_names)
            .map(|name| (self.line(), name))
            .collect()
    }
}

/// How an expected error is matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorMatch {
    Contains(String),
    Exact(String),
    /// An unanchored search, as testdrive's (checked to compile when parsed).
    Regex(String),
}

impl ErrorMatch {
    /// Whether the error's primary message matches.
    pub fn matches(&self, message: &str) -> bool {
        match self {
            ErrorMatch::Contains(t) => message.contains(t.as_str()),
            ErrorMatch::Exact(t) => message == t,
            ErrorMatch::Regex(r) => regex::Regex::new(r).is_ok_and(|r| r.is_match(message)),
        }
    }

    /// The text it matches with (for variables).
    fn text(&self) -> &str {
        match self {
            ErrorMatch::Contains(t) | ErrorMatch::Exact(t) | ErrorMatch::Regex(t) => t,
        }
    }
}

/// A script error: where and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
    /// The system the script needs and a rehearsal does not have (Kafka, MySQL, …): such a
    /// check can be skipped instead (`spec.checks.skipUnavailable`).
    pub needs: Option<&'static str>,
}

fn err(line: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        message: message.into(),
        needs: None,
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
        let (range, line) = split_guard(line_no, line)?;
        let text = command_text(&lines, &mut i, &line);
        let command = match line.chars().next() {
            Some('?') => parse_explain(line_no, text, explain_block(&lines, &mut i))?,
            sigil => {
                let block = command_block(&lines, &mut i);
                match sigil {
                    Some('>') => parse_query(line_no, text, &block)?,
                    Some('!') => parse_fail(line_no, text, &block)?,
                    _ => parse_builtin(line_no, &text, &block)?,
                }
            }
        };
        out.push(match range {
            Some(range) => Command::Guarded {
                range,
                command: Box::new(command),
            },
            None => command,
        });
    }
    Ok(out)
}

/// `>[version>=N] …`: the guard, and the line as it reads without it. Testdrive drops the
/// character after `]` (a space, in every upstream check); anything else there is refused
/// rather than dropped.
fn split_guard(line_no: usize, line: &str) -> Result<(Option<VersionRange>, String), ParseError> {
    let (sigil, rest) = line.split_at(1);
    let Some(rest) = rest.strip_prefix('[') else {
        return Ok((None, line.to_string()));
    };
    let end = rest
        .find(']')
        .ok_or_else(|| err(line_no, "version guard: found no closing ]"))?;
    let range = guard::parse(&rest[..end]).map_err(|e| err(line_no, e))?;
    let after = &rest[end + 1..];
    if !after.starts_with(' ') {
        return Err(err(
            line_no,
            format!(
                "version guard: a space must follow ] (testdrive drops the character there): {line:?}"
            ),
        ));
    }
    Ok((Some(range), format!("{sigil}{}", &after[1..])))
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
/// A line starting with `\` loses that character, as in testdrive, so a row or input line
/// may start with a sigil (`\${rows}`).
fn command_block<'a>(lines: &[&'a str], i: &mut usize) -> Vec<(usize, &'a str)> {
    let mut block = Vec::new();
    while *i < lines.len() && !is_command(lines[*i]) {
        let l = lines[*i];
        if !l.trim().is_empty() && !l.starts_with('#') {
            block.push((*i + 1, l.strip_prefix('\\').unwrap_or(l)));
        }
        *i += 1;
    }
    block
}

/// The plan text after `?`, as testdrive reads it: every line up to the next command, as
/// written (indentation and blank lines kept), comment lines dropped, each ending in a
/// newline, trailing blank lines dropped.
fn explain_block(lines: &[&str], i: &mut usize) -> String {
    let mut text = String::new();
    while *i < lines.len() && !is_command(lines[*i]) {
        if !lines[*i].starts_with('#') {
            text.push_str(lines[*i]);
            text.push('\n');
        }
        *i += 1;
    }
    while text.ends_with("\n\n") {
        text.pop();
    }
    text
}

/// `?`: an EXPLAIN and the plan it must print.
fn parse_explain(line_no: usize, sql: String, expected: String) -> Result<Command, ParseError> {
    if !sql
        .split_whitespace()
        .next()
        .is_some_and(|w| w.eq_ignore_ascii_case("EXPLAIN"))
    {
        return Err(err(
            line_no,
            format!("? takes an EXPLAIN statement, found {sql:?}"),
        ));
    }
    if expected.trim().is_empty() {
        return Err(err(
            line_no,
            "? needs the expected plan on the lines after it",
        ));
    }
    Ok(Command::Explain {
        line: line_no,
        sql,
        expected,
    })
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
    if let [(n, only)] = block
        && let Some(hashed) = parse_hashed(*n, only)?
    {
        return Ok(Command::Query {
            line: line_no,
            sql: text,
            columns: None,
            rows: Vec::new(),
            hashed: Some(hashed),
        });
    }
    let (columns, body) = match block.get(1) {
        Some((_, sep)) if sep.len() >= 3 && sep.chars().all(|c| c == '-') => {
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
        hashed: None,
    })
}

/// `N values hashing to MD5`, the only line of a `>` block (testdrive's form for results too
/// long to list); N counts rows.
fn parse_hashed(line_no: usize, line: &str) -> Result<Option<Hashed>, ParseError> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let [n, "values", "hashing", "to", md5] = words[..] else {
        return Ok(None);
    };
    let rows = n
        .parse()
        .map_err(|e| err(line_no, format!("number of expected rows {n:?}: {e}")))?;
    if md5.len() != 32
        || !md5
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    {
        return Err(err(line_no, format!("{md5:?} is not a lowercase hex MD5")));
    }
    Ok(Some(Hashed {
        rows,
        md5: md5.to_string(),
    }))
}

/// `!`: the block must be exactly one `contains:`/`exact:`/`regex:`/`timeout` line (testdrive
/// has no default), so a stray line is not silently taken for part of the expectation.
fn parse_fail(
    line_no: usize,
    text: String,
    block: &[(usize, &str)],
) -> Result<Command, ParseError> {
    let Some((n, spec)) = block.first() else {
        return Err(err(
            line_no,
            "! needs an expected error on the next line (contains:…, exact:…, regex:… or timeout)",
        ));
    };
    let error = if let Some(t) = spec.strip_prefix("contains:") {
        ErrorMatch::Contains(t.trim().to_string())
    } else if let Some(t) = spec.strip_prefix("exact:") {
        ErrorMatch::Exact(t.trim().to_string())
    } else if let Some(t) = spec.strip_prefix("regex:") {
        let t = t.trim();
        // Variables are substituted (escaped) at run time: check the rest now.
        let probe = regex::Regex::new(r"\$\{[^}]*\}")
            .expect("a valid regex")
            .replace_all(t, "v");
        regex::Regex::new(&probe).map_err(|e| err(*n, format!("regex:{t}: {e}")))?;
        ErrorMatch::Regex(t.to_string())
    } else if *spec == "timeout" {
        return Err(err(
            *n,
            "! … timeout (a statement expected not to answer in time) is not supported yet: \
             it would hold a check's session and a pass for the whole timeout",
        ));
    } else {
        return Err(err(
            *n,
            format!("expected contains:…, exact:…, regex:… or timeout, found {spec:?}"),
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

/// `$`: the builtins supported are parsed; any other builtin or argument is refused at parse
/// time rather than ignored at run time, and one that needs a system a rehearsal does not
/// have says which.
/// Testdrive's sleep, named to make authors justify it.
pub const SLEEP: &str = "sleep-is-probably-flaky-i-have-justified-my-need-with-a-comment";
/// Testdrive's sleep of a random part of the duration.
pub const RANDOM_SLEEP: &str = "random-sleep";

/// Refuses, naming what it needs, a connection URL whose host a rehearsal does not have.
fn unreachable_url(line_no: usize, url: &str) -> Result<(), ParseError> {
    match builtin::url_needs(url) {
        Some(what) => Err(ParseError {
            line: line_no,
            // Not the URL itself: it may carry a password.
            message: format!("this connection needs {what}, which a rehearsal does not have"),
            needs: Some(what),
        }),
        None => Ok(()),
    }
}

fn parse_builtin(
    line_no: usize,
    text: &str,
    block: &[(usize, &str)],
) -> Result<Command, ParseError> {
    let (name, args) = builtin::arguments(text).map_err(|e| err(line_no, e))?;
    let unknown = |k: &str| err(line_no, format!("unknown {name} argument {k:?}"));
    match name.as_str() {
        "postgres-execute" => {
            let mut connection = None;
            for (k, v) in args {
                match k.as_str() {
                    "connection" => connection = Some(v),
                    _ => return Err(unknown(&k)),
                }
            }
            let connection =
                connection.ok_or_else(|| err(line_no, "postgres-execute needs connection=…"))?;
            unreachable_url(line_no, &connection)?;
            let statements = block.iter().map(|(_, l)| l.trim().to_string()).collect();
            Ok(Command::PostgresExecute {
                line: line_no,
                connection,
                statements,
            })
        }
        // Testdrive substitutes its arguments and input and does nothing else.
        "nop" => Ok(Command::Nop { line: line_no }),
        "set" => {
            if args.is_empty() {
                return Err(err(line_no, "$ set needs name=value"));
            }
            // `$ set name` (no value) takes the lines after it, joined.
            let input = block.iter().map(|(_, l)| *l).collect::<Vec<_>>().join("\n");
            let vars = args
                .into_iter()
                .map(|(k, v)| {
                    if v.is_empty() {
                        (k, input.clone())
                    } else {
                        (k, v)
                    }
                })
                .collect();
            Ok(Command::Set {
                line: line_no,
                vars,
            })
        }
        "set-sql-timeout" => {
            let (mut timeout, mut force) = (None, false);
            for (k, v) in args {
                match k.as_str() {
                    "duration" if v.eq_ignore_ascii_case("default") => timeout = Some(None),
                    "duration" => {
                        let d = builtin::duration(&v).map_err(|e| err(line_no, e))?;
                        timeout = Some(Some(d));
                    }
                    "force" => {
                        force = match v.as_str() {
                            "true" => true,
                            "false" => false,
                            _ => return Err(err(line_no, format!("force={v}: true or false"))),
                        }
                    }
                    _ => return Err(unknown(&k)),
                }
            }
            let timeout =
                timeout.ok_or_else(|| err(line_no, "set-sql-timeout needs duration=…"))?;
            Ok(Command::SetSqlTimeout {
                line: line_no,
                timeout,
                force,
            })
        }
        "set-regex" => {
            let (mut pattern, mut replacement) = (None, DEFAULT_REGEX_REPLACEMENT.to_string());
            for (k, v) in args {
                match k.as_str() {
                    "match" => pattern = Some(v),
                    "replacement" => replacement = v,
                    _ => return Err(unknown(&k)),
                }
            }
            let pattern = pattern.ok_or_else(|| err(line_no, "set-regex needs match=…"))?;
            regex::Regex::new(&pattern)
                .map_err(|e| err(line_no, format!("set-regex match={pattern}: {e}")))?;
            Ok(Command::SetRegex {
                line: line_no,
                regex: Some((pattern, replacement)),
            })
        }
        "skip-if" => {
            if let Some((k, _)) = args.first() {
                return Err(unknown(k));
            }
            let sql = block.iter().map(|(_, l)| *l).collect::<Vec<_>>().join("\n");
            if sql.trim().is_empty() {
                return Err(err(
                    line_no,
                    "skip-if needs a query (one boolean) on the lines after it",
                ));
            }
            Ok(Command::SkipIf { line: line_no, sql })
        }
        "set-from-sql" => {
            let mut var = None;
            for (k, v) in args {
                match k.as_str() {
                    "var" => var = Some(v),
                    _ => return Err(unknown(&k)),
                }
            }
            let var = var
                .filter(|v| !v.is_empty())
                .ok_or_else(|| err(line_no, "set-from-sql needs var=…"))?;
            let sql = block.iter().map(|(_, l)| *l).collect::<Vec<_>>().join("\n");
            if sql.trim().is_empty() {
                return Err(err(
                    line_no,
                    "set-from-sql needs a query on the lines after it",
                ));
            }
            Ok(Command::SetFromSql {
                line: line_no,
                var,
                sql,
            })
        }
        "skip-end" => match args.first() {
            Some((k, _)) => Err(unknown(k)),
            None => Ok(Command::SkipEnd { line: line_no }),
        },
        "postgres-connect" => {
            let (mut name, mut url) = (None, None);
            for (k, v) in args {
                match k.as_str() {
                    "name" => name = Some(v),
                    "url" => url = Some(v),
                    _ => return Err(unknown(&k)),
                }
            }
            let name = name.ok_or_else(|| err(line_no, "postgres-connect needs name=…"))?;
            if name.starts_with("postgres://") {
                return Err(err(
                    line_no,
                    "postgres-connect: the connection name can not be a url",
                ));
            }
            let url = url.ok_or_else(|| err(line_no, "postgres-connect needs url=…"))?;
            unreachable_url(line_no, &url)?;
            Ok(Command::PostgresConnect {
                line: line_no,
                name,
                url,
            })
        }
        SLEEP | RANDOM_SLEEP => {
            let mut duration = None;
            for (k, v) in args {
                match k.as_str() {
                    "duration" => {
                        duration = Some(builtin::duration(&v).map_err(|e| err(line_no, e))?)
                    }
                    _ => return Err(unknown(&k)),
                }
            }
            let duration =
                duration.ok_or_else(|| err(line_no, format!("{name} needs duration=…")))?;
            Ok(Command::Sleep {
                line: line_no,
                duration,
                random: name == RANDOM_SLEEP,
            })
        }
        "unset-regex" => match args.first() {
            Some((k, _)) => Err(unknown(k)),
            None => Ok(Command::SetRegex {
                line: line_no,
                regex: None,
            }),
        },
        other => Err(match builtin::needs(other) {
            Some(what) => ParseError {
                line: line_no,
                message: format!("${other} needs {what}, which a rehearsal does not have"),
                needs: Some(what),
            },
            None => err(
                line_no,
                format!(
                    "unsupported builtin ${other}; supported: postgres-execute, nop, set, \
                     set-sql-timeout, set-regex, unset-regex, skip-if, skip-end, postgres-connect, \
                     set-from-sql, {SLEEP}, {RANDOM_SLEEP}"
                ),
            ),
        }),
    }
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
                Some('r') => field.push('\r'),
                Some('0') => field.push('\0'),
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

/// Every `${name}` in `text`, in order.
pub fn variable_names(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        out.push(rest[start + 2..start + end].to_string());
        rest = &rest[start + end + 1..];
    }
    out
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

/// The command with `${name}`s in its expectations replaced, as testdrive substitutes each
/// expected field (after splitting, so a value with spaces stays one field) and the expected
/// error (regex-escaped in a `regex:`). Column names and hash lines are not substituted.
pub fn expecting(command: &Command, vars: &BTreeMap<String, String>) -> Result<Command, String> {
    let mut c = command.unguarded().clone();
    match &mut c {
        Command::Query { rows, .. } => {
            for field in rows.iter_mut().flatten() {
                *field = substitute(field, vars)?;
            }
        }
        Command::Explain { expected, .. } => *expected = substitute(expected, vars)?,
        Command::Fail { error, .. } => match error {
            ErrorMatch::Contains(t) | ErrorMatch::Exact(t) => *t = substitute(t, vars)?,
            ErrorMatch::Regex(r) => {
                let escaped: BTreeMap<String, String> = vars
                    .iter()
                    .map(|(k, v)| (k.clone(), regex::escape(v)))
                    .collect();
                *r = substitute(r, &escaped)?;
            }
        },
        _ => {}
    }
    Ok(c)
}

/// Whether `command` runs on a server with version number `version` (a guard's range).
pub fn applies(command: &Command, version: u64) -> bool {
    match command {
        Command::Guarded { range, command } => range.contains(version) && applies(command, version),
        _ => true,
    }
}

/// The variables the command after `before` sees: `base` and every `$ set` before it that
/// ran (values substituted as they were set, as testdrive does).
pub fn script_vars(
    before: &[Command],
    base: &BTreeMap<String, String>,
    read: &BTreeMap<String, String>,
    version: u64,
) -> Result<BTreeMap<String, String>, String> {
    let mut vars = base.clone();
    for c in before.iter().filter(|c| applies(c, version)) {
        match c.unguarded() {
            Command::Set { vars: set, .. } => {
                for (k, v) in set {
                    let v = substitute(v, &vars)?;
                    vars.insert(k.clone(), v);
                }
            }
            // What the query returned when it ran (kept in the check's record).
            Command::SetFromSql { var, .. } => match read.get(var) {
                Some(v) => {
                    vars.insert(var.clone(), v.clone());
                }
                None => return Err(format!("${{{var}}} was not read by its set-from-sql")),
            },
            _ => {}
        }
    }
    Ok(vars)
}

/// Where the script goes on after a `$ skip-if` at `at` that held: past the next
/// `$ skip-end` (whatever its guard), or to the end.
pub fn skip_end(script: &[Command], at: usize) -> usize {
    script
        .iter()
        .enumerate()
        .skip(at + 1)
        .find(|(_, c)| matches!(c.unguarded(), Command::SkipEnd { .. }))
        .map_or(script.len(), |(k, _)| k + 1)
}

/// The connection `connection` names for the command after `before`: a name given by an
/// earlier `$ postgres-connect`, or the URL itself.
pub fn connection_url(before: &[Command], connection: &str, version: u64) -> String {
    before
        .iter()
        .filter(|c| applies(c, version))
        .filter_map(|c| match c.unguarded() {
            Command::PostgresConnect { name, url, .. } if name == connection => Some(url.clone()),
            _ => None,
        })
        .next_back()
        .unwrap_or_else(|| connection.to_string())
}

/// testdrive's replacement when `$ set-regex` names none.
pub const DEFAULT_REGEX_REPLACEMENT: &str = "<regex_match>";

/// The regex (and its replacement) in force for the command after `before`: the last
/// `$ set-regex` before it, unless an `$ unset-regex` came after.
pub fn script_regex(before: &[Command], version: u64) -> Option<(regex::Regex, String)> {
    let mut current = None;
    for c in before.iter().filter(|c| applies(c, version)) {
        if let Command::SetRegex { regex, .. } = c.unguarded() {
            current = regex.as_ref();
        }
    }
    // Compiled when parsed.
    let (pattern, replacement) = current?;
    Some((regex::Regex::new(pattern).ok()?, replacement.clone()))
}

/// How long the command after `before` is retried: `default`, raised by the last
/// `$ set-sql-timeout` before it (or set, with `force=true`), as testdrive's.
pub fn script_timeout(before: &[Command], default: Duration, version: u64) -> Duration {
    let mut timeout = default;
    for c in before.iter().filter(|c| applies(c, version)) {
        if let Command::SetSqlTimeout {
            timeout: t, force, ..
        } = c.unguarded()
        {
            let t = t.unwrap_or(default);
            timeout = if *force { t } else { t.max(default) };
        }
    }
    timeout
}

/// Compares rows as testdrive does: both sides sorted, whatever the query's ORDER BY (the
/// order a script lists rows in never matters).
pub fn rows_match(expected: &[Vec<String>], actual: &[Vec<String>]) -> bool {
    let (mut e, mut a) = (expected.to_vec(), actual.to_vec());
    e.sort();
    a.sort();
    e == a
}

#[cfg(test)]
mod tests;
