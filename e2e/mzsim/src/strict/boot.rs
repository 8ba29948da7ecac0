//! The start of environmentd's `run()`: the license key (src/environmentd/src/environmentd/
//! main.rs), the metadata backend, the replica size map and bootstrap sizes
//! (`ClusterReplicaSizeMap`, src/controller-types/src/clusters.rs; "unknown cluster replica
//! size" from catalog open), the clusterd image shape (src/orchestrator-kubernetes), and the
//! listeners file against the version's schema (src/server-core/src/listeners.rs). Each
//! failure is fatal: `panic!("environmentd: fatal: …")`.
//!
//! The file formats are parsed with [`super::schemas`], written from upstream's structs, not
//! with the operator's renderer, so the two are independent: a renderer bug is not a
//! simulator bug.

use std::collections::BTreeMap;

use super::{
    Invocation, Refusal,
    schemas::{Allocation, ListenersV147, ListenersV2632},
};
use scenario_operator::{
    environmentd::versions::{License, ListenerSchema, Needs},
    version::MzVersion,
};

/// Paths the all-in-one image ships its own listener files at; mzsim trusts them.
pub const IMAGE_LISTENER_FILES: &str = "/listener_configs/";

pub fn check(inv: &Invocation, version: &MzVersion) -> Result<(), Refusal> {
    license(inv, version)?;
    if !inv.explicit("metadata-backend-url") && !inv.explicit("persist-consensus-url") {
        return Err(Refusal::fatal(
            "either --persist-consensus-url or --metadata-backend-url must be provided",
        ));
    }
    if let Some(sizes) = inv.value("cluster-replica-sizes") {
        replica_sizes(inv, &sizes)?;
    }
    if inv.value("orchestrator").as_deref() == Some("kubernetes") {
        clusterd_image(&inv.value("clusterd-image").unwrap_or_default(), version)?;
    }
    if let Some(path) = inv.value("listeners-config-path")
        && !path.starts_with(IMAGE_LISTENER_FILES)
    {
        listeners(&path, Needs::of(version).listeners)?;
    }
    Ok(())
}

/// A license key is a signed JWT: mzsim cannot check the signature (Materialize's key is not
/// here), only that the file is there and has the shape of one.
fn license(inv: &Invocation, version: &MzVersion) -> Result<(), Refusal> {
    let kubernetes = inv.value("orchestrator").as_deref() == Some("kubernetes");
    let Some(path) = inv.value("license-key") else {
        let disabled = Needs::of(version).license == License::Disableable
            && inv.explicit("disable-license-key-checks");
        if kubernetes && Needs::of(version).license != License::None && !disabled {
            return Err(Refusal::fatal(
                "--license-key is required when running in Kubernetes",
            ));
        }
        return Ok(());
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Refusal::fatal(format!("failed to open license key file: {e}")))?;
    let parts: Vec<&str> = text.trim().split('.').collect();
    let jwt = parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if !jwt {
        return Err(Refusal::fatal(
            "failed to validate license key file: not a JWT (three base64url parts)",
        ));
    }
    Ok(())
}

/// The bootstrap sizes, with clap's default for those not given.
const BOOTSTRAP_SIZES: [&str; 6] = [
    "bootstrap-default-cluster-replica-size",
    "bootstrap-builtin-system-cluster-replica-size",
    "bootstrap-builtin-catalog-server-cluster-replica-size",
    "bootstrap-builtin-probe-cluster-replica-size",
    "bootstrap-builtin-support-cluster-replica-size",
    "bootstrap-builtin-analytics-cluster-replica-size",
];

fn replica_sizes(inv: &Invocation, json: &str) -> Result<(), Refusal> {
    let map: BTreeMap<String, Allocation> = serde_json::from_str(json)
        .map_err(|e| Refusal::fatal(format!("parsing replica size map: {e}")))?;
    for flag in BOOTSTRAP_SIZES {
        // Catalog open looks every builtin cluster's size up, even at replication factor 0.
        let size = inv
            .value(flag)
            .unwrap_or_else(|| "scale=1,workers=1".into());
        if !map.contains_key(&size) {
            return Err(Refusal::fatal(format!(
                "booting server: unknown cluster replica size '{size}' (--{flag})"
            )));
        }
    }
    Ok(())
}

/// `ORG/NAME:VERSION`: the Kubernetes orchestrator refuses any other shape when it creates a
/// replica; mzsim creates none, so it refuses at boot instead.
fn clusterd_image(image: &str, version: &MzVersion) -> Result<(), Refusal> {
    let ok = image.rsplit_once(':').is_some_and(|(repo, tag)| {
        !tag.is_empty() && !tag.contains('/') && repo.split('/').count() >= 2
    }) && !image.split('/').any(str::is_empty);
    if !ok {
        return Err(Refusal::fatal(format!(
            "--clusterd-image {image:?}: `image` is not ORG/NAME:VERSION"
        )));
    }
    // Not environmentd's own check: it boots, but clusterd of another version cannot talk to
    // it, so its replicas never come up and a read-only generation never catches up. mzsim
    // says so at boot (an image swap that left `--clusterd-image` behind, say).
    let tag = image.rsplit_once(':').map_or("", |(_, t)| t);
    match tag.parse::<MzVersion>() {
        Ok(v) if v != *version => Err(Refusal::fatal(format!(
            "mzsim: --clusterd-image {image} is not environmentd's version {version}: its \
             replicas would never come up"
        ))),
        _ => Ok(()),
    }
}

fn listeners(path: &str, schema: ListenerSchema) -> Result<(), Refusal> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Refusal::fatal(format!("failed to read listeners config {path}: {e}")))?;
    let bad = |e: serde_json::Error| Refusal::fatal(format!("parsing listeners config: {e}"));
    match schema {
        ListenerSchema::Flags => Ok(()),
        ListenerSchema::BoolRoutes => serde_json::from_str::<ListenersV147>(&text)
            .map(drop)
            .map_err(bad),
        ListenerSchema::RouteGroups => {
            let config: ListenersV2632 = serde_json::from_str(&text).map_err(bad)?;
            for (name, l) in &config.http {
                let r = &l.routes;
                let groups = [
                    &r.base,
                    &r.webhook,
                    &r.internal,
                    &r.metrics,
                    &r.profiling,
                    &r.mcp_agent,
                    &r.mcp_developer,
                    &r.console_config,
                ];
                if groups
                    .iter()
                    .any(|g| g.enabled && g.allowed_roles.is_none())
                {
                    return Err(Refusal::fatal(format!(
                        "validating listeners config: http.{name}: an enabled route group \
                         requires `allowed_roles`"
                    )));
                }
            }
            Ok(())
        }
    }
}
