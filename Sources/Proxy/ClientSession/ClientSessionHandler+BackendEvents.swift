import NIOCore
import PostgresWire

/// What the session's backend connections report: output, ReadyForQuery, loss, writability.
extension ClientSessionHandler: BackendConnectionOwner {
    func backend(_ connection: BackendConnection, didRead bytes: ByteBuffer) {
        // Before the login reply, the client may only see authentication messages; what the
        // backend says meanwhile (a changed parameter) is replayed from its parameter set.
        sessions.traffic.fromBackends &+= bytes.readableBytes
        if endingAfterMessage != nil, takeWhileEnding(connection, bytes) { return }
        var env = Environment(handler: self)
        switch machine.backendOutput(connection.node.id, bytes, &env) {
        case .forward:
            sessions.traffic.toClients &+= bytes.readableBytes
            context.write(wrapOutboundOut(bytes), promise: nil)
            wroteClient = true
        case .updateReading:
            updateReading()
        case .none:
            break
        }
    }

    func backend(_ connection: BackendConnection, didBecomeReady status: TransactionStatus, failed: Bool) {
        guard endingAfterMessage == nil else { return }
        run { machine, env, actions in
            machine.backendReady(connection.node.id, status: status, failed: failed, &env, into: &actions)
        }
    }

    func backendDidFinishReading(_ connection: BackendConnection) {
        flushClientIfWritten()
    }

    func backend(_ connection: BackendConnection, didClose error: Error?) {
        if let ending = endingAfterMessage {
            // The rest of the half-forwarded message will not come.
            if ending.connection === connection { endAfterMessage(complete: false) }
            return
        }
        let wasPrimary = primaryConnection === connection
        if wasPrimary {
            primaryConnection = nil
        } else if standbyConnections[connection.node.id] === connection {
            standbyConnections[connection.node.id] = nil
            markUnusable(connection.node.id)
        } else {
            return
        }
        let lost = ClientSessionMachine.LostConnection(
            node: connection.node.id, name: "\(connection.node)", wasPrimary: wasPrimary,
            wasQuiescent: connection.tracker.isQuiescent, atMessageBoundary: connection.isAtMessageBoundary,
            transactionStatus: connection.tracker.transactionStatus, lastSQLState: connection.lastError?.sqlState,
            copyInProgress: connection.tracker.copyInProgress)
        run { machine, env, actions in machine.backendClosed(lost, &env, into: &actions) }
    }

    func backendWritabilityChanged(_ connection: BackendConnection, isWritable: Bool) {
        updateReading()
    }
}
