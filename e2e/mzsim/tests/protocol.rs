//! pgwire behaviour against tokio-postgres (extended and simple protocol) and psql, on a real
//! PostgreSQL backend.

mod common;

use common::*;

#[tokio::test]
#[ignore = "needs PostgreSQL: run inside e2e/cluster exec (./test does)"]
async fn version_tables_views_and_parameters_over_extended_protocol() {
    let env = environment("protocol");
    let mz = Mz::start(Spec::new(&env, 0, "v26.1.0"));
    mz.wait_ready(10 * SECOND).await;
    let c = mz.client(false).await;

    let version: String = c
        .query_one("SELECT mz_version()", &[])
        .await
        .unwrap()
        .get(0);
    let (semver, sha) = version.split_once(' ').unwrap();
    assert_eq!(semver, "v26.1.0");
    assert!(
        sha.len() == 11 && sha.starts_with('(') && sha.ends_with(')'),
        "{version}"
    );

    c.batch_execute("CREATE TABLE t (a int, b text DEFAULT 'dflt', c numeric, d timestamptz)")
        .await
        .unwrap();
    let n = c
        .execute(
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, DEFAULT)",
            &[&1i32, &"one", &2i32],
        )
        .await
        .unwrap();
    assert_eq!(n, 2);
    c.batch_execute("CREATE MATERIALIZED VIEW mv IN CLUSTER quickstart AS SELECT count(*) AS n, sum(a) AS s FROM t").await.unwrap();
    c.batch_execute("CREATE INDEX i IN CLUSTER quickstart ON t (a)")
        .await
        .unwrap();

    let rows = c
        .query(
            "SELECT a, b FROM materialize.public.t WHERE a >= $1 ORDER BY a",
            &[&1i32],
        )
        .await
        .unwrap();
    let got: Vec<(i32, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(got, [(1, "one".to_string()), (2, "dflt".to_string())]);

    // The materialized view is up to date as soon as the write returns.
    c.execute("UPDATE t SET a = 10 WHERE a = 1", &[])
        .await
        .unwrap();
    let row = c.query_one("SELECT n, s FROM mv", &[]).await.unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (2, 12));

    // PostgreSQL's errors reach the client with their SQLSTATE.
    let err = c.query("SELECT * FROM missing", &[]).await.unwrap_err();
    assert_eq!(err.code().unwrap().code(), "42P01");

    // Transactions keep their session: a rolled back insert is gone.
    c.batch_execute("BEGIN; INSERT INTO t (a) VALUES (99); ROLLBACK")
        .await
        .unwrap();
    let n: i64 = c
        .query_one("SELECT count(*) FROM t WHERE a = 99", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run inside e2e/cluster exec (./test does)"]
async fn system_port_roles_and_catalog_objects() {
    let env = environment("system");
    let mz = Mz::start(Spec::new(&env, 0, "v26.1.0"));
    mz.wait_ready(10 * SECOND).await;

    // mz_system only on the internal port, materialize only on the external one.
    for (port, user) in [(mz.sql, "mz_system"), (mz.internal_sql, "materialize")] {
        let c = connect(port, user).await.unwrap();
        let err = c.simple_query("SELECT 1").await.unwrap_err();
        assert_eq!(err.code().unwrap().code(), "28000");
        assert_eq!(
            message(&err),
            format!("unauthorized login to user '{user}'")
        );
    }

    // SELECT 1, as clients and the operator's probe send it, in any spelling.
    let c = mz.client(false).await;
    for probe in ["SELECT 1", "select 1;", "  Select 1 ; "] {
        let rows: Vec<_> = c
            .simple_query(probe)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => Some((
                    r.columns()[0].name().to_string(),
                    r.get(0).map(str::to_string),
                )),
                _ => None,
            })
            .collect();
        assert_eq!(
            rows,
            [("?column?".to_string(), Some("1".to_string()))],
            "{probe}"
        );
    }

    let sys = mz.client(true).await;
    // What ConfigureMz runs, as the simple protocol (testdrive's postgres-execute) sends it.
    sys.batch_execute(
        "ALTER SYSTEM SET max_tables = 1000; ALTER SYSTEM SET enable_rbac_checks TO false; \
         GRANT ALL PRIVILEGES ON SYSTEM TO materialize; \
         GRANT CREATE ON CLUSTER quickstart TO materialize",
    )
    .await
    .unwrap();
    let c = mz.client(false).await;
    let shown: String = c.query_one("SHOW max_tables", &[]).await.unwrap().get(0);
    assert_eq!(shown, "1000");
    let err = c
        .batch_execute("ALTER SYSTEM SET max_tables = 5")
        .await
        .unwrap_err();
    assert_eq!(err.code().unwrap().code(), "42501");

    c.batch_execute("CREATE CONNECTION IF NOT EXISTS kafka_conn FOR KAFKA BROKER 'k:9092', SECURITY PROTOCOL PLAINTEXT").await.unwrap();
    c.batch_execute("CREATE CONNECTION IF NOT EXISTS kafka_conn FOR KAFKA BROKER 'k:9092'")
        .await
        .unwrap();
    let err = c
        .batch_execute("CREATE CONNECTION kafka_conn FOR KAFKA BROKER 'k:9092'")
        .await
        .unwrap_err();
    assert_eq!(err.code().unwrap().code(), "42710");
    c.batch_execute("CREATE CLUSTER c1 SIZE '1'").await.unwrap();
    let names: Vec<String> = c
        .query("SHOW CLUSTERS", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(names, ["c1"]);
    let n: i64 = c
        .query_one("SELECT count(*) FROM mz_connections", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    let err = c
        .batch_execute("CREATE SOURCE s FROM KAFKA CONNECTION kafka_conn (TOPIC 't')")
        .await
        .unwrap_err();
    assert_eq!(err.code().unwrap().code(), "0A000");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run inside e2e/cluster exec (./test does)"]
async fn alter_system_refuses_unknown_parameters() {
    let env = environment("params");
    let mz = Mz::start(Spec::new(&env, 0, "v26.1.0"));
    mz.wait_ready(10 * SECOND).await;
    let sys = mz.client(true).await;

    // environmentd's VarError::UnknownParameter, SQLSTATE 42704 (undefined_object): at once,
    // in every spelling, over the simple and the extended protocol.
    let want = "unrecognized configuration parameter \"no_such_parameter\"";
    for sql in [
        "ALTER SYSTEM SET no_such_parameter = 1",
        "ALTER SYSTEM SET no_such_parameter TO 1",
        "ALTER SYSTEM SET no_such_parameter = DEFAULT",
        "ALTER SYSTEM RESET no_such_parameter",
    ] {
        let err = sys.batch_execute(sql).await.unwrap_err();
        assert_eq!(err.code().unwrap().code(), "42704", "{sql}: {err}");
        assert_eq!(message(&err), want, "{sql}");
    }
    let err = sys
        .execute("ALTER SYSTEM SET no_such_parameter = 1", &[])
        .await
        .unwrap_err();
    assert_eq!(err.code().unwrap().code(), "42704", "{err}");
    assert_eq!(message(&err), want);

    // Refused statements did not run: nothing was stored (SHOW goes on to PostgreSQL, which
    // has no such parameter either) or counted.
    let err = sys
        .query_one("SHOW no_such_parameter", &[])
        .await
        .unwrap_err();
    assert!(err.code().is_some(), "{err}");
    let counted: i64 = sys
        .query_one(
            "SELECT count(*) FROM mz_internal.mzsim_statements WHERE statement LIKE '%no_such_parameter%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(counted, 0);

    // Known parameters still change; RESET ALL names none.
    sys.batch_execute("ALTER SYSTEM SET max_tables = 1000")
        .await
        .unwrap();
    let shown: String = sys.query_one("SHOW max_tables", &[]).await.unwrap().get(0);
    assert_eq!(shown, "1000");
    sys.batch_execute("ALTER SYSTEM RESET ALL").await.unwrap();
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run inside e2e/cluster exec (./test does)"]
async fn psql_talks_to_mzsim() {
    let env = environment("psql");
    let mz = Mz::start(Spec::new(&env, 0, "v26.3.0-dev"));
    mz.wait_ready(10 * SECOND).await;
    let out = std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &mz.sql.to_string(),
            "-U",
            "materialize",
            "-d",
            "materialize",
        ])
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .args([
            "-c",
            "CREATE TABLE p (x text)",
            "-c",
            "INSERT INTO p VALUES ('hello')",
        ])
        .args(["-c", "SELECT x FROM p", "-c", "SELECT mz_version()"])
        .output()
        .expect("psql is installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "CREATE TABLE");
    assert_eq!(lines[1], "INSERT 0 1");
    assert_eq!(lines[2], "hello");
    assert!(lines[3].starts_with("v26.3.0-dev ("), "{stdout}");
}
