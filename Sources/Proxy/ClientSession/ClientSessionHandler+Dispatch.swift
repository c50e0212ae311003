import Cluster
import Logging
import NIOCore
import PostgresWire
import Routing

/// The I/O of forwarding: the session's dispatch machine at login, standby leases, catalog
/// waits, and the view of the connections and the cluster that the machines decide on.
extension ClientSessionHandler {
    /// The session's dispatch machine: with read/write splitting when it is configured and more
    /// than one node is usable, else one whose every decision is the primary.
    func makeDispatch(primary: Int) -> DispatchMachine {
        sessionFacts = SessionCatalogFacts(runtime.catalog.facts(for: startup?.database ?? ""))
        var primaryOnly = DispatchMachine.primaryOnly(primary, transactionPooling: transactionMode)
        primaryOnly.pinningAllowed = settings.transactionPoolPinning
        guard let configuration = runtime.routing else { return primaryOnly }
        let candidates = loadBalanceCandidates(primary: primary)
        guard candidates.contains(where: { $0.id != primary && $0.isUp }) else { return primaryOnly }
        var system = SystemRandomNumberGenerator()
        random = SplitMix64(seed: system.next())
        let node = configuration.selector.select(
            among: candidates, database: startup?.database ?? "", applicationName: startup?["application_name"],
            using: &random) ?? primary
        routingConfiguration = configuration
        logger.debug("load-balance node chosen", metadata: ["lb_node": "\(node)"])
        var dispatch = DispatchMachine(primary: primary, routing: RoutingSession(settings: configuration.settings, loadBalanceNode: node),
                                       transactionPooling: transactionMode)
        dispatch.pinningAllowed = settings.transactionPoolPinning
        return dispatch
    }

    /// The nodes as load-balance candidates; recomputed only when the cluster state changed or
    /// a node became unusable for this session.
    func loadBalanceCandidates(primary: Int) -> [LoadBalanceSelector.Candidate] {
        let generation = runtime.cluster.generation
        if generation != candidatesGeneration {
            routingCandidates = runtime.cluster.snapshot.nodes.map {
                .init(id: $0.id, weight: $0.weight, isUp: $0.isReadable && !unusableNodes.contains($0.id),
                      isPrimary: $0.id == primary)
            }
            routingReadable = routingCandidates.filter { $0.isUp && $0.weight > 0 }.map(\.id)
            candidatesGeneration = generation
        }
        return routingCandidates
    }

    /// Keeps the session off `node` from now on.
    func markUnusable(_ node: Int) {
        unusableNodes.insert(node)
        candidatesGeneration = -1
    }

    /// Reports ``ClientSessionMachine/factsSettled(_:_:into:)`` once the look-ups of `keys` are
    /// over (the machine started the timer that bounds the wait).
    func awaitFacts(_ keys: [CatalogFactsCache.Key], id: Int) {
        guard let context else { return }
        logger.debug("waiting for catalog facts before routing", metadata: ["facts": "\(keys.map(\.name))"])
        let loop = NIOLoopBound(self, eventLoop: context.eventLoop)
        sessionFacts?.whenSettled(keys) {
            loop.eventLoop.execute {
                loop.value.run { machine, env, actions in machine.factsSettled(id, &env, into: &actions) }
            }
        }
    }

    func leaseStandby(_ id: Int) {
        guard let startupKey, let node = pool.backendNode(id, in: runtime.cluster) else {
            return standbyUnavailable(id)
        }
        pool.lease(node, key: startupKey.onNode(id)) { [self] result in
            guard machine.isForwarding, machine.dispatch != nil else {
                if case .success(let (connection, _)) = result { pool.giveBack(connection) }
                return
            }
            switch result {
            case .success(let (connection, reused)):
                if !reused { runtime.cluster.markUsed(id) }
                connection.owner = self
                connection.counters = runtime.statistics.counters(for: id)
                standbyConnections[id] = connection
                run { machine, env, actions in machine.leased(id, &env, into: &actions) }
            case .failure(let error):
                logger.warning("load-balance node unavailable; reads go to the primary", metadata: ["node": "\(id)", "error": "\(error)"])
                switch error {
                case .unreachable, .timedOut: runtime.backendLost(id, false)
                default: break
                }
                standbyUnavailable(id)
            }
        }
    }

