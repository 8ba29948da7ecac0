//! The all-in-one `materialize/materialized` image's entrypoint (src/materialized/ci/
//! entrypoint.sh, `set -euo pipefail`): unless `MZ_NO_BUILTIN_POSTGRES` is set it starts its
//! own PostgreSQL; then it exports defaults for every variable left unset — among them the
//! consensus, stash and timestamp-oracle URLs of that built-in PostgreSQL, which then conflict
//! with `--metadata-backend-url` in environmentd's argument parser.

use std::collections::BTreeMap;

use super::{EXIT_SCRIPT, Refusal, boot::IMAGE_LISTENER_FILES};

/// Runs the entrypoint's part: the environment environmentd starts with.
pub fn run(mut env: BTreeMap<String, String>) -> Result<BTreeMap<String, String>, Refusal> {
    let set = |env: &BTreeMap<String, String>, k: &str| env.get(k).is_some_and(|v| !v.is_empty());
    if !set(&env, "MZ_NO_BUILTIN_POSTGRES") {
        return Err(Refusal {
            message: "mzsim: the image's built-in PostgreSQL is not simulated (and its state \
                      would be the pod's alone, lost to the next generation): set \
                      MZ_NO_BUILTIN_POSTGRES=1 and the consensus, stash and timestamp oracle \
                      URLs"
                .into(),
            code: EXIT_SCRIPT,
        });
    }
    // With the built-in PostgreSQL off, the script still builds its default URLs from
    // MZ_BUILTIN_POSTGRES_PORT, which only that branch exports: under `set -u` an unset URL
    // aborts the script (read from the newest stored entrypoint; older ones hard-code the
    // port and export the defaults instead).
    for var in [
        "MZ_PERSIST_CONSENSUS_URL",
        "MZ_ADAPTER_STASH_URL",
        "MZ_TIMESTAMP_ORACLE_URL",
    ] {
        if !set(&env, var) && !set(&env, "MZ_BUILTIN_POSTGRES_PORT") {
            return Err(Refusal {
                message: format!(
                    "/usr/local/bin/entrypoint.sh: MZ_BUILTIN_POSTGRES_PORT: unbound variable \
                     ({var} is unset)"
                ),
                code: EXIT_SCRIPT,
            });
        }
    }
    let defaults = [
        ("MZ_PERSIST_BLOB_URL", "file:///mzdata/persist/blob".to_string()),
        ("MZ_ORCHESTRATOR", "process".into()),
        ("MZ_ORCHESTRATOR_PROCESS_SECRETS_DIRECTORY", "/mzdata/secrets".into()),
        (
            "MZ_CLUSTER_REPLICA_SIZES",
            r#"{"25cc":{"cpu_exclusive":false,"cpu_limit":0.5,"credits_per_hour":"0.25","disk_limit":"7762MiB","memory_limit":"3881MiB","scale":1,"workers":1}}"#.into(),
        ),
        ("MZ_BOOTSTRAP_DEFAULT_CLUSTER_REPLICA_SIZE", "25cc".into()),
        ("MZ_BOOTSTRAP_BUILTIN_SYSTEM_CLUSTER_REPLICA_SIZE", "25cc".into()),
        ("MZ_BOOTSTRAP_BUILTIN_PROBE_CLUSTER_REPLICA_SIZE", "25cc".into()),
        ("MZ_BOOTSTRAP_BUILTIN_SUPPORT_CLUSTER_REPLICA_SIZE", "25cc".into()),
        ("MZ_BOOTSTRAP_BUILTIN_CATALOG_SERVER_CLUSTER_REPLICA_SIZE", "25cc".into()),
        ("MZ_BOOTSTRAP_BUILTIN_ANALYTICS_CLUSTER_REPLICA_SIZE", "25cc".into()),
        (
            "MZ_LISTENERS_CONFIG_PATH",
            format!("{IMAGE_LISTENER_FILES}no_auth.json"),
        ),
        (
            "MZ_ENVIRONMENT_ID",
            "docker-container-00000000-0000-0000-0000-000000000000-0".into(),
        ),
        ("MZ_BOOTSTRAP_ROLE", "materialize".into()),
    ];
    for (k, v) in defaults {
        if !set(&env, k) {
            env.insert(k.to_string(), v);
        }
    }
    Ok(env)
}
