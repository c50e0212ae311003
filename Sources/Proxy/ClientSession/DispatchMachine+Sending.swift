import Cluster
import NIOCore
import PostgresWire
import Routing

/// Sending what waits, in order, one route at a time; and the decision helpers.
extension DispatchMachine {
    // MARK: What the client is owed

    /// Every reply the client asked for has gone to it and nothing it sent is open (no message
    /// waiting or held, no extended exchange without its Sync, no output held back, no stream),
    /// whatever the backends still owe for SwiftPool's own messages or copies on other nodes.
    var everyReplySent: Bool {
        isIdle && unsyncedRoute == nil && heldPrimaryOutput == nil && !streamOpen && routedQueries.isEmpty
    }

    /// ``everyReplySent``, or nil for a primary-only session, which does not count its replies.
    var clientHasEveryReply: Bool? { everyDecisionIsPrimary ? nil : everyReplySent }

    // MARK: Dispatching

    /// Sends waiting messages in order, switching nodes only when every node of the previous
    /// route has answered everything it was sent.
    mutating func dispatch<E: DispatchEnvironment>(_ env: inout E, into actions: inout [Action]) {
        // The head is looked at in place and moved out once it goes: a copy of it would retain
        // everything it holds, for every message.
        while !streamOpen, !waiting.isEmpty {
            if waiting[0].completes != nil, routedQueries.count >= Self.maxStatementsInFlight { return }
            if waiting[0].message.type == FrontendMessageType.terminate {
                waiting.removeAll()
                actions.append(.terminate)
                return
            }
            let decision = waiting[0].decision
            let targets = Self.nodes(of: decision, primary: primary)
            var missing = false
            for node in targets where !env.isConnected(node) {
                missing = true
                if !leasing.contains(node) {
                    leasing.append(node)
                    actions.append(.lease(node: node))
                }
            }
            guard !missing else { return }
            if decision != currentRoute {
                let busy = Self.nodes(of: currentRoute, primary: primary).contains { !env.isQuiescent($0) }
                guard !busy else { return }
                currentRoute = decision
                actions.append(.setCancelTarget(node: Self.outputNode(of: currentRoute, primary: primary)))
            }
            // Answers of SwiftPool's own messages must not mix with the client's.
            guard swallowing.isEmpty || !targets.contains(where: { swallowing[$0] != nil }) else { return }
            let next = waiting.takeFirst()
            let plainBegin = next.completes?.contains { $0.routed.plainBeginForStandbys } ?? false
            for node in targets {
                var bytes = next.message.bytes
                if node != primary, plainBegin, next.message.type == FrontendMessageType.query {
                    bytes = ByteBuffer()
                    FrontendMessageEncoder.query("BEGIN", into: &bytes)
                }
                if next.quiet {
                    actions.append(.writeQuietSync(node: node))
                } else {
                    actions.append(.write(node: node, bytes: bytes, type: next.message.type))
                }
                if next.swallowed, next.message.type == FrontendMessageType.sync { swallowing[node, default: 0] += 1 }
            }
            if let completes = next.completes, !next.swallowed {
                routedQueries.append((completes, Self.outputNode(of: next.decision, primary: primary)))
                if isPooled { completedEffects.append(next.effects) }
                for completed in completes.indices {
                    let query = completes[completed].query
                    for index in query.statements.indices {
                        let category = Self.category(of: query.statements[index].kind)
                        for node in targets { actions.append(.count(node: node, category)) }
                    }
                }
            }
            if next.streamed {
                streamOpen = true
                actions.append(.streamTo(nodes: Array(targets)))
            }
        }
    }


    // MARK: Helpers

    /// One destination for a batch: all reads on one node stay there; anything else, or reads
    /// for different nodes, goes to the primary; BOTH statements alone go to their nodes.
    static func combine(_ decisions: [RouteDecision], current: RouteDecision) -> RouteDecision {
        guard let first = decisions.first else { return current }
        if decisions.allSatisfy({ $0 == first }) { return first }
        return .primary
    }

    static func removing(_ id: Int, from decision: RouteDecision) -> RouteDecision {
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

    /// The nodes `decision` sends to, primary first.
    static func nodes(of decision: RouteDecision, primary: Int) -> RouteNodes {
        RouteNodes(decision, primary: primary)
    }

    /// The node whose answers the client sees.
    static func outputNode(of decision: RouteDecision, primary: Int) -> Int {
        switch decision {
        case .primary, .nodes: return primary
        case .node(let id): return id
        }
    }
}
