//! Tests of the runner's decisions: repeat safety, judging results, diffs, record moves.

use super::*;
use crate::checks::script::parse;

fn one(script: &str) -> Command {
    parse(script).unwrap().remove(0)
}

fn rows(v: &[&[&str]]) -> Rows {
    Rows {
        columns: vec![],
        rows: v
            .iter()
            .map(|r| {
                r.iter()
                    .map(|s| (*s != "NULL").then(|| s.to_string()))
                    .collect()
            })
            .collect(),
    }
}

#[test]
fn repeat_safety_by_statement() {
    let cases = [
        ("> SELECT 1", Repeat::Safe),
        ("> show max_tables", Repeat::Safe),
        ("> GRANT SELECT ON t TO r", Repeat::Safe),
        ("> CREATE TABLE IF NOT EXISTS t (a int)", Repeat::Safe),
        ("> CREATE OR REPLACE VIEW v AS SELECT 1", Repeat::Safe),
        ("> DROP TABLE IF EXISTS t", Repeat::Safe),
        ("> CREATE TABLE t (a int)", Repeat::Evidence(CREATED)),
        ("> DROP VIEW v", Repeat::Evidence(DROPPED)),
        ("> INSERT INTO t VALUES (1)", Repeat::Unsafe),
        ("> UPDATE t SET a = 2", Repeat::Unsafe),
        ("> ALTER TABLE t RENAME TO u", Repeat::Unsafe),
        (
            "! INSERT INTO nope VALUES (1)\ncontains:unknown",
            Repeat::Safe,
        ),
        (
            "$ postgres-execute connection=x\nALTER SYSTEM SET a = 1\nGRANT x TO y",
            Repeat::Safe,
        ),
        (
            "$ postgres-execute connection=x\nALTER SYSTEM SET a = 1\nCREATE TABLE t (a int)",
            Repeat::Unsafe,
        ),
    ];
    for (script, want) in cases {
        assert_eq!(repeat(&one(script)), want, "{script}");
        assert_eq!(needs_marker(&one(script)), want != Repeat::Safe, "{script}");
    }
}

#[test]
fn judging_queries_errors_and_evidence() {
    let q = one("> SELECT a, b FROM t\n1 x\n2 <null>");
    assert_eq!(
        judge(&q, &Ok(rows(&[&["2", "NULL"], &["1", "x"]])), false),
        Verdict::Pass
    );
    assert_eq!(
        judge(&q, &Ok(rows(&[&["1", "x"], &["2", "y"]])), false),
        Verdict::Retry("rows differ (expected 2 rows, got 2):\n- 2 <null>\n+ 2 y".into())
    );
    // Testdrive sorts both sides whatever the query says: ORDER BY never fails a check.
    let ordered = one("> SELECT a FROM t ORDER BY a\n1\n2");
    assert_eq!(
        judge(&ordered, &Ok(rows(&[&["2"], &["1"]])), false),
        Verdict::Pass
    );
    // The diff walks both sorted sides: what is missing as -, what is extra as +.
    let three = one("> SELECT a FROM t\nc\na\nb");
    assert_eq!(
        judge(&three, &Ok(rows(&[&["d"], &["b"], &["a"]])), false),
        Verdict::Retry("rows differ (expected 3 rows, got 3):\n- c\n+ d".into())
    );
    let header = one("> SELECT 1 AS n\nn\n---\n1");
    let mut named = rows(&[&["1"]]);
    named.columns = vec!["m".into()];
    assert_eq!(
        judge(&header, &Ok(named), false),
        Verdict::Retry("columns differ:\n- n\n+ m".into())
    );

    let create = one("> CREATE TABLE t (a int)");
    let exists = Err(SqlFailure::Db("catalog item 't' already exists".into()));
    assert_eq!(
        judge(&create, &exists, true),
        Verdict::Pass,
        "resumed: evidence it ran"
    );
    assert!(
        matches!(judge(&create, &exists, false), Verdict::Retry(_)),
        "fresh: a real error"
    );

    let insert = one("> INSERT INTO t VALUES (1)");
    assert!(
        matches!(judge(&insert, &Err(SqlFailure::Lost("reset".into())), false), Verdict::Fail(m) if m.contains("not safe to send again"))
    );
    assert!(matches!(
        judge(
            &one("> SELECT 1\n1"),
            &Err(SqlFailure::Lost("reset".into())),
            false
        ),
        Verdict::Retry(_)
    ));

    let fail = one("! SELECT * FROM nope\ncontains:unknown catalog item");
    assert_eq!(
        judge(
            &fail,
            &Err(SqlFailure::Db("unknown catalog item 'nope'".into())),
            false
        ),
        Verdict::Pass
    );
    assert_eq!(
        judge(&fail, &Ok(rows(&[])), false),
        Verdict::Retry(
            "expected an error containing \"unknown catalog item\", but the statement succeeded"
                .into()
        )
    );
}

