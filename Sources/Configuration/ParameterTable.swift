/// Every parameter of Pgpool-II 4.3's pgpool.conf, plus SwiftPool's own, with type, default, unit,
/// range, reload context and whether SwiftPool acts on it yet.
///
/// Types, defaults, ranges and contexts follow Pgpool-II 4.3. Where SwiftPool differs on purpose,
/// the summary says so (backend_port and backend_weight have defaults so a node is usable with
/// just a host name; units are accepted on every time parameter).
public enum ParameterTable {
    /// All parameters, in documentation order.
    public static let all: [ParameterDefinition] =
        connections + backends + authentication + ssl + pools + logging + fileLocations + clustering
        + loadBalancing + streamingReplicationCheck + healthCheck + failover + onlineRecovery + watchdog
        + relationCache + queryCache + swiftPool

    static let intMax = 2_147_483_647.0
    static let longMax = 9_223_372_036_854_775_807.0

    private static let messageLevels = [
        "debug5", "debug4", "debug3", "debug2", "debug1", "debug", "info", "notice", "warning", "error", "log",
        "fatal", "panic",
    ]

    static let connections: [ParameterDefinition] = [
        .list(
            "listen_addresses", ",", "localhost", .restart, .connections, implemented: true,
            "Addresses to accept client TCP connections on, separated by commas; '*' for all, '' for the Unix socket only."),
        .int(
            "port", "9999", 1024, 65535, .restart, .connections, implemented: true,
            "TCP port for client connections; also names the Unix socket (.s.PGSQL.PORT)."),
        .string(
            "socket_dir", "/tmp", .restart, .connections, implemented: true,
            "Directory of the Unix socket for client connections; relative to the directory of pgpool.conf."),
        .int(
            "listen_backlog_multiplier", "2", 1, intMax, .restart, .connections, implemented: true,
            "Clients that may wait for a num_init_children slot (connected but not yet holding one, whether or not their startup packet arrived) is num_init_children times this; further connections are refused at once with 53300."),
        .bool(
            "serialize_accept", false, .restart, .connections,
            "Serialize accept() among Pgpool-II child processes."),
        .list(
            "pcp_listen_addresses", ",", "localhost", .restart, .connections, implemented: true,
            "Addresses to accept PCP connections on; '*' for all, '' for the Unix socket only."),
        .int(
            "pcp_port", "9898", 1024, 65535, .restart, .connections, implemented: true,
            "TCP port of the PCP (administration) protocol."),
        .string(
            "pcp_socket_dir", "/tmp", .restart, .connections, implemented: true,
            "Directory of the PCP Unix socket; relative to the directory of pgpool.conf."),
        .int(
            "num_init_children", "32", 1, intMax, .restart, .connections, implemented: true,
            "Maximum number of concurrent client sessions."),
        .int(
            "reserved_connections", "0", 0, intMax, .restart, .connections, implemented: true,
            "When above 0, refuse new clients with 53300 once num_init_children minus this many sessions are in use."),
    ]

    static let backends: [ParameterDefinition] = [
        .string(
            "backend_hostname", "", .reload, .backends, implemented: true, suffix: .required,
            "Host name, IP address or Unix socket directory of PostgreSQL node N."),
        .int(
            "backend_port", "5432", 1024, 65535, .reload, .backends, implemented: true, suffix: .required,
            "Port of node N. Pgpool-II has no default and ignores a node without a port; SwiftPool uses 5432."),
        .real(
            "backend_weight", "1", 0, 100_000_000, .reload, .backends, implemented: true, suffix: .required,
            "Load-balancing weight of node N (0 takes it out of read balancing); relative to the other weights."),
        .string(
            "backend_data_directory", "", .reload, .backends, implemented: true, suffix: .required,
            "Data directory of node N, passed to failover and follow-primary commands as %D / %R."),
        .string(
            "backend_flag", "ALLOW_TO_FAILOVER", .reload, .backends, implemented: true, suffix: .required,
            "ALLOW_TO_FAILOVER or DISALLOW_TO_FAILOVER, optionally joined with ALWAYS_PRIMARY by '|'."),
        .string(
            "backend_application_name", "", .reload, .backends, implemented: true, suffix: .required,
            "application_name node N uses for its WAL receiver, matched against pg_stat_replication."),
    ]

