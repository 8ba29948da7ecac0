//! Checks as the runner uses them: compiled (every script parsed, variables known), collected
//! from their sources, filtered, ordered and selected for a plan. Pure: the operator fetches
//! ConfigMaps and hands their text here.

use std::{collections::BTreeSet, fmt};

use serde::{Deserialize, Serialize};

use super::script::{self, Command};
use crate::{api::v1alpha1::CheckSpec, version::MzVersion};

/// Variables every script may use, as testdrive names them.
pub const VARIABLES: &[&str] = &[
    "testdrive.materialize-sql-addr",
    "testdrive.materialize-internal-sql-addr",
    "testdrive.materialize-http-addr",
    "testdrive.materialize-internal-http-addr",
    "testdrive.materialize-user",
    "testdrive.seed",
];

/// The `--var`s platform-checks passes testdrive, as `${arg.*}`: cloudtest's values, since the
/// rehearsal's environments have the one replica size (`environmentd::sizes::DEFAULT_SIZE`).
pub fn arguments() -> [(&'static str, String); 4] {
    let size = crate::environmentd::sizes::DEFAULT_SIZE.to_string();
    [
        ("arg.replicas", "1".to_string()),
        ("arg.default-replica-size", size.clone()),
        ("arg.default-storage-size", size),
        ("arg.single-replica-cluster", "quickstart".to_string()),
    ]
}

/// Which script a check step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Initialize,
    /// 1 or 2.
    Manipulate(u8),
    Validate,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Phase::Initialize => f.write_str("initialize"),
            Phase::Manipulate(p) => write!(f, "manipulate[{}]", p - 1),
            Phase::Validate => f.write_str("validate"),
        }
    }
}

/// A check with every script parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub spec: CheckSpec,
    /// Where it came from: `inline` or `configmap/<name>:<key>`.
    pub source: String,
    initialize: Vec<Command>,
    manipulate: [Vec<Command>; 2],
    validate: Vec<Command>,
    /// What it needs that a rehearsal does not have: it is skipped in every phase (its
    /// scripts are not kept).
    pub needs: Option<&'static str>,
}

impl Check {
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn script(&self, phase: Phase) -> &[Command] {
        match phase {
            Phase::Initialize => &self.initialize,
            Phase::Manipulate(p) => &self.manipulate[usize::from(p.clamp(1, 2)) - 1],
            Phase::Validate => &self.validate,
        }
    }
}

/// A check that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckError {
    /// `inline[3]`, `configmap/lib:create_table.yaml`, …
    pub source: String,
    /// The check's name, when it has one.
    pub check: Option<String>,
    pub message: String,
    /// The system the check needs and a rehearsal does not have (Kafka, …), when that is why.
    pub needs: Option<&'static str>,
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.check {
            Some(name) => write!(f, "check {name} ({}): {}", self.source, self.message),
            None => write!(f, "{}: {}", self.source, self.message),
        }
    }
}

