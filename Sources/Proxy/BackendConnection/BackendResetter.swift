import NIOCore
import PostgresWire

/// Brings a backend connection whose client left back to a clean idle state — finishing or
/// abandoning whatever was in flight, then running `reset_query_list` — and returns it to the
/// pool. A connection that cannot be reset within the time limit is closed instead.
final class BackendResetter: BackendConnectionOwner {
    private enum Stage { case draining, resetting, done }

    private let connection: BackendConnection
    private let giveBack: (BackendConnection) -> Void
    private let queries: [String]
    private let onFinish: () -> Void
    private var stage = Stage.draining
    private var timer: Scheduled<Void>?
    /// Keeps the resetter alive while it waits; the connection holds its owner weakly.
    private var keepAlive: BackendResetter?

    /// `giveBack` takes the connection once it is clean; `onFinish` runs once the connection is
    /// back in the pool or closed.
    init(connection: BackendConnection, queries: [String], giveBack: @escaping (BackendConnection) -> Void,
         onFinish: @escaping () -> Void = {}) {
        self.connection = connection
        self.giveBack = giveBack
        self.queries = queries
        self.onFinish = onFinish
    }

    func start(timeout: TimeAmount) {
        guard !connection.isClosed else { return onFinish() }
        keepAlive = self
        connection.owner = self
        connection.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
        timer = connection.channel.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            finish(reusable: false)
        }
        advance()
    }

    /// Ends what the client left unfinished: a COPY IN (possibly started only now, by a query
    /// the client sent before leaving) and an extended query without its Sync.
    private func abandonUnfinishedWork() {
        var wrote = false
        if connection.tracker.copyInProgress {
            var buffer = ByteBuffer()
            FrontendMessageEncoder.copyFail("client disconnected", into: &buffer)
            connection.send(buffer, type: FrontendMessageType.copyFail, flush: false)
            wrote = true
        }
        if connection.tracker.unsyncedExtendedQuery, !connection.tracker.copyInProgress {
            var buffer = ByteBuffer()
            FrontendMessageEncoder.sync(into: &buffer)
            connection.send(buffer, type: FrontendMessageType.sync, flush: false)
            wrote = true
        }
        if wrote { connection.flush() }
    }

    private func advance() {
        if stage == .draining { abandonUnfinishedWork() }
        guard connection.tracker.isQuiescent else { return }
        switch stage {
        case .draining:
            stage = .resetting
            connection.clearLastError()
            let status = connection.tracker.transactionStatus
            // ABORT is only needed inside a transaction; elsewhere it only warns.
            let toRun = queries.filter { status != .idle || !Self.isAbort($0) }
            guard !toRun.isEmpty else { return finish(reusable: status == .idle) }
            var buffer = ByteBuffer()
            for query in toRun { FrontendMessageEncoder.query(query, into: &buffer) }
            connection.send(buffer, type: FrontendMessageType.query, count: toRun.count)
        case .resetting:
            finish(reusable: connection.lastError == nil && connection.tracker.transactionStatus == .idle)
        case .done:
            break
        }
    }

    private func finish(reusable: Bool) {
        guard stage != .done else { return }
        stage = .done
        timer?.cancel()
        connection.owner = nil
        if reusable {
            giveBack(connection)
        } else {
            connection.terminate()
        }
        onFinish()
        keepAlive = nil
    }

    func backend(_ connection: BackendConnection, didRead bytes: ByteBuffer) {
        advance()
    }

    func backendDidFinishReading(_ connection: BackendConnection) {}

    /// A read whose only message was a ReadyForQuery hidden by transaction mode reaches only here.
    func backend(_ connection: BackendConnection, didBecomeReady status: TransactionStatus, failed: Bool) {
        advance()
    }

    func backend(_ connection: BackendConnection, didClose error: Error?) {
        guard stage != .done else { return }
        stage = .done
        timer?.cancel()
        onFinish()
        keepAlive = nil
    }

    func backendWritabilityChanged(_ connection: BackendConnection, isWritable: Bool) {}

    private static func isAbort(_ query: String) -> Bool {
        let word = query.split(whereSeparator: \.isWhitespace).joined(separator: " ").lowercased()
        return word == "abort" || word == "rollback"
    }
}