    static let authentication: [ParameterDefinition] = [
        .bool(
            "enable_pool_hba", false, .reload, .authentication, implemented: true,
            "Authenticate clients with the rules of pool_hba.conf."),
        .string(
            "pool_passwd", "pool_passwd", .restart, .authentication, implemented: true,
            "Password file for backend authentication, relative to the directory of pgpool.conf; '' disables it."),
        .int(
            "authentication_timeout", "60", 0, intMax, unit: .seconds, .restart, .authentication,
            implemented: true, "Time a client has to complete authentication; 0 disables the limit."),
        .bool(
            "allow_clear_text_frontend_auth", false, .reload, .authentication, implemented: true,
            "Without pool_hba, ask the client for a clear-text password when pool_passwd has no entry for it."),
    ]

    static let ssl: [ParameterDefinition] = [
        .bool(
            "ssl", false, .restart, .ssl, implemented: true,
            "Accept TLS connections from clients (SSLRequest and direct TLS, TLS 1.2 or later)."),
        .string("ssl_key", "", .reload, .ssl, implemented: true, "Private key file (PEM) of the certificate presented to clients; mode 0600 or less."),
        .string("ssl_cert", "", .reload, .ssl, implemented: true, "Certificate chain file (PEM) presented to clients, the server certificate first."),
        .string(
            "ssl_ca_cert", "", .reload, .ssl, implemented: true,
            "PEM file of CA certificates: clients may present a certificate they signed (pool_hba cert authentication), and backend_sslmode = verify-full checks the backends' certificates against them; re-read on reload."),
        .string(
            "ssl_ca_cert_dir", "", .reload, .ssl, implemented: true,
            "Directory of CA certificates in OpenSSL's hashed layout (openssl rehash), used beside ssl_ca_cert for client and backend certificates; re-read on reload."),
        .string(
            "ssl_crl_file", "", .reload, .ssl, implemented: true,
            "PEM file of certificate revocation lists: a client certificate it revokes is refused (every CA of the chain needs its list); re-read on reload."),
        .string(
            "ssl_ciphers", "HIGH:MEDIUM:+3DES:!aNULL", .reload, .ssl, implemented: true,
            "Allowed TLS 1.2 cipher suites (OpenSSL syntax); the default keeps the TLS library's own secure list."),
        .bool(
            "ssl_prefer_server_ciphers", false, .restart, .ssl,
            "Prefer the server's cipher order to the client's; the TLS library offers no such switch, so the client's order is used."),
        .string(
            "ssl_ecdh_curve", "prime256v1", .reload, .ssl, implemented: true,
            "ECDH curve offered to clients (prime256v1, secp384r1, secp521r1 or X25519; a colon-separated list offers several in that order)."),
        .string(
            "ssl_dh_params_file", "", .restart, .ssl,
            "File with Diffie-Hellman parameters; the TLS library offers no finite-field DHE suites, so ECDHE is always used."),
        .string(
            "ssl_passphrase_command", "", .reload, .ssl, implemented: true,
            "Command that prints the passphrase of an encrypted ssl_key (%p is replaced by a prompt); run at start and on each reload."),
        .enumeration(
            "backend_sslmode", ["auto", "disable", "prefer", "require", "verify-full"], "auto", .restart, .ssl,
            implemented: true, extension: true,
            "TLS to the backends, for sessions and for health and replication checks (libpq's sslmode): auto is prefer with ssl = on and disable without; verify-full checks the certificate against ssl_ca_cert and the node's host name."),
    ]

