import NIOCore
import PostgresWire

/// Brings a transaction-mode connection's settings to a client's before the client uses it:
/// runs `RESET ALL` and the client's `SET` statements, hidden from the client, then reports
/// whether they all succeeded. Owns the connection while it runs; a backend that does not
/// answer within the timeout counts as a failure (the caller closes the connection).
final class SessionReplay: BackendConnectionOwner {
    private let connection: BackendConnection
    private let completion: (Bool) -> Void
    private var keepAlive: SessionReplay?
    private var timer: Scheduled<Void>?
    private var done = false

    private init(connection: BackendConnection, completion: @escaping (Bool) -> Void) {
        self.connection = connection
        self.completion = completion
    }

    /// Runs `query` on `connection`; `completion(true)` once it answered without error,
    /// `completion(false)` after an error, a closed connection or `timeout` without an answer.
    static func run(_ query: String, on connection: BackendConnection, timeout: TimeAmount,
                    completion: @escaping (Bool) -> Void) {
        let replay = SessionReplay(connection: connection, completion: completion)
        replay.keepAlive = replay
        connection.owner = replay
        replay.timer = connection.channel.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [replay] in
            replay.finish(false)
        }
        connection.clearLastError()
        var buffer = ByteBuffer()
        FrontendMessageEncoder.query(query, into: &buffer)
        connection.send(buffer, type: FrontendMessageType.query)
    }

    private func finish(_ succeeded: Bool) {
        guard !done else { return }
        done = true
        keepAlive = nil
        timer?.cancel()
        completion(succeeded)
    }

    func backend(_ connection: BackendConnection, didRead bytes: ByteBuffer) {}

    func backend(_ connection: BackendConnection, didBecomeReady status: TransactionStatus, failed: Bool) {
        guard connection.tracker.isQuiescent else { return }
        finish(!failed && status == .idle)
    }

    func backendDidFinishReading(_ connection: BackendConnection) {}

    func backend(_ connection: BackendConnection, didClose error: Error?) { finish(false) }

    func backendWritabilityChanged(_ connection: BackendConnection, isWritable: Bool) {}
}
