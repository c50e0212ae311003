import Logging
import NIOCore
import NIOSSL
import NIOTLS

/// The first handler of a client connection: reads the first packet and sets up TLS as
/// ``TLSNegotiation`` decides, then removes itself. The session handler behind it only ever
/// sees the plain-text protocol, starting with the startup packet.
final class ClientTLSNegotiator: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let tls: ClientTLS?
    private let statistics: TLSStatistics
    private let logger: Logger
    private var negotiation: TLSNegotiation
    private var buffered: ByteBuffer?
    private var done = false

    init(tls: ClientTLS?, statistics: TLSStatistics, logger: Logger) {
        self.tls = tls
        self.statistics = statistics
        self.logger = logger
        self.negotiation = TLSNegotiation(tlsEnabled: tls != nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return context.fireChannelRead(data) }
        var bytes = unwrapInboundIn(data)
        if var held = buffered {
            held.writeBuffer(&bytes)
            bytes = held
        }
        buffered = nil
        while true {
            switch negotiation.decide(bytes) {
            case .needMore:
                buffered = bytes
                return
            case .refuseGSSEncryption:
                bytes.moveReaderIndex(forwardBy: 8)
                context.writeAndFlush(wrapOutboundOut(answer("N", context)), promise: nil)
                if bytes.readableBytes == 0 { return }
            case .upgrade:
                context.writeAndFlush(wrapOutboundOut(answer("S", context)), promise: nil)
                return startTLS(context: context, direct: false, pending: nil)
            case .directTLS:
                return startTLS(context: context, direct: true, pending: bytes)
            case .passThrough:
                return finish(context: context, pending: bytes)
            case .refuse(let reason):
                logger.warning("client refused before startup", metadata: ["error": "\(reason)"])
                statistics.failed(.protocolViolation)
                done = true
                context.close(promise: nil)
                return
            }
        }
    }

    private func answer(_ letter: Character, _ context: ChannelHandlerContext) -> ByteBuffer {
        var buffer = context.channel.allocator.buffer(capacity: 1)
        buffer.writeInteger(letter.asciiValue!)
        return buffer
    }

    /// Puts a TLS server handler (and its outcome watcher) right behind this one, then hands
    /// it what the client already sent.
    private func startTLS(context: ChannelHandlerContext, direct: Bool, pending: ByteBuffer?) {
        guard let tls else { return finish(context: context, pending: pending) }
        do {
            let watcher = TLSHandshakeWatcher(requireALPN: direct, statistics: statistics, logger: logger)
            try context.pipeline.syncOperations.addHandlers([tls.makeHandler(logger: logger), watcher], position: .after(self))
        } catch {
            context.close(promise: nil)
            return
        }
        statistics.started(direct: direct)
        finish(context: context, pending: pending)
    }

    private func finish(context: ChannelHandlerContext, pending: ByteBuffer?) {
        done = true
        if let pending, pending.readableBytes > 0 {
            context.fireChannelRead(wrapInboundOut(pending))
            context.fireChannelReadComplete()
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

/// Sits behind the TLS handler for the handshake: counts its outcome, checks ALPN for direct
/// TLS, then removes itself. A failed handshake closes the connection (the TLS handler's error
/// reaches the session handler, which closes).
final class TLSHandshakeWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let requireALPN: Bool
    private let statistics: TLSStatistics
    private let logger: Logger
    private var completed = false

    init(requireALPN: Bool, statistics: TLSStatistics, logger: Logger) {
        self.requireALPN = requireALPN
        self.statistics = statistics
        self.logger = logger
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case .handshakeCompleted(let negotiated) = event as? TLSUserEvent else {
            return context.fireUserInboundEventTriggered(event)
        }
        completed = true
        if requireALPN && negotiated != ClientTLS.alpnProtocol {
            // PostgreSQL refuses direct TLS without ALPN: it protects against cross-protocol
            // attacks.
            logger.warning("direct TLS connection refused: the client did not negotiate ALPN \"postgresql\"")
            statistics.failed(.noALPN)
            context.close(promise: nil)
            return
        }
        let version = try? context.pipeline.syncOperations.nioSSL_tlsVersion()
        statistics.succeeded(version: version.flatMap { $0 })
        context.fireUserInboundEventTriggered(event)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if !completed {
            completed = true
            statistics.failed(TLSStatistics.Failure(error))
            logger.info("client TLS handshake failed", metadata: ["error": "\(error)"])
        }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !completed {
            completed = true
            statistics.failed(.closedDuringHandshake)
        }
        context.fireChannelInactive()
    }
}