    static let pools: [ParameterDefinition] = [
        .int(
            "max_pool", "4", 0, intMax, .restart, .pools, implemented: true,
            "Cached backend connection sets per session slot; SwiftPool keeps num_init_children x max_pool idle sets."),
        .int(
            "child_life_time", "300", 0, intMax, unit: .seconds, .restart, .pools, implemented: false,
            "Pgpool-II restarts an idle child process after this time; SwiftPool has no child processes and accepts it for compatibility."),
        .int(
            "child_max_connections", "0", 0, intMax, .restart, .pools,
            "Pgpool-II restarts a child process after this many client connections; 0 never."),
        .int(
            "connection_life_time", "0", 0, intMax, unit: .seconds, .restart, .pools, implemented: true,
            "Close a cached backend connection (and, in transaction mode, a pooled one) after it has been idle this long; 0 never."),
        .int(
            "client_idle_limit", "0", 0, intMax, unit: .seconds, .session, .pools, implemented: true,
            "Disconnect a client that sends nothing for this long, even inside a transaction; 0 never."),
        .bool(
            "connection_cache", true, .restart, .pools, implemented: true,
            "Keep backend connections after a client disconnects, for reuse by the same user and database."),
        .list(
            "reset_query_list", ";", "ABORT; DISCARD ALL", .reload, .pools, implemented: true,
            "Statements, separated by ';', that clean a backend connection before it is cached."),
        .enumeration(
            "pool_mode", ["session", "transaction"], "session", .reload, .pools, implemented: true, extension: true,
            "session: a client keeps its backend connections from login to logout; transaction: only for each transaction (or statement outside one, or extended-protocol exchange up to Sync), then they go back to a shared pool. Applies to new clients."),
        .string(
            "pool_mode_list", "", .reload, .pools, implemented: true, extension: true,
            "Pool modes for some databases or users, first match wins: 'database:mode' or 'user@database:mode', '*' for any, separated by commas."),
        .int(
            "transaction_pool_size", "20", 1, 100_000, .reload, .pools, implemented: true, extension: true,
            "Transaction mode: most backend connections to each node, shared by all transaction-mode clients (split over the event loops, at least one each, so never fewer than num_event_loops; a warning is logged when it is below)."),
        .string(
            "transaction_pool_size_list", "", .reload, .pools, implemented: true, extension: true,
            "Transaction mode: lower limits for some users or databases, per node and per user and database pair: 'database:size' or 'user@database:size', '*' for any, first match wins, separated by commas."),
        .int(
            "transaction_pool_timeout", "30", 1, intMax, unit: .seconds, .reload, .pools, implemented: true, extension: true,
            "Transaction mode: how long a unit of work waits for a free backend connection; then FATAL 53300 for the primary (or at login), reads go to the primary for a standby."),
        .int(
            "transaction_pool_prepared_statements", "100", 1, 100_000, .reload, .pools, implemented: true, extension: true,
            "Transaction mode: protocol-level prepared statements kept per backend connection; the least recently used is closed beyond it."),
        .bool(
            "transaction_pool_pinning", true, .reload, .pools, implemented: true, extension: true,
            "Transaction mode: keep a client on its backend connection once it uses what lives in one server session (LISTEN, session advisory locks, WITH HOLD cursors, temporary tables, LOAD, SQL PREPARE, SET ROLE, set_config); off refuses those statements with 0A000 (a ROLLBACK TO SAVEPOINT after SET and a named statement of 256 kB or more, known only once they ran, still pin)."),
    ]

    static let logging: [ParameterDefinition] = [
        .list("log_destination", ",", "stderr", .reload, .logging, "Where to log: stderr, syslog or both."),
        .string(
            "log_line_prefix", "%m: %a pid %p: ", .reload, .logging, "printf-style prefix of each log line."),
        .bool(
            "log_connections", false, .reload, .logging, implemented: true, "Log each accepted client connection."),
        .bool(
            "log_disconnections", false, .reload, .logging, implemented: true,
            "Log the end of each client session."),
        .bool("log_hostname", false, .reload, .logging, "Log client host names instead of addresses."),
        .bool("log_statement", false, .session, .logging, "Log every SQL statement."),
        .bool("log_per_node_statement", false, .session, .logging, "Log every statement with the node it went to."),
        .bool("log_client_messages", false, .session, .logging, "Log every message received from clients."),
        .enumeration(
            "syslog_facility", (0...7).map { "LOCAL\($0)" }, "LOCAL0", .reload, .logging,
            "syslog facility when logging to syslog."),
        .string("syslog_ident", "pgpool", .reload, .logging, "Program name in syslog messages."),
        .enumeration(
            "log_error_verbosity", ["terse", "default", "verbose"], "default", .session, .logging,
            "Amount of detail in logged errors."),
        .enumeration(
            "client_min_messages", messageLevels, "notice", .session, .logging,
            "Lowest message level sent to clients."),
        .enumeration(
            "log_min_messages", messageLevels, "warning", .session, .logging, implemented: true,
            "Lowest message level written to the log (debug5 … panic)."),
        .bool("logging_collector", false, .restart, .logging, "Capture stderr into rotated log files."),
        .string("log_directory", "/tmp/pgpool_logs", .restart, .logging, "Directory of the logging collector's files."),
        .string(
            "log_filename", "pgpool-%Y-%m-%d_%H%M%S.log", .restart, .logging,
            "strftime pattern of the logging collector's file names."),
        .int("log_file_mode", "0600", 0, intMax, .restart, .logging, "Permissions of log files (octal)."),
        .bool(
            "log_truncate_on_rotation", false, .restart, .logging,
            "Truncate instead of append when a time-based rotation reuses a file name."),
        .int(
            "log_rotation_age", "1d", 0, intMax, unit: .minutes, .restart, .logging,
            "Rotate the log file after this time; 0 disables time-based rotation."),
        .int(
            "log_rotation_size", "10MB", 0, intMax / 1024, unit: .kilobytes, .restart, .logging,
            "Rotate the log file after this much output; 0 disables size-based rotation."),
    ]

