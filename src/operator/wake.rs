//! Wake-ups from outside the apiserver: a run waiting on environmentd's leader status gets a
//! small task that polls that one endpoint and wakes the run through the controller the moment
//! the answer changes. The pass itself returns at once (no reconcile slot is held while
//! environmentd catches up), the watch itself sends the apiserver nothing (only the pass it
//! wakes does), and promotion follows readiness within one poll of the leader API instead of
//! one requeue interval.
//!
//! At most one task per run: a run's next pass replaces or cancels it. The poll interval of
//! the pass stays the fallback, so a lost wake-up only costs what a poll would have.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::{Stream, future::BoxFuture};
use kube::runtime::reflector::ObjectRef;
use tokio::{sync::mpsc, task::AbortHandle};

use super::{clients, io::LeaderStatus, outcome::Wake};
use crate::api::v1alpha1::ScenarioRun;

/// Reads a host's leader status (`None`: no answer).
pub type Probe = Arc<dyn Fn(String) -> BoxFuture<'static, Option<LeaderStatus>> + Send + Sync>;

/// The real probe: `GET /api/leader/status` on the operator's HTTP client.
pub fn http_probe(http: reqwest::Client) -> Probe {
    Arc::new(move |host| {
        let http = http.clone();
        Box::pin(async move { clients::leader_status(&http, &host).await.ok() })
    })
}

/// How often a waiting run's leader status is read (each read is one small HTTP GET to
/// environmentd, on a kept-alive connection).
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(50);

/// The watch tasks, and the channel their wake-ups reach the controller by.
pub struct Wakers {
    tx: mpsc::UnboundedSender<ObjectRef<ScenarioRun>>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<ObjectRef<ScenarioRun>>>>,
    tasks: Mutex<HashMap<String, AbortHandle>>,
    interval: Duration,
    probe: Probe,
    /// When the operator first saw each host ReadyToPromote (promote-detection latency).
    pub ready_seen: Arc<ReadySeen>,
}

impl Wakers {
    pub fn new(interval: Duration, probe: Probe) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Wakers {
            tx,
            rx: Mutex::new(Some(rx)),
            tasks: Mutex::default(),
            interval,
            probe,
            ready_seen: Arc::default(),
        }
    }

    /// The wake-ups, for `Controller::reconcile_on` (once; later calls get an empty stream).
    pub fn stream(&self) -> impl Stream<Item = ObjectRef<ScenarioRun>> + Send + 'static {
        let rx = self.rx.lock().unwrap_or_else(|p| p.into_inner()).take();
        futures::stream::unfold(rx, |rx| async move {
            let mut rx = rx?;
            let run = rx.recv().await?;
            Some((run, Some(rx)))
        })
    }

    /// Watches `wake` for the run `key` (replacing the run's earlier watch), for at most
    /// `until`: the pass's fallback requeue comes then and sets up the next watch, so a task
    /// never outlives its run.
    pub fn watch(&self, key: &str, run: ObjectRef<ScenarioRun>, wake: Wake, until: Duration) {
        let (tx, interval) = (self.tx.clone(), self.interval);
        let (probe, seen_at) = (self.probe.clone(), self.ready_seen.clone());
        let Wake::LeaderStatus { host, seen } = wake else {
            // The controller's own watches wake the run: nothing to poll.
            self.cancel(key);
            return;
        };
        let deadline = tokio::time::Instant::now() + until;
        let task = tokio::spawn(async move {
            while tokio::time::Instant::now() < deadline {
                tokio::time::sleep(interval).await;
                // A failed read is the same as an unchanged one: keep looking.
                let Some(now) = probe(host.clone()).await else {
                    continue;
                };
                if now == LeaderStatus::ReadyToPromote {
                    seen_at.saw_ready(&host);
                }
                if Some(now) != seen {
                    let _ = tx.send(run);
                    return;
                }
            }
        });
        let old = self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_string(), task.abort_handle());
        if let Some(old) = old {
            old.abort();
        }
    }

    /// The run `key` no longer waits on anything watched.
    pub fn cancel(&self, key: &str) {
        let old = self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        if let Some(old) = old {
            old.abort();
        }
    }

    /// Watch tasks alive.
    #[cfg(test)]
    fn active(&self) -> usize {
        let tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.values().filter(|t| !t.is_finished()).count()
    }
}

