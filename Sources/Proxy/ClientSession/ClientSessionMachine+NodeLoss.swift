import NIOCore
import PostgresWire

/// A node the session uses goes away (a lost connection, failover, shutdown): the session ends,
/// or goes on without an idle standby connection.
extension ClientSessionMachine {
    /// What the session knew of a connection that closed.
    struct LostConnection {
        var node: Int
        /// How errors name the node (``BackendNode``'s description).
        var name: String
        var wasPrimary: Bool
        /// It had answered everything it was sent.
        var wasQuiescent: Bool
        /// What it sent ends on a message boundary.
        var atMessageBoundary: Bool
        var transactionStatus: TransactionStatus
        /// The SQLSTATE of the last error it sent.
        var lastSQLState: String?
        /// It waited for the client's COPY data.
        var copyInProgress = false

        /// How the session's FATAL treats the client's copy (see ``fatal(_:waitForClient:copyingIn:into:)``).
        func copyingIn<E: SessionEnvironment>(_ env: E) -> TransactionStatus? {
            copyInProgress ? transactionStatus : env.copyingIn
        }
    }

    /// The session's connection to a node closed (the handler already let go of it).
    mutating func backendClosed<E: SessionEnvironment>(_ lost: LostConnection, _ env: inout E, into actions: inout [Action]) {
        actions.append(.log(.warning, "backend connection lost", ["node": "\(lost.node)"]))
        // The lost connection is no longer in `env`: its own quiescence counts separately.
        let idle = (clientWaitsForNothing(env) && lost.wasQuiescent) || clientHasEveryReply
        actions.append(.backendLost(node: lost.node, shutdown: lost.lastSQLState == "57P01" || lost.lastSQLState == "57P02"))
        let wasIdle = lost.wasQuiescent && lost.atMessageBoundary && lost.transactionStatus == .idle
        if !lost.wasPrimary, continueWithout(lost.node, wasIdle: wasIdle, &env, into: &actions) {
            idleErrors[lost.node] = nil
            return
        }
        guard lost.atMessageBoundary else {
            // An error here would land inside a half-forwarded message: just close.
            end(reason: "backend connection lost", into: &actions)
            actions.append(.closeClient)
            return
        }
        fatal(ErrorFields(severity: .fatal, sqlState: "08006",
                          message: "\(lost.name) closed the connection unexpectedly",
                          hint: "The backend may have crashed or been shut down; reconnect to continue."),
              waitForClient: idle, copyingIn: lost.copyingIn(env), into: &actions)
    }

    /// Whether the session can go on without its connection to `node` (a standby, already let
    /// go of): then what waited for it goes elsewhere and the client sees nothing.
    mutating func continueWithout<E: SessionEnvironment>(_ node: Int, wasIdle: Bool, _ env: inout E, into actions: inout [Action]) -> Bool {
        guard case .forwarding = phase, dispatch != nil else { return false }
        guard dispatch!.nodeLost(node, wasIdle: wasIdle, &env, into: &dispatchActions) else {
            dispatchActions.removeAllKeepingCapacity()
            return false
        }
        actions.append(.log(.info, "session goes on without a lost standby connection", ["node": "\(node)"]))
        takeDispatchActions(&env, into: &actions)
        return true
    }

    /// Ends the session because a node it uses went down (failover).
    mutating func terminateForFailover<E: SessionEnvironment>(atMessageBoundary: Bool, _ env: inout E, into actions: inout [Action]) {
        actions.append(.log(.info, "ending session: a backend node it uses went down"))
        endWithBackendsGone(
            ErrorFields(severity: .fatal, sqlState: "57P01", message: "terminating connection because a backend node went down (failover)",
                        hint: "Reconnect: new sessions use the nodes that are up."),
            reason: "failover", politely: false, atMessageBoundary: atMessageBoundary, waitForClient: clientExpectsNoReply(env),
            copyingIn: env.copyingIn, into: &actions)
    }

    /// Ends the session for SwiftPool's own shutdown.
    mutating func terminateForShutdown(atMessageBoundary: Bool, copyingIn: TransactionStatus?, into actions: inout [Action]) {
        endWithBackendsGone(
            ErrorFields(severity: .fatal, sqlState: "57P01", message: "terminating connection due to administrator command"),
            reason: "shutdown", politely: true, atMessageBoundary: atMessageBoundary, waitForClient: false,
            copyingIn: copyingIn, into: &actions)
    }

    /// Lets go of every backend connection (with a Terminate when `politely`), then tells the
    /// client `error` unless that would land inside a half-forwarded message.
    private mutating func endWithBackendsGone(
        _ error: ErrorFields, reason: String, politely: Bool, atMessageBoundary: Bool, waitForClient: Bool,
        copyingIn: TransactionStatus?, into actions: inout [Action]
    ) {
        // A Terminate must not land inside a message being streamed to the backend.
        actions.append(.dropConnections(terminate: politely && !splitter.isStreaming))
        guard atMessageBoundary else {
            end(reason: reason, into: &actions)
            actions.append(.closeClient)
            return
        }
        fatal(error, waitForClient: waitForClient, copyingIn: copyingIn, into: &actions)
    }
}
