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
        let commands = script::parse(text).map_err(|e| fail(format!("{part} {e}")))?;
        for c in &commands {
            for (line, name) in c.variables() {
                if !VARIABLES.contains(&name.as_str()) {
                    return Err(fail(format!(
                        "{part} line {line}: unknown variable ${{{name}}}; known: {}",
                        VARIABLES.join(", ")
                    )));
                }
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
    })
}

/// Reads one check from a ConfigMap value (YAML, the format of an inline item).
pub fn from_yaml(text: &str, source: &str) -> Result<Check, CheckError> {
    let fail = |message: String| CheckError {
        source: source.to_string(),
        check: None,
        message,
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
    compile(&spec, source)
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

    pub fn compile(&self) -> Result<Vec<Check>, CheckError> {
        self.checks
            .iter()
            .map(|e| compile(&e.spec, &e.source))
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
