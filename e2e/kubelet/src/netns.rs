//! Pod networking: one network namespace per pod, joined to the cluster namespace (where the
//! kubelet, apiserver and PostgreSQL live) by a veth pair. The pod gets `<ip>/32` on its `eth0`
//! and a default route through it; the cluster side routes the /32 to the veth and answers ARP
//! for everything else (proxy ARP), so pods reach each other, the apiserver and PostgreSQL, and
//! each may bind 0.0.0.0 on the same ports — like real pods.

use anyhow::{Context, bail};
use tokio::process::Command;

async fn run(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .await
        .with_context(|| format!("running {}", args[0]))?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Names derived from the pod uid: the namespace (`so-pod-<12>`) and the cluster-side veth
/// (`sov<12>`, within the 15-character interface name limit).
pub fn names(uid: &str) -> (String, String) {
    let short: String = uid.chars().filter(|c| *c != '-').take(12).collect();
    (format!("so-pod-{short}"), format!("sov{short}"))
}

/// Path other tools use to enter the namespace.
pub fn path(netns: &str) -> String {
    format!("/run/netns/{netns}")
}

/// Once per kubelet start: the cluster namespace forwards between pods.
pub async fn enable_forwarding() -> anyhow::Result<()> {
    run(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]).await
}

pub async fn create(uid: &str, ip: &str) -> anyhow::Result<String> {
    let (ns, veth) = names(uid);
    // A leftover from an earlier kubelet run of the same pod is replaced.
    let _ = run(&["ip", "netns", "del", &ns]).await;
    run(&["ip", "netns", "add", &ns]).await?;
    run(&[
        "ip", "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
    ])
    .await?;
    run(&["ip", "link", "set", &veth, "up"]).await?;
    run(&["ip", "-n", &ns, "link", "set", "lo", "up"]).await?;
    run(&[
        "ip",
        "-n",
        &ns,
        "addr",
        "add",
        &format!("{ip}/32"),
        "dev",
        "eth0",
    ])
    .await?;
    run(&["ip", "-n", &ns, "link", "set", "eth0", "up"]).await?;
    run(&["ip", "-n", &ns, "route", "add", "default", "dev", "eth0"]).await?;
    run(&["ip", "route", "replace", &format!("{ip}/32"), "dev", &veth]).await?;
    run(&[
        "sysctl",
        "-qw",
        &format!("net.ipv4.conf.{veth}.proxy_arp=1"),
    ])
    .await?;
    Ok(ns)
}

/// Removes the namespace (which removes both ends of the veth and the route).
pub async fn delete(uid: &str) {
    let (ns, _) = names(uid);
    let _ = run(&["ip", "netns", "del", &ns]).await;
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_fit_interface_limits() {
        let (ns, veth) = super::names("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
        assert_eq!(ns, "so-pod-0f1e2d3c4b5a");
        assert_eq!(veth, "sov0f1e2d3c4b5a");
        assert!(veth.len() <= 15);
    }
}
