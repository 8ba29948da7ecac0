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
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use scenario_operator::version::MzVersion;

pub use self::invocation::Invocation;

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
    fn usage(message: impl Into<String>) -> Refusal {
        Refusal {
            message: format!("error: {}", message.into()),
            code: EXIT_USAGE,
        }
    }
    fn fatal(message: impl Into<String>) -> Refusal {
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

/// Checks a boot. `env` is the process environment; the result is the environment
/// environmentd would see (the entrypoint's exports added), for the rest of mzsim to read.
pub fn check(
    image: Image,
    version: &MzVersion,
    cli: &[String],
    env: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, Refusal> {
    let env = match image {
        Image::Materialized => entrypoint::run(env)?,
        Image::Environmentd => env,
    };
    let inv = Invocation::new(cli, &env);
    args::check(&inv, version)?;
    boot::check(&inv, version)?;
    Ok(env)
}
