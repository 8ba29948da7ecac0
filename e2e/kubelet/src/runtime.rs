//! Running one pod: each container is a host process inside the pod's network namespace (and a
//! private mount namespace for its volumes), supervised per `restartPolicy`, probed for
//! readiness and liveness, logging in CRI format; the pod's status follows what happens.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::api::core::v1::{Container, Pod, Probe};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::{Child, Command},
    sync::{Notify, watch},
};
use tracing::{info, warn};

use crate::config::Config;

/// What one container is doing, for the pod status.
#[derive(Debug, Clone, Default)]
pub struct ContainerState {
    pub name: String,
    pub image: String,
    pub restart_count: i32,
    pub ready: bool,
    pub running_since: Option<DateTime<Utc>>,
    /// The last exit: (exit code, started, finished).
    pub last_exit: Option<(i32, DateTime<Utc>, DateTime<Utc>)>,
    /// Waiting to restart (back-off) or to start.
    pub waiting: Option<String>,
    /// Exited for good (restart policy says no more).
    pub done: bool,
}

/// A running pod.
pub struct PodRuntime {
    pub namespace: String,
    pub name: String,
    pub ip: String,
    /// The pod's `hostname` and `subdomain` (a StatefulSet pod's stable DNS name), kept so the
    /// hosts file is written without reading every pod back from the apiserver.
    pub hostname: String,
    pub subdomain: Option<String>,
    pub dir: PathBuf,
    pub started: DateTime<Utc>,
    pub containers: Arc<Mutex<Vec<ContainerState>>>,
    /// Signals the status writer that something changed.
    pub changed: Arc<Notify>,
    stop: watch::Sender<Option<Duration>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Everything needed to start one container.
pub struct Launch {
    pub container: Container,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// (host directory, mount path, read only)
    pub mounts: Vec<(String, String)>,
}

pub fn now() -> DateTime<Utc> {
    Utc::now()
}

pub fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl PodRuntime {
    pub fn log_path(dir: &Path, container: &str, previous: bool) -> PathBuf {
        dir.join("logs").join(if previous {
            format!("{container}.previous.log")
        } else {
            format!("{container}.log")
        })
    }

    /// Starts every container of the pod.
    pub fn start(
        pod: &Pod,
        ip: String,
        netns: String,
        dir: PathBuf,
        launches: Vec<Launch>,
        cfg: &Config,
    ) -> PodRuntime {
        let (stop, _) = watch::channel(None);
        let changed = Arc::new(Notify::new());
        let restart_policy = pod
            .spec
            .as_ref()
            .and_then(|s| s.restart_policy.clone())
            .unwrap_or_else(|| "Always".into());
        let states: Vec<ContainerState> = launches
            .iter()
            .map(|l| ContainerState {
                name: l.container.name.clone(),
                image: l.container.image.clone().unwrap_or_default(),
                waiting: Some("ContainerCreating".into()),
                ..Default::default()
            })
            .collect();
        let containers = Arc::new(Mutex::new(states));
        let _ = std::fs::create_dir_all(dir.join("logs"));
        let mut tasks = Vec::new();
        for (index, launch) in launches.into_iter().enumerate() {
            let sup = Supervisor {
                index,
                launch: Arc::new(launch),
                netns: netns.clone(),
                ip: ip.clone(),
                dir: dir.clone(),
                restart_policy: restart_policy.clone(),
                containers: containers.clone(),
                changed: changed.clone(),
                stop: stop.subscribe(),
                probe_cap: Duration::from_secs(cfg.probe_period_cap_seconds.max(1)),
            };
            tasks.push(tokio::spawn(sup.run()));
        }
        let name = pod.metadata.name.clone().unwrap_or_default();
        let spec = pod.spec.as_ref();
        PodRuntime {
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            hostname: spec
                .and_then(|s| s.hostname.clone())
                .unwrap_or(name.clone()),
            subdomain: spec.and_then(|s| s.subdomain.clone()),
            name,
            ip,
            dir,
            started: now(),
            containers,
            changed,
            stop,
            tasks,
        }
    }

    /// Stops every container: SIGTERM, then SIGKILL after `grace`; returns when all exited.
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(Some(grace));
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

struct Supervisor {
    index: usize,
    launch: Arc<Launch>,
    netns: String,
    ip: String,
    dir: PathBuf,
    restart_policy: String,
    containers: Arc<Mutex<Vec<ContainerState>>>,
    changed: Arc<Notify>,
    stop: watch::Receiver<Option<Duration>>,
    probe_cap: Duration,
}

impl Supervisor {
    fn update(&self, f: impl FnOnce(&mut ContainerState)) {
        {
            let mut c = self.containers.lock().unwrap();
            f(&mut c[self.index]);
        }
        self.changed.notify_one();
    }

    fn spawn(&self) -> std::io::Result<Child> {
        let l = &self.launch;
        // unshare (exec) → sh (exec) → nsenter (exec) → program: one PID, in its own process
        // group, with the pod's mounts and network.
        let mut script = String::new();
        for (i, _) in l.mounts.iter().enumerate() {
            script.push_str(&format!(
                "mkdir -p \"$M{i}T\" && mount --bind \"$M{i}S\" \"$M{i}T\" || exit 126; "
            ));
        }
        script.push_str("exec nsenter --net=\"$SO_NETNS_PATH\" -- \"$@\"");
        let mut cmd = Command::new("unshare");
        cmd.args([
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            &script,
            "sh",
        ]);
        cmd.arg(&l.program).args(&l.args);
        cmd.env_clear()
            .envs(l.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd.env("SO_NETNS_PATH", crate::netns::path(&self.netns));
        for (i, (source, target)) in l.mounts.iter().enumerate() {
            cmd.env(format!("M{i}S"), source)
                .env(format!("M{i}T"), target);
        }
        if let Some(dir) = &l.container.working_dir {
            cmd.current_dir(dir);
        }
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd.spawn()
    }

    async fn run(mut self) {
        let name = self.launch.container.name.clone();
        let mut restarts = 0u32;
        loop {
            if self.stop.borrow().is_some() {
                return;
            }
            // The previous run's log stays available as `--previous`.
            let current = PodRuntime::log_path(&self.dir, &name, false);
            if current.exists() {
                let _ = std::fs::rename(&current, PodRuntime::log_path(&self.dir, &name, true));
            }
            let started = now();
            let mut child = match self.spawn() {
                Ok(c) => c,
                Err(e) => {
                    warn!(container = name, error = %e, "cannot start container");
                    self.update(|c| c.waiting = Some(format!("RunContainerError: {e}")));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let pid = child.id().unwrap_or(0);
            info!(container = name, pid, "container started");
            let log_task = tokio::spawn(write_logs(
                current.clone(),
                child.stdout.take(),
                child.stderr.take(),
            ));
            let has_readiness = self.launch.container.readiness_probe.is_some();
            self.update(|c| {
                c.running_since = Some(started);
                c.waiting = None;
                c.ready = !has_readiness;
            });
            let probes = tokio::spawn(probe_loop(
                self.launch.clone(),
                self.ip.clone(),
                self.netns.clone(),
                pid,
                self.index,
                self.containers.clone(),
                self.changed.clone(),
                self.probe_cap,
            ));
            let mut stop = self.stop.clone();
            let code = tokio::select! {
                status = child.wait() => status.ok().and_then(|s| s.code().or_else(|| {
                    use std::os::unix::process::ExitStatusExt;
                    s.signal().map(|sig| 128 + sig)
                })).unwrap_or(-1),
                grace = async {
                    // Copy the grace period out: the watch guard must not live across awaits.
                    stop.wait_for(|s| s.is_some()).await.map(|g| g.unwrap_or_default()).unwrap_or_default()
                } => terminate(&mut child, pid, grace).await,
            };
            probes.abort();
            let _ = log_task.await;
            let finished = now();
            info!(container = name, code, "container exited");
            let stopping = self.stop.borrow().is_some();
            let again = !stopping
                && match self.restart_policy.as_str() {
                    "Never" => false,
                    "OnFailure" => code != 0,
                    _ => true,
                };
            self.update(|c| {
                c.running_since = None;
                c.ready = false;
                c.last_exit = Some((code, started, finished));
                c.done = !again;
                if again {
                    c.waiting = Some("CrashLoopBackOff".into());
                }
            });
            if !again {
                return;
            }
            // Back-off like the kubelet's, but short: a test cluster wants restarts quickly.
            let backoff = Duration::from_millis(200 * 2u64.pow(restarts.min(4)));
            restarts += 1;
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = self.stop.wait_for(|s| s.is_some()) => return,
            }
            self.update(|c| c.restart_count += 1);
        }
    }
}

/// SIGTERM to the process group, SIGKILL after `grace`.
async fn terminate(child: &mut Child, pid: u32, grace: Duration) -> i32 {
    if !grace.is_zero() {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{pid}")])
            .status()
            .await;
        if let Ok(Ok(status)) = tokio::time::timeout(grace, child.wait()).await {
            return status.code().unwrap_or(143);
        }
    }
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .status()
        .await;
    let _ = child.start_kill();
    child
        .wait()
        .await
        .ok()
        .and_then(|s| s.code())
        .unwrap_or(137)
}

/// Copies stdout/stderr into the log file in CRI format: `<RFC3339Nano> <stream> F <line>`.
async fn write_logs(
    path: PathBuf,
    stdout: Option<tokio::process::ChildStdout>,
    stderr: Option<tokio::process::ChildStderr>,
) {
    let file = match tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .await
    {
        Ok(f) => Arc::new(tokio::sync::Mutex::new(f)),
        Err(e) => {
            warn!(error = %e, "cannot open log file");
            return;
        }
    };
    async fn pump<R: tokio::io::AsyncRead + Unpin>(
        r: R,
        stream: &str,
        file: Arc<tokio::sync::Mutex<tokio::fs::File>>,
    ) {
        let mut lines = BufReader::new(r).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let ts = Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true);
            let mut f = file.lock().await;
            let _ = f
                .write_all(format!("{ts} {stream} F {line}\n").as_bytes())
                .await;
        }
    }
    let a = stdout.map(|o| tokio::spawn(pump(o, "stdout", file.clone())));
    let b = stderr.map(|e| tokio::spawn(pump(e, "stderr", file.clone())));
    for t in [a, b].into_iter().flatten() {
        let _ = t.await;
    }
}

/// Readiness and liveness probes for one container run.
#[allow(clippy::too_many_arguments)]
async fn probe_loop(
    launch: Arc<Launch>,
    ip: String,
    netns: String,
    pid: u32,
    index: usize,
    containers: Arc<Mutex<Vec<ContainerState>>>,
    changed: Arc<Notify>,
    cap: Duration,
) {
    let c = &launch.container;
    let readiness = c.readiness_probe.clone();
    let liveness = c.liveness_probe.clone();
    if readiness.is_none() && liveness.is_none() {
        return;
    }
    let period = |p: &Option<Probe>| {
        p.as_ref()
            .map(|p| Duration::from_secs(p.period_seconds.unwrap_or(10).max(1) as u64).min(cap))
    };
    let tick = [period(&readiness), period(&liveness)]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(cap);
    let delay = |p: &Option<Probe>| {
        p.as_ref()
            .and_then(|p| p.initial_delay_seconds)
            .unwrap_or(0)
            .max(0) as u64
    };
    tokio::time::sleep(Duration::from_secs(delay(&readiness).min(delay(&liveness)))).await;
    let (mut ready_ok, mut ready_fail, mut live_fail) = (0, 0, 0);
    loop {
        if let Some(p) = &readiness {
            let ok = probe(p, &launch, &ip, &netns).await;
            if ok {
                ready_ok += 1;
                ready_fail = 0;
            } else {
                ready_fail += 1;
                ready_ok = 0;
            }
            let success = p.success_threshold.unwrap_or(1).max(1);
            let failure = p.failure_threshold.unwrap_or(3).max(1);
            let new_ready = if ready_ok >= success {
                Some(true)
            } else if ready_fail >= failure {
                Some(false)
            } else {
                None
            };
            if let Some(r) = new_ready {
                let mut cs = containers.lock().unwrap();
                if cs[index].ready != r {
                    cs[index].ready = r;
                    drop(cs);
                    changed.notify_one();
                }
            }
        }
        if let Some(p) = &liveness {
            if probe(p, &launch, &ip, &netns).await {
                live_fail = 0;
            } else {
                live_fail += 1;
                if live_fail >= p.failure_threshold.unwrap_or(3).max(1) {
                    warn!(container = c.name, "liveness probe failed; killing");
                    let _ = Command::new("kill")
                        .args(["-KILL", "--", &format!("-{pid}")])
                        .status()
                        .await;
                    return;
                }
            }
        }
        tokio::time::sleep(tick).await;
    }
}

/// Runs one probe: HTTP GET (2xx/3xx), TCP connect, or exec (exit 0) in the pod's namespace.
async fn probe(p: &Probe, launch: &Launch, ip: &str, netns: &str) -> bool {
    let timeout = Duration::from_secs(p.timeout_seconds.unwrap_or(1).max(1) as u64);
    let port_of =
        |port: &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString| -> Option<u16> {
            use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::*;
            match port {
                Int(n) => u16::try_from(*n).ok(),
                String(name) => launch
                    .container
                    .ports
                    .iter()
                    .flatten()
                    .find(|cp| cp.name.as_deref() == Some(name))
                    .and_then(|cp| u16::try_from(cp.container_port).ok()),
            }
        };
    let fut = async {
        if let Some(h) = &p.http_get {
            let host = h.host.clone().unwrap_or_else(|| ip.to_string());
            let Some(port) = port_of(&h.port) else {
                return false;
            };
            let path = h.path.clone().unwrap_or_else(|| "/".into());
            return http_ok(&host, port, &path).await;
        }
        if let Some(t) = &p.tcp_socket {
            let host = t.host.clone().unwrap_or_else(|| ip.to_string());
            let Some(port) = port_of(&t.port) else {
                return false;
            };
            return tokio::net::TcpStream::connect((host.as_str(), port))
                .await
                .is_ok();
        }
        if let Some(e) = &p.exec {
            let cmd: Vec<String> = e.command.clone().unwrap_or_default();
            if cmd.is_empty() {
                return false;
            }
            let status = Command::new("nsenter")
                .arg(format!("--net={}", crate::netns::path(netns)))
                .arg("--")
                .args(&cmd)
                .env_clear()
                .envs(launch.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await;
            return status.map(|s| s.success()).unwrap_or(false);
        }
        false
    };
    tokio::time::timeout(timeout, fut).await.unwrap_or(false)
}

/// A plain HTTP/1.1 GET; success is a 2xx or 3xx status.
async fn http_ok(host: &str, port: u16, path: &str) -> bool {
    use tokio::io::AsyncReadExt;
    let Ok(mut s) = tokio::net::TcpStream::connect((host, port)).await else {
        return false;
    };
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: kube-probe/1.37\r\nConnection: close\r\n\r\n"
    );
    if s.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    if s.read_exact(&mut head).await.is_err() {
        return false;
    }
    let code = std::str::from_utf8(&head[9..12])
        .ok()
        .and_then(|c| c.parse::<u16>().ok())
        .unwrap_or(0);
    (200..400).contains(&code)
}

/// The pod's status as the kubelet reports it.
pub fn status_json(
    rt_ip: &str,
    node_ip: &str,
    started: &DateTime<Utc>,
    pod_started_ok: bool,
    states: &[ContainerState],
) -> serde_json::Value {
    let all_ready = !states.is_empty() && states.iter().all(|c| c.ready);
    let any_running = states.iter().any(|c| c.running_since.is_some());
    let all_done = states.iter().all(|c| c.done);
    let phase = if all_done && !states.is_empty() {
        if states
            .iter()
            .all(|c| c.last_exit.map(|e| e.0 == 0).unwrap_or(false))
        {
            "Succeeded"
        } else {
            "Failed"
        }
    } else if any_running || states.iter().any(|c| c.last_exit.is_some()) {
        "Running"
    } else {
        "Pending"
    };
    let t = rfc3339(&now());
    let cond = |kind: &str, ok: bool| serde_json::json!({"type": kind, "status": if ok { "True" } else { "False" }, "lastTransitionTime": t});
    let term = |e: &(i32, DateTime<Utc>, DateTime<Utc>)| serde_json::json!({"terminated": {"exitCode": e.0, "reason": if e.0 == 0 { "Completed" } else { "Error" }, "startedAt": rfc3339(&e.1), "finishedAt": rfc3339(&e.2)}});
    let statuses: Vec<serde_json::Value> = states
        .iter()
        .map(|c| {
            let state = if let Some(since) = c.running_since {
                serde_json::json!({"running": {"startedAt": rfc3339(&since)}})
            } else if let Some(reason) = &c.waiting {
                serde_json::json!({"waiting": {"reason": reason.split(':').next().unwrap_or("Waiting")}})
            } else if let Some(e) = &c.last_exit {
                term(e)
            } else {
                serde_json::json!({"waiting": {"reason": "ContainerCreating"}})
            };
            let last = match (&c.last_exit, c.running_since.is_some() || c.waiting.is_some()) {
                (Some(e), true) => term(e),
                _ => serde_json::json!({}),
            };
            serde_json::json!({
                "name": c.name, "image": c.image, "imageID": format!("so-kubelet://{}", c.image),
                "containerID": format!("so-kubelet://{}-{}", c.name, c.restart_count),
                "ready": c.ready, "started": c.running_since.is_some(),
                "restartCount": c.restart_count, "state": state, "lastState": last,
            })
        })
        .collect();
    serde_json::json!({
        "phase": phase,
        "hostIP": node_ip, "hostIPs": [{"ip": node_ip}],
        "podIP": rt_ip, "podIPs": [{"ip": rt_ip}],
        "startTime": rfc3339(started),
        "conditions": [
            cond("PodReadyToStartContainers", pod_started_ok),
            cond("Initialized", true),
            cond("ContainersReady", all_ready),
            cond("Ready", all_ready),
            cond("PodScheduled", true),
        ],
        "containerStatuses": statuses,
    })
}
