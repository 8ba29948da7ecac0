//! Strict mode (`MZSIM_STRICT=1`, on in every e2e run): before it does anything else, mzsim
//! refuses to boot, with environmentd's kind of message and exit code, when what real
//! environmentd of its version (`MZSIM_VERSION`) and image (`MZSIM_IMAGE`) requires is missing
//! or malformed. Without it, a renderer that no real image would boot passes every test.
//!
//! The order is environmentd's: the all-in-one image's entrypoint first ([`entrypoint`]),
//! then argument parsing ([`args`], clap errors, exit 2), then the start of `run()` ([`boot`],
//! fatal errors, exit 101 as a Rust panic). What is checked, and the upstream file each check
//! mirrors, is listed in the README.

mod args;
mod boot;
mod entrypoint;
mod invocation;
mod schemas;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use scenario_operator::version::MzVersion;

use crate::{blob::S3, kubernetes::Orchestrator};

pub use self::{boot::IMAGE_LISTENER_FILES, invocation::Invocation};

/// clap's exit code for a usage error.
pub const EXIT_USAGE: i32 = 2;
/// A Rust panic's exit code: environmentd turns an error from `run()` into
/// `panic!("environmentd: fatal: …")`.
pub const EXIT_FATAL: i32 = 101;
/// A shell script's failure (the entrypoint under `set -u`).
pub const EXIT_SCRIPT: i32 = 1;

/// Why the process does not boot, and its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    pub code: i32,
}

impl Refusal {
    pub(crate) fn usage(message: impl Into<String>) -> Refusal {
        Refusal {
            message: format!("error: {}", message.into()),
            code: EXIT_USAGE,
        }
    }
    pub(crate) fn fatal(message: impl Into<String>) -> Refusal {
        Refusal {
            message: format!("environmentd: fatal: {}", message.into()),
            code: EXIT_FATAL,
        }
    }
}

/// The image mzsim stands in for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Image {
    /// `materialize/environmentd`: environmentd itself, entrypoint `environmentd "$@"`.
    Environmentd,
    /// `materialize/materialized`: the all-in-one emulator, whose entrypoint exports defaults.
    Materialized,
}

impl Image {
    pub fn parse(s: &str) -> Option<Image> {
        match s {
            "environmentd" => Some(Image::Environmentd),
            "materialized" => Some(Image::Materialized),
            _ => None,
        }
    }
}

/// A boot strict mode lets through.
pub struct Booted {
    /// The environment environmentd sees (the entrypoint's exports added), for the rest of
    /// mzsim to read.
    pub env: BTreeMap<String, String>,
    /// The Kubernetes orchestrator's options, when it is the orchestrator: its boot
    /// ([`crate::kubernetes::boot`]) comes next.
    pub kubernetes: Option<Orchestrator>,
    /// The blob store, whose bucket must answer ([`crate::blob::reach`]); `None` outside
    /// strict mode.
    pub blob: Option<S3>,
    /// The image's entrypoint sleeps forever after environmentd exits 0 (the environmentd
    /// image's `src/environmentd/ci/entrypoint.sh`), so a fenced-out generation stays Running
    /// and not Ready instead of restarting.
    pub parks_after_graceful_exit: bool,
}

/// Checks a boot. `env` is the process environment.
pub fn check(
    image: Image,
    version: &MzVersion,
    cli: &[String],
    env: BTreeMap<String, String>,
) -> Result<Booted, Refusal> {
    let env = match image {
        Image::Materialized => entrypoint::run(env)?,
        Image::Environmentd => env,
    };
    let inv = Invocation::new(cli, &env);
    args::check(&inv, version)?;
    boot::check(&inv, version)?;
    let blob = crate::blob::parse(&inv.value("persist-blob-url").unwrap_or_default())?;
    let kubernetes = Orchestrator::of(&inv);
    Ok(Booted {
        env,
        kubernetes,
        blob: Some(blob),
        parks_after_graceful_exit: image == Image::Environmentd,
    })
}
