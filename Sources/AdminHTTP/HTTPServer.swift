import CMicroHTTPD
import Configuration
import Foundation
import Logging
import NIOConcurrencyHelpers

/// The embedded HTTP server (libmicrohttpd): a thread per connection, its own threads only, so
/// a slow request or a slow client never touches the data path. Requests are handed whole
/// (body included, up to `maxBodySize`) to a synchronous handler.
public final class HTTPServer: @unchecked Sendable {
    /// Limits that keep one client from holding the server.
    public struct Limits: Sendable {
        public var maxConnections: Int = 64
        /// A connection idle this long is closed (slow clients).
        public var idleTimeoutSeconds: Int = 10
        /// Memory per connection for the request line and headers; larger headers are refused.
        public var headerMemory: Int = 32 * 1024
        /// Larger bodies get 413.
        public var maxBodySize: Int = 1 << 20

        public init() {}
    }

    public typealias Handler = @Sendable (HTTPRequest) -> HTTPResponse

    private let context: ServerContext
    private let running = NIOLockedValueBox<Running>(Running())

    /// The daemons serving now (one per address) and the PEM copies libmicrohttpd reads.
    private struct Running {
        var daemons: [(daemon: OpaquePointer, address: String)] = []
        /// The certificate new daemons start with.
        var pem: PEMCopy?
        /// Every copy a daemon may still read (a few kB per reload), freed when the server stops.
        var kept: [PEMCopy] = []
    }

    public init(limits: Limits = Limits(), logger: Logger, handler: @escaping Handler) {
        context = ServerContext(handler: handler, limits: limits, logger: logger)
    }

    /// Listens on every address (`*` for all, `localhost` for the loopback addresses) at `port`;
    /// with `tls` (PEM key and certificate chain) it speaks HTTPS only.
    public func start(addresses: [String], port: Int, tls: (key: String, certificate: String)? = nil) throws {
        let pem = tls.map { PEMCopy(key: $0.key, certificate: $0.certificate) }
        var started: [(daemon: OpaquePointer, address: String)] = []
        let hosts = listenHosts(addresses, any: "0.0.0.0")
        for address in hosts.isEmpty ? ["127.0.0.1"] : hosts {
            let daemon = try Self.withSocketAddress(address, port: port) { socketAddress in
                startDaemon(port: port, address: socketAddress, ipv6: address.contains(":"), listenSocket: -1, pem: pem)
            }
            guard let daemon else {
                started.forEach { MHD_stop_daemon($0.daemon) }
                throw HTTPServerError("cannot listen on \(address):\(port)")
            }
            started.append((daemon, address))
            context.logger.info("HTTP server listening", metadata: ["address": "\(address):\(port)", "tls": "\(tls != nil)"])
        }
        running.withLockedValue {
            $0.daemons += started
            $0.pem = pem
            $0.kept += pem.map { [$0] } ?? []
        }
    }

    /// Serves new connections with another certificate and key (a reload): each daemon hands
    /// its listening socket to a new one and finishes its own requests; nothing stops listening.
    /// Returns false, keeping the running certificate, when the new one cannot be used.
    @discardableResult
    public func replaceCertificate(key: String, certificate: String) -> Bool {
        running.withLockedValue { running in
            let pem = PEMCopy(key: key, certificate: certificate)
            var replaced: [(daemon: OpaquePointer, address: String)] = []
            var retired: [OpaquePointer] = []
            var failed = false
            for (old, address) in running.daemons {
                let socket = MHD_quiesce_daemon(old)
                guard socket >= 0 else {
                    context.logger.error("HTTP server certificate not replaced: cannot hand over the listening socket", metadata: ["address": "\(address)"])
                    replaced.append((old, address))
                    failed = true
                    continue
                }
                let ipv6 = address.contains(":")
                // The new certificate, or the old one again when libmicrohttpd refuses it: the
                // quiesced daemon no longer accepts, so someone must take the socket.
                guard let fresh = startDaemon(port: 0, address: nil, ipv6: ipv6, listenSocket: socket, pem: pem)
                        ?? startDaemon(port: 0, address: nil, ipv6: ipv6, listenSocket: socket, pem: running.pem) else {
                    context.logger.error("HTTP server stopped listening: no daemon took over the socket", metadata: ["address": "\(address)"])
                    retired.append(old)
                    failed = true
                    continue
                }
                replaced.append((fresh, address))
                retired.append(old)
            }
            running.daemons = replaced
            running.kept.append(pem)
            if !failed { running.pem = pem }
            // The old daemons finish their requests off the caller's thread.
            let retiring = RetiringDaemons(daemons: retired, pems: running.kept,
                                           grace: Double(context.limits.idleTimeoutSeconds + 1))
            Thread.detachNewThread { retiring.stop() }
            return !failed
        }
    }

