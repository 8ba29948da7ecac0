//! The runner's decisions, pure: whether a command is safe to send again, whether its result is
//! the expected one (with a readable diff when not), and how a check's record moves. The
//! operator sends the commands and stores the records.

use std::time::Duration;

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};

use super::{
    library::{Check, Phase},
    script::{Command, ErrorMatch, Hashed, applies, rows_match},
};
use crate::api::v1alpha1::{CheckRecord, CheckState};

/// What one SQL command returned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rows {
    pub columns: Vec<String>,
    /// Values in testdrive's text form; `None` is NULL.
    pub rows: Vec<Vec<Option<String>>>,
}

/// Why a command did not return rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlFailure {
    /// The server answered with an error: the statement did not take effect.
    Db(String),
    /// No answer (connection lost, timeout): it may or may not have taken effect.
    Lost(String),
    /// Never sent (no connection): try again.
    NotSent(String),
}

/// Whether a command may be sent again after an operator restart left its fate unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// Reads, settings, grants, `IF [NOT] EXISTS` DDL: sending it twice changes nothing.
    Safe,
    /// `CREATE`/`DROP` without `IF [NOT] EXISTS`: sent again, an error containing one of these
    /// says the first one took effect.
    Evidence(&'static [&'static str]),
    /// Anything else (INSERT, UPDATE, DELETE, ALTER … RENAME, …): never sent twice.
    Unsafe,
}

const CREATED: &[&str] = &["already exists"];
const DROPPED: &[&str] = &["does not exist", "unknown catalog item", "unknown schema"];

fn statement_repeat(sql: &str) -> Repeat {
    let words: Vec<String> = sql
        .split_whitespace()
        .take(12)
        .map(|w| w.to_ascii_uppercase())
        .collect();
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    let has = |seq: &[&str]| words.windows(seq.len()).any(|win| win == seq);
    match w(0) {
        "SELECT" | "SHOW" | "EXPLAIN" | "VALUES" | "TABLE" | "SET" | "RESET" | "GRANT"
        | "REVOKE" | "COMMENT" | "BEGIN" | "COMMIT" | "ROLLBACK" => Repeat::Safe,
        "ALTER" if w(1) == "SYSTEM" || w(1) == "DEFAULT" => Repeat::Safe,
        "CREATE" if has(&["IF", "NOT", "EXISTS"]) || has(&["OR", "REPLACE"]) => Repeat::Safe,
        "CREATE" => Repeat::Evidence(CREATED),
        "DROP" if has(&["IF", "EXISTS"]) => Repeat::Safe,
        "DROP" => Repeat::Evidence(DROPPED),
        _ => Repeat::Unsafe,
    }
}

/// How safe sending `command` again is.
pub fn repeat(command: &Command) -> Repeat {
    match command {
        // An expected error changes nothing; builtins that only set state send nothing.
        Command::Fail { .. }
        | Command::Nop { .. }
        | Command::Set { .. }
        | Command::SetRegex { .. }
        | Command::SkipEnd { .. }
        | Command::PostgresConnect { .. }
        | Command::Sleep { .. }
        | Command::SetSqlTimeout { .. } => Repeat::Safe,
        Command::Guarded { command, .. } => repeat(command),
        Command::SkipIf { sql, .. }
        | Command::Explain { sql, .. }
        | Command::SetFromSql { sql, .. } => statement_repeat(sql),
        Command::Query { sql, .. } => statement_repeat(sql),
        // A block re-runs from its first statement: as unsafe as its least safe statement.
        Command::PostgresExecute { statements, .. } => statements
            .iter()
            .map(|s| statement_repeat(s))
            .fold(Repeat::Safe, |acc, r| match (acc, r) {
                (Repeat::Unsafe, _) | (_, Repeat::Unsafe) => Repeat::Unsafe,
                (Repeat::Evidence(_), _) | (_, Repeat::Evidence(_)) => Repeat::Unsafe,
                _ => Repeat::Safe,
            }),
    }
}

/// Whether the runner records `command` as being sent before sending it.
pub fn needs_marker(command: &Command) -> bool {
    repeat(command) != Repeat::Safe
}

/// What to do after one try of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Not the expected result yet: try again until the timeout (testdrive's retry).
    Retry(String),
    /// Stop the check here.
    Fail(String),
    /// A `$ skip-if` that held: go on past its `$ skip-end`.
    Skip,
    /// `$ set-from-sql`'s value: recorded, then on to the next command.
    Read(String),
}