/// Parses a check's scripts; errors name the script and its line.
pub fn compile(spec: &CheckSpec, source: &str) -> Result<Check, CheckError> {
    let fail = |message: String| CheckError {
        source: source.to_string(),
        check: (!spec.name.is_empty()).then(|| spec.name.clone()),
        message,
        needs: None,
    };
    let valid_name = spec
        .name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && spec.name.len() <= 63
        && spec
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_name {
        return Err(fail(format!(
            "name {:?} must start with a letter and hold only letters, digits and _ (at most 63)",
            spec.name
        )));
    }
    if spec.manipulate.len() != 2 {
        return Err(fail(format!(
            "manipulate must hold exactly 2 scripts (one per phase), found {}",
            spec.manipulate.len()
        )));
    }
    for (field, v) in [
        ("minBaseVersion", &spec.min_base_version),
        ("minCurrentVersion", &spec.min_current_version),
    ] {
        if let Some(v) = v
            && let Err(e) = v.parse::<MzVersion>()
        {
            return Err(fail(format!("{field}: {e}")));
        }
    }
    let parse = |part: &str, text: &str| -> Result<Vec<Command>, CheckError> {
        let commands = script::parse(text).map_err(|e| CheckError {
            needs: e.needs,
            ..fail(format!("{part} {e}"))
        })?;
        // Known: the operator's variables, the arguments, and what this script set before.
        let mut known: Vec<String> = VARIABLES
            .iter()
            .map(|v| v.to_string())
            .chain(arguments().iter().map(|(k, _)| k.to_string()))
            .collect();
        for c in &commands {
            // A set's values may use the names it set before them (`$ set a=1 b=x${a}`).
            let mut uses = c.variables();
            if let Command::Set { vars, .. } = c.unguarded() {
                uses.clear();
                for (k, v) in vars {
                    for name in script::variable_names(v) {
                        if !known.contains(&name) {
                            uses.push((c.line(), name));
                        }
                    }
                    known.push(k.clone());
                }
            }

            for (line, name) in uses {
                if known.contains(&name) {
                    continue;
                }
                let needs = script::builtin::variable_needs(&name);
                let message = match needs {
                    Some(what) => format!(
                        "{part} line {line}: ${{{name}}} needs {what}, which a rehearsal does not have"
                    ),
                    None => format!(
                        "{part} line {line}: unknown variable ${{{name}}}; known: {}",
                        known.join(", ")
                    ),
                };
                return Err(CheckError {
                    needs,
                    ..fail(message)
                });
            }
            // Its own query may not use it; the commands after it may.
            if let Command::SetFromSql { var, .. } = c.unguarded() {
                known.push(var.clone());
            }
        }
        Ok(commands)
    };
    Ok(Check {
        initialize: parse("initialize", &spec.initialize)?,
        manipulate: [
            parse("manipulate[0]", &spec.manipulate[0])?,
            parse("manipulate[1]", &spec.manipulate[1])?,
        ],
        validate: parse("validate", &spec.validate)?,
        spec: spec.clone(),
        source: source.to_string(),
        needs: None,
    })
}

/// [`compile`], except that with `skip_unavailable` a check refused only because it needs a
/// system a rehearsal does not have is kept, to be skipped saying what it needs.
pub fn compile_for(
    spec: &CheckSpec,
    source: &str,
    skip_unavailable: bool,
) -> Result<Check, CheckError> {
    match compile(spec, source) {
        Err(CheckError {
            needs: Some(what), ..
        }) if skip_unavailable => Ok(Check {
            spec: spec.clone(),
            source: source.to_string(),
            initialize: Vec::new(),
            manipulate: [Vec::new(), Vec::new()],
            validate: Vec::new(),
            needs: Some(what),
        }),
        other => other,
    }
}

/// Reads one check from a ConfigMap value (YAML, the format of an inline item).
pub fn from_yaml(text: &str, source: &str) -> Result<Check, CheckError> {
    from_yaml_for(text, source, false)
}

/// [`from_yaml`], keeping a check that needs an unavailable system as [`compile_for`] does.
pub fn from_yaml_for(
    text: &str,
    source: &str,
    skip_unavailable: bool,
) -> Result<Check, CheckError> {
    let fail = |message: String| CheckError {
        source: source.to_string(),
        check: None,
        message,
        needs: None,
    };
    let value: serde_json::Value = serde_saphyr::from_str(text).map_err(|e| {
        let line = e
            .location()
            .map(|l| format!("line {}: ", l.line()))
            .unwrap_or_default();
        let msg = e.to_string();
        fail(format!(
            "{line}invalid YAML: {}",
            msg.lines().next().unwrap_or_default()
        ))
    })?;
    let spec: CheckSpec = serde_path_to_error::deserialize(value)
        .map_err(|e| fail(format!("{}: {}", e.path(), e.inner())))?;
    compile_for(&spec, source, skip_unavailable)
}

