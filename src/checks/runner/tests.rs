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
