//! `mzsim`: a light stand-in for Materialize's environmentd. See the README next to this crate.

mod catalog;
mod config;
mod deploy;
mod failpoints;
mod http;
mod server;
mod sql;

use tracing_subscriber::EnvFilter;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match config::parse(&args, |k| std::env::var(k).ok()) {
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
    let code = runtime.block_on(server::run(config));
    std::process::exit(code);
}
