/// The type of a configuration parameter's value.
public enum ParameterType: Sendable, Equatable {
    /// `on`/`off`, `true`/`false`, `yes`/`no`, `1`/`0` and unique prefixes, as PostgreSQL reads them.
    case bool
    /// A whole number, optionally with a unit when the parameter has one.
    case integer
    /// A floating-point number.
    case real
    /// Free text.
    case string
    /// One of a fixed set of words (compared without regard to case).
    case enumeration([String])
    /// A list of items in one string, split at `separator`; white space around items is dropped.
    case list(separator: Character)
}

/// The unit a numeric parameter is stored in; a bare number means this unit.
public enum ParameterUnit: String, Sendable, Equatable, CaseIterable {
    /// No unit: a plain count.
    case none = ""
    /// Time in milliseconds (accepts us, ms, s, min, h, d).
    case milliseconds = "ms"
    /// Time in seconds (accepts us, ms, s, min, h, d).
    case seconds = "s"
    /// Time in minutes (accepts us, ms, s, min, h, d).
    case minutes = "min"
    /// Size in bytes (accepts B, kB, MB, GB, TB).
    case bytes = "B"
    /// Size in kilobytes (accepts B, kB, MB, GB, TB).
    case kilobytes = "kB"

    /// Whether the unit measures time.
    public var isTime: Bool { self == .milliseconds || self == .seconds || self == .minutes }
    /// Whether the unit measures memory.
    public var isSize: Bool { self == .bytes || self == .kilobytes }
}

/// When a change to a parameter takes effect (Pgpool-II's INIT, RELOAD and SESSION contexts).
public enum ParameterContext: String, Sendable, Equatable {
    /// Read at start-up only; a reload keeps the old value (Pgpool-II: INIT).
    case restart
    /// Picked up by a reload (SIGHUP, `swiftpool reload`, pcp_reload_config) (Pgpool-II: RELOAD).
    case reload
    /// Reloadable, and Pgpool-II also lets a session change it with `PGPOOL SET` (SESSION).
    case session
}

/// Whether a parameter takes a node number suffix (`backend_hostname0`, `health_check_period1`).
public enum NodeSuffix: Sendable, Equatable {
    /// A plain parameter: `port`.
    case none
    /// The suffix is required: `backend_port0`, `wd_port1`.
    case required
    /// Both forms are valid: without a suffix it sets the default for every node, with one it
    /// overrides that node (`health_check_period` and `health_check_period2`).
    case optional

    /// The node numbers a suffix may carry: 0 to 127, as Pgpool-II's 128 slots.
    public static let validRange = 0...127
}

/// The section of the reference documentation a parameter belongs to.
/// The raw value is the section title.
public enum ParameterGroup: String, Sendable, Equatable, CaseIterable {
    /// Listening addresses, ports, sockets and session limits.
    case connections = "Connections"
    /// The `backend_*N` node definitions.
    case backends = "Backends"
    /// Client authentication and pool_passwd.
    case authentication = "Authentication"
    /// SSL for clients and backends.
    case ssl = "SSL"
    /// Backend connection caching and lifetimes.
    case pools = "Pools and connection lifetimes"
    /// What is logged and where.
    case logging = "Logging"
    /// The pid file and the status file directory.
    case fileLocations = "File locations"
    /// The clustering mode and the native replication mode settings.
    case clustering = "Clustering mode and native replication"
    /// Read load balancing.
    case loadBalancing = "Load balancing"
    /// The streaming replication delay and role check.
    case streamingReplicationCheck = "Streaming replication check"
    /// Backend health checks.
    case healthCheck = "Health check"
    /// Failover, failback and the commands they run.
    case failover = "Failover and failback"
    /// Online recovery of detached nodes.
    case onlineRecovery = "Online recovery"
    /// High availability of the proxy itself.
    case watchdog = "Watchdog"
    /// Catalog look-up caching and temporary table detection.
    case relationCache = "Relation cache and temporary tables"
    /// The query result cache.
    case queryCache = "In-memory query cache"
    /// Parameters that only SwiftPool has.
    case swiftPool = "SwiftPool extensions"
}

/// Everything SwiftPool knows about one configuration parameter.
public struct ParameterDefinition: Sendable, Equatable {
    /// The name, lower case, without a node suffix.
    public var name: String
    /// The value type.
    public var type: ParameterType
    /// The default, written as it would be in pgpool.conf (without quotes).
    public var defaultValue: String
    /// The unit of a numeric value.
    public var unit: ParameterUnit
    /// The smallest accepted value (in `unit`) for numbers.
    public var minimum: Double?
    /// The largest accepted value (in `unit`) for numbers.
    public var maximum: Double?
    /// When a change takes effect.
    public var context: ParameterContext
    /// Whether the name takes a node number suffix.
    public var nodeSuffix: NodeSuffix
    /// The documentation section.
    public var group: ParameterGroup
    /// Whether SwiftPool acts on the parameter today. Others are parsed, validated and reported as
    /// "not supported yet" when set to something other than their default.
    public var implemented: Bool
    /// Whether the parameter is SwiftPool's own rather than Pgpool-II's.
    public var isExtension: Bool
    /// One sentence on what the parameter does.
    public var summary: String

    /// Whether the value is a secret that reports and APIs never show (passwords, wd_authkey,
    /// ssl_passphrase_command, which may print its passphrase itself).
    public var isSecret: Bool { Self.isSecret(name) }

    /// Whether a parameter name (with or without a node number) holds a secret.
    public static func isSecret(_ name: String) -> Bool {
        name.contains("password") || name.contains("authkey") || name.contains("auth_key") || name.contains("passphrase")
    }

    /// Creates a definition.
    public init(
        name: String, type: ParameterType, defaultValue: String, unit: ParameterUnit = .none,
        minimum: Double? = nil, maximum: Double? = nil, context: ParameterContext,
        nodeSuffix: NodeSuffix = .none, group: ParameterGroup, implemented: Bool,
        isExtension: Bool = false, summary: String
    ) {
        self.name = name
        self.type = type
        self.defaultValue = defaultValue
        self.unit = unit
        self.minimum = minimum
        self.maximum = maximum
        self.context = context
        self.nodeSuffix = nodeSuffix
        self.group = group
        self.implemented = implemented
        self.isExtension = isExtension
        self.summary = summary
    }
}
