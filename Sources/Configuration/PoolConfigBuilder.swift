/// Turns validated settings into a `PoolConfig`: applies defaults, per-node overrides and path
/// resolution, assembles the backends, and checks what needs more than one parameter.
struct PoolConfigBuilder {
    let settings: [String: ConfigSetting]
    let fileName: String
    let configDirectory: String
    private(set) var diagnostics: [ConfigDiagnostic] = []

    init(settings: [String: ConfigSetting], fileName: String, configDirectory: String) {
        self.settings = settings
        self.fileName = fileName
        self.configDirectory = configDirectory
    }

    mutating func build() throws(ConfigError) -> PoolConfig {
        try checkClusteringMode()
        let healthDefaults = healthCheck(node: nil)
        let backends = try buildBackends()
        let poolPasswd = string("pool_passwd")
        let etcd = try buildEtcd()
        let watchdog = try buildWatchdog()
        return PoolConfig(
            configFile: fileName,
            configDirectory: configDirectory,
            listenAddresses: list("listen_addresses"),
            port: int("port"),
            socketDirectory: path("socket_dir"),
            pcpListenAddresses: list("pcp_listen_addresses"),
            pcpPort: int("pcp_port"),
            pcpSocketDirectory: path("pcp_socket_dir"),
            numInitChildren: int("num_init_children"),
            reservedConnections: int("reserved_connections"),
            listenBacklogMultiplier: int("listen_backlog_multiplier"),
            maxPool: int("max_pool"),
            childLifeTime: duration("child_life_time"),
            connectionLifeTime: duration("connection_life_time"),
            clientIdleLimit: duration("client_idle_limit"),
            connectionCache: bool("connection_cache"),
            resetQueryList: list("reset_query_list"),
            enablePoolHba: bool("enable_pool_hba"),
            poolPasswdPath: poolPasswd.isEmpty ? nil : resolvePath(poolPasswd, against: configDirectory),
            authenticationTimeout: duration("authentication_timeout"),
            allowClearTextFrontendAuth: bool("allow_clear_text_frontend_auth"),
            ssl: SSLConfig(
                enabled: bool("ssl"), certificateFile: path("ssl_cert"), keyFile: path("ssl_key"),
                ciphers: string("ssl_ciphers") == SSLConfig.defaultCiphers ? "" : string("ssl_ciphers"),
                backendMode: string("backend_sslmode"), caFile: path("ssl_ca_cert"), caDirectory: path("ssl_ca_cert_dir"),
                crlFile: path("ssl_crl_file"), passphraseCommand: string("ssl_passphrase_command"),
                ecdhCurve: string("ssl_ecdh_curve")),
            logMinMessages: ServerMessageLevel(configValue: string("log_min_messages")) ?? .warning,
            logConnections: bool("log_connections"),
            logDisconnections: bool("log_disconnections"),
            pidFilePath: path("pid_file_name"),
            logDirectory: path("logdir"),
            backends: backends,
            healthCheckDefaults: healthDefaults,
            streamingReplicationCheck: StreamingReplicationCheckConfig(
                period: duration("sr_check_period"), user: string("sr_check_user"),
                password: string("sr_check_password"), database: string("sr_check_database"),
                delayThresholdBytes: UInt64(max(0, int("delay_threshold"))),
                delayThresholdTime: duration("delay_threshold_by_time"),
                preferLowerDelayStandby: bool("prefer_lower_delay_standby"),
                logStandbyDelay: LogStandbyDelay(rawValue: string("log_standby_delay")) ?? .ifOverThreshold),
            failover: FailoverConfig(
                failoverCommand: string("failover_command"), failbackCommand: string("failback_command"),
                followPrimaryCommand: string("follow_primary_command"),
                commandTimeout: duration("failover_command_timeout"),
                onBackendError: settings["fail_over_on_backend_error"] != nil && settings["failover_on_backend_error"] == nil
                    ? bool("fail_over_on_backend_error") : bool("failover_on_backend_error"),
                onBackendShutdown: bool("failover_on_backend_shutdown"),
                detachFalsePrimary: bool("detach_false_primary"),
                searchPrimaryTimeout: duration("search_primary_node_timeout"),
                autoFailback: bool("auto_failback"), autoFailbackInterval: duration("auto_failback_interval")),
            loadBalanceMode: bool("load_balance_mode"),
            statementLevelLoadBalance: bool("statement_level_load_balance"),
            disableLoadBalanceOnWrite: DisableLoadBalanceOnWrite(rawValue: string("disable_load_balance_on_write"))
                ?? .transaction,
            clientWaitTimeout: duration("client_wait_timeout"),
            maxMessageLength: int("max_message_length"),
            numEventLoops: int("num_event_loops"),
            http: HTTPConfig(
                listenAddresses: list("http_listen_addresses"),
                port: int("http_port"), metricsNeedAuthentication: bool("http_metrics_auth"),
                bearerTokenFile: path("http_bearer_token_file"), pgpool2Metrics: bool("http_pgpool2_metrics"),
                certificateFile: path("http_ssl_cert"), keyFile: path("http_ssl_key")),
            watchdog: watchdog,
            etcd: etcd,
            settings: settings)
    }

