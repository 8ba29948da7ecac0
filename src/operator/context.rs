//! What the running operator holds: its clients, settings, Event recorder, check sessions, the
//! leader-status wake-ups, the client probes, and the per-run failure counts its retry back-off is computed from.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use kube::{Client, runtime::events::Recorder};

use super::{
    clients::Sessions,
    probe::Prober,
    wake::{Wakers, http_probe},
};

/// How the operator runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Watch one namespace, or all.
    pub namespace: Option<String>,
    /// Reach environmentd by pod IP instead of the pods' DNS names (for running the operator
    /// outside the cluster network).
    pub pod_ip_addresses: bool,
    /// Runs reconciled at once.
    pub concurrency: u16,
    /// How often a run waiting on environmentd's leader status reads it ([`super::wake`]).
    pub leader_watch_interval: Duration,
    /// Where `/healthz` and `/readyz` are served (none: not served).
    pub health_addr: Option<std::net::SocketAddr>,
    /// The admission webhook (none: not served).
    pub webhook: Option<WebhookSettings>,
    /// Leader election (none: this process reconciles alone).
    pub lease: Option<super::leader::LeaseSettings>,
}

/// How the admission webhook is served.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub addr: std::net::SocketAddr,
    /// Names the generated certificate is for (DNS names or IP addresses).
    pub hosts: Vec<String>,
    /// `tls.crt`/`tls.key` to serve instead of generating (cert-manager).
    pub cert_dir: Option<std::path::PathBuf>,
    /// The ValidatingWebhookConfiguration whose `caBundle` gets the generated CA.
    pub configuration: String,
    /// The Secret (namespace, name) holding the CA the replicas share.
    pub ca_secret: Option<(String, String)>,
}

/// The real implementation of every IO trait ([`super::io`]).
pub struct Context {
    pub client: Client,
    /// Where and how `client` connects: the base of the short-lived clients that act as a
    /// run's environmentd account (its Secrets' cleanup).
    pub config: kube::Config,
    pub http: reqwest::Client,
    pub settings: Settings,
    pub recorder: Recorder,
    /// Check sessions by [`crate::api::names::check_session`].
    pub sessions: Sessions,
    /// Runs woken by their environmentd's leader status rather than by the apiserver.
    pub wakers: Wakers,
    /// Each running run's client probe.
    pub probes: Prober,
    /// Passes running at once (`settings.concurrency`), admitted first come, first served.
    /// The controller's own limit is not used: past it, kube-runtime 5 keeps ready runs in a
    /// hash set and takes them in hash order, so under load some runs waited minutes for a
    /// first pass while others ran pass after pass (measured: first step p99 566 s at 100 runs).
    /// Tokio's semaphore is fair (FIFO). A pass gives its slot back while it only waits
    /// ([`super::slot`]).
    pub passes: std::sync::Arc<tokio::sync::Semaphore>,
    /// The lane of runs whose steps have not started: their first passes (finalizer, plan, the
    /// first step's start: writes only) are short and bounded, and waiting behind every
    /// running run's check passes is what made first steps start late at scale (measured: 16
    /// slots, passes 1.7 s each under load, waits 7.9 s on average, three waits before a first
    /// step: p50 10 s, p99 35 s).
    pub first_passes: std::sync::Arc<tokio::sync::Semaphore>,
    /// Consecutive failed passes per run (`namespace/name`), reset by a pass that succeeds.
    failures: Mutex<HashMap<String, u32>>,
    /// The resourceVersion this process's last write of each run (`namespace/name`: status or
    /// finalizers) returned; absent while a write is in flight or after one failed, since a
    /// write that failed may still have landed.
    written: Mutex<HashMap<String, String>>,
    /// ConfigMaps that cannot change, by (namespace, name, owner uid): runs' frozen checks.
    pub frozen: Frozen,
    /// The controller's cache of runs, read when a pass gets its slot (not when it was queued).
    pub store:
        std::sync::OnceLock<kube::runtime::reflector::Store<crate::api::v1alpha1::ScenarioRun>>,
}

/// ConfigMaps that cannot change once made, kept by (namespace, name, owner uid).
#[derive(Default)]
pub struct Frozen(Mutex<HashMap<(String, String, String), k8s_openapi::api::core::v1::ConfigMap>>);

