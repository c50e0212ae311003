import Configuration
import Foundation
import Testing

@Suite("pgpool.conf loading")
struct ConfigLoaderTests {
    @Test func emptyFileGivesPgpoolDefaults() throws {
        let loaded = try loadConfig("")
        let config = loaded.config
        #expect(config.listenAddresses == ["localhost"])
        #expect(config.port == 9999)
        #expect(config.socketDirectory == "/tmp")
        #expect(config.pcpListenAddresses == ["localhost"])
        #expect(config.pcpPort == 9898)
        #expect(config.pcpSocketDirectory == "/tmp")
        #expect(config.numInitChildren == 32)
        #expect(config.maxPool == 4)
        #expect(config.reservedConnections == 0)
        #expect(config.childLifeTime == .seconds(300))
        #expect(config.connectionLifeTime == .zero)
        #expect(config.clientIdleLimit == .zero)
        #expect(config.connectionCache)
        #expect(config.authenticationTimeout == .seconds(60))
        #expect(config.resetQueryList == ["ABORT", "DISCARD ALL"])
        #expect(!config.enablePoolHba)
        #expect(config.poolPasswdPath == "/etc/swiftpool/pool_passwd")
        #expect(config.pidFilePath == "/var/run/pgpool/pgpool.pid")
        #expect(config.logDirectory == "/tmp")
        #expect(config.statusFilePath == "/tmp/pgpool_status")
        #expect(config.logMinMessages == .warning)
        #expect(!config.logConnections && !config.logDisconnections)
        #expect(!config.allowClearTextFrontendAuth)
        #expect(config.loadBalanceMode)
        #expect(!config.statementLevelLoadBalance)
        #expect(config.disableLoadBalanceOnWrite == .transaction)
        #expect(config.healthCheckDefaults == HealthCheckConfig())
        #expect(config.streamingReplicationCheck == StreamingReplicationCheckConfig())
        #expect(config.failover.failoverCommand == "" && config.failover.followPrimaryCommand == "")
        #expect(config.clientWaitTimeout == .seconds(5))
        #expect(config.maxMessageLength == 1 << 30)
        #expect(config.numEventLoops == 0)
        #expect(config.backends.isEmpty)
        #expect(config.configDirectory == "/etc/swiftpool")
        #expect(config.defaultPoolHbaPath == "/etc/swiftpool/pool_hba.conf")
        #expect(config.defaultPCPConfigPath == "/etc/swiftpool/pcp.conf")
        #expect(loaded.diagnostics.map(\.message) == ["no backend is configured (set backend_hostname0 and backend_port0)"])
    }

    @Test func implementedParametersAreTyped() throws {
        let config = try loadConfig(
            """
            listen_addresses = '127.0.0.1, ::1'
            port = 15432
            socket_dir = '/var/run/swiftpool'
            pcp_listen_addresses = '*'
            pcp_port = 19898
            pcp_socket_dir = 'sockets'
            num_init_children = 100
            max_pool = 2
            reserved_connections = 5
            child_life_time = 1min
            connection_life_time = 10min
            client_idle_limit = 30s
            connection_cache = off
            authentication_timeout = 0
            reset_query_list = 'DISCARD ALL'
            enable_pool_hba = on
            pool_passwd = ''
            pid_file_name = 'swiftpool.pid'
            logdir = '../log'
            log_min_messages = debug
            log_connections = yes
            log_disconnections = true
            allow_clear_text_frontend_auth = on
            load_balance_mode = off
            statement_level_load_balance = on
            disable_load_balance_on_write = 'dml_adaptive'
            failover_command = '/bin/failover %d %h'
            follow_primary_command = '/bin/follow %d'
            client_wait_timeout = 2s
            max_message_length = 64MB
            num_event_loops = 4
            """
        ).config
        #expect(config.listenAddresses == ["127.0.0.1", "::1"])
        #expect(config.port == 15432)
        #expect(config.socketDirectory == "/var/run/swiftpool")
        #expect(config.pcpListenAddresses == ["*"])
        #expect(config.pcpPort == 19898)
        #expect(config.pcpSocketDirectory == "/etc/swiftpool/sockets")
        #expect(config.numInitChildren == 100)
        #expect(config.maxPool == 2)
        #expect(config.reservedConnections == 5)
        #expect(config.childLifeTime == .seconds(60))
        #expect(config.connectionLifeTime == .seconds(600))
        #expect(config.clientIdleLimit == .seconds(30))
        #expect(!config.connectionCache)
        #expect(config.authenticationTimeout == .zero)
        #expect(config.resetQueryList == ["DISCARD ALL"])
        #expect(config.enablePoolHba)
        #expect(config.poolPasswdPath == nil)
        #expect(config.pidFilePath == "/etc/swiftpool/swiftpool.pid")
        #expect(config.logDirectory == "/etc/log")
        #expect(config.logMinMessages == .debug2)
        #expect(config.logConnections && config.logDisconnections)
        #expect(config.allowClearTextFrontendAuth)
        #expect(!config.loadBalanceMode)
        #expect(config.statementLevelLoadBalance)
        #expect(config.disableLoadBalanceOnWrite == .dmlAdaptive)
        #expect(config.failover.failoverCommand == "/bin/failover %d %h")
        #expect(config.failover.followPrimaryCommand == "/bin/follow %d")
        #expect(config.clientWaitTimeout == .seconds(2))
        #expect(config.maxMessageLength == 64 << 20)
        #expect(config.numEventLoops == 4)
    }

