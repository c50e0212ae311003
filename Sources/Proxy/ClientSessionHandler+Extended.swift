import NIOCore
import PostgresWire
import Routing

/// Where a named prepared statement lives, and what it is.
struct PreparedStatementPlacement {
    var parse: RawMessage
    var query: QueryClassification
    var routed: RoutedQuery
    var nodes: Set<Int>
}

/// Extended-protocol routing. A batch (the messages up to Sync) is routed as a unit: its Parse
/// messages are classified like simple queries, and Bind/Describe/Execute/Close follow the
/// statement or portal they name. A statement prepared on another node is parsed on the batch's
/// node first (Pgpool-II's parse-before-bind), with its answers hidden from the client.
extension ClientSessionHandler {
    func routeExtendedBatch() {
        guard let primary = backend?.node.id else { return }
        let batch = extendedBatch
        extendedBatch.removeAll()
        let endsWithSync = batch.last?.type == FrontendMessageType.sync

        var decisions: [RouteDecision] = []
        var statements: [(query: QueryClassification, routed: RoutedQuery)] = []
        var parsedHere: [String: (QueryClassification, RoutedQuery)] = [:]
        var usedStatements: [String] = []
        var closedStatements: [String] = []
        var boundPortals: [String] = []
        var closedPortals: [String] = []
        for message in batch {
            var body = message.body
            switch message.type {
            case FrontendMessageType.parse:
                let name = body.readNullTerminatedString() ?? ""
                let text = body.readNullTerminatedString() ?? ""
                let (query, routed) = route(text, primary: primary)
                if let misses = factsToWaitFor(routed) {
                    // Route the whole batch again once the facts are known.
                    return waitForFacts(misses, holding: batch)
                }
                decisions.append(routed.decision)
                statements.append((query, routed))
                parsedHere[name] = (query, routed)
            case FrontendMessageType.bind:
                let portal = body.readNullTerminatedString() ?? ""
                let statement = body.readNullTerminatedString() ?? ""
                if parsedHere[statement] == nil {
                    usedStatements.append(statement)
                    // Executing a statement prepared earlier counts like running it again.
                    if let placement = preparedStatements[statement] { statements.append((placement.query, placement.routed)) }
                }
                if !portal.isEmpty { boundPortals.append(portal) }
            case FrontendMessageType.describe, FrontendMessageType.close:
                let kind = body.readInteger(as: UInt8.self)
                let name = body.readNullTerminatedString() ?? ""
                if kind == UInt8(ascii: "S") {
                    if parsedHere[name] == nil { usedStatements.append(name) }
                    if message.type == FrontendMessageType.close { closedStatements.append(name) }
                } else if let placed = portals[name] {
                    decisions.append(placed)
                    if message.type == FrontendMessageType.close { closedPortals.append(name) }
                }
            case FrontendMessageType.execute:
                let portal = body.readNullTerminatedString() ?? ""
                if !boundPortals.contains(portal), let placed = portals[portal] { decisions.append(placed) }
            default:
                break
            }
        }
        let writing = routing.map {
            $0.writingTransaction && ($0.transactionState == .inTransaction || $0.settings.writeStickiness == .always)
        } ?? false
        for name in usedStatements {
            // A statement from an earlier batch: where it was routed then (unknown: the primary,
            // which will report the error). In a transaction that wrote, a read prepared on a
            // standby runs on the primary (parsed there first), as Pgpool-II decides again at Bind.
            let decision = preparedStatements[name]?.routed.decision ?? .primary
            if writing, case .node = decision { decisions.append(.primary) } else { decisions.append(decision) }
        }
        var target = Self.combine(decisions, current: currentRoute)
        if !endsWithSync, case .node = target {
            // Without a Sync the batch may go on with anything: keep it on the primary.
            target = .primary
        }
        // Until a Sync closes it, an extended exchange stays where it started (asyncpg sends
        // Parse/Describe/Flush, then Bind/Execute/Sync).
        if let open = unsyncedRoute { target = open }
        unsyncedRoute = endsWithSync ? nil : target
        let targetNodes = Set(Self.nodes(of: target, primary: primary))

        // Parse-before-bind: statements this batch uses must exist on its nodes.
        for name in Set(usedStatements) {
            guard var placement = preparedStatements[name] else { continue }
            for node in targetNodes.subtracting(placement.nodes).sorted() {
                enqueueOwnBatch(placement.parse, to: node, primary: primary)
                placement.nodes.insert(node)
            }
            preparedStatements[name] = placement
        }
        for message in batch {
            waiting.append(PendingMessage(message: message, decision: target,
                                          completes: message.type == FrontendMessageType.sync ? statements : nil))
        }
        if !endsWithSync {
            // No ReadyForQuery will report on these statements: count them as done now (a failed
            // write still pins reads to the primary, which is the safe side).
            for (query, routed) in statements { routing?.completed(query, routed: routed, succeeded: true, facts: sessionFacts!) }
        }
        for (name, (query, routed)) in parsedHere {
            preparedStatements[name] = PreparedStatementPlacement(
                parse: batch.first { $0.type == FrontendMessageType.parse && Self.statementName(of: $0) == name }!,
                query: query, routed: routed, nodes: targetNodes)
        }
        for name in closedStatements {
            // Closed on the batch's nodes; elsewhere SwiftPool closes it itself.
            if let placement = preparedStatements.removeValue(forKey: name) {
                for node in placement.nodes.subtracting(targetNodes).sorted() {
                    var close = ByteBuffer()
                    close.writeMessage(type: FrontendMessageType.close) {
                        $0.writeInteger(UInt8(ascii: "S"))
                        $0.writeNullTerminatedString(name)
                    }
                    enqueueOwnBatch(RawMessage(type: FrontendMessageType.close, bytes: close), to: node, primary: primary)
                }
            }
        }
        for portal in boundPortals { portals[portal] = target }
        for portal in closedPortals { portals[portal] = nil }
        if !factsAwaited.isEmpty { factsAwaited.removeAll() }
    }

    /// Queues one message of SwiftPool's own, with a Sync, whose answers the client never sees.
    private func enqueueOwnBatch(_ message: RawMessage, to node: Int, primary: Int) {
        let decision: RouteDecision = node == primary ? .primary : .node(node)
        var sync = ByteBuffer()
        FrontendMessageEncoder.sync(into: &sync)
        waiting.append(PendingMessage(message: message, decision: decision, swallowed: true))
        waiting.append(PendingMessage(message: RawMessage(type: FrontendMessageType.sync, bytes: sync),
                                      decision: decision, swallowed: true))
    }

    /// SQL DEALLOCATE and DISCARD also remove protocol-level prepared statements.
    func forgetDeallocatedStatements(_ query: QueryClassification) {
        for statement in query.statements {
            switch statement.kind {
            case .deallocate(let name?): preparedStatements[name] = nil
            case .deallocate(nil), .discard: preparedStatements.removeAll()
            default: break
            }
        }
    }

    static func statementName(of parse: RawMessage) -> String {
        var body = parse.body
        return body.readNullTerminatedString() ?? ""
    }

    /// One destination for a batch: all reads on one node stay there; anything else, or reads
    /// for different nodes, goes to the primary; BOTH statements alone go to their nodes.
    static func combine(_ decisions: [RouteDecision], current: RouteDecision) -> RouteDecision {
        guard let first = decisions.first else { return current }
        if decisions.allSatisfy({ $0 == first }) { return first }
        return .primary
    }
}
