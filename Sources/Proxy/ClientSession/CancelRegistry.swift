import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PostgresWire

/// Maps the BackendKeyData SwiftPool gave its clients to their sessions, so that a
/// CancelRequest reaches the session it names; the session, on its own event loop, sends it on
/// to the backend that runs its query (see ``CancelRoute``).
///
/// The registry's lock is taken when a session starts and ends and when a cancel request
/// arrives; nothing of a unit of work takes it.
public final class CancelRegistry: Sendable {
    /// One session's cancel key and how a cancel reaches it.
    final class Registration: Sendable {
        let key: BackendKey
        /// Hands a cancel request to the session (which hops to its event loop).
        let deliver: @Sendable () -> Void

        fileprivate init(key: BackendKey, deliver: @escaping @Sendable () -> Void) {
            self.key = key
            self.deliver = deliver
        }
    }

    private struct State {
        var registrations: [BackendKey: Registration] = [:]
        var nextProcessID: Int32 = 1
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    /// A fresh key for a new client session; `deliver` is called for each cancel request that
    /// names it.
    func register(deliver: @escaping @Sendable () -> Void) -> Registration {
        state.withLockedValue { state in
            var key: BackendKey
            repeat {
                key = BackendKey(processID: state.nextProcessID, secretKey: Int32.random(in: Int32.min...Int32.max))
                state.nextProcessID = state.nextProcessID == Int32.max ? 1 : state.nextProcessID + 1
            } while state.registrations[key] != nil
            let registration = Registration(key: key, deliver: deliver)
            state.registrations[key] = registration
            return registration
        }
    }

    func unregister(_ registration: Registration) {
        state.withLockedValue { state in
            if state.registrations[registration.key] === registration { state.registrations[registration.key] = nil }
        }
    }

    public var count: Int { state.withLockedValue { $0.registrations.count } }

    /// Hands a cancel for `key` to its session. Unknown keys are ignored, as PostgreSQL does.
    func cancel(_ key: BackendKey) {
        state.withLockedValue { $0.registrations[key] }?.deliver()
    }

    /// Sends a CancelRequest for `connection`'s backend process to its node. The connection
    /// counts it as in flight until the server closed the request's socket (it has signalled the
    /// backend by then), so that it is not lent to another client before. Called on the
    /// connection's event loop.
    static func send(to connection: BackendConnection, on eventLoop: EventLoop) {
        let node = connection.node
        let backendKey = connection.backendKey
        connection.cancelSent()
        let sender = NIOLoopBound(connection, eventLoop: eventLoop)
        let bootstrap = ClientBootstrap(group: eventLoop).connectTimeout(.seconds(5))
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
                let giveUp = channel.eventLoop.scheduleTask(in: sendTimeout) { channel.close(promise: nil) }
                channel.closeFuture.whenComplete { _ in
                    giveUp.cancel()
                    sender.value.cancelDone()
                }
            case .failure:
                sender.value.cancelDone()
            }
        }
    }

    /// How long a cancel request's socket may stay open before SwiftPool closes it.
    static let sendTimeout = TimeAmount.seconds(5)
}