/// Judges one try. `resumed`: the command may have been sent before an operator restart.
pub fn judge(command: &Command, result: &Result<Rows, SqlFailure>, resumed: bool) -> Verdict {
    let command = command.unguarded();
    let safety = repeat(command);
    if let Err(SqlFailure::NotSent(e)) = result {
        return Verdict::Retry(format!("not sent: {e}"));
    }
    if let Err(SqlFailure::Lost(e)) = result {
        return match safety {
            Repeat::Safe => Verdict::Retry(format!("no answer: {e}")),
            _ => Verdict::Fail(format!(
                "no answer ({e}): the statement may or may not have taken effect, and it is not \
                 safe to send again"
            )),
        };
    }
    match command {
        Command::Query {
            columns,
            rows,
            hashed,
            ..
        } => match result {
            Ok(actual) => {
                let got: Vec<Vec<String>> = actual.rows.iter().map(|r| text_row(r)).collect();
                if let Some(want) = columns
                    && want != &actual.columns
                {
                    return Verdict::Retry(format!(
                        "columns differ:\n- {}\n+ {}",
                        render_row(want),
                        render_row(&actual.columns)
                    ));
                }
                if let Some(h) = hashed {
                    return match hash_mismatch(h, &got) {
                        None => Verdict::Pass,
                        Some(why) => Verdict::Retry(why),
                    };
                }
                if rows_match(rows, &got) {
                    Verdict::Pass
                } else {
                    Verdict::Retry(diff(rows, &got))
                }
            }
            Err(SqlFailure::Db(e)) => match safety {
                Repeat::Evidence(marks) if resumed && marks.iter().any(|m| e.contains(m)) => {
                    Verdict::Pass
                }
                _ => Verdict::Retry(format!("error: {e}")),
            },
            Err(SqlFailure::Lost(_) | SqlFailure::NotSent(_)) => unreachable!("handled above"),
        },
        Command::Fail { error, .. } => {
            let want = match error {
                ErrorMatch::Contains(t) => format!("an error containing {t:?}"),
                ErrorMatch::Exact(t) => format!("the error {t:?}"),
                ErrorMatch::Regex(r) => format!("an error matching regex {:?}", r.as_str()),
            };
            match result {
                Err(SqlFailure::Db(e)) if error.matches(e) => Verdict::Pass,
                Err(SqlFailure::Db(e)) => Verdict::Retry(format!("expected {want}, got: {e}")),
                Ok(_) => Verdict::Retry(format!("expected {want}, but the statement succeeded")),
                Err(SqlFailure::Lost(_) | SqlFailure::NotSent(_)) => {
                    unreachable!("handled above")
                }
            }
        }
        Command::Nop { .. }
        | Command::Set { .. }
        | Command::SetRegex { .. }
        | Command::SkipEnd { .. }
        | Command::PostgresConnect { .. }
        | Command::Sleep { .. }
        | Command::SetSqlTimeout { .. } => Verdict::Pass,
        // testdrive runs neither again: a query that fails or answers otherwise ends the check.
        Command::SkipIf { .. } => match result {
            Ok(r) => match &r.rows[..] {
                [row] if row.len() == 1 && row[0].as_deref() == Some("true") => Verdict::Skip,
                [row] if row.len() == 1 && row[0].as_deref() == Some("false") => Verdict::Pass,
                _ => Verdict::Fail(format!(
                    "skip-if query must return exactly one row with one boolean column, got {}",
                    shape(r)
                )),
            },
            Err(SqlFailure::Db(e)) => Verdict::Fail(format!("skip-if query failed: {e}")),
            Err(SqlFailure::Lost(_) | SqlFailure::NotSent(_)) => unreachable!("handled above"),
        },
        // testdrive: one row of one column, not retried.
        Command::SetFromSql { var, .. } => match result {
            Ok(r) => match &r.rows[..] {
                [row] if row.len() == 1 && row[0].is_some() => {
                    Verdict::Read(row[0].clone().unwrap_or_default())
                }
                _ => Verdict::Fail(format!(
                    "set-from-sql var={var}: the query must return exactly one row with one \
                     non-NULL column, got {}",
                    shape(r)
                )),
            },
            Err(SqlFailure::Db(e)) => Verdict::Fail(format!("set-from-sql query failed: {e}")),
            Err(SqlFailure::Lost(_) | SqlFailure::NotSent(_)) => unreachable!("handled above"),
        },
        Command::Explain { expected, .. } => match result {
            Ok(r) => match &r.rows[..] {
                [row] if row.len() == 1 && row[0].as_deref() == Some(expected.as_str()) => {
                    Verdict::Pass
                }
                [row] if row.len() == 1 => Verdict::Fail(format!(
                    "plan differs:\n{}",
                    line_diff(expected, row[0].as_deref().unwrap_or("<null>"))
                )),
                _ => Verdict::Fail(format!("EXPLAIN returned {}, not one plan", shape(r))),
            },
            Err(SqlFailure::Db(e)) => Verdict::Fail(format!("error: {e}")),
            Err(SqlFailure::Lost(_) | SqlFailure::NotSent(_)) => unreachable!("handled above"),
        },
        Command::Guarded { .. } => unreachable!("unguarded above"),
        Command::PostgresExecute { .. } => match result {
            Ok(_) => Verdict::Pass,
            Err(SqlFailure::Db(e)) if safety == Repeat::Safe => {
                Verdict::Retry(format!("error: {e}"))
            }
            Err(SqlFailure::Db(e)) => Verdict::Fail(format!(
                "error: {e} (the block's earlier statements have run and are not safe to repeat)"
            )),
            Err(SqlFailure::Lost(_) | SqlFailure::NotSent(_)) => unreachable!("handled above"),
        },
    }
}

