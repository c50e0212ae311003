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

    /// Creates settings; the defaults are Pgpool-II's.
    public init(period: Duration = .seconds(10), user: String = "nobody", password: String = "", database: String = "postgres") {
        self.period = period
        self.user = user
        self.password = password
        self.database = database
    }

    /// Whether the check runs at all.
    public var isEnabled: Bool { period > .zero }
}
