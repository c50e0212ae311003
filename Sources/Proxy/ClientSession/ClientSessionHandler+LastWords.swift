import NIOCore

/// How a session says its FATAL and leaves, so that the client reads the error as the answer
/// to something it asked and never as a reset connection.
extension ClientSessionHandler {
    /// How long a connection that got its FATAL is read on (what arrives is discarded) before
    /// it is closed, unless the client closes first.
    static let lingerAfterFatal = TimeAmount.seconds(1)

    /// Writes the FATAL, then closes: first only the sending side, so that the client reads the
    /// error and then end-of-file, then all of it after ``lingerAfterFatal``. Closing at once
    /// would make the kernel answer a client that writes at that moment with a reset.
    func sayLastWords(_ words: ByteBuffer) {
        guard let channel = context?.channel else { return }
        guard channel.isActive else { return channel.close(promise: nil) }
        channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
        channel.writeAndFlush(words).whenComplete { _ in
            channel.close(mode: .output).whenFailure { _ in channel.close(promise: nil) }
        }
        channel.eventLoop.scheduleTask(in: Self.lingerAfterFatal) { channel.close(promise: nil) }
    }
}
