import Configuration
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Synchronization

/// Pgpool-II's PCP port (`pcp_listen_addresses`:`pcp_port` and `<pcp_socket_dir>/.s.PGSQL.<pcp_port>`):
/// md5 authentication against pcp.conf, then the pcp_* programs' commands.
public final class PCPServer: Sendable {
    private let group: EventLoopGroup
    private let responder: PCPResponder
    private let users: @Sendable () -> PCPUsers
    private let logger: Logger
    private let limits: Limits
    private let open = PCPConnectionCount()
    private let channels = NIOLockedValueBox<[Channel]>([])

    /// What one client may hold of the PCP port.
    public struct Limits: Sendable {
        /// Connections at once; more are refused with a FATAL.
        public var maxConnections: Int
        /// How long a connection may stay unauthenticated.
        public var authenticationTimeout: Duration

        public init(maxConnections: Int = 32, authenticationTimeout: Duration = .seconds(60)) {
            self.maxConnections = maxConnections
            self.authenticationTimeout = authenticationTimeout
        }
    }

    /// - Parameter users: pcp.conf's users as they are now (a reload may change them).
    public init(group: EventLoopGroup, responder: PCPResponder, users: @escaping @Sendable () -> PCPUsers, logger: Logger,
                limits: Limits = Limits()) {
        self.group = group
        self.responder = responder
        self.users = users
        self.logger = logger
        self.limits = limits
    }

    public func start(addresses: [String], port: Int, socketDirectory: String) async throws {
        var bound: [Channel] = []
        do {
            for host in listenHosts(addresses, any: "0.0.0.0") {
                bound.append(try await bootstrap().bind(host: host, port: port).get())
                logger.info("PCP listening", metadata: ["address": "\(host):\(port)"])
            }
            if !socketDirectory.isEmpty {
                let path = "\(socketDirectory)/.s.PGSQL.\(port)"
                bound.append(try await bootstrap().bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get())
                logger.info("PCP listening", metadata: ["socket": "\(path)"])
            }
        } catch {
            for channel in bound { try? await channel.close() }
            throw error
        }
        channels.withLockedValue { $0 = bound }
    }

    public func stop() async {
        for channel in channels.withLockedValue({ channels in defer { channels = [] }; return channels }) {
            try? await channel.close()
        }
    }

    private func bootstrap() -> ServerBootstrap {
        let responder = self.responder
        let users = self.users
        let logger = self.logger
        let limits = self.limits
        let open = self.open
        return ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let session = PCPSession(users: users()) {
                        var random = SystemRandomNumberGenerator()
                        return (0..<4).map { _ in UInt8.random(in: 0...255, using: &random) }
                    }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(PCPMessageDecoder()))
                    try channel.pipeline.syncOperations.addHandler(
                        PCPChannelHandler(session: session, responder: responder, logger: logger, limits: limits, open: open))
                }
            }
    }
}

/// One PCP connection: feeds packets to the session machine and runs its commands one at a time.
final class PCPChannelHandler: ChannelInboundHandler {
    typealias InboundIn = PCPMessage
    typealias OutboundOut = ByteBuffer

    private var session: PCPSession
    private let responder: PCPResponder
    private let logger: Logger
    private var queue: [PCPMessage] = []
    private var busy = false
    private var closing = false
    private let limits: PCPServer.Limits
    private let open: PCPConnectionCount
    private var counted = false
    private var authTimer: Scheduled<Void>?

    init(session: PCPSession, responder: PCPResponder, logger: Logger, limits: PCPServer.Limits, open: PCPConnectionCount) {
        self.session = session
        self.responder = responder
        self.logger = logger
        self.limits = limits
        self.open = open
    }

    func channelActive(context: ChannelHandlerContext) {
        guard open.enter(limit: limits.maxConnections) else {
            logger.warning("PCP connection refused: too many connections", metadata: ["limit": "\(limits.maxConnections)"])
            closeAfter([.error(severity: "FATAL", message: "too many PCP connections",
                               detail: "at most \(limits.maxConnections) PCP connections are served at once")], context: context)
            return
        }
        counted = true
        let loop = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let nanoseconds = limits.authenticationTimeout.components.seconds * 1_000_000_000
            + limits.authenticationTimeout.components.attoseconds / 1_000_000_000
        authTimer = context.eventLoop.scheduleTask(in: .nanoseconds(nanoseconds)) {
            let (handler, context) = loop.value
            guard handler.session.user == nil, !handler.closing else { return }
            handler.logger.warning("PCP connection closed: no authentication within the timeout")
            handler.closeAfter([.error(severity: "FATAL", message: "authentication timeout",
                                       detail: "the PCP client did not authenticate in time")], context: context)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        authTimer?.cancel()
        if counted {
            counted = false
            open.leave()
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        queue.append(unwrapInboundIn(data))
        drain(context: context)
    }

    private func drain(context: ChannelHandlerContext) {
        while !busy, !closing, !queue.isEmpty {
            let message = queue.removeFirst()
            switch session.receive(message) {
            case .send(let replies):
                write(replies, context: context)
            case .fatal(let reply):
                logger.warning("PCP connection refused", metadata: ["reason": "\(reply.strings.dropFirst(2).first ?? "")"])
                closeAfter([reply], context: context)
            case .close:
                closing = true
                context.close(promise: nil)
            case .execute(let command):
                busy = true
                let user = session.user ?? ""
                let loop = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                let responder = self.responder
                Task {
                    let replies = await responder.respond(to: command, user: user)
                    loop.eventLoop.execute {
                        let (handler, context) = loop.value
                        handler.busy = false
                        handler.write(replies, context: context)
                        handler.drain(context: context)
                    }
                }
            }
        }
    }

    private func write(_ replies: [PCPMessage], context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        var buffer = context.channel.allocator.buffer(capacity: 256)
        for reply in replies { reply.write(into: &buffer) }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    private func closeAfter(_ replies: [PCPMessage], context: ChannelHandlerContext) {
        closing = true
        var buffer = context.channel.allocator.buffer(capacity: 256)
        for reply in replies { reply.write(into: &buffer) }
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard !closing else { return }
        let detail: String
        if case PCPFramingError.invalidLength(let length) = error {
            detail = "incorrect packet length (\(length))"
        } else {
            detail = "\(error)"
        }
        logger.warning("invalid PCP packet", metadata: ["detail": "\(detail)"])
        closeAfter([.error(severity: "FATAL", message: "invalid PCP packet", detail: detail)], context: context)
    }
}

/// PCP connections open now, shared by every listener.
final class PCPConnectionCount: Sendable {
    private let count = Atomic<Int>(0)

    /// Takes a place unless `limit` are taken.
    func enter(limit: Int) -> Bool {
        while true {
            let current = count.load(ordering: .relaxed)
            guard current < limit else { return false }
            if count.compareExchange(expected: current, desired: current + 1, ordering: .relaxed).exchanged { return true }
        }
    }

    func leave() {
        count.subtract(1, ordering: .relaxed)
    }
}