    static let fileLocations: [ParameterDefinition] = [
        .string(
            "pid_file_name", "/var/run/pgpool/pgpool.pid", .restart, .fileLocations, implemented: true,
            "PID file; a relative name is relative to the directory of pgpool.conf."),
        .string(
            "logdir", "/tmp", .restart, .fileLocations, implemented: true,
            "Directory of the pgpool_status file (node states kept across restarts); relative to the directory of pgpool.conf."),
    ]

    static let clustering: [ParameterDefinition] = [
        .enumeration(
            "backend_clustering_mode",
            ["streaming_replication", "native_replication", "logical_replication", "slony", "raw", "snapshot_isolation"],
            "streaming_replication", .restart, .clustering, implemented: true,
            "How the backends replicate. SwiftPool supports streaming_replication only; any other mode stops start-up."),
        .bool("replicate_select", false, .reload, .clustering, "Native replication: send SELECTs to every node."),
        .bool("insert_lock", true, .reload, .clustering, "Native replication: lock tables around INSERTs for SERIAL consistency."),
        .string("lobj_lock_table", "", .reload, .clustering, "Native replication: table locked around large-object creation."),
        .bool(
            "replication_stop_on_mismatch", false, .reload, .clustering,
            "Native replication: degenerate a node whose reply kind differs from the others."),
        .bool(
            "failover_if_affected_tuples_mismatch", false, .reload, .clustering,
            "Native replication: degenerate a node whose affected row count differs from the others."),
    ]

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

