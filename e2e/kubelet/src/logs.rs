//! The kubelet's HTTPS server, for what the apiserver proxies to nodes: `GET /containerLogs/
//! {namespace}/{pod}/{container}` with `previous`, `tailLines`, `limitBytes` and `timestamps`,
//! so `kubectl logs` and the operator's log capture work.

use std::{collections::HashMap, sync::Arc};

use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto::Builder,
    service::TowerToHyperService,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tokio::net::TcpListener;
use tracing::warn;

use crate::{config::Config, runtime::PodRuntime, sync::Pods};

/// Serves until the process ends.
pub async fn serve(cfg: Config, pods: Pods) -> anyhow::Result<()> {
    let certs: Vec<CertificateDer> =
        CertificateDer::pem_file_iter(&cfg.tls_cert)?.collect::<Result<_, _>>()?;
    let key = PrivateKeyDer::from_pem_file(&cfg.tls_key)?;
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = TcpListener::bind((cfg.node_ip.as_str(), cfg.port)).await?;
    let app = Router::new()
        .route(
            "/containerLogs/{namespace}/{pod}/{container}",
            get(container_logs),
        )
        .route("/healthz", get(|| async { "ok" }))
        .with_state(pods);
    loop {
        let (stream, _) = listener.accept().await?;
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            match acceptor.accept(stream).await {
                Ok(tls) => {
                    let service = TowerToHyperService::new(app);
                    if let Err(e) = Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), service)
                        .await
                    {
                        warn!(error = %e, "log server connection");
                    }
                }
                Err(e) => warn!(error = %e, "TLS handshake"),
            }
        });
    }
}

async fn container_logs(
    State(pods): State<Pods>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let dir = {
        let pods = pods.lock().await;
        pods.values()
            .find(|p| p.namespace == namespace && p.name == pod)
            .map(|p| p.dir.clone())
    };
    let Some(dir) = dir else {
        return (
            StatusCode::NOT_FOUND,
            format!("pod {namespace}/{pod} is not running on this node"),
        )
            .into_response();
    };
    let previous = q.get("previous").is_some_and(|v| v == "true");
    let path = PodRuntime::log_path(&dir, &container, previous);
    let Ok(text) = std::fs::read_to_string(&path) else {
        let what = if previous {
            "previous terminated container"
        } else {
            "container"
        };
        return (
            StatusCode::NOT_FOUND,
            format!("{what} \"{container}\" in pod \"{pod}\" has no log"),
        )
            .into_response();
    };
    let timestamps = q.get("timestamps").is_some_and(|v| v == "true");
    let tail: Option<usize> = q.get("tailLines").and_then(|v| v.parse().ok());
    let limit: Option<usize> = q.get("limitBytes").and_then(|v| v.parse().ok());
    render(&text, timestamps, tail, limit).into_response()
}

/// CRI lines (`<ts> <stream> <tag> <line>`) as `kubectl logs` shows them.
pub fn render(text: &str, timestamps: bool, tail: Option<usize>, limit: Option<usize>) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = tail.map(|t| lines.len().saturating_sub(t)).unwrap_or(0);
    let mut out = String::new();
    for line in &lines[start..] {
        let mut parts = line.splitn(4, ' ');
        let (ts, _stream, _tag, rest) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next().unwrap_or(""),
        );
        if timestamps {
            out.push_str(ts.unwrap_or(""));
            out.push(' ');
        }
        out.push_str(rest);
        out.push('\n');
    }
    if let Some(limit) = limit
        && out.len() > limit
    {
        let mut cut = limit;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_cri_lines_with_tail_and_limit() {
        let text =
            "2026-01-01T00:00:00.1Z stdout F one\n2026-01-01T00:00:00.2Z stderr F two words\n";
        assert_eq!(super::render(text, false, None, None), "one\ntwo words\n");
        assert_eq!(
            super::render(text, true, Some(1), None),
            "2026-01-01T00:00:00.2Z two words\n"
        );
        assert_eq!(super::render(text, false, None, Some(5)), "one\nt");
    }
}
