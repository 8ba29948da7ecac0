//! The pod loop: watch every pod; bind unscheduled ones to this node (there is no scheduler);
//! start the ones bound here; on a deletion request stop the containers within the grace period
//! and remove the pod; keep each pod's status and the namespace's hosts file up to date.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Binding, Pod};
use kube::{
    Api, Client,
    api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions},
    runtime::watcher::{self, Event},
};
use tokio::sync::{Mutex, Notify, Semaphore};
use tracing::{info, warn};

use crate::{
    config::Config,
    env, netns,
    runtime::{Launch, PodRuntime, status_json},
};

/// Running pods by uid, shared with the log server.
pub type Pods = Arc<Mutex<BTreeMap<String, PodRuntime>>>;

pub struct Kubelet {
    pub client: Client,
    pub cfg: Config,
    pub pods: Pods,
    /// Pod IPs in use: the last two octets (a, b), under the two-octet prefix. One /24 was
    /// not enough: 100 concurrent 0dt runs hold more than 250 pods (parked generations and
    /// clusterd included).
    ips: Mutex<BTreeSet<(u8, u8)>>,
    /// Pods whose start failed, by uid: how many times in a row (the retry back-off), and
    /// whether a retry is already scheduled.
    retries: Mutex<BTreeMap<String, (u32, bool)>>,
    /// Pods being started, by uid: a start takes API reads and process spawns, so it runs
    /// without holding `pods` (status writers and other starts would queue behind it: at 100
    /// concurrent runs a Ready pod's status reached the apiserver minutes late).
    starting: Mutex<BTreeSet<String>>,
    /// Signalled whenever a start ends (a stop waits for a start in flight).
    start_done: Notify,
    /// Starts at once: a kubelet starts pods in parallel, but on a 2-core machine 100 pods
    /// created together, started together, starve everything else (the operator's first
    /// passes included) while they boot.
    start_slots: Semaphore,
}

/// Pods started at once ([`Kubelet::start_slots`]).
const PARALLEL_STARTS: usize = 4;

/// First retry of a pod that could not start; doubles up to [`RETRY_MAX`]. A kubelet retries a
/// pod whose volumes cannot be set up yet (e.g. `kube-root-ca.crt` not published yet in a new
/// namespace) until they can: the pod's spec names what it needs, and it may appear later.
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(10);

impl Kubelet {
    pub fn new(client: Client, cfg: Config) -> Arc<Kubelet> {
        Arc::new(Kubelet {
            client,
            cfg,
            pods: Arc::new(Mutex::new(BTreeMap::new())),
            ips: Mutex::new(BTreeSet::new()),
            retries: Mutex::new(BTreeMap::new()),
            starting: Mutex::new(BTreeSet::new()),
            start_done: Notify::new(),
            start_slots: Semaphore::new(PARALLEL_STARTS),
        })
    }

    pub async fn run(self: Arc<Self>) -> anyhow::Result<()> {
        let api: Api<Pod> = Api::all(self.client.clone());
        let mut events = watcher::watcher(api, watcher::Config::default()).boxed();
        while let Some(event) = events.next().await {
            match event {
                Ok(Event::Apply(pod) | Event::InitApply(pod)) => {
                    let me = self.clone();
                    // Pods are handled concurrently; a slow start must not hold up deletions.
                    tokio::spawn(async move { me.sync(pod).await });
                }
                Ok(Event::Delete(pod)) => {
                    let me = self.clone();
                    tokio::spawn(async move { me.gone(pod).await });
                }
                Ok(_) => {}
                Err(e) => warn!(error = %e, "pod watch error"),
            }
        }
        Ok(())
    }