/// "N rows of M columns", for a result of the wrong shape.
fn shape(r: &Rows) -> String {
    let columns = r.rows.first().map_or(r.columns.len(), Vec::len);
    format!("{} rows of {columns} columns", r.rows.len())
}

/// Two texts line by line: `-` expected, `+` actual, both for each line that differs.
fn line_diff(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let mut out = Vec::new();
    for k in 0..e.len().max(a.len()) {
        match (e.get(k), a.get(k)) {
            (Some(x), Some(y)) if x == y => out.push(format!("  {x}")),
            (x, y) => {
                out.extend(x.map(|x| format!("- {x}")));
                out.extend(y.map(|y| format!("+ {y}")));
            }
        }
    }
    out.join("\n")
}

/// `$ set-regex`: every match in the result's values, or in its error's message, replaced
/// (testdrive applies it to what the server answered, never to what the script expects).
pub fn replace_matches(
    result: Result<Rows, SqlFailure>,
    regex: &regex::Regex,
    replacement: &str,
) -> Result<Rows, SqlFailure> {
    let replace = |v: &str| regex.replace_all(v, replacement).into_owned();
    match result {
        Ok(mut rows) => {
            for value in rows.rows.iter_mut().flatten().flatten() {
                *value = replace(value);
            }
            Ok(rows)
        }
        Err(SqlFailure::Db(e)) => Err(SqlFailure::Db(replace(&e))),
        other => other,
    }
}

/// Testdrive's `N values hashing to H`: N is the number of rows, H the MD5 (lowercase hex)
/// of every value of the sorted rows, concatenated with no separator. Why not, if it differs.
pub fn hash_mismatch(h: &Hashed, actual: &[Vec<String>]) -> Option<String> {
    let mut sorted = actual.to_vec();
    sorted.sort();
    if sorted.len() != h.rows {
        return Some(format!(
            "wrong row count: expected {} rows, got {}",
            h.rows,
            sorted.len()
        ));
    }
    let bytes: Vec<u8> = sorted.iter().flatten().flat_map(|v| v.bytes()).collect();
    let got = format!("{:x}", md5::compute(bytes));
    (got != h.md5).then(|| format!("wrong hash value: expected {:?}, got {got:?}", h.md5))
}

fn text_row(row: &[Option<String>]) -> Vec<String> {
    row.iter()
        .map(|v| v.clone().unwrap_or_else(|| "<null>".into()))
        .collect()
}

