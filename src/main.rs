//! `scenario-operator`: thin entry point; everything lives in the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    scenario_operator::cli::run(scenario_operator::cli::Cli::parse())
}
