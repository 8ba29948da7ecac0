//! `$` builtins: testdrive's argument syntax (`src/testdrive/src/parser.rs`, `BuiltinReader`)
//! and the builtins a rehearsal cannot run because they need a system it does not have.

use std::time::Duration;

/// Splits `name arg=value …` as testdrive does: on spaces; a `"` outside braces toggles
/// quoting and is dropped; inside `{…}`/`[…]` spaces do not split; each token splits at its
/// first `=` (no `=`: an empty value); keys are `[a-z0-9-]*` and appear once.
pub fn arguments(text: &str) -> Result<(String, Vec<(String, String)>), String> {
    let mut tokens = Vec::new();
    let (mut token, mut quoted, mut depth) = (String::new(), false, Vec::new());
    for c in text.chars() {
        match c {
            '"' if depth.is_empty() => quoted = !quoted,
            '{' | '[' if !quoted => {
                depth.push(c);
                token.push(c);
            }
            '}' | ']' if !quoted => {
                let open = if c == '}' { '{' } else { '[' };
                if depth.pop() != Some(open) {
                    return Err(format!("unbalanced close {c} in ${text}"));
                }
                token.push(c);
            }
            ' ' if !quoted && depth.is_empty() => {
                if !token.is_empty() {
                    tokens.push(std::mem::take(&mut token));
                }
            }
            c => token.push(c),
        }
    }
    if quoted {
        return Err(format!("unterminated double quote in ${text}"));
    }
    if let Some(open) = depth.last() {
        return Err(format!("unterminated open {open} in ${text}"));
    }
    if !token.is_empty() {
        tokens.push(token);
    }
    let mut tokens = tokens.into_iter();
    let name = tokens.next().ok_or("$ needs a builtin name")?;
    let mut args: Vec<(String, String)> = Vec::new();
    for t in tokens {
        let (k, v) = t.split_once('=').unwrap_or((t.as_str(), ""));
        if !k
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(format!(
                "invalid builtin argument name {k:?}: only lowercase letters, numbers, and \
                 hyphens allowed"
            ));
        }
        if args.iter().any(|(seen, _)| seen == k) {
            return Err(format!("argument {k:?} specified twice"));
        }
        args.push((k.to_string(), v.to_string()));
    }
    Ok((name, args))
}

/// What a builtin needs that a rehearsal does not have, if it needs anything.
pub fn needs(builtin: &str) -> Option<&'static str> {
    const SYSTEMS: &[(&str, &str)] = &[
        ("kafka-", "Kafka"),
        ("schema-registry-", "a schema registry"),
        ("mysql-", "MySQL"),
        ("sql-server-", "SQL Server"),
        ("s3-", "S3"),
        ("webhook-", "a webhook source"),
        ("duckdb-", "DuckDB"),
        ("http-request", "an HTTP endpoint"),
        ("fivetran-", "Fivetran"),
        ("persist-", "direct persist access"),
        // Files in testdrive's temporary directory: schemas and payloads for Kafka and
        // protobuf sources, which a rehearsal has no place to put.
        ("file-", "testdrive's temporary directory"),
        ("set-from-file", "testdrive's temporary directory"),
        ("protobuf-", "protobuf descriptors"),
        ("psql-", "the psql client's output"),
    ];
    SYSTEMS
        .iter()
        .find(|(prefix, _)| builtin.starts_with(prefix))
        .map(|(_, what)| *what)
}

/// What a literal connection URL needs that a rehearsal does not have: platform-checks reaches
/// its PostgreSQL source database as the mzcompose service `postgres`, and some checks reach
/// Materialize by its mzcompose service name `materialized` instead of testdrive's variables.
pub fn url_needs(url: &str) -> Option<&'static str> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))?;
    let authority = rest.split('/').next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    match host_port.split(':').next().unwrap_or("") {
        "postgres" => Some("a PostgreSQL source database (mzcompose host postgres)"),
        "materialized" => Some("Materialize under its mzcompose host name materialized"),
        _ => None,
    }
}

