//! What environmentd needs, by version: the one table of version gates. The renderer picks
//! every version-dependent argument from here for the tag of the StartMz (or
//! ReplaceEnvironmentdStatefulSet) it renders, and mzsim's strict mode refuses to boot from the
//! same table, so the two cannot drift apart on a version boundary.
//!
//! Each gate names the upstream code it mirrors. Gates are written with a `-dev` prerelease
//! where upstream's is `-dev.0` or `-dev`: `v0.147.0-dev` sorts before every `v0.147.0-dev.N`,
//! so a development build of the gated release counts as having it, as upstream's semver
//! comparison does.

use crate::version::MzVersion;

/// A version boundary and where upstream draws it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gate {
    /// First version that has the feature.
    pub since: &'static str,
    /// The upstream code this boundary mirrors.
    pub upstream: &'static str,
}

impl Gate {
    pub fn version(&self) -> MzVersion {
        self.since.parse().expect("gate versions are valid")
    }

    /// Whether `v` is at or past the boundary.
    pub fn admits(&self, v: &MzVersion) -> bool {
        *v >= self.version()
    }
}

/// `--listeners-config-path` (a JSON file) instead of the four `--*-listen-addr` flags.
pub const LISTENERS_CONFIG: Gate = Gate {
    since: "v0.147.0-dev",
    upstream: "orchestratord generation.rs V147_DEV0; mzcompose listener_config.py",
};
/// HTTP routes as per-group objects `{enabled, allowed_roles}` (schema `26.32.0`) instead of
/// booleans (schema `0.147.0`).
pub const ROUTE_GROUPS: Gate = Gate {
    since: "v26.32.0-dev",
    upstream: "mzcompose listener_config.py (>= v26.32.0-dev → listener_configs/v26_32_0)",
};
/// A license key is required with the Kubernetes orchestrator.
pub const LICENSE_KEY: Gate = Gate {
    since: "v0.140.0-dev",
    upstream: "orchestratord generation.rs V140_DEV0 (license-key volume, MZ_LICENSE_KEY)",
};
/// `--disable-license-key-checks` exists (from here until [`LICENSE_CHECKS_MANDATORY`]).
pub const LICENSE_CHECKS_OPTIONAL: Gate = Gate {
    since: "v0.143.0",
    upstream: "orchestratord generation.rs V143",
};
/// License checks can no longer be disabled: the flag is gone.
pub const LICENSE_CHECKS_MANDATORY: Gate = Gate {
    since: "v0.153.0",
    upstream: "orchestratord generation.rs V153 (\"as of version 0.153, the ability to disable \
               license key checks was removed\")",
};

/// `--cluster-replica-sizes` is a required argument (a plain `String` in every license-era
/// main.rs; older releases had development defaults). The exact release is not pinned down
/// upstream; v0.147, the oldest of the matrix, is license-era.
pub const REPLICA_SIZES_REQUIRED: Gate = Gate {
    since: "v0.147.0-dev",
    upstream: "environmentd main.rs `cluster_replica_sizes: String` (license-era; earlier \
               releases unverified)",
};

/// `--orchestrator-kubernetes-service-affinity` and `-tolerations` (JSON) exist.
pub const SERVICE_AFFINITY_TOLERATIONS: Gate = Gate {
    since: "v0.144.0",
    upstream: "orchestratord generation.rs V144 (clusterd affinity and tolerations)",
};

/// Every gate, for documentation and the tests.
pub const GATES: [(&str, Gate); 7] = [
    ("listeners config file", LISTENERS_CONFIG),
    ("route-group listener schema", ROUTE_GROUPS),
    ("license key", LICENSE_KEY),
    ("--disable-license-key-checks", LICENSE_CHECKS_OPTIONAL),
    ("license checks mandatory", LICENSE_CHECKS_MANDATORY),
    ("--cluster-replica-sizes required", REPLICA_SIZES_REQUIRED),
    (
        "clusterd affinity and tolerations",
        SERVICE_AFFINITY_TOLERATIONS,
    ),
];

