import Cluster
import Logging
import NIOCore
import Routing

/// The backend connections of one event loop: a cache of idle, reset connections keyed by
/// node, user, database and startup parameters (session mode), and the connections
/// transaction-mode sessions share. Used only on its event loop.
final class BackendPool {
    let eventLoop: EventLoop
    /// Transaction mode's connections (with places of `transaction_pool_size` shared by all loops).
    let transactions: TransactionPool
    /// Transaction mode: SwiftPool's names for protocol-level statements on this loop's connections.
    var statementNames = StatementRegistry()
    /// Transaction mode: what logins learnt from their leases, to answer the next ones without.
    var loginFacts = LoginFactsCache()
    /// The classifications of Parse texts and simple-query templates this loop's sessions sent
    /// recently.
    let classifications = ClassificationCache()
    /// This loop's place among the loops (for the places of `transaction_pool_size` and its
    /// share of `transaction_pool_size_list`).
    let loopIndex: Int
    let loopCount: Int
    private var cache: IdleConnectionCache<BackendConnection>
    /// The pool keys of this loop's sessions, one copy per startup packet (see ``internedKey(_:)``).
    private var internedKeys: Set<PoolKey> = []
    /// The nodes as leases address them, while the cluster's generation holds (see
    /// ``backendNode(_:in:)``); by node id, which is small, so an array rather than a dictionary
    /// that hashes at every lease.
    private var backendNodes: [BackendNode?] = []
    private var backendNodesGeneration = -1
    private let connector: BackendConnector
    private let cachingEnabled: Bool
    private var sweeper: Scheduled<Void>?
    private let logger: Logger

    /// Runs on `eventLoop`: the transaction pool registers with `transactionPlaces` there.
    init(eventLoop: EventLoop, connector: BackendConnector, capacity: Int, lifeTime: TimeAmount,
         cachingEnabled: Bool,
         transactionPlaces: TransactionPoolPlaces = TransactionPoolPlaces(capacity: 20, statistics: TransactionPoolStatistics()),
         loopIndex: Int = 0, loopCount: Int = 1,
         logger: Logger) {
        self.eventLoop = eventLoop
        self.loopIndex = loopIndex
        self.loopCount = loopCount
        self.transactions = TransactionPool(
            eventLoop: eventLoop, connector: connector, places: transactionPlaces, loopIndex: loopIndex,
            lifeTime: lifeTime, logger: logger)
        transactionPlaces.register(NIOLoopBound(transactions, eventLoop: eventLoop), loop: loopIndex, on: eventLoop)
        self.connector = connector
        self.cache = IdleConnectionCache(capacity: capacity, lifeTime: lifeTime)
        self.cachingEnabled = cachingEnabled
        self.logger = logger
    }

    /// The loop's copy of `key`: sessions with the same startup packet share one, so that the
    /// pool compares their keys (at every hand-over in transaction mode) without reading the
    /// bytes. Forgotten wholesale past 4,096 packets; keys still compare by content.
    func internedKey(_ key: PoolKey) -> PoolKey {
        if internedKeys.count >= 4096 { internedKeys.removeAll() }
        return internedKeys.insert(key).memberAfterInsert
    }

    /// Node `id`'s address, from the cluster's snapshot taken again only when its generation
    /// moved: a snapshot takes a lock every loop shares, and a lease comes with every unit of work.
    func backendNode(_ id: Int, in cluster: ClusterState) -> BackendNode? {
        let generation = cluster.generation
        if generation != backendNodesGeneration {
            // A change between the two reads only makes the next call read again.
            var nodes: [BackendNode?] = []
            for node in cluster.snapshot.nodes where node.id >= 0 {
                if node.id >= nodes.count { nodes.append(contentsOf: repeatElement(nil, count: node.id - nodes.count + 1)) }
                if nodes[node.id] == nil { nodes[node.id] = BackendNode(id: node.id, host: node.host, port: node.port) }
            }
            backendNodes = nodes
            backendNodesGeneration = generation
        }
        return backendNodes.indices.contains(id) ? backendNodes[id] : nil
    }

    /// Starts the periodic retirement of connections idle past `connection_life_time` (the
    /// session-mode cache's and the transaction pool's) and the transaction pool's balancing.
    func start() {
        sweeper = eventLoop.assumeIsolated().scheduleTask(in: .seconds(1)) { [self] in
            let now = NIODeadline.now()
            cache.expire(now: now).forEach { retire($0) }
            transactions.sweep(now: now)
            start()
        }
    }

