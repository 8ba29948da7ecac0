//! The life of one mzsim process: bind the listeners, open the catalog, take environmentd's
//! boot decision, and then serve as leader or as a read-only generation until it is promoted,
//! fenced out, or told to stop. Returns the process exit code.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use tokio::{net::TcpListener, sync::OnceCell};
use tracing::{error, info, warn};

use crate::{
    catalog::{Boot, Catalog, CatalogError, Promotion, fnv1a},
    config::Config,
    deploy::{Deployment, Status},
    http, kubernetes,
    sql::{Session, SessionHandlers},
};

/// Exit code of environmentd's `halt!`: the process wants to be restarted.
pub const EXIT_HALT: i32 = 2;
/// Exit code of a crash (failpoints, unexpected errors).
pub const EXIT_CRASH: i32 = 1;

/// Approximate defaults of the system parameters ConfigureMz sets, for `SHOW` before any
/// `ALTER SYSTEM` (Materialize's real defaults vary by release).
const BUILTIN_PARAMETERS: &[(&str, &str)] = &[
    ("max_tables", "200"),
    ("max_sinks", "25"),
    ("max_sources", "200"),
    ("max_materialized_views", "100"),
    ("max_objects_per_schema", "1000"),
    ("max_secrets", "100"),
    ("max_clusters", "10"),
    ("max_roles", "1000"),
    ("enable_rbac_checks", "true"),
];

/// State shared by the HTTP and SQL servers.
pub struct Sim {
    pub config: Config,
    pub deployment: Deployment,
    /// What `mz_version()` answers: `v<semver> (<sha9>)`.
    pub version_string: String,
    catalog: OnceCell<Catalog>,
    read_only: AtomicBool,
    ready: AtomicBool,
    /// The Kubernetes orchestrator's Secrets controller (strict mode, `--orchestrator=kubernetes`).
    secrets: Option<kubernetes::Secrets>,
}

impl Sim {
    pub fn new(config: Config, secrets: Option<kubernetes::Secrets>) -> Sim {
        let sha = fnv1a(config.version.to_string().as_bytes()) & 0xf_ffff_ffff;
        let version_string = format!("{} ({sha:09x})", config.version);
        Sim {
            config,
            deployment: Deployment::default(),
            version_string,
            catalog: OnceCell::new(),
            read_only: AtomicBool::new(false),
            ready: AtomicBool::new(false),
            secrets,
        }
    }

    /// CREATE SECRET `name` was committed: environmentd keeps its value in a Kubernetes Secret.
    pub async fn secret_created(&self, name: &str, contents: &[u8]) -> Result<(), String> {
        let Some(secrets) = &self.secrets else {
            return Ok(());
        };
        let id = self
            .catalog()
            .secret_id(name)
            .await
            .map_err(|e| e.to_string())?;
        secrets
            .ensure(&id, contents)
            .await
            .map_err(|e| format!("ensuring the Secret of {name}: {e}"))
    }

    /// DROP SECRET `name`: its Kubernetes Secret goes too.
    pub async fn secret_dropped(&self, name: &str) -> Result<(), String> {
        let Some(secrets) = &self.secrets else {
            return Ok(());
        };
        let id = self
            .catalog()
            .drop_secret_id(name)
            .await
            .map_err(|e| e.to_string())?;
        match id {
            Some(id) => secrets
                .delete(&id)
                .await
                .map_err(|e| format!("deleting the Secret of {name}: {e}")),
            None => Ok(()),
        }
    }

    /// The catalog; SQL sessions start only after it is open.
    pub fn catalog(&self) -> &Catalog {
        self.catalog
            .get()
            .expect("the catalog is open before SQL is served")
    }

    pub fn catalog_if_open(&self) -> Option<&Catalog> {
        self.catalog.get()
    }

    pub fn is_read_only(&self) -> bool {
        self.read_only.load(Ordering::SeqCst)
    }

    /// `/api/readyz`: the adapter is up (leader or read-only).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// A system parameter's value: ALTER SYSTEM beats the command line, which beats the
    /// built-in default. `None` for names mzsim does not know.
    pub async fn system_parameter(&self, name: &str) -> Result<Option<String>, CatalogError> {
        let altered = self.catalog().system_parameters().await?;
        if let Some((_, v)) = altered.into_iter().find(|(n, _)| n == name) {
            return Ok(Some(v));
        }
        if let Some(v) = self.config.system_parameter_defaults.get(name) {
            return Ok(Some(v.clone()));
        }
        Ok(BUILTIN_PARAMETERS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string()))
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}

