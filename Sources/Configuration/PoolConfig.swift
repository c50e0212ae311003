/// One parameter set in a configuration file.
public struct ConfigSetting: Sendable, Equatable {
    /// The matched parameter (base name and node number).
    public var reference: ParameterReference
    /// The name as written in the file.
    public var writtenName: String
    /// The value as written, quotes removed.
    public var rawValue: String
    /// The parsed value, numbers in the parameter's base unit.
    public var value: ConfigValue
    /// The line that set it (the last one, when a parameter is set twice).
    public var line: Int

    /// Creates a setting.
    public init(reference: ParameterReference, writtenName: String, rawValue: String, value: ConfigValue, line: Int) {
        self.reference = reference
        self.writtenName = writtenName
        self.rawValue = rawValue
        self.value = value
        self.line = line
    }
}

/// The typed settings of a pgpool.conf: every parameter SwiftPool implements, with Pgpool-II's
/// defaults for those the file does not set, relative paths resolved against the directory of
/// pgpool.conf, and raw access to everything else.
public struct PoolConfig: Sendable, Equatable {
    // MARK: Files

    /// The configuration file as it was named to the loader.
    public var configFile: String
    /// The absolute directory of the configuration file; relative paths are resolved against it.
    public var configDirectory: String

    // MARK: Connections

    /// `listen_addresses`: `*` for all, empty for none (Unix socket only).
    public var listenAddresses: [String]
    /// `port`.
    public var port: Int
    /// `socket_dir`, resolved; empty when the file sets it to `''`.
    public var socketDirectory: String
    /// `pcp_listen_addresses`.
    public var pcpListenAddresses: [String]
    /// `pcp_port`.
    public var pcpPort: Int
    /// `pcp_socket_dir`, resolved; empty when the file sets it to `''`.
    public var pcpSocketDirectory: String
    /// `num_init_children`: the maximum number of concurrent client sessions.
    public var numInitChildren: Int
    /// `reserved_connections`.
    public var reservedConnections: Int
    /// `listen_backlog_multiplier`: num_init_children times this clients may wait for a slot.
    public var listenBacklogMultiplier: Int

    // MARK: Pools

    /// `max_pool`.
    public var maxPool: Int
    /// `child_life_time` (accepted for compatibility; SwiftPool has no child processes).
    public var childLifeTime: Duration
    /// `connection_life_time`; zero means cached connections never expire.
    public var connectionLifeTime: Duration
    /// `client_idle_limit`; zero means no limit.
    public var clientIdleLimit: Duration
    /// `connection_cache`.
    public var connectionCache: Bool
    /// `reset_query_list`, split at `;`.
    public var resetQueryList: [String]

    // MARK: Authentication

    /// `enable_pool_hba`.
    public var enablePoolHba: Bool
    /// `pool_passwd`, resolved; nil when the parameter is `''` (disabled).
    public var poolPasswdPath: String?
    /// `authentication_timeout`; zero means no limit.
    public var authenticationTimeout: Duration
    /// `allow_clear_text_frontend_auth`.
    public var allowClearTextFrontendAuth: Bool
    /// Client-side TLS (`ssl`, `ssl_cert`, `ssl_key`, `ssl_ciphers`).
    public var ssl: SSLConfig

    // MARK: Logging and files

    /// `log_min_messages`.
    public var logMinMessages: ServerMessageLevel
    /// `log_connections`.
    public var logConnections: Bool
    /// `log_disconnections`.
    public var logDisconnections: Bool
    /// `pid_file_name`, resolved.
    public var pidFilePath: String
    /// `logdir`, resolved: the directory of the `pgpool_status` file.
    public var logDirectory: String

    // MARK: Cluster

    /// The configured nodes, by ascending index (indices need not be contiguous).
    public var backends: [BackendConfig]
    /// The global `health_check_*` settings (each node's resolved settings are in `backends`).
    public var healthCheckDefaults: HealthCheckConfig
    /// `sr_check_*`.
    public var streamingReplicationCheck: StreamingReplicationCheckConfig
    /// Failover, failback and follow-primary settings.
    public var failover: FailoverConfig

    // MARK: Load balancing

    /// `load_balance_mode`.
    public var loadBalanceMode: Bool
    /// `statement_level_load_balance`.
    public var statementLevelLoadBalance: Bool
    /// `disable_load_balance_on_write`.
    public var disableLoadBalanceOnWrite: DisableLoadBalanceOnWrite

    // MARK: SwiftPool extensions

    /// `client_wait_timeout`: how long a client beyond `num_init_children` waits for a slot.
    public var clientWaitTimeout: Duration
    /// `max_message_length` in bytes.
    public var maxMessageLength: Int
    /// `num_event_loops`; zero means one per CPU core.
    public var numEventLoops: Int
    /// The HTTP server for metrics and the admin API.
    public var http: HTTPConfig
    /// The watchdog (`use_watchdog` and its parameters).
    public var watchdog: WatchdogConfig
    /// The etcd back end (`coordination = 'etcd'` and the `etcd_*` parameters).
    public var etcd: EtcdConfig

    // MARK: Raw access

    /// Every parameter the file set, by canonical key (`port`, `backend_hostname0`).
    public var settings: [String: ConfigSetting]

    /// The value of any parameter, as written in the file or, when the file does not set it, the
    /// default as pgpool.conf would write it; nil for unknown names. `name` may carry a node
    /// number (`backend_port1`); per-node health check names fall back to the global value.
    public func value(_ name: String) -> String? {
        guard case .parameter(let definition, let reference) = ParameterTable.resolve(name) else { return nil }
        if let setting = settings[reference.key] { return setting.rawValue }
        if reference.node != nil, definition.nodeSuffix == .optional,
            let global = settings[ParameterReference(name: definition.name).key]
        {
            return global.rawValue
        }
        return definition.defaultValue
    }

    /// Like `value(_:)`, parsed: numbers in the parameter's base unit.
    public func typedValue(_ name: String) -> ConfigValue? {
        guard case .parameter(let definition, let reference) = ParameterTable.resolve(name) else { return nil }
        if let setting = settings[reference.key] { return setting.value }
        if reference.node != nil, definition.nodeSuffix == .optional,
            let global = settings[ParameterReference(name: definition.name).key]
        {
            return global.value
        }
        return ValueParser.parse(definition.defaultValue, as: definition)
    }

    /// The node with id `index`, if it is configured.
    public func backend(_ index: Int) -> BackendConfig? {
        backends.first { $0.index == index }
    }

    /// `pgpool_status` in `logDirectory`.
    public var statusFilePath: String { resolvePath("pgpool_status", against: logDirectory) }

    /// `pool_hba.conf` beside pgpool.conf, for when the command line names none.
    public var defaultPoolHbaPath: String { resolvePath("pool_hba.conf", against: configDirectory) }

    /// `pcp.conf` beside pgpool.conf, for when the command line names none.
    public var defaultPCPConfigPath: String { resolvePath("pcp.conf", against: configDirectory) }
}

/// What `ConfigLoader` returns: the configuration and the remarks to log once.
public struct LoadedConfig: Sendable, Equatable {
    /// The typed configuration.
    public var config: PoolConfig
    /// Unknown parameters, parameters not supported yet and other remarks, in file order.
    public var diagnostics: [ConfigDiagnostic]

    /// Creates a result.
    public init(config: PoolConfig, diagnostics: [ConfigDiagnostic]) {
        self.config = config
        self.diagnostics = diagnostics
    }
}