/// A run's checks, frozen when the run starts so every phase sees the same scripts even if a
/// ConfigMap changes meanwhile.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub checks: Vec<SnapshotEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotEntry {
    pub source: String,
    pub spec: CheckSpec,
}

impl Snapshot {
    pub fn of(checks: &[Check]) -> Snapshot {
        Snapshot {
            checks: checks
                .iter()
                .map(|c| SnapshotEntry {
                    source: c.source.clone(),
                    spec: c.spec.clone(),
                })
                .collect(),
        }
    }

    pub fn compile(&self, skip_unavailable: bool) -> Result<Vec<Check>, CheckError> {
        self.checks
            .iter()
            .map(|e| compile_for(&e.spec, &e.source, skip_unavailable))
            .collect()
    }
}

/// Keeps the `include`d checks (all when empty), refuses duplicate names and unknown includes,
/// and orders them: source order, or shuffled by `seed`.
pub fn arrange(
    mut checks: Vec<Check>,
    include: &[String],
    seed: Option<u64>,
) -> Result<Vec<Check>, Vec<String>> {
    let mut errors = Vec::new();
    let mut seen = BTreeSet::new();
    for c in &checks {
        if !seen.insert(c.name().to_string()) {
            let sources: Vec<&str> = checks
                .iter()
                .filter(|o| o.name() == c.name())
                .map(|o| o.source.as_str())
                .collect();
            errors.push(format!(
                "check {} is defined more than once ({})",
                c.name(),
                sources.join(", ")
            ));
        }
    }
    for (i, name) in include.iter().enumerate() {
        if !seen.contains(name) {
            errors.push(format!(
                "spec.checks.include[{i}]: no check is named {name:?}"
            ));
        }
    }
    if !errors.is_empty() {
        errors.dedup();
        return Err(errors);
    }
    if !include.is_empty() {
        checks.retain(|c| include.iter().any(|n| n == c.name()));
    }
    if let Some(seed) = seed {
        shuffle(&mut checks, seed);
    }
    Ok(checks)
}

/// Fisher–Yates with splitmix64: the same seed gives the same order on every build.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    for i in (1..items.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// What a plan tells about which checks may run (platform-checks' `_can_run` inputs). The
/// planner fills it in; checks need nothing else of the plan.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CheckGate {
    /// The oldest version the run starts (platform-checks' `base_version()`).
    pub base_version: MzVersion,
    /// A manipulate phase runs more than once, so checks that are not externally idempotent
    /// must be left out (platform-checks' `requires_external_idempotence()`).
    pub requires_external_idempotence: bool,
    /// The oldest version a check phase runs on (gates `minCurrentVersion`); none without
    /// check phases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_floor: Option<MzVersion>,
}

/// Why a check cannot run in this plan (platform-checks' `_can_run`), decided once for every
/// phase; `None` when it runs.
pub fn skip_reason(check: &Check, plan: &CheckGate) -> Option<String> {
    if let Some(what) = check.needs {
        return Some(format!("needs {what}"));
    }
    let spec = &check.spec;
    if let Some(min) = spec.min_base_version.as_ref().and_then(|v| v.parse().ok())
        && plan.base_version < min
    {
        return Some(format!(
            "needs base version {min} or newer; the run starts at {}",
            plan.base_version
        ));
    }
    if let Some(min) = spec
        .min_current_version
        .as_ref()
        .and_then(|v| v.parse::<MzVersion>().ok())
        && let Some(floor) = &plan.check_floor
        && floor < &min
    {
        return Some(format!(
            "needs current version {min} or newer; a check phase runs on {floor}"
        ));
    }
    if !spec.externally_idempotent && plan.requires_external_idempotence {
        return Some(
            "not externally idempotent, and this scenario runs a Manipulate phase more than once"
                .into(),
        );
    }
    None
}

#[cfg(test)]
mod tests;
