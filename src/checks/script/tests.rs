//! Parser tests: every command, builtin, guard and variable, and the errors they name.

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
            rows: vec![],
            hashed: None,
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
        ("$ kafka-ingest topic=t", 1, "needs Kafka"),
        ("$ set-max-tries max-tries=5", 1, "unsupported builtin"),
        ("$ postgres-execute\nSELECT 1", 1, "needs connection"),
        ("> SELECT 1\n\"open", 2, "unterminated quote"),
        ("? EXPLAIN SELECT 1", 1, "needs the expected plan"),
    ];
    for (script, line, fragment) in cases {
        let e = parse(script).unwrap_err();
        assert_eq!(e.line, line, "{script:?}: {e}");
        assert!(e.message.contains(fragment), "{script:?}: {e}");
    }
}

#[test]
fn hashed_results_error_matchers_and_nop() {
    let script = "\
$ nop
> SELECT generate_series(1, 100)
100 values hashing to 0123456789abcdef0123456789abcdef
! SELECT 1/0
regex:^division by (zero|0)$
";
    let commands = parse(script).unwrap();
    assert_eq!(commands[0], Command::Nop { line: 1 });
    let Command::Query { hashed, rows, .. } = &commands[1] else {
        panic!("{:?}", commands[1])
    };
    assert_eq!(
        hashed,
        &Some(Hashed {
            rows: 100,
            md5: "0123456789abcdef0123456789abcdef".into()
        })
    );
    assert!(rows.is_empty());
    let Command::Fail { error, .. } = &commands[2] else {
        panic!()
    };
    assert!(error.matches("division by zero") && !error.matches("xdivision by zero"));
    // A hash line after other rows is just a row; a bad one in its place is refused.
    let Command::Query { hashed, rows, .. } =
        &parse("> SELECT 1\n1\n2 values hashing to x").unwrap()[0]
    else {
        panic!()
    };
    assert_eq!((hashed, rows.len()), (&None, 2));
    for (bad, line, why) in [
        (
            "> SELECT 1\n1 values hashing to ABC",
            2,
            "not a lowercase hex MD5",
        ),
        ("! SELECT 1\nregex:(", 2, "regex:("),
        (
            "! SELECT 1\nboom",
            2,
            "expected contains:…, exact:…, regex:… or timeout",
        ),
        (
            "$ set-max-tries max-tries=5",
            1,
            "unsupported builtin $set-max-tries",
        ),
    ] {
        let e = parse(bad).unwrap_err();
        assert_eq!(e.line, line, "{bad}");
        assert!(e.message.contains(why), "{bad}: {e}");
    }
}

#[test]
fn set_variables_timeouts_and_guards_take_effect_in_order() {
    let script = "\
$ set a=1 b=x${a}
> SELECT ${b}
x1
$ set-sql-timeout duration=10m
>[version>=2600100] SELECT 'new'
new
$[version<2600100] set a=old
$ set long
two
lines
$ set-sql-timeout duration=1s force=true
> SELECT 1
1
";
    let c = parse(script).unwrap();
    assert_eq!(c.len(), 8);
    let base = BTreeMap::from([("testdrive.seed".to_string(), "1".to_string())]);
    let v26 = 2_600_200;
    let vars = script_vars(&c[..1], &base, &BTreeMap::new(), v26).unwrap();
    assert_eq!((vars["a"].as_str(), vars["b"].as_str()), ("1", "x1"));
    assert!(applies(&c[3], v26) && !applies(&c[3], 14700));
    assert!(matches!(c[3].unguarded(), Command::Query { sql, .. } if sql == "SELECT 'new'"));
    assert_eq!(c[3].line(), 5);
    // The guarded set runs only on the old version.
    assert_eq!(
        script_vars(&c[..5], &base, &BTreeMap::new(), v26).unwrap()["a"],
        "1"
    );
    assert_eq!(
        script_vars(&c[..5], &base, &BTreeMap::new(), 14700).unwrap()["a"],
        "old"
    );
    assert_eq!(
        script_vars(&c[..6], &base, &BTreeMap::new(), v26).unwrap()["long"],
        "two\nlines"
    );
    let default = Duration::from_secs(300);
    assert_eq!(script_timeout(&c[..2], default, v26), default);
    assert_eq!(
        script_timeout(&c[..3], default, v26),
        Duration::from_secs(600)
    );
    // Below the default only when forced.
    assert_eq!(
        script_timeout(&c[..7], default, v26),
        Duration::from_secs(1)
    );
    assert_eq!(
        c[0].variables(),
        vec![(1, "a".to_string())],
        "a set's values may use variables"
    );
    // Expected fields are substituted one by one, after splitting.
    let vars = BTreeMap::from([
        ("v".to_string(), "two words".to_string()),
        ("re".to_string(), "a.b".to_string()),
    ]);
    let q = parse("> SELECT 1\n\\${v} x").unwrap();
    let Command::Query { rows, .. } = expecting(&q[0], &vars).unwrap() else {
        panic!()
    };
    assert_eq!(rows, [["two words", "x"]]);
    let f = parse("! SELECT 1\nregex:^${re}$").unwrap();
    let Command::Fail { error, .. } = expecting(&f[0], &vars).unwrap() else {
        panic!()
    };
    assert!(
        error.matches("a.b") && !error.matches("axb"),
        "values are regex-escaped"
    );
}