    async fn sync(self: Arc<Self>, pod: Pod) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let spec = pod.spec.clone().unwrap_or_default();
        let node = spec.node_name.clone().unwrap_or_default();
        if node.is_empty() {
            if spec
                .scheduler_name
                .as_deref()
                .unwrap_or("default-scheduler")
                == "default-scheduler"
            {
                self.bind(&pod).await;
            }
            return;
        }
        if node != self.cfg.node_name {
            return;
        }
        if pod.metadata.deletion_timestamp.is_some() {
            let grace = pod
                .metadata
                .deletion_grace_period_seconds
                .or(spec.termination_grace_period_seconds)
                .unwrap_or(30)
                .max(0);
            self.stop(&uid, Duration::from_secs(grace as u64)).await;
            self.force_delete(&pod).await;
            return;
        }
        let phase = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default();
        if phase == "Succeeded" || phase == "Failed" {
            return;
        }
        {
            let pods = self.pods.lock().await;
            if pods.contains_key(&uid) || !self.starting.lock().await.insert(uid.clone()) {
                return;
            }
        }
        let started = {
            let _slot = self.start_slots.acquire().await;
            self.start(&pod).await
        };
        let started = {
            let mut pods = self.pods.lock().await;
            self.starting.lock().await.remove(&uid);
            started.map(|rt| {
                let changed = rt.changed.clone();
                info!(
                    pod = rt.name,
                    namespace = rt.namespace,
                    ip = rt.ip,
                    "pod started"
                );
                pods.insert(uid.clone(), rt);
                changed
            })
        };
        self.start_done.notify_waiters();
        match started {
            Ok(changed) => {
                self.retries.lock().await.remove(&uid);
                self.write_hosts().await;
                tokio::spawn(self.clone().status_writer(uid, changed));
            }
            Err(e) => {
                warn!(pod = pod.metadata.name, error = %e, "cannot start pod");
                self.report_failure(&pod, &e.to_string()).await;
                self.clone().retry_later(pod).await;
            }
        }
    }

    /// Tries a pod that could not start again after a back-off, from its current object, unless
    /// a retry is already waiting (watch events of the same pod land here too).
    async fn retry_later(self: Arc<Self>, pod: Pod) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let attempt = {
            let mut retries = self.retries.lock().await;
            let (n, pending) = retries.entry(uid.clone()).or_default();
            if *pending {
                return;
            }
            (*n, *pending) = (*n + 1, true);
            *n
        };
        let delay = RETRY_FIRST
            .saturating_mul(1 << (attempt - 1).min(8))
            .min(RETRY_MAX);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some((_, pending)) = self.retries.lock().await.get_mut(&uid) {
                *pending = false;
            }
            let ns = pod.metadata.namespace.clone().unwrap_or_default();
            let name = pod.metadata.name.clone().unwrap_or_default();
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
            match api.get_opt(&name).await {
                Ok(Some(now)) if now.metadata.uid.as_deref() == Some(uid.as_str()) => {
                    self.sync_again(now).await
                }
                // Gone or replaced: nothing to retry.
                Ok(_) => {
                    self.retries.lock().await.remove(&uid);
                }
                // Try with the copy we have: a failure schedules the next retry.
                Err(e) => {
                    warn!(pod = name, error = %e, "cannot read pod to retry its start");
                    self.sync_again(pod).await
                }
            }
        });
    }

    /// `sync` behind a box: a retry calls it from inside it, and the box's declared `Send`
    /// ends the otherwise infinite future type.
    fn sync_again(
        self: Arc<Self>,
        pod: Pod,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(self.sync(pod))
    }

    async fn bind(&self, pod: &Pod) {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let binding: Binding = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": name, "namespace": ns},
            "target": {"apiVersion": "v1", "kind": "Node", "name": self.cfg.node_name},
        }))
        .expect("binding");
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        match api
            .create_subresource::<_, serde_json::Value>(
                "binding",
                &name,
                &PostParams::default(),
                &binding,
            )
            .await
        {
            Ok(_) => info!(pod = name, namespace = ns, "bound"),
            // Already bound (a second event for the same pod) is fine.
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => warn!(pod = name, error = %e, "bind failed"),
        }
    }

    async fn allocate_ip(&self) -> anyhow::Result<String> {
        let mut used = self.ips.lock().await;
        // a = 255 holds the cluster's own addresses (10.244.255.1).
        let n = (0u8..=254)
            .flat_map(|a| (2u8..=250).map(move |b| (a, b)))
            .find(|n| !used.contains(n))
            .ok_or_else(|| anyhow::anyhow!("no free pod IP"))?;
        used.insert(n);
        Ok(format!("{}{}.{}", self.cfg.pod_cidr_prefix, n.0, n.1))
    }

    async fn release_ip(&self, ip: &str) {
        let octets = ip
            .strip_prefix(&self.cfg.pod_cidr_prefix)
            .and_then(|rest| rest.split_once('.'))
            .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)));
        if let Some(n) = octets {
            self.ips.lock().await.remove(&n);
        }
    }

    async fn start(&self, pod: &Pod) -> anyhow::Result<PodRuntime> {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let spec = pod.spec.clone().unwrap_or_default();
        let ip = self.allocate_ip().await?;
        let dir: PathBuf = self.cfg.state_dir.join("pods").join(&uid);
        std::fs::create_dir_all(&dir)?;
        let result = async {
            let volumes = env::volumes(&self.client, pod, &dir).await?;
            let mut launches = Vec::new();
            for c in &spec.containers {
                let image = c.image.clone().unwrap_or_default();
                let (mapping, tag) = self.cfg.resolve(&image).ok_or_else(|| {
                    anyhow::anyhow!("image {image} is not mapped to a local executable")
                })?;
                let mut vars: Vec<(String, String)> = mapping
                    .env
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                vars.extend(env::resolve(&self.client, pod, c, &ip, &self.cfg.node_ip).await?);
                if let (Some(var), Some(tag)) = (&mapping.tag_env, tag) {
                    vars.push((var.clone(), tag));
                }
                let env_map: BTreeMap<String, String> = vars.iter().cloned().collect();
                // `command[0]` names the image's own binary; what follows are its arguments.
                let mut args: Vec<String> = c
                    .command
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .skip(1)
                    .collect();
                args.extend(c.args.clone().unwrap_or_default());
                let args = args.iter().map(|a| env::expand(a, &env_map)).collect();
                let mounts = c
                    .volume_mounts
                    .iter()
                    .flatten()
                    .filter_map(|m| {
                        volumes
                            .get(&m.name)
                            .map(|src| (src.clone(), m.mount_path.clone()))
                    })
                    .collect();
                launches.push(Launch {
                    container: c.clone(),
                    program: mapping.command.clone(),
                    args,
                    env: vars,
                    mounts,
                });
            }
            let ns = netns::create(&uid, &ip).await?;
            Ok::<_, anyhow::Error>(PodRuntime::start(
                pod,
                ip.clone(),
                ns,
                dir.clone(),
                launches,
                &self.cfg,
            ))
        }
        .await;
        if result.is_err() {
            netns::delete(&uid).await;
            self.release_ip(&ip).await;
        }
        result
    }

    async fn stop(&self, uid: &str, grace: Duration) {
        // A pod deleted while it starts is stopped once it has started.
        let rt = loop {
            let done = self.start_done.notified();
            {
                let mut pods = self.pods.lock().await;
                if let Some(rt) = pods.remove(uid) {
                    break Some(rt);
                }
                if !self.starting.lock().await.contains(uid) {
                    break None;
                }
            }
            done.await;
        };
        if let Some(rt) = rt {
            let (name, ip) = (rt.name.clone(), rt.ip.clone());
            rt.stop(grace).await;
            netns::delete(uid).await;
            self.release_ip(&ip).await;
            self.write_hosts().await;
            info!(pod = name, "pod stopped");
        }
    }

    /// The final delete with grace 0 once the containers are gone (uid precondition: never a
    /// successor with the same name).
    async fn force_delete(&self, pod: &Pod) {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: pod.metadata.uid.clone(),
                resource_version: None,
            }),
            ..Default::default()
        };
        match api.delete(&name, &dp).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
            Err(e) => warn!(pod = name, error = %e, "delete failed"),
        }
    }

    async fn gone(&self, pod: Pod) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        // Removed from the API without our final delete (e.g. a force delete): kill now.
        self.stop(&uid, Duration::ZERO).await;
    }

    async fn report_failure(&self, pod: &Pod, message: &str) {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let name = pod.metadata.name.clone().unwrap_or_default();
        let status = serde_json::json!({"status": {"phase": "Pending", "message": message, "reason": "ContainerCreateFailed"}});
        let _ = api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
            .await;
    }

    /// Writes the pod's status whenever a container changes state.
    async fn status_writer(self: Arc<Self>, uid: String, changed: Arc<Notify>) {
        loop {
            let (ns, name, body) = {
                let pods = self.pods.lock().await;
                let Some(rt) = pods.get(&uid) else { return };
                let states = rt.containers.lock().unwrap().clone();
                (
                    rt.namespace.clone(),
                    rt.name.clone(),
                    status_json(&rt.ip, &self.cfg.node_ip, &rt.started, true, &states),
                )
            };
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
            let patch = serde_json::json!({"status": body});
            match api
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => return,
                Err(e) => warn!(pod = name, error = %e, "status update failed"),
            }
            // Wake on the next change, and at least every few seconds in case a write was lost.
            let _ = tokio::time::timeout(Duration::from_secs(5), changed.notified()).await;
        }
    }

    /// StatefulSet pods' stable names (`<hostname>.<subdomain>.<ns>.svc.cluster.local`) in the
    /// cluster namespace's hosts file, rewritten in place so `ip netns exec` mounts see it.
    async fn write_hosts(&self) {
        let Some(path) = &self.cfg.hosts_file else {
            return;
        };
        let mut lines = vec![
            "127.0.0.1 localhost".to_string(),
            format!(
                "{} kubernetes kubernetes.default.svc kubernetes.default.svc.cluster.local",
                self.cfg.node_ip
            ),
        ];
        {
            let pods = self.pods.lock().await;
            for rt in pods.values() {
                let (ns, ip, host) = (&rt.namespace, &rt.ip, &rt.hostname);
                match &rt.subdomain {
                    Some(sub) => lines.push(format!(
                        "{ip} {host}.{sub}.{ns}.svc.cluster.local {host}.{sub}.{ns}.svc {host}.{sub}.{ns}"
                    )),
                    None => lines.push(format!("{ip} {}", rt.name)),
                }
            }
        }
        let text = lines.join("\n") + "\n";
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        // In place (truncate + write), never rename: bind mounts keep pointing at this inode.
        if let Err(e) = tokio::fs::write(path, text).await {
            warn!(error = %e, "cannot write hosts file");
        }
    }
}
