//! Materialize versions (`v0.147.3`, `v26.1.0`, `v26.2.0-dev`) and the upgrade rules Materialize
//! enforces between them.
//!
//! The rules come from environmentd's catalog/persist version checks and orchestratord's
//! `is_valid_upgrade_version`; the planner uses them to refuse a version step before anything runs.

use std::{cmp::Ordering, fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Regular expression (for CRD schemas) that every version string must match.
pub const VERSION_PATTERN: &str = r"^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$";

/// A Materialize release version: `v<major>.<minor>.<patch>[-<prerelease>]`.
///
/// Ordering follows semver: a prerelease sorts before its release (`v26.2.0-dev < v26.2.0`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MzVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    /// Prerelease suffix without the dash, e.g. `dev` or `rc.1`.
    pub prerelease: Option<String>,
}

/// Why a string is not a Materialize version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{input:?} is not a Materialize version (expected v<major>.<minor>.<patch>[-<pre>], e.g. v26.1.0)"
)]
pub struct ParseVersionError {
    input: String,
}

impl FromStr for MzVersion {
    type Err = ParseVersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseVersionError {
            input: s.to_string(),
        };
        let rest = s.strip_prefix('v').ok_or_else(err)?;
        let (core, prerelease) = match rest.split_once('-') {
            Some((core, pre)) => {
                let valid = !pre.is_empty()
                    && pre
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
                if !valid {
                    return Err(err());
                }
                (core, Some(pre.to_string()))
            }
            None => (rest, None),
        };
        let mut parts = core.split('.');
        let mut number = || -> Result<u64, ParseVersionError> {
            let p = parts.next().ok_or_else(err)?;
            if p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()) {
                return Err(err());
            }
            p.parse().map_err(|_| err())
        };
        let (major, minor, patch) = (number()?, number()?, number()?);
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(MzVersion {
            major,
            minor,
            patch,
            prerelease,
        })
    }
}

impl fmt::Display for MzVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)?;
        if let Some(pre) = &self.prerelease {
            write!(f, "-{pre}")?;
        }
        Ok(())
    }
}

impl Ord for MzVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (&self.prerelease, &other.prerelease) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => a.cmp(b),
            })
    }
}

impl PartialOrd for MzVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Serialize for MzVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MzVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl MzVersion {
    /// The same release without its prerelease suffix, for "which minor is this" questions.
    fn release(&self) -> (u64, u64) {
        (self.major, self.minor)
    }

    /// Whether this is on the pre-26 `v0.x` line, where every minor is its own release train.
    fn is_zero_line(&self) -> bool {
        self.major == 0
    }
}

/// A version step Materialize refuses, with the reason it gives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpgradeRefusal {
    /// The catalog was last written by a newer version (persist: "state from the future").
    #[error(
        "downgrade from {catalog} to {next} is refused: Materialize {next} received persist state \
         from the future {catalog}"
    )]
    Downgrade { catalog: MzVersion, next: MzVersion },
    /// On the 0.x line the catalog accepts only one minor version forward at a time.
    #[error(
        "upgrade from {catalog} to {next} skips a minor version: incompatible persist version \
         {catalog}, current: {next}, make sure to upgrade the catalog one version forward at a time"
    )]
    SkipsMinor { catalog: MzVersion, next: MzVersion },
    /// From 0.x, only v0.147.20+ (last self-managed) or v0.164+ (cloud) may move to v26.
    #[error(
        "upgrade from {catalog} to {next} is refused: the step from v0.x to v26 needs v0.147.20 or \
         later on the 0.147 line, or v0.164.0 or later"
    )]
    ZeroToMajor { catalog: MzVersion, next: MzVersion },
    /// On v26 and later at most one major version at a time.
    #[error(
        "Refusing to upgrade from {catalog} to {next}. More than one major version from last \
         successful rollout"
    )]
    SkipsMajor { catalog: MzVersion, next: MzVersion },
}

