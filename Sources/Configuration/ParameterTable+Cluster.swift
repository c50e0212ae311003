/// Pgpool-II 4.3's load balancing, streaming replication check, health check, failover and
/// online recovery parameters.
extension ParameterTable {
    static let loadBalancing: [ParameterDefinition] = [
        .bool(
            "load_balance_mode", true, .restart, .loadBalancing, implemented: true,
            "Spread read-only queries over the nodes by weight."),
        .bool(
            "ignore_leading_white_space", true, .reload, .loadBalancing, implemented: true,
            "Ignore leading white space when deciding whether a query can be balanced."),
        .list(
            "read_only_function_list", ",", "", .reload, .loadBalancing, implemented: true,
            "Regular expressions of functions that do not write; any other function sends a SELECT to the primary."),
        .list(
            "write_function_list", ",", "", .reload, .loadBalancing, implemented: true,
            "Regular expressions of functions that write; a SELECT calling one goes to the primary."),
        .list(
            "primary_routing_query_pattern_list", ";", "", .reload, .loadBalancing, implemented: true,
            "Regular expressions of queries always sent to the primary, separated by ';'."),
        .string(
            "database_redirect_preference_list", "", .reload, .loadBalancing, implemented: true,
            "database-regex:node[(ratio)] pairs that steer a database's reads to a node, primary or standby."),
        .string(
            "app_name_redirect_preference_list", "", .reload, .loadBalancing, implemented: true,
            "application_name-regex:node[(ratio)] pairs that steer an application's reads."),
        .bool(
            "allow_sql_comments", false, .session, .loadBalancing, implemented: true,
            "Ignore SQL comments when deciding whether a query can be balanced."),
        .enumeration(
            "disable_load_balance_on_write", ["off", "transaction", "trans_transaction", "always", "dml_adaptive"],
            "transaction", .reload, .loadBalancing, implemented: true,
            "After a write, send later reads to the primary: off, within the transaction, for the session, or by table."),
        .string(
            "dml_adaptive_object_relationship_list", "", .reload, .loadBalancing, implemented: true,
            "For dml_adaptive: object:dependent pairs, e.g. 'table1:table2,func1():table3'."),
        .bool(
            "statement_level_load_balance", false, .reload, .loadBalancing, implemented: true,
            "Choose the load-balance node for every statement instead of once per session."),
        .bool(
            "read_your_writes", false, .reload, .loadBalancing, implemented: true, extension: true,
            "Once a session's write commits, send its reads only to standbys that have replayed it, else to the primary."),
        .int(
            "read_your_writes_check_period", "50", 10, 60_000, unit: .milliseconds, .reload, .loadBalancing,
            implemented: true, extension: true,
            "With read_your_writes: how often the primary's WAL insert position and the standbys' replay positions are read."),
        .int(
            "read_your_writes_wait", "0", 0, 60_000, unit: .milliseconds, .reload, .loadBalancing,
            implemented: true, extension: true,
            "With read_your_writes: how long a read waits for a standby to replay the session's write before it goes to the primary; 0 does not wait."),
        .string(
            "read_your_writes_position", "", .session, .loadBalancing, implemented: true, extension: true,
            "With read_your_writes, set by PGPOOL SET: a WAL position (e.g. another session's pg_current_wal_insert_lsn()) this session's reads wait for."),
    ]

    static let streamingReplicationCheck: [ParameterDefinition] = [
        .int(
            "sr_check_period", "10", 0, intMax, unit: .seconds, .reload, .streamingReplicationCheck,
            implemented: true, "Interval of the replication delay and role check; 0 disables it."),
        .string(
            "sr_check_user", "nobody", .reload, .streamingReplicationCheck, implemented: true,
            "User for the replication check."),
        .string(
            "sr_check_password", "", .reload, .streamingReplicationCheck, implemented: true,
            "Password of sr_check_user ('' looks it up in pool_passwd; TEXT/md5/AES prefixes as in pool_passwd)."),
        .string(
            "sr_check_database", "postgres", .reload, .streamingReplicationCheck, implemented: true,
            "Database for the replication check."),
        .int(
            "delay_threshold", "0", 0, longMax, unit: .bytes, .reload, .streamingReplicationCheck, implemented: true,
            "Send reads to the primary when a standby lags more than this many bytes of WAL; 0 never."),
        .bool(
            "prefer_lower_delay_standby", false, .reload, .streamingReplicationCheck, implemented: true,
            "When the chosen standby lags over delay_threshold, pick the least-lagging standby instead of the primary."),
        .enumeration(
            "log_standby_delay", ["always", "if_over_threshold", "none"], "if_over_threshold", .reload,
            .streamingReplicationCheck, implemented: true, "When to log the replication delay."),
        .int(
            "delay_threshold_by_time", "0", 0, intMax, unit: .seconds, .reload, .streamingReplicationCheck,
            implemented: true, extension: true,
            "Send reads to the primary when a standby's replay_lag is longer than this (as in Pgpool-II 4.4); 0 never."),
    ]

