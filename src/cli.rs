//! The `scenario-operator` command line.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand, ValueEnum};

use crate::{api::crd, manifest, plan};

/// Rehearses Materialize upgrades on Kubernetes: runs platform-checks scenarios (StartMz,
/// KillMz, 0dt WaitReadyMz/PromoteMz, Initialize/Manipulate/Validate …) as ScenarioRun
/// resources, step by step.
#[derive(Parser, Debug)]
#[command(name = "scenario-operator", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print the enriched plan of a ScenarioRun manifest, exactly as the operator would run it.
    ///
    /// Resolves the built-in scenario or the explicit action list against spec.versions,
    /// applies Scenario.run()'s enrichment (implicit ConfigureMz / SetupSqlServerTesting,
    /// marked `*` in the table, "implicit": true in JSON) and refuses what Materialize would
    /// refuse (downgrades, skipped versions, promotion without a read-only generation, …).
    /// Exits 1 with FILE:LINE: field.path: message for invalid input.
    #[command(after_long_help = scenario_list())]
    Plan {
        /// ScenarioRun manifest (YAML), as for `kubectl apply -f`.
        file: PathBuf,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        output: Format,
    },
    /// Print every CRD this operator defines as YAML (multi-document, sorted by name).
    Crd {
        /// Write one file per CRD (`<name>.yaml`) into this directory instead.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
    /// List the built-in scenarios.
    Scenarios,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Numbered table, implicit steps marked `*`.
    Table,
    /// `{"actions": [{"action": …, "implicit": …, <parameters>}], …}`.
    Json,
}

fn scenario_list() -> String {
    let mut out = String::from("Built-in scenarios (spec.scenario):\n");
    for s in plan::catalogue::SCENARIOS {
        out.push_str(&format!("  {:<52} {}\n", s.name, s.about));
    }
    out
}

/// Runs a parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Plan { file, output } => plan_file(&file, output),
        Command::Crd { out_dir } => print_crds(out_dir),
        Command::Scenarios => {
            print!("{}", scenario_list());
            ExitCode::SUCCESS
        }
    }
}

fn plan_file(file: &PathBuf, output: Format) -> ExitCode {
    let name = file.display();
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {name}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let manifest = match manifest::parse(&text) {
        Ok(m) => m,
        Err(e) => {
            let line = e.line.map(|l| format!("{l}:")).unwrap_or_default();
            eprintln!("error: {name}:{line} {}: {}", e.path, e.message);
            return ExitCode::FAILURE;
        }
    };
    match plan::plan(&manifest.run.spec) {
        Ok(plan) => {
            match output {
                Format::Table => print!("{}", plan::render::table(&plan)),
                Format::Json => println!("{}", plan::render::json(&plan)),
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors.0 {
                let line = manifest
                    .lines
                    .line_of(&e.path)
                    .map(|l| format!("{l}:"))
                    .unwrap_or_default();
                eprintln!("error: {name}:{line} {e}");
            }
            ExitCode::FAILURE
        }
    }
}

fn print_crds(out_dir: Option<PathBuf>) -> ExitCode {
    for c in crd::all() {
        let yaml = match crd::to_yaml(&c) {
            Ok(y) => y,
            Err(e) => {
                eprintln!("error: cannot render CRD: {e}");
                return ExitCode::FAILURE;
            }
        };
        match &out_dir {
            None => print!("{yaml}"),
            Some(dir) => {
                let path = dir.join(crd::file_name(&c));
                if let Err(e) = std::fs::write(&path, yaml) {
                    eprintln!("error: cannot write {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    ExitCode::SUCCESS
}