/// Runs the process; the result is its exit code.
pub async fn run(config: Config, secrets: Option<kubernetes::Secrets>) -> i32 {
    let started = std::time::SystemTime::now();
    for flag in &config.ignored {
        info!(flag, "ignoring environmentd flag mzsim does not simulate");
    }
    if let Some(delay) = config.failpoints.slow_boot {
        info!(?delay, "failpoint slow_boot");
        tokio::time::sleep(delay).await;
    }
    let sim = Arc::new(Sim::new(config, secrets));
    let l = sim.config.listeners.clone();
    // Listeners first: the leader API answers (Initializing) while the catalog opens.
    let listeners = async {
        Ok::<_, String>((
            bind(l.internal_http).await?,
            bind(l.http).await?,
            bind(l.sql).await?,
            bind(l.internal_sql).await?,
        ))
    };
    let (internal_http, external_http, sql, internal_sql) = match listeners.await {
        Ok(l) => l,
        Err(e) => {
            error!("{e}");
            return EXIT_CRASH;
        }
    };
    tokio::spawn(http::serve(
        internal_http,
        http::internal_router(sim.clone()),
    ));
    tokio::spawn(http::serve(
        external_http,
        http::external_router(sim.clone()),
    ));

    let catalog = match Catalog::open(&sim.config.metadata_url, &sim.config.environment_id).await {
        Ok(c) => c,
        Err(e) => {
            error!("cannot open the catalog: {e}");
            return EXIT_CRASH;
        }
    };
    let _ = sim.catalog.set(catalog);
    let (generation, version) = (sim.config.deploy_generation, sim.config.version.clone());
    tokio::spawn(log_events(sim.clone(), generation, started));
    let boot = match sim.catalog().boot(generation, &version).await {
        Ok(b) => b,
        Err(e) => {
            error!("cannot open the catalog: {e}");
            return EXIT_CRASH;
        }
    };
    info!(?boot, generation, %version, environment = sim.config.environment_id, "boot decision");
    match boot {
        Boot::FencedOut { catalog_generation } => {
            info!(catalog_generation, "this deployment has been fenced out");
            0
        }
        Boot::Refused(reason) => {
            error!("halting: {reason}");
            EXIT_HALT
        }
        Boot::Leader { epoch } => {
            sim.deployment.set(Status::IsLeader);
            serve_sql(&sim, sql, internal_sql);
            sim.ready.store(true, Ordering::SeqCst);
            tokio::select! {
                code = watch_fence(&sim, generation as i64, epoch) => code,
                code = shutdown_signal() => code,
            }
        }
        Boot::ReadOnly { next_item_id } => {
            sim.read_only.store(true, Ordering::SeqCst);
            serve_sql(&sim, sql, internal_sql);
            sim.ready.store(true, Ordering::SeqCst);
            tokio::select! {
                code = read_only_generation(&sim, next_item_id) => code,
                code = shutdown_signal() => code,
            }
        }
    }
}

/// Records when this process started and every deployment status it takes, with the time
/// (`mz_internal.mzsim_events`): the benchmark's measure of Materialize's own time in a step
/// (booting, catching up, restarting after promotion). Best effort: a lost event only leaves
/// a figure out.
async fn log_events(sim: Arc<Sim>, generation: u64, started: std::time::SystemTime) {
    let mut changes = sim.deployment.subscribe();
    if sim
        .catalog()
        .event(generation, "Started", started)
        .await
        .is_err()
    {
        return;
    }
    loop {
        changes.borrow_and_update();
        if !write_events(&sim, generation).await || changes.changed().await.is_err() {
            return;
        }
    }
}

/// Writes the statuses taken since the last write; whether the catalog took them. Each write
/// queues on the catalog's connection as soon as its statuses are drained, so events are
/// stored in the order they were taken.
async fn write_events(sim: &Sim, generation: u64) -> bool {
    for (status, at) in sim.deployment.drain_history() {
        let event = format!("{status:?}");
        if sim.catalog().event(generation, &event, at).await.is_err() {
            return false;
        }
    }
    true
}

