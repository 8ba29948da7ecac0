//! The one home of environmentd's ports, paths and the testdrive variables that name them: the
//! planner (healthcheck defaults), the renderer (listeners, Service, probes), the clients and
//! the check runner all take them from here. Its submodules hold what environmentd demands of
//! its arguments, by version ([`versions`]), which mzsim's strict mode checks too.

pub mod environment_id;
pub mod listeners;
pub mod sizes;
pub mod versions;

/// External SQL (pgwire) for normal roles.
pub const SQL_PORT: u16 = 6875;
/// External HTTP for normal roles.
pub const HTTP_PORT: u16 = 6876;
/// Internal SQL: the `mz_system` role.
pub const INTERNAL_SQL_PORT: u16 = 6877;
/// Internal HTTP: readiness, the leader API, metrics.
pub const INTERNAL_HTTP_PORT: u16 = 6878;

/// Persist pubsub: clusterd processes subscribe here for shard updates instead of polling
/// consensus (`--internal-persist-pubsub-listen-addr`, `--persist-pubsub-url`).
pub const PERSIST_PUBSUB_PORT: u16 = 6879;

/// Named ports, in the order the Service and the container list them.
pub const PORTS: [(&str, u16); 5] = [
    ("sql", SQL_PORT),
    ("http", HTTP_PORT),
    ("internal-sql", INTERNAL_SQL_PORT),
    ("internal-http", INTERNAL_HTTP_PORT),
    ("persist-pubsub", PERSIST_PUBSUB_PORT),
];

/// Default healthcheck of a plain StartMz (platform-checks: `curl -f localhost:6878/api/readyz`).
pub const READYZ_PATH: &str = "/api/readyz";
/// The leader API: status (also the healthcheck of a read-only generation, platform-checks'
/// `LEADER_STATUS_HEALTHCHECK`), promote and skip-catchup.
pub const LEADER_STATUS_PATH: &str = "/api/leader/status";
pub const LEADER_PROMOTE_PATH: &str = "/api/leader/promote";
pub const LEADER_SKIP_CATCHUP_PATH: &str = "/api/leader/skip-catchup";

/// Where the listener configuration is mounted (orchestratord's path) and its file name.
pub const LISTENERS_DIR: &str = "/listeners";
pub const LISTENERS_FILE: &str = "listeners.json";

/// Where the license key is mounted (orchestratord's path: the backend Secret's
/// `license_key`, `MZ_LICENSE_KEY` pointing at the file).
pub const LICENSE_KEY_DIR: &str = "/license_key";
pub const LICENSE_KEY_FILE: &str = "license_key";

/// The role checks and ConfigureMz's first statement run as, and the system role.
pub const USER: &str = "materialize";
pub const SYSTEM_USER: &str = "mz_system";

/// The testdrive variables platform-checks' scripts read for the environmentd at `host`, with
/// their values.
pub fn testdrive_addresses(host: &str) -> [(&'static str, String); 5] {
    [
        (
            "testdrive.materialize-sql-addr",
            format!("{host}:{SQL_PORT}"),
        ),
        (
            "testdrive.materialize-internal-sql-addr",
            format!("{host}:{INTERNAL_SQL_PORT}"),
        ),
        (
            "testdrive.materialize-http-addr",
            format!("{host}:{HTTP_PORT}"),
        ),
        (
            "testdrive.materialize-internal-http-addr",
            format!("{host}:{INTERNAL_HTTP_PORT}"),
        ),
        ("testdrive.materialize-user", USER.to_string()),
    ]
}
