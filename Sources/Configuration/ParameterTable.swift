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
            "Transaction mode: most backend connections to each node, shared by all transaction-mode clients and by the event loops (places move between loops as their clients need them; a warning is logged when it is below num_event_loops, since busy loops then take turns)."),
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
}

extension ParameterDefinition {
    static func bool(
        _ name: String, _ defaultValue: Bool, _ context: ParameterContext, _ group: ParameterGroup,
        implemented: Bool = false, extension isExtension: Bool = false, _ summary: String
    ) -> ParameterDefinition {
        ParameterDefinition(
            name: name, type: .bool, defaultValue: defaultValue ? "on" : "off", context: context, group: group,
            implemented: implemented, isExtension: isExtension, summary: summary)
    }

    static func int(
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

    static func real(
        _ name: String, _ defaultValue: String, _ minimum: Double, _ maximum: Double,
        _ context: ParameterContext, _ group: ParameterGroup, implemented: Bool = false,
        suffix: NodeSuffix = .none, _ summary: String
    ) -> ParameterDefinition {
        ParameterDefinition(
            name: name, type: .real, defaultValue: defaultValue, minimum: minimum, maximum: maximum,
            context: context, nodeSuffix: suffix, group: group, implemented: implemented, summary: summary)
    }

    static func string(
        _ name: String, _ defaultValue: String, _ context: ParameterContext, _ group: ParameterGroup,
        implemented: Bool = false, extension isExtension: Bool = false, suffix: NodeSuffix = .none, _ summary: String
    ) -> ParameterDefinition {
        ParameterDefinition(
            name: name, type: .string, defaultValue: defaultValue, context: context, nodeSuffix: suffix,
            group: group, implemented: implemented, isExtension: isExtension, summary: summary)
    }

    static func list(
        _ name: String, _ separator: Character, _ defaultValue: String, _ context: ParameterContext,
        _ group: ParameterGroup, implemented: Bool = false, extension isExtension: Bool = false, _ summary: String
    ) -> ParameterDefinition {
        ParameterDefinition(
            name: name, type: .list(separator: separator), defaultValue: defaultValue, context: context,
            group: group, implemented: implemented, isExtension: isExtension, summary: summary)
    }

    static func enumeration(
        _ name: String, _ values: [String], _ defaultValue: String, _ context: ParameterContext,
        _ group: ParameterGroup, implemented: Bool = false, extension isExtension: Bool = false, _ summary: String
    ) -> ParameterDefinition {
        ParameterDefinition(
            name: name, type: .enumeration(values), defaultValue: defaultValue, context: context, group: group,
            implemented: implemented, isExtension: isExtension, summary: summary)
    }
}
