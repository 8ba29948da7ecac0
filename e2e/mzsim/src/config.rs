//! mzsim's command line, read the way environmentd reads its own: every flag may also come from
//! `MZ_<FLAG>`, flags it does not simulate are accepted and ignored (one log line each), so the
//! arguments an operator renders for real environmentd work unchanged.

use std::{collections::BTreeMap, net::SocketAddr, time::Duration};

use scenario_operator::version::MzVersion;

use crate::failpoints::Failpoints;

/// environmentd's default listeners.
pub const DEFAULT_SQL: &str = "0.0.0.0:6875";
pub const DEFAULT_HTTP: &str = "0.0.0.0:6876";
pub const DEFAULT_INTERNAL_SQL: &str = "0.0.0.0:6877";
pub const DEFAULT_INTERNAL_HTTP: &str = "0.0.0.0:6878";

/// Version mzsim claims when `MZSIM_VERSION` is unset.
pub const DEFAULT_VERSION: &str = "v26.0.0-dev";

#[derive(Debug, Clone, PartialEq)]
pub struct Listeners {
    pub sql: SocketAddr,
    pub http: SocketAddr,
    pub internal_sql: SocketAddr,
    pub internal_http: SocketAddr,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub deploy_generation: u64,
    /// PostgreSQL URL of the metadata backend (`--metadata-backend-url` or
    /// `--persist-consensus-url`).
    pub metadata_url: String,
    pub environment_id: String,
    /// `--system-parameter-default` entries, in order.
    pub system_parameter_defaults: BTreeMap<String, String>,
    pub listeners: Listeners,
    /// `MZSIM_VERSION`: the version this process claims to be.
    pub version: MzVersion,
    /// `MZSIM_CATCHUP`: how long a read-only generation takes to catch up.
    pub catchup: Duration,
    /// `MZSIM_DDL_CHECK_INTERVAL`: how often a read-only generation looks for new catalog items.
    pub ddl_check_interval: Duration,
    /// `MZSIM_FENCE_CHECK_INTERVAL`: how often a leader checks whether it was fenced.
    pub fence_check_interval: Duration,
    pub failpoints: Failpoints,
    /// Flags accepted but not simulated, for the start-up log.
    pub ignored: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Flags mzsim reads; each also comes from `MZ_<NAME>` (upper case, `-` → `_`).
const FLAGS: &[&str] = &[
    "deploy-generation",
    "metadata-backend-url",
    "persist-consensus-url",
    "persist-blob-url",
    "environment-id",
    "system-parameter-default",
    "listeners-config-path",
    "sql-listen-addr",
    "http-listen-addr",
    "internal-sql-listen-addr",
    "internal-http-listen-addr",
];

/// Parses `args` (without the program name) and the environment lookup `env`.
pub fn parse(args: &[String], env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let mut values: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut ignored = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        let Some(flag) = arg.strip_prefix("--") else {
            return Err(ConfigError(format!("unexpected argument {arg:?}")));
        };
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (flag, None),
        };
        // A flag's value is inline, or the next argument unless that is another flag (then the
        // flag is a boolean switch such as --unsafe-mode).
        let value = match inline {
            Some(v) => Some(v),
            None if args.get(i + 1).is_some_and(|next| !next.starts_with("--")) => {
                i += 1;
                Some(args[i].clone())
            }
            None => None,
        };
        match FLAGS.iter().find(|f| **f == name) {
            Some(known) => {
                let v = value.ok_or_else(|| ConfigError(format!("--{name} needs a value")))?;
                values.entry(known).or_default().push(v);
            }
            None => ignored.push(format!("--{name}")),
        }
        i += 1;
    }
    let get = |name: &str| -> Option<String> {
        values
            .get(name)
            .and_then(|v| v.last().cloned())
            .or_else(|| env(&format!("MZ_{}", name.to_uppercase().replace('-', "_"))))
    };

    let deploy_generation = match get("deploy-generation") {
        None => 0,
        Some(g) => g
            .parse()
            .map_err(|_| ConfigError(format!("--deploy-generation: {g:?} is not a number")))?,
    };
    let metadata_url = get("metadata-backend-url")
        .or_else(|| get("persist-consensus-url"))
        .ok_or_else(|| {
            ConfigError(
                "--metadata-backend-url or --persist-consensus-url (a PostgreSQL URL) is required"
                    .into(),
            )
        })?;
    let environment_id = get("environment-id")
        .unwrap_or_else(|| "mzsim-local-00000000-0000-0000-0000-000000000000-0".to_string());

    // Repeated flags and `;`-separated lists both add parameters; later entries win.
    let mut system_parameter_defaults = BTreeMap::new();
    let mut entries: Vec<String> = values
        .get("system-parameter-default")
        .cloned()
        .unwrap_or_default();
    if entries.is_empty()
        && let Some(from_env) = env("MZ_SYSTEM_PARAMETER_DEFAULT")
    {
        entries.push(from_env);
    }
    for entry in entries
        .iter()
        .flat_map(|e| e.split(';'))
        .filter(|e| !e.trim().is_empty())
    {
        let (k, v) = entry.split_once('=').ok_or_else(|| {
            ConfigError(format!(
                "--system-parameter-default: {entry:?} is not name=value"
            ))
        })?;
        system_parameter_defaults.insert(k.trim().to_string(), v.trim().to_string());
    }

    let listeners = match get("listeners-config-path") {
        // The all-in-one image's own files: the default ports (mzsim does not ship them).
        Some(path)
            if path.starts_with(crate::strict::IMAGE_LISTENER_FILES)
                && !std::path::Path::new(&path).exists() =>
        {
            default_listeners()
        }
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| ConfigError(format!("--listeners-config-path {path}: {e}")))?;
            listeners_from_json(&text).map_err(|e| ConfigError(format!("{path}: {e}")))?
        }
        None => {
            let addr = |flag: &str, default: &str| -> Result<SocketAddr, ConfigError> {
                let raw = get(flag).unwrap_or_else(|| default.to_string());
                raw.parse()
                    .map_err(|_| ConfigError(format!("--{flag}: {raw:?} is not host:port")))
            };
            Listeners {
                sql: addr("sql-listen-addr", DEFAULT_SQL)?,
                http: addr("http-listen-addr", DEFAULT_HTTP)?,
                internal_sql: addr("internal-sql-listen-addr", DEFAULT_INTERNAL_SQL)?,
                internal_http: addr("internal-http-listen-addr", DEFAULT_INTERNAL_HTTP)?,
            }
        }
    };

    let version_raw = env("MZSIM_VERSION").unwrap_or_else(|| DEFAULT_VERSION.to_string());
    let version = version_raw
        .parse()
        .map_err(|e| ConfigError(format!("MZSIM_VERSION: {e}")))?;
    let duration = |name: &str, default_ms: u64| -> Result<Duration, ConfigError> {
        match env(name) {
            None => Ok(Duration::from_millis(default_ms)),
            Some(raw) => parse_duration(&raw).map_err(|e| ConfigError(format!("{name}: {e}"))),
        }
    };
    let failpoints = Failpoints::parse(&env("MZSIM_FAILPOINTS").unwrap_or_default())
        .map_err(|e| ConfigError(format!("MZSIM_FAILPOINTS: {e}")))?;

    Ok(Config {
        deploy_generation,
        metadata_url,
        environment_id,
        system_parameter_defaults,
        listeners,
        version,
        catchup: duration("MZSIM_CATCHUP", 2000)?,
        ddl_check_interval: duration("MZSIM_DDL_CHECK_INTERVAL", 500)?,
        fence_check_interval: duration("MZSIM_FENCE_CHECK_INTERVAL", 200)?,
        failpoints,
        ignored,
    })
}

