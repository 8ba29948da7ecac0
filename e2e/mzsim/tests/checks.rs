//! The checks runner against real mzsim processes on real PostgreSQL, over real pgwire: the
//! starter library (`checks/starter`) and the Materialize-SQL library (`checks/materialize-sql`)
//! through every phase, across a restart and an upgrade, and a deliberately broken validate that
//! fails with a readable diff.

mod common;

use std::{path::Path, time::Duration};

use common::{Mz, SECOND, Spec, environment, loopback_host};
use futures::future::join_all;
use scenario_operator::{
    api::v1alpha1::{CheckRecord, CheckState},
    checks::library::{self, Check, Phase},
    operator::{
        actions::CONFIGURE_STATEMENTS,
        checks::{Pass, run_to_end, variables},
        clients::Sessions,
    },
};

/// The checks of the libraries `checks/NAME` for each name, as one arranged library.
fn libraries(names: &[&str]) -> Vec<Check> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../checks");
    let mut files: Vec<_> = names
        .iter()
        .flat_map(|name| std::fs::read_dir(root.join(name)).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let checks: Vec<Check> = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            library::from_yaml(&text, &f.display().to_string()).unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    library::arrange(checks, &[], None).unwrap()
}

async fn start(env: &str, generation: u64, version: &str, host: &str) -> Mz {
    let mut spec = Spec::new(env, generation, version);
    spec.host = Some(host.to_string());
    let mz = Mz::start(spec);
    mz.wait_status("IsLeader", 30 * SECOND).await;
    mz
}

/// Runs one phase of every check, four at a time as the operator does by default.
async fn phase(
    sessions: &Sessions,
    checks: &[Check],
    phase: Phase,
    host: &str,
    version: &str,
    timeout: Duration,
) -> Vec<CheckRecord> {
    let vars = variables(host, None);
    let version = Some(scenario_operator::checks::script::guard::version_num(
        &version.parse().unwrap(),
    ));
    let mut out = Vec::new();
    for chunk in checks.chunks(4) {
        let runs = chunk.iter().map(|c| {
            let pass = Pass {
                session: format!("{}/{phase}", c.name()),
                host,
                vars: &vars,
                script: c.script(phase),
                timeout,
                version,
                seed: 0,
            };
            run_to_end(sessions, c.name(), pass, Duration::from_millis(100))
        });
        out.extend(join_all(runs).await);
    }
    out
}

