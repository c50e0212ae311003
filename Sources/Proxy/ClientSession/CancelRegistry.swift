import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PostgresWire

/// Maps the BackendKeyData SwiftPool gave its clients to the backend that runs each client's
/// queries, so that a CancelRequest reaches the right backend process.
///
/// The registry's lock is taken when a session starts and ends and when a cancel request
/// arrives; the target itself sits in the session's ``Registration`` under a lock of its own,
/// since a transaction-mode session moves it at every unit of work and sessions on other event
/// loops should not wait for that (or pull the registry's memory between cores).
public final class CancelRegistry: Sendable {
    struct Target: Sendable {
        var node: BackendNode
        var backendKey: BackendKey
    }

    /// One session's cancel key and where a cancel for it goes now.
    final class Registration: Sendable {
        let key: BackendKey
        private let target = NIOLockedValueBox<Target?>(nil)

        fileprivate init(key: BackendKey) {
            self.key = key
        }

        /// Where a cancel goes from now on (nil: nowhere, the session runs nothing).
        func setTarget(_ target: Target?) {
            self.target.withLockedValue { $0 = target }
        }

        var currentTarget: Target? { target.withLockedValue { $0 } }
    }

    private struct State {
        var registrations: [BackendKey: Registration] = [:]
        var nextProcessID: Int32 = 1
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    /// A fresh key for a new client session.
    func register() -> Registration {
        state.withLockedValue { state in
            var key: BackendKey
            repeat {
                key = BackendKey(processID: state.nextProcessID, secretKey: Int32.random(in: Int32.min...Int32.max))
                state.nextProcessID = state.nextProcessID == Int32.max ? 1 : state.nextProcessID + 1
            } while state.registrations[key] != nil
            let registration = Registration(key: key)
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

    /// Where a cancel for `key` goes now: nil for an unknown key or a session that runs nothing.
    func target(for key: BackendKey) -> Target? {
        state.withLockedValue { $0.registrations[key] }?.currentTarget
    }

    /// Forwards a cancel for `key` to its backend. Unknown keys are ignored, as PostgreSQL does.
    func cancel(_ key: BackendKey, on eventLoop: EventLoop) {
        guard let target = target(for: key) else { return }
        let bootstrap = ClientBootstrap(group: eventLoop).connectTimeout(.seconds(5))
        let connecting = target.node.isUnixSocket
            ? bootstrap.connect(unixDomainSocketPath: target.node.socketPath)
            : bootstrap.connect(host: target.node.host, port: target.node.port)
        connecting.whenSuccess { channel in
            var buffer = channel.allocator.buffer(capacity: 16)
            StartupPacket.cancel(target.backendKey).encode(into: &buffer)
            channel.writeAndFlush(buffer).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
