import NIOCore
import NIOPosix
import PostgresWire

extension BackendConnection {
    /// How long a cancel request's socket may stay open before SwiftPool closes it.
    static let cancelSendTimeout = TimeAmount.seconds(5)

    /// Sends a CancelRequest for this connection's backend process to its node. The request
    /// counts as in flight until the server closed its socket (it has signalled the backend by
    /// then), so that a pool does not lend the connection to another client before
    /// (``whenNoCancelInFlight(_:)``). Called on the connection's event loop.
    func sendCancel() {
        let eventLoop = channel.eventLoop
        let backendKey = backendKey
        cancelSent()
        let sender = NIOLoopBound(self, eventLoop: eventLoop)
        let bootstrap = ClientBootstrap(group: eventLoop).connectTimeout(Self.cancelSendTimeout)
        let connecting = node.isUnixSocket
            ? bootstrap.connect(unixDomainSocketPath: node.socketPath)
            : bootstrap.connect(host: node.host, port: node.port)
        connecting.whenComplete { result in
            switch result {
            case .success(let channel):
                var buffer = channel.allocator.buffer(capacity: 16)
                StartupPacket.cancel(backendKey).encode(into: &buffer)
                channel.writeAndFlush(buffer).whenFailure { _ in channel.close(promise: nil) }
                // A server that keeps the socket open does not hold the connection for long.
                let giveUp = channel.eventLoop.scheduleTask(in: Self.cancelSendTimeout) { channel.close(promise: nil) }
                channel.closeFuture.whenComplete { _ in
                    giveUp.cancel()
                    sender.value.cancelDone()
                }
            case .failure:
                sender.value.cancelDone()
            }
        }
    }
}