    // MARK: - Cross-parameter checks

    private func checkClusteringMode() throws(ConfigError) {
        guard let setting = settings["backend_clustering_mode"],
            case .string(let mode) = setting.value, mode != "streaming_replication"
        else { return }
        throw ConfigError(
            kind: .unsupported, file: fileName, line: setting.line, parameter: setting.writtenName,
            message: "backend_clustering_mode \"\(setting.rawValue)\" is not supported: "
                + "SwiftPool supports streaming_replication only")
    }

    private mutating func buildBackends() throws(ConfigError) -> [BackendConfig] {
        var mentioned: [Int: ConfigSetting] = [:]
        for setting in settings.values where setting.reference.name.hasPrefix("backend_") {
            guard let node = setting.reference.node else { continue }
            if let first = mentioned[node], first.line < setting.line { continue }
            mentioned[node] = setting
        }
        var backends: [BackendConfig] = []
        for node in mentioned.keys.sorted() {
            let host = settings[key("backend_hostname", node)]
            let port = settings[key("backend_port", node)]
            let flags = try backendFlags(node: node)
            let hostName = host?.rawValue ?? ""
            guard !hostName.isEmpty || port != nil else {
                if let first = mentioned[node] {
                    note(
                        .warning, line: first.line, parameter: first.writtenName,
                        "\"\(first.writtenName)\" is ignored: node \(node) has no backend_hostname\(node) or backend_port\(node)")
                }
                continue
            }
            var hostname = hostName
            if hostname.isEmpty, let port {
                hostname = "/tmp"
                note(
                    .notice, line: port.line, parameter: port.writtenName,
                    "backend_hostname\(node) is empty; node \(node) uses the Unix socket in /tmp")
            }
            if port == nil, let host {
                note(
                    .notice, line: host.line, parameter: host.writtenName,
                    "backend_port\(node) is not set; node \(node) uses port 5432")
            }
            backends.append(
                BackendConfig(
                    index: node, hostname: hostname, port: int("backend_port", node: node),
                    weight: real("backend_weight", node: node),
                    dataDirectory: string("backend_data_directory", node: node), flags: flags,
                    applicationName: string("backend_application_name", node: node),
                    healthCheck: healthCheck(node: node)))
        }
        if backends.isEmpty {
            note(.warning, line: nil, parameter: nil, "no backend is configured (set backend_hostname0 and backend_port0)")
        } else if backends.map(\.index) != Array(0..<backends.count) {
            let used = backends.map { String($0.index) }.joined(separator: ", ")
            note(
                .notice, line: nil, parameter: nil,
                "backend node ids are not contiguous (\(used)); the missing ids are unused slots, as in Pgpool-II")
        }
        return backends
    }