    @Test func subSecondValuesRoundToTheBaseUnit() throws {
        let config = try loadConfig("client_wait_timeout = 1500ms\nconnect_timeout = 2.5s").config
        #expect(config.clientWaitTimeout == .seconds(2))
        #expect(config.healthCheckDefaults.connectTimeout == .milliseconds(2500))
    }

    @Test func namesAreCaseInsensitive() throws {
        let loaded = try loadConfig("PORT = 1234\nLog_Connections = on\nBACKEND_HOSTNAME0 = 'h'")
        #expect(loaded.config.port == 1234)
        #expect(loaded.config.logConnections)
        #expect(loaded.config.backends.map(\.hostname) == ["h"])
        #expect(loaded.config.value("port") == "1234")
        #expect(loaded.config.value("Backend_Hostname0") == "h")
    }

    @Test func laterDuplicatesOverride() throws {
        let loaded = try loadConfig("port = 1111\nnum_init_children = 5\nport = 2222\nPort = 3333")
        #expect(loaded.config.port == 3333)
        #expect(loaded.config.settings["port"]?.line == 4)
        #expect(loaded.config.numInitChildren == 5)
    }

    @Test func rawValueLookup() throws {
        let config = try loadConfig(
            "wd_priority = 7\nhealth_check_period = 10\nhealth_check_period2 = 3\ndelay_threshold = 1MB"
        ).config
        #expect(config.value("wd_priority") == "7")
        #expect(config.value("ssl_ciphers") == "HIGH:MEDIUM:+3DES:!aNULL")
        #expect(config.value("no_such_thing") == nil)
        #expect(config.value("backend_hostname") == nil)
        #expect(config.value("health_check_period1") == "10")
        #expect(config.value("health_check_period2") == "3")
        #expect(config.value("backend_port7") == "5432")
        #expect(config.typedValue("delay_threshold") == .integer(1_048_576))
        #expect(config.typedValue("memqcache_total_size") == .integer(64 << 20))
        #expect(config.typedValue("use_watchdog") == .bool(false))
    }

    @Test func backendFamilies() throws {
        let config = try loadConfig(
            """
            backend_hostname0 = 'pg-1'
            backend_port0 = 5432
            backend_weight0 = 0
            backend_data_directory0 = '/data/pg1'
            backend_flag0 = 'ALLOW_TO_FAILOVER'
            backend_application_name0 = 'pg-1'
            backend_hostname1 = 'pg-2'
            backend_port1 = 5433
            backend_weight1 = 0.5
            backend_flag1 = 'DISALLOW_TO_FAILOVER|ALWAYS_PRIMARY'
            backend_hostname2 = 'pg-3'
            backend_flag2 = 'always_primary | allow_to_failover'
            """
        ).config
        #expect(config.backends.count == 3)
        let first = try #require(config.backend(0))
        #expect(first.hostname == "pg-1")
        #expect(first.port == 5432)
        #expect(first.weight == 0)
        #expect(first.dataDirectory == "/data/pg1")
        #expect(first.flags == BackendFlags(allowToFailover: true, alwaysPrimary: false))
        #expect(first.applicationName == "pg-1")
        let second = try #require(config.backend(1))
        #expect(second.port == 5433)
        #expect(second.weight == 0.5)
        #expect(second.flags == BackendFlags(allowToFailover: false, alwaysPrimary: true))
        #expect(second.flags.description == "DISALLOW_TO_FAILOVER|ALWAYS_PRIMARY")
        #expect(second.dataDirectory == "" && second.applicationName == "")
        let third = try #require(config.backend(2))
        #expect(third.port == 5432)
        #expect(third.weight == 1)
        #expect(third.flags == BackendFlags(allowToFailover: true, alwaysPrimary: true))
    }