    /// A cached connection for `key`, or a new one.
    /// `clientPassword` is the clear-text password a client gave under
    /// `allow_clear_text_frontend_auth`; a cached connection is only handed out to a client that
    /// gave the same password as the one it was opened with.
    func lease(_ node: BackendNode, key: PoolKey, clientPassword: String? = nil,
               completion: @escaping (Result<(BackendConnection, reused: Bool), BackendConnectError>) -> Void) {
        let (cached, expired) = cache.checkout(key, now: .now())
        expired.forEach { retire($0) }
        if let cached, !ClientPassword.same(cached.clientPassword, clientPassword) {
            retire(cached)
        } else if let cached {
            cached.onClose = nil
            completion(.success((cached, true)))
            return
        }
        connector.connect(to: node, key: key, clientPassword: clientPassword, on: eventLoop) { result in
            completion(result.map { connection in
                connection.clientPassword = clientPassword
                return (connection, false)
            })
        }
    }

    /// Takes back a connection whose client left and which has been reset (once no cancel
    /// request for it is in flight).
    func giveBack(_ connection: BackendConnection) {
        guard !connection.isClosed else { return }
        guard connection.cancelsInFlight == 0 else {
            return connection.whenNoCancelInFlight { [self] in giveBack(connection) }
        }
        guard cachingEnabled, !connection.key.isNeverCached else {
            retire(connection)
            return
        }
        connection.owner = nil
        connection.lastReleasedAt = .now()
        // The pool lives as long as its event loop; `self` is not weak (see BackendConnection.owner).
        connection.onClose = { [self, unowned connection] in
            cache.remove(connection, key: connection.key)
        }
        cache.checkin(connection, key: connection.key, now: connection.lastReleasedAt).forEach { retire($0) }
    }

    /// Idle connections per node.
    var idleCounts: [Int: Int] { cache.countsByNode() }

    /// Closes the idle connections to a node that went down.
    func closeAll(toNode nodeID: Int) {
        loginFacts.removeAll()
        cache.drain(node: nodeID).forEach { retire($0) }
        transactions.closeAll(toNode: nodeID)
    }

    /// Closes every idle connection (shutdown).
    func closeAll() {
        sweeper?.cancel()
        sweeper = nil
        cache.drain().forEach { retire($0) }
        transactions.closeAll()
    }

    /// The transaction-mode settings in effect, with the runtime's settings generation they came from.
    private(set) var transactionSettings: (generation: Int, timeout: TimeAmount, preparedStatements: Int)?

    /// Applies reloaded transaction-mode settings when `generation` is new; returns them.
    func transactionSettings(generation: Int, current: () -> ProxySettings) -> (timeout: TimeAmount, preparedStatements: Int) {
        if let cached = transactionSettings, cached.generation == generation {
            return (cached.timeout, cached.preparedStatements)
        }
        let settings = current()
        updateGroupLimits(settings.transactionPoolSizeRules)
        transactionSettings = (generation, settings.transactionPoolTimeout, settings.transactionPoolPreparedStatements)
        return (settings.transactionPoolTimeout, settings.transactionPoolPreparedStatements)
    }

    /// Applies `transaction_pool_size_list` as it is now: this loop's share of each limit
    /// (`transaction_pool_size` itself is shared by the loops; the runtime applies it at a reload).
    private func updateGroupLimits(_ rules: PoolSizeRules) {
        transactions.setGroupLimits(rules) { [loopIndex, loopCount] in TransactionPool.share(of: $0, loop: loopIndex, loops: loopCount) }
    }

    private func retire(_ connection: BackendConnection) {
        connection.onClose = nil
        connection.owner = nil
        logger.debug("closing backend connection", metadata: ["node": "\(connection.node.id)", "key": "\(connection.key)"])
        connection.terminate()
    }

    /// How the loop's classification cache has answered (for metrics).
    var classificationCounts: ProxySnapshot.Classifications {
        var counts = ProxySnapshot.Classifications()
        counts.parseHits = classifications.hits
        counts.parseMisses = classifications.misses
        counts.parseEntries = classifications.count
        counts.templateHits = classifications.templateHits
        counts.templateMisses = classifications.templateMisses
        counts.templateEntries = classifications.templateCount
        return counts
    }
}