/// Checks whether a process of version `next` may open a catalog last opened by `catalog`.
///
/// Same release (any patch) is always fine; going back past the catalog's version is refused;
/// forward steps follow the 0.x one-minor rule, the 0.x→26 gate and the ≥26 one-major rule.
pub fn check_upgrade(catalog: &MzVersion, next: &MzVersion) -> Result<(), UpgradeRefusal> {
    let refuse =
        |make: fn(MzVersion, MzVersion) -> UpgradeRefusal| Err(make(catalog.clone(), next.clone()));
    if next.release() == catalog.release() {
        // Patch releases and prereleases of one minor share a catalog format; a lower patch of
        // the same minor is still a downgrade, but Materialize only guards minors, so allow it.
        return Ok(());
    }
    if next < catalog {
        return refuse(|catalog, next| UpgradeRefusal::Downgrade { catalog, next });
    }
    match (catalog.is_zero_line(), next.is_zero_line()) {
        (true, true) => {
            // 0.130 → 0.147 is the one sanctioned jump (the first self-managed release line).
            let sanctioned = catalog.minor == 130 && next.minor == 147;
            if next.minor > catalog.minor + 1 && !sanctioned {
                return refuse(|catalog, next| UpgradeRefusal::SkipsMinor { catalog, next });
            }
            Ok(())
        }
        (true, false) => {
            let from_self_managed = catalog.minor == 147 && catalog.patch >= 20;
            if !(from_self_managed || catalog.minor >= 164) {
                return refuse(|catalog, next| UpgradeRefusal::ZeroToMajor { catalog, next });
            }
            if next.major > 26 {
                return refuse(|catalog, next| UpgradeRefusal::SkipsMajor { catalog, next });
            }
            Ok(())
        }
        (false, _) => {
            if next.major > catalog.major + 1 {
                return refuse(|catalog, next| UpgradeRefusal::SkipsMajor { catalog, next });
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> MzVersion {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_prints_both_lines_and_prereleases() {
        for s in ["v0.147.3", "v26.1.0", "v26.2.0-dev", "v0.164.0-rc.1"] {
            assert_eq!(v(s).to_string(), s);
        }
        assert_eq!(v("v26.2.0-dev").prerelease.as_deref(), Some("dev"));
    }

    #[test]
    fn rejects_malformed_versions() {
        for s in [
            "26.1.0",
            "v26.1",
            "v26.1.0.1",
            "v26.x.0",
            "v26.1.0-",
            "v26.1.0-d ev",
            "",
            "v",
        ] {
            assert!(s.parse::<MzVersion>().is_err(), "{s} parsed");
        }
    }

    #[test]
    fn orders_like_semver() {
        assert!(v("v0.147.20") < v("v26.0.0"));
        assert!(v("v26.2.0-dev") < v("v26.2.0"));
        assert!(v("v26.1.9") < v("v26.2.0-dev"));
        assert!(v("v0.9.0") < v("v0.10.0"));
    }

    #[test]
    fn zero_line_allows_one_minor_at_a_time() {
        assert!(check_upgrade(&v("v0.146.0"), &v("v0.147.3")).is_ok());
        assert!(check_upgrade(&v("v0.146.0"), &v("v0.147.0-dev")).is_ok());
        let err = check_upgrade(&v("v0.145.0"), &v("v0.147.0")).unwrap_err();
        assert!(
            err.to_string().contains("one version forward at a time"),
            "{err}"
        );
        assert!(check_upgrade(&v("v0.130.4"), &v("v0.147.0")).is_ok());
    }

    #[test]
    fn downgrades_are_refused_but_same_minor_is_not() {
        let err = check_upgrade(&v("v26.2.0"), &v("v26.1.0")).unwrap_err();
        assert!(matches!(err, UpgradeRefusal::Downgrade { .. }));
        assert!(err.to_string().contains("state from the future"));
        assert!(check_upgrade(&v("v26.2.0-dev"), &v("v26.2.0")).is_ok());
        assert!(check_upgrade(&v("v26.2.1"), &v("v26.2.0")).is_ok());
    }

    #[test]
    fn zero_to_26_needs_a_late_enough_zero_release() {
        assert!(check_upgrade(&v("v0.147.20"), &v("v26.0.0")).is_ok());
        assert!(check_upgrade(&v("v0.164.2"), &v("v26.1.0")).is_ok());
        let err = check_upgrade(&v("v0.147.19"), &v("v26.0.0")).unwrap_err();
        assert!(matches!(err, UpgradeRefusal::ZeroToMajor { .. }));
        let err = check_upgrade(&v("v0.164.0"), &v("v27.0.0")).unwrap_err();
        assert!(matches!(err, UpgradeRefusal::SkipsMajor { .. }));
    }

    #[test]
    fn v26_allows_one_major_and_any_minor() {
        assert!(check_upgrade(&v("v26.1.0"), &v("v26.9.0")).is_ok());
        assert!(check_upgrade(&v("v26.1.0"), &v("v27.3.0")).is_ok());
        let err = check_upgrade(&v("v26.1.0"), &v("v28.0.0")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Refusing to upgrade from v26.1.0 to v28.0.0")
        );
    }
}