    /// Stops listening and waits for the running requests.
    public func stop() {
        let stopping = running.withLockedValue { running in defer { running = Running() }; return running }
        for (daemon, _) in stopping.daemons {
            MHD_stop_daemon(daemon)
        }
        withExtendedLifetime(stopping.kept) {}
    }

    private func startDaemon(port: Int, address: UnsafePointer<sockaddr>?, ipv6: Bool, listenSocket: Int32,
                             pem: PEMCopy?) -> OpaquePointer? {
        // poll(), not select(): with many clients SwiftPool's descriptors pass FD_SETSIZE. ITC lets
        // a reload hand the listening socket to a new daemon (MHD_quiesce_daemon).
        let flags = MHD_USE_INTERNAL_POLLING_THREAD.rawValue | MHD_USE_THREAD_PER_CONNECTION.rawValue
            | MHD_USE_POLL.rawValue | MHD_USE_ERROR_LOG.rawValue | MHD_USE_ITC.rawValue | (ipv6 ? MHD_USE_IPv6.rawValue : 0)
        return swiftpool_mhd_start(
            flags, UInt16(port), address, listenSocket, accessHandler, Unmanaged.passUnretained(context).toOpaque(),
            requestCompleted, UInt32(context.limits.maxConnections), UInt32(context.limits.idleTimeoutSeconds),
            context.limits.headerMemory, pem?.key, pem?.certificate)
    }

    private static func withSocketAddress<R>(_ address: String, port: Int, _ body: (UnsafePointer<sockaddr>) -> R) throws -> R {
        if address.contains(":") {
            var socketAddress = sockaddr_in6()
            socketAddress.sin6_family = sa_family_t(AF_INET6)
            socketAddress.sin6_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET6, address, &socketAddress.sin6_addr) == 1 else {
                throw HTTPServerError("\"\(address)\" is not an IP address")
            }
            return withUnsafePointer(to: &socketAddress) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1, body) }
        }
        var socketAddress = sockaddr_in()
        socketAddress.sin_family = sa_family_t(AF_INET)
        socketAddress.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, address, &socketAddress.sin_addr) == 1 else {
            throw HTTPServerError("\"\(address)\" is not an IP address")
        }
        return withUnsafePointer(to: &socketAddress) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1, body) }
    }
}

/// Daemons replaced by a reload: they no longer accept, finish the requests they hold (for at most
/// `grace` seconds, the idle timeout and a second) and stop, off the caller's thread, while the PEM
/// copies they read stay alive.
private struct RetiringDaemons: @unchecked Sendable {
    let daemons: [OpaquePointer]
    let pems: [PEMCopy]
    let grace: Double

    func stop() {
        let deadline = Date().addingTimeInterval(grace)
        while daemons.contains(where: { swiftpool_mhd_connection_count($0) > 0 }), Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        daemons.forEach { MHD_stop_daemon($0) }
        withExtendedLifetime(pems) {}
    }
}

/// C copies of a PEM key and certificate: libmicrohttpd keeps the pointers for its daemon's life.
final class PEMCopy: @unchecked Sendable {
    let key: UnsafeMutablePointer<CChar>
    let certificate: UnsafeMutablePointer<CChar>

    init(key: String, certificate: String) {
        self.key = strdup(key)
        self.certificate = strdup(certificate)
    }

    deinit {
        free(key)
        free(certificate)
    }
}

