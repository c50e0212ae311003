import NIOCore
import PostgresWire

/// How a session says its FATAL and leaves, so that the client reads the error as the answer
/// to something it asked and never as a reset connection.
extension ClientSessionHandler {
    /// How long a connection that got its FATAL is read on (what arrives is discarded) before
    /// it is closed, unless the client closes first.
    static let lingerAfterFatal = TimeAmount.seconds(1)

    /// How long the FATAL of a session that ended while idle waits for the client's next message.
    static let idleFatalDelay = TimeAmount.seconds(3)

    /// True when the client waits for no reply: nothing in flight on any backend connection,
    /// nothing of its held or half-read.
    var clientWaitsForNothing: Bool {
        allConnections.allSatisfy(\.tracker.isQuiescent)
            && splitter.bufferedByteCount == 0 && !splitter.isStreaming && (dispatch?.heldClientBytes ?? 0) == 0
            && !answeringLocally
    }

    /// Sends a FATAL error and closes the client connection.
    ///
    /// With `waitForClient` (the session ended while its client waited for nothing) the error
    /// is kept until the client's next message, or ``idleFatalDelay``. Sent at once, it would
    /// often arrive right behind the previous reply: libpq then reads it while idle and hands it
    /// to the notice receiver, asyncpg and node-postgres keep it aside, and the client's next
    /// query fails with "server closed the connection" and no SQLSTATE.
    func fatal(_ error: ErrorFields, waitForClient: Bool = false) {
        if !counted {
            counted = true
            runtime.connections.rejected(ConnectionStatistics.reason(forSQLState: error.sqlState))
        }
        guard context.channel.isActive else { return end(reason: error.message ?? "error") }
        var buffer = context.channel.allocator.buffer(capacity: 128)
        BackendMessageEncoder.errorResponse(error, into: &buffer)
        var words = context.channel.allocator.buffer(capacity: buffer.readableBytes)
        for node in idleErrors.keys.sorted() { words.writeImmutableBuffer(idleErrors[node]!) }
        idleErrors.removeAll()
        words.writeBuffer(&buffer)
        end(reason: error.message ?? "error")
        lastWords = words
        guard waitForClient else { return sayLastWords() }
        context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
        lastWordsTimer = context.eventLoop.assumeIsolated().scheduleTask(in: Self.idleFatalDelay) { [self] in
            sayLastWords()
        }
    }

    /// Writes the kept FATAL, then closes: first only the sending side, so that the client reads
    /// the error and then end-of-file, then all of it after ``lingerAfterFatal``. Closing at once
    /// would make the kernel answer a client that writes at that moment with a reset.
    func sayLastWords() {
        guard let buffer = lastWords, let channel = context?.channel else { return }
        lastWords = nil
        lastWordsTimer?.cancel()
        lastWordsTimer = nil
        channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
        channel.writeAndFlush(buffer).whenComplete { _ in
            channel.close(mode: .output).whenFailure { _ in channel.close(promise: nil) }
        }
        channel.eventLoop.scheduleTask(in: Self.lingerAfterFatal) { channel.close(promise: nil) }
    }

    /// Keeps `bytes` from `connection` when they are an error the backend sent on its own while
    /// the client waited for nothing (or follow one already kept). Returns whether it kept them.
    ///
    /// Only a read that is exactly one whole ErrorResponse counts: the trackers have already seen
    /// the bytes, so the reply to a query (an ErrorResponse with its ReadyForQuery in the same
    /// read) also leaves every connection quiescent, and must go to the client at once.
    func holdIdleError(_ connection: BackendConnection, _ bytes: ByteBuffer) -> Bool {
        let node = connection.node.id
        if idleErrors[node] != nil {
            idleErrors[node]!.writeImmutableBuffer(bytes)
            return true
        }
        guard bytes.getInteger(at: bytes.readerIndex, as: UInt8.self) == UInt8(ascii: "E"),
              let length = bytes.getInteger(at: bytes.readerIndex + 1, as: Int32.self),
              Int(length) + 1 == bytes.readableBytes,
              clientWaitsForNothing else { return false }
        idleErrors[node] = bytes
        return true
    }

    /// The client speaks while backends' idle errors are kept (their connections did not close):
    /// they go the usual way first.
    func releaseIdleErrors() {
        let kept = idleErrors
        idleErrors.removeAll()
        for (node, bytes) in kept.sorted(by: { $0.key < $1.key }) {
            guard let connection = connection(for: node) else { continue }
            dispatchOutput(connection, bytes)
        }
        context.flush()
    }
}