/// When a host was first seen ReadyToPromote, until its promote request is sent.
#[derive(Default)]
pub struct ReadySeen(Mutex<HashMap<String, Instant>>);

/// Hosts remembered at most this long (a generation that is never promoted).
const READY_SEEN_TTL: Duration = Duration::from_secs(3600);

impl ReadySeen {
    pub fn saw_ready(&self, host: &str) {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        seen.retain(|_, t| t.elapsed() < READY_SEEN_TTL);
        seen.entry(host.to_string()).or_insert_with(Instant::now);
    }

    /// The promote request to `host` is being sent: how long since it was first seen ready.
    pub fn promoting(&self, host: &str) -> Option<Duration> {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        seen.remove(host).map(|t| t.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures::StreamExt;

    use super::*;

    /// A leader API that answers `Initializing` for the first `n` reads of `host`, then
    /// `ReadyToPromote`; and how many reads it served.
    fn leader_api(n: usize) -> (Probe, Arc<AtomicUsize>) {
        let reads = Arc::new(AtomicUsize::new(0));
        let counter = reads.clone();
        let probe: Probe = Arc::new(move |host| {
            let served = counter.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                assert_eq!(host, "h");
                Some(if served < n {
                    LeaderStatus::Initializing
                } else {
                    LeaderStatus::ReadyToPromote
                })
            })
        });
        (probe, reads)
    }

    fn initializing() -> Wake {
        Wake::LeaderStatus {
            host: "h".into(),
            seen: Some(LeaderStatus::Initializing),
        }
    }

    #[tokio::test]
    async fn wakes_the_run_when_the_status_changes() {
        let (probe, reads) = leader_api(3);
        let wakers = Wakers::new(Duration::from_millis(5), probe);
        let mut woken = wakers.stream().boxed();
        let run = ObjectRef::<ScenarioRun>::new("zdt").within("ns");
        wakers.watch(
            "ns/zdt",
            run.clone(),
            initializing(),
            Duration::from_secs(10),
        );
        let got = tokio::time::timeout(Duration::from_secs(10), woken.next())
            .await
            .expect("woken within 10 s");
        assert_eq!(got, Some(run));
        // Three unchanged answers, then the changed one; the task ended with it.
        assert_eq!(reads.load(Ordering::SeqCst), 4);
        // First seen ready just now, and forgotten once the promote is sent.
        let since = wakers.ready_seen.promoting("h");
        assert!(since.is_some_and(|d| d < Duration::from_secs(10)));
        assert_eq!(wakers.ready_seen.promoting("h"), None);
    }

    #[tokio::test]
    async fn a_new_watch_replaces_the_old_and_cancel_ends_it() {
        // Never changes from what the watch saw: the task keeps polling until replaced.
        let (probe, reads) = leader_api(usize::MAX);
        let wakers = Wakers::new(Duration::from_millis(1), probe);
        let run = ObjectRef::<ScenarioRun>::new("zdt").within("ns");
        let long = Duration::from_secs(10);
        wakers.watch("ns/zdt", run.clone(), initializing(), long);
        wakers.watch("ns/zdt", run, initializing(), long);
        assert_eq!(wakers.active(), 1, "one task per run");
        while reads.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        wakers.cancel("ns/zdt");
        assert_eq!(wakers.active(), 0);
        // Cancelled means no more reads.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let after = reads.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(reads.load(Ordering::SeqCst), after);
    }

    #[tokio::test]
    async fn a_watch_ends_by_itself_at_its_fallback() {
        let (probe, reads) = leader_api(usize::MAX);
        let wakers = Wakers::new(Duration::from_millis(1), probe);
        let run = ObjectRef::<ScenarioRun>::new("gone").within("ns");
        wakers.watch("ns/gone", run, initializing(), Duration::from_millis(30));
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(wakers.active(), 0, "the task ended without a cancel");
        let after = reads.load(Ordering::SeqCst);
        assert!(after > 0);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(reads.load(Ordering::SeqCst), after);
    }
}