#[test]
fn builtins_that_need_another_system_say_which() {
    let e = parse("$ kafka-ingest topic=t format=bytes\nx").unwrap_err();
    assert_eq!(e.needs, Some("Kafka"));
    assert_eq!(e.line, 1);
    assert!(e.message.contains("$kafka-ingest needs Kafka"), "{e}");
    let e = parse("$ set-max-tries max-tries=5").unwrap_err();
    assert_eq!(e.needs, None);
    assert!(
        e.message.contains("unsupported builtin $set-max-tries"),
        "{e}"
    );
    let e = parse(">[version>=1]SELECT 1").unwrap_err();
    assert!(e.message.contains("a space must follow ]"), "{e}");
    let e = parse("$ file-append path=schema.proto\nmessage M {}").unwrap_err();
    assert_eq!(e.needs, Some("testdrive's temporary directory"));
    // platform-checks' PostgreSQL source database, by its mzcompose host name; the password in
    // the URL is not repeated.
    let e = parse("> SELECT 1\n1\n\n$ postgres-execute connection=postgres://postgres:pw@postgres\nCREATE TABLE t (a int)")
        .unwrap_err();
    assert_eq!(e.line, 4);
    assert_eq!(
        e.needs,
        Some("a PostgreSQL source database (mzcompose host postgres)")
    );
    assert!(!e.message.contains("pw"), "{e}");
    let e =
        parse("$ postgres-connect name=mz url=postgres://mz_system@materialized:6877/materialize")
            .unwrap_err();
    assert_eq!(
        e.needs,
        Some("Materialize under its mzcompose host name materialized")
    );
}

#[test]
fn sleeps_parse_their_duration() {
    let sleep = "sleep-is-probably-flaky-i-have-justified-my-need-with-a-comment";
    assert_eq!(
        parse(&format!("# why\n$ {sleep} duration=\"1s\"")).unwrap(),
        [Command::Sleep {
            line: 2,
            duration: Duration::from_secs(1),
            random: false
        }]
    );
    assert_eq!(
        parse("$ random-sleep duration=500ms").unwrap(),
        [Command::Sleep {
            line: 1,
            duration: Duration::from_millis(500),
            random: true
        }]
    );
    for (bad, why) in [
        (format!("$ {sleep}"), "needs duration="),
        (format!("$ {sleep} duration=soon"), "invalid duration"),
        (format!("$ {sleep} duration=1s for=me"), "unknown"),
    ] {
        let e = parse(&bad).unwrap_err();
        assert!(e.message.contains(why), "{bad}: {e}");
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
    assert!(rows_match(&one, &two));
    assert!(!rows_match(&one, &rows(&[&["1"]])));
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
