import NIOCore
import NIOPosix
import PostgresWire

/// The channel handler of a backend connection: runs the login, then hands every read to the
/// `BackendConnection`.
final class BackendChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Phase {
        case idle
        case startingUp(BackendStartupMachine, MessageSplitter, StartupRequest)
        case established(BackendConnection)
        case failed
    }

    /// What the login needs besides the channel.
    struct StartupRequest {
        var node: BackendNode
        var key: PoolKey
        var maxMessageLength: Int
        var completion: (Result<BackendConnection, BackendConnectError>) -> Void
    }

    private var phase = Phase.idle
    /// The connection once logged in (also in `phase`): asked at every read without copying the
    /// phase out.
    private var established: BackendConnection?
    private var lastError: Error?

    /// Sends the startup packet and runs the login.
    func begin(context: ChannelHandlerContext, machine: BackendStartupMachine, request: StartupRequest) {
        phase = .startingUp(machine, MessageSplitter(maxMessageLength: request.maxMessageLength), request)
        var buffer = context.channel.allocator.buffer(capacity: 128)
        StartupPacket.startup(request.key.startup).encode(into: &buffer)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        if let established { return established.received(bytes) }
        switch phase {
        case .established(let connection):
            connection.received(bytes)
        case .startingUp(var machine, var splitter, let request):
            var outcome: BackendStartupMachine.Action = .none
            var replies: [ByteBuffer] = []
            do {
                try splitter.feed(bytes) { message in
                    guard case .none = outcome else { return }
                    switch machine.receive(message) {
                    case .none:
                        break
                    case .send(let reply):
                        replies.append(reply)
                    case let result:
                        outcome = result
                    }
                }
            } catch {
                outcome = .fail(.protocolViolation("\(error)"))
            }
            // The phase is settled before anything is written: a failing write closes the
            // channel re-entrantly, and channelInactive must see the current phase.
            switch outcome {
            case .none, .send:
                phase = .startingUp(machine, splitter, request)
                for reply in replies { context.write(wrapOutboundOut(reply), promise: nil) }
                if !replies.isEmpty { context.flush() }
            case .ready(let status):
                let connection = BackendConnection(
                    channel: context.channel, node: request.node, key: request.key, authMethod: machine.authMethod,
                    backendKey: machine.backendKey ?? BackendKey(processID: 0, secretKey: 0),
                    parameters: machine.parameters, maxMessageLength: request.maxMessageLength, now: .now())
                connection.tracker.backendSentReadyForQuery(status)
                connection.context = context
                phase = .established(connection)
                established = connection
                request.completion(.success(connection))
            case .fail(let failure):
                phase = .failed
                request.completion(.failure(.loginFailed(request.node, failure, askedMethod: machine.authMethod)))
                context.close(promise: nil)
            }
        case .idle, .failed:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let connection = established, let owner = connection.owner {
            owner.backendDidFinishReading(connection)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        guard case .established(let connection) = phase else { return }
        connection.isWritable = context.channel.isWritable
        connection.owner?.backendWritabilityChanged(connection, isWritable: connection.isWritable)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        lastError = error
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        switch phase {
        case .established(let connection):
            connection.context = nil
            connection.channelClosed(error: lastError)
        case .startingUp(_, _, let request):
            request.completion(.failure(.closedDuringLogin(request.node)))
        case .idle, .failed:
            break
        }
        phase = .failed
        established = nil
    }
}

/// Why SwiftPool could not get a backend connection.
enum BackendConnectError: Error {
    case unreachable(BackendNode, Error)
    case closedDuringLogin(BackendNode)
    /// `askedMethod` is how the backend asked SwiftPool to authenticate (trust if it never asked).
    case loginFailed(BackendNode, BackendStartupFailure, askedMethod: AuthMethod)
    case timedOut(BackendNode)

    var node: BackendNode {
        switch self {
        case .unreachable(let node, _), .closedDuringLogin(let node), .loginFailed(let node, _, _), .timedOut(let node):
            return node
        }
    }

    /// Why a connect failed, for a client's error message: the last attempt's error when the
    /// connect tried several addresses (NIO's own description lists every attempt's internals).
    static func reason(_ error: Error) -> String {
        if let connect = error as? NIOConnectionError, let last = connect.connectionErrors.last { return "\(last.error)" }
        return "\(error)"
    }
}

extension BackendConnectError: CustomStringConvertible {
    var description: String {
        switch self {
        case .unreachable(let node, let error): return "\(node): \(Self.reason(error))"
        case .closedDuringLogin(let node): return "\(node) closed the connection during login"
        case .loginFailed(let node, let failure, _): return "\(node): login failed: \(failure)"
        case .timedOut(let node): return "\(node): timed out connecting"
        }
    }
}
