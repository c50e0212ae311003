import NIOCore
import PostgresWire

/// What the session's backend connections report: output, ReadyForQuery, loss, writability.
extension ClientSessionHandler: BackendConnectionOwner {
    func backend(_ connection: BackendConnection, didRead bytes: ByteBuffer) {
        // Before the login reply, the client may only see authentication messages; what the
        // backend says meanwhile (a changed parameter) is replayed from its parameter set.
        sessions.traffic.fromBackends &+= bytes.readableBytes
        guard case .forwarding = phase else { return }
        if holdIdleError(connection, bytes) { return }
        dispatchOutput(connection, bytes)
    }

    func backend(_ connection: BackendConnection, didBecomeReady status: TransactionStatus, failed: Bool) {
        guard case .forwarding = phase else { return }
        dispatchReady(connection, status: status, failed: failed)
        if answeringLocally { continueAdminAnswer() }
    }

    func backendDidFinishReading(_ connection: BackendConnection) {
        context.flush()
    }

    func backend(_ connection: BackendConnection, didClose error: Error?) {
        let wasPrimary = primaryConnection === connection
        if wasPrimary {
            primaryConnection = nil
        } else if standbyConnections[connection.node.id] === connection {
            standbyConnections[connection.node.id] = nil
        } else {
            return
        }
        logger.warning("backend connection lost", metadata: ["node": "\(connection.node.id)"])
        let idle = clientWaitsForNothing && connection.tracker.isQuiescent
        let sqlState = connection.lastError?.sqlState
        runtime.backendLost(connection.node.id, sqlState == "57P01" || sqlState == "57P02")
        if !wasPrimary, continueWithout(connection) {
            idleErrors[connection.node.id] = nil
            return
        }
        guard connection.isAtMessageBoundary else {
            // An error here would land inside a half-forwarded message: just close.
            end(reason: "backend connection lost")
            context.close(promise: nil)
            return
        }
        fatal(ErrorFields(severity: .fatal, sqlState: "08006",
                          message: "\(connection.node) closed the connection unexpectedly",
                          hint: "The backend may have crashed or been shut down; reconnect to continue."),
              waitForClient: idle)
    }

    func backendWritabilityChanged(_ connection: BackendConnection, isWritable: Bool) {
        updateReading()
    }
}
