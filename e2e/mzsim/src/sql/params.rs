//! The system parameters Materialize has, so `ALTER SYSTEM SET|RESET <name>` of any other name
//! is refused at once, as environmentd refuses it, instead of being stored.
//!
//! Where the names come from (MaterializeInc/materialize):
//! - `src/sql/src/session/vars/definitions.rs`: the `VarDefinition`s of `SystemVars`, the
//!   `feature_flags!` list, and the session variables whose system default ALTER SYSTEM sets
//!   (`SESSION_SYSTEM_VARS` in `src/sql/src/session/vars.rs`);
//! - `src/adapter-types/src/dyncfgs.rs` and the other crates' dyncfgs, which `SystemVars` also
//!   serves (the 0dt, persist, compute and storage parameters);
//! - `misc/python/materialize/mzcompose/__init__.py`: the parameters Materialize's own tests
//!   set (`get_minimal_system_parameters`, `get_variable_system_parameters`).
//!
//! Every name this project uses is here: ConfigureMz's statements
//! (`scenario_operator::operator::actions::CONFIGURE_STATEMENTS`), the starter checks, the e2e
//! scenarios' `systemVarChanges` and the examples' `systemParameterDefaults`; a unit test below
//! checks them (reading the checks and scenarios from the repository). The list is a union over
//! releases, not one release's exact set: it exists to catch names Materialize never had
//! (typos), not to model which release has which.
//!
//! Only ALTER SYSTEM consults it: `--system-parameter-default` entries at boot are taken as
//! given.

