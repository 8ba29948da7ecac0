//! `so-kubelet`: a kubelet for the local test cluster that runs pod containers as host
//! processes. Usage: `so-kubelet CONFIG.yaml` with `KUBECONFIG` set (see `config.rs`).

mod config;
mod env;
mod logs;
mod netns;
mod node;
mod runtime;
mod sync;

use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_ansi(false)
        .init();
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: so-kubelet CONFIG.yaml"))?;
    let cfg = config::Config::load(&path)?;
    std::fs::create_dir_all(&cfg.state_dir)?;
    netns::enable_forwarding().await?;
    let client = kube::Client::try_default().await?;
    let kubelet = sync::Kubelet::new(client.clone(), cfg.clone());
    tokio::select! {
        r = node::run(client.clone(), cfg.clone()) => r,
        r = logs::serve(cfg.clone(), kubelet.pods.clone()) => r,
        r = kubelet.clone().run() => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