    /// Reroutes everything that waited for `id` and keeps the session off it.
    func standbyUnavailable(_ id: Int) {
        markUnusable(id)
        run { machine, env, actions in machine.nodeUnavailable(id, &env, into: &actions) }
    }

    /// prefer_lower_delay_standby: the readable standby with the least replication delay (in
    /// bytes of WAL) right now.
    func leastDelayedStandby(primary: Int) -> Int? {
        let nodes = runtime.cluster.snapshot.nodes
        let candidates = nodes.map {
            LoadBalanceSelector.Candidate(id: $0.id, weight: $0.weight, isUp: $0.isReadable && !unusableNodes.contains($0.id),
                                          isPrimary: $0.id == primary)
        }
        return routingConfiguration?.selector.leastDelayed(
            among: candidates, delay: { id in nodes.first { $0.id == id }?.replication.delayBytes.map(Double.init) },
            using: &random)
    }

    /// The machines' view of this session's connections and of the cluster. Never reads the
    /// handler's machine: it is passed while the machine handles an event.
    struct Environment: SessionEnvironment {
        let handler: ClientSessionHandler

        /// Set with the dispatch machine; the machine asks only while it has one.
        var facts: SessionCatalogFacts { handler.sessionFacts! }
        var allQuiescent: Bool { handler.firstConnection(where: { !$0.tracker.isQuiescent }) == nil }
        var holdsConnections: Bool { handler.primaryConnection != nil || !handler.standbyConnections.isEmpty }
        var allOutsideTransaction: Bool {
            handler.firstConnection(where: { $0.tracker.transactionStatus != .idle || !$0.isAtMessageBoundary }) == nil
        }
        var copyingIn: TransactionStatus? { handler.copyingIn }
        func isConnected(_ node: Int) -> Bool { handler.connection(for: node) != nil }
        func isQuiescent(_ node: Int) -> Bool { handler.connection(for: node)?.tracker.isQuiescent ?? true }
        func isAtMessageBoundary(_ node: Int) -> Bool { handler.connection(for: node)?.isAtMessageBoundary ?? true }

        mutating func routingNodes() -> RoutingNodes {
            guard let primary = handler.primaryNodeID else { return RoutingNodes(primary: 0, readable: []) }
            _ = handler.loadBalanceCandidates(primary: primary)
            return RoutingNodes(primary: primary, readable: handler.routingReadable)
        }

        mutating func pick() -> Int? {
            guard let primary = handler.primaryNodeID, let selector = handler.routingConfiguration?.selector else { return nil }
            let candidates = handler.loadBalanceCandidates(primary: primary)
            return selector.select(among: candidates, database: handler.startup?.database ?? "",
                                   applicationName: handler.startup?["application_name"], using: &handler.random)
        }

        func currentWALSample() -> Int { handler.runtime.walPositions.currentSample }
        mutating func classification(ofParsed text: String) -> QueryClassification {
            handler.pool.classifications.classify(text)
        }
        mutating func classification(ofQuery text: String) -> QueryClassification {
            handler.pool.classifications.classify(query: text)
        }
        func standbys(caughtUpAfter sample: Int) -> Set<Int> { handler.runtime.walPositions.standbys(caughtUpAfter: sample) }
        func standbys(replayedAtLeast position: UInt64) -> Set<Int> {
            handler.runtime.walPositions.standbys(replayedAtLeast: position)
        }

        mutating func leastDelayed() -> Int? {
            guard let primary = handler.primaryNodeID else { return nil }
            return handler.leastDelayedStandby(primary: primary)
        }
    }
}
