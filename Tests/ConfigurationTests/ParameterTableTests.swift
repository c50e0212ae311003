import Configuration
import Foundation
import Testing

@Suite("Parameter table")
struct ParameterTableTests {
    @Test func everyDefaultParses() {
        for definition in ParameterTable.all {
            #expect(ValueParser.parse(definition.defaultValue, as: definition) != nil, "default of \(definition.name)")
        }
    }

    @Test func namesAreUnique() {
        let names = ParameterTable.all.map { $0.name.lowercased() }
        #expect(Set(names).count == names.count)
    }

    @Test func coversPgpool43() {
        // A sample of every section of Pgpool-II 4.3's pgpool.conf.
        let pgpoolNames = [
            "listen_addresses", "port", "socket_dir", "listen_backlog_multiplier", "serialize_accept",
            "pcp_listen_addresses", "pcp_port", "pcp_socket_dir", "backend_hostname", "backend_port", "backend_weight",
            "backend_data_directory", "backend_flag", "backend_application_name", "enable_pool_hba", "pool_passwd",
            "authentication_timeout", "allow_clear_text_frontend_auth", "ssl", "ssl_key", "ssl_cert", "ssl_ca_cert",
            "ssl_ca_cert_dir", "ssl_crl_file", "ssl_ciphers", "ssl_prefer_server_ciphers", "ssl_ecdh_curve",
            "ssl_dh_params_file", "ssl_passphrase_command", "num_init_children", "max_pool", "child_life_time",
            "child_max_connections", "connection_life_time", "client_idle_limit", "log_destination", "log_line_prefix",
            "log_connections", "log_disconnections", "log_hostname", "log_statement", "log_per_node_statement",
            "log_client_messages", "log_standby_delay", "syslog_facility", "syslog_ident", "log_error_verbosity",
            "client_min_messages", "log_min_messages", "logging_collector", "log_directory", "log_filename",
            "log_file_mode", "log_truncate_on_rotation", "log_rotation_age", "log_rotation_size", "pid_file_name",
            "logdir", "connection_cache", "reset_query_list", "replicate_select", "insert_lock", "lobj_lock_table",
            "replication_stop_on_mismatch", "failover_if_affected_tuples_mismatch", "load_balance_mode",
            "ignore_leading_white_space", "read_only_function_list", "write_function_list",
            "primary_routing_query_pattern_list", "database_redirect_preference_list",
            "app_name_redirect_preference_list", "allow_sql_comments", "disable_load_balance_on_write",
            "dml_adaptive_object_relationship_list", "statement_level_load_balance", "sr_check_period",
            "sr_check_user", "sr_check_password", "sr_check_database", "delay_threshold", "prefer_lower_delay_standby",
            "follow_primary_command", "health_check_period", "health_check_timeout", "health_check_user",
            "health_check_password", "health_check_database", "health_check_max_retries", "health_check_retry_delay",
            "connect_timeout", "failover_command", "failback_command", "failover_on_backend_error",
            "failover_on_backend_shutdown", "detach_false_primary", "search_primary_node_timeout", "recovery_user",
            "recovery_password", "recovery_1st_stage_command", "recovery_2nd_stage_command", "recovery_timeout",
            "client_idle_limit_in_recovery", "auto_failback", "auto_failback_interval", "use_watchdog",
            "trusted_servers", "ping_path", "hostname", "wd_port", "pgpool_port", "wd_priority", "wd_authkey",
            "wd_ipc_socket_dir", "delegate_IP", "if_cmd_path", "if_up_cmd", "if_down_cmd", "arping_path", "arping_cmd",
            "clear_memqcache_on_escalation", "wd_escalation_command", "wd_de_escalation_command",
            "failover_when_quorum_exists", "failover_require_consensus", "allow_multiple_failover_requests_from_node",
            "enable_consensus_with_half_votes", "wd_remove_shutdown_nodes", "wd_lost_node_removal_timeout",
            "wd_no_show_node_removal_timeout", "wd_monitoring_interfaces_list", "wd_lifecheck_method", "wd_interval",
            "heartbeat_hostname", "heartbeat_port", "heartbeat_device", "wd_heartbeat_keepalive",
            "wd_heartbeat_deadtime", "wd_life_point", "wd_lifecheck_query", "wd_lifecheck_dbname", "wd_lifecheck_user",
            "wd_lifecheck_password", "relcache_expire", "relcache_size", "check_temp_table", "check_unlogged_table",
            "enable_shared_relcache", "relcache_query_target", "memory_cache_enabled", "memqcache_method",
            "memqcache_memcached_host", "memqcache_memcached_port", "memqcache_total_size", "memqcache_max_num_cache",
            "memqcache_expire", "memqcache_auto_cache_invalidation", "memqcache_maxcache", "memqcache_cache_block_size",
            "memqcache_oiddir", "cache_safe_memqcache_table_list", "cache_unsafe_memqcache_table_list",
            "health_check_test", "fail_over_on_backend_error", "reserved_connections", "backend_clustering_mode",
            // Pgpool-II 4.1's watchdog names, still read for configurations written in that style.
            "wd_hostname", "wd_heartbeat_port", "other_pgpool_hostname", "other_pgpool_port", "other_wd_port",
            "heartbeat_destination", "heartbeat_destination_port",
        ]
        for name in pgpoolNames {
            #expect(ParameterTable.definition(named: name) != nil, "\(name) is missing")
        }
        #expect(ParameterTable.all.filter { !$0.isExtension }.count == pgpoolNames.count)
    }

