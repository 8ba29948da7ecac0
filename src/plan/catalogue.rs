//! Built-in scenarios: platform-checks' scenario classes as action templates.
//!
//! Each scenario is the `actions()` list of its upstream class, before `Scenario.run()`'s
//! enrichment (see [`super::enrich`]). Versions are templates (`current`, `last`,
//! `previous[N]`, `selfManaged[N]`) resolved against `spec.versions`, so one scenario serves
//! every release. Service names follow upstream with `_` turned into `-` (`mz_1` → `mz-1`).

use crate::api::v1alpha1::{ActionKind as K, ActionSpec, SystemVarChangeEntry, Versions};

/// A built-in scenario: its name, a one-line description and its action list.
pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    build: fn(&Inputs) -> Result<Vec<ActionSpec>, String>,
}

/// What a scenario's action list may depend on besides templates.
pub struct Inputs<'a> {
    pub versions: &'a Versions,
    pub system_var_changes: &'a [SystemVarChangeEntry],
}

impl Scenario {
    pub fn actions(&self, inputs: &Inputs) -> Result<Vec<ActionSpec>, String> {
        (self.build)(inputs)
    }
}

/// Looks a scenario up by name; the error lists every known name.
pub fn find(name: &str) -> Result<&'static Scenario, String> {
    SCENARIOS.iter().find(|s| s.name == name).ok_or_else(|| {
        let known: Vec<_> = SCENARIOS.iter().map(|s| s.name).collect();
        format!(
            "unknown scenario {name:?}; known scenarios: {}",
            known.join(", ")
        )
    })
}

// Small builders so each scenario reads like its upstream `actions()`.

fn act(kind: K) -> ActionSpec {
    ActionSpec::new(kind)
}

fn on(mut a: ActionSpec, svc: &str) -> ActionSpec {
    a.mz_service = Some(svc.to_string());
    a
}

/// `StartMz(tag=…)` on the default service.
fn s(tag: &str) -> ActionSpec {
    let mut a = act(K::StartMz);
    a.tag = Some(tag.to_string());
    a
}

/// `StartMz(tag=…, mz_service=…, system_parameter_version=base)`: zero-downtime scenarios give
/// every start the base version's parameters so old and new generations agree.
fn s0(svc: &str, tag: &str, base: &str) -> ActionSpec {
    let mut a = on(s(tag), svc);
    a.system_parameter_version = Some(base.to_string());
    a
}

/// `start_mz_read_only(deploy_generation=…, mz_service=…, tag=…)`; the planner fills in the
/// leader-status healthcheck and on-failure restart.
fn ro(generation: u64, svc: &str, tag: &str) -> ActionSpec {
    let mut a = on(s(tag), svc);
    a.deploy_generation = Some(generation);
    a
}

fn ro0(generation: u64, svc: &str, tag: &str, base: &str) -> ActionSpec {
    let mut a = ro(generation, svc, tag);
    a.system_parameter_version = Some(base.to_string());
    a
}

/// `KillMz(capture_logs=…)` on the default service.
fn k(capture_logs: bool) -> ActionSpec {
    let mut a = act(K::KillMz);
    a.capture_logs = capture_logs.then_some(true);
    a
}

fn kill(svc: &str) -> ActionSpec {
    on(k(true), svc)
}

fn i() -> ActionSpec {
    act(K::Initialize)
}

fn m(phase: u8) -> ActionSpec {
    let mut a = act(K::Manipulate);
    a.phase = Some(phase);
    a
}

fn v() -> ActionSpec {
    act(K::Validate)
}

/// `wait_ready_and_promote(svc)`.
fn wp(svc: &str) -> [ActionSpec; 2] {
    [on(act(K::WaitReadyMz), svc), on(act(K::PromoteMz), svc)]
}

fn sys(name: &str, value: &str) -> ActionSpec {
    let mut a = act(K::SystemVarChange);
    a.name = Some(name.to_string());
    a.value = Some(value.to_string());
    a
}

fn replace(tag: &str) -> ActionSpec {
    let mut a = act(K::ReplaceEnvironmentdStatefulSet);
    a.new_tag = Some(tag.to_string());
    a
}

fn ok(list: Vec<ActionSpec>) -> Result<Vec<ActionSpec>, String> {
    Ok(list)
}