#[test]
fn hashed_results_count_rows_and_hash_sorted_values() {
    // MD5 of "1a2b" (the sorted rows' values, no separators), as testdrive computes it.
    let want = format!("{:x}", md5::compute("1a2b"));
    let q = one(&format!("> SELECT a, b FROM t\n2 values hashing to {want}"));
    assert_eq!(
        judge(&q, &Ok(rows(&[&["2", "b"], &["1", "a"]])), false),
        Verdict::Pass
    );
    assert_eq!(
        judge(&q, &Ok(rows(&[&["1", "a"]])), false),
        Verdict::Retry("wrong row count: expected 2 rows, got 1".into())
    );
    let Verdict::Retry(why) = judge(&q, &Ok(rows(&[&["1", "a"], &["2", "c"]])), false) else {
        panic!()
    };
    assert!(
        why.starts_with(&format!("wrong hash value: expected {want:?}, got ")),
        "{why}"
    );
    // The README's example: values sort as text ("1" < "10" < "100" < "11").
    let q = one(
        "> SELECT generate_series(1, 100)\n100 values hashing to 856fac9cc6c07400a8df14315f1ab8c9",
    );
    let n: Vec<String> = (1..=100).map(|i| i.to_string()).collect();
    let result = Rows {
        columns: vec!["generate_series".into()],
        rows: n.iter().map(|v| vec![Some(v.clone())]).collect(),
    };
    assert_eq!(judge(&q, &Ok(result), false), Verdict::Pass);
}

#[test]
fn regex_expectations_and_nop() {
    let re = one("! SELECT 1/0\nregex:division by (zero|0)");
    assert_eq!(
        judge(&re, &Err(SqlFailure::Db("division by zero".into())), false),
        Verdict::Pass
    );
    assert_eq!(
        judge(&re, &Err(SqlFailure::Db("overflow".into())), false),
        Verdict::Retry(
            "expected an error matching regex \"division by (zero|0)\", got: overflow".into()
        )
    );
    assert_eq!(
        judge(&one("$ nop"), &Ok(Rows::default()), false),
        Verdict::Pass
    );
}

#[test]
fn diffs_quote_like_scripts_and_are_bounded() {
    // As testdrive: quoted (Rust string escapes) when empty or holding a space or a quote.
    assert_eq!(
        render_row(&[
            "a b".into(),
            "".into(),
            "<null>".into(),
            "q\"".into(),
            "x\\y".into()
        ]),
        "\"a b\" \"\" <null> \"q\\\"\" x\\y"
    );
    let expected: Vec<Vec<String>> = (0..30).map(|i| vec![format!("{i:02}")]).collect();
    let d = diff(&expected, &[]);
    assert!(
        d.starts_with("rows differ (expected 30 rows, got 0):\n- 00\n"),
        "{d}"
    );
    assert!(d.ends_with("- … 10 more"), "{d}");
}

#[test]
fn records_move_and_time_out() {
    let now = Timestamp::now();
    let cmd = one("> SELECT 1\n2");
    let mut r = CheckRecord::new("C", CheckState::Pending, None);
    begin(&mut r, now);
    assert_eq!(r.state, CheckState::Running);
    assert!(!retry(
        &mut r,
        &cmd,
        "rows differ".into(),
        now,
        Duration::from_secs(5)
    ));
    assert_eq!((r.tries, r.line), (1, Some(1)));
    let later = now + Duration::from_secs(6);
    assert!(retry(
        &mut r,
        &cmd,
        "rows differ".into(),
        later,
        Duration::from_secs(5)
    ));
    assert_eq!(r.state, CheckState::Failed);
    assert!(
        r.reason
            .as_deref()
            .unwrap()
            .starts_with("line 1: still not the expected result after 5s (2 tries)")
    );

    let mut r = CheckRecord::new("C", CheckState::Running, None);
    let insert = one("> INSERT INTO t VALUES (1)");
    r.sending = Some(0);
    assert!(!resume(&mut r, &insert, now));
    assert_eq!(r.state, CheckState::Failed);
    let mut r = CheckRecord::new("C", CheckState::Running, None);
    r.sending = Some(0);
    assert!(resume(&mut r, &one("> CREATE TABLE t (a int)"), now));
    assert_eq!(r.state, CheckState::Running);
}

