import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Which port a message came in on.
public enum WatchdogPort: String, Sendable {
    case watchdog
    case heartbeat
}

/// What the transport hands the service, in arrival order.
enum WatchdogInbound: Sendable {
    case message(WatchdogEnvelope, port: WatchdogPort, source: String)
    case rejected(WatchdogRejection, port: WatchdogPort, source: String)
}

/// The sockets of the watchdog: a TCP listener on `wd_port` (length-prefixed signed messages),
/// one outgoing TCP connection per member (re-dialled when it drops), and a UDP socket for
/// heartbeats. Incoming bytes are checked with the sealer here and queued, in order, for the
/// service.
final class WatchdogTransport: Sendable {
    private let group: any EventLoopGroup
    private let sealer: WatchdogSealer
    private let logger: Logger
    private let inbound: AsyncStream<WatchdogInbound>.Continuation
    let incoming: AsyncStream<WatchdogInbound>
    private let listener = NIOLockedValueBox<(any Channel)?>(nil)
    private let datagram = NIOLockedValueBox<(any Channel)?>(nil)
    private let links = NIOLockedValueBox<[String: PeerLink]>([:])
    private let datagramTargets = NIOLockedValueBox<[String: SocketAddress]>([:])

    init(group: any EventLoopGroup, sealer: WatchdogSealer, logger: Logger) {
        self.group = group
        self.sealer = sealer
        self.logger = logger
        (incoming, inbound) = AsyncStream.makeStream(of: WatchdogInbound.self, bufferingPolicy: .bufferingNewest(4096))
    }

    /// Binds the watchdog port on `host` and the heartbeat port on every address.
    func start(host: String, wdPort: Int, heartbeatPort: Int?) async throws {
        let sealer = self.sealer
        let inbound = self.inbound
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let source = channel.remoteAddress?.ipAddress ?? "unknown"
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(WatchdogFrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(
                        WatchdogStreamHandler(sealer: sealer, source: source, inbound: inbound))
                }
            }
            .bind(host: host, port: wdPort).get()
        listener.withLockedValue { $0 = server }
        guard let heartbeatPort else { return }
        let udp = try await DatagramBootstrap(group: group)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(WatchdogDatagramHandler(sealer: sealer, inbound: inbound))
                }
            }
            .bind(host: "0.0.0.0", port: heartbeatPort).get()
        datagram.withLockedValue { $0 = udp }
    }

    /// Sends a signed message to `member` over its TCP link; dropped while the link is down (the
    /// protocol repeats everything that matters).
    func send(_ envelope: WatchdogEnvelope, to member: String, host: String, port: Int) {
        let bytes = sealer.seal(envelope)
        let link = links.withLockedValue { links in
            if let existing = links[member] { return existing }
            let created = PeerLink(group: group, host: host, port: port, logger: logger)
            links[member] = created
            return created
        }
        link.send(bytes)
    }

    /// Sends a heartbeat datagram to each target.
    func sendHeartbeat(_ envelope: WatchdogEnvelope, to targets: [HeartbeatTarget]) {
        guard let channel = datagram.withLockedValue({ $0 }) else { return }
        let bytes = sealer.seal(envelope)
        for target in targets {
            let key = "\(target.host):\(target.port)"
            var address = datagramTargets.withLockedValue { $0[key] }
            if address == nil {
                address = try? SocketAddress.makeAddressResolvingHost(target.host, port: target.port)
                if let address { datagramTargets.withLockedValue { $0[key] = address } }
            }
            guard let address else { continue }
            var buffer = channel.allocator.buffer(capacity: bytes.count)
            buffer.writeBytes(bytes)
            channel.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: buffer), promise: nil)
        }
    }

    /// Writes whatever is queued, then closes every socket.
    func stop() async {
        for link in links.withLockedValue({ Array($0.values) }) { await link.close() }
        try? await listener.withLockedValue { $0 }?.close()
        try? await datagram.withLockedValue { $0 }?.close()
        inbound.finish()
    }

    /// Where heartbeats go.
    struct HeartbeatTarget: Sendable, Hashable {
        var host: String
        var port: Int
    }
}

/// One outgoing TCP connection to a member. Messages written while it is down wait (a few, the
/// newest kept) for the next connection attempt, which comes at most every half second.
final class PeerLink: Sendable {
    private struct State {
        var channel: (any Channel)?
        var connecting = false
        var lastAttempt: NIODeadline = .uptimeNanoseconds(0)
        var pending: [[UInt8]] = []
    }

    private static let retryInterval = TimeAmount.milliseconds(500)
    private static let maxPending = 32

    private let group: any EventLoopGroup
    private let host: String
    private let port: Int
    private let logger: Logger
    private let state = NIOLockedValueBox(State())