    @Test func backendsNeedNotBeContiguous() throws {
        let loaded = try loadConfig(
            "backend_hostname0 = 'a'\nbackend_port0 = 5432\nbackend_hostname2 = 'c'\nbackend_port2 = 5432")
        #expect(loaded.config.backends.map(\.index) == [0, 2])
        #expect(loaded.config.backend(1) == nil)
        #expect(
            loaded.diagnostics.map(\.description) == [
                "pgpool.conf: backend node ids are not contiguous (0, 2); the missing ids are unused slots, as in Pgpool-II"
            ])
    }

    @Test func backendWithoutPortOrHost() throws {
        let loaded = try loadConfig(
            """
            backend_hostname0 = 'a'
            backend_port1 = 5433
            backend_weight2 = 3
            backend_hostname3 = ''
            """)
        #expect(loaded.config.backends.map(\.index) == [0, 1])
        #expect(loaded.config.backend(1)?.hostname == "/tmp")
        #expect(loaded.config.backend(1)?.usesUnixSocket == true)
        #expect(
            loaded.diagnostics.map(\.description) == [
                "pgpool.conf:1: backend_port0 is not set; node 0 uses port 5432",
                "pgpool.conf:2: backend_hostname1 is empty; node 1 uses the Unix socket in /tmp",
                "pgpool.conf:3: \"backend_weight2\" is ignored: node 2 has no backend_hostname2 or backend_port2",
                "pgpool.conf:4: \"backend_hostname3\" is ignored: node 3 has no backend_hostname3 or backend_port3",
            ])
    }

    @Test func perNodeHealthCheckOverrides() throws {
        let config = try loadConfig(
            """
            backend_hostname0 = 'a'
            backend_port0 = 5432
            backend_hostname1 = 'b'
            backend_port1 = 5432
            health_check_period1 = 2min
            health_check_user1 = 'special'
            connect_timeout1 = 3s
            health_check_period = 10
            health_check_timeout = 20
            health_check_user = 'repmgr'
            health_check_password = 'TEXTsecret'
            health_check_database = 'postgres'
            health_check_max_retries = 3
            health_check_retry_delay = 1
            health_check_max_retries7 = 9
            """
        ).config
        let global = HealthCheckConfig(
            period: .seconds(10), timeout: .seconds(20), maxRetries: 3, retryDelay: .seconds(1),
            connectTimeout: .milliseconds(10_000), user: "repmgr", password: "TEXTsecret", database: "postgres")
        #expect(config.healthCheckDefaults == global)
        #expect(config.backend(0)?.healthCheck == global)
        var second = global
        second.period = .seconds(120)
        second.user = "special"
        second.connectTimeout = .seconds(3)
        #expect(config.backend(1)?.healthCheck == second)
        #expect(config.healthCheckDefaults.isEnabled)
    }

    @Test func streamingReplicationCheck() throws {
        let config = try loadConfig(
            "sr_check_period = 5\nsr_check_user = 'repmgr'\nsr_check_password = ''\nsr_check_database = 'app'"
        ).config
        #expect(
            config.streamingReplicationCheck
                == StreamingReplicationCheckConfig(period: .seconds(5), user: "repmgr", password: "", database: "app"))
        #expect(try loadConfig("sr_check_period = 0").config.streamingReplicationCheck.isEnabled == false)
    }

    @Test(arguments: [
        ("debug5", ServerMessageLevel.debug5, "trace"), ("debug1", .debug1, "debug"), ("info", .info, "info"),
        ("NOTICE", .notice, "notice"), ("warning", .warning, "warning"), ("error", .error, "error"),
        ("log", .log, "info"), ("fatal", .fatal, "critical"), ("panic", .panic, "critical"),
    ])
    func logMinMessages(word: String, level: ServerMessageLevel, swiftLogName: String) throws {
        let config = try loadConfig("log_min_messages = \(word)").config
        #expect(config.logMinMessages == level)
        #expect(config.logMinMessages.logLevelName == swiftLogName)
    }

    @Test func relativePathsFollowTheConfigDirectory() throws {
        let loaded = try ConfigLoader.parse(
            text: "pid_file_name = 'run/x.pid'\nlogdir = './run/'\nsocket_dir = 'run'",
            fileName: "conf/pgpool.conf", configDirectory: "/srv/swiftpool/conf")
        #expect(loaded.config.pidFilePath == "/srv/swiftpool/conf/run/x.pid")
        #expect(loaded.config.logDirectory == "/srv/swiftpool/conf/run")
        #expect(loaded.config.socketDirectory == "/srv/swiftpool/conf/run")
        #expect(loaded.config.poolPasswdPath == "/srv/swiftpool/conf/pool_passwd")
    }

    @Test func emptyPathsStayEmpty() throws {
        let config = try loadConfig("socket_dir = ''\npcp_socket_dir = ''").config
        #expect(config.socketDirectory == "")
        #expect(config.pcpSocketDirectory == "")
    }

    @Test func loadReadsAFileAndResolvesAgainstItsDirectory() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("pgpool.conf")
        try "port = 4321\npool_passwd = 'secrets/pool_passwd'\n".write(to: file, atomically: true, encoding: .utf8)
        let loaded = try ConfigLoader.load(path: file.path)
        #expect(loaded.config.port == 4321)
        #expect(loaded.config.configFile == file.path)
        #expect(loaded.config.configDirectory == directory.standardizedFileURL.path)
        #expect(loaded.config.poolPasswdPath == directory.appendingPathComponent("secrets/pool_passwd").standardizedFileURL.path)
    }
}

