//! Where a run's checks come from: inline checks and ConfigMaps (by name and by label
//! selector), collected when the run starts and frozen in an immutable snapshot ConfigMap the
//! run owns, so every phase runs exactly the checks the run started with.

use k8s_openapi::api::core::v1::ConfigMap;

use super::{
    error::Error,
    io::Kube,
    render::{self, RunRef},
};
use crate::{
    api::{
        names,
        v1alpha1::{CheckRecord, CheckState, ChecksSpec, ScenarioRun},
    },
    checks::library::{self, Check, CheckGate, Snapshot},
};

/// The checks in a ConfigMap, one per `*.yaml`/`*.yml` key, keys in order.
fn from_configmap(cm: &ConfigMap, skip_unavailable: bool) -> Result<Vec<Check>, Vec<String>> {
    let name = cm.metadata.name.clone().unwrap_or_default();
    let data = cm.data.clone().unwrap_or_default();
    let (mut checks, mut errors) = (Vec::new(), Vec::new());
    for (key, text) in &data {
        if !(key.ends_with(".yaml") || key.ends_with(".yml")) {
            continue;
        }
        match library::from_yaml_for(text, &format!("configmap/{name}:{key}"), skip_unavailable) {
            Ok(c) => checks.push(c),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if checks.is_empty() && errors.is_empty() {
        errors.push(format!(
            "ConfigMap {name} holds no checks (no key ends in .yaml or .yml)"
        ));
    }
    if errors.is_empty() {
        Ok(checks)
    } else {
        Err(errors)
    }
}

/// The run's checks as records for each check step, or why the run must be refused. Reads the
/// snapshot if an earlier pass made it; otherwise collects, arranges and freezes.
pub async fn collect<C: Kube>(
    ctx: &C,
    run: &ScenarioRun,
    gate: &CheckGate,
) -> Result<Result<Vec<CheckRecord>, Vec<String>>, Error> {
    let Some(spec) = &run.spec.checks else {
        return Ok(Ok(Vec::new()));
    };
    let r = RunRef::of(run);
    let snapshot_name = names::checks_configmap(r.name);
    let checks = match ctx.configmap(r.namespace, &snapshot_name).await? {
        Some(cm) => match frozen(&r, &cm, spec.skip_unavailable) {
            Ok(c) => c,
            Err(e) => return Ok(Err(vec![e])),
        },
        None => {
            let checks = match gather(ctx, &r, spec).await? {
                Ok(c) => c,
                Err(errors) => return Ok(Err(errors)),
            };
            let checks = match library::arrange(checks, &spec.include, spec.seed) {
                Ok(c) => c,
                Err(e) => return Ok(Err(e)),
            };
            let text = serde_json::to_string_pretty(&Snapshot::of(&checks))
                .map_err(|e| Error::Snapshot(e.to_string()))?;
            ctx.apply_configmap(r.namespace, &render::checks_snapshot(&r, text))
                .await?;
            checks
        }
    };
    Ok(Ok(checks
        .iter()
        .map(|c| match library::skip_reason(c, gate) {
            Some(why) => CheckRecord::new(c.name(), CheckState::Skipped, Some(why)),
            None => CheckRecord::new(c.name(), CheckState::Pending, None),
        })
        .collect()))
}

/// The snapshot an earlier pass froze, if it is this run's.
fn frozen(r: &RunRef, cm: &ConfigMap, skip_unavailable: bool) -> Result<Vec<Check>, String> {
    let ours = cm
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.uid == r.uid);
    if !ours {
        return Err(format!(
            "ConfigMap {} exists and does not belong to this run; the run keeps its frozen \
             checks there",
            names::checks_configmap(r.name)
        ));
    }
    load_snapshot(cm, skip_unavailable)
}

/// Inline checks, then named ConfigMaps, then those the selector matches; every problem found.
async fn gather<C: Kube>(
    ctx: &C,
    r: &RunRef<'_>,
    spec: &ChecksSpec,
) -> Result<Result<Vec<Check>, Vec<String>>, Error> {
    let (mut checks, mut errors) = (Vec::new(), Vec::new());
    let mut take = |found: Result<Vec<Check>, Vec<String>>| match found {
        Ok(mut c) => checks.append(&mut c),
        Err(mut e) => errors.append(&mut e),
    };
    for (i, c) in spec.inline.iter().enumerate() {
        take(
            library::compile_for(c, "inline", spec.skip_unavailable)
                .map(|c| vec![c])
                .map_err(|e| vec![format!("spec.checks.inline[{i}]: {e}")]),
        );
    }
    for (i, name) in spec.config_maps.iter().enumerate() {
        take(match ctx.configmap(r.namespace, name).await? {
            None => Err(vec![format!(
                "spec.checks.configMaps[{i}]: ConfigMap {name} not found in namespace {}",
                r.namespace
            )]),
            Some(cm) => from_configmap(&cm, spec.skip_unavailable),
        });
    }
    if let Some(sel) = &spec.selector {
        let selector = render::selector_string(sel);
        let snapshot_name = names::checks_configmap(r.name);
        let mut cms = ctx.configmaps(r.namespace, &selector).await?;
        cms.retain(|cm| {
            let n = cm.metadata.name.as_deref().unwrap_or_default();
            !spec.config_maps.iter().any(|c| c == n) && n != snapshot_name
        });
        cms.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        if cms.is_empty() {
            take(Err(vec![format!(
                "spec.checks.selector: no ConfigMap in namespace {} matches {selector:?}",
                r.namespace
            )]));
        }
        for cm in &cms {
            take(from_configmap(cm, spec.skip_unavailable));
        }
    }
    Ok(if errors.is_empty() {
        Ok(checks)
    } else {
        Err(errors)
    })
}

/// The checks frozen in a snapshot ConfigMap.
pub fn load_snapshot(cm: &ConfigMap, skip_unavailable: bool) -> Result<Vec<Check>, String> {
    let name = cm.metadata.name.clone().unwrap_or_default();
    let text = cm
        .data
        .as_ref()
        .and_then(|d| d.get(names::CHECKS_KEY))
        .ok_or_else(|| format!("ConfigMap {name} has no {}", names::CHECKS_KEY))?;
    let snapshot: Snapshot =
        serde_json::from_str(text).map_err(|e| format!("ConfigMap {name}: {e}"))?;
    snapshot
        .compile(skip_unavailable)
        .map_err(|e| format!("ConfigMap {name}: {e}"))
}