    init(group: any EventLoopGroup, host: String, port: Int, logger: Logger) {
        self.group = group
        self.host = host
        self.port = port
        self.logger = logger
    }

    func send(_ bytes: [UInt8]) {
        enum Next {
            case write(any Channel)
            case connect(after: TimeAmount)
            case wait
        }
        let next: Next = state.withLockedValue { state in
            if let channel = state.channel, channel.isActive { return .write(channel) }
            state.channel = nil
            state.pending.append(bytes)
            if state.pending.count > Self.maxPending { state.pending.removeFirst(state.pending.count - Self.maxPending) }
            guard !state.connecting else { return .wait }
            state.connecting = true
            let due = state.lastAttempt + Self.retryInterval
            return .connect(after: max(.zero, due - .now()))
        }
        switch next {
        case .write(let channel): write(bytes, to: channel)
        case .connect(let delay):
            if delay == .zero {
                connect()
            } else {
                group.next().scheduleTask(in: delay) { self.connect() }
            }
        case .wait: break
        }
    }

    private func connect() {
        state.withLockedValue { $0.lastAttempt = .now() }
        ClientBootstrap(group: group)
            .connectTimeout(.seconds(1))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: host, port: port)
            .whenComplete { [self] result in
                let (channel, queued): ((any Channel)?, [[UInt8]]) = state.withLockedValue { state in
                    state.connecting = false
                    guard case .success(let channel) = result else {
                        // Unreachable: what waited is stale by the next try; the protocol repeats what matters.
                        state.pending = []
                        return (nil, [])
                    }
                    state.channel = channel
                    defer { state.pending = [] }
                    return (channel, state.pending)
                }
                guard let channel else { return }
                for bytes in queued { write(bytes, to: channel) }
            }
    }

    private func write(_ bytes: [UInt8], to channel: any Channel) {
        var buffer = channel.allocator.buffer(capacity: bytes.count + 4)
        buffer.writeInteger(UInt32(bytes.count))
        buffer.writeBytes(bytes)
        channel.writeAndFlush(buffer).whenFailure { [self] _ in
            state.withLockedValue { if $0.channel === channel { $0.channel = nil } }
            channel.close(promise: nil)
        }
    }

    func close() async {
        let channel = state.withLockedValue { state in
            defer { state.channel = nil }
            return state.channel
        }
        try? await channel?.close()
    }
}

/// Splits the watchdog stream into frames: a 4-byte length, then the sealed message.
public struct WatchdogFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = [UInt8]

    public struct Oversized: Error {}

    public init() {}

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let bytes = try Self.next(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(bytes))
        return .continue
    }

    /// The next whole frame's sealed message, or nil (consuming nothing) when more bytes are needed.
    public static func next(from buffer: inout ByteBuffer) throws(Oversized) -> [UInt8]? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return nil }
        guard length <= WatchdogSealer.maxMessageSize else { throw Oversized() }
        guard buffer.readableBytes >= 4 + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        return buffer.readBytes(length: Int(length)) ?? []
    }
}

/// Opens each frame of an incoming watchdog connection; garbage closes the connection.
final class WatchdogStreamHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = [UInt8]

    private let sealer: WatchdogSealer
    private let source: String
    private let inbound: AsyncStream<WatchdogInbound>.Continuation

    init(sealer: WatchdogSealer, source: String, inbound: AsyncStream<WatchdogInbound>.Continuation) {
        self.sealer = sealer
        self.source = source
        self.inbound = inbound
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch sealer.open(unwrapInboundIn(data), limit: WatchdogSealer.maxMessageSize) {
        case .success(let envelope):
            inbound.yield(.message(envelope, port: .watchdog, source: source))
        case .failure(let rejection):
            inbound.yield(.rejected(rejection, port: .watchdog, source: source))
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let reason: WatchdogRejection = error is WatchdogFrameDecoder.Oversized ? .oversized : .malformed
        if error is WatchdogFrameDecoder.Oversized || error is ByteToMessageDecoderError {
            inbound.yield(.rejected(reason, port: .watchdog, source: source))
        }
        context.close(promise: nil)
    }
}

/// Opens heartbeat datagrams.
final class WatchdogDatagramHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let sealer: WatchdogSealer
    private let inbound: AsyncStream<WatchdogInbound>.Continuation

    init(sealer: WatchdogSealer, inbound: AsyncStream<WatchdogInbound>.Continuation) {
        self.sealer = sealer
        self.inbound = inbound
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        let source = envelope.remoteAddress.ipAddress ?? "unknown"
        let bytes = Array(envelope.data.readableBytesView)
        switch sealer.open(bytes, limit: WatchdogSealer.maxDatagramSize) {
        case .success(let message): inbound.yield(.message(message, port: .heartbeat, source: source))
        case .failure(let rejection): inbound.yield(.rejected(rejection, port: .heartbeat, source: source))
        }
    }
}