#[test]
fn a_statement_never_sent_is_retried_whatever_it_is() {
    let insert = one("> INSERT INTO t VALUES (1)");
    assert_eq!(
        judge(
            &insert,
            &Err(SqlFailure::NotSent("connection refused".into())),
            false
        ),
        Verdict::Retry("not sent: connection refused".into())
    );
}

#[test]
fn secrets_never_reach_status() {
    assert_eq!(
        redact(
            "$ postgres-execute connection=postgres://mz_system:hunter2@h:6877/materialize\nSELECT 1"
        ),
        "$ postgres-execute connection=postgres://mz_system:***@h:6877/materialize\nSELECT 1"
    );
    assert_eq!(
        redact("> CREATE SECRET pw AS 'hunter2'"),
        "> CREATE SECRET pw AS '***'"
    );
    assert_eq!(
        redact("> ALTER SECRET pw AS decode('c2VjcmV0', 'base64')"),
        "> ALTER SECRET pw AS decode('***'"
    );
    assert_eq!(redact("> SELECT 'a' AS b"), "> SELECT 'a' AS b");
    assert_eq!(
        redact("> CREATE SECRET pw AS 'x'\n> SELECT 1"),
        "> CREATE SECRET pw AS '***'\n> SELECT 1"
    );
    let cmd = one("> CREATE SECRET pw AS 'hunter2'");
    let mut r = CheckRecord::new("C", CheckState::Running, None);
    fail(&mut r, &cmd, "error: boom".into(), Timestamp::now());
    assert!(!format!("{r:?}").contains("hunter2"));
}

#[test]
fn set_regex_replaces_matches_in_what_the_server_answered_never_in_what_is_expected() {
    let script = parse(
        "$ set-regex match=u[0-9]+ replacement=<ID>\n\
         > SELECT id FROM t\n\
         <ID>\n\
         $ unset-regex\n\
         > SELECT 1\n\
         1\n\
         $ set-regex match=\\d{4}-\\d{2}-\\d{2}\n\
         ! SELECT bad\n\
         contains:at <regex_match>\n",
    )
    .unwrap();
    let at = |k: usize| crate::checks::script::script_regex(&script[..k], 0);
    let (regex, replacement) = at(1).unwrap();
    assert_eq!(replacement, "<ID>");
    // The server's `u17`, and a second value with two matches.
    let answered = replace_matches(Ok(rows(&[&["u17"], &["u1-u2"]])), &regex, &replacement);
    let got = answered.unwrap().rows;
    assert_eq!(
        got,
        vec![vec![Some("<ID>".into())], vec![Some("<ID>-<ID>".into())]]
    );
    // The expected side is left alone: `<ID>` in the script matches only a replaced value.
    let query = &script[1];
    let replaced = replace_matches(Ok(rows(&[&["u17"]])), &regex, &replacement);
    assert_eq!(judge(query, &replaced, false), Verdict::Pass);
    assert!(matches!(
        judge(query, &Ok(rows(&[&["u17"]])), false),
        Verdict::Retry(_)
    ));
    // `$ unset-regex` ends it; a later `$ set-regex` without a replacement uses testdrive's.
    assert!(at(4).is_none());
    let (regex, replacement) = at(5).unwrap();
    assert_eq!(replacement, "<regex_match>");
    let error = Err(SqlFailure::Db("failed at 2026-12-04".into()));
    let replaced = replace_matches(error, &regex, &replacement);
    assert_eq!(judge(&script[5], &replaced, false), Verdict::Pass);
    // Lost answers stay lost.
    let lost = replace_matches(Err(SqlFailure::Lost("x".into())), &regex, &replacement);
    assert_eq!(lost, Err(SqlFailure::Lost("x".into())));
}

#[test]
fn set_regex_is_parsed_strictly() {
    for (bad, why) in [
        ("$ set-regex replacement=x", "set-regex needs match="),
        ("$ set-regex match=(", "set-regex match=("),
        (
            "$ set-regex match=a other=b",
            "unknown set-regex argument \"other\"",
        ),
        (
            "$ unset-regex match=a",
            "unknown unset-regex argument \"match\"",
        ),
    ] {
        let e = parse(bad).unwrap_err();
        assert!(e.message.contains(why), "{bad}: {e}");
    }
}

