import NIOCore
import PostgresWire

/// A node the session uses goes away (failover, shutdown): the session ends, or goes on without
/// an idle standby connection.
extension ClientSessionHandler {
    /// Shuts the session down for SwiftPool's own shutdown.
    func terminateForShutdown() {
        endWithBackendsGone(
            ErrorFields(severity: .fatal, sqlState: "57P01", message: "terminating connection due to administrator command"),
            reason: "shutdown", politely: true)
    }

    /// Whether the session holds a connection to one of `nodes`.
    func usesAnyNode(of nodes: Set<Int>) -> Bool {
        allConnections.contains { nodes.contains($0.node.id) }
    }

    /// `nodes` went down: a session whose primary is among them ends; one that only had an idle
    /// connection to a standby among them goes on without it.
    func nodesWentDown(_ nodes: Set<Int>) {
        if let primaryConnection, nodes.contains(primaryConnection.node.id) { return terminateForFailover() }
        for (id, connection) in standbyConnections where nodes.contains(id) {
            standbyConnections[id] = nil
            connection.owner = nil
            connection.close()
            guard continueWithout(connection) else { return terminateForFailover() }
        }
    }

    /// Ends the session because a node it uses went down.
    func terminateForFailover() {
        logger.info("ending session: a backend node it uses went down", metadata: ["nodes": "\(allConnections.map(\.node.id))"])
        endWithBackendsGone(
            ErrorFields(severity: .fatal, sqlState: "57P01", message: "terminating connection because a backend node went down (failover)",
                        hint: "Reconnect: new sessions use the nodes that are up."),
            reason: "failover", politely: false, waitForClient: clientWaitsForNothing)
    }

    /// Whether the session can go on without `connection` (to a standby, already let go of):
    /// then what waited for its node goes elsewhere and the client sees nothing.
    func continueWithout(_ connection: BackendConnection) -> Bool {
        guard case .forwarding = phase, dispatch != nil else { return false }
        let node = connection.node.id
        let wasIdle = connection.tracker.isQuiescent && connection.isAtMessageBoundary
            && connection.tracker.transactionStatus == .idle
        unusableNodes.insert(node)
        candidatesGeneration = -1
        var env = Environment(handler: self)
        guard dispatch!.nodeLost(node, wasIdle: wasIdle, &env, into: &actions) else {
            actions.removeAll()
            return false
        }
        logger.info("session goes on without a lost standby connection", metadata: ["node": "\(node)"])
        perform()
        return true
    }

    /// Lets go of every backend connection (with a Terminate when `politely`), then tells the
    /// client `error` unless that would land inside a half-forwarded message.
    func endWithBackendsGone(_ error: ErrorFields, reason: String, politely: Bool, waitForClient: Bool = false) {
        var atBoundary = true
        for connection in allConnections {
            atBoundary = atBoundary && connection.isAtMessageBoundary
            connection.owner = nil
            // A Terminate must not land inside a message being streamed to the backend.
            if politely, !splitter.isStreaming { connection.terminate() } else { connection.close() }
        }
        primaryConnection = nil
        standbyConnections.removeAll()
        guard atBoundary else {
            end(reason: reason)
            context.close(promise: nil)
            return
        }
        fatal(error, waitForClient: waitForClient)
    }
}