fn default_listeners() -> Listeners {
    let addr = |a: &str| a.parse().expect("default listener addresses are valid");
    Listeners {
        sql: addr(DEFAULT_SQL),
        http: addr(DEFAULT_HTTP),
        internal_sql: addr(DEFAULT_INTERNAL_SQL),
        internal_http: addr(DEFAULT_INTERNAL_HTTP),
    }
}

/// `1500ms`, `2s`, `1m`, or a bare number of milliseconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration like 500ms or 2s"))?;
    match unit {
        "" | "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("{raw:?} has an unknown unit (ms, s or m)")),
    }
}

/// environmentd's listener configuration file: `{"sql": {name: {"addr": …, "allowed_roles":
/// …}}, "http": {name: {"addr": …, …}}}`. A listener named `internal` or allowing the
/// `Internal` roles is the internal one.
fn listeners_from_json(text: &str) -> Result<Listeners, String> {
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("invalid listeners JSON: {e}"))?;
    let pick = |kind: &str, internal: bool| -> Result<SocketAddr, String> {
        let group = json
            .get(kind)
            .and_then(|g| g.as_object())
            .ok_or(format!("no {kind:?} listeners"))?;
        for (name, listener) in group {
            let roles = listener
                .get("allowed_roles")
                .and_then(|r| r.as_str())
                .unwrap_or("");
            let is_internal = name == "internal" || roles.starts_with("Internal");
            if is_internal == internal {
                let addr = listener
                    .get("addr")
                    .and_then(|a| a.as_str())
                    .ok_or(format!("{kind}.{name} has no addr"))?;
                return addr
                    .parse()
                    .map_err(|_| format!("{kind}.{name}.addr {addr:?} is not host:port"));
            }
        }
        Err(format!(
            "no {} {kind} listener",
            if internal { "internal" } else { "external" }
        ))
    };
    Ok(Listeners {
        sql: pick("sql", false)?,
        http: pick("http", false)?,
        internal_sql: pick("sql", true)?,
        internal_http: pick("http", true)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn reads_flags_in_both_forms_and_ignores_unknown_ones() {
        let cfg = parse(
            &args(&[
                "--deploy-generation=2",
                "--metadata-backend-url",
                "postgres://u@h/db",
                "--unsafe-mode",
                "--orchestrator=kubernetes",
                "--environment-id",
                "env-1",
                "--system-parameter-default=a=1;b=2",
                "--system-parameter-default=c=3",
            ]),
            no_env,
        )
        .unwrap();
        assert_eq!(cfg.deploy_generation, 2);
        assert_eq!(cfg.metadata_url, "postgres://u@h/db");
        assert_eq!(cfg.environment_id, "env-1");
        assert_eq!(cfg.ignored, ["--unsafe-mode", "--orchestrator"]);
        let params: Vec<_> = cfg.system_parameter_defaults.into_iter().collect();
        assert_eq!(params.len(), 3);
        assert_eq!(cfg.listeners.internal_http.port(), 6878);
    }

    #[test]
    fn environment_variables_fill_in_flags() {
        let env = |k: &str| match k {
            "MZ_DEPLOY_GENERATION" => Some("3".to_string()),
            "MZ_PERSIST_CONSENSUS_URL" => Some("postgres://x/y".to_string()),
            "MZ_SYSTEM_PARAMETER_DEFAULT" => Some("x=1".to_string()),
            "MZSIM_VERSION" => Some("v26.1.0".to_string()),
            "MZSIM_CATCHUP" => Some("150ms".to_string()),
            _ => None,
        };
        let cfg = parse(&[], env).unwrap();
        assert_eq!(cfg.deploy_generation, 3);
        assert_eq!(cfg.metadata_url, "postgres://x/y");
        assert_eq!(cfg.version.to_string(), "v26.1.0");
        assert_eq!(cfg.catchup, Duration::from_millis(150));
        assert_eq!(cfg.system_parameter_defaults["x"], "1");
    }

    #[test]
    fn listeners_come_from_the_config_file_format() {
        let json = r#"{
          "sql": {"external": {"addr": "127.0.0.1:16875", "allowed_roles": "Normal"},
                  "internal": {"addr": "127.0.0.1:16877", "allowed_roles": "Internal"}},
          "http": {"external": {"addr": "127.0.0.1:16876", "allowed_roles": "Normal"},
                   "internal": {"addr": "127.0.0.1:16878", "allowed_roles": "NormalAndInternal"}}
        }"#;
        let l = listeners_from_json(json).unwrap();
        assert_eq!(l.sql.port(), 16875);
        assert_eq!(l.internal_sql.port(), 16877);
        assert_eq!(l.http.port(), 16876);
        assert_eq!(l.internal_http.port(), 16878);
    }

    #[test]
    fn bad_input_is_named() {
        let e = parse(&args(&["--deploy-generation=x"]), no_env).unwrap_err();
        assert!(e.0.contains("--deploy-generation"), "{e}");
        let e = parse(&args(&["stray"]), no_env).unwrap_err();
        assert!(e.0.contains("stray"), "{e}");
        let e = parse(&[], no_env).unwrap_err();
        assert!(e.0.contains("--metadata-backend-url"), "{e}");
        assert!(parse_duration("5h").is_err());
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
    }
}
