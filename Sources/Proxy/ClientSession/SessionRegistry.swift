import NIOCore

/// The live sessions of one event loop, for shutdown and statistics. Used only on its loop.
final class SessionRegistry {
    private var sessions: [ObjectIdentifier: ClientSessionHandler] = [:]
    private var nextID: UInt64

    /// Session ids are unique across loops: each loop numbers from its own offset.
    init(loopIndex: Int, loopCount: Int) {
        nextID = UInt64(loopIndex) + 1
        stride = UInt64(loopCount)
    }

    private let stride: UInt64

    func makeSessionID() -> UInt64 {
        defer { nextID += stride }
        return nextID
    }

    var count: Int { sessions.count }

    /// Bytes through this loop's sessions.
    var traffic = ProxySnapshot.Traffic()

    /// Every session of this loop, as the admin API shows it.
    func snapshot() -> [ProxySnapshot.Session] {
        sessions.values.map(\.snapshot).sorted { $0.id < $1.id }
    }

    /// Statements prepared on the transaction-mode connections sessions hold now.
    var heldStatementCount: Int {
        sessions.values.reduce(0) { total, session in
            total + session.allConnections.reduce(0) { $0 + ($1.pooled?.statements.count ?? 0) }
        }
    }

    func add(_ session: ClientSessionHandler) {
        sessions[ObjectIdentifier(session)] = session
    }

    func remove(_ session: ClientSessionHandler) {
        sessions[ObjectIdentifier(session)] = nil
    }

    /// Tells the sessions holding a connection to any of `nodes` that they went down.
    func nodesWentDown(_ nodes: Set<Int>) {
        for session in Array(sessions.values) where session.usesAnyNode(of: nodes) {
            session.nodesWentDown(nodes)
        }
    }

    func terminateAll() {
        for session in Array(sessions.values) {
            session.terminateForShutdown()
        }
    }
}
