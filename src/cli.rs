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
    /// Check a library of checks before it goes into a ConfigMap: each FILE (or every *.yaml
    /// in a DIRECTORY) is one check, in the format of a `spec.checks.inline` item. Parses every
    /// script and refuses duplicate names; prints one line per check, and exits 1 with
    /// FILE: check NAME: script line N: message for each problem.
    LintChecks {
        /// Check files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// As `spec.checks.skipUnavailable`: a check that needs a system a rehearsal does not
        /// have (Kafka, MySQL, …) is listed as skipped instead of failing the lint.
        #[arg(long)]
        skip_unavailable: bool,
    },
    /// Render every platform-checks Check class of a Materialize checkout into check files
    /// (one YAML per class, the exact testdrive text its initialize() / manipulate() /
    /// validate() return), then lint them. Needs python3 (and the checkout's own Python
    /// dependencies of misc/python/materialize/checks, e.g. semver); prints what was
    /// imported, skipped and why, and how many pass lint-checks.
    ImportChecks {
        /// The Materialize checkout (its misc/python/materialize/checks/all_checks).
        #[arg(long)]
        materialize: PathBuf,
        /// The version checks are instantiated for (Check(base_version)), e.g. v26.1.0.
        #[arg(long)]
        base_version: String,
        /// Where the check files go (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
    /// Wait for a ScenarioRun to end and print its per-step results. Exits 0 iff it ended in
    /// the expected phase (annotation `mzcheck.dev/expected-phase`, default Succeeded).
    Status {
        /// The ScenarioRun's name.
        name: String,
        /// Its namespace.
        #[arg(short, long, default_value = "default")]
        namespace: String,
        /// How long to wait, in seconds.
        #[arg(long, default_value_t = 1800)]
        timeout: u64,
        /// Also write the run's JUnit XML report here once it ends (or the wait times out).
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
    },
    /// Print one ScenarioRun's report as it stands now: a per-step timeline (action, service,
    /// version, start, duration, result, checks) as a table, JSON, JUnit XML (one testcase per
    /// step and per check; failures carry the message, statement and diff) or a
    /// self-contained HTML page with a timeline chart.
    Report {
        /// The ScenarioRun's name (read from the cluster).
        #[arg(required_unless_present = "file")]
        name: Option<String>,
        /// Its namespace.
        #[arg(short, long, default_value = "default")]
        namespace: String,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = ReportFormat::Table)]
        output: ReportFormat,
        /// Read the run from this file instead (`kubectl get sr NAME -o yaml` or `-o json`).
        #[arg(short, long, conflicts_with = "name")]
        file: Option<PathBuf>,
    },
    /// Run the operator: watch ScenarioRuns and execute them (kubeconfig or in-cluster config).
    Run(Box<RunArgs>),
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    Table,
    Json,
    Junit,
    Html,
}