/// Every built-in scenario, in the order `--help` lists them.
pub static SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "NoRestartNoUpgrade",
        about: "Initialize, manipulate and validate on one environmentd, no restart",
        build: |_| ok(vec![s("current"), i(), m(1), m(2), v()]),
    },
    Scenario {
        name: "RestartEntireMz",
        about: "Kill and restart environmentd between every phase",
        build: |_| {
            let (kk, ss) = (|| k(false), || s("current"));
            ok(vec![
                ss(),
                i(),
                kk(),
                ss(),
                m(1),
                kk(),
                ss(),
                m(2),
                kk(),
                ss(),
                v(),
            ])
        },
    },
    Scenario {
        name: "UpgradeEntireMz",
        about: "Upgrade from the last version to current with a restart (downtime)",
        build: |_| {
            let c = || s("current");
            ok(vec![
                s("last"),
                i(),
                m(1),
                k(true),
                c(),
                m(2),
                v(),
                k(true),
                c(),
                v(),
            ])
        },
    },
    Scenario {
        name: "UpgradeEntireMzTwoVersions",
        about: "Upgrade previous → last → current with restarts",
        build: |_| {
            let c = || s("current");
            ok(vec![
                s("previous[1]"),
                i(),
                k(true),
                s("last"),
                m(1),
                k(true),
                c(),
                m(2),
                v(),
                k(true),
                c(),
                v(),
            ])
        },
    },
    Scenario {
        name: "UpgradeEntireMzFourVersions",
        about: "Upgrade through four published versions to current with restarts",
        build: |_| {
            let c = || s("current");
            ok(vec![
                s("previous[3]"),
                i(),
                k(true),
                s("previous[2]"),
                m(1),
                k(true),
                s("previous[1]"),
                m(2),
                k(true),
                s("last"),
                k(true),
                c(),
                v(),
                k(true),
                c(),
                v(),
            ])
        },
    },
    Scenario {
        name: "UpgradeEntireMzFromLatestSelfManaged",
        about: "Upgrade from the latest self-managed release to current with restarts",
        build: |_| {
            let c = || s("current");
            ok(vec![
                s("selfManaged[0]"),
                i(),
                m(1),
                k(true),
                c(),
                m(2),
                v(),
                k(true),
                c(),
                v(),
            ])
        },
    },
    Scenario {
        name: "UpgradeEntireMzFromPreviousSelfManaged",
        about: "Upgrade from the second-latest self-managed release via the latest to current",
        build: |_| {
            let c = || s("current");
            ok(vec![
                s("selfManaged[1]"),
                i(),
                m(1),
                k(true),
                s("selfManaged[0]"),
                m(2),
                k(true),
                c(),
                v(),
                k(true),
                c(),
                v(),
            ])
        },
    },
    Scenario {
        name: "PreflightCheckContinue",
        about: "Start current read-only as generation 1, promote it, restart it as leader",
        build: |_| {
            let mut last = s("current");
            last.deploy_generation = Some(1);
            let [w, p] = wp("materialized");
            ok(vec![
                s("last"),
                i(),
                m(1),
                k(true),
                ro(1, "materialized", "current"),
                w,
                p,
                m(2),
                v(),
                k(true),
                last,
                v(),
            ])
        },
    },
    Scenario {
        name: "PreflightCheckRollback",
        about: "Start current read-only, abandon it before promotion, go back to the last version",
        build: |_| {
            let mut preflight = ro(1, "materialized", "current");
            preflight.system_parameter_version = Some("last".to_string());
            ok(vec![
                s("last"),
                i(),
                m(1),
                k(true),
                preflight,
                on(act(K::WaitReadyMz), "materialized"),
                k(true),
                s("last"),
                m(2),
                v(),
                k(true),
                s("last"),
                v(),
            ])
        },
    },
    Scenario {
        name: "ZeroDowntimeRestartEntireMz",
        about: "Three 0dt restarts of current (mz-1 → mz-4), checks on the leader",
        build: |_| ok(zero_downtime_chain(&["current"; 4], None)),
    },
    Scenario {
        name: "ZeroDowntimeRestartEntireMzForcedMigrations",
        about: "As ZeroDowntimeRestartEntireMz, every new generation forcing builtin migrations",
        build: |_| ok(zero_downtime_chain(&["current"; 4], Some("all"))),
    },
    Scenario {
        name: "ZeroDowntimeUpgradeEntireMz",
        about: "0dt upgrade from last to current, then a 0dt restart",
        build: |_| {
            let b = "last";
            let mut out = vec![
                s0("mz-1", b, b),
                on(i(), "mz-1"),
                ro0(1, "mz-2", "current", b),
            ];
            out.push(on(m(1), "mz-1"));
            out.extend(wp("mz-2"));
            out.extend([
                on(m(2), "mz-2"),
                ro0(2, "mz-3", "current", b),
                on(v(), "mz-2"),
            ]);
            out.extend(wp("mz-3"));
            out.push(on(v(), "mz-3"));
            ok(out)
        },
    },
    Scenario {
        name: "ZeroDowntimeUpgradeEntireMzTwoVersions",
        about: "0dt upgrades previous → last → current, then a 0dt restart",
        build: |_| {
            ok(zero_downtime_chain(
                &["previous[1]", "last", "current", "current"],
                None,
            ))
        },
    },
    Scenario {
        name: "ZeroDowntimeUpgradeEntireMzFourVersions",
        about: "0dt upgrades through four published versions to current",
        build: |_| {
            let tags = [
                "previous[3]",
                "previous[2]",
                "previous[1]",
                "last",
                "current",
            ];
            ok(zero_downtime_chain(&tags, None))
        },
    },
    Scenario {
        name: "MultiVersionZeroDowntimeBasic",
        about: "All manipulations on the last version, then one 0dt upgrade to current and validate",
        build: |_| {
            let b = "last";
            let mut out = vec![s0("mz-1", b, b), on(i(), "mz-1"), on(m(1), "mz-1")];
            out.extend([on(m(2), "mz-1"), ro0(1, "mz-2", "current", b)]);
            out.extend(wp("mz-2"));
            out.push(on(v(), "mz-2"));
            ok(out)
        },
    },
    Scenario {
        name: "SelfManagedLinearUpgradePathManipulateBeforeUpgrade",
        about: "All manipulations on the oldest self-managed release, then 0dt through each to current",
        build: |inputs| self_managed_path(inputs, false),
    },
    Scenario {
        name: "SelfManagedLinearUpgradePathManipulateDuringUpgrade",
        about: "0dt through each self-managed release to current, manipulating after the first",
        build: |inputs| self_managed_path(inputs, true),
    },
    Scenario {
        name: "CloudtestUpgrade",
        about: "Adopted environmentd: replace its StatefulSet image with current (cloudtest)",
        build: |_| ok(vec![i(), m(1), replace("current"), m(2), v()]),
    },
    Scenario {
        name: "SystemVarChange",
        about: "Change spec.systemVarChanges between phases and validate under each value",
        build: system_var_change,
    },
];

