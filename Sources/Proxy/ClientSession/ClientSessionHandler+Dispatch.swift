import Cluster
import Logging
import NIOCore
import PostgresWire
import Routing

/// The forwarding phase: client messages go through the admin filter into the session's
/// ``DispatchMachine``; the handler performs what it returns (writes to node connections and to
/// the client, leases, cancel targets, counters, catalog waits).
extension ClientSessionHandler {
    /// Creates the session's dispatch machine once it is logged in: with read/write splitting
    /// when it is configured and more than one node is usable, else one whose every decision is
    /// the primary.
    func startDispatch() {
        guard let primary = primaryConnection?.node.id else { return }
        sessionFacts = SessionCatalogFacts(runtime.catalog.facts(for: startup?.database ?? ""))
        guard let configuration = runtime.routing else {
            dispatch = .primaryOnly(primary)
            return
        }
        let candidates = loadBalanceCandidates(primary: primary)
        guard candidates.contains(where: { $0.id != primary && $0.isUp }) else {
            dispatch = .primaryOnly(primary)
            return
        }
        var system = SystemRandomNumberGenerator()
        random = SplitMix64(seed: system.next())
        let node = configuration.selector.select(
            among: candidates, database: startup?.database ?? "", applicationName: startup?["application_name"],
            using: &random) ?? primary
        routingConfiguration = configuration
        dispatch = DispatchMachine(primary: primary, routing: RoutingSession(settings: configuration.settings, loadBalanceNode: node))
        logger.debug("load-balance node chosen", metadata: ["lb_node": "\(node)"])
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

    /// Client bytes in the forwarding phase.
    func forwardFromClient(_ bytes: ByteBuffer) {
        guard dispatch != nil else { return }
        if settings.clientIdleLimit > .zero { lastClientActivity = .now() }
        var bytes = bytes
        if splitter.isStreaming {
            if let piece = splitter.takeStreamed(from: &bytes) { passStreamed(piece) }
            guard bytes.readableBytes > 0, dispatch != nil else { return updateReading() }
        }
        var admin = false
        clientMessages.removeAll(keepingCapacity: true)
        let run: ByteBuffer?
        do {
            run = try splitter.feedRun(bytes) { type, message in
                if isAdminMessage(type, message) {
                    admin = true
                    return false
                }
                clientMessages.append(message())
                return true
            }
        } catch {
            return protocolViolation("\(error)")
        }
        var env = Environment(handler: self)
        dispatch!.clientMessages(clientMessages, run: run, &env, facts: sessionFacts!, into: &actions)
        perform()
        if admin, dispatch != nil {
            dispatch!.flushBeforeLocalAnswer(&env, facts: sessionFacts!, into: &actions)
            perform()
            beginAdminAnswer()
        } else if dispatch != nil {
            startLargeMessage()
        }
        updateReading()
    }

    /// Starts streaming the large message at the front of the buffered bytes, once enough of
    /// it is there to see the names a Bind carries.
    private func startLargeMessage() {
        do {
            guard streamNodes == nil, let ahead = try splitter.largeMessageAhead(), ahead.buffered >= 1024,
                  let head = try splitter.beginStreaming() else { return }
            var env = Environment(handler: self)
            dispatch!.largeMessage(RawMessage(type: ahead.type, bytes: head), &env, facts: sessionFacts!, into: &actions)
            perform()
        } catch {
            protocolViolation("\(error)")
        }
    }

    /// Bytes of the message being streamed: to its nodes, or kept until its head is sent.
    private func passStreamed(_ piece: ByteBuffer) {
        guard let nodes = streamNodes else {
            if streamBacklog == nil {
                streamBacklog = piece
            } else {
                var piece = piece
                streamBacklog!.writeBuffer(&piece)
            }
            return
        }
        for node in nodes {
            guard let connection = connection(for: node) else { continue }
            sessions.traffic.toBackends &+= piece.readableBytes
            connection.channel.writeAndFlush(piece, promise: nil)
        }
        if !splitter.isStreaming {
            streamNodes = nil
            var env = Environment(handler: self)
            dispatch!.streamEnded(&env, into: &actions)
            perform()
        }
    }

    /// Performs (and clears) the actions the dispatch machine returned.
    func perform() {
        var leases: [Int] = []
        var factsToAwait: [CatalogFactsCache.Key]?
        var streamTo: [Int]?
        var terminate = false
        var wroteClient = false
        touched.removeAll(keepingCapacity: true)
        for action in actions {
            switch action {
            case .write(let node, let bytes, let type):
                guard let connection = connection(for: node) else { continue }
                connection.noteSent(type)
                sessions.traffic.toBackends &+= bytes.readableBytes
                connection.channel.write(bytes, promise: nil)
                if !touched.contains(where: { $0 === connection }) { touched.append(connection) }
            case .track(let node, let type):
                connection(for: node)?.noteSent(type)
            case .writeRun(let node, let bytes):
                guard let connection = connection(for: node) else { continue }
                sessions.traffic.toBackends &+= bytes.readableBytes
                connection.channel.write(bytes, promise: nil)
                if !touched.contains(where: { $0 === connection }) { touched.append(connection) }
            case .writeClient(let bytes):
                sessions.traffic.toClients &+= bytes.readableBytes
                context.write(wrapOutboundOut(bytes), promise: nil)
                wroteClient = true
            case .lease(let node):
                leases.append(node)
            case .setCancelTarget(let node):
                if let output = connection(for: node), let clientKey {
                    runtime.cancelRegistry.setTarget(.init(node: output.node, backendKey: output.backendKey), for: clientKey)
                }
            case .count(let node, let category):
                connection(for: node)?.counters?.count(category)
            case .waitForFacts(let keys):
                factsToAwait = keys
            case .terminate:
                terminate = true
            case .streamTo(let nodes):
                streamTo = nodes
            }
        }
        actions.removeAll(keepingCapacity: true)
        for connection in touched { connection.channel.flush() }
        touched.removeAll(keepingCapacity: true)
        if wroteClient { context.flush() }
        if terminate {
            end(reason: "client terminated")
            context.close(promise: nil)
            return
        }
        if let keys = factsToAwait { waitForFacts(keys) }
        for node in leases { leaseStandby(node) }
        if let nodes = streamTo {
            streamNodes = nodes
            if let backlog = streamBacklog {
                streamBacklog = nil
                passStreamed(backlog)
            }
            updateReading()
        }
    }

    /// Routes the held statement again once the look-ups of `keys` are over, or
    /// `catalogLookupWait` has passed.
    private func waitForFacts(_ keys: [CatalogFactsCache.Key]) {
        factsWaitID &+= 1
        let id = factsWaitID
        logger.debug("waiting for catalog facts before routing", metadata: ["facts": "\(keys.map(\.name))"])
        factsTimer = context.eventLoop.assumeIsolated().scheduleTask(in: settings.catalogLookupWait) { [self] in
            factsSettled(id)
        }
        let loop = NIOLoopBound(self, eventLoop: context.eventLoop)
        sessionFacts?.whenSettled(keys) {
            loop.eventLoop.execute { loop.value.factsSettled(id) }
        }
    }

    private func factsSettled(_ id: Int) {
        guard id == factsWaitID, case .forwarding = phase, dispatch != nil else { return }
        factsTimer?.cancel()
        factsTimer = nil
        var env = Environment(handler: self)
        dispatch!.factsSettled(&env, facts: sessionFacts!, into: &actions)
        perform()
        if answeringLocally { continueAdminAnswer() }
    }

    /// Output of a node connection in the forwarding phase.
    func dispatchOutput(_ connection: BackendConnection, _ bytes: ByteBuffer) {
        guard dispatch != nil else { return }
        switch dispatch!.backendOutput(connection.node.id, bytes) {
        case .forward:
            sessions.traffic.toClients &+= bytes.readableBytes
            context.write(wrapOutboundOut(bytes), promise: nil)
        case .held:
            if dispatch!.heldOutputBytes > DispatchMachine.heldBytesLimit { updateReading() }
        case .dropped:
            break
        }
    }

    func dispatchReady(_ connection: BackendConnection, status: TransactionStatus, failed: Bool) {
        guard dispatch != nil else { return }
        var env = Environment(handler: self)
        dispatch!.backendReady(connection.node.id, status: status, failed: failed, &env, facts: sessionFacts!, into: &actions)
        perform()
    }

    func connection(for node: Int) -> BackendConnection? {
        if let primaryConnection, primaryConnection.node.id == node { return primaryConnection }
        return standbyConnections[node]
    }

    /// Every connection of the session: the primary first.
    var allConnections: [BackendConnection] {
        (primaryConnection.map { [$0] } ?? []) + standbyConnections.values
    }

    private func leaseStandby(_ id: Int) {
        guard let startup, let info = runtime.cluster.snapshot.nodes.first(where: { $0.id == id }) else {
            return standbyUnavailable(id)
        }
        let node = BackendNode(id: info.id, host: info.host, port: info.port)
        pool.lease(node, key: PoolKey(nodeID: id, startup: startup)) { [self] result in
            guard case .forwarding = phase, dispatch != nil else {
                if case .success(let (connection, _)) = result { pool.giveBack(connection) }
                return
            }
            switch result {
            case .success(let (connection, reused)):
                if !reused { runtime.cluster.markUsed(id) }
                connection.owner = self
                connection.counters = runtime.statistics.counters(for: id)
                standbyConnections[id] = connection
                updateReading()
                var env = Environment(handler: self)
                dispatch!.leased(id, &env, into: &actions)
                perform()
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
    private func standbyUnavailable(_ id: Int) {
        guard dispatch != nil else { return }
        unusableNodes.insert(id)
        candidatesGeneration = -1
        var env = Environment(handler: self)
        dispatch!.nodeUnavailable(id, &env, into: &actions)
        perform()
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

    /// The dispatch machine's view of this session's connections and of the cluster.
    struct Environment: DispatchEnvironment {
        let handler: ClientSessionHandler

        func isConnected(_ node: Int) -> Bool { handler.connection(for: node) != nil }
        func isQuiescent(_ node: Int) -> Bool { handler.connection(for: node)?.tracker.isQuiescent ?? true }
        func isAtMessageBoundary(_ node: Int) -> Bool { handler.connection(for: node)?.isAtMessageBoundary ?? true }

        mutating func routingNodes() -> RoutingNodes {
            guard let primary = handler.primaryConnection?.node.id else { return RoutingNodes(primary: 0, readable: []) }
            _ = handler.loadBalanceCandidates(primary: primary)
            return RoutingNodes(primary: primary, readable: handler.routingReadable)
        }

        mutating func pick() -> Int? {
            guard let primary = handler.primaryConnection?.node.id, let selector = handler.routingConfiguration?.selector else { return nil }
            let candidates = handler.loadBalanceCandidates(primary: primary)
            return selector.select(among: candidates, database: handler.startup?.database ?? "",
                                   applicationName: handler.startup?["application_name"], using: &handler.random)
        }

        mutating func leastDelayed() -> Int? {
            guard let primary = handler.primaryConnection?.node.id else { return nil }
            return handler.leastDelayedStandby(primary: primary)
        }
    }
}