fn serve_sql(sim: &Arc<Sim>, external: TcpListener, internal: TcpListener) {
    for (listener, is_internal) in [(external, false), (internal, true)] {
        let sim = sim.clone();
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((socket, _)) => {
                        let session = Arc::new(Session::new(sim.clone(), is_internal));
                        tokio::spawn(pgwire::tokio::process_socket(
                            socket,
                            None,
                            SessionHandlers(session),
                        ));
                    }
                    Err(e) => warn!(error = %e, "accept failed"),
                }
            }
        });
    }
}

/// SIGTERM/SIGINT end the process cleanly.
async fn shutdown_signal() -> i32 {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("signal handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    info!("terminating on signal");
    TERMINATED.store(true, Ordering::SeqCst);
    0
}

/// Set when the process ends because it was told to (SIGTERM, SIGINT), not on its own.
static TERMINATED: AtomicBool = AtomicBool::new(false);

/// Whether [`run`] ended on a signal: a graceful exit of environmentd's own (fenced out) is
/// what the environmentd image's entrypoint sleeps after, a requested stop is not.
pub fn terminated() -> bool {
    TERMINATED.load(Ordering::SeqCst)
}

/// A leader exits as soon as a newer fence token appears (a promotion or a restart elsewhere).
async fn watch_fence(sim: &Sim, generation: i64, epoch: i64) -> i32 {
    let mut tick = tokio::time::interval(sim.config.fence_check_interval);
    loop {
        tick.tick().await;
        match sim.catalog().fence_token().await {
            Ok(token) if token != (generation, epoch) => {
                info!(?token, mine = ?(generation, epoch), "this deployment has been fenced out");
                return 0;
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "cannot read the fence token"),
        }
    }
}

/// Catch up, become ready, wait for promotion, fence the old leader and halt to reboot as leader.
async fn read_only_generation(sim: &Sim, next_item_id: i64) -> i32 {
    let f = &sim.config.failpoints;
    sim.deployment.set(Status::CatchingUp);
    let catch_up = async {
        if f.never_ready {
            std::future::pending::<()>().await;
        }
        if f.crash_during_catchup {
            tokio::time::sleep(sim.config.catchup / 2).await;
            error!("failpoint crash_during_catchup");
            std::process::exit(EXIT_CRASH);
        }
        tokio::time::sleep(sim.config.catchup).await;
    };
    // New catalog items made by the old leader while we catch up: environmentd halts and
    // reboots in read-only mode to pick them up.
    let ddl_check = async {
        let mut tick = tokio::time::interval(sim.config.ddl_check_interval);
        loop {
            tick.tick().await;
            match sim.catalog().next_item_id().await {
                Ok(id) if id != next_item_id => return,
                Ok(_) => {}
                Err(e) => warn!(error = %e, "cannot read the catalog during catch-up"),
            }
        }
    };
    tokio::select! {
        _ = catch_up => info!("caught up"),
        _ = sim.deployment.skip_requested() => info!("catch-up skipped on request"),
        _ = ddl_check => {
            error!("halting: the leader created new catalog items; rebooting in read-only mode");
            return EXIT_HALT;
        }
    }
    sim.deployment.set(Status::ReadyToPromote);
    let mut status = sim.deployment.subscribe();
    if status.wait_for(|s| *s == Status::Promoting).await.is_err() {
        return EXIT_CRASH;
    }
    if f.exit_during_promotion {
        // Let the promote response reach the client before dying.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        error!("failpoint exit_during_promotion");
        return EXIT_CRASH;
    }
    match sim
        .catalog()
        .promote(
            sim.config.deploy_generation,
            &sim.config.version,
            sim.deployment.promote_wait(),
        )
        .await
    {
        Ok(Promotion::Promoted) => {
            // Written here, not by the event log: the process ends now.
            let now = std::time::SystemTime::now();
            write_events(sim, sim.config.deploy_generation).await;
            let _ = sim
                .catalog()
                .event(sim.config.deploy_generation, "Promoted", now)
                .await;
            info!("halting: fenced out old deployment; rebooting as leader");
            EXIT_HALT
        }
        Ok(Promotion::Fenced) => {
            info!("this deployment has been fenced out");
            0
        }
        Err(e) => {
            error!("promotion failed: {e}");
            EXIT_CRASH
        }
    }
}