/// Why the HTTP server could not start.
public struct HTTPServerError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// What the C callbacks reach through their `cls` pointer.
final class ServerContext: Sendable {
    let handler: HTTPServer.Handler
    let limits: HTTPServer.Limits
    let logger: Logger

    init(handler: @escaping HTTPServer.Handler, limits: HTTPServer.Limits, logger: Logger) {
        self.handler = handler
        self.limits = limits
        self.logger = logger
    }
}

/// One request's state across the callback's calls (the body arrives in pieces).
final class RequestState {
    var body: [UInt8] = []
    var tooLarge = false
}

/// Collects query arguments or headers through MHD's iterator.
final class ValueCollector {
    var values: [String: String] = [:]
    var lowercaseKeys = false
}

private let collectValue: MHD_KeyValueIterator = { cls, _, key, value in
    guard let cls, let key else { return .YES }
    let collector = Unmanaged<ValueCollector>.fromOpaque(cls).takeUnretainedValue()
    let name = String(cString: key)
    collector.values[collector.lowercaseKeys ? name.lowercased() : name] = value.map { String(cString: $0) } ?? ""
    return .YES
}

private let requestCompleted: MHD_RequestCompletedCallback = { _, _, requestContext, _ in
    guard let requestContext, let state = requestContext.pointee else { return }
    Unmanaged<RequestState>.fromOpaque(state).release()
    requestContext.pointee = nil
}

private let accessHandler: MHD_AccessHandlerCallback = { cls, connection, url, method, _, uploadData, uploadDataSize, requestContext in
    guard let cls, let connection, let requestContext else { return .NO }
    let context = Unmanaged<ServerContext>.fromOpaque(cls).takeUnretainedValue()
    guard let statePointer = requestContext.pointee else {
        // First call: only the headers are known.
        requestContext.pointee = Unmanaged.passRetained(RequestState()).toOpaque()
        if let length = MHD_lookup_connection_value(connection, .HEADER_KIND, "Content-Length").flatMap({ Int(String(cString: $0)) }),
           length > context.limits.maxBodySize {
            return send(HTTPResponse.error(413, "payload_too_large", "request bodies are limited to \(context.limits.maxBodySize) bytes"),
                        on: connection)
        }
        return .YES
    }
    let state = Unmanaged<RequestState>.fromOpaque(statePointer).takeUnretainedValue()
    if let uploadDataSize, uploadDataSize.pointee > 0 {
        let size = uploadDataSize.pointee
        if state.body.count + size > context.limits.maxBodySize {
            state.tooLarge = true
        } else if let uploadData {
            uploadData.withMemoryRebound(to: UInt8.self, capacity: size) { state.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: size)) }
        }
        uploadDataSize.pointee = 0
        return .YES
    }
    if state.tooLarge {
        return send(HTTPResponse.error(413, "payload_too_large", "request bodies are limited to \(context.limits.maxBodySize) bytes"), on: connection)
    }
    let headers = ValueCollector()
    headers.lowercaseKeys = true
    let query = ValueCollector()
    _ = MHD_get_connection_values(connection, .HEADER_KIND, collectValue, Unmanaged.passUnretained(headers).toOpaque())
    _ = MHD_get_connection_values(connection, .GET_ARGUMENT_KIND, collectValue, Unmanaged.passUnretained(query).toOpaque())
    let request = HTTPRequest(
        method: method.map { String(cString: $0) } ?? "", path: url.map { String(cString: $0) } ?? "/",
        query: query.values, headers: headers.values, body: state.body)
    return send(context.handler(request), on: connection)
}

private func send(_ response: HTTPResponse, on connection: OpaquePointer) -> MHD_Result {
    var body = response.body
    let created = body.withUnsafeMutableBytes { bytes in
        MHD_create_response_from_buffer(bytes.count, bytes.baseAddress, .RESPMEM_MUST_COPY)
    }
    guard let created else { return .NO }
    defer { MHD_destroy_response(created) }
    _ = MHD_add_response_header(created, "Content-Type", response.contentType)
    _ = MHD_add_response_header(created, "Cache-Control", "no-store")
    for (name, value) in response.headers { _ = MHD_add_response_header(created, name, value) }
    return MHD_queue_response(connection, UInt32(response.status), created)
}
