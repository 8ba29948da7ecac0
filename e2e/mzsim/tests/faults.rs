//! Every failpoint of `MZSIM_FAILPOINTS`, with real processes.

mod common;

use std::time::{Duration, Instant};

use common::*;

fn with_faults<'a>(
    env: &'a str,
    generation: u64,
    failpoints: &'a str,
    catchup: &'a str,
) -> Spec<'a> {
    Spec {
        failpoints,
        catchup,
        ..Spec::new(env, generation, "v26.1.0")
    }
}

async fn leader(env: &str) -> Mz {
    let mz = Mz::start(Spec::new(env, 0, "v26.1.0"));
    mz.wait_status("IsLeader", 10 * SECOND).await;
    mz
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run inside e2e/cluster exec (./test does)"]
async fn crash_during_catchup_exits_with_an_error() {
    let env = environment("crash");
    let _leader = leader(&env).await;
    let mut ro = Mz::start(with_faults(&env, 1, "crash_during_catchup", "600ms"));
    ro.wait_ready(10 * SECOND).await;
    assert_eq!(ro.exit_code(5 * SECOND).await, 1);
    assert!(
        ro.log().contains("failpoint crash_during_catchup"),
        "{}",
        ro.log()
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run inside e2e/cluster exec (./test does)"]
async fn never_ready_stays_initializing_until_skip_catchup() {
    let env = environment("never");
    let _leader = leader(&env).await;
    let ro = Mz::start(with_faults(&env, 1, "never_ready", "50ms"));
    ro.wait_ready(10 * SECOND).await;
    // Far past the catch-up time it still reports Initializing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ro.status().await.as_deref(), Some("Initializing"));
    assert_eq!(ro.post("/api/leader/skip-catchup").await.0, 204);
    ro.wait_status("ReadyToPromote", 5 * SECOND).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run inside e2e/cluster exec (./test does)"]
async fn promote_fail_answers_failure() {
    let env = environment("pfail");
    let mut old = leader(&env).await;
    let ro = Mz::start(with_faults(&env, 1, "promote_fail", "50ms"));
    ro.wait_status("ReadyToPromote", 10 * SECOND).await;
    let (code, body) = ro.post("/api/leader/promote").await;
    assert_eq!(code, 400);
    assert!(body.contains("Failure"), "{body}");
    ro.wait_status("ReadyToPromote", SECOND).await;
    assert!(old.is_running(), "the old leader was not fenced");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run inside e2e/cluster exec (./test does)"]
async fn exit_during_promotion_leaves_the_old_leader_in_charge() {
    let env = environment("pexit");
    let mut old = leader(&env).await;
    let mut ro = Mz::start(with_faults(&env, 1, "exit_during_promotion", "50ms"));
    ro.wait_status("ReadyToPromote", 10 * SECOND).await;
    assert_eq!(ro.post("/api/leader/promote").await.0, 200);
    assert_eq!(ro.exit_code(5 * SECOND).await, 1);
    // No fence was written: the old leader keeps running and a restart is read-only again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(old.is_running(), "old leader exited:\n{}", old.log());
    let again = Mz::start(with_faults(&env, 1, "", "50ms"));
    again.wait_status("ReadyToPromote", 10 * SECOND).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run inside e2e/cluster exec (./test does)"]
async fn slow_boot_and_slow_sql_delay_what_they_name() {
    let env = environment("slow");
    let start = Instant::now();
    let mz = Mz::start(with_faults(
        &env,
        0,
        "slow_boot=700ms;slow_sql=300ms",
        "50ms",
    ));
    mz.wait_ready(10 * SECOND).await;
    assert!(
        start.elapsed() >= Duration::from_millis(700),
        "ready after {:?}",
        start.elapsed()
    );
    let c = mz.client(false).await;
    let t = Instant::now();
    c.simple_query("SELECT 1").await.unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "query took {:?}",
        t.elapsed()
    );
}