    static let watchdog: [ParameterDefinition] = [
        .bool(
            "use_watchdog", false, .restart, .watchdog, implemented: true,
            "Run the watchdog: several SwiftPools elect a leader, share backend status and move a virtual IP."),
        .string(
            "trusted_servers", "", .restart, .watchdog, implemented: true,
            "Hosts pinged to tell a network failure from a peer failure, separated by commas; a member that reaches none of them never holds the virtual IP."),
        .string("ping_path", "/bin", .restart, .watchdog, implemented: true, "Directory of the ping command."),
        .string(
            "hostname", "", .restart, .watchdog, implemented: true, suffix: .required,
            "Host name or address of watchdog member N (the pgpool_node_id file names the local one)."),
        .int(
            "wd_port", "9000", 1024, 65535, .restart, .watchdog, implemented: true, suffix: .optional,
            "Watchdog TCP port of member N (wd_portN); without a number, the local member's port (Pgpool-II 4.1 style)."),
        .int(
            "pgpool_port", "9999", 1024, 65535, .restart, .watchdog, implemented: true, suffix: .required,
            "Client port of watchdog member N."),
        .int(
            "wd_priority", "1", 0, intMax, .restart, .watchdog, implemented: true,
            "Leader election priority of this member; the higher value wins, the earlier start breaks a tie."),
        .string(
            "wd_authkey", "", .restart, .watchdog, implemented: true,
            "Key of the HMAC-SHA256 that signs every watchdog message and heartbeat; members with different keys ignore each other."),
        .string(
            "wd_ipc_socket_dir", "/tmp", .restart, .watchdog,
            "Directory of the watchdog IPC socket (SwiftPool's watchdog runs inside the proxy process and needs none)."),
        .string(
            "delegate_IP", "", .restart, .watchdog, implemented: true,
            "Virtual IP address held by the watchdog leader while it has quorum; '' for none."),
        .string("if_cmd_path", "/sbin", .restart, .watchdog, implemented: true, "Directory of if_up_cmd and if_down_cmd when their first word is a relative path."),
        .string(
            "if_up_cmd", "/usr/bin/sudo /sbin/ip addr add $_IP_$/24 dev eth0 label eth0:0", .restart, .watchdog,
            implemented: true, "Command that brings up the virtual IP ($_IP_$ is replaced by delegate_IP)."),
        .string(
            "if_down_cmd", "/usr/bin/sudo /sbin/ip addr del $_IP_$/24 dev eth0", .restart, .watchdog,
            implemented: true, "Command that brings down the virtual IP."),
        .string("arping_path", "/usr/sbin", .restart, .watchdog, implemented: true, "Directory of arping_cmd when its first word is a relative path."),
        .string(
            "arping_cmd", "/usr/bin/sudo /usr/sbin/arping -U $_IP_$ -w 1 -I eth0", .restart, .watchdog,
            implemented: true, "Command that announces the virtual IP after it came up (gratuitous ARP)."),
        .bool(
            "clear_memqcache_on_escalation", true, .reload, .watchdog,
            "Clear the query cache when this member becomes leader (SwiftPool has no query cache)."),
        .string(
            "wd_escalation_command", "", .reload, .watchdog, implemented: true,
            "Command run when this member becomes leader with quorum, before the virtual IP comes up."),
        .string(
            "wd_de_escalation_command", "", .reload, .watchdog, implemented: true,
            "Command run when this member stops holding the virtual IP, before it goes down."),
        .bool(
            "failover_when_quorum_exists", true, .restart, .watchdog, implemented: true,
            "Fail over only while the watchdog cluster has quorum; otherwise the node is quarantined locally."),
        .bool(
            "failover_require_consensus", true, .restart, .watchdog, implemented: true,
            "Fail over only when enough watchdog members saw the failure; otherwise the node is quarantined locally."),
        .bool(
            "allow_multiple_failover_requests_from_node", false, .restart, .watchdog, implemented: true,
            "Let repeated failover requests of one watchdog member count as several votes."),
        .bool(
            "enable_consensus_with_half_votes", false, .restart, .watchdog, implemented: true,
            "With an even number of members, half of them is enough for quorum and consensus."),
        .bool(
            "wd_remove_shutdown_nodes", false, .reload, .watchdog, implemented: true,
            "Cleanly stopped members stop counting towards quorum until they return."),
        .int(
            "wd_lost_node_removal_timeout", "0", 0, intMax, unit: .seconds, .reload, .watchdog, implemented: true,
            "Lost members stop counting towards quorum after this long; 0 never."),
        .int(
            "wd_no_show_node_removal_timeout", "0", 0, intMax, unit: .seconds, .reload, .watchdog, implemented: true,
            "Members that never showed up stop counting towards quorum this long after start; 0 never."),
        .list(
            "wd_monitoring_interfaces_list", ",", "", .restart, .watchdog,
            "Network interfaces whose link state the watchdog watches (not supported: use trusted_servers)."),
        .enumeration(
            "wd_lifecheck_method", ["query", "heartbeat", "external"], "heartbeat", .restart, .watchdog,
            implemented: true,
            "How members check each other: heartbeat (UDP), query (wd_lifecheck_query through the member's pgpool_port) or external (reported through the admin API)."),
        .int(
            "wd_interval", "10", 0, intMax, unit: .seconds, .restart, .watchdog, implemented: true,
            "Interval of the query life check."),
        .string(
            "heartbeat_hostname", "", .restart, .watchdog, implemented: true, suffix: .required,
            "Address heartbeats to watchdog member N are sent to (several separated by ';')."),
        .int(
            "heartbeat_port", "9694", 1024, 65535, .restart, .watchdog, implemented: true, suffix: .required,
            "UDP heartbeat port of watchdog member N."),
        .string(
            "heartbeat_device", "", .restart, .watchdog, suffix: .required,
            "Network device heartbeats to member N are sent from (not supported: the routing table decides)."),
        .int(
            "wd_heartbeat_keepalive", "2", 1, intMax, unit: .seconds, .restart, .watchdog, implemented: true,
            "Interval between heartbeats and between status messages."),
        .int(
            "wd_heartbeat_deadtime", "30", 1, intMax, unit: .seconds, .restart, .watchdog, implemented: true,
            "A member without heartbeats for this long is lost."),
        .int(
            "wd_life_point", "3", 0, intMax, .restart, .watchdog, implemented: true,
            "Failed query life checks in a row before a member is lost."),
        .string("wd_lifecheck_query", "SELECT 1", .restart, .watchdog, implemented: true, "Query of the query life check."),
        .string("wd_lifecheck_dbname", "template1", .reload, .watchdog, implemented: true, "Database of the query life check."),
        .string("wd_lifecheck_user", "nobody", .reload, .watchdog, implemented: true, "User of the query life check."),
        .string("wd_lifecheck_password", "", .reload, .watchdog, implemented: true, "Password of wd_lifecheck_user."),
        .string(
            "wd_hostname", "", .restart, .watchdog, implemented: true,
            "Host name or address of the local member (Pgpool-II 4.1 style; 4.2+ uses hostnameN)."),
        .int(
            "wd_heartbeat_port", "9694", 1024, 65535, .restart, .watchdog, implemented: true,
            "UDP port the local member receives heartbeats on (Pgpool-II 4.1 style)."),
        .string(
            "other_pgpool_hostname", "", .restart, .watchdog, implemented: true, suffix: .required,
            "Host of the other member N (Pgpool-II 4.1 style)."),
        .int(
            "other_pgpool_port", "9999", 1024, 65535, .restart, .watchdog, implemented: true, suffix: .required,
            "Client port of the other member N (Pgpool-II 4.1 style)."),
        .int(
            "other_wd_port", "9000", 1024, 65535, .restart, .watchdog, implemented: true, suffix: .required,
            "Watchdog port of the other member N (Pgpool-II 4.1 style)."),
        .string(
            "heartbeat_destination", "", .restart, .watchdog, implemented: true, suffix: .required,
            "Heartbeat destination N (Pgpool-II 4.1 style)."),
        .int(
            "heartbeat_destination_port", "9694", 1024, 65535, .restart, .watchdog, implemented: true,
            suffix: .required, "UDP port of heartbeat destination N (Pgpool-II 4.1 style)."),
    ]