/// What a `${testdrive.*}` or `${arg.*}` variable stands for that a rehearsal does not have.
pub fn variable_needs(name: &str) -> Option<&'static str> {
    if let Some(arg) = name.strip_prefix("arg.") {
        // platform-checks passes its AWS credentials (for S3 and COPY TO) as --var.
        return arg.starts_with("aws-").then_some("S3");
    }
    match name.strip_prefix("testdrive.")? {
        "materialize-password-sql-addr" | "materialize-sasl-sql-addr" => {
            Some("a password-authenticated SQL port")
        }
        "kafka-addr" | "kafka-addr-resolved" => Some("Kafka"),
        "schema-registry-url" => Some("a schema registry"),
        n if n.starts_with("aws-") => Some("S3"),
        n if n.starts_with("fivetran-") => Some("Fivetran"),
        _ => None,
    }
}

/// A humantime-style duration: `300s`, `5m`, `500ms`, `1h30m`, `1m 30s`.
pub fn duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {text:?} (e.g. 30s, 5m, 500ms, 1h30m)");
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == ' ')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(n),
            "s" | "sec" | "secs" => Duration::from_secs(n),
            "m" | "min" | "mins" => Duration::from_secs(n * 60),
            "h" | "hr" | "hrs" => Duration::from_secs(n * 3600),
            "d" | "day" | "days" => Duration::from_secs(n * 86_400),
            _ => return Err(bad()),
        };
        total += unit;
        rest = rest[unit_len..].trim_start();
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_split_like_testdrive() {
        let (name, args) =
            arguments(r#"set a=1 b="two words" schema={"type": "record"} c"#).unwrap();
        assert_eq!(name, "set");
        assert_eq!(
            args,
            [
                ("a".into(), "1".into()),
                ("b".into(), "two words".into()),
                ("schema".into(), r#"{"type": "record"}"#.into()),
                ("c".into(), String::new()),
            ]
        );
        for (bad, why) in [
            ("set my_var=1", "invalid builtin argument name \"my_var\""),
            ("set a=1 a=2", "specified twice"),
            ("set a=\"x", "unterminated double quote"),
            ("set a={x", "unterminated open {"),
            ("set a=x}", "unbalanced close }"),
        ] {
            let e = arguments(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn durations_and_needs() {
        assert_eq!(duration("300s"), Ok(Duration::from_secs(300)));
        assert_eq!(duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(duration("5 parsecs").is_err() && duration("").is_err() && duration("s").is_err());
        assert_eq!(needs("kafka-ingest"), Some("Kafka"));
        assert_eq!(needs("sql-server-connect"), Some("SQL Server"));
        assert_eq!(needs("postgres-execute"), None);
        assert_eq!(
            url_needs("postgres://postgres:postgres@postgres"),
            Some("a PostgreSQL source database (mzcompose host postgres)")
        );
        assert_eq!(
            url_needs("postgres://mz_system@materialized:6877/materialize"),
            Some("Materialize under its mzcompose host name materialized")
        );
        assert_eq!(
            url_needs("postgres://mz_system@${testdrive.materialize-internal-sql-addr}"),
            None
        );
        assert_eq!(url_needs("postgres://u@db.example:5432/postgres"), None);
        assert_eq!(variable_needs("testdrive.kafka-addr"), Some("Kafka"));
        assert_eq!(variable_needs("testdrive.aws-endpoint"), Some("S3"));
        assert_eq!(variable_needs("testdrive.seed"), None);
        assert_eq!(variable_needs("arg.aws-secret-access-key"), Some("S3"));
        assert_eq!(variable_needs("arg.replicas"), None);
        assert_eq!(
            variable_needs("testdrive.materialize-password-sql-addr"),
            Some("a password-authenticated SQL port")
        );
        assert_eq!(
            needs("file-append"),
            Some("testdrive's temporary directory")
        );
        assert_eq!(
            needs("set-from-file"),
            Some("testdrive's temporary directory")
        );
    }
}