#[test]
fn skip_if_skips_to_its_skip_end_when_true_and_fails_on_anything_but_one_boolean() {
    let script = parse(
        "$ skip-if\n\
         SELECT mz_version_num() < 2600\n\
         > INSERT INTO t VALUES (1)\n\
         >[version>=2600] SELECT 1\n\
         1\n\
         $ skip-end\n\
         > SELECT 2\n\
         2\n",
    )
    .unwrap();
    let Command::SkipIf { sql, .. } = &script[0] else {
        panic!("{:?}", script[0]);
    };
    assert_eq!(sql, "SELECT mz_version_num() < 2600");
    assert_eq!(repeat(&script[0]), Repeat::Safe);
    let skip_if = &script[0];
    assert_eq!(
        judge(skip_if, &Ok(rows(&[&["true"]])), false),
        Verdict::Skip
    );
    assert_eq!(
        judge(skip_if, &Ok(rows(&[&["false"]])), false),
        Verdict::Pass
    );
    // Past the skip-end (a guarded command in between is skipped too).
    assert_eq!(crate::checks::script::skip_end(&script, 0), 4);
    // No skip-end: to the end.
    assert_eq!(crate::checks::script::skip_end(&script[..3], 0), 3);
    for (answer, why) in [
        (
            Ok(rows(&[&["1"]])),
            "exactly one row with one boolean column, got 1 rows of 1 columns",
        ),
        (Ok(rows(&[&["true"], &["true"]])), "got 2 rows"),
        (Ok(rows(&[])), "got 0 rows"),
        (
            Err(SqlFailure::Db("unknown function".into())),
            "skip-if query failed: unknown function",
        ),
    ] {
        match judge(skip_if, &answer, false) {
            Verdict::Fail(e) => assert!(e.contains(why), "{e}"),
            other => panic!("{answer:?}: {other:?}"),
        }
    }
    assert_eq!(
        judge(&script[3], &Ok(Rows::default()), false),
        Verdict::Pass
    );
    assert!(
        parse("$ skip-if\n$ skip-end")
            .unwrap_err()
            .message
            .contains("needs a query")
    );
}

#[test]
fn postgres_connect_names_a_connection_for_later_executes() {
    let script = parse(
        "$ postgres-connect name=mz_system url=postgres://mz_system@host:6877/materialize\n\
         $ postgres-execute connection=mz_system\n\
         ALTER SYSTEM SET max_tables = 100\n\
         $ postgres-execute connection=postgres://other@host/db\n\
         SELECT 1\n",
    )
    .unwrap();
    use crate::checks::script::connection_url;
    assert_eq!(
        connection_url(&script[..1], "mz_system", 0),
        "postgres://mz_system@host:6877/materialize"
    );
    // A URL is its own connection; an unknown name stays a name (the send refuses it).
    assert_eq!(
        connection_url(&script[..3], "postgres://other@host/db", 0),
        "postgres://other@host/db"
    );
    assert_eq!(connection_url(&script[..0], "mz_system", 0), "mz_system");
    assert_eq!(repeat(&script[0]), Repeat::Safe);
    for (bad, why) in [
        ("$ postgres-connect url=postgres://x", "needs name="),
        ("$ postgres-connect name=a", "needs url="),
        (
            "$ postgres-connect name=postgres://x url=postgres://x",
            "can not be a url",
        ),
    ] {
        assert!(parse(bad).unwrap_err().message.contains(why), "{bad}");
    }
}