    static let relationCache: [ParameterDefinition] = [
        .int(
            "relcache_expire", "0", 0, longMax, unit: .seconds, .restart, .relationCache,
            "Lifetime of cached catalog look-ups; 0 forever."),
        .int("relcache_size", "256", 0, intMax, .restart, .relationCache, "Entries in the catalog look-up cache."),
        .enumeration(
            "check_temp_table", ["catalog", "trace", "none", "on", "off"], "catalog", .session, .relationCache, implemented: true,
            "How to detect temporary tables (which are read on the primary): catalog, trace or none."),
        .bool(
            "check_unlogged_table", true, .session, .relationCache, implemented: true,
            "Send SELECTs on unlogged tables to the primary."),
        .bool(
            "enable_shared_relcache", true, .restart, .relationCache,
            "Share the catalog look-up cache between processes."),
        .enumeration(
            "relcache_query_target", ["primary", "load_balance_node"], "primary", .reload, .relationCache,
            "Node that answers catalog look-ups."),
    ]

    static let queryCache: [ParameterDefinition] = [
        .bool("memory_cache_enabled", false, .restart, .queryCache, "Cache SELECT results in memory."),
        .enumeration(
            "memqcache_method", ["shmem", "memcached"], "shmem", .restart, .queryCache,
            "Where the query cache lives: shmem or memcached."),
        .string("memqcache_memcached_host", "localhost", .restart, .queryCache, "memcached host."),
        .int("memqcache_memcached_port", "11211", 0, intMax, .restart, .queryCache, "memcached port."),
        .int(
            "memqcache_total_size", "64MB", 0, longMax, unit: .bytes, .restart, .queryCache,
            "Size of the shared-memory query cache."),
        .int(
            "memqcache_max_num_cache", "1000000", 0, intMax, .restart, .queryCache,
            "Maximum number of cached results."),
        .int(
            "memqcache_expire", "0", 0, intMax, unit: .seconds, .restart, .queryCache,
            "Lifetime of a cached result; 0 until invalidated."),
        .bool(
            "memqcache_auto_cache_invalidation", true, .reload, .queryCache,
            "Drop cached results of tables that are written."),
        .int(
            "memqcache_maxcache", "400kB", 0, intMax, unit: .bytes, .restart, .queryCache,
            "Largest result that is cached."),
        .int(
            "memqcache_cache_block_size", "1MB", 512, intMax, unit: .bytes, .restart, .queryCache,
            "Block size of the shared-memory cache."),
        .string(
            "memqcache_oiddir", "/var/log/pgpool/oiddir", .restart, .queryCache,
            "Directory that maps tables to cached results."),
        .list(
            "cache_safe_memqcache_table_list", ",", "", .reload, .queryCache,
            "Regular expressions of tables whose results are cached."),
        .list(
            "cache_unsafe_memqcache_table_list", ",", "", .reload, .queryCache,
            "Regular expressions of tables whose results are never cached."),
    ]