    @Test func implementedSetIsTheDocumentedOne() {
        let implemented = Set(ParameterTable.all.filter(\.implemented).map(\.name))
        let expected: Set = [
            "listen_addresses", "port", "socket_dir",
            "num_init_children", "max_pool", "reserved_connections", "connection_life_time",
            "client_idle_limit", "connection_cache", "authentication_timeout", "reset_query_list", "enable_pool_hba",
            "pool_passwd", "pid_file_name", "logdir", "log_min_messages", "log_connections", "log_disconnections",
            "backend_clustering_mode", "backend_hostname", "backend_port", "backend_weight", "backend_data_directory",
            "backend_flag", "backend_application_name", "allow_clear_text_frontend_auth", "connect_timeout",
            "sr_check_user", "sr_check_password", "sr_check_database",
            "client_wait_timeout", "max_message_length", "num_event_loops",
            "load_balance_mode", "ignore_leading_white_space", "read_only_function_list", "write_function_list",
            "primary_routing_query_pattern_list", "database_redirect_preference_list",
            "app_name_redirect_preference_list", "allow_sql_comments", "disable_load_balance_on_write",
            "dml_adaptive_object_relationship_list", "statement_level_load_balance", "check_temp_table",
            "read_your_writes", "read_your_writes_check_period", "read_your_writes_position", "read_your_writes_wait",
            "check_unlogged_table", "health_check_period", "health_check_timeout", "health_check_user",
            "health_check_password", "health_check_database", "health_check_max_retries", "health_check_retry_delay",
            "sr_check_period", "delay_threshold", "delay_threshold_by_time", "prefer_lower_delay_standby",
            "log_standby_delay", "failover_command", "failback_command", "follow_primary_command",
            "failover_command_timeout", "failover_on_backend_error", "fail_over_on_backend_error",
            "failover_on_backend_shutdown", "detach_false_primary", "search_primary_node_timeout", "auto_failback",
            "auto_failback_interval", "http_listen_addresses", "http_port", "http_metrics_auth",
            "http_bearer_token_file", "http_pgpool2_metrics", "pcp_listen_addresses", "pcp_port", "pcp_socket_dir",
            "use_watchdog", "trusted_servers", "ping_path", "hostname", "wd_port", "pgpool_port", "wd_priority", "wd_authkey",
            "delegate_IP", "if_cmd_path", "if_up_cmd", "if_down_cmd", "arping_path", "arping_cmd", "wd_escalation_command",
            "wd_de_escalation_command", "failover_when_quorum_exists", "failover_require_consensus",
            "allow_multiple_failover_requests_from_node", "enable_consensus_with_half_votes", "wd_remove_shutdown_nodes",
            "wd_lost_node_removal_timeout", "wd_no_show_node_removal_timeout", "wd_lifecheck_method", "wd_interval",
            "heartbeat_hostname", "heartbeat_port", "wd_heartbeat_keepalive", "wd_heartbeat_deadtime", "wd_life_point",
            "wd_lifecheck_query", "wd_lifecheck_dbname", "wd_lifecheck_user", "wd_lifecheck_password",
            "wd_hostname", "wd_heartbeat_port", "other_pgpool_hostname", "other_pgpool_port", "other_wd_port",
            "heartbeat_destination", "heartbeat_destination_port", "listen_backlog_multiplier",
            "coordination", "etcd_endpoints", "etcd_prefix", "etcd_ttl", "etcd_member_name", "etcd_username", "etcd_password",
            "etcd_ca_file", "etcd_cert_file", "etcd_key_file", "ssl", "ssl_key", "ssl_cert", "ssl_ciphers",
            "ssl_ca_cert", "backend_sslmode", "http_ssl_cert", "http_ssl_key", "ssl_ca_cert_dir", "ssl_crl_file",
            "ssl_passphrase_command", "ssl_ecdh_curve",
            "pool_mode", "pool_mode_list", "transaction_pool_size", "transaction_pool_timeout",
            "transaction_pool_prepared_statements", "transaction_pool_pinning", "transaction_pool_size_list",
        ]
        #expect(implemented == expected)
        #expect(Set(ParameterTable.all.filter(\.isExtension).map(\.name)) == [
            "client_wait_timeout", "max_message_length", "num_event_loops", "delay_threshold_by_time", "failover_command_timeout",
            "pool_mode", "pool_mode_list", "transaction_pool_size", "transaction_pool_timeout",
            "transaction_pool_prepared_statements", "transaction_pool_pinning", "transaction_pool_size_list",
            "read_your_writes", "read_your_writes_check_period", "read_your_writes_position", "read_your_writes_wait",
            "http_listen_addresses", "http_port", "http_metrics_auth", "http_bearer_token_file", "http_pgpool2_metrics",
            "coordination", "etcd_endpoints", "etcd_prefix", "etcd_ttl", "etcd_member_name", "etcd_username", "etcd_password",
            "etcd_ca_file", "etcd_cert_file", "etcd_key_file", "backend_sslmode",
            "http_ssl_cert", "http_ssl_key",
        ])
    }

    @Test func contextsFollowPgpool() throws {
        func context(_ name: String) throws -> ParameterContext {
            try #require(ParameterTable.definition(named: name)).context
        }
        #expect(try context("port") == .restart)
        #expect(try context("num_init_children") == .restart)
        #expect(try context("load_balance_mode") == .restart)
        #expect(try context("backend_weight") == .reload)
        #expect(try context("health_check_period") == .reload)
        #expect(try context("client_idle_limit") == .session)
        #expect(try context("log_min_messages") == .session)
        #expect(try context("use_watchdog") == .restart)
    }

    @Test func nameResolution() {
        if case .parameter(let definition, let reference) = ParameterTable.resolve("Backend_Port012") {
            #expect(definition.name == "backend_port")
            #expect(reference == ParameterReference(name: "backend_port", node: 12))
            #expect(reference.key == "backend_port12")
        } else {
            Issue.record("backend_port012 did not resolve")
        }
        if case .parameter(_, let reference) = ParameterTable.resolve("health_check_period") {
            #expect(reference.node == nil)
        } else {
            Issue.record("health_check_period did not resolve")
        }
        if case .parameter(let definition, _) = ParameterTable.resolve("recovery_1st_stage_command") {
            #expect(definition.name == "recovery_1st_stage_command")
        } else {
            Issue.record("recovery_1st_stage_command did not resolve")
        }
        #expect(ParameterTable.resolve("port1") == .unknown)
        #expect(ParameterTable.resolve("backend_hostnamex") == .unknown)
        if case .missingNodeSuffix = ParameterTable.resolve("hostname") {} else { Issue.record("hostname") }
        if case .parameter(_, let reference) = ParameterTable.resolve("wd_port") { #expect(reference.node == nil) } else { Issue.record("wd_port") }
        if case .nodeOutOfRange(_, let suffix) = ParameterTable.resolve("backend_port99999999999999999999") {
            #expect(suffix == "99999999999999999999")
        } else {
            Issue.record("huge node number")
        }
    }

    /// `SWIFTPOOL_REGENERATE_DOCS=1 swift test --filter documentationMatchesTheTable` rewrites the
    /// generated section first.
    @Test func documentationMatchesTheTable() throws {
        let url = repositoryRoot.appendingPathComponent("docs/configuration.md")
        var docs = try String(contentsOf: url, encoding: .utf8)
        let begin = "<!-- BEGIN PARAMETER TABLES (generated by ParameterTable.markdownReference()) -->"
        let end = "<!-- END PARAMETER TABLES -->"
        if ProcessInfo.processInfo.environment["SWIFTPOOL_REGENERATE_DOCS"] != nil,
           let from = docs.range(of: begin), let to = docs.range(of: end) {
            docs.replaceSubrange(from.upperBound..<to.lowerBound, with: "\n" + ParameterTable.markdownReference() + "\n")
            try docs.write(to: url, atomically: true, encoding: .utf8)
        }
        let start = try #require(docs.range(of: begin))
        let stop = try #require(docs.range(of: end))
        let section = docs[start.upperBound..<stop.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(section == ParameterTable.markdownReference().trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

@Suite("Pgpool-II compatibility guide")
struct CompatibilityGuideTests {
    @Test func everyPgpoolParameterIsListedWithItsStatus() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/pgpool-compatibility.md")
        let text = try String(contentsOf: url, encoding: .utf8)
        for definition in ParameterTable.all where !definition.isExtension {
            let name = switch definition.nodeSuffix {
            case .required: "\(definition.name)N"
            case .optional: "\(definition.name)[N]"
            case .none: definition.name
            }
            let prefix = "| `\(name)` | \(definition.group.rawValue) | "
            let row = text.split(separator: "\n").first { $0.hasPrefix(prefix) }
            #expect(row != nil, "docs/pgpool-compatibility.md lacks \(name)")
            if let row {
                let status = row.dropFirst(prefix.count)
                #expect(definition.implemented ? !status.hasPrefix("not supported") : status.hasPrefix("not supported"),
                        "\(name): \(status)")
            }
        }
    }
}
