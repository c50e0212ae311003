import NIOCore

/// The settings the data path needs, taken from pgpool.conf by the executable.
public struct ProxySettings: Sendable, Equatable {
    /// Addresses to listen on ("*" for all, "localhost" for loopback).
    public var listenAddresses: [String] = ["localhost"]
    public var port = 9999
    /// Directory for the Unix socket `.s.PGSQL.<port>`; nil for none.
    public var socketDirectory: String? = "/tmp"
    public var numInitChildren = 32
    public var reservedConnections = 0
    /// Clients connected without a slot (before their startup packet, or waiting for a slot)
    /// are capped at numInitChildren × this.
    public var listenBacklogMultiplier = 2
    public var maxPool = 4
    public var connectionCache = true
    /// Zero: cached connections never expire.
    public var connectionLifeTime: TimeAmount = .zero
    /// Zero: clients may stay idle forever.
    public var clientIdleLimit: TimeAmount = .zero
    public var authenticationTimeout: TimeAmount = .seconds(60)
    /// How long a client beyond num_init_children waits for a slot before 53300.
    public var clientWaitTimeout: TimeAmount = .seconds(5)
    public var backendConnectTimeout: TimeAmount = .seconds(10)
    public var resetQueries = ["ABORT", "DISCARD ALL"]
    public var resetTimeout: TimeAmount = .seconds(10)
    public var allowClearTextFrontendAuth = false
    public var maxMessageLength = 1 << 30
    public var logConnections = false
    public var logDisconnections = false
    /// How long a statement waits for a catalog look-up it needs (a relation or function seen
    /// for the first time) before it is sent to the primary instead.
    public var catalogLookupWait: TimeAmount = .seconds(2)
    /// `pool_mode`: how long clients keep backend connections, unless `pool_mode_list` says otherwise.
    public var poolMode = PoolMode.session
    public var poolModeRules = PoolModeRules()
    /// Transaction mode: most backend connections per node, over all event loops.
    public var transactionPoolSize = 20
    /// `transaction_pool_size_list`: lower limits per node for some users and databases.
    public var transactionPoolSizeRules = PoolSizeRules()
    /// Transaction mode: how long a unit of work waits for a free connection.
    public var transactionPoolTimeout: TimeAmount = .seconds(30)
    /// Transaction mode: protocol-level statements kept prepared per backend connection.
    public var transactionPoolPreparedStatements = 100
    /// Transaction mode: pin a client that uses one-session features (else refuse them).
    public var transactionPoolPinning = true

    /// The pool mode of `user` connecting to `database`.
    public func poolMode(user: String, database: String) -> PoolMode {
        poolModeRules.mode(user: user, database: database, fallback: poolMode)
    }

    /// A warning for the operator when some clients use transaction mode and
    /// `transaction_pool_size` is below the number of event loops: busy loops then take turns with
    /// a node's connections, and each turn closes a connection on one loop and opens one on another.
    public func transactionPoolSizeWarning(eventLoops: Int) -> String? {
        let transactionMode = poolMode == .transaction || poolModeRules.rules.contains { $0.value == .transaction }
        guard transactionMode, eventLoops > transactionPoolSize else { return nil }
        return "transaction_pool_size = \(transactionPoolSize) is below the number of event loops (\(eventLoops)): "
            + "event loops whose clients are busy at once take turns with a node's connections, and each turn "
            + "closes a backend connection and opens another (clients wait up to a second more); "
            + "raise transaction_pool_size or lower num_event_loops"
    }

    public init() {}

    /// The settings after a reload: reloadable values from `new`, restart-only ones (listeners,
    /// slot counts, pool shape, timeouts fixed at start) kept from `self`, as Pgpool-II does.
    public func reloaded(with new: ProxySettings) -> ProxySettings {
        var merged = new
        merged.listenAddresses = listenAddresses
        merged.port = port
        merged.socketDirectory = socketDirectory
        merged.numInitChildren = numInitChildren
        merged.reservedConnections = reservedConnections
        merged.listenBacklogMultiplier = listenBacklogMultiplier
        merged.maxPool = maxPool
        merged.connectionCache = connectionCache
        merged.connectionLifeTime = connectionLifeTime
        merged.authenticationTimeout = authenticationTimeout
        merged.maxMessageLength = maxMessageLength
        merged.backendConnectTimeout = backendConnectTimeout
        return merged
    }

    /// Idle connections each of `loops` event loops may cache.
    public func cacheCapacity(perLoopOf loops: Int) -> Int {
        guard connectionCache else { return 0 }
        let total = numInitChildren * maxPool
        return (total + loops - 1) / max(1, loops)
    }
}
