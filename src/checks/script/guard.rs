//! Testdrive's version guards: `>[version>=14700] SELECT …` runs the command only when the
//! server's version number is in range, and skips it silently otherwise (read in testdrive's
//! `parser.rs`, `parse_version_constraint`). The number is `mz_version_num()`'s: major × 100000
//! + minor × 100 + patch, so v0.147.3 is 14703 and v26.1.0 is 2600100.

use crate::version::MzVersion;

/// An inclusive range of version numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRange {
    pub min: u64,
    pub max: u64,
}

/// Testdrive's "no upper bound".
const MAX: u64 = 9_999_999;

impl VersionRange {
    pub fn contains(&self, n: u64) -> bool {
        (self.min..=self.max).contains(&n)
    }
}

/// `mz_version_num()` of a version (prerelease and build suffixes do not count).
pub fn version_num(v: &MzVersion) -> u64 {
    v.major * 100_000 + v.minor * 100 + v.patch
}

/// One comparison: `version<op>N` or `M<op>version`, or `M<op>version<op>N`.
fn one(text: &str) -> Result<VersionRange, String> {
    let (mut min, mut max) = (0, MAX);
    let Some(at) = text.find("version") else {
        return Err(format!(
            "invalid property in [{text}]: only version is known"
        ));
    };
    let (before, after) = (&text[..at], &text[at + "version".len()..]);
    let number = |s: &str| {
        s.parse::<u64>()
            .map_err(|_| format!("invalid version number {s:?} in [{text}]"))
    };
    if !before.is_empty() {
        let (m, op) = if let Some(m) = before.strip_suffix("<=") {
            (m, "<=")
        } else if let Some(m) = before.strip_suffix('<') {
            (m, "<")
        } else {
            return Err(format!(
                "a minimum before version takes < or <=, in [{text}]"
            ));
        };
        let m = number(m)?;
        min = if op == "<" { m + 1 } else { m };
    }
    if !after.is_empty() {
        let (op, n) = ["<=", ">=", "<", ">", "="]
            .iter()
            .find_map(|op| after.strip_prefix(op).map(|n| (*op, n)))
            .ok_or_else(|| format!("unknown comparison operator in [{text}]"))?;
        let n = number(n)?;
        if !before.is_empty() && matches!(op, ">" | ">=") {
            return Err(format!(
                "found comparison operator {op} with a set minimum version, in [{text}]"
            ));
        }
        match op {
            "=" => (min, max) = (min.max(n), n),
            "<" => max = n.checked_sub(1).ok_or("version<0 matches nothing")?,
            "<=" => max = n,
            ">" => min = n + 1,
            _ => min = n,
        }
    } else if before.is_empty() {
        return Err(format!("[{text}] compares version with nothing"));
    }
    Ok(VersionRange { min, max })
}

/// The text between `[` and `]`, e.g. `version>=14700`, `14700<=version<15000`. Several
/// comparisons joined by `&` (seen in upstream checks, e.g. `version>=2601600&version<2601700`)
/// must all hold.
pub fn parse(text: &str) -> Result<VersionRange, String> {
    if text.contains(char::is_whitespace) {
        return Err(format!("no spaces inside a version guard: [{text}]"));
    }
    let mut range = VersionRange { min: 0, max: MAX };
    for part in text.split('&') {
        let r = one(part)?;
        range = VersionRange {
            min: range.min.max(r.min),
            max: range.max.min(r.max),
        };
    }
    Ok(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_numbers_are_testdrives() {
        let n = |v: &str| version_num(&v.parse().unwrap());
        assert_eq!(n("v0.147.3"), 14703);
        assert_eq!(n("v0.82.0"), 8200);
        assert_eq!(n("v26.1.0"), 2600100);
        assert_eq!(n("v26.16.0-dev"), 2601600);
    }

    #[test]
    fn every_guard_form_and_its_errors() {
        let r = |t: &str| parse(t).map(|r| (r.min, r.max));
        assert_eq!(r("version>=14700"), Ok((14700, MAX)));
        assert_eq!(r("version>14700"), Ok((14701, MAX)));
        assert_eq!(r("version<14700"), Ok((0, 14699)));
        assert_eq!(r("version<=14700"), Ok((0, 14700)));
        assert_eq!(r("version=14700"), Ok((14700, 14700)));
        assert_eq!(r("14700<version"), Ok((14701, MAX)));
        assert_eq!(r("14700<=version<15000"), Ok((14700, 14999)));
        assert_eq!(
            r("version>=2601600&version<2601700"),
            Ok((2601600, 2601699))
        );
        assert!(parse("version>=14700").unwrap().contains(14700));
        assert!(!parse("version<14700").unwrap().contains(14700));
        for (bad, why) in [
            ("version==1", "invalid version number"),
            ("vers>=1", "invalid property"),
            ("version>=x", "invalid version number"),
            ("1<version>=2", "with a set minimum"),
            ("version >= 1", "no spaces"),
            ("version!=1", "unknown comparison operator"),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