    private func backendFlags(node: Int) throws(ConfigError) -> BackendFlags {
        guard let setting = settings[key("backend_flag", node)] else { return BackendFlags() }
        var flags = BackendFlags()
        var sawAllow = false
        var sawDisallow = false
        for word in ValueParser.splitList(setting.rawValue, separator: "|") {
            switch word.uppercased() {
            case "ALLOW_TO_FAILOVER":
                sawAllow = true
                flags.allowToFailover = true
            case "DISALLOW_TO_FAILOVER":
                sawDisallow = true
                flags.allowToFailover = false
            case "ALWAYS_PRIMARY":
                flags.alwaysPrimary = true
            default:
                throw ConfigError.invalidValue(
                    file: fileName, line: setting.line, parameter: setting.writtenName, value: setting.rawValue,
                    expected: "ALLOW_TO_FAILOVER or DISALLOW_TO_FAILOVER, optionally joined with |ALWAYS_PRIMARY")
            }
        }
        if sawAllow && sawDisallow {
            throw ConfigError.invalidValue(
                file: fileName, line: setting.line, parameter: setting.writtenName, value: setting.rawValue,
                expected: "either ALLOW_TO_FAILOVER or DISALLOW_TO_FAILOVER, not both")
        }
        return flags
    }

    private func healthCheck(node: Int?) -> HealthCheckConfig {
        HealthCheckConfig(
            period: duration("health_check_period", node: node),
            timeout: duration("health_check_timeout", node: node),
            maxRetries: int("health_check_max_retries", node: node),
            retryDelay: duration("health_check_retry_delay", node: node),
            connectTimeout: duration("connect_timeout", node: node),
            user: string("health_check_user", node: node),
            password: string("health_check_password", node: node),
            database: string("health_check_database", node: node))
    }

    mutating func note(
        _ severity: ConfigDiagnostic.Severity, line: Int?, parameter: String?, _ message: String
    ) {
        diagnostics.append(
            ConfigDiagnostic(
                severity: severity, kind: .advice, file: fileName, line: line, parameter: parameter, message: message))
    }

    // MARK: - Typed access with defaults

    func key(_ name: String, _ node: Int?) -> String {
        ParameterReference(name: name, node: node).key
    }

    /// The value set for `name` (with the node's own value first for per-node parameters), or
    /// the default. Every default in the table parses; the tests check it.
    func value(_ name: String, node: Int? = nil) -> ConfigValue {
        if let node, let setting = settings[key(name, node)] { return setting.value }
        if let setting = settings[key(name, nil)] { return setting.value }
        guard let definition = ParameterTable.definition(named: name),
            let parsed = ValueParser.parse(definition.defaultValue, as: definition)
        else { preconditionFailure("parameter table has no valid default for \(name)") }
        return parsed
    }

    func int(_ name: String, node: Int? = nil) -> Int {
        if case .integer(let number) = value(name, node: node) { return Int(clamping: number) }
        preconditionFailure("\(name) is not an integer parameter")
    }

    func real(_ name: String, node: Int? = nil) -> Double {
        if case .real(let number) = value(name, node: node) { return number }
        preconditionFailure("\(name) is not a real parameter")
    }

    func bool(_ name: String) -> Bool {
        if case .bool(let flag) = value(name) { return flag }
        preconditionFailure("\(name) is not a boolean parameter")
    }

    func string(_ name: String, node: Int? = nil) -> String {
        if case .string(let text) = value(name, node: node) { return text }
        preconditionFailure("\(name) is not a string parameter")
    }

    func list(_ name: String) -> [String] {
        if case .list(let items) = value(name) { return items }
        preconditionFailure("\(name) is not a list parameter")
    }

    /// A path parameter resolved against the config directory; an empty value stays empty.
    func path(_ name: String) -> String {
        let value = string(name)
        return value.isEmpty ? "" : resolvePath(value, against: configDirectory)
    }

    func duration(_ name: String, node: Int? = nil) -> Duration {
        guard let definition = ParameterTable.definition(named: name) else {
            preconditionFailure("unknown parameter \(name)")
        }
        let amount = Int64(int(name, node: node))
        switch definition.unit {
        case .milliseconds: return .milliseconds(amount)
        case .seconds: return .seconds(amount)
        case .minutes: return .seconds(amount * 60)
        default: preconditionFailure("\(name) is not a time parameter")
        }
    }
}