@Suite("pgpool.conf diagnostics and errors")
struct ConfigDiagnosticsTests {
    @Test func unknownParameterIsAWarningWithLine() throws {
        let loaded = try loadConfig("backend_hostname0 = 'a'\nport = 5432\nno_such_parameter = 3\nmaster_slave_mode = on")
        let unknown = loaded.diagnostics.filter { $0.kind == .unrecognizedParameter }
        #expect(
            unknown.map(\.description) == [
                "pgpool.conf:3: unrecognized configuration parameter \"no_such_parameter\"",
                "pgpool.conf:4: unrecognized configuration parameter \"master_slave_mode\"",
            ])
        #expect(unknown.allSatisfy { $0.severity == .warning })
        #expect(unknown.first?.parameter == "no_such_parameter")
    }

    @Test func notSupportedYetOncePerParameterWhenNotDefault() throws {
        let loaded = try loadConfig(
            """
            backend_hostname0 = 'a'
            memory_cache_enabled = on
            ssl = off
            heartbeat_device0 = ''
            heartbeat_device0 = 'eth0'
            heartbeat_device1 = 'eth1'
            delay_threshold = 10MB
            memqcache_total_size = 64MB
            child_max_connections = 0
            log_statement = on
            """)
        let notSupported = loaded.diagnostics.filter { $0.kind == .notSupportedYet }
        #expect(
            notSupported.map(\.description) == [
                "pgpool.conf:2: parameter \"memory_cache_enabled\" is not supported yet; its setting is ignored",
                "pgpool.conf:5: parameter \"heartbeat_device0\" is not supported yet; its setting is ignored",
                "pgpool.conf:10: parameter \"log_statement\" is not supported yet; its setting is ignored",
            ])
        #expect(loaded.config.value("delay_threshold") == "10MB")
    }

    @Test func implementedParametersGiveNoDiagnostics() throws {
        let loaded = try loadConfig("backend_hostname0 = 'a'\nbackend_port0 = 5432\nport = 1234\nnum_event_loops = 2")
        #expect(loaded.diagnostics.isEmpty)
    }

    @Test func diagnosticsAreInLineOrder() throws {
        let loaded = try loadConfig("memory_cache_enabled = on\nbogus = 1\nbackend_hostname0 = 'a'\nlog_statement = on")
        #expect(loaded.diagnostics.map(\.line) == [1, 2, 3, 4])
    }

    @Test(arguments: [
        (
            "port = 5432\nnum_init_children = abc",
            "pgpool.conf:2: invalid value for parameter \"num_init_children\": \"abc\" (expected an integer of at least 1)"
        ),
        (
            "num_init_children = 0",
            "pgpool.conf:1: invalid value for parameter \"num_init_children\": \"0\" (expected an integer of at least 1)"
        ),
        (
            "port = 80",
            "pgpool.conf:1: invalid value for parameter \"port\": \"80\" (expected an integer between 1024 and 65535)"
        ),
        (
            "Port = '70000'",
            "pgpool.conf:1: invalid value for parameter \"Port\": \"70000\" (expected an integer between 1024 and 65535)"
        ),
        (
            "num_init_children = 5s",
            "pgpool.conf:1: invalid value for parameter \"num_init_children\": \"5s\" (expected an integer of at least 1)"
        ),
        (
            "child_life_time = 5MIN",
            "pgpool.conf:1: invalid value for parameter \"child_life_time\": \"5MIN\" (expected a time of at least 0 seconds (a bare number is in seconds; units: us, ms, s, min, h, d))"
        ),
        (
            "max_message_length = 1MiB",
            "pgpool.conf:1: invalid value for parameter \"max_message_length\": \"1MiB\" (expected a size of at least 1024 bytes (a bare number is in bytes; units: B, kB, MB, GB, TB))"
        ),
        (
            "num_event_loops = 2000",
            "pgpool.conf:1: invalid value for parameter \"num_event_loops\": \"2000\" (expected an integer between 0 and 1024)"
        ),
        (
            "log_connections = maybe",
            "pgpool.conf:1: invalid value for parameter \"log_connections\": \"maybe\" (expected a boolean: on, off, true, false, yes, no, 1 or 0)"
        ),
        (
            "disable_load_balance_on_write = 'sometimes'",
            "pgpool.conf:1: invalid value for parameter \"disable_load_balance_on_write\": \"sometimes\" (expected one of: off, transaction, trans_transaction, always, dml_adaptive)"
        ),
        (
            "backend_clustering_mode = 'multi_master'",
            "pgpool.conf:1: invalid value for parameter \"backend_clustering_mode\": \"multi_master\" (expected one of: streaming_replication, native_replication, logical_replication, slony, raw, snapshot_isolation)"
        ),
        (
            "backend_weight0 = heavy",
            "pgpool.conf:1: invalid value for parameter \"backend_weight0\": \"heavy\" (expected a number between 0 and 100000000)"
        ),
        (
            "backend_hostname0 = 'a'\nbackend_flag0 = 'ALLOW_TO_FAILOVER|FOO'",
            "pgpool.conf:2: invalid value for parameter \"backend_flag0\": \"ALLOW_TO_FAILOVER|FOO\" (expected ALLOW_TO_FAILOVER or DISALLOW_TO_FAILOVER, optionally joined with |ALWAYS_PRIMARY)"
        ),
        (
            "backend_flag3 = 'ALLOW_TO_FAILOVER|DISALLOW_TO_FAILOVER'",
            "pgpool.conf:1: invalid value for parameter \"backend_flag3\": \"ALLOW_TO_FAILOVER|DISALLOW_TO_FAILOVER\" (expected either ALLOW_TO_FAILOVER or DISALLOW_TO_FAILOVER, not both)"
        ),
        (
            "health_check_period1 = soon",
            "pgpool.conf:1: invalid value for parameter \"health_check_period1\": \"soon\" (expected a time of at least 0 seconds (a bare number is in seconds; units: us, ms, s, min, h, d))"
        ),
        (
            "backend_hostname = 'x'",
            "pgpool.conf:1: parameter \"backend_hostname\" needs a node number, e.g. backend_hostname0"
        ),
        (
            "backend_hostname128 = 'x'",
            "pgpool.conf:1: node number 128 of parameter \"backend_hostname128\" is outside the valid range 0 .. 127 (backend_hostname0 … backend_hostname127)"
        ),
        (
            "\nbackend_clustering_mode = 'raw'",
            "pgpool.conf:2: backend_clustering_mode \"raw\" is not supported: SwiftPool supports streaming_replication only"
        ),
        ("port = = 5", "pgpool.conf:1: syntax error near \"=\""),
    ])
    func errorsNameFileLineAndParameter(text: String, expected: String) {
        #expect(configError(text)?.description == expected)
    }

    @Test func errorKindsAndFields() {
        let invalid = configError("port = 5432\nnum_init_children = abc")
        #expect(invalid?.kind == .invalidValue)
        #expect(invalid?.line == 2)
        #expect(invalid?.parameter == "num_init_children")
        #expect(configError("backend_clustering_mode = 'native_replication'")?.kind == .unsupported)
        #expect(configError("port 1 2")?.kind == .syntax)
    }

    @Test func anInvalidValueIsAnErrorEvenWhenOverriddenLater() {
        #expect(configError("port = abc\nport = 5432")?.line == 1)
    }

    @Test func explicitStreamingReplicationModeIsAccepted() throws {
        #expect(throws: Never.self) { try loadConfig("backend_clustering_mode = 'STREAMING_REPLICATION'") }
    }

    @Test func missingFileNamesTheFile() {
        let path = "/nonexistent/swiftpool/pgpool.conf"
        do {
            _ = try ConfigLoader.load(path: path)
            Issue.record("expected an error")
        } catch {
            #expect(error.kind == .unreadableFile)
            #expect(error.file == path)
            #expect(error.description == "/nonexistent/swiftpool/pgpool.conf: could not read configuration file: no such file")
        }
    }
}
