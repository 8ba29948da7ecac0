//! Cluster replica sizes for the Kubernetes runtime: `--cluster-replica-sizes` is required by
//! environmentd's argument parser, and every bootstrap size must be one of its keys or boot
//! dies with "unknown cluster replica size". The map is environmentd's own JSON
//! (`ReplicaAllocation`, src/controller-types/src/clusters.rs): `workers`, `scale` and
//! `credits_per_hour` (a string) are required; `disk_limit` `"0"` means no disk, so no
//! ephemeral volume storage class is needed; `memory_limit` is required by a real license key.

use std::collections::BTreeMap;

use serde::Serialize;

/// The default size's name (environmentd's own default bootstrap size name).
pub const DEFAULT_SIZE: &str = "scale=1,workers=1";

/// One entry of the map, serialized as environmentd reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Allocation {
    pub workers: u32,
    pub scale: u32,
    pub credits_per_hour: String,
    /// `"0"`: no disk, so no ephemeral volume storage class is needed.
    pub disk_limit: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_limit: Option<f64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub selectors: BTreeMap<String, String>,
}

/// The default map: one small size, enough for rehearsal data on a laptop's kind cluster.
pub fn default_sizes() -> BTreeMap<String, Allocation> {
    BTreeMap::from([(
        DEFAULT_SIZE.to_string(),
        Allocation {
            workers: 1,
            scale: 1,
            credits_per_hour: "1".into(),
            disk_limit: "0".into(),
            memory_limit: Some("2GiB".into()),
            cpu_limit: None,
            selectors: BTreeMap::new(),
        },
    )])
}

/// The bootstrap size: the spec's, or the map's only key. `None` when the spec names none
/// and the map has several (the planner refuses that, naming the field).
pub fn bootstrap(spec_size: Option<&str>, sizes: &BTreeMap<String, Allocation>) -> Option<String> {
    match spec_size {
        Some(s) => Some(s.to_string()),
        None if sizes.len() == 1 => sizes.keys().next().cloned(),
        None => None,
    }
}

/// `--cluster-replica-sizes`'s value.
pub fn to_json(sizes: &BTreeMap<String, Allocation>) -> String {
    serde_json::to_string(sizes).expect("a map of plain values serializes")
}

/// The bootstrap size arguments: the default cluster and every builtin one at `size`; the
/// builtin clusters that need no replica to rehearse an upgrade (system, probe, support,
/// analytics) at replication factor 0, as orchestratord's chart does, so an environment runs
/// two clusterd pods (quickstart and catalog server) rather than six.
pub fn bootstrap_args(size: &str) -> Vec<String> {
    let mut args = vec![format!("--bootstrap-default-cluster-replica-size={size}")];
    for builtin in ["system", "catalog-server", "probe", "support", "analytics"] {
        args.push(format!(
            "--bootstrap-builtin-{builtin}-cluster-replica-size={size}"
        ));
    }
    for builtin in ["system", "probe", "support", "analytics"] {
        args.push(format!(
            "--bootstrap-builtin-{builtin}-cluster-replication-factor=0"
        ));
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_map_is_what_environmentd_parses() {
        let json: serde_json::Value = serde_json::from_str(&to_json(&default_sizes())).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"scale=1,workers=1": {"workers": 1, "scale": 1, "credits_per_hour": "1", "disk_limit": "0", "memory_limit": "2GiB"}})
        );
        assert_eq!(
            bootstrap(None, &default_sizes()).as_deref(),
            Some(DEFAULT_SIZE)
        );
    }

    #[test]
    fn a_map_of_several_sizes_needs_a_named_bootstrap_size() {
        let mut sizes = default_sizes();
        let mut big = sizes[DEFAULT_SIZE].clone();
        big.workers = 4;
        sizes.insert("big".into(), big);
        assert_eq!(bootstrap(None, &sizes), None);
        assert_eq!(bootstrap(Some("big"), &sizes).as_deref(), Some("big"));
    }

    #[test]
    fn bootstrap_args_size_every_bootstrap_cluster() {
        let args = bootstrap_args("s");
        assert_eq!(args.iter().filter(|a| a.ends_with("-size=s")).count(), 6);
        assert!(args.contains(&"--bootstrap-builtin-probe-cluster-replication-factor=0".into()));
    }
}
