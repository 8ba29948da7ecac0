//! scenario-operator: rehearses Materialize upgrades on Kubernetes.
//!
//! - [`api`]: the `ScenarioRun` resource and shared names.
//! - [`checks`]: the testdrive-dialect check scripts.
//! - [`downtime`]: client downtime from the probe's answers, and budgets, pure.
//! - [`environmentd`]: environmentd's ports and paths.
//! - [`plan`]: the pure planner (built-in scenarios, enrichment, semantic checks).
//! - [`manifest`]: reading manifests with field-path and line errors.
//! - [`version`]: Materialize versions and upgrade rules.
//! - [`operator`]: the controller that runs ScenarioRuns on a cluster.
//! - [`cli`]: the command line.
#![forbid(unsafe_code)]

pub mod api;
pub mod checks;
pub mod cli;
pub mod downtime;
pub mod environmentd;
pub mod manifest;
pub mod operator;
pub mod plan;
pub mod report;
pub mod version;

/// FNV-1a: a hash that is the same in every build and process (unlike `DefaultHasher`), for
/// names derived from names.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Cuts `text` to at most `max` bytes without splitting a character (`String::truncate` panics
/// when `max` falls inside one), marking the cut with `…`.
pub fn truncate_at_char(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
}

#[cfg(test)]
mod tests {
    #[test]
    fn truncation_never_splits_a_character() {
        // Every cut point through multi-byte text: no panic, never longer than the limit.
        let text = "ünïcødé ✓ ".repeat(200);
        for max in 0..64 {
            let mut t = text.clone();
            super::truncate_at_char(&mut t, max);
            assert!(t.len() <= max.max('…'.len_utf8()), "{max}: {t}");
            assert!(t.ends_with('…'));
        }
        let mut short = "ünï".to_string();
        super::truncate_at_char(&mut short, 1024);
        assert_eq!(short, "ünï");
    }
}
