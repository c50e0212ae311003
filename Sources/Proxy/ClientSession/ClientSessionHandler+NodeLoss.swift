import NIOCore
import PostgresWire

/// Nodes going down (failover) and SwiftPool's shutdown, as the session registry reports them.
extension ClientSessionHandler {
    /// Shuts the session down for SwiftPool's own shutdown.
    func terminateForShutdown() {
        let atBoundary = allConnections.allSatisfy(\.isAtMessageBoundary)
        let copying = copyingIn
        run { machine, _, actions in
            machine.terminateForShutdown(atMessageBoundary: atBoundary, copyingIn: copying, into: &actions)
        }
    }

    /// The transaction status of a connection that waits for the client's COPY data.
    var copyingIn: TransactionStatus? { allConnections.first(where: \.tracker.copyInProgress)?.tracker.transactionStatus }

    /// Whether the session holds a connection to one of `nodes`, or its primary is among them.
    func usesAnyNode(of nodes: Set<Int>) -> Bool {
        if let primaryNodeID, nodes.contains(primaryNodeID) { return true }
        return allConnections.contains { nodes.contains($0.node.id) }
    }

    /// `nodes` went down: a session whose primary is among them ends; one that only had an idle
    /// connection to a standby among them goes on without it.
    func nodesWentDown(_ nodes: Set<Int>) {
        // In transaction mode the session holds its primary's connection only during a unit of
        // work, but its routing was set up for that primary.
        if let primary = primaryNodeID ?? primaryConnection?.node.id, nodes.contains(primary) { return terminateForFailover() }
        for (id, connection) in standbyConnections where nodes.contains(id) {
            standbyConnections[id] = nil
            connection.owner = nil
            connection.close()
            markUnusable(id)
            let wasIdle = connection.tracker.isQuiescent && connection.isAtMessageBoundary
                && connection.tracker.transactionStatus == .idle
            var goesOn = false
            run { machine, env, actions in goesOn = machine.continueWithout(id, wasIdle: wasIdle, &env, into: &actions) }
            guard goesOn else { return terminateForFailover() }
        }
    }

    private func terminateForFailover() {
        let atBoundary = allConnections.allSatisfy(\.isAtMessageBoundary)
        logger.info("ending session: a backend node it uses went down", metadata: ["nodes": "\(allConnections.map(\.node.id))"])
        run { machine, env, actions in machine.terminateForFailover(atMessageBoundary: atBoundary, &env, into: &actions) }
    }
}