    static let swiftPool: [ParameterDefinition] = [
        .int(
            "client_wait_timeout", "5", 0, intMax, unit: .seconds, .reload, .swiftPool, implemented: true,
            extension: true,
            "How long a client beyond num_init_children waits for a free slot before it gets 53300; 0 refuses it at once."),
        .int(
            "max_message_length", "1GB", 1024, intMax, unit: .bytes, .restart, .swiftPool, implemented: true,
            extension: true, "Largest protocol message accepted from a client or a backend."),
        .int(
            "failover_command_timeout", "300", 1, intMax, unit: .seconds, .reload, .swiftPool, implemented: true,
            extension: true,
            "Kill failover_command, failback_command or follow_primary_command when it runs longer than this."),
        .list(
            "http_listen_addresses", ",", "localhost", .restart, .swiftPool, implemented: true, extension: true,
            "Addresses of the HTTP server (metrics and admin API): a list, '*' for all, 'localhost' for loopback."),
        .int(
            "http_port", "9719", 0, 65535, .restart, .swiftPool, implemented: true, extension: true,
            "Port of the HTTP server (9719 is the Pgpool-II exporter's); 0 turns the server off."),
        .string(
            "http_ssl_cert", "", .reload, .swiftPool, implemented: true, extension: true,
            "PEM certificate chain of the HTTP server; with http_ssl_key it serves HTTPS only; '' for plain HTTP. Re-read on reload (switching HTTPS on or off needs a restart)."),
        .string(
            "http_ssl_key", "", .reload, .swiftPool, implemented: true, extension: true,
            "PEM private key of http_ssl_cert (mode 0600 or less)."),
        .bool(
            "http_metrics_auth", false, .reload, .swiftPool, implemented: true, extension: true,
            "Whether /metrics needs the same authentication as the admin API."),
        .string(
            "http_bearer_token_file", "", .reload, .swiftPool, implemented: true, extension: true,
            "File holding a bearer token accepted by the admin API besides pcp.conf's users; '' for none."),
        .bool(
            "http_pgpool2_metrics", true, .reload, .swiftPool, implemented: true, extension: true,
            "Also serve the pgpool2_* metrics of Pgpool-II's Prometheus exporter on /metrics."),
        .int(
            "num_event_loops", "0", 0, 1024, .restart, .swiftPool, implemented: true, extension: true,
            "Event-loop threads of the data path; 0 uses one per CPU core."),
        .enumeration(
            "coordination", ["watchdog", "etcd"], "watchdog", .restart, .swiftPool, implemented: true, extension: true,
            "How several SwiftPools agree on backend status and who runs the failover commands: watchdog (use_watchdog) or etcd (a leased leader key in an etcd cluster)."),
        .list(
            "etcd_endpoints", ",", "http://127.0.0.1:2379", .restart, .swiftPool, implemented: true, extension: true,
            "Client URLs of the etcd members (http:// or https://), separated by commas; used with coordination = 'etcd'."),
        .string(
            "etcd_prefix", "/swiftpool/default", .restart, .swiftPool, implemented: true, extension: true,
            "Key prefix of this fleet in etcd: every SwiftPool of one fleet uses the same, different fleets different ones."),
        .int(
            "etcd_ttl", "30", 2, 3600, unit: .seconds, .restart, .swiftPool, implemented: true, extension: true,
            "Lease time of the leader and member keys: a member that stops renewing is gone, and its leadership taken over, after this long."),
        .string(
            "etcd_member_name", "", .restart, .swiftPool, implemented: true, extension: true,
            "This member's name in the fleet, unique per etcd_prefix; '' uses host name:port."),
        .string(
            "etcd_username", "", .restart, .swiftPool, implemented: true, extension: true,
            "etcd user when etcd's authentication is on; '' for none."),
        .string(
            "etcd_password", "", .restart, .swiftPool, implemented: true, extension: true,
            "Password of etcd_username (never shown in reports)."),
        .string(
            "etcd_ca_file", "", .restart, .swiftPool, implemented: true, extension: true,
            "PEM file of the CA that signs the etcd members' certificates (https endpoints); '' uses the system's trust store."),
        .string(
            "etcd_cert_file", "", .restart, .swiftPool, implemented: true, extension: true,
            "PEM client certificate presented to etcd (with etcd_key_file); '' for none."),
        .string(
            "etcd_key_file", "", .restart, .swiftPool, implemented: true, extension: true,
            "PEM private key of etcd_cert_file."),
    ]
}

