//! The operator's client probe against real mzsim processes on real PostgreSQL, over real
//! pgwire: one probe answered, refused while environmentd is down, answered again on the same
//! kept connection slot once it is back; a table read; and the whole probe task measuring the
//! window an environmentd was down.

mod common;

use std::time::{Duration, Instant};

use common::{Mz, SECOND, Spec, environment, loopback_host};
use scenario_operator::{
    api::v1alpha1::ProbeSpec,
    operator::{
        clients,
        probe::{Prober, probe_once, target},
    },
};

async fn start(env: &str, host: &str) -> Mz {
    let mut spec = Spec::new(env, 0, "v26.3.0");
    spec.host = Some(host.to_string());
    let mz = Mz::start(spec);
    mz.wait_status("IsLeader", 30 * SECOND).await;
    mz
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run inside e2e/cluster exec"]
async fn one_probe_follows_environmentd_down_and_back() {
    let (env, h) = (environment("probe-once"), loopback_host());
    let mut mz = start(&env, &h).await;
    let mut t = target(&ProbeSpec::default(), Some(h.clone()));
    let mut conn = None;
    let latency = probe_once(&mut conn, &t).await.unwrap();
    assert!(latency < Duration::from_secs(1), "{latency:?}");
    assert!(conn.is_some(), "the connection is kept");

    mz.kill();
    let lost = probe_once(&mut conn, &t).await.unwrap_err();
    assert!(
        conn.is_none(),
        "a failed probe drops its connection: {lost}"
    );
    let refused = probe_once(&mut conn, &t).await.unwrap_err();
    assert!(refused.starts_with("cannot connect to"), "{refused}");

    let _back = start(&env, &h).await;
    probe_once(&mut conn, &t).await.unwrap();

    // A table read fails until the table exists (probes count from the first answer).
    t.query = target(
        &ProbeSpec {
            table: Some("probed".into()),
            ..Default::default()
        },
        None,
    )
    .query;
    let missing = probe_once(&mut conn, &t).await.unwrap_err();
    assert!(
        missing.contains("unknown catalog item 'probed'"),
        "{missing}"
    );
    let sql = clients::sql(&h, false).await.unwrap();
    sql.batch_execute("CREATE TABLE probed (a int)")
        .await
        .unwrap();
    probe_once(&mut conn, &t).await.unwrap();

    // No leader to ask: a failure, without a connection attempt.
    t.host = None;
    assert_eq!(
        probe_once(&mut conn, &t).await.unwrap_err(),
        "no environmentd is leader now"
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run inside e2e/cluster exec"]
async fn the_probe_measures_how_long_environmentd_was_down() {
    let (env, h) = (environment("probe-window"), loopback_host());
    let mut mz = start(&env, &h).await;
    let interval = Duration::from_millis(20);
    let mut t = target(&ProbeSpec::default(), Some(h.clone()));
    t.interval = interval;
    let (prober, run) = (Prober::default(), "ns/probed");
    prober.probe(run, 0, t);
    assert_eq!(prober.probing(run), Some(0));

    // Each look ends a "step": the records, one per look, are what the probe saw.
    let mut records = Vec::new();
    let look = |records: &mut Vec<_>| {
        let index = records.len();
        records.push(
            prober
                .step_probes(run, index)
                .expect("the probe counts this step"),
        );
    };
    let deadline = Instant::now() + 30 * SECOND;
    loop {
        tokio::time::sleep(interval * 3).await;
        look(&mut records);
        let last = records.last().unwrap();
        if last.sent > last.failed {
            break;
        }
        assert!(Instant::now() < deadline, "no probe answered: {records:?}");
    }
    assert_eq!(
        records.iter().map(|r| r.failed).sum::<u32>(),
        0,
        "{records:?}"
    );

    let killed = Instant::now();
    mz.kill();
    let mz = start(&env, &h).await;
    let back = killed.elapsed();
    // Until the first answer after the restart closes the window.
    loop {
        tokio::time::sleep(interval * 3).await;
        look(&mut records);
        let last = records.last().unwrap();
        if last.windows.iter().any(|w| !w.continues) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the window never closed: {records:?}"
        );
    }
    let observed = killed.elapsed();
    drop(mz);
    let down: f64 = records.iter().map(|r| r.downtime_seconds).sum();
    let failed: u32 = records.iter().map(|r| r.failed).sum();
    assert!(failed > 0, "{records:?}");
    // The window starts within a probe (and its timeout) of the kill and ends at the first
    // answer after the restart: no shorter than the outage less a probe interval, no longer
    // than the test watched.
    let slack = interval.as_secs_f64() + 0.05;
    assert!(
        down >= back.as_secs_f64() - slack,
        "down {down}s, restarted after {back:?}"
    );
    assert!(
        down <= observed.as_secs_f64(),
        "down {down}s, watched {observed:?}"
    );
    let windows: Vec<_> = records.iter().flat_map(|r| &r.windows).collect();
    assert!(!windows.is_empty());
    assert!(
        windows.iter().all(|w| !w.error.is_empty()),
        "every window says why: {windows:?}"
    );
    prober.stop(run);
    assert_eq!(prober.running(), 0);
    assert_eq!(prober.probing(run), None);
}
