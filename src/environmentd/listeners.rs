//! environmentd's listeners, in the form the version being started reads
//! ([`ListenerSchema`]): four `--*-listen-addr` flags before v0.147, then a JSON file whose
//! HTTP listeners carry `routes` — booleans (`0.147.0` schema, src/server-core/src/listeners.rs)
//! until v26.31, route-group objects `{enabled, allowed_roles}` (`26.32.0` schema) after.
//!
//! No TLS and no authentication, as orchestratord renders authenticatorKind None: external SQL
//! and HTTP for normal roles, internal SQL for `mz_system`, internal HTTP with the leader API
//! (`routes.internal`) and readiness (`routes.metrics`), which the operator polls. The file is
//! environmentd's own format, not a Kubernetes object, so `json!` is its schema here.

use serde_json::{Value, json};

use super::{HTTP_PORT, INTERNAL_HTTP_PORT, INTERNAL_SQL_PORT, SQL_PORT, versions::ListenerSchema};

/// The `version` tag orchestratord writes (`VersionedListenersConfig`); versions that do not
/// know the field ignore it (no `deny_unknown_fields`), and one 26.32 build requires it.
fn version_tag(schema: ListenerSchema) -> &'static str {
    match schema {
        ListenerSchema::RouteGroups => "26.32.0",
        _ => "0.147.0",
    }
}

fn sql_listener(port: u16, roles: &str) -> Value {
    json!({"addr": format!("0.0.0.0:{port}"), "authenticator_kind": "None", "allowed_roles": roles, "enable_tls": false})
}

/// The HTTP route groups; which are on differs between the two listeners.
const ROUTES: [&str; 10] = [
    "base",
    "webhook",
    "internal",
    "metrics",
    "profiling",
    "mcp",
    "mcp_agent",
    "mcp_developer",
    "console_config",
    "endpoint_api",
];
/// Route groups the `26.32.0` schema requires (every one, enabled or not).
const ROUTE_GROUPS: [&str; 8] = [
    "base",
    "webhook",
    "internal",
    "metrics",
    "profiling",
    "mcp_agent",
    "mcp_developer",
    "console_config",
];

fn http_listener(schema: ListenerSchema, port: u16, roles: &str, on: &[&str]) -> Value {
    let mut listener = json!({"addr": format!("0.0.0.0:{port}"), "authenticator_kind": "None", "enable_tls": false});
    let routes: serde_json::Map<String, Value> = match schema {
        // Booleans: the five the schema requires plus every later optional one, off, so
        // every version between finds what it needs (extra keys are ignored).
        ListenerSchema::BoolRoutes | ListenerSchema::Flags => {
            listener["allowed_roles"] = json!(roles);
            ROUTES
                .iter()
                .map(|r| (r.to_string(), json!(on.contains(r))))
                .collect()
        }
        // Route groups carry their roles; an enabled group without them is refused.
        ListenerSchema::RouteGroups => ROUTE_GROUPS
            .iter()
            .map(|r| {
                let group = if on.contains(r) {
                    json!({"enabled": true, "allowed_roles": roles})
                } else {
                    json!({"enabled": false})
                };
                (r.to_string(), group)
            })
            .collect(),
    };
    listener["routes"] = Value::Object(routes);
    listener
}

/// The listeners file for `schema`, or `None` before listener files existed.
pub fn config_json(schema: ListenerSchema) -> Option<String> {
    if schema == ListenerSchema::Flags {
        return None;
    }
    let public = ["base", "webhook"];
    let internal = ["base", "webhook", "internal", "metrics", "profiling"];
    Some(
        json!({
            "version": version_tag(schema),
            "sql": {
                "external": sql_listener(SQL_PORT, "Normal"),
                "internal": sql_listener(INTERNAL_SQL_PORT, "Internal"),
            },
            "http": {
                "external": http_listener(schema, HTTP_PORT, "Normal", &public),
                "internal": http_listener(schema, INTERNAL_HTTP_PORT, "NormalAndInternal", &internal),
            },
        })
        .to_string(),
    )
}

/// The flags versions before listener files take instead (as orchestratord renders them).
pub fn listen_addr_args() -> Vec<String> {
    [
        ("sql", SQL_PORT),
        ("http", HTTP_PORT),
        ("internal-sql", INTERNAL_SQL_PORT),
        ("internal-http", INTERNAL_HTTP_PORT),
    ]
    .iter()
    .map(|(name, port)| format!("--{name}-listen-addr=0.0.0.0:{port}"))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(schema: ListenerSchema) -> Value {
        serde_json::from_str(&config_json(schema).unwrap()).unwrap()
    }

    #[test]
    fn bool_routes_put_the_leader_api_and_readiness_on_the_internal_listener_only() {
        let v = parsed(ListenerSchema::BoolRoutes);
        let internal = &v["http"]["internal"];
        assert_eq!(internal["addr"], "0.0.0.0:6878");
        assert_eq!(internal["allowed_roles"], "NormalAndInternal");
        for r in ["base", "webhook", "internal", "metrics", "profiling"] {
            assert_eq!(internal["routes"][r], true, "{r}");
        }
        let external = &v["http"]["external"]["routes"];
        assert_eq!(external["internal"], false);
        assert_eq!(external["metrics"], false);
        assert_eq!(external["base"], true);
        assert_eq!(v["sql"]["internal"]["allowed_roles"], "Internal");
    }

    #[test]
    fn route_groups_name_every_group_and_the_roles_of_enabled_ones() {
        let v = parsed(ListenerSchema::RouteGroups);
        assert_eq!(v["version"], "26.32.0");
        let internal = &v["http"]["internal"];
        assert!(internal.get("allowed_roles").is_none());
        let routes = internal["routes"].as_object().unwrap();
        assert_eq!(routes.len(), 8);
        assert_eq!(
            routes["internal"],
            json!({"enabled": true, "allowed_roles": "NormalAndInternal"})
        );
        assert_eq!(routes["mcp_agent"], json!({"enabled": false}));
        assert_eq!(
            v["http"]["external"]["routes"]["internal"],
            json!({"enabled": false})
        );
    }

    #[test]
    fn versions_before_listener_files_get_flags() {
        assert_eq!(config_json(ListenerSchema::Flags), None);
        assert_eq!(
            listen_addr_args(),
            [
                "--sql-listen-addr=0.0.0.0:6875",
                "--http-listen-addr=0.0.0.0:6876",
                "--internal-sql-listen-addr=0.0.0.0:6877",
                "--internal-http-listen-addr=0.0.0.0:6878"
            ]
        );
    }
}
