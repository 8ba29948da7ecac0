//! The HTTP listeners: environmentd's leader API, readiness and metrics on the internal port,
//! readiness on the external one. Paths, methods, bodies and status codes follow environmentd.

use std::{fmt::Write as _, sync::Arc};

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::json;
use tokio::net::TcpListener;

use crate::{
    deploy::{PromoteOutcome, SkipOutcome},
    server::Sim,
};

pub async fn serve(listener: TcpListener, router: Router) {
    if let Err(e) = axum::serve(listener, router).await {
        tracing::error!(error = %e, "HTTP server stopped");
    }
}

pub fn internal_router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/api/leader/status", get(status))
        .route("/api/leader/promote", post(promote))
        .route("/api/leader/skip-catchup", post(skip_catchup))
        .route("/api/readyz", get(readyz))
        .route("/api/livez", get(livez))
        .route("/metrics", get(metrics))
        .with_state(sim)
}

pub fn external_router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/api/readyz", get(readyz))
        .route("/api/livez", get(livez))
        .with_state(sim)
}

async fn status(State(sim): State<Arc<Sim>>) -> Json<serde_json::Value> {
    Json(json!({ "status": sim.deployment.status().reported() }))
}

async fn promote(State(sim): State<Arc<Sim>>) -> Response {
    let failure = |message: String| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({ "result": { "Failure": { "message": message } } })),
        )
            .into_response()
    };
    if sim.config.failpoints.promote_fail {
        return failure("failpoint promote_fail".to_string());
    }
    match sim.deployment.promote() {
        PromoteOutcome::Success => Json(json!({ "result": "Success" })).into_response(),
        PromoteOutcome::Failure(message) => failure(message),
    }
}

async fn skip_catchup(State(sim): State<Arc<Sim>>) -> Response {
    match sim.deployment.skip_catchup() {
        SkipOutcome::Skipped => StatusCode::NO_CONTENT.into_response(),
        SkipOutcome::TooEarly(message) => {
            (StatusCode::BAD_REQUEST, Json(json!({ "message": message }))).into_response()
        }
    }
}

async fn readyz(State(sim): State<Arc<Sim>>) -> Response {
    if sim.is_ready() {
        "ready".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
    }
}

async fn livez() -> &'static str {
    "live"
}

/// Prometheus text: identity, deployment status and the durable statement/promotion counters
/// the e2e suite reads to prove nothing ran twice.
async fn metrics(State(sim): State<Arc<Sim>>) -> Response {
    let mut out = String::new();
    let c = &sim.config;
    let _ = writeln!(
        out,
        "# HELP mzsim_info This process: version, deploy generation, mode."
    );
    let _ = writeln!(out, "# TYPE mzsim_info gauge");
    let _ = writeln!(
        out,
        "mzsim_info{{version=\"{}\",generation=\"{}\",read_only=\"{}\",status=\"{}\"}} 1",
        c.version,
        c.deploy_generation,
        sim.is_read_only(),
        sim.deployment.status().reported()
    );
    if let Some(catalog) = sim.catalog_if_open() {
        match catalog.counters().await {
            Ok(counters) => {
                let _ = writeln!(
                    out,
                    "# HELP mzsim_statements_total Statements executed in this environment, by kind (ddl, write, system)."
                );
                let _ = writeln!(out, "# TYPE mzsim_statements_total counter");
                for (kind, total, _) in &counters.statements {
                    let _ = writeln!(out, "mzsim_statements_total{{kind=\"{kind}\"}} {total}");
                }
                let _ = writeln!(
                    out,
                    "# HELP mzsim_statements_repeated Distinct statements executed more than once, by kind."
                );
                let _ = writeln!(out, "# TYPE mzsim_statements_repeated gauge");
                for (kind, _, repeated) in &counters.statements {
                    let _ = writeln!(
                        out,
                        "mzsim_statements_repeated{{kind=\"{kind}\"}} {repeated}"
                    );
                }
                let _ = writeln!(
                    out,
                    "# HELP mzsim_promotions_total Promotions that wrote a fence token, by deploy generation."
                );
                let _ = writeln!(out, "# TYPE mzsim_promotions_total counter");
                for (generation, count) in &counters.promotions {
                    let _ = writeln!(
                        out,
                        "mzsim_promotions_total{{generation=\"{generation}\"}} {count}"
                    );
                }
            }
            Err(e) => {
                return (StatusCode::INTERNAL_SERVER_ERROR, format!("counters: {e}"))
                    .into_response();
            }
        }
    }
    ([("content-type", "text/plain; version=0.0.4")], out).into_response()
}
