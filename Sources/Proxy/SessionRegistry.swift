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

    func add(_ session: ClientSessionHandler) {
        sessions[ObjectIdentifier(session)] = session
    }

    func remove(_ session: ClientSessionHandler) {
        sessions[ObjectIdentifier(session)] = nil
    }

    func terminateAll() {
        for session in Array(sessions.values) {
            session.terminateForShutdown()
        }
    }
}
