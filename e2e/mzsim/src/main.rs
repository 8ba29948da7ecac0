//! `mzsim`: a light stand-in for Materialize's environmentd. See the README next to this crate.

mod blob;
mod catalog;
mod config;
mod deploy;
mod failpoints;
mod http;
mod kubernetes;
mod server;
mod sql;
mod strict;

use tracing_subscriber::EnvFilter;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if std::env::var("MZSIM_ROLE").as_deref() == Ok("clusterd") {
        clusterd();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let booted = match strict_boot(&args) {
        Ok(b) => b,
        Err(refusal) => {
            eprintln!("{}", refusal.message);
            std::process::exit(refusal.code);
        }
    };
    let env = booted.env;
    let config = match config::parse(&args, |k| env.get(k).cloned()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mzsim: {e}");
            std::process::exit(server::EXIT_CRASH);
        }
    };
    // One thread: mzsim is meant to be light enough to run a hundred at once.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Some(s3) = &booted.blob
        && let Err(refusal) = runtime.block_on(blob::reach(s3))
    {
        eprintln!("{}", refusal.message);
        std::process::exit(refusal.code);
    }
    let secrets = match &booted.kubernetes {
        Some(orchestrator) => match runtime.block_on(kubernetes::boot(orchestrator)) {
            Ok(secrets) => Some(secrets),
            Err(refusal) => {
                eprintln!("{}", refusal.message);
                std::process::exit(refusal.code);
            }
        },
        None => None,
    };
    let code = runtime.block_on(server::run(config, secrets));
    if code == 0 && booted.parks_after_graceful_exit && !server::terminated() {
        // Dropping the runtime ends every task and closes every socket first: a parked
        // process must not leave a listener that accepts and never answers.
        drop(runtime);
        park();
    }
    std::process::exit(code);
}

/// The environmentd image's entrypoint after a graceful exit: say so, then sleep until the
/// pod is deleted. Its bash (PID 1) ignores SIGTERM and is killed when the grace period ends
/// (0 s for environmentd pods); mzsim ends at SIGTERM, which comes to the same.
fn park() -> ! {
    eprintln!("environmentd exited gracefully; sleeping forever");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("signal handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    });
    std::process::exit(0);
}

/// The environment mzsim runs with: the process's own, or, in strict mode, what environmentd
/// of `MZSIM_IMAGE` would see after its image's entrypoint, once [`strict::check`] lets it boot.
fn strict_boot(args: &[String]) -> Result<strict::Booted, strict::Refusal> {
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    if env.get("MZSIM_STRICT").is_none_or(|v| v != "1") {
        return Ok(strict::Booted {
            env,
            kubernetes: None,
            blob: None,
            parks_after_graceful_exit: false,
        });
    }
    let image = env
        .get("MZSIM_IMAGE")
        .and_then(|i| strict::Image::parse(i))
        .unwrap_or(strict::Image::Environmentd);
    let version = env
        .get("MZSIM_VERSION")
        .cloned()
        .unwrap_or_else(|| config::DEFAULT_VERSION.to_string());
    let version = version.parse().map_err(|e| strict::Refusal {
        message: format!("mzsim: MZSIM_VERSION: {e}"),
        code: server::EXIT_CRASH,
    })?;
    strict::check(image, &version, args, env)
}

/// The stand-in for a clusterd replica (image `materialize/clusterd`, `MZSIM_ROLE=clusterd`):
/// mzsim keeps no dataflows, so a replica only has to exist, as a process in its own pod, until
/// it is stopped (SIGTERM's default action ends it).
fn clusterd() -> ! {
    tracing::info!("mzsim: clusterd stand-in running; it serves nothing");
    loop {
        std::thread::park();
    }
}
