/// What the sessions and pools of every event loop look like right now (for metrics and the
/// admin API). Gathered on each loop, so nothing on the data path takes a lock for it.
public struct ProxySnapshot: Sendable {
    /// One client session.
    public struct Session: Sendable, Equatable, Codable {
        public var id: UInt64
        public var user: String
        public var database: String
        public var applicationName: String
        public var clientAddress: String
        /// `starting`, `active`, `idle`, `idle in transaction`, `idle in transaction (aborted)`.
        public var state: String
        /// Seconds since 1970 when the client connected.
        public var since: Double
        /// Nodes the session holds connections to (the primary first).
        public var backendNodes: [Int]
        /// `session` or `transaction` (pool_mode, pool_mode_list).
        public var poolMode: String
        /// Transaction mode: why the client keeps its backend connection (PinReason raw values,
        /// sorted); empty when it is not pinned.
        public var pinned: [String]
        /// Transaction mode: the client's protocol-level named prepared statements.
        public var preparedStatements: Int

        public init(id: UInt64, user: String, database: String, applicationName: String, clientAddress: String,
                    state: String, since: Double, backendNodes: [Int], poolMode: String = "session",
                    pinned: [String] = [], preparedStatements: Int = 0) {
            self.poolMode = poolMode
            self.pinned = pinned
            self.preparedStatements = preparedStatements
            self.id = id
            self.user = user
            self.database = database
            self.applicationName = applicationName
            self.clientAddress = clientAddress
            self.state = state
            self.since = since
            self.backendNodes = backendNodes
        }
    }

    /// Bytes through SwiftPool since start-up.
    public struct Traffic: Sendable, Equatable {
        public var fromClients = 0
        public var toClients = 0
        public var fromBackends = 0
        public var toBackends = 0

        static func + (a: Traffic, b: Traffic) -> Traffic {
            Traffic(fromClients: a.fromClients + b.fromClients, toClients: a.toClients + b.toClients,
                    fromBackends: a.fromBackends + b.fromBackends, toBackends: a.toBackends + b.toBackends)
        }
    }

    /// The transaction-mode pool of one node, summed over the event loops.
    public struct TransactionPoolNode: Sendable, Equatable {
        /// Connections open (lent, idle or being opened).
        public var open = 0
        public var idle = 0
        /// Transaction-mode sessions waiting for a connection.
        public var waiting = 0

        public init(open: Int = 0, idle: Int = 0, waiting: Int = 0) {
            self.open = open
            self.idle = idle
            self.waiting = waiting
        }
    }

    /// Look-ups of the event loops' classification caches: Parse texts (matched whole) and simple
    /// queries (matched by template), answered from the cache (hits) or classified (misses).
    public struct Classifications: Sendable, Equatable {
        public var parseHits = 0
        public var parseMisses = 0
        public var parseEntries = 0
        public var templateHits = 0
        public var templateMisses = 0
        public var templateEntries = 0

        public init() {}

        static func + (lhs: Classifications, rhs: Classifications) -> Classifications {
            var sum = lhs
            sum.parseHits += rhs.parseHits
            sum.parseMisses += rhs.parseMisses
            sum.parseEntries += rhs.parseEntries
            sum.templateHits += rhs.templateHits
            sum.templateMisses += rhs.templateMisses
            sum.templateEntries += rhs.templateEntries
            return sum
        }
    }

    public var sessions: [Session] = []
    /// Idle pooled connections per node, in the session-mode cache and the transaction pool.
    public var idleConnections: [Int: Int] = [:]
    /// The transaction pool per node.
    public var transactionPool: [Int: TransactionPoolNode] = [:]
    /// Protocol-level statements SwiftPool keeps prepared on transaction-mode connections.
    public var preparedStatementsCached = 0
    /// The event loops' classification caches, summed.
    public var classifications = Classifications()
    public var traffic = Traffic()

    public init() {}

    /// Connections leased by sessions, per node.
    public var connectionsInUse: [Int: Int] {
        var counts: [Int: Int] = [:]
        for session in sessions { for node in session.backendNodes { counts[node, default: 0] += 1 } }
        return counts
    }
}
