/// The health check settings of one node (`health_check_*`, `connect_timeout`).
public struct HealthCheckConfig: Sendable, Equatable {
    /// Interval between checks; zero disables health checking.
    public var period: Duration
    /// A check that takes longer has failed; zero waits forever.
    public var timeout: Duration
    /// Retries after a failed check before the node is failed over.
    public var maxRetries: Int
    /// Pause between retries.
    public var retryDelay: Duration
    /// Timeout of the TCP connect; zero waits forever.
    public var connectTimeout: Duration
    /// User to connect as.
    public var user: String
    /// Password as written (`''` means: look it up in pool_passwd; prefixes as in pool_passwd).
    public var password: String
    /// Database; empty means `postgres`, then `template1`.
    public var database: String

    /// Creates settings; the defaults are Pgpool-II's.
    public init(
        period: Duration = .zero, timeout: Duration = .seconds(20), maxRetries: Int = 0,
        retryDelay: Duration = .seconds(1), connectTimeout: Duration = .milliseconds(10_000),
        user: String = "nobody", password: String = "", database: String = ""
    ) {
        self.period = period
        self.timeout = timeout
        self.maxRetries = maxRetries
        self.retryDelay = retryDelay
        self.connectTimeout = connectTimeout
        self.user = user
        self.password = password
        self.database = database
    }

    /// Whether checks run at all.
    public var isEnabled: Bool { period > .zero }
}

/// The streaming replication check (`sr_check_*`).
public struct StreamingReplicationCheckConfig: Sendable, Equatable {
    /// Interval between checks; zero disables the check.
    public var period: Duration
    /// User to connect as.
    public var user: String
    /// Password as written (`''` means: look it up in pool_passwd).
    public var password: String
    /// Database to connect to.
    public var database: String
    /// `delay_threshold`: a standby more bytes behind gets no reads; zero turns it off.
    public var delayThresholdBytes: UInt64
    /// `delay_threshold_by_time`: a standby whose replay lag is longer gets no reads; zero turns it off.
    public var delayThresholdTime: Duration
    /// `prefer_lower_delay_standby`: a lagging load-balance node's reads go to another standby
    /// rather than the primary.
    public var preferLowerDelayStandby: Bool
    /// `log_standby_delay`.
    public var logStandbyDelay: LogStandbyDelay

    /// Creates settings; the defaults are Pgpool-II's.
    public init(period: Duration = .seconds(10), user: String = "nobody", password: String = "", database: String = "postgres",
                delayThresholdBytes: UInt64 = 0, delayThresholdTime: Duration = .zero, preferLowerDelayStandby: Bool = false,
                logStandbyDelay: LogStandbyDelay = .ifOverThreshold) {
        self.period = period
        self.user = user
        self.password = password
        self.database = database
        self.delayThresholdBytes = delayThresholdBytes
        self.delayThresholdTime = delayThresholdTime
        self.preferLowerDelayStandby = preferLowerDelayStandby
        self.logStandbyDelay = logStandbyDelay
    }

    /// Whether the check runs at all.
    public var isEnabled: Bool { period > .zero }
}

/// The embedded HTTP server (`http_*`).
public struct HTTPConfig: Sendable, Equatable {
    /// `http_listen_addresses`.
    public var listenAddresses: [String]
    /// `http_port`; zero turns the server off.
    public var port: Int
    /// `http_metrics_auth`.
    public var metricsNeedAuthentication: Bool
    /// `http_bearer_token_file`, resolved; empty for none.
    public var bearerTokenFile: String
    /// `http_pgpool2_metrics`.
    public var pgpool2Metrics: Bool
    /// `http_ssl_cert`, resolved; empty for plain HTTP.
    public var certificateFile: String
    /// `http_ssl_key`, resolved; empty for plain HTTP.
    public var keyFile: String

    public init(listenAddresses: [String] = ["localhost"], port: Int = 9719, metricsNeedAuthentication: Bool = false,
                bearerTokenFile: String = "", pgpool2Metrics: Bool = true, certificateFile: String = "", keyFile: String = "") {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.listenAddresses = listenAddresses
        self.port = port
        self.metricsNeedAuthentication = metricsNeedAuthentication
        self.bearerTokenFile = bearerTokenFile
        self.pgpool2Metrics = pgpool2Metrics
    }
}

/// `log_standby_delay`: when the replication check logs a standby's delay.
public enum LogStandbyDelay: String, Sendable, Equatable {
    case always
    case ifOverThreshold = "if_over_threshold"
    case none
}

/// What happens when a node fails or comes back (`failover_*`, `follow_primary_command`,
/// `auto_failback`, …).
public struct FailoverConfig: Sendable, Equatable {
    /// `failover_command`; empty runs nothing.
    public var failoverCommand: String
    /// `failback_command`; empty runs nothing.
    public var failbackCommand: String
    /// `follow_primary_command`; empty runs nothing.
    public var followPrimaryCommand: String
    /// `failover_command_timeout`: a command still running after this long is killed.
    public var commandTimeout: Duration
    /// `failover_on_backend_error` (or its old name `fail_over_on_backend_error`).
    public var onBackendError: Bool
    /// `failover_on_backend_shutdown`.
    public var onBackendShutdown: Bool
    /// `detach_false_primary`.
    public var detachFalsePrimary: Bool
    /// `search_primary_node_timeout`; zero searches forever.
    public var searchPrimaryTimeout: Duration
    /// `auto_failback`.
    public var autoFailback: Bool
    /// `auto_failback_interval`.
    public var autoFailbackInterval: Duration

    /// Creates settings; the defaults are Pgpool-II's.
    public init(
        failoverCommand: String = "", failbackCommand: String = "", followPrimaryCommand: String = "",
        commandTimeout: Duration = .seconds(300), onBackendError: Bool = true, onBackendShutdown: Bool = false,
        detachFalsePrimary: Bool = false, searchPrimaryTimeout: Duration = .seconds(300), autoFailback: Bool = false,
        autoFailbackInterval: Duration = .seconds(60)
    ) {
        self.failoverCommand = failoverCommand
        self.failbackCommand = failbackCommand
        self.followPrimaryCommand = followPrimaryCommand
        self.commandTimeout = commandTimeout
        self.onBackendError = onBackendError
        self.onBackendShutdown = onBackendShutdown
        self.detachFalsePrimary = detachFalsePrimary
        self.searchPrimaryTimeout = searchPrimaryTimeout
        self.autoFailback = autoFailback
        self.autoFailbackInterval = autoFailbackInterval
    }
}