/// The names, as Materialize spells them (matching is case-insensitive).
const KNOWN: &[&str] = &[
    // Session variables with a system default (`SESSION_SYSTEM_VARS`).
    "application_name",
    "client_encoding",
    "client_min_messages",
    "cluster",
    "cluster_replica",
    "current_object_missing_warnings",
    "database",
    "DateStyle",
    "default_cluster_replication_factor",
    "extra_float_digits",
    "idle_in_transaction_session_timeout",
    "integer_datetimes",
    "IntervalStyle",
    "max_query_result_size",
    "real_time_recency_timeout",
    "search_path",
    "standard_conforming_strings",
    "statement_timeout",
    "TimeZone",
    "transaction_isolation",
    // Limits.
    "max_aws_privatelink_connections",
    "max_clusters",
    "max_connections",
    "max_continual_tasks",
    "max_copy_from_size",
    "max_credit_consumption_rate",
    "max_databases",
    "max_kafka_connections",
    "max_materialized_views",
    "max_mysql_connections",
    "max_network_policies",
    "max_objects_per_schema",
    "max_postgres_connections",
    "max_replicas_per_cluster",
    "max_result_size",
    "max_roles",
    "max_rules_per_network_policy",
    "max_schemas_per_database",
    "max_secrets",
    "max_sinks",
    "max_sources",
    "max_sql_server_connections",
    "max_tables",
    "superuser_reserved_connections",
    // Other system variables (definitions.rs).
    "allowed_cluster_replica_sizes",
    "coord_slow_message_warn_threshold",
    "enable_consolidate_after_union_negate",
    "enable_default_connection_validation",
    "enable_internal_statement_logging",
    "enable_launchdarkly",
    "enable_rbac_checks",
    "enable_reduce_reduction",
    "enable_storage_shard_finalization",
    "force_source_table_syntax",
    "keep_n_privatelink_status_history_entries",
    "keep_n_sink_status_history_entries",
    "keep_n_source_status_history_entries",
    "log_filter",
    "log_filter_defaults",
    "max_timestamp_interval",
    "metrics_retention",
    "min_timestamp_interval",
    "network_policy",
    "opentelemetry_filter",
    "opentelemetry_filter_defaults",
    "optimizer_e2e_latency_warning_threshold",
    "optimizer_oneshot_stats_timeout",
    "optimizer_stats_timeout",
    "persist_fast_path_limit",
    "pg_timestamp_oracle_connection_pool_max_size",
    "pg_timestamp_oracle_connection_pool_max_wait",
    "pg_timestamp_oracle_connection_pool_ttl",
    "pg_timestamp_oracle_connection_pool_ttl_stagger",
    "privatelink_status_update_quota_per_minute",
    "replica_status_history_retention_window",
    "scram_iterations",
    "sentry_filters",
    "statement_logging_default_sample_rate",
    "statement_logging_max_data_credit",
    "statement_logging_max_sample_rate",
    "statement_logging_target_data_rate",
    "unsafe_mock_audit_event_timestamp",
    "user_storage_managed_collections_batch_duration",
    "webhook_concurrent_request_limit",
    "webhooks_secrets_caching_ttl_secs",
    // Sources, sinks and their connections.
    "kafka_fetch_metadata_timeout",
    "kafka_progress_record_fetch_timeout",
    "kafka_socket_connection_setup_timeout",
    "kafka_socket_keepalive",
    "kafka_socket_timeout",
    "kafka_transaction_timeout",
    "mysql_source_connect_timeout",
    "mysql_source_snapshot_lock_wait_timeout",
    "mysql_source_snapshot_max_execution_time",
    "mysql_source_tcp_keepalive",
    "pg_source_connect_timeout",
    "pg_source_snapshot_collect_strict_count",
    "pg_source_snapshot_statement_timeout",
    "pg_source_tcp_configure_server",
    "pg_source_tcp_keepalives_idle",
    "pg_source_tcp_keepalives_interval",
    "pg_source_tcp_keepalives_retries",
    "pg_source_tcp_user_timeout",
    "pg_source_wal_sender_timeout",
    "ssh_check_interval",
    "ssh_connect_timeout",
    "ssh_keepalives_idle",
    "storage_dataflow_max_inflight_bytes",
    "storage_dataflow_max_inflight_bytes_disk_only",
    "storage_dataflow_max_inflight_bytes_to_cluster_size_fraction",
    "storage_record_source_sink_namespaced_errors",
    "storage_shrink_upsert_unused_buffers_by_ratio",
    "storage_statistics_collection_interval",
    "storage_statistics_interval",
    "upsert_rocksdb_batch_size",
    "upsert_rocksdb_compaction_style",
    "upsert_rocksdb_compression_type",
    "upsert_rocksdb_parallelism",
    "upsert_rocksdb_retry_duration",
    // gRPC and cluster scheduling.
    "cluster_alter_check_ready_interval",
    "cluster_check_scheduling_policies_interval",
    "cluster_enable_topology_spread",
    "cluster_multi_process_replica_az_affinity_weight",
    "cluster_refresh_mv_compaction_estimate",
    "cluster_security_context_enabled",
    "cluster_soften_az_affinity",
    "cluster_soften_az_affinity_weight",
    "cluster_soften_replication_anti_affinity",
    "cluster_soften_replication_anti_affinity_weight",
    "cluster_topology_spread_ignore_non_singular_scale",
    "cluster_topology_spread_max_skew",
    "cluster_topology_spread_min_domains",
    "cluster_topology_spread_soft",
    "grpc_client_connect_timeout",
    "grpc_client_http2_keep_alive_interval",
    "grpc_client_http2_keep_alive_timeout",
    // Feature flags (`feature_flags!`).
    "allow_real_time_recency",
    "enable_alter_set_cluster",
    "enable_alter_swap",
    "enable_alter_table_add_column",
    "enable_aws_msk_iam_auth",
    "enable_binary_date_bin",
    "enable_cardinality_estimates",
    "enable_cluster_schedule_refresh",
    "enable_collection_partition_by",
    "enable_connection_validation_syntax",
    "enable_continual_task_create",
    "enable_continual_task_retain",
    "enable_continual_task_transform",
    "enable_copy_from_remote",
    "enable_copy_to_expr",
    "enable_create_table_from_source",
    "enable_date_bin_hopping",
    "enable_eager_delta_joins",
    "enable_envelope_debezium_in_subscribe",
    "enable_envelope_materialize",
    "enable_envelope_upsert_inline_errors",
    "enable_explain_pushdown",
    "enable_expressions_in_limit_syntax",
    "enable_frontend_peek_sequencing",
    "enable_guard_subquery_tablefunc",
    "enable_iceberg_sink",
    "enable_index_options",
    "enable_join_prioritize_arranged",
    "enable_kafka_sink_headers",
    "enable_letrec_fixpoint_analysis",
    "enable_list_length_max",
    "enable_list_n_layers",
    "enable_list_remove",
    "enable_load_generator_clock",
    "enable_load_generator_counter",
    "enable_load_generator_datums",
    "enable_load_generator_key_value",
    "enable_logical_compaction_window",
    "enable_managed_cluster_availability_zones",
    "enable_metric_sink",
    "enable_multi_worker_storage_persist_sink",
    "enable_mz_notices",
    "enable_network_policies",
    "enable_new_outer_join_lowering",
    "enable_off_thread_optimization",
    "enable_primary_key_not_enforced",
    "enable_raise_statement",
    "enable_reduce_mfp_fusion",
    "enable_refresh_every_mvs",
    "enable_repeat_row",
    "enable_replacement_materialized_views",
    "enable_session_timelines",
    "enable_sql_server_source",
    "enable_table_keys",
    "enable_time_at_time_zone",
    "enable_unlimited_retain_history",
    "enable_variadic_left_join_lowering",
    "enable_within_timestamp_order_by_in_subscribe",
    "enable_worker_core_affinity",
    "enable_zero_downtime_cluster_reconfiguration",
    "statement_logging_use_reproducible_rng",
    "unsafe_enable_table_check_constraint",
    "unsafe_enable_table_foreign_key",
    "unsafe_enable_table_keys",
    "unsafe_enable_unorchestrated_cluster_replicas",
    "unsafe_enable_unsafe_functions",
    "unsafe_enable_unstable_dependencies",
    // Adapter dyncfgs (`src/adapter-types/src/dyncfgs.rs`): zero-downtime deployment and more.
    "0dt_deployment_hydration_check_interval",
    "allow_user_sessions",
    "enable_0dt_caught_up_check",
    "enable_0dt_caught_up_replica_status_check",
    "enable_0dt_deployment",
    "enable_0dt_deployment_panic_after_timeout",
    "enable_0dt_deployment_sources",
    "enable_expression_cache",
    "enable_introspection_subscribes",
    "enable_password_auth",
    "enable_statement_lifecycle_logging",
    "persist_fast_path_order",
    "with_0dt_caught_up_check_allowed_lag",
    "with_0dt_caught_up_check_cutoff",
    "with_0dt_deployment_ddl_check_interval",
    "with_0dt_deployment_max_wait",
    // Compute, storage and persist dyncfgs that Materialize's own tests set (mzcompose).
    "compute_apply_column_demands",
    "compute_dataflow_max_inflight_bytes",
    "compute_hydration_concurrency",
    "compute_peek_response_stash_threshold_bytes",
    "compute_replica_expiration_offset",
    "constraint_based_timestamp_selection",
    "enable_columnar_lgalloc",
    "enable_columnation_lgalloc",
    "enable_compute_correction_v2",
    "enable_compute_logical_backpressure",
    "enable_compute_peek_response_stash",
    "enable_compute_temporal_bucketing",
    "enable_kafka_sink_partition_by",
    "enable_lgalloc",
    "enable_multi_replica_sources",
    "kafka_default_metadata_fetch_interval",
    "mysql_offset_known_interval",
    "ore_overflowing_behavior",
    "persist_batch_builder_structured",
    "persist_batch_columnar_format",
    "persist_batch_delete_enabled",
    "persist_batch_max_run_len",
    "persist_batch_structured_key_lower_len",
    "persist_batch_structured_order",
    "persist_blob_cache_scale_with_threads",
    "persist_blob_target_size",
    "persist_catalog_force_compaction_fuel",
    "persist_catalog_force_compaction_wait",
    "persist_compaction_memory_bound_bytes",
    "persist_enable_arrow_lgalloc_noncc_sizes",
    "persist_enable_incremental_compaction",
    "persist_enable_s3_lgalloc_noncc_sizes",
    "persist_encoding_enable_dictionary",
    "persist_gc_max_versions",
    "persist_gc_min_versions",
    "persist_gc_use_active_gc",
    "persist_inline_writes_single_max_bytes",
    "persist_inline_writes_total_max_bytes",
    "persist_next_listen_batch_retryer_clamp",
    "persist_next_listen_batch_retryer_fixed_sleep",
    "persist_next_listen_batch_retryer_initial_backoff",
    "persist_part_decode_format",
    "persist_pubsub_client_enabled",
    "persist_pubsub_push_diff_enabled",
    "persist_record_compactions",
    "persist_record_schema_id",
    "persist_rollup_use_active_rollup",
    "persist_stats_audit_panic",
    "persist_stats_audit_percent",
    "persist_use_critical_since_catalog",
    "persist_use_critical_since_snapshot",
    "persist_use_critical_since_source",
    "persist_validate_part_bounds_on_read",
    "persist_validate_part_bounds_on_write",
    "pg_offset_known_interval",
    "sql_server_offset_known_interval",
    "storage_reclock_to_latest",
    "storage_source_decode_fuel",
    "storage_use_continual_feedback_upsert",
];