    static let healthCheck: [ParameterDefinition] = [
        .int(
            "health_check_period", "0", 0, intMax, unit: .seconds, .reload, .healthCheck, implemented: true,
            suffix: .optional, "Interval between health checks of a node; 0 disables them."),
        .int(
            "health_check_timeout", "20", 0, intMax, unit: .seconds, .reload, .healthCheck, implemented: true,
            suffix: .optional, "Give up on a health check after this long; 0 waits forever."),
        .string(
            "health_check_user", "nobody", .reload, .healthCheck, implemented: true, suffix: .optional,
            "User for health checks."),
        .string(
            "health_check_password", "", .reload, .healthCheck, implemented: true, suffix: .optional,
            "Password of health_check_user ('' looks it up in pool_passwd)."),
        .string(
            "health_check_database", "", .reload, .healthCheck, implemented: true, suffix: .optional,
            "Database for health checks; '' tries postgres, then template1."),
        .int(
            "health_check_max_retries", "0", 0, intMax, .reload, .healthCheck, implemented: true,
            suffix: .optional, "Retries after a failed health check before the node is failed over."),
        .int(
            "health_check_retry_delay", "1", 0, intMax, unit: .seconds, .reload, .healthCheck, implemented: true,
            suffix: .optional, "Pause between health check retries."),
        .int(
            "connect_timeout", "10000", 0, intMax, unit: .milliseconds, .reload, .healthCheck, implemented: true,
            suffix: .optional, "Timeout of the TCP connect of a health check (and of backend connects); 0 waits forever."),
        .bool("health_check_test", false, .restart, .healthCheck, "Pgpool-II's health check fault-injection test mode."),
    ]

    static let failover: [ParameterDefinition] = [
        .string(
            "failover_command", "", .reload, .failover, implemented: true,
            "Command run when a node is detached; %d %h %p %D %m %H %M %P %r %R %N %S %% are replaced."),
        .string(
            "failback_command", "", .reload, .failover, implemented: true, "Command run when a node is attached; same placeholders."),
        .string(
            "follow_primary_command", "", .reload, .failover, implemented: true,
            "Command run for every standby after the primary changed; %m %H %r %R refer to the new primary."),
        .bool(
            "failover_on_backend_error", true, .reload, .failover, implemented: true,
            "Fail a node over when reading from or writing to its socket fails."),
        .bool(
            "fail_over_on_backend_error", true, .reload, .failover, implemented: true,
            "Old name of failover_on_backend_error."),
        .bool(
            "failover_on_backend_shutdown", false, .reload, .failover, implemented: true,
            "Fail a node over when it reports an administrative shutdown (57P01/57P02)."),
        .bool(
            "detach_false_primary", false, .reload, .failover, implemented: true,
            "Detach a primary that the standbys do not replicate from."),
        .int(
            "search_primary_node_timeout", "300", 0, intMax, unit: .seconds, .reload, .failover, implemented: true,
            "How long to look for a new primary after a failover; 0 looks forever."),
        .bool(
            "auto_failback", false, .reload, .failover, implemented: true,
            "Re-attach a detached standby automatically once it streams from the primary again."),
        .int(
            "auto_failback_interval", "60", 0, intMax, unit: .seconds, .reload, .failover, implemented: true,
            "Minimum time between automatic failbacks of a node."),
    ]

    static let onlineRecovery: [ParameterDefinition] = [
        .string("recovery_user", "", .reload, .onlineRecovery, "User for online recovery."),
        .string("recovery_password", "", .reload, .onlineRecovery, "Password of recovery_user."),
        .string(
            "recovery_1st_stage_command", "", .reload, .onlineRecovery,
            "Script run on the primary in the first stage of online recovery."),
        .string(
            "recovery_2nd_stage_command", "", .reload, .onlineRecovery,
            "Script run on the primary in the second stage of online recovery."),
        .int(
            "recovery_timeout", "90", 0, intMax, unit: .seconds, .reload, .onlineRecovery,
            "How long online recovery waits for the recovered node to start."),
        .int(
            "client_idle_limit_in_recovery", "0", -1, intMax, unit: .seconds, .session, .onlineRecovery,
            "Disconnect idle clients after this long during the second recovery stage; -1 at once, 0 never."),
    ]
}
