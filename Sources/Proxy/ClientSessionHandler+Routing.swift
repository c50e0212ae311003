import Cluster
import Logging
import NIOCore
import PostgresWire
import Routing

/// Read/write splitting of a session: each simple query, and each extended-protocol batch (the
/// messages up to a Sync), is classified and sent to the primary, the session's load-balance
/// node, or both (see ClientSessionHandler+Extended.swift for the batches).
extension ClientSessionHandler {
    /// A client message and where it goes, waiting until the nodes it needs are free.
    struct PendingMessage {
        var message: RawMessage
        var decision: RouteDecision
        /// The routed statements this message completes at its ReadyForQuery (a Query, or the
        /// Sync of an extended batch).
        var completes: [(query: QueryClassification, routed: RoutedQuery)]? = nil
        /// SwiftPool's own message (a Parse or Close the client did not send): its answers are
        /// dropped, up to and including its ReadyForQuery.
        var swallowed = false

        init(message: RawMessage, decision: RouteDecision,
             completes: [(query: QueryClassification, routed: RoutedQuery)]? = nil, swallowed: Bool = false) {
            self.message = message
            self.decision = decision
            self.completes = completes
            self.swallowed = swallowed
        }
    }

    /// Sets up routing for a session that just logged in, when it is configured and there is
    /// more than one usable node.
    func startRouting() {
        guard let configuration = runtime.routing, let primary = backend?.node.id else { return }
        let candidates = loadBalanceCandidates(primary: primary)
        guard candidates.contains(where: { $0.id != primary && $0.isUp }) else { return }
        var system = SystemRandomNumberGenerator()
        random = SplitMix64(seed: system.next())
        let node = configuration.selector.select(
            among: candidates, database: startup?.database ?? "", applicationName: startup?["application_name"],
            using: &random) ?? primary
        sessionFacts = SessionCatalogFacts(runtime.catalog.facts(for: startup?.database ?? ""))
        routingConfiguration = configuration
        routing = RoutingSession(settings: configuration.settings, loadBalanceNode: node)
        currentRoute = .primary
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

    /// The routed counterpart of `forwardFromClient`.
    func routeFromClient(_ bytes: ByteBuffer) {
        var messages: [RawMessage] = []
        var admin = false
        do {
            _ = try splitter.feedRun(bytes) { type, message in
                if isAdminMessage(type, message) {
                    admin = true
                    return false
                }
                messages.append(message())
                return true
            }
        } catch {
            return protocolViolation("\(error)")
        }
        for message in messages { enqueue(message) }
        if admin {
            if !extendedBatch.isEmpty { routeExtendedBatch() }
            dispatchWaiting()
            return beginAdminAnswer()
        }
        if let flush = extendedBatch.last?.type, flush == FrontendMessageType.flush {
            // The client waits for answers before it sends a Sync: the batch goes out as it is.
            routeExtendedBatch()
        }
        dispatchWaiting()
    }

    private func enqueue(_ message: RawMessage) {
        guard let primary = backend?.node.id else { return }
        if heldForFacts != nil { return heldForFacts!.append(message) }
        switch message.type {
        case FrontendMessageType.query:
            if !extendedBatch.isEmpty {
                routeExtendedBatch()
                if heldForFacts != nil { return heldForFacts!.append(message) }
            }
            var body = message.body
            let text = body.readString(length: max(0, body.readableBytes - 1)) ?? ""
            let (query, routed) = route(text, primary: primary)
            if let misses = factsToWaitFor(routed) { return waitForFacts(misses, holding: [message]) }
            if !factsAwaited.isEmpty { factsAwaited.removeAll() }
            forgetDeallocatedStatements(query)
            waiting.append(PendingMessage(message: message, decision: routed.decision, completes: [(query, routed)]))
        case FrontendMessageType.copyData, FrontendMessageType.copyDone, FrontendMessageType.copyFail:
            waiting.append(PendingMessage(message: message, decision: waiting.last?.decision ?? currentRoute))
        case FrontendMessageType.terminate:
            if !extendedBatch.isEmpty {
                routeExtendedBatch()
                if heldForFacts != nil { return heldForFacts!.append(message) }
            }
            waiting.append(PendingMessage(message: message, decision: currentRoute))
        case FrontendMessageType.functionCall:
            if !extendedBatch.isEmpty {
                routeExtendedBatch()
                if heldForFacts != nil { return heldForFacts!.append(message) }
            }
            waiting.append(PendingMessage(message: message, decision: .primary, completes: []))
        default:
            extendedBatch.append(message)
            if message.type == FrontendMessageType.sync { routeExtendedBatch() }
        }
    }

    /// Classifies `text` and applies the session's routing policy to it.
    func route(_ text: String, primary: Int) -> (QueryClassification, RoutedQuery) {
        let query = SQLClassifier.classify(query: text)
        let candidates = loadBalanceCandidates(primary: primary)
        let routed = routing!.route(
            query, text: text, nodes: RoutingNodes(primary: primary, readable: routingReadable),
            facts: sessionFacts!,
            pick: { [self] in
                routingConfiguration?.selector.select(
                    among: candidates, database: startup?.database ?? "", applicationName: startup?["application_name"],
                    using: &random)
            },
            leastDelayed: { [self] in leastDelayedStandby(primary: primary) })
        return (query, routed)
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

    // MARK: Catalog facts before routing

    /// The catalog facts `routed` went to the primary for, when the session should wait for
    /// their look-ups instead (the first time a name is seen); nil to send it as decided.
    func factsToWaitFor(_ routed: RoutedQuery) -> [CatalogFactsCache.Key]? {
        guard let facts = sessionFacts else { return nil }
        let misses = facts.takeMisses()
        guard routed.reason == .unknownFacts else { return nil }
        // A statement may need several facts, learned one after the other (a relation, then
        // a function); it waits once for each.
        let fresh = misses.filter { !factsAwaited.contains($0) }
        return fresh.isEmpty ? nil : fresh
    }

    /// Holds `messages` (and everything after them) until the look-ups of `misses` are over, or
    /// `catalogLookupWait` has passed; then routes them again.
    func waitForFacts(_ misses: [CatalogFactsCache.Key], holding messages: [RawMessage]) {
        heldForFacts = messages
        factsAwaited.formUnion(misses)
        factsWaitID &+= 1
        let id = factsWaitID
        logger.debug("waiting for catalog facts before routing", metadata: ["facts": "\(misses.map(\.name))"])
        factsTimer = context.eventLoop.assumeIsolated().scheduleTask(in: settings.catalogLookupWait) { [self] in
            factsSettled(id)
        }
        let loop = NIOLoopBound(self, eventLoop: context.eventLoop)
        sessionFacts?.whenSettled(misses) {
            loop.eventLoop.execute { loop.value.factsSettled(id) }
        }
    }

    /// The look-ups a held statement waited for are over (or took too long): route what was held.
    func factsSettled(_ id: Int) {
        guard id == factsWaitID, let held = heldForFacts, case .forwarding = phase else { return }
        factsTimer?.cancel()
        factsTimer = nil
        heldForFacts = nil
        for message in held { enqueue(message) }
        if heldForFacts == nil, let flush = extendedBatch.last?.type, flush == FrontendMessageType.flush {
            routeExtendedBatch()
        }
        dispatchWaiting()
        if answeringLocally { continueAdminAnswer() }
    }

    /// Sends waiting messages in order, switching nodes only when every node of the previous
    /// route has answered everything it was sent.
    func dispatchWaiting() {
        guard let primary = backend else { return }
        var touched: [BackendConnection] = []
        defer { for connection in touched { connection.channel.flush() } }
        while let next = waiting.first {
            if next.message.type == FrontendMessageType.terminate {
                waiting.removeAll()
                end(reason: "client terminated")
                context.close(promise: nil)
                return
            }
            let targets = Self.nodes(of: next.decision, primary: primary.node.id)
            let missing = targets.filter { connection(for: $0) == nil }
            guard missing.isEmpty else {
                for node in missing where !leasingNodes.contains(node) { leaseStandby(node) }
                return
            }
            if next.decision != currentRoute {
                let busy = Self.nodes(of: currentRoute, primary: primary.node.id).contains {
                    !(connection(for: $0)?.tracker.isQuiescent ?? true)
                }
                guard !busy else { return }
                currentRoute = next.decision
                if let output = connection(for: Self.outputNode(of: currentRoute, primary: primary.node.id)), let clientKey {
                    runtime.cancelRegistry.setTarget(.init(node: output.node, backendKey: output.backendKey), for: clientKey)
                }
            }
            // Answers of SwiftPool's own messages must not mix with the client's.
            guard !targets.contains(where: { (swallowing[$0] ?? 0) > 0 }) else { return }
            waiting.removeFirst()
            let plainBegin = next.completes?.contains { $0.routed.plainBeginForStandbys } ?? false
            for node in targets {
                guard let connection = connection(for: node) else { continue }
                var bytes = next.message.bytes
                if node != primary.node.id, plainBegin, next.message.type == FrontendMessageType.query {
                    bytes = ByteBuffer()
                    FrontendMessageEncoder.query("BEGIN", into: &bytes)
                }
                connection.noteSent(next.message.type)
                sessions.traffic.toBackends &+= bytes.readableBytes
                connection.channel.write(bytes, promise: nil)
                if next.swallowed, next.message.type == FrontendMessageType.sync { swallowing[node, default: 0] += 1 }
                if !touched.contains(where: { $0 === connection }) { touched.append(connection) }
            }
            if let completes = next.completes, !next.swallowed {
                routedQueries.append((completes, Self.outputNode(of: next.decision, primary: primary.node.id)))
                for (query, _) in completes {
                    for statement in query.statements {
                        let category = Self.category(of: statement.kind)
                        for node in targets { connection(for: node)?.counters?.count(category) }
                    }
                }
            }
        }
    }

    /// Routed output: the route's output node reaches the client; the primary's asynchronous
    /// messages wait for a message boundary; other nodes' answers (BOTH) are dropped.
    func routedOutput(_ connection: BackendConnection, _ bytes: ByteBuffer) {
        guard let primary = backend else { return }
        if (swallowing[connection.node.id] ?? 0) > 0 { return }
        if connection.node.id == Self.outputNode(of: currentRoute, primary: primary.node.id) {
            sessions.traffic.toClients &+= bytes.readableBytes
            context.write(wrapOutboundOut(bytes), promise: nil)
        } else if connection === primary {
            var held = heldPrimaryOutput ?? context.channel.allocator.buffer(capacity: bytes.readableBytes)
            var bytes = bytes
            held.writeBuffer(&bytes)
            heldPrimaryOutput = held
        }
    }

    func routedReady(_ connection: BackendConnection, status: TransactionStatus, failed: Bool) {
        guard let primary = backend else { return }
        if let count = swallowing[connection.node.id], count > 0 {
            swallowing[connection.node.id] = count - 1
            if !waiting.isEmpty { dispatchWaiting() }
            return
        }
        let output = Self.outputNode(of: currentRoute, primary: primary.node.id)
        if connection.node.id == output, let head = routedQueries.first, head.output == output {
            routedQueries.removeFirst()
            for (query, routed) in head.statements {
                routing?.completed(query, routed: routed, succeeded: !failed, facts: sessionFacts!)
            }
            let state: Routing.TransactionState = switch status {
            case .idle: .idle
            case .inTransaction: .inTransaction
            case .failed: .failed
            }
            routing?.readyForQuery(state)
            // Unnamed and named portals end with the transaction.
            if status == .idle { portals.removeAll() }
        }
        if let held = heldPrimaryOutput, connection.node.id == output, connection.tracker.isQuiescent,
           primary.isAtMessageBoundary {
            heldPrimaryOutput = nil
            context.write(wrapOutboundOut(held), promise: nil)
        }
        if !waiting.isEmpty { dispatchWaiting() }
    }

    func connection(for node: Int) -> BackendConnection? {
        if let backend, backend.node.id == node { return backend }
        return standbys[node]
    }

    /// Every connection of the session: the primary first.
    var allConnections: [BackendConnection] {
        (backend.map { [$0] } ?? []) + standbys.values
    }

    private func leaseStandby(_ id: Int) {
        guard let startup, let info = runtime.cluster.snapshot.nodes.first(where: { $0.id == id }) else {
            return standbyUnavailable(id)
        }
        leasingNodes.insert(id)
        let node = BackendNode(id: info.id, host: info.host, port: info.port)
        pool.lease(node, key: PoolKey(nodeID: id, startup: startup)) { [self] result in
            leasingNodes.remove(id)
            guard case .forwarding = phase else {
                if case .success(let (connection, _)) = result { pool.giveBack(connection) }
                return
            }
            switch result {
            case .success(let (connection, reused)):
                if !reused { runtime.cluster.markUsed(id) }
                connection.owner = self
                connection.counters = runtime.statistics.counters(for: id)
                standbys[id] = connection
                connection.channel.setOption(ChannelOptions.autoRead, value: context.channel.isWritable).whenFailure { _ in }
                dispatchWaiting()
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
        guard let primary = backend?.node.id else { return }
        unusableNodes.insert(id)
        candidatesGeneration = -1
        if routing?.loadBalanceNode == id { routing?.replaceLoadBalanceNode(with: primary) }
        for index in waiting.indices {
            waiting[index].decision = Self.removing(id, from: waiting[index].decision, primary: primary)
        }
        dispatchWaiting()
    }

    static func removing(_ id: Int, from decision: RouteDecision, primary: Int) -> RouteDecision {
        switch decision {
        case .node(id): return .primary
        case .nodes(let list):
            let rest = list.filter { $0 != id }
            return rest.count <= 1 ? .primary : .nodes(rest)
        default: return decision
        }
    }

    /// The counter a statement is counted in.
    static func category(of kind: StatementKind) -> StatementCategory {
        switch kind {
        case .select: return .select
        case .insert: return .insert
        case .update: return .update
        case .delete: return .delete
        case .ddl, .truncate: return .ddl
        default: return .other
        }
    }

    static func nodes(of decision: RouteDecision, primary: Int) -> [Int] {
        switch decision {
        case .primary: return [primary]
        case .node(let id): return [id]
        case .nodes(let list): return list
        }
    }

    /// The node whose answers the client sees.
    static func outputNode(of decision: RouteDecision, primary: Int) -> Int {
        switch decision {
        case .primary, .nodes: return primary
        case .node(let id): return id
        }
    }
}
