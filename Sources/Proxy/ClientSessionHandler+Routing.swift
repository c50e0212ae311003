import Cluster
import Logging
import NIOCore
import PostgresWire
import Routing

/// Read/write splitting of a session: simple-protocol queries are classified and sent to the
/// primary, the session's load-balance node, or both; the extended protocol stays on the primary
/// (its reads are not balanced yet, its BOTH statements still reach both nodes).
extension ClientSessionHandler {
    /// A client message and where it goes, waiting until the nodes it needs are free.
    struct PendingMessage {
        var message: RawMessage
        var decision: RouteDecision
        var routed: RoutedQuery?
        var query: QueryClassification?
    }

    /// Sets up routing for a session that just logged in, when it is configured and there is
    /// more than one usable node.
    func startRouting() {
        guard let configuration = runtime.routing, let primary = backend?.node.id else { return }
        let candidates = loadBalanceCandidates(primary: primary)
        guard candidates.contains(where: { $0.id != primary && $0.isUp }) else { return }
        var random = SystemRandomNumberGenerator()
        let node = configuration.selector.select(
            among: candidates, database: startup?.database ?? "", applicationName: startup?["application_name"],
            using: &random) ?? primary
        routingConfiguration = configuration
        routing = RoutingSession(settings: configuration.settings, loadBalanceNode: node)
        currentRoute = .primary
        logger.debug("load-balance node chosen", metadata: ["lb_node": "\(node)"])
    }

    func loadBalanceCandidates(primary: Int) -> [LoadBalanceSelector.Candidate] {
        runtime.cluster.snapshot.nodes.map {
            .init(id: $0.id, weight: $0.weight, isUp: $0.status != .down && !unusableNodes.contains($0.id), isPrimary: $0.id == primary)
        }
    }

    /// The routed counterpart of `forwardFromClient`.
    func routeFromClient(_ bytes: ByteBuffer) {
        var messages: [RawMessage] = []
        do {
            try splitter.feed(bytes) { messages.append($0) }
        } catch {
            return protocolViolation("\(error)")
        }
        for message in messages { enqueue(message) }
        dispatchWaiting()
    }

    private func enqueue(_ message: RawMessage) {
        guard let primary = backend?.node.id else { return }
        switch message.type {
        case FrontendMessageType.query:
            var body = message.body
            let text = body.readString(length: max(0, body.readableBytes - 1)) ?? ""
            let query = SQLClassifier.classify(query: text)
            let candidates = loadBalanceCandidates(primary: primary)
            let readable = candidates.filter { $0.isUp && $0.weight > 0 }.map(\.id)
            let configuration = routingConfiguration
            let database = startup?.database ?? ""
            let applicationName = startup?["application_name"]
            var routed = routing!.route(
                query, text: text, nodes: RoutingNodes(primary: primary, readable: readable),
                facts: runtime.catalog.facts(for: database),
                pick: {
                    var random = SystemRandomNumberGenerator()
                    return configuration?.selector.select(among: candidates, database: database,
                                                          applicationName: applicationName, using: &random)
                })
            if readsPinnedToPrimary, case .node = routed.decision {
                // The extended protocol was used: its statements live on the primary only.
                routed.decision = .primary
            }
            waiting.append(PendingMessage(message: message, decision: routed.decision, routed: routed, query: query))
        case FrontendMessageType.copyData, FrontendMessageType.copyDone, FrontendMessageType.copyFail:
            waiting.append(PendingMessage(message: message, decision: waiting.last?.decision ?? currentRoute))
        case FrontendMessageType.terminate:
            waiting.append(PendingMessage(message: message, decision: currentRoute))
        default:
            readsPinnedToPrimary = true
            waiting.append(PendingMessage(message: message, decision: .primary))
        }
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
            waiting.removeFirst()
            for node in targets {
                guard let connection = connection(for: node) else { continue }
                var bytes = next.message.bytes
                if node != primary.node.id, next.routed?.plainBeginForStandbys == true {
                    bytes = ByteBuffer()
                    FrontendMessageEncoder.query("BEGIN", into: &bytes)
                }
                connection.tracker.frontendSent(next.message.type)
                connection.channel.write(bytes, promise: nil)
                if !touched.contains(where: { $0 === connection }) { touched.append(connection) }
            }
            if let routed = next.routed, let query = next.query {
                routedQueries.append((query, routed, Self.outputNode(of: next.decision, primary: primary.node.id)))
            }
        }
    }

    /// Routed output: the route's output node reaches the client; the primary's asynchronous
    /// messages wait for a message boundary; other nodes' answers (BOTH) are dropped.
    func routedOutput(_ connection: BackendConnection, _ bytes: ByteBuffer) {
        guard let primary = backend else { return }
        if connection.node.id == Self.outputNode(of: currentRoute, primary: primary.node.id) {
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
        let output = Self.outputNode(of: currentRoute, primary: primary.node.id)
        if connection.node.id == output, let head = routedQueries.first, head.output == output {
            routedQueries.removeFirst()
            routing?.completed(head.query, routed: head.routed, succeeded: !failed,
                               facts: runtime.catalog.facts(for: startup?.database ?? ""))
            let state: Routing.TransactionState = switch status {
            case .idle: .idle
            case .inTransaction: .inTransaction
            case .failed: .failed
            }
            routing?.readyForQuery(state)
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
            case .success(let (connection, _)):
                connection.owner = self
                standbys[id] = connection
                connection.channel.setOption(ChannelOptions.autoRead, value: context.channel.isWritable).whenFailure { _ in }
                dispatchWaiting()
            case .failure(let error):
                logger.warning("load-balance node unavailable; reads go to the primary", metadata: ["node": "\(id)", "error": "\(error)"])
                standbyUnavailable(id)
            }
        }
    }

    /// Reroutes everything that waited for `id` and keeps the session off it.
    private func standbyUnavailable(_ id: Int) {
        guard let primary = backend?.node.id else { return }
        unusableNodes.insert(id)
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
