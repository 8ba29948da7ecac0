//! The operator's health over HTTP, for the Deployment's probes: `/healthz` answers while the
//! process serves at all (liveness), `/readyz` once the controller runs — the CRD answered and
//! the watches started — or waits as the standby, and says why not before that (readiness);
//! and Prometheus' `/metrics` ([`super::metrics`]).

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
};

use axum::{Router, extract::State, http::StatusCode, routing::get};
use tokio::net::TcpListener;
use tracing::info;

/// Counts runs by phase, for `/metrics` (set once the controller's cache exists).
type Phases = Box<dyn Fn() -> BTreeMap<String, i64> + Send + Sync>;

/// What the probes read.
pub struct Health {
    ready: AtomicBool,
    /// Waiting for the Lease (leader election): ready, as it serves the webhook.
    standby: AtomicBool,
    /// The webhook's CA is in its configuration (true when there is nothing to install).
    webhook_ready: AtomicBool,
    phases: OnceLock<Phases>,
}

impl Health {
    /// `webhook_pending`: ready only once [`Health::set_webhook_ready`] is called too.
    pub fn new(webhook_pending: bool) -> Health {
        Health {
            ready: AtomicBool::new(false),
            standby: AtomicBool::new(false),
            webhook_ready: AtomicBool::new(!webhook_pending),
            phases: OnceLock::new(),
        }
    }

    /// Where `/metrics` reads runs by phase from.
    pub fn set_phases(&self, phases: impl Fn() -> BTreeMap<String, i64> + Send + Sync + 'static) {
        let _ = self.phases.set(Box::new(phases));
    }

    fn metrics(&self) -> String {
        let phases = self.phases.get().map(|f| f()).unwrap_or_default();
        super::metrics::render(&phases)
    }

    /// The controller runs.
    pub fn set_ready(&self) {
        self.standby.store(false, Ordering::SeqCst);
        self.ready.store(true, Ordering::SeqCst);
    }

    /// Another process holds the Lease; this one waits for it.
    pub fn set_standby(&self) {
        self.standby.store(true, Ordering::SeqCst);
    }

    /// The webhook's generated CA is in the ValidatingWebhookConfiguration.
    pub fn set_webhook_ready(&self) {
        self.webhook_ready.store(true, Ordering::SeqCst);
    }

    fn readyz(&self) -> (StatusCode, &'static str) {
        if !self.webhook_ready.load(Ordering::SeqCst) {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: the webhook's CA is not in its ValidatingWebhookConfiguration yet\n",
            )
        } else if self.ready.load(Ordering::SeqCst) {
            (StatusCode::OK, "ready: reconciling\n")
        } else if self.standby.load(Ordering::SeqCst) {
            (StatusCode::OK, "ready: standby, waiting for the Lease\n")
        } else {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: the controller has not started (is the CRD installed?)\n",
            )
        }
    }
}

/// Binds `addr` (an error names it) and serves the probes until the process ends.
pub async fn serve(addr: SocketAddr, health: Arc<Health>) -> Result<(), String> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on --health-addr {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    info!(addr = %local, "serving /healthz, /readyz and /metrics");
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(|State(h): State<Arc<Health>>| async move { h.readyz() }),
        )
        .route(
            "/metrics",
            get(|State(h): State<Arc<Health>>| async move { h.metrics() }),
        )
        .with_state(health);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the health server stopped");
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn readyz_turns_ready_when_the_controller_runs_and_healthz_always_answers() {
        let health = Arc::new(Health::new(true));
        // A free port: bound, noted, released.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        serve(addr, health.clone()).await.unwrap();
        let get = |path: &str| {
            let url = format!("http://{addr}{path}");
            async move {
                let r = reqwest::get(url).await.unwrap();
                (r.status().as_u16(), r.text().await.unwrap())
            }
        };
        assert_eq!(get("/healthz").await, (200, "ok\n".into()));
        let (code, body) = get("/readyz").await;
        assert_eq!(code, 503);
        assert!(body.contains("not ready"), "{body}");
        health.set_standby();
        let (code, body) = get("/readyz").await;
        assert_eq!(code, 503);
        assert!(body.contains("webhook's CA"), "{body}");
        health.set_webhook_ready();
        let standby = (200, "ready: standby, waiting for the Lease\n".to_string());
        assert_eq!(get("/readyz").await, standby);
        health.set_ready();
        assert_eq!(get("/readyz").await, (200, "ready: reconciling\n".into()));
        // A port in use is an error naming the flag.
        let err = serve(addr, health).await.unwrap_err();
        assert!(err.contains("--health-addr"), "{err}");
    }
}