fn assert_passed(records: &[CheckRecord], what: &str, mz: &Mz) {
    let failed: Vec<&CheckRecord> = records
        .iter()
        .filter(|r| r.state != CheckState::Passed)
        .collect();
    assert!(
        failed.is_empty(),
        "{what}: {failed:#?}\nmzsim log:\n{}",
        mz.log()
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run inside `e2e/cluster exec` (./test does)"]
async fn the_libraries_pass_every_phase_across_a_restart_and_an_upgrade() {
    let checks = libraries(&["starter", "materialize-sql"]);
    assert!(checks.len() >= 19, "{} checks", checks.len());
    let (env, host) = (environment("starter"), loopback_host());
    let sessions = Sessions::default();
    let timeout = 10 * SECOND;
    let mut mz = start(&env, 0, "v26.2.0", &host).await;
    // What ConfigureMz runs before the checks in every scenario.
    let configure: Vec<String> = CONFIGURE_STATEMENTS.iter().map(|s| s.to_string()).collect();
    scenario_operator::operator::clients::postgres_execute(
        &format!("postgres://mz_system@{host}:6877"),
        &configure,
    )
    .await
    .unwrap_or_else(|e| panic!("ConfigureMz: {e:?}\n{}", mz.log()));
    for p in [
        Phase::Initialize,
        Phase::Manipulate(1),
        Phase::Manipulate(2),
        Phase::Validate,
        // Validate may run many times: it must be idempotent.
        Phase::Validate,
    ] {
        let records = phase(&sessions, &checks, p, &host, "v26.2.0", timeout).await;
        assert_passed(&records, &format!("{p} on v26.2.0"), &mz);
    }
    // A restart on the next version (with downtime): everything is still right.
    mz.kill();
    let mz = start(&env, 0, "v26.3.0", &host).await;
    let records = phase(
        &sessions,
        &checks,
        Phase::Validate,
        &host,
        "v26.3.0",
        timeout,
    )
    .await;
    assert_passed(&records, "validate after upgrading to v26.3.0", &mz);
    assert!(records.iter().all(|r| r.duration.is_some()));
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run inside `e2e/cluster exec` (./test does)"]
async fn a_broken_validate_fails_with_a_readable_diff() {
    let mut check = libraries(&["starter"])
        .into_iter()
        .find(|c| c.name() == "TableDml")
        .unwrap()
        .spec;
    // One expected row is wrong: `four` became `4our`.
    check.validate = check.validate.replace("4 four", "4 4our");
    let check = library::compile(&check, "test").unwrap();
    let (env, host) = (environment("broken"), loopback_host());
    let mz = start(&env, 0, "v26.3.0", &host).await;
    let sessions = Sessions::default();
    let checks = [check];
    for p in [
        Phase::Initialize,
        Phase::Manipulate(1),
        Phase::Manipulate(2),
    ] {
        assert_passed(
            &phase(&sessions, &checks, p, &host, "v26.3.0", SECOND).await,
            "setup",
            &mz,
        );
    }
    let records = phase(
        &sessions,
        &checks,
        Phase::Validate,
        &host,
        "v26.3.0",
        SECOND,
    )
    .await;
    let r = &records[0];
    assert_eq!(r.state, CheckState::Failed, "{r:#?}");
    // Line 2: after the validate's `$ set`; rows compare sorted whatever the ORDER BY.
    assert_eq!(r.line, Some(2));
    assert_eq!(
        r.statement.as_deref(),
        Some("> SELECT id, name FROM ${table} ORDER BY id DESC")
    );
    assert_eq!(
        r.diff.as_deref(),
        Some("rows differ (expected 3 rows, got 3):\n- 4 4our\n+ 4 four")
    );
    let reason = r.reason.as_deref().unwrap();
    assert!(
        reason.starts_with("line 2: still not the expected result after 1s ("),
        "{reason}"
    );
    assert!(r.tries > 1, "retried until the timeout: {r:#?}");
}

/// A check in the shape upstream platform checks are written, over real pgwire: values shown
/// as testdrive's `decode_row` shows them, `$ set-regex`, `$ set-from-sql`, `$ skip-if`,
/// `$ postgres-connect`.
const TYPED: &str = r#"
name: Typed
initialize: |
  > CREATE TABLE typed (b boolean, f double precision, r real, n numeric, ts timestamp, tstz timestamptz, j jsonb, by bytea, a text[], iv interval, t time)
  > INSERT INTO typed VALUES (true, 1.0, 0.1, 1.50, '2010-10-10 10:10:10.5', '2010-10-10 12:10:10+02', '{"b": [1, 2.50], "a": null}', '\x68690a', ARRAY['x', 'hello world', NULL], '1 year 2 months', '10:10:10.25')
manipulate:
  - |
    $ postgres-connect name=sys url=postgres://mz_system@${testdrive.materialize-internal-sql-addr}
    $ postgres-execute connection=sys
    ALTER SYSTEM SET max_tables = 1001
  - |
    $ nop
validate: |
  > SELECT b, f, r, n FROM typed
  true 1 0.1 1.5
  > SELECT ts, tstz, t FROM typed
  "2010-10-10 10:10:10.500" "2010-10-10 10:10:10 UTC" 10:10:10.250
  > SELECT j, by, iv, a FROM typed
  "{\"a\":null,\"b\":[1,2.5]}" hi\n "1 year 2 months" "{x,hello world,NULL}"
  $ set-regex match=\d{4}-\d{2}-\d{2} replacement=<DATE>
  > SELECT ts::date::text FROM typed
  <DATE>
  $ unset-regex
  $ set-from-sql var=greeting
  SELECT 'hello ' || 'world'
  > SELECT '${greeting}' = 'hello world'
  true
  $ skip-if
  SELECT true
  > SELECT 'skipped: this row is wrong'
  nope
  $ skip-end
  $ skip-if
  SELECT false
  > SHOW max_tables
  1001
  $ skip-end
"#;

#[tokio::test]
#[ignore = "needs PostgreSQL: run inside `e2e/cluster exec` (./test does)"]
async fn values_render_as_testdrive_shows_them_and_its_builtins_run() {
    let check = library::from_yaml(TYPED, "typed.yaml").unwrap_or_else(|e| panic!("{e}"));
    let (env, host) = (environment("typed"), loopback_host());
    let mz = start(&env, 0, "v26.3.0", &host).await;
    let sessions = Sessions::default();
    let checks = [check];
    for p in [
        Phase::Initialize,
        Phase::Manipulate(1),
        Phase::Manipulate(2),
        Phase::Validate,
    ] {
        let records = phase(&sessions, &checks, p, &host, "v26.3.0", 5 * SECOND).await;
        // Had the skipped query run, its wrong row would have failed the check; had the
        // second skip-if skipped, SHOW would not have confirmed the named connection's ALTER.
        assert_passed(&records, &format!("{p}"), &mz);
    }
}
