//! Deploy generations with real processes: the full zero-downtime flow, fencing, version rules
//! and system parameters surviving upgrades.

mod common;

use common::*;

const HALT: i32 = 2;

#[tokio::test]
#[ignore = "needs PostgreSQL: run inside e2e/cluster exec (./test does)"]
async fn zero_downtime_upgrade_end_to_end() {
    let env = environment("zdt");
    // Generation 0 leader on the old version, with data.
    let mut old = Mz::start(Spec::new(&env, 0, "v26.1.0"));
    old.wait_status("IsLeader", 10 * SECOND).await;
    let c = old.client(false).await;
    c.batch_execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (1), (2)")
        .await
        .unwrap();

    // Generation 1 boots read-only on the new version: reads work, writes and DDL do not.
    let spec = |catchup| Spec {
        catchup,
        ..Spec::new(&env, 1, "v26.2.0")
    };
    let mut new = Mz::start(spec("3s"));
    new.wait_status("Initializing", 10 * SECOND).await;
    new.wait_ready(10 * SECOND).await;
    let ro = new.client(false).await;
    let n: i64 = ro
        .query_one("SELECT count(*) FROM kept", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
    for write in ["INSERT INTO kept VALUES (3)", "CREATE TABLE nope (x int)"] {
        let err = ro.batch_execute(write).await.unwrap_err();
        assert_eq!(message(&err), "cannot write in read-only mode", "{write}");
        assert_eq!(err.code().unwrap().code(), "25006");
    }
    let (code, body) = new.post("/api/leader/promote").await;
    assert_eq!(code, 400);
    assert_eq!(
        body,
        r#"{"result":{"Failure":{"message":"cannot promote leader while initializing"}}}"#
    );

    // DDL by the old leader during catch-up makes the read-only process halt to reboot.
    c.batch_execute("CREATE TABLE during_catchup (y int)")
        .await
        .unwrap();
    assert_eq!(new.exit_code(5 * SECOND).await, HALT);
    assert!(
        new.log().contains("rebooting in read-only mode"),
        "{}",
        new.log()
    );

    // Restarted (as a supervisor would), it catches up and becomes ready.
    let mut new = Mz::start(spec("300ms"));
    new.wait_status("ReadyToPromote", 10 * SECOND).await;
    let (code, body) = new.post("/api/leader/promote").await;
    assert_eq!((code, body.as_str()), (200, r#"{"result":"Success"}"#));
    // Promotion fences the old leader (gone within a second) and the new process halts to
    // reboot as leader.
    assert_eq!(new.exit_code(5 * SECOND).await, HALT);
    assert!(new.log().contains("rebooting as leader"), "{}", new.log());
    let fenced_at = std::time::Instant::now();
    assert_eq!(old.exit_code(2 * SECOND).await, 0);
    assert!(
        fenced_at.elapsed() < SECOND,
        "old leader took {:?}",
        fenced_at.elapsed()
    );
    assert!(old.log().contains("fenced out"), "{}", old.log());

    // After its restart it is the leader, on the new version, with every object intact.
    let leader = Mz::start(spec("300ms"));
    leader.wait_status("IsLeader", 10 * SECOND).await;
    let c = leader.client(false).await;
    let version: String = c
        .query_one("SELECT mz_version()", &[])
        .await
        .unwrap()
        .get(0);
    assert!(version.starts_with("v26.2.0 "), "{version}");
    let n: i64 = c
        .query_one("SELECT count(*) FROM kept", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
    c.batch_execute("INSERT INTO during_catchup VALUES (1)")
        .await
        .unwrap();
    // Exactly one promotion was written for generation 1.
    let metrics = reqwest::get(leader.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("mzsim_promotions_total{generation=\"1\"} 1"),
        "{metrics}"
    );
    // Each generation's life in order, with times (what e2e/bench counts as Materialize's
    // own time): generation 1 booted three times — halted for DDL, promoted, then leader.
    let events: Vec<String> = c
        .query(
            "SELECT event FROM mz_internal.mzsim_events WHERE generation = 1 ORDER BY at",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        events,
        [
            "Started",
            "Initializing",
            "CatchingUp", // halted: DDL during catch-up
            "Started",
            "Initializing",
            "CatchingUp",
            "ReadyToPromote",
            "Promoting",
            "Promoted",
            "Started",
            "Initializing",
            "IsLeader",
        ]
    );

    // The old generation can never come back: it is fenced out and exits 0.
    let mut stale = Mz::start(Spec::new(&env, 0, "v26.2.0"));
    assert_eq!(stale.exit_code(10 * SECOND).await, 0);
    assert!(
        stale.log().contains("this deployment has been fenced out"),
        "{}",
        stale.log()
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run inside e2e/cluster exec (./test does)"]
async fn promote_and_skip_catchup_are_idempotent_past_initialization() {
    let env = environment("idem");
    let leader = Mz::start(Spec::new(&env, 0, "v26.1.0"));
    leader.wait_status("IsLeader", 10 * SECOND).await;
    assert_eq!(
        leader.post("/api/leader/promote").await,
        (200, r#"{"result":"Success"}"#.into())
    );
    assert_eq!(leader.post("/api/leader/skip-catchup").await.0, 204);

    // Skip-catchup ends a long catch-up at once.
    let ro = Mz::start(Spec {
        catchup: "1m",
        ..Spec::new(&env, 1, "v26.1.0")
    });
    ro.wait_ready(10 * SECOND).await;
    ro.wait_status("Initializing", SECOND).await;
    assert_eq!(ro.post("/api/leader/skip-catchup").await.0, 204);
    ro.wait_status("ReadyToPromote", 5 * SECOND).await;
    let readyz = reqwest::get(ro.url("/api/readyz")).await.unwrap();
    assert_eq!(readyz.status(), 200);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run inside e2e/cluster exec (./test does)"]
async fn downgrades_and_skipped_versions_are_refused() {
    let env = environment("downgrade");
    let mut leader = Mz::start(Spec::new(&env, 0, "v26.2.0"));
    leader.wait_status("IsLeader", 10 * SECOND).await;
    leader.kill();
    let mut older = Mz::start(Spec::new(&env, 0, "v26.1.0"));
    assert_eq!(older.exit_code(10 * SECOND).await, HALT);
    assert!(
        older
            .log()
            .contains("received persist state from the future"),
        "{}",
        older.log()
    );

    let env = environment("skip");
    let mut leader = Mz::start(Spec::new(&env, 0, "v0.145.2"));
    leader.wait_status("IsLeader", 10 * SECOND).await;
    leader.kill();
    let mut skipping = Mz::start(Spec::new(&env, 0, "v0.147.0"));
    assert_eq!(skipping.exit_code(10 * SECOND).await, HALT);
    assert!(
        skipping.log().contains("one version forward at a time"),
        "{}",
        skipping.log()
    );
    // One minor at a time is fine, and so is the same minor again.
    let next = Mz::start(Spec::new(&env, 0, "v0.146.0"));
    next.wait_status("IsLeader", 10 * SECOND).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run inside e2e/cluster exec (./test does)"]
async fn system_parameters_survive_restarts_and_upgrades() {
    let env = environment("params");
    let mut first = Mz::start(Spec::new(&env, 0, "v26.1.0"));
    first.wait_status("IsLeader", 10 * SECOND).await;
    first
        .client(true)
        .await
        .batch_execute("ALTER SYSTEM SET max_tables = 1000")
        .await
        .unwrap();
    first.kill();

    let second = Mz::start(Spec::new(&env, 0, "v26.2.0"));
    second.wait_status("IsLeader", 10 * SECOND).await;
    let c = second.client(false).await;
    let shown: String = c.query_one("SHOW max_tables", &[]).await.unwrap().get(0);
    assert_eq!(shown, "1000");
    // The same through a 0dt upgrade: the read-only generation reads them too.
    let ro = Mz::start(Spec::new(&env, 1, "v26.3.0"));
    ro.wait_ready(10 * SECOND).await;
    let shown: String = ro
        .client(false)
        .await
        .query_one("SHOW max_tables", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(shown, "1000");
}