/// A row as testdrive prints it in a diff: values joined by a space, a value that is empty or
/// holds a space or a `"` quoted with Rust's string escapes.
pub fn render_row(row: &[String]) -> String {
    row.iter()
        .map(|v| {
            if v.is_empty() || v.contains([' ', '"']) {
                format!("{v:?}")
            } else {
                v.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Most rows a diff shows on each side.
const DIFF_ROWS: usize = 20;

/// Testdrive's diff: both sides sorted and walked together, an expected row the result lacks
/// as `- `, a result row not expected as `+ `.
pub fn diff(expected: &[Vec<String>], actual: &[Vec<String>]) -> String {
    let (mut e, mut a) = (expected.to_vec(), actual.to_vec());
    e.sort();
    a.sort();
    let (mut missing, mut extra) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < e.len() && j < a.len() {
        match e[i].cmp(&a[j]) {
            std::cmp::Ordering::Less => {
                missing.push(&e[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                extra.push(&a[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
        }
    }
    missing.extend(&e[i..]);
    extra.extend(&a[j..]);
    let mut out = format!(
        "rows differ (expected {} rows, got {}):",
        expected.len(),
        actual.len()
    );
    for (sign, rows) in [("-", &missing), ("+", &extra)] {
        for r in rows.iter().take(DIFF_ROWS) {
            out.push_str(&format!("\n{sign} {}", render_row(r)));
        }
        if rows.len() > DIFF_ROWS {
            out.push_str(&format!("\n{sign} … {} more", rows.len() - DIFF_ROWS));
        }
    }
    out
}

fn seconds_between(from: &Time, to: Timestamp) -> f64 {
    to.duration_since(from.0).as_secs_f64().max(0.0)
}

/// Marks a Pending check Running.
pub fn begin(record: &mut CheckRecord, now: Timestamp) {
    if record.state == CheckState::Pending {
        record.state = CheckState::Running;
        record.started_at = Some(Time(now));
    }
}

/// A sleep of `wait` at the current command: whether it is over. The sleep starts at its first
/// try and is kept in `retrying_since`, so a restarted operator does not sleep it again.
pub fn slept(record: &mut CheckRecord, command: &Command, wait: Duration, now: Timestamp) -> bool {
    let since = record.retrying_since.get_or_insert(Time(now)).clone();
    if seconds_between(&since, now) >= wait.as_secs_f64() {
        return true;
    }
    record.line = Some(command.line() as u32);
    record.statement = Some(redact(&command.text()));
    record.diff = Some(format!("sleeping for {wait:?}"));
    false
}

/// How long `$ random-sleep duration=…` waits: a part of `duration` chosen from the check's
/// name, the command's index and the seed (testdrive draws it at random; this is as arbitrary
/// and the same after a restart).
pub fn random_part(duration: Duration, check: &str, index: usize, seed: u64) -> Duration {
    let h = crate::stable_hash(format!("{check}/{index}/{seed}").as_bytes());
    duration.mul_f64((h % 1_000_000) as f64 / 1_000_000.0)
}

/// The current command passed.
pub fn advance(record: &mut CheckRecord) {
    record.done += 1;
    record.sending = None;
    record.tries = 0;
    record.retrying_since = None;
    record.line = None;
    record.statement = None;
    record.diff = None;
}

/// The script is done.
pub fn pass(record: &mut CheckRecord, now: Timestamp) {
    record.state = CheckState::Passed;
    record.duration = record
        .started_at
        .as_ref()
        .map(|t| format!("{:.2}s", seconds_between(t, now)));
}

/// A statement as it may be shown in status, Events and logs: the password of a connection
/// URL and the value of `CREATE|ALTER SECRET … AS '…'` are replaced by `***`.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let mut line = line.to_string();
        // postgres://user:password@host → postgres://user:***@host
        let mut from = 0;
        while let Some(i) = line[from..].find("://").map(|i| i + from + 3) {
            let end = line[i..]
                .find(|c: char| c.is_whitespace() || c == '/')
                .map(|e| e + i)
                .unwrap_or(line.len());
            if let Some(at) = line[i..end].rfind('@').map(|a| a + i)
                && let Some(colon) = line[i..at].find(':').map(|c| c + i)
            {
                line.replace_range(colon + 1..at, "***");
            }
            from = i;
        }
        let upper = line.to_ascii_uppercase();
        if upper.contains("SECRET")
            && let Some(as_at) = upper.find(" AS ")
        {
            let rest = &line[as_at + 4..];
            if let Some(q) = rest.find('\'') {
                let newline = if line.ends_with('\n') { "\n" } else { "" };
                line = format!("{}AS {}'***'{newline}", &line[..as_at + 1], &rest[..q]);
            }
        }
        out.push_str(&line);
    }
    out
}

/// The check stops here.
pub fn fail(record: &mut CheckRecord, command: &Command, reason: String, now: Timestamp) {
    record.state = CheckState::Failed;
    record.sending = None;
    record.line = Some(command.line() as u32);
    record.statement = Some(redact(&command.text()));
    record.duration = record
        .started_at
        .as_ref()
        .map(|t| format!("{:.2}s", seconds_between(t, now)));
    let (first, rest) = reason.split_once('\n').unwrap_or((&reason, ""));
    record.reason = Some(format!(
        "line {}: {}",
        command.line(),
        first.trim_end_matches(':')
    ));
    if !rest.is_empty() || first.starts_with("rows differ") {
        record.diff = Some(reason);
    }
}

/// The current command is not there yet: retry, or fail once it has been tried for `timeout`.
/// Returns whether the check failed.
pub fn retry(
    record: &mut CheckRecord,
    command: &Command,
    why: String,
    now: Timestamp,
    timeout: Duration,
) -> bool {
    // A server error means the statement did not take effect: the marker no longer applies.
    record.sending = None;
    record.tries += 1;
    record.retries += 1;
    let since = record.retrying_since.get_or_insert(Time(now)).clone();
    if seconds_between(&since, now) >= timeout.as_secs_f64() {
        let tries = record.tries;
        fail(
            record,
            command,
            format!("still not the expected result after {timeout:?} ({tries} tries): {why}"),
            now,
        );
        record.diff = Some(why);
        return true;
    }
    record.line = Some(command.line() as u32);
    record.statement = Some(redact(&command.text()));
    record.diff = Some(why);
    false
}

/// A check whose command was being sent when the operator stopped: fail it unless the command
/// is one that may be sent again. Returns whether the command is to be re-sent as resumed.
pub fn resume(record: &mut CheckRecord, command: &Command, now: Timestamp) -> bool {
    if record.sending != Some(record.done) {
        return false;
    }
    match repeat(command) {
        Repeat::Safe | Repeat::Evidence(_) => true,
        Repeat::Unsafe => {
            fail(
                record,
                command,
                "the operator stopped while sending this statement; it may or may not have taken \
                 effect, and it is not safe to send again, so the check stops here"
                    .into(),
                now,
            );
            false
        }
    }
}

/// What one pass of a check step runs: each picked check's record index, its script for the
/// phase, and whether its current command is re-sent after a restart (`resumed`); and the
/// checks whose next command this pass marked as being sent (to be written before sending).
#[derive(Debug, Default)]
pub struct Prepared<'a> {
    pub active: Vec<(usize, &'a [Command], bool)>,
    pub marked: Vec<String>,
}

/// Picks up to `concurrency` unfinished checks and readies them: started, a marker left by a
/// crash judged ([`resume`]), and a marker set on an unrepeatable next command that will be
/// sent (not one its version guard skips on `version`). `fresh` names checks whose markers
/// were written in this very pass and not sent yet: not left by a crash.
pub fn prepare<'a>(
    records: &mut [CheckRecord],
    checks: &'a [Check],
    phase: Phase,
    concurrency: usize,
    fresh: &[String],
    version: Option<u64>,
    now: Timestamp,
) -> Prepared<'a> {
    let mut prepared = Prepared::default();
    let picks: Vec<usize> = (0..records.len())
        .filter(|&i| !records[i].state.finished())
        .take(concurrency)
        .collect();
    for i in picks {
        let record = &mut records[i];
        let Some(check) = checks.iter().find(|c| c.name() == record.name) else {
            record.state = CheckState::Failed;
            record.reason = Some("not among the run's frozen checks".into());
            continue;
        };
        begin(record, now);
        let script = check.script(phase);
        let mut resumed = false;
        if let Some(command) = script.get(record.done as usize) {
            if record.sending == Some(record.done) {
                resumed = !fresh.contains(&record.name) && resume(record, command, now);
            } else if needs_marker(command) && version.is_none_or(|v| applies(command, v)) {
                record.sending = Some(record.done);
                prepared.marked.push(record.name.clone());
            }
        }
        if !record.state.finished() {
            prepared.active.push((i, script, resumed));
        }
    }
    prepared
}

/// The counts, then one line per failed check: why a step failed, for the run's message.
pub fn failure_summary(records: &[CheckRecord]) -> String {
    report(records, |r| r.state == CheckState::Failed)
}

/// The counts, then one line per check for a step's message and Event.
pub fn summary(records: &[CheckRecord]) -> String {
    report(records, |_| true)
}

fn report(records: &[CheckRecord], listed: impl Fn(&CheckRecord) -> bool) -> String {
    let count = |s: CheckState| records.iter().filter(|r| r.state == s).count();
    let mut out = format!(
        "checks: {} passed, {} failed, {} skipped",
        count(CheckState::Passed),
        count(CheckState::Failed),
        count(CheckState::Skipped)
    );
    for r in records.iter().filter(|r| listed(r)) {
        let detail = match r.state {
            CheckState::Passed if r.retries > 0 => format!(
                "passed in {} after {} retries",
                r.duration.as_deref().unwrap_or("?"),
                r.retries
            ),
            CheckState::Passed => format!("passed in {}", r.duration.as_deref().unwrap_or("?")),
            CheckState::Skipped => format!("skipped: {}", r.reason.as_deref().unwrap_or("")),
            CheckState::Failed => format!("FAILED {}", r.reason.as_deref().unwrap_or("")),
            s => format!("{s:?}"),
        };
        out.push_str(&format!("\n{}: {detail}", r.name));
    }
    out
}

#[cfg(test)]
mod tests;
