//! The Node object and its heartbeat Lease, so the node-lifecycle controller keeps the node
//! Ready and never evicts its pods.

use std::time::Duration;

use k8s_openapi::api::{coordination::v1::Lease, core::v1::Node};
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use tracing::warn;

use crate::{
    config::Config,
    runtime::{now, rfc3339},
};

const MANAGER: &str = "so-kubelet";

fn node_status(cfg: &Config) -> serde_json::Value {
    let t = rfc3339(&now());
    let cond = |kind: &str, status: &str, reason: &str| serde_json::json!({"type": kind, "status": status, "reason": reason, "lastHeartbeatTime": t, "lastTransitionTime": t, "message": reason});
    let capacity = serde_json::json!({"cpu": "32", "memory": "64Gi", "pods": "250", "ephemeral-storage": "100Gi"});
    serde_json::json!({
        "capacity": capacity, "allocatable": capacity,
        "addresses": [{"type": "InternalIP", "address": cfg.node_ip}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": cfg.port}},
        "nodeInfo": {
            "kubeletVersion": "v1.37.2", "kubeProxyVersion": "", "osImage": "scenario-operator local cluster",
            "operatingSystem": "linux", "architecture": "amd64", "containerRuntimeVersion": "so-kubelet://0.1",
            "kernelVersion": "", "machineID": "", "systemUUID": "", "bootID": ""
        },
        "conditions": [
            cond("Ready", "True", "KubeletReady"),
            cond("MemoryPressure", "False", "KubeletHasSufficientMemory"),
            cond("DiskPressure", "False", "KubeletHasNoDiskPressure"),
            cond("PIDPressure", "False", "KubeletHasSufficientPID"),
        ],
    })
}

/// Registers the node, then keeps its status and Lease fresh.
pub async fn run(client: Client, cfg: Config) -> anyhow::Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    let pp = PatchParams::apply(MANAGER).force();
    let node = serde_json::json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": cfg.node_name, "labels": {
            "kubernetes.io/hostname": cfg.node_name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"
        }},
    });
    nodes
        .patch(&cfg.node_name, &pp, &Patch::Apply(&node))
        .await?;
    let uid = nodes
        .get(&cfg.node_name)
        .await?
        .metadata
        .uid
        .unwrap_or_default();
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    loop {
        tick.tick().await;
        let status = serde_json::json!({"status": node_status(&cfg)});
        if let Err(e) = nodes
            .patch_status(
                &cfg.node_name,
                &PatchParams::default(),
                &Patch::Merge(&status),
            )
            .await
        {
            warn!(error = %e, "node status update failed");
        }
        let lease = serde_json::json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": cfg.node_name, "namespace": "kube-node-lease",
                "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": cfg.node_name, "uid": uid}]},
            "spec": {"holderIdentity": cfg.node_name, "leaseDurationSeconds": 40, "renewTime": now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)},
        });
        if let Err(e) = leases
            .patch(&cfg.node_name, &pp, &Patch::Apply(&lease))
            .await
        {
            warn!(error = %e, "lease renewal failed");
        }
    }
}
