/// `backend_flagN`: what SwiftPool may do with a node.
public struct BackendFlags: Sendable, Equatable {
    /// `ALLOW_TO_FAILOVER` (default) or, when false, `DISALLOW_TO_FAILOVER`: a failed health check
    /// only logs.
    public var allowToFailover: Bool
    /// `ALWAYS_PRIMARY`: the node is the primary whatever `pg_is_in_recovery()` says (for
    /// managed services that move the primary behind one address).
    public var alwaysPrimary: Bool

    /// Creates flags; the defaults are Pgpool-II's (`ALLOW_TO_FAILOVER`).
    public init(allowToFailover: Bool = true, alwaysPrimary: Bool = false) {
        self.allowToFailover = allowToFailover
        self.alwaysPrimary = alwaysPrimary
    }

    /// The flags as pgpool.conf writes them, e.g. `ALLOW_TO_FAILOVER|ALWAYS_PRIMARY`.
    public var description: String {
        var words = [allowToFailover ? "ALLOW_TO_FAILOVER" : "DISALLOW_TO_FAILOVER"]
        if alwaysPrimary { words.append("ALWAYS_PRIMARY") }
        return words.joined(separator: "|")
    }
}

/// One PostgreSQL node: the `backend_*N` parameters with the same N.
public struct BackendConfig: Sendable, Equatable {
    /// The node id N.
    public var index: Int
    /// Host name, address, or Unix socket directory (a value starting with `/`).
    public var hostname: String
    /// TCP port (or the socket's port number).
    public var port: Int
    /// Load-balancing weight, relative to the other nodes; 0 excludes the node from read balancing.
    public var weight: Double
    /// Data directory, for the `%D` / `%R` placeholders of failover commands.
    public var dataDirectory: String
    /// Failover flags.
    public var flags: BackendFlags
    /// `application_name` of the node's WAL receiver, to match `pg_stat_replication`.
    public var applicationName: String
    /// The health check settings for this node: `health_check_*N` where set, else the global ones.
    public var healthCheck: HealthCheckConfig

    /// Creates a node.
    public init(
        index: Int, hostname: String, port: Int = 5432, weight: Double = 1, dataDirectory: String = "",
        flags: BackendFlags = BackendFlags(), applicationName: String = "",
        healthCheck: HealthCheckConfig = HealthCheckConfig()
    ) {
        self.index = index
        self.hostname = hostname
        self.port = port
        self.weight = weight
        self.dataDirectory = dataDirectory
        self.flags = flags
        self.applicationName = applicationName
        self.healthCheck = healthCheck
    }

    /// Whether the host is a Unix socket directory.
    public var usesUnixSocket: Bool { hostname.hasPrefix("/") }
}
