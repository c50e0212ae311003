import NIOCore
import PostgresWire
import Routing

/// Transaction mode: what the client's statements do to its server session (settings to replay
/// on the next connection, pins), followed as their answers arrive.
extension DispatchMachine {
    /// Transaction mode: the client waits for no answer and nothing it sent is open (no
    /// extended exchange without its Sync, no output held, no lease asked for): its connections
    /// may go back to the pool, as far as forwarding is concerned.
    var isBetweenUnits: Bool {
        everyReplySent && leasing.isEmpty && swallowing.isEmpty
    }

    /// Transaction mode: the session can move to another primary now. Nothing was sent that is
    /// unanswered, nothing is open, and no server session holds anything of the client's (not
    /// pinned). With `unitWaiting`, messages may wait for a lease of the primary (which failed):
    /// that unit of work has not begun anywhere; otherwise nothing may wait.
    func canMoveToAnotherPrimary(unitWaiting: Bool) -> Bool {
        guard isPooled, pooled?.isPinned == false, routedQueries.isEmpty, extendedBatch.isEmpty, heldForFacts == nil,
              unsyncedRoute == nil, heldPrimaryOutput == nil, !streamOpen, swallowing.isEmpty else { return false }
        return unitWaiting ? leasing.allSatisfy { $0 == primary } : waiting.isEmpty && leasing.isEmpty
    }

    /// Transaction mode (``canMoveToAnotherPrimary(unitWaiting:)``): a failover made `newPrimary`
    /// the primary. What named the old primary names the new one, the messages waiting for it
    /// included (``dispatch(_:into:)`` then leases the new one); the client's settings are
    /// replayed and its statements prepared on the new primary's connections, as on any other.
    mutating func primaryMoved(to newPrimary: Int) {
        let old = primary
        guard newPrimary != old else { return }
        primary = newPrimary
        func moved(_ decision: RouteDecision) -> RouteDecision {
            switch decision {
            case .primary: return .primary
            case .node(let id): return id == old || id == newPrimary ? .primary : decision
            case .nodes(let list):
                let others = list.filter { $0 != old && $0 != newPrimary }
                return others.isEmpty ? .primary : .nodes([newPrimary] + others)
            }
        }
        if routing.loadBalanceNode == old || routing.loadBalanceNode == newPrimary {
            routing.replaceLoadBalanceNode(with: newPrimary)
        }
        for name in protocolStatements.keys {
            if protocolStatements[name]!.nodes.remove(old) != nil { protocolStatements[name]!.nodes.insert(newPrimary) }
            protocolStatements[name]!.routed.decision = moved(protocolStatements[name]!.routed.decision)
        }
        portals = portals.mapValues(moved)
        leasing.removeAll { $0 == old }
        for index in waiting.indices {
            waiting[index].decision = moved(waiting[index].decision)
            guard let completes = waiting[index].completes else { continue }
            waiting[index].completes = completes.map { statement in
                var routed = statement.routed
                routed.decision = moved(routed.decision)
                return (statement.query, routed)
            }
        }
        currentRoute = .primary
    }

    /// The effects of a query string the client sends, or nil outside transaction mode.
    func sessionEffects(_ query: QueryClassification, text: String) -> [SessionEffect] {
        guard isPooled else { return [] }
        return SessionEffect.of(query, text: text)
    }

    /// The pin a statement would need when pinning is off: it is then refused.
    func refusedPin(_ effects: [SessionEffect]) -> PinReason? {
        guard isPooled, !pinningAllowed else { return nil }
        for case .pin(let reason) in effects { return reason }
        return nil
    }

    /// A statement the server answers with the refusal, so that the transaction it is in fails
    /// as it would with any other error.
    static func refusal(_ reason: PinReason) -> String {
        let message = "\(reason.statementDescription) needs a server session of its own, and transaction_pool_pinning is off"
        return "DO $swiftpool$ BEGIN RAISE EXCEPTION USING ERRCODE = '0A000', MESSAGE = '\(message)', "
            + "HINT = 'Use session pooling for this client (pool_mode_list), or turn transaction_pool_pinning on.'; END $swiftpool$"
    }

    /// A statement group answered with ReadyForQuery.
    mutating func completedStatementGroup(_ effects: [SessionEffect], status: TransactionStatus, failed: Bool,
                                          into actions: inout [Action]) {
        guard isPooled else { return }
        let view: TransactionStatusView
        switch status {
        case .idle: view = .idle
        case .inTransaction: view = .inTransaction
        case .failed: view = .failed
        }
        for reason in pooled!.completed(effects, status: view, failed: failed) { actions.append(.pinned(reason)) }
        switch pooled!.takeDeallocation() {
        case .none: break
        case .held:
            protocolStatements.removeAll()
            actions.append(.statementsDeallocated(held: true))
        case .failed:
            actions.append(.statementsDeallocated(held: false))
        }
    }
}

extension PinReason {
    /// What the client did, for messages.
    var statementDescription: String {
        switch self {
        case .listen: return "LISTEN"
        case .advisoryLock: return "a session-level advisory lock"
        case .holdCursor: return "a cursor WITH HOLD"
        case .temporaryTable: return "a temporary table"
        case .load: return "LOAD"
        case .sqlPrepare: return "SQL PREPARE"
        case .role: return "SET ROLE or SET SESSION AUTHORIZATION"
        case .setConfig: return "set_config()"
        case .savepointRollback: return "ROLLBACK TO SAVEPOINT after SET"
        case .largeStatement: return "a named statement of 256 kB or more"
        }
    }
}