/// How environmentd of a version takes its listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerSchema {
    /// `--sql-listen-addr` and friends; no listeners file.
    Flags,
    /// A listeners file with boolean HTTP routes (`v0_147_0`).
    BoolRoutes,
    /// A listeners file with route-group objects and `"version": "26.32.0"` (`v26_32_0`).
    RouteGroups,
}

/// What the Kubernetes orchestrator of a version demands about the license key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum License {
    /// Before license keys.
    None,
    /// `--license-key` (a file) is required.
    Required,
    /// Required unless `--disable-license-key-checks`, which the renderer passes, as
    /// orchestratord does with its chart's defaults (`enableLicenseKeyChecks: false`).
    Disableable,
}

/// The version-dependent needs of one environmentd version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    pub listeners: ListenerSchema,
    pub license: License,
}

impl Needs {
    pub fn of(v: &MzVersion) -> Needs {
        let listeners = if ROUTE_GROUPS.admits(v) {
            ListenerSchema::RouteGroups
        } else if LISTENERS_CONFIG.admits(v) {
            ListenerSchema::BoolRoutes
        } else {
            ListenerSchema::Flags
        };
        let license = if LICENSE_CHECKS_MANDATORY.admits(v) {
            License::Required
        } else if LICENSE_CHECKS_OPTIONAL.admits(v) {
            License::Disableable
        } else if LICENSE_KEY.admits(v) {
            License::Required
        } else {
            License::None
        };
        Needs { listeners, license }
    }
}

/// The flag a forced builtin migration needs. The value says which flag the image has: older
/// releases take `--unsafe-builtin-table-fingerprint-whitespace=all|half`, newer ones
/// `--unsafe-force-builtin-schema-migration=evolution|replacement` (environmentd's main.rs;
/// the release of the rename is not pinned down upstream, so the value, which the user picks
/// for the image under test, decides rather than a guessed version gate).
pub fn forced_migration_flag(value: &str) -> &'static str {
    match value {
        "evolution" | "replacement" => "--unsafe-force-builtin-schema-migration",
        _ => "--unsafe-builtin-table-fingerprint-whitespace",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needs(v: &str) -> Needs {
        Needs::of(&v.parse().unwrap())
    }

    #[test]
    fn every_gate_parses_and_the_table_is_in_version_order_per_feature() {
        for (name, gate) in GATES {
            assert!(gate.since.parse::<MzVersion>().is_ok(), "{name}");
            assert!(!gate.upstream.is_empty(), "{name}");
        }
        assert!(LICENSE_KEY.version() < LICENSE_CHECKS_OPTIONAL.version());
        assert!(LICENSE_CHECKS_OPTIONAL.version() < LICENSE_CHECKS_MANDATORY.version());
        assert!(LISTENERS_CONFIG.version() < ROUTE_GROUPS.version());
    }

    #[test]
    fn the_version_families_of_the_matrix() {
        use License::*;
        use ListenerSchema::*;
        let cases = [
            ("v0.130.0", Flags, None),
            ("v0.141.2", Flags, Required),
            ("v0.146.0", Flags, Disableable),
            ("v0.147.0-dev.0", BoolRoutes, Disableable),
            ("v0.147.18", BoolRoutes, Disableable),
            ("v0.153.0-dev.3", BoolRoutes, Disableable),
            ("v0.153.0", BoolRoutes, Required),
            ("v0.164.2", BoolRoutes, Required),
            ("v26.1.0", BoolRoutes, Required),
            ("v26.31.9", BoolRoutes, Required),
            ("v26.32.0-dev", RouteGroups, Required),
            ("v26.32.0-dev.0", RouteGroups, Required),
            ("v26.40.1", RouteGroups, Required),
        ];
        for (v, listeners, license) in cases {
            assert_eq!(needs(v), Needs { listeners, license }, "{v}");
        }
    }

    #[test]
    fn the_forced_migration_value_picks_the_flag() {
        assert_eq!(
            forced_migration_flag("all"),
            "--unsafe-builtin-table-fingerprint-whitespace"
        );
        assert_eq!(
            forced_migration_flag("evolution"),
            "--unsafe-force-builtin-schema-migration"
        );
    }
}