/// `scenario-operator run`'s flags.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "WATCH_NAMESPACE")]
    namespace: Option<String>,
    /// Reach environmentd by pod IP rather than the pods' DNS names: for running the
    /// operator outside the cluster network, where pod IPs route but cluster DNS does not.
    #[arg(long, env = "SCENARIO_OPERATOR_POD_IP_ADDRESSES")]
    pod_ip_addresses: bool,
    /// How many passes run at once (admitted in arrival order), besides up to 8 of runs not
    /// started yet (a lane of their own). A pass mostly waits on the network, so this is well
    /// above the cores.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// How often (milliseconds) a run waiting on environmentd's leader status reads it, to be
    /// woken the moment it changes (promote detection takes this and a few passes).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(5..=10_000))]
    leader_watch_interval_ms: u64,
    /// Serve `/healthz` and `/readyz` on this address (the chart's probes).
    #[arg(long, env = "HEALTH_ADDR")]
    health_addr: Option<std::net::SocketAddr>,
    /// Log lines as text, or as one JSON object per line (for log collectors).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Serve the validating admission webhook (`/validate`, TLS) on this address.
    #[arg(long, env = "WEBHOOK_ADDR")]
    webhook_addr: Option<std::net::SocketAddr>,
    /// A name the apiserver reaches the webhook by (DNS name or IP address; repeatable):
    /// the generated certificate is for these.
    #[arg(long = "webhook-host")]
    webhook_hosts: Vec<String>,
    /// Serve `tls.crt`/`tls.key` from this directory (a cert-manager Secret) instead of
    /// generating a certificate; the CA is then cert-manager's to inject.
    #[arg(long)]
    webhook_cert_dir: Option<std::path::PathBuf>,
    /// The ValidatingWebhookConfiguration whose `caBundle` gets the generated CA.
    #[arg(long, default_value = "scenario-operator")]
    webhook_configuration: String,
    /// `NAMESPACE/NAME` of the Secret holding the CA every replica issues its webhook
    /// certificate from (made by the first). Without it each process makes its own CA,
    /// which is right for one replica only.
    #[arg(long, value_parser = parse_namespaced)]
    webhook_ca_secret: Option<(String, String)>,
    /// Reconcile only while holding this Lease (leader election among replicas), in
    /// `--lease-namespace`; the identity is `HOSTNAME` (the pod name).
    #[arg(long)]
    leader_election_lease: Option<String>,
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
}

/// `NAMESPACE/NAME`.
fn parse_namespaced(s: &str) -> Result<(String, String), String> {
    match s.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((ns.to_string(), name.to_string()))
        }
        _ => Err(format!("{s:?} is not NAMESPACE/NAME")),
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
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
        Command::LintChecks {
            paths,
            skip_unavailable,
        } => lint_checks(&paths, skip_unavailable),
        Command::ImportChecks {
            materialize,
            base_version,
            out,
        } => import_checks(&materialize, &base_version, &out),
        Command::Status {
            name,
            namespace,
            timeout,
            junit,
        } => {
            let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
            let result = runtime.block_on(async {
                let client = kube::Client::try_default()
                    .await
                    .map_err(|e| format!("no Kubernetes configuration: {e}"))?;
                crate::report::wait_and_print(
                    client,
                    &namespace,
                    &name,
                    std::time::Duration::from_secs(timeout),
                    junit.as_deref(),
                )
                .await
            });
            match result {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Report {
            name,
            namespace,
            output,
            file,
        } => report(name, &namespace, output, file),
        Command::Run(args) => {
            let RunArgs {
                namespace,
                pod_ip_addresses,
                concurrency,
                leader_watch_interval_ms,
                health_addr,
                log_format,
                webhook_addr,
                webhook_hosts,
                webhook_cert_dir,
                webhook_configuration,
                webhook_ca_secret,
                leader_election_lease,
                lease_namespace,
            } = *args;
            let lease = leader_election_lease.map(|name| crate::operator::leader::LeaseSettings {
                namespace: lease_namespace,
                name,
                // Two processes must never share an identity: without a pod name, the pid
                // and the start time make one.
                identity: std::env::var("HOSTNAME").unwrap_or_else(|_| {
                    let t = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap_or_default();
                    format!("scenario-operator-{}-{}", std::process::id(), t.as_millis())
                }),
            });
            let webhook = webhook_addr.map(|addr| crate::operator::WebhookSettings {
                addr,
                hosts: webhook_hosts,
                cert_dir: webhook_cert_dir,
                configuration: webhook_configuration,
                ca_secret: webhook_ca_secret,
            });
            let settings = crate::operator::Settings {
                // The chart sets WATCH_NAMESPACE to "" for all namespaces.
                namespace: namespace.filter(|n| !n.is_empty()),
                pod_ip_addresses,
                concurrency,
                leader_watch_interval: std::time::Duration::from_millis(leader_watch_interval_ms),
                health_addr,
                webhook,
                lease,
            };
            run_operator(settings, log_format)
        }
    }
}

