import NIOCore
import NIOSSL
import NIOTLS
import PostgresWire

/// Asks a freshly connected backend for TLS (an SSLRequest), reads its one-byte answer and,
/// on `S`, runs the TLS handshake; the login starts once this is over. Added first in the
/// backend channel's pipeline, gone when it completes.
final class BackendTLSUpgrade: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Why the backend connection cannot be used.
    struct Refusal: Error, CustomStringConvertible {
        var description: String
    }

    private let policy: BackendTLS
    private let serverHostname: String?
    private let promise: EventLoopPromise<Void>
    private var answered = false

    /// Starts the upgrade on `channel` (active, on its event loop). The future succeeds when the
    /// login may start (TLS established, or refused by the node under `prefer`).
    static func start(on channel: Channel, policy: BackendTLS, host: String) -> EventLoopFuture<Void> {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        // An IP address is not a valid SNI name: without a name, verify-full checks the
        // certificate against the address connected to.
        let isAddress = (try? SocketAddress(ipAddress: host, port: 0)) != nil
        let hostname = policy.mode == .verifyFull && !isAddress ? host : nil
        do {
            try channel.pipeline.syncOperations.addHandler(
                BackendTLSUpgrade(policy: policy, serverHostname: hostname, promise: promise), position: .first)
        } catch {
            promise.fail(error)
        }
        return promise.futureResult
    }

    private init(policy: BackendTLS, serverHostname: String?, promise: EventLoopPromise<Void>) {
        self.policy = policy
        self.serverHostname = serverHostname
        self.promise = promise
    }

    func handlerAdded(context: ChannelHandlerContext) {
        var request = context.channel.allocator.buffer(capacity: 8)
        request.writeInteger(Int32(8))
        request.writeInteger(ProtocolCode.sslRequest)
        context.writeAndFlush(wrapOutboundOut(request), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return context.fireChannelRead(data) }
        var bytes = unwrapInboundIn(data)
        guard let answer = bytes.readInteger(as: UInt8.self) else { return }
        answered = true
        switch answer {
        case UInt8(ascii: "S"):
            // Anything after `S` before the handshake would be unencrypted: refuse it.
            guard bytes.readableBytes == 0 else { return fail(context, "the server sent unencrypted data after accepting SSL") }
            guard let sslContext = policy.context else { return fail(context, "no TLS context") }
            do {
                let client = try NIOSSLClientHandler(context: sslContext, serverHostname: serverHostname)
                let watcher = BackendHandshakeWatcher(promise: promise)
                try context.pipeline.syncOperations.addHandlers([client, watcher], position: .after(self))
            } catch {
                return fail(context, "cannot start TLS: \(error)")
            }
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        case UInt8(ascii: "N") where policy.mode == .prefer:
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            promise.succeed()
        case UInt8(ascii: "N"):
            fail(context, "the server does not support SSL, but backend_sslmode = \(policy.mode.rawValue) requires it")
        default:
            fail(context, "the server answered the SSL request with neither S nor N")
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !answered { promise.fail(Refusal(description: "the server closed the connection during the SSL request")) }
        context.fireChannelInactive()
    }

    private func fail(_ context: ChannelHandlerContext, _ reason: String) {
        promise.fail(Refusal(description: reason))
        context.close(promise: nil)
    }
}

/// Completes the upgrade when the backend's TLS handshake does, or fails it with the reason.
final class BackendHandshakeWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let promise: EventLoopPromise<Void>
    private var done = false

    init(promise: EventLoopPromise<Void>) {
        self.promise = promise
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if !done, case .handshakeCompleted = event as? TLSUserEvent {
            done = true
            promise.succeed()
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if !done {
            done = true
            promise.fail(BackendTLSUpgrade.Refusal(description: "TLS handshake failed: \(Self.describe(error))"))
            context.close(promise: nil)
            return
        }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !done {
            done = true
            promise.fail(BackendTLSUpgrade.Refusal(description: "the server closed the connection during the TLS handshake"))
        }
        context.fireChannelInactive()
    }

    /// BoringSSL's error stack, shortened to what an operator can act on.
    static func describe(_ error: Error) -> String {
        let text = "\(error)"
        if text.contains("CERTIFICATE_VERIFY_FAILED") { return "the server certificate could not be verified against ssl_ca_cert (\(text))" }
        return text
    }
}