/// Whether Materialize has a system parameter of this name (case-insensitive, as its
/// `UncasedStr` lookup is).
pub fn is_known(name: &str) -> bool {
    KNOWN.iter().any(|k| k.eq_ignore_ascii_case(name))
}

/// environmentd's message for a name it does not have (`VarError::UnknownParameter` in
/// `src/sql/src/session/vars/errors.rs`): the name in double quotes, inner quotes escaped with
/// a backslash (`mz_ore::str::StrExt::quoted`). Sent with SQLSTATE 42704 (undefined_object).
pub fn unrecognized(name: &str) -> String {
    format!(
        "unrecognized configuration parameter \"{}\"",
        name.replace('"', "\\\"")
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::sql::classify::{Statement, classify};

    #[test]
    fn known_names_match_in_any_case() {
        assert!(is_known("max_tables"));
        assert!(is_known("MAX_TABLES"));
        assert!(is_known("Enable_RBAC_Checks"));
        assert!(is_known("timezone"));
        assert!(is_known("DateStyle"));
        assert!(!is_known("no_such_parameter"));
        assert!(!is_known("max_table"));
        assert!(!is_known(""));
        assert!(!is_known("max_tables "));
    }

    #[test]
    fn the_message_is_materializes() {
        assert_eq!(
            unrecognized("no_such_parameter"),
            r#"unrecognized configuration parameter "no_such_parameter""#
        );
        assert_eq!(
            unrecognized(r#"a"b"#),
            r#"unrecognized configuration parameter "a\"b""#
        );
    }

    /// The parameter an `ALTER SYSTEM SET|RESET` line names.
    fn altered(line: &str) -> Option<String> {
        let at = line.to_ascii_uppercase().find("ALTER SYSTEM")?;
        match classify(line[at..].trim()) {
            Statement::AlterSystem { name, .. } => name,
            _ => None,
        }
    }

    /// `ALTER SYSTEM` lines and `systemVarChanges` entries (`- {name: x, …}`) in the YAML files
    /// of `dir`, relative to the repository root.
    fn names_in(dir: &str) -> Vec<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut names = Vec::new();
        let entries = std::fs::read_dir(root.join(dir)).unwrap_or_else(|e| panic!("{dir}: {e}"));
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for line in text.lines() {
                if let Some(name) = altered(line) {
                    names.push(name);
                } else if let Some(rest) = line.trim().strip_prefix("- {name: ") {
                    let name = rest.split([',', '}']).next().unwrap_or_default().trim();
                    // Environment variables are written the same way; parameters are lower case.
                    // (volumes too, without a value; systemVarChanges have phase<n>Value).
                    if (rest.contains("value:") || rest.contains("Value:"))
                        && !name.chars().any(|c| c.is_ascii_uppercase())
                    {
                        names.push(name.to_string());
                    }
                }
            }
        }
        names
    }

    #[test]
    fn every_name_the_project_uses_is_known() {
        let mut names: Vec<String> = scenario_operator::operator::actions::CONFIGURE_STATEMENTS
            .iter()
            .filter_map(|s| altered(s))
            .collect();
        assert!(!names.is_empty(), "ConfigureMz's ALTER SYSTEMs");
        let checks = names_in("checks/starter");
        assert!(!checks.is_empty(), "the starter checks' ALTER SYSTEMs");
        let scenarios = names_in("e2e/scenarios");
        assert!(!scenarios.is_empty(), "e2e scenarios' systemVarChanges");
        names.extend(checks);
        names.extend(scenarios);
        // The examples' and the README's names, and those mzsim's own tests set.
        names.extend(
            [
                "enable_0dt_deployment_panic_after_timeout",
                "max_roles",
                "max_schemas_per_database",
                "max_tables",
                "enable_rbac_checks",
            ]
            .map(String::from),
        );
        for name in &names {
            assert!(
                is_known(name),
                "{name} is used by the project but not known"
            );
        }
    }
}