extension ParameterDefinition {
    fileprivate static func bool(
        _ name: String, _ defaultValue: Bool, _ context: ParameterContext, _ group: ParameterGroup,
        implemented: Bool = false, extension isExtension: Bool = false, _ summary: String
    ) -> ParameterDefinition {
        ParameterDefinition(
            name: name, type: .bool, defaultValue: defaultValue ? "on" : "off", context: context, group: group,
            implemented: implemented, isExtension: isExtension, summary: summary)
    }

    fileprivate static func int(
        _ name: String, _ defaultValue: String, _ minimum: Double, _ maximum: Double,
        unit: ParameterUnit = .none, _ context: ParameterContext, _ group: ParameterGroup,
        implemented: Bool = false, extension isExtension: Bool = false, suffix: NodeSuffix = .none,
        _ summary: String
    ) -> ParameterDefinition {
        ParameterDefinition(
            name: name, type: .integer, defaultValue: defaultValue, unit: unit, minimum: minimum, maximum: maximum,
            context: context, nodeSuffix: suffix, group: group, implemented: implemented,
            isExtension: isExtension, summary: summary)
    }

    fileprivate static func real(
        _ name: String, _ defaultValue: String, _ minimum: Double, _ maximum: Double,
        _ context: ParameterContext, _ group: ParameterGroup, implemented: Bool = false,
        suffix: NodeSuffix = .none, _ summary: String
    ) -> ParameterDefinition {
        ParameterDefinition(
            name: name, type: .real, defaultValue: defaultValue, minimum: minimum, maximum: maximum,
            context: context, nodeSuffix: suffix, group: group, implemented: implemented, summary: summary)
    }

    fileprivate static func string(
        _ name: String, _ defaultValue: String, _ context: ParameterContext, _ group: ParameterGroup,
        implemented: Bool = false, extension isExtension: Bool = false, suffix: NodeSuffix = .none, _ summary: String
    ) -> ParameterDefinition {
        ParameterDefinition(
            name: name, type: .string, defaultValue: defaultValue, context: context, nodeSuffix: suffix,
            group: group, implemented: implemented, isExtension: isExtension, summary: summary)
    }

    fileprivate static func list(
        _ name: String, _ separator: Character, _ defaultValue: String, _ context: ParameterContext,
        _ group: ParameterGroup, implemented: Bool = false, extension isExtension: Bool = false, _ summary: String
    ) -> ParameterDefinition {
        ParameterDefinition(
            name: name, type: .list(separator: separator), defaultValue: defaultValue, context: context,
            group: group, implemented: implemented, isExtension: isExtension, summary: summary)
    }

    fileprivate static func enumeration(
        _ name: String, _ values: [String], _ defaultValue: String, _ context: ParameterContext,
        _ group: ParameterGroup, implemented: Bool = false, extension isExtension: Bool = false, _ summary: String
    ) -> ParameterDefinition {
        ParameterDefinition(
            name: name, type: .enumeration(values), defaultValue: defaultValue, context: context, group: group,
            implemented: implemented, isExtension: isExtension, summary: summary)
    }
}