fn report(
    name: Option<String>,
    namespace: &str,
    output: ReportFormat,
    file: Option<PathBuf>,
) -> ExitCode {
    let run = match (file, name) {
        (Some(path), _) => std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
            .and_then(|text| {
                // YAML is a superset of JSON: either output of kubectl reads the same.
                serde_saphyr::from_str::<serde_json::Value>(&text)
                    .map_err(|e| e.to_string())
                    .and_then(|v| serde_json::from_value(v).map_err(|e| e.to_string()))
                    .map_err(|e| format!("{}: not a ScenarioRun: {e}", path.display()))
            }),
        (None, Some(name)) => {
            let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
            runtime.block_on(async {
                let client = kube::Client::try_default()
                    .await
                    .map_err(|e| format!("no Kubernetes configuration: {e}"))?;
                let api: kube::Api<crate::api::v1alpha1::ScenarioRun> =
                    kube::Api::namespaced(client, namespace);
                api.get(&name)
                    .await
                    .map_err(|e| format!("cannot read ScenarioRun {namespace}/{name}: {e}"))
            })
        }
        (None, None) => unreachable!("clap requires a name or --file"),
    };
    let run = match run {
        Ok(run) => run,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let t = crate::report::timeline::Timeline::of(&run);
    match output {
        ReportFormat::Table => print!("{}", t.table()),
        ReportFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&t).expect("a timeline serializes")
        ),
        ReportFormat::Junit => print!("{}", crate::report::junit::render(&t)),
        ReportFormat::Html => print!("{}", crate::report::html::render(&t)),
    }
    ExitCode::SUCCESS
}

