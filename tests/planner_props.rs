//! Property tests of the planner's invariants over generated action lists.

use proptest::prelude::*;
use scenario_operator::{
    api::v1alpha1::{ActionKind, ActionSpec, ScenarioRunSpec},
    plan::{
        Action, Plan,
        enrich::{Item, Origin, enrich},
        plan,
    },
    version::MzVersion,
};

const VERSIONS: [&str; 4] = ["v26.0.0", "v26.1.0", "v26.2.0", "v26.3.0"];

fn spec(actions: Vec<ActionSpec>, sql_server: bool) -> ScenarioRunSpec {
    let mut spec: ScenarioRunSpec = serde_json::from_value(serde_json::json!({
        "versions": {"current": "v26.3.0", "previous": ["v26.2.0", "v26.1.0", "v26.0.0"]},
        "environment": {"backendSecretName": "backend"}
    }))
    .unwrap();
    spec.actions = Some(actions);
    spec.features.sql_server = sql_server;
    spec
}

fn action(kind: ActionKind, svc: &str) -> ActionSpec {
    let mut a = ActionSpec::new(kind);
    a.mz_service = Some(svc.to_string());
    a
}

fn start(svc: &str, tag: &str, generation: Option<u64>) -> ActionSpec {
    let mut a = action(ActionKind::StartMz, svc);
    a.tag = Some(tag.to_string());
    a.deploy_generation = generation;
    a
}

/// One change to the environment in a well-formed rehearsal.
#[derive(Debug, Clone)]
enum Op {
    /// KillMz + StartMz of the leader at the version it has.
    Restart,
    /// KillMz + StartMz of the leader at `VERSIONS[max(current, k)]`.
    Upgrade(usize),
    /// A new generation on a new service at `VERSIONS[max(current, k)]`, made ready (by
    /// WaitReadyMz, or SkipCatchup when the flag is set) and promoted.
    ZeroDowntime(usize, bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Restart),
        (0..VERSIONS.len()).prop_map(Op::Upgrade),
        ((0..VERSIONS.len()), any::<bool>()).prop_map(|(k, skip)| Op::ZeroDowntime(k, skip)),
    ]
}

/// Builds a rehearsal: start, then `ops`, with the four check phases after the ops chosen by
/// `phase_at` (sorted, so they stay in order).
fn rehearsal(first: usize, ops: &[Op], mut phase_at: [usize; 4]) -> Vec<ActionSpec> {
    phase_at.sort();
    let mut leader = "mz-1".to_string();
    let (mut generation, mut version, mut next) = (0u64, first, 2);
    let mut out = vec![start(&leader, VERSIONS[first], None)];
    let phase = |n: usize, svc: &str| match n {
        0 => action(ActionKind::Initialize, svc),
        1 | 2 => {
            let mut m = action(ActionKind::Manipulate, svc);
            m.phase = Some(n as u8);
            m
        }
        _ => action(ActionKind::Validate, svc),
    };
    let mut phases = 0;
    for (i, op) in ops.iter().enumerate() {
        while phases < 4 && phase_at[phases] <= i {
            out.push(phase(phases, &leader));
            phases += 1;
        }
        let restart_generation = (generation > 0).then_some(generation);
        match op {
            Op::Restart | Op::Upgrade(_) => {
                if let Op::Upgrade(k) = op {
                    version = version.max(*k);
                }
                out.push(action(ActionKind::KillMz, &leader));
                out.push(start(&leader, VERSIONS[version], restart_generation));
            }
            Op::ZeroDowntime(k, skip) => {
                version = version.max(*k);
                generation += 1;
                let svc = format!("mz-{next}");
                next += 1;
                out.push(start(&svc, VERSIONS[version], Some(generation)));
                let ready = if *skip {
                    ActionKind::SkipCatchup
                } else {
                    ActionKind::WaitReadyMz
                };
                out.push(action(ready, &svc));
                out.push(action(ActionKind::PromoteMz, &svc));
                leader = svc;
            }
        }
    }
    while phases < 4 {
        out.push(phase(phases, &leader));
        phases += 1;
    }
    out
}

