//! Leader election on a `coordination.k8s.io` Lease (kube-lease-manager): of several operator
//! processes only the holder reconciles; the others serve `/healthz`, `/readyz` and the
//! webhook, and wait. A holder that dies stops renewing, and a standby takes the Lease once it
//! expires (within [`LEASE_SECONDS`]). A holder that learns it lost the Lease exits at once,
//! so two processes never reconcile together: its restart comes back as a standby.

use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::watch;
use tracing::{error, info};

/// How long a Lease stays held without renewal: the longest a dead leader's runs wait.
pub const LEASE_SECONDS: u64 = 15;
/// The holder renews this long before the Lease would expire (also the clock skew tolerated).
pub const RENEW_BEFORE_SECONDS: u64 = 5;

/// Which Lease, and who is asking for it.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    pub namespace: String,
    pub name: String,
    /// This process's identity in the Lease (the pod name).
    pub identity: String,
}

/// Holds the Lease: returns once this process is the leader, and from then on watches it,
/// exiting the process if it is ever lost.
pub async fn acquire(client: Client, lease: &LeaseSettings) -> Result<(), String> {
    let manager = LeaseManagerBuilder::new(client, &lease.name)
        .with_namespace(&lease.namespace)
        .with_identity(&lease.identity)
        .with_duration(LEASE_SECONDS)
        .with_grace(RENEW_BEFORE_SECONDS)
        .with_field_manager(format!("scenario-operator-{}", lease.identity))
        .build()
        .await
        .map_err(|e| format!("cannot use Lease {}/{}: {e}", lease.namespace, lease.name))?;
    let (mut leader, _task) = manager.watch().await;
    info!(
        lease = %format!("{}/{}", lease.namespace, lease.name),
        identity = %lease.identity,
        "waiting to become the leader"
    );
    while !*leader.borrow_and_update() {
        leader
            .changed()
            .await
            .map_err(|_| "the Lease manager stopped".to_string())?;
    }
    info!(identity = %lease.identity, "became the leader: reconciling");
    tokio::spawn(watch_loss(leader, lease.identity.clone()));
    Ok(())
}

/// Exits the process when the Lease is lost (or its manager stops): reconciling on without it
/// could race the new leader.
async fn watch_loss(mut leader: watch::Receiver<bool>, identity: String) {
    loop {
        let lost = match leader.changed().await {
            Ok(()) => !*leader.borrow_and_update(),
            Err(_) => true,
        };
        if lost {
            error!(%identity, "lost the Lease: exiting so that only the new leader reconciles");
            std::process::exit(1);
        }
    }
}
