/// Pgpool-II 4.3's relation and query cache parameters, and SwiftPool's own.
extension ParameterTable {
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