fn run_operator(settings: crate::operator::Settings, log_format: LogFormat) -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match log_format {
        LogFormat::Json => logs.json().with_current_span(true).init(),
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let result = runtime.block_on(async {
        let config = kube::Config::infer()
            .await
            .map_err(|e| format!("no Kubernetes configuration: {e}"))?;
        crate::operator::run(config, settings).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
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
                Format::Table => {
                    print!("{}", plan::render::table(&plan));
                    if let Some(checks) = &manifest.run.spec.checks {
                        print!("{}", checks_note(checks, &plan));
                    }
                }
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

/// Below the plan table: which inline checks run or are skipped, and the sources the operator
/// reads when the run starts.
fn checks_note(checks: &crate::api::v1alpha1::ChecksSpec, plan: &plan::Plan) -> String {
    use crate::checks::library;
    let mut out = String::new();
    for c in &checks.inline {
        // Planning succeeded, so every inline check compiles.
        if let Ok(compiled) = library::compile(c, "inline") {
            match library::skip_reason(&compiled, &plan.gate) {
                Some(why) => out.push_str(&format!("check {}: skipped: {why}\n", c.name)),
                None => out.push_str(&format!("check {}: runs in every check phase\n", c.name)),
            }
        }
    }
    let mut sources: Vec<String> = checks
        .config_maps
        .iter()
        .map(|n| format!("ConfigMap {n}"))
        .collect();
    if let Some(sel) = &checks.selector {
        sources.push(format!(
            "ConfigMaps matching {}",
            crate::operator::render::selector_string(sel)
        ));
    }
    if !sources.is_empty() {
        out.push_str(&format!(
            "checks from {} are read when the run starts (scenario-operator lint-checks checks a library offline)\n",
            sources.join(" and ")
        ));
    }
    out
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

/// `lint-checks`: every check file parsed as the operator would read it from a ConfigMap.
/// The importer proper is Python (platform-checks' classes are), shipped inside the binary.
const IMPORTER: &str = include_str!("checks/import_checks.py");

fn import_checks(
    materialize: &std::path::Path,
    base_version: &str,
    out: &std::path::Path,
) -> ExitCode {
    if let Err(e) = base_version.parse::<crate::version::MzVersion>() {
        eprintln!("--base-version {base_version}: {e}");
        return ExitCode::from(2);
    }
    let script = std::env::temp_dir().join(format!("so-import-checks-{}.py", std::process::id()));
    if let Err(e) = std::fs::write(&script, IMPORTER) {
        eprintln!("import-checks: cannot write {}: {e}", script.display());
        return ExitCode::FAILURE;
    }
    let python = std::env::var("SO_PYTHON").unwrap_or_else(|_| "python3".into());
    let status = std::process::Command::new(&python)
        .arg(&script)
        .arg(materialize)
        .arg(base_version)
        .arg(out)
        // Nothing of the checkout is written back (no __pycache__ in it).
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .status();
    let _ = std::fs::remove_file(&script);
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => return ExitCode::from(s.code().unwrap_or(1).clamp(1, 255) as u8),
        Err(e) => {
            eprintln!("import-checks: cannot run {python}: {e}");
            return ExitCode::FAILURE;
        }
    }
    lint_summary(out)
}

/// How many imported checks lint clean, which need a system a rehearsal does not have, and
/// the first problem of each of the others.
fn lint_summary(dir: &std::path::Path) -> ExitCode {
    use crate::checks::library;
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(|e| Some(e.ok()?.path())).collect(),
        Err(e) => {
            eprintln!("{}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    };
    files.retain(|f| f.extension().is_some_and(|e| e == "yaml"));
    files.sort();
    let (mut clean, mut needs, mut refused) = (0, Vec::new(), Vec::new());
    for f in &files {
        let shown = f.display().to_string();
        let text = std::fs::read_to_string(f).unwrap_or_default();
        match library::from_yaml_for(&text, &shown, true) {
            Ok(c) => match c.needs {
                Some(what) => needs.push(format!("{}: needs {what}", c.name())),
                None => clean += 1,
            },
            Err(e) => refused.push(e.to_string()),
        }
    }
    for line in needs.iter().chain(&refused) {
        println!("lint: {line}");
    }
    println!(
        "lint: {clean} of {} pass lint-checks; {} need a system a rehearsal does not have; {} refused",
        files.len(),
        needs.len(),
        refused.len()
    );
    ExitCode::SUCCESS
}

fn lint_checks(paths: &[PathBuf], skip_unavailable: bool) -> ExitCode {
    use crate::checks::library;
    let mut files = Vec::new();
    for p in paths {
        match std::fs::read_dir(p) {
            Ok(entries) => {
                let mut found: Vec<PathBuf> = entries
                    .filter_map(|e| Some(e.ok()?.path()))
                    .filter(|f| f.extension().is_some_and(|e| e == "yaml" || e == "yml"))
                    .collect();
                found.sort();
                files.extend(found);
            }
            Err(_) => files.push(p.clone()),
        }
    }
    let (mut checks, mut failed) = (Vec::new(), false);
    for f in &files {
        let shown = f.display().to_string();
        match std::fs::read_to_string(f) {
            Err(e) => {
                eprintln!("{shown}: {e}");
                failed = true;
            }
            Ok(text) => match library::from_yaml_for(&text, &shown, skip_unavailable) {
                Ok(c) => checks.push(c),
                Err(e) => {
                    eprintln!("{e}");
                    failed = true;
                }
            },
        }
    }
    match library::arrange(checks, &[], None) {
        Ok(checks) => {
            for c in &checks {
                if let Some(what) = c.needs {
                    println!("{:<24} {}: skipped: needs {what}", c.name(), c.source);
                    continue;
                }
                let count = |p| c.script(p).len();
                println!(
                    "{:<24} {}: initialize {}, manipulate {}+{}, validate {} commands",
                    c.name(),
                    c.source,
                    count(library::Phase::Initialize),
                    count(library::Phase::Manipulate(1)),
                    count(library::Phase::Manipulate(2)),
                    count(library::Phase::Validate),
                );
            }
        }
        Err(errors) => {
            for e in errors {
                eprintln!("{e}");
            }
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