impl Frozen {
    pub fn get(
        &self,
        key: &(String, String, String),
    ) -> Option<k8s_openapi::api::core::v1::ConfigMap> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    pub fn insert(&self, key: (String, String, String), cm: k8s_openapi::api::core::v1::ConfigMap) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, cm);
    }

    /// The run `namespace/name` ended or is gone: its frozen checks are no longer read.
    pub fn forget_run(&self, key: &str) {
        let Some((ns, run)) = key.split_once('/') else {
            return;
        };
        let name = crate::api::names::checks_configmap(run);
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        kept.retain(|(n, cm, _), _| !(n == ns && *cm == name));
    }

    /// ConfigMaps kept.
    pub fn kept(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// How the operator's per-run state is keyed: `namespace/name`.
pub fn run_key(run: &crate::api::v1alpha1::ScenarioRun) -> String {
    use kube::ResourceExt;
    format!("{}/{}", run.namespace().unwrap_or_default(), run.name_any())
}

/// First retry after a failed pass; doubles per consecutive failure.
/// Slots of the first-pass lane ([`Context::first_passes`]), beside `--concurrency`.
pub const FIRST_PASS_SLOTS: usize = 8;

const BACKOFF_FIRST: Duration = Duration::from_secs(1);
/// Longest wait between retries of a transient failure.
const BACKOFF_MAX: Duration = Duration::from_secs(60);

impl Context {
    pub fn new(
        client: Client,
        config: kube::Config,
        recorder: Recorder,
        settings: Settings,
    ) -> Self {
        let http = super::clients::http_client();
        let wakers = Wakers::new(settings.leader_watch_interval, http_probe(http.clone()));
        let passes = std::sync::Arc::new(tokio::sync::Semaphore::new(usize::from(
            settings.concurrency.max(1),
        )));
        let first_passes = std::sync::Arc::new(tokio::sync::Semaphore::new(FIRST_PASS_SLOTS));
        Context {
            client,
            config,
            http,
            settings,
            recorder,
            sessions: Sessions::default(),
            wakers,
            probes: Prober::default(),
            frozen: Frozen::default(),
            passes,
            first_passes,
            failures: Mutex::default(),
            written: Mutex::default(),
            store: std::sync::OnceLock::new(),
        }
    }

    /// Records one more failed pass of `key`; returns how many in a row.
    pub fn failed_pass(&self, key: &str) -> u32 {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let n = f.entry(key.to_string()).or_default();
        *n += 1;
        *n
    }

    /// Remembers the resourceVersion a status write of `ns/name` returned.
    pub fn wrote(&self, ns: &str, name: &str, version: &str) {
        let mut w = self.written.lock().unwrap_or_else(|p| p.into_inner());
        w.insert(format!("{ns}/{name}"), version.to_string());
    }

    /// A write of `ns/name` is about to be sent: until it succeeds, no cached copy is ours.
    pub fn writing(&self, ns: &str, name: &str) {
        let mut w = self.written.lock().unwrap_or_else(|p| p.into_inner());
        w.remove(&format!("{ns}/{name}"));
    }

    /// What [`Context::wrote`] last remembered for `ns/name`.
    pub fn last_write(&self, ns: &str, name: &str) -> Option<String> {
        let w = self.written.lock().unwrap_or_else(|p| p.into_inner());
        w.get(&format!("{ns}/{name}")).cloned()
    }

    /// The run `key` ended or is gone: nothing of it is kept.
    pub fn forget(&self, key: &str) {
        self.probes.stop(key);
        self.frozen.forget_run(key);
        self.written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// A pass of `key` succeeded: its back-off starts over.
    pub fn passed(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// Exponential back-off with ±25 % jitter (so runs that failed together do not retry together).
/// `seed` varies the jitter; the same inputs give the same delay.
pub fn backoff(attempt: u32, seed: u64) -> Duration {
    let base = BACKOFF_FIRST
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(BACKOFF_MAX);
    let spread = (seed % 1001) as f64 / 1000.0; // 0.0 ..= 1.0
    base.mul_f64(0.75 + 0.5 * spread)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_checks_are_forgotten_with_their_run() {
        let frozen = Frozen::default();
        let key = |ns: &str, run: &str| {
            let name = crate::api::names::checks_configmap(run);
            (ns.to_string(), name, "uid".to_string())
        };
        frozen.insert(key("ns", "a"), Default::default());
        frozen.insert(key("ns", "b"), Default::default());
        frozen.insert(key("other", "a"), Default::default());
        frozen.forget_run("ns/a");
        assert_eq!(frozen.kept(), 2);
        assert!(frozen.get(&key("ns", "a")).is_none());
        assert!(frozen.get(&key("ns", "b")).is_some());
        assert!(frozen.get(&key("other", "a")).is_some());
    }

    #[test]
    fn backoff_grows_to_a_cap_with_jitter() {
        let secs = |a, s| backoff(a, s).as_secs_f64();
        assert!((0.75..=1.25).contains(&secs(1, 7)));
        assert!((1.5..=2.5).contains(&secs(2, 7)));
        assert!((45.0..=75.0).contains(&secs(30, 7)));
        assert_ne!(backoff(3, 1), backoff(3, 900), "jitter depends on the seed");
    }
}
