//! Leader election on a `coordination.k8s.io` Lease (kube-lease-manager): of several operator
//! processes only the holder reconciles; the others serve `/healthz`, `/readyz` and the
//! webhook, and wait. A holder that dies stops renewing, and a standby takes the Lease once it
//! expires (within [`LEASE_SECONDS`]). A holder that learns it lost the Lease — or cannot see
//! it renewed in time — exits at once, so two processes never reconcile together: its restart
//! comes back as a standby.

use std::time::Duration;

use k8s_openapi::{api::coordination::v1::Lease, jiff::Timestamp};
use kube::{Api, Client};
use kube_lease_manager::LeaseManagerBuilder;
use tokio::{sync::watch, task::JoinHandle};
use tracing::{error, info, warn};

/// How long a Lease stays held without renewal: the longest a dead leader's runs wait.
pub const LEASE_SECONDS: u64 = 15;
/// The holder renews this often. Renewing only shortly before expiry (as we did, every 10 s)
/// left a single slow renewal 4 s of slack: under load (100 runs booting on 2 cores) one took
/// longer and the leader exited. Every 3 s, a stall of up to ~11 s is survived, as client-go's
/// defaults (lease 15 s, renew deadline 10 s, retry 2 s) survive about 10 s.
pub const RENEW_EVERY_SECONDS: u64 = 3;

/// Which Lease, and who is asking for it.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    pub namespace: String,
    pub name: String,
    /// This process's identity in the Lease (the pod name).
    pub identity: String,
}

/// The Lease while this process holds it.
pub struct Held {
    manager: JoinHandle<kube_lease_manager::Result<kube_lease_manager::LeaseManager>>,
    watchers: Vec<JoinHandle<()>>,
}

impl Held {
    /// Gives the Lease up (on shutdown), so a standby takes over at once rather than when it
    /// expires: the Lease manager releases it once no one watches it any more.
    pub async fn release(self) {
        for w in &self.watchers {
            w.abort();
        }
        for w in self.watchers {
            let _ = w.await;
        }
        match tokio::time::timeout(Duration::from_secs(5), self.manager).await {
            Ok(Ok(Ok(_))) => info!("released the Lease"),
            _ => warn!("could not release the Lease; it expires on its own"),
        }
    }
}

/// Holds the Lease: returns once this process is the leader, and from then on watches it,
/// exiting the process if it is ever lost.
pub async fn acquire(client: Client, lease: &LeaseSettings) -> Result<Held, String> {
    let client_for_watchdog = client.clone();
    let manager = LeaseManagerBuilder::new(client, &lease.name)
        .with_namespace(&lease.namespace)
        .with_identity(&lease.identity)
        .with_duration(LEASE_SECONDS)
        .with_grace(LEASE_SECONDS - RENEW_EVERY_SECONDS)
        .with_field_manager(format!("scenario-operator-{}", lease.identity))
        .build()
        .await
        .map_err(|e| format!("cannot use Lease {}/{}: {e}", lease.namespace, lease.name))?;
    let (mut leader, task) = manager.watch().await;
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
    let watchers = vec![
        tokio::spawn(watch_loss(leader, lease.identity.clone())),
        tokio::spawn(watchdog(client_for_watchdog, lease.clone())),
    ];
    Ok(Held {
        manager: task,
        watchers,
    })
}

/// How often the leader reads its Lease back.
const WATCHDOG_PERIOD: Duration = Duration::from_secs(1);

/// The leader's own check, independent of the Lease manager (which retries a failing renewal
/// without ever saying the lock is gone): it reads the Lease every [`WATCHDOG_PERIOD`] and
/// exits when another holds it, or when the last renewal it can see is more than the lease
/// less a second old — before any standby may take it (a standby waits the full lease after
/// that renewal), so a stalled leader is gone before a new one starts. Renewals come every
/// [`RENEW_EVERY_SECONDS`], so only renewals stalled for about ten seconds trip it.
async fn watchdog(client: Client, lease: LeaseSettings) {
    let api: Api<Lease> = Api::namespaced(client, &lease.namespace);
    let margin = Duration::from_secs(LEASE_SECONDS - 1);
    let mut renewed = Timestamp::now();
    loop {
        tokio::time::sleep(WATCHDOG_PERIOD).await;
        match api.get(&lease.name).await {
            Ok(l) => {
                let spec = l.spec.unwrap_or_default();
                if spec.holder_identity.as_deref() != Some(&lease.identity) {
                    exit_lost(&lease.identity, "another replica holds the Lease");
                }
                if let Some(t) = spec.renew_time {
                    renewed = t.0;
                }
            }
            Err(e) => warn!(error = %e, "cannot read the Lease back"),
        }
        let age = Timestamp::now().duration_since(renewed);
        if age.as_secs_f64() > margin.as_secs_f64() {
            exit_lost(&lease.identity, "the Lease was not renewed in time");
        }
    }
}

fn exit_lost(identity: &str, why: &str) -> ! {
    error!(%identity, why, "lost the Lease: exiting so that only the new leader reconciles");
    std::process::exit(1);
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
            exit_lost(&identity, "the Lease manager says so");
        }
    }
}
