//! The file formats strict mode parses, written here from upstream's structs
//! (`ReplicaAllocation`, src/controller-types/src/clusters.rs; the listener configs,
//! src/server-core/src/listeners.rs): required fields, types and enum values as environmentd
//! declares them, so a file environmentd would refuse does not parse. Most fields are only
//! parsed, never read (mzsim runs no replicas and serves its own ports), hence the allow.
#![allow(dead_code)]

use std::{collections::BTreeMap, net::SocketAddr, num::NonZeroU32};

use serde::Deserialize;

/// One size as environmentd reads it: `workers`, `scale` and `credits_per_hour` (a string)
/// are required; the rest are optional.
#[derive(Deserialize)]
pub struct Allocation {
    pub workers: NonZeroU32,
    pub scale: NonZeroU32,
    pub credits_per_hour: String,
    pub memory_limit: Option<String>,
    pub cpu_limit: Option<f64>,
    pub disk_limit: Option<String>,
}

#[derive(Deserialize)]
pub enum Authenticator {
    Frontegg,
    Password,
    Sasl,
    Oidc,
    None,
}

#[derive(Deserialize)]
pub enum Roles {
    Normal,
    Internal,
    NormalAndInternal,
}

#[derive(Deserialize)]
pub struct BaseListener {
    pub addr: SocketAddr,
    pub authenticator_kind: Authenticator,
    pub allowed_roles: Roles,
    pub enable_tls: bool,
}

/// Schema `0.147.0`: HTTP listeners are base listeners plus five required route booleans.
#[derive(Deserialize)]
pub struct BoolRoutes {
    pub base: bool,
    pub webhook: bool,
    pub internal: bool,
    pub metrics: bool,
    pub profiling: bool,
}

#[derive(Deserialize)]
pub struct HttpListenerV147 {
    #[serde(flatten)]
    pub base: BaseListener,
    pub routes: BoolRoutes,
}

#[derive(Deserialize)]
pub struct ListenersV147 {
    pub sql: BTreeMap<String, BaseListener>,
    pub http: BTreeMap<String, HttpListenerV147>,
}

/// Schema `26.32.0`: per-group routes carrying their roles; no listener-level roles on HTTP.
#[derive(Deserialize)]
pub struct RouteGroup {
    pub enabled: bool,
    pub allowed_roles: Option<Roles>,
}

#[derive(Deserialize)]
pub struct RouteGroups {
    pub base: RouteGroup,
    pub webhook: RouteGroup,
    pub internal: RouteGroup,
    pub metrics: RouteGroup,
    pub profiling: RouteGroup,
    pub mcp_agent: RouteGroup,
    pub mcp_developer: RouteGroup,
    pub console_config: RouteGroup,
}

#[derive(Deserialize)]
pub struct HttpListenerV2632 {
    pub addr: SocketAddr,
    pub authenticator_kind: Authenticator,
    pub enable_tls: bool,
    pub routes: RouteGroups,
}

#[derive(Deserialize)]
pub struct ListenersV2632 {
    pub version: String,
    pub sql: BTreeMap<String, BaseListener>,
    pub http: BTreeMap<String, HttpListenerV2632>,
}