/// The 0dt chains (ZeroDowntimeRestartEntireMz and the multi-version upgrades): start `tags[0]`
/// on mz-1, then each next tag read-only on the next service while the checks' phases run on
/// the previous leader: S, I, RO(1), M1, WP, RO(2), M2, WP, RO(3), V, WP, [RO(4), V, WP,] V.
fn zero_downtime_chain(tags: &[&str], force_migrations: Option<&str>) -> Vec<ActionSpec> {
    let b = tags[0];
    let svc = |n: usize| format!("mz-{n}");
    let mut out = vec![s0("mz-1", b, b), on(i(), "mz-1")];
    // Phases run on the leader while generation n+1 catches up: M1, M2, then V for the rest.
    for (generation, tag) in tags.iter().enumerate().skip(1) {
        let leader = svc(generation);
        let next = svc(generation + 1);
        let mut start = ro0(generation as u64, &next, tag, b);
        start.force_migrations = force_migrations.map(str::to_string);
        out.push(start);
        let phase = match generation {
            1 => m(1),
            2 => m(2),
            _ => v(),
        };
        out.push(on(phase, &leader));
        out.extend(wp(&next));
    }
    out.push(on(v(), &svc(tags.len())));
    out
}

/// SelfManagedLinearUpgradePath*: versions = self-managed releases oldest first, then current;
/// services alternate mz-1/mz-2 with deploy generation = index.
fn self_managed_path(inputs: &Inputs, during: bool) -> Result<Vec<ActionSpec>, String> {
    let count = inputs.versions.self_managed.len();
    if count == 0 {
        return Err("needs at least one version in spec.versions.selfManaged".to_string());
    }
    let mut tags: Vec<String> = (0..count)
        .rev()
        .map(|n| format!("selfManaged[{n}]"))
        .collect();
    tags.push("current".to_string());
    let svc = |n: usize| if n.is_multiple_of(2) { "mz-1" } else { "mz-2" };
    let mut out = vec![on(s(&tags[0]), "mz-1"), on(i(), "mz-1"), on(m(1), "mz-1")];
    if !during {
        out.extend([on(m(2), "mz-1"), on(v(), "mz-1")]);
    }
    for (n, tag) in tags.iter().enumerate().skip(1) {
        out.push(ro(n as u64, svc(n), tag));
        out.extend(wp(svc(n)));
        out.push(kill(svc(n - 1)));
        if during && n == 1 {
            out.push(on(m(2), svc(n)));
        }
        out.push(on(v(), svc(n)));
    }
    Ok(out)
}

/// SystemVarChange: S, I, SVC(→phase1), M1, SVC(→phase2), M2, SVC(→phase1), V, SVC(→phase2), V.
fn system_var_change(inputs: &Inputs) -> Result<Vec<ActionSpec>, String> {
    let entries = inputs.system_var_changes;
    if entries.is_empty() {
        return Err("needs at least one entry in spec.systemVarChanges".to_string());
    }
    let set = |phase2: bool| -> Vec<ActionSpec> {
        let value = |e: &SystemVarChangeEntry| {
            if phase2 {
                e.phase2_value.clone()
            } else {
                e.phase1_value.clone()
            }
        };
        entries.iter().map(|e| sys(&e.name, &value(e))).collect()
    };
    let mut out = vec![s("current"), i()];
    out.extend(set(false));
    out.push(m(1));
    out.extend(set(true));
    out.push(m(2));
    out.extend(set(false));
    out.push(v());
    out.extend(set(true));
    out.push(v());
    Ok(out)
}
