//! `Scenario.run()`'s enrichment of an action list, exactly as platform-checks applies it.
//!
//! 1. If the first action is not a StartMz, a ConfigureMz goes first ("configure implicitly
//!    for cloud scenarios").
//! 2. After every StartMz without a deploy generation: ConfigureMz on the same service, and the
//!    first time only, SetupSqlServerTesting before it — here only when `features.sqlServer`
//!    is on, since without SQL Server it has nothing to set up.
//! 3. After every ReplaceEnvironmentdStatefulSet: ConfigureMz.
//!
//! A StartMz with a deploy generation (read-only), WaitReadyMz and PromoteMz never get one.
//! Our one extension: an action with `expectFailure` gets none either, since environmentd is
//! expected to refuse to boot and there is nothing to configure.

use crate::api::v1alpha1::{ActionKind, ActionSpec};

/// Where a planned item came from, for error messages and the plan's `implicit` flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `spec.actions[i]`.
    Explicit(usize),
    /// Position `i` of the built-in scenario's own action list.
    Scenario(usize),
    /// Inserted by enrichment; carries the `spec.actions` index it belongs to, if any.
    Implicit(Option<usize>),
}

/// An action template with its origin.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub spec: ActionSpec,
    pub origin: Origin,
}

impl Item {
    fn implicit(kind: ActionKind, mz_service: Option<String>, near: Origin) -> Item {
        let mut spec = ActionSpec::new(kind);
        spec.mz_service = mz_service;
        let index = match near {
            Origin::Explicit(i) | Origin::Implicit(Some(i)) => Some(i),
            _ => None,
        };
        Item {
            spec,
            origin: Origin::Implicit(index),
        }
    }

    pub fn is_implicit(&self) -> bool {
        matches!(self.origin, Origin::Implicit(_))
    }
}

/// Applies the enrichment rules to `items`.
pub fn enrich(items: Vec<Item>, sql_server: bool) -> Vec<Item> {
    let mut out = Vec::with_capacity(items.len() + 8);
    if let Some(first) = items.first()
        && first.spec.action != ActionKind::StartMz
    {
        out.push(Item::implicit(ActionKind::ConfigureMz, None, first.origin));
    }
    let mut sql_server_pending = sql_server;
    for item in items {
        let spec = &item.spec;
        let near = item.origin;
        let expect_failure = spec.expect_failure == Some(true);
        let follow: Vec<Item> = match spec.action {
            ActionKind::StartMz if spec.deploy_generation.is_none() && !expect_failure => {
                let svc = spec.mz_service.clone();
                let mut follow = Vec::new();
                if std::mem::take(&mut sql_server_pending) {
                    let setup =
                        Item::implicit(ActionKind::SetupSqlServerTesting, svc.clone(), near);
                    follow.push(setup);
                }
                follow.push(Item::implicit(ActionKind::ConfigureMz, svc, near));
                follow
            }
            ActionKind::ReplaceEnvironmentdStatefulSet if !expect_failure => {
                vec![Item::implicit(
                    ActionKind::ConfigureMz,
                    spec.mz_service.clone(),
                    near,
                )]
            }
            _ => Vec::new(),
        };
        out.push(item);
        out.extend(follow);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(kind: ActionKind, svc: Option<&str>, generation: Option<u64>) -> Item {
        let mut spec = ActionSpec::new(kind);
        spec.mz_service = svc.map(str::to_string);
        spec.deploy_generation = generation;
        Item {
            spec,
            origin: Origin::Explicit(0),
        }
    }

    fn kinds(items: &[Item]) -> Vec<(ActionKind, bool)> {
        items
            .iter()
            .map(|i| (i.spec.action, i.is_implicit()))
            .collect()
    }

    use ActionKind::*;

    #[test]
    fn configure_first_when_first_action_is_not_start() {
        let out = enrich(vec![item(Initialize, None, None)], false);
        assert_eq!(kinds(&out), vec![(ConfigureMz, true), (Initialize, false)]);
    }

    #[test]
    fn configure_after_every_plain_start_on_its_service() {
        let out = enrich(
            vec![
                item(StartMz, Some("a"), None),
                item(KillMz, None, None),
                item(StartMz, Some("b"), None),
            ],
            false,
        );
        assert_eq!(
            kinds(&out),
            vec![
                (StartMz, false),
                (ConfigureMz, true),
                (KillMz, false),
                (StartMz, false),
                (ConfigureMz, true)
            ]
        );
        assert_eq!(out[1].spec.mz_service.as_deref(), Some("a"));
        assert_eq!(out[4].spec.mz_service.as_deref(), Some("b"));
    }

    #[test]
    fn sql_server_setup_only_once_and_only_with_the_feature() {
        let input = vec![item(StartMz, None, None), item(StartMz, None, None)];
        let out = enrich(input.clone(), true);
        assert_eq!(
            kinds(&out),
            vec![
                (StartMz, false),
                (SetupSqlServerTesting, true),
                (ConfigureMz, true),
                (StartMz, false),
                (ConfigureMz, true)
            ]
        );
        assert!(
            enrich(input, false)
                .iter()
                .all(|i| i.spec.action != SetupSqlServerTesting)
        );
    }

    #[test]
    fn read_only_starts_and_promotion_get_nothing() {
        let out = enrich(
            vec![
                item(StartMz, Some("a"), None),
                item(StartMz, Some("b"), Some(1)),
                item(WaitReadyMz, Some("b"), None),
                item(PromoteMz, Some("b"), None),
            ],
            true,
        );
        let implicit: Vec<_> = out.iter().filter(|i| i.is_implicit()).collect();
        assert_eq!(
            implicit.len(),
            2,
            "only SetupSqlServerTesting + ConfigureMz after the plain start"
        );
    }

    #[test]
    fn configure_after_replace() {
        let out = enrich(
            vec![
                item(Initialize, None, None),
                item(ReplaceEnvironmentdStatefulSet, None, None),
            ],
            false,
        );
        assert_eq!(
            kinds(&out),
            vec![
                (ConfigureMz, true),
                (Initialize, false),
                (ReplaceEnvironmentdStatefulSet, false),
                (ConfigureMz, true)
            ]
        );
    }
}