#[test]
fn explain_compares_the_plan_text_exactly_once() {
    let script = parse(
        "? EXPLAIN SELECT * FROM t\n\
         Explained Query:\n\
         \x20 ReadStorage materialize.public.t\n\
         \n\
         # a comment\n\
         Target cluster: quickstart\n\
         \n\
         \n\
         > SELECT 1\n\
         1\n",
    )
    .unwrap();
    let Command::Explain { expected, .. } = &script[0] else {
        panic!("{:?}", script[0]);
    };
    // Indentation and the blank line inside kept; the comment and trailing blanks dropped.
    assert_eq!(
        expected,
        "Explained Query:\n  ReadStorage materialize.public.t\n\nTarget cluster: quickstart\n"
    );
    let plan = |t: &str| Ok(rows(&[&[t]]));
    assert_eq!(judge(&script[0], &plan(expected), false), Verdict::Pass);
    // Not retried: a different plan fails at once, with a line diff.
    match judge(
        &script[0],
        &plan("Explained Query:\n  Get t\n\nTarget cluster: quickstart\n"),
        false,
    ) {
        Verdict::Fail(e) => assert!(
            e.contains("-   ReadStorage materialize.public.t\n+   Get t"),
            "{e}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(
        parse("? SELECT 1\nx")
            .unwrap_err()
            .message
            .contains("EXPLAIN")
    );
    assert!(
        parse("? EXPLAIN SELECT 1\n")
            .unwrap_err()
            .message
            .contains("expected plan")
    );
}

#[test]
fn set_from_sql_reads_one_value_for_the_commands_after_it_and_keeps_it() {
    let script = parse(
        "$ set-from-sql var=id\n\
         SELECT id FROM mz_tables WHERE name = 't'\n\
         > SELECT name FROM mz_tables WHERE id = '${id}'\n\
         t\n",
    )
    .unwrap();
    assert_eq!(repeat(&script[0]), Repeat::Safe);
    assert_eq!(
        judge(&script[0], &Ok(rows(&[&["u7"]])), false),
        Verdict::Read("u7".into())
    );
    for (answer, why) in [
        (
            Ok(rows(&[&["u7"], &["u8"]])),
            "exactly one row with one non-NULL column, got 2 rows",
        ),
        (Ok(rows(&[&["NULL"]])), "got 1 rows of 1 columns"),
        (
            Err(SqlFailure::Db("boom".into())),
            "set-from-sql query failed: boom",
        ),
    ] {
        match judge(&script[0], &answer, false) {
            Verdict::Fail(e) => assert!(e.contains(why), "{e}"),
            other => panic!("{answer:?}: {other:?}"),
        }
    }
    // The value comes from the check's record, so a restarted operator sees the same one.
    use std::collections::BTreeMap;
    let read = BTreeMap::from([("id".to_string(), "u7".to_string())]);
    let vars =
        crate::checks::script::script_vars(&script[..1], &BTreeMap::new(), &read, 0).unwrap();
    assert_eq!(vars["id"], "u7");
    let missing =
        crate::checks::script::script_vars(&script[..1], &BTreeMap::new(), &BTreeMap::new(), 0);
    assert!(missing.unwrap_err().contains("${id} was not read"));
    // Lint knows the variable from there on, and not before.
    let spec = |validate: &str| {
        serde_json::from_value(serde_json::json!({
            "name": "A", "manipulate": ["", ""], "validate": validate,
        }))
        .unwrap()
    };
    let ok = "$ set-from-sql var=id\nSELECT 'u7'\n> SELECT '${id}'\nu7\n";
    assert!(crate::checks::library::compile(&spec(ok), "t").is_ok());
    let early = "> SELECT '${id}'\nu7\n$ set-from-sql var=id\nSELECT 'u7'\n";
    let e = crate::checks::library::compile(&spec(early), "t").unwrap_err();
    assert!(e.to_string().contains("unknown variable ${id}"), "{e}");
    assert!(
        parse("$ set-from-sql\nSELECT 1")
            .unwrap_err()
            .message
            .contains("needs var=")
    );
}

#[test]
fn a_sleep_is_over_once_its_duration_passed_since_its_first_try_and_survives_a_restart() {
    let now = Timestamp::now();
    let sleep =
        one("$ sleep-is-probably-flaky-i-have-justified-my-need-with-a-comment duration=\"2s\"");
    assert_eq!(repeat(&sleep), Repeat::Safe);
    let mut r = CheckRecord::new("C", CheckState::Running, None);
    assert!(!slept(&mut r, &sleep, Duration::from_secs(2), now));
    assert_eq!(r.line, Some(1));
    assert_eq!(r.diff.as_deref(), Some("sleeping for 2s"));
    // The start is on record: a record read back after a restart goes on from it.
    let reread: CheckRecord = serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
    let mut r = reread;
    assert!(!slept(
        &mut r,
        &sleep,
        Duration::from_secs(2),
        now + Duration::from_secs(1)
    ));
    assert!(slept(
        &mut r,
        &sleep,
        Duration::from_secs(2),
        now + Duration::from_secs(2)
    ));
    advance(&mut r);
    assert_eq!((r.done, r.retrying_since.is_none()), (1, true));
    // A random sleep waits part of its duration: the same part for the same check and seed.
    let d = Duration::from_secs(10);
    let part = random_part(d, "C", 3, 7);
    assert!(part < d);
    assert_eq!(part, random_part(d, "C", 3, 7));
    assert_ne!(part, random_part(d, "C", 3, 8));
}