/// Invariants every accepted plan keeps.
fn check_invariants(plan: &Plan, input_len: usize, sql_server: bool) {
    let steps = &plan.actions;
    assert_eq!(steps.iter().filter(|s| !s.implicit).count(), input_len);
    let setups = steps
        .iter()
        .filter(|s| s.implicit && matches!(s.action, Action::SetupSqlServerTesting { .. }));
    assert!(setups.count() <= usize::from(sql_server));
    let mut catalog: Option<MzVersion> = None;
    for (i, step) in steps.iter().enumerate() {
        match &step.action {
            Action::StartMz(s) if !s.is_read_only() && !s.expect_failure => {
                // Followed by [SetupSqlServerTesting] ConfigureMz on the same service, implicit.
                let mut j = i + 1;
                if let Some(Action::SetupSqlServerTesting { mz_service }) =
                    steps.get(j).map(|s| &s.action)
                {
                    assert_eq!(mz_service, &s.mz_service);
                    j += 1;
                }
                let next = &steps[j];
                assert!(next.implicit, "step {j} should be the implicit ConfigureMz");
                assert!(
                    matches!(&next.action, Action::ConfigureMz { mz_service } if *mz_service == s.mz_service)
                );
            }
            Action::StartMz(s) if s.is_read_only() => {
                let next = steps.get(i + 1).map(|s| &s.action);
                assert!(!matches!(next, Some(Action::ConfigureMz { .. }) if steps[i + 1].implicit));
            }
            Action::PromoteMz { mz_service } => {
                // The service's last start was read-only and it was seen ready since.
                let last_start = steps[..i]
                    .iter()
                    .rposition(
                        |s| matches!(&s.action, Action::StartMz(x) if &x.mz_service == mz_service),
                    )
                    .expect("promoted service was started");
                let Action::StartMz(s) = &steps[last_start].action else {
                    unreachable!()
                };
                assert!(s.is_read_only());
                assert!(steps[last_start..i].iter().any(|s| matches!(
                    &s.action,
                    Action::WaitReadyMz { mz_service: m } | Action::SkipCatchup { mz_service: m }
                        if m == mz_service
                )));
            }
            _ => {}
        }
        // The versions that open the catalog read-write never go back.
        if let Action::StartMz(s) = &step.action
            && !s.is_read_only()
            && !s.expect_failure
        {
            if let Some(c) = &catalog {
                assert!(s.tag >= *c, "step {}: {} after {}", i + 1, s.tag, c);
            }
            catalog = Some(catalog.map_or(s.tag.clone(), |c| c.max(s.tag.clone())));
        }
    }
}

proptest! {
    // No failure-persistence files: a failing case is printed, minimised, in the test output.
    #![proptest_config(ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn well_formed_rehearsals_plan_and_keep_invariants(
        first in 0..VERSIONS.len(),
        ops in prop::collection::vec(op(), 0..8),
        phase_at in prop::array::uniform4(0usize..8),
        sql_server in any::<bool>(),
    ) {
        let actions = rehearsal(first, &ops, phase_at);
        let n = actions.len();
        let planned = plan(&spec(actions, sql_server));
        let planned = planned.map_err(|e| TestCaseError::fail(e.to_string()))?;
        check_invariants(&planned, n, sql_server);
        prop_assert_eq!(planned.gate.base_version.to_string(), VERSIONS[first]);
    }

    #[test]
    fn arbitrary_lists_never_panic_and_accepted_ones_keep_invariants(
        raw in prop::collection::vec(
            (0..ActionKind::ALL.len(), 0..3usize, prop::option::of(0u64..3), 1u8..3, 0..VERSIONS.len()),
            1..14,
        ),
        sql_server in any::<bool>(),
    ) {
        let services = ["materialized", "mz-1", "mz-2"];
        let actions: Vec<ActionSpec> = raw
            .iter()
            .map(|&(k, s, generation, phase, v)| {
                let kind = ActionKind::ALL[k];
                let mut a = ActionSpec::new(kind);
                match kind {
                    ActionKind::Sleep => a.duration = Some("1s".parse().unwrap()),
                    _ => a.mz_service = Some(services[s].to_string()),
                }
                match kind {
                    ActionKind::StartMz => {
                        a.tag = Some(VERSIONS[v].to_string());
                        a.deploy_generation = generation;
                    }
                    ActionKind::Manipulate => a.phase = Some(phase),
                    ActionKind::SystemVarChange => {
                        a.name = Some("max_tables".into());
                        a.value = Some("1".into());
                    }
                    _ => {}
                }
                a
            })
            .collect();
        let n = actions.len();
        if let Ok(planned) = plan(&spec(actions, sql_server)) {
            check_invariants(&planned, n, sql_server);
        }
    }

    #[test]
    fn enrichment_only_inserts_and_marks_what_it_inserts(
        raw in prop::collection::vec((0..ActionKind::ALL.len(), any::<bool>()), 0..20),
        sql_server in any::<bool>(),
    ) {
        let items: Vec<Item> = raw
            .iter()
            .enumerate()
            .map(|(i, &(k, with_generation))| {
                let mut spec = ActionSpec::new(ActionKind::ALL[k]);
                spec.deploy_generation = with_generation.then_some(1);
                Item { spec, origin: Origin::Explicit(i) }
            })
            .collect();
        let out = enrich(items.clone(), sql_server);
        let kept: Vec<&Item> = out.iter().filter(|i| !i.is_implicit()).collect();
        prop_assert_eq!(kept, items.iter().collect::<Vec<_>>());
        for item in out.iter().filter(|i| i.is_implicit()) {
            prop_assert!(matches!(
                item.spec.action,
                ActionKind::ConfigureMz | ActionKind::SetupSqlServerTesting
            ));
        }
        let plain_starts = items
            .iter()
            .filter(|i| i.spec.action == ActionKind::StartMz && i.spec.deploy_generation.is_none())
            .count();
        let replaces = items
            .iter()
            .filter(|i| i.spec.action == ActionKind::ReplaceEnvironmentdStatefulSet)
            .count();
        let prepended = usize::from(items.first().is_some_and(|i| i.spec.action != ActionKind::StartMz));
        let configures = out
            .iter()
            .filter(|i| i.is_implicit() && i.spec.action == ActionKind::ConfigureMz)
            .count();
        prop_assert_eq!(configures, plain_starts + replaces + prepended);
        let setups = out
            .iter()
            .filter(|i| i.is_implicit() && i.spec.action == ActionKind::SetupSqlServerTesting)
            .count();
        prop_assert_eq!(setups, usize::from(sql_server && plain_starts > 0));
    }
}
