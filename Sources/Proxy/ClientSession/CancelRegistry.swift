import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PostgresWire

/// Maps the BackendKeyData SwiftPool gave its clients to the backend that runs each client's
/// queries, so that a CancelRequest reaches the right backend process.
public final class CancelRegistry: Sendable {
    struct Target: Sendable {
        var node: BackendNode
        var backendKey: BackendKey
    }

    private struct State {
        var targets: [BackendKey: Target?] = [:]
        var nextProcessID: Int32 = 1
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    /// A fresh key for a new client session.
    public func register() -> BackendKey {
        state.withLockedValue { state in
            var key: BackendKey
            repeat {
                key = BackendKey(processID: state.nextProcessID, secretKey: Int32.random(in: Int32.min...Int32.max))
                state.nextProcessID = state.nextProcessID == Int32.max ? 1 : state.nextProcessID + 1
            } while state.targets[key] != nil
            state.targets[key] = .some(nil)
            return key
        }
    }

    func setTarget(_ target: Target?, for key: BackendKey) {
        state.withLockedValue { state in
            if state.targets[key] != nil { state.targets[key] = .some(target) }
        }
    }

    public func unregister(_ key: BackendKey) {
        state.withLockedValue { _ = $0.targets.removeValue(forKey: key) }
    }

    public var count: Int { state.withLockedValue { $0.targets.count } }

    /// Forwards a cancel for `key` to its backend. Unknown keys are ignored, as PostgreSQL does.
    func cancel(_ key: BackendKey, on eventLoop: EventLoop) {
        guard case .some(.some(let target)) = state.withLockedValue({ $0.targets[key] }) else { return }
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
