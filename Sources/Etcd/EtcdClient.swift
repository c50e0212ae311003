import AsyncHTTPClient
import Configuration
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL

/// Why a request to etcd failed.
public enum EtcdError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No endpoint answered (refused, timed out, connection lost).
    case unreachable(String)
    /// etcd answered with an error (gRPC code and message).
    case rejected(code: Int, message: String)
    /// etcd refused the user name or password.
    case authenticationFailed(String)
    /// The answer was not what the gateway sends.
    case malformed(String)
    /// A file the settings name cannot be used (TLS certificates and keys).
    case settings(String)

    public var description: String {
        switch self {
        case .unreachable(let why): "etcd is unreachable: \(why)"
        case .rejected(let code, let message): "etcd refused the request (code \(code)): \(message)"
        case .authenticationFailed(let why): "etcd refused the credentials of etcd_username: \(why)"
        case .malformed(let why): "etcd sent an unexpected answer: \(why)"
        case .settings(let why): why
        }
    }

    /// Whether the request could not reach a working etcd (as opposed to being refused).
    public var isUnreachable: Bool {
        if case .unreachable = self { return true }
        return false
    }
}

/// The HTTP edge of the etcd back end: etcd v3's JSON gateway over async-http-client, with the
/// endpoints tried in turn, the authentication token fetched and renewed, and every request
/// counted by kind and result.
public final class EtcdClient: Sendable {
    private let http: HTTPClient
    private let endpoints: [String]
    private let username: String
    private let password: String
    private let timeout: TimeAmount
    private let logger: Logger
    /// The endpoint that answered last, and the authentication token.
    private let state = NIOLockedValueBox<(endpoint: Int, token: String?)>((0, nil))
    private let counters = NIOLockedValueBox<[String: Int]>([:])

    public init(config: EtcdConfig, requestTimeout: Duration, group: any EventLoopGroup, logger: Logger) throws {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(2), read: nil)
        if config.usesTLS {
            // The files are read now, so that a bad one stops the start-up rather than every request.
            var tls = TLSConfiguration.makeClientConfiguration()
            if !config.caFile.isEmpty {
                tls.trustRoots = .certificates(try Self.read("etcd_ca_file", config.caFile) { try NIOSSLCertificate.fromPEMFile($0) })
            }
            if !config.certFile.isEmpty {
                tls.certificateChain = try Self.read("etcd_cert_file", config.certFile) { try NIOSSLCertificate.fromPEMFile($0) }
                    .map { .certificate($0) }
                tls.privateKey = .privateKey(try Self.read("etcd_key_file", config.keyFile) { try NIOSSLPrivateKey(file: $0, format: .pem) })
            }
            configuration.tlsConfiguration = tls
        }
        http = HTTPClient(eventLoopGroupProvider: .shared(group), configuration: configuration)
        endpoints = config.endpoints.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        username = config.username
        password = config.password
        let parts = requestTimeout.components
        timeout = .nanoseconds(parts.seconds * 1_000_000_000 + parts.attoseconds / 1_000_000_000)
        self.logger = logger
    }

    private static func read<T>(_ parameter: String, _ path: String, _ load: (String) throws -> T) throws(EtcdError) -> T {
        do {
            return try load(path)
        } catch {
            throw .settings("\(parameter) \(path) is not a readable PEM file: \(error)")
        }
    }

    /// Requests sent so far, keyed `kind|result` (`ok` or `error`).
    public var requestCounts: [String: Int] { counters.withLockedValue { $0 } }

    public func shutdown() async {
        try? await http.shutdown()
    }

    // MARK: Calls

    /// Logs in when a user is configured; a refused password is `authenticationFailed`.
    public func authenticate() async throws(EtcdError) {
        guard !username.isEmpty else { return }
        _ = try await token(renew: true)
    }

    public func grant(ttl: Int) async throws(EtcdError) -> (id: String, ttl: Int) {
        let answer: EtcdGateway.GrantAnswer = try await call("/v3/lease/grant", EtcdGateway.Grant(TTL: ttl), kind: .grant)
        guard let id = answer.ID, let granted = answer.TTL.flatMap({ Int($0) }) else {
            throw .malformed("lease grant without ID or TTL\(answer.error.map { ": \($0)" } ?? "")")
        }
        return (id, granted)
    }

    /// The lease's remaining TTL; nil when etcd no longer knows it.
    public func renew(lease: String) async throws(EtcdError) -> Int? {
        let answer: EtcdGateway.KeepaliveAnswer = try await call("/v3/lease/keepalive", EtcdGateway.LeaseID(ID: lease), kind: .renew)
        return answer.ttl
    }

    public func revoke(lease: String) async throws(EtcdError) {
        let _: EtcdGateway.ErrorAnswer = try await call("/v3/lease/revoke", EtcdGateway.LeaseID(ID: lease), kind: .release)
    }

    public func transaction(_ transaction: EtcdGateway.Transaction, kind: EtcdRequestKind) async throws(EtcdError)
        -> EtcdGateway.TransactionAnswer
    {
        try await call("/v3/kv/txn", transaction, kind: kind)
    }

    /// Every key from `key` up to `rangeEnd`, and the revision they were read at.
    public func range(_ key: String, rangeEnd: String) async throws(EtcdError) -> (kvs: [EtcdGateway.KeyValue], revision: Int64) {
        let answer: EtcdGateway.RangeAnswer = try await call("/v3/kv/range", EtcdGateway.Range(key: key, rangeEnd: rangeEnd), kind: .range)
        return (answer.kvs ?? [], answer.header?.revisionNumber ?? 0)
    }

    /// Watches `key`…`rangeEnd` from `revision`, handing each batch of changes to `changes`
    /// until the stream ends (an error, or the task is cancelled).
    public func watch(_ key: String, rangeEnd: String, from revision: Int64,
                      changes: @Sendable ([EtcdChange]) async -> Void) async throws(EtcdError) {
        let body: Data
        do {
            body = try JSONEncoder().encode(EtcdGateway.Watch(key: key, rangeEnd: rangeEnd, startRevision: revision))
        } catch {
            throw .malformed("cannot encode a watch: \(error)")
        }
        let (endpoint, current) = try await endpointAndToken()
        var request = HTTPClientRequest(url: endpoints[endpoint] + "/v3/watch")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let current { request.headers.add(name: "Authorization", value: current) }
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await http.execute(request, deadline: .distantFuture, logger: logger)
            guard response.status == .ok else {
                count(.watch, ok: false)
                rotate(from: endpoint)
                throw EtcdError.rejected(code: Int(response.status.code), message: "watch answered \(response.status)")
            }
            count(.watch, ok: true)
            var pending: [UInt8] = []
            let decoder = JSONDecoder()
            for try await chunk in response.body {
                pending += chunk.readableBytesView
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = Array(pending[..<newline])
                    pending.removeSubrange(...newline)
                    guard !line.isEmpty else { continue }
                    guard let message = try? decoder.decode(EtcdGateway.WatchMessage.self, from: Data(line)) else {
                        throw EtcdError.malformed("watch message \(String(decoding: line.prefix(200), as: UTF8.self))")
                    }
                    if let error = message.error {
                        throw EtcdError.rejected(code: error.code ?? 0, message: error.message ?? error.error ?? "watch error")
                    }
                    if message.result?.canceled == true {
                        throw EtcdError.rejected(code: 0, message: "watch cancelled: \(message.result?.cancel_reason ?? "compacted")")
                    }
                    let batch = message.changes
                    if !batch.isEmpty { await changes(batch) }
                }
            }
            throw EtcdError.unreachable("the watch stream ended")
        } catch let error as EtcdError {
            throw error
        } catch {
            rotate(from: endpoint)
            throw .unreachable("\(endpoints[endpoint]): \(error)")
        }
    }

    // MARK: HTTP

    private func call<Body: Encodable, Answer: Decodable>(_ path: String, _ body: Body, kind: EtcdRequestKind) async throws(EtcdError) -> Answer {
        let payload: Data
        do {
            payload = try JSONEncoder().encode(body)
        } catch {
            throw .malformed("cannot encode \(path): \(error)")
        }
        var lastError = EtcdError.unreachable("no endpoint")
        for _ in 0..<endpoints.count {
            let (endpoint, current) = try await endpointAndToken()
            do {
                let answer: Answer = try await post(endpoints[endpoint] + path, payload, token: current)
                count(kind, ok: true)
                return answer
            } catch {
                count(kind, ok: false)
                lastError = error
                switch error {
                case .unreachable:
                    rotate(from: endpoint)
                case .rejected(let code, _) where code == 16 && !username.isEmpty:
                    // The token expired (or etcd restarted): log in again once.
                    _ = try await token(renew: true)
                    let answer: Answer = try await post(endpoints[state.withLockedValue { $0.endpoint }] + path, payload,
                                                        token: state.withLockedValue { $0.token })
                    count(kind, ok: true)
                    return answer
                default:
                    throw error
                }
            }
        }
        throw lastError
    }

    private func post<Answer: Decodable>(_ url: String, _ payload: Data, token: String?) async throws(EtcdError) -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let token { request.headers.add(name: "Authorization", value: token) }
        request.body = .bytes(ByteBuffer(bytes: payload))
        let status: UInt
        let bytes: ByteBuffer
        do {
            let response = try await http.execute(request, timeout: timeout, logger: logger)
            status = response.status.code
            bytes = try await response.body.collect(upTo: 4 << 20)
        } catch {
            throw .unreachable("\(url): \(error)")
        }
        let data = Data(bytes.readableBytesView)
        if status != 200 {
            let failure = try? JSONDecoder().decode(EtcdGateway.ErrorAnswer.self, from: data)
            let message = failure?.message ?? failure?.error ?? String(decoding: data.prefix(200), as: UTF8.self)
            // 503: etcd has no leader or the request timed out inside etcd: as good as unreachable.
            if status == 503 || message.contains("no leader") || message.contains("timed out") {
                throw .unreachable("\(url): \(message)")
            }
            throw .rejected(code: failure?.code ?? Int(status), message: message)
        }
        do {
            return try JSONDecoder().decode(Answer.self, from: data)
        } catch {
            throw .malformed("\(url): \(String(decoding: data.prefix(200), as: UTF8.self))")
        }
    }

    private func endpointAndToken() async throws(EtcdError) -> (Int, String?) {
        let current = state.withLockedValue { $0 }
        if username.isEmpty || current.token != nil { return (current.endpoint, current.token) }
        let token = try await token(renew: false)
        return (state.withLockedValue { $0.endpoint }, token)
    }

    /// The authentication token, fetched from the first endpoint that answers.
    private func token(renew: Bool) async throws(EtcdError) -> String? {
        if !renew, let token = state.withLockedValue({ $0.token }) { return token }
        let payload: Data
        do {
            payload = try JSONEncoder().encode(EtcdGateway.Authenticate(name: username, password: password))
        } catch {
            throw .malformed("cannot encode the login: \(error)")
        }
        var lastError = EtcdError.unreachable("no endpoint")
        for _ in 0..<endpoints.count {
            let endpoint = state.withLockedValue { $0.endpoint }
            do throws(EtcdError) {
                let answer: EtcdGateway.AuthenticateAnswer = try await post(endpoints[endpoint] + "/v3/auth/authenticate", payload, token: nil)
                count(.authenticate, ok: true)
                guard let token = answer.token else { throw EtcdError.malformed("login answer without a token") }
                state.withLockedValue { $0 = (endpoint, token) }
                return token
            } catch {
                count(.authenticate, ok: false)
                lastError = error
                switch error {
                case .unreachable: rotate(from: endpoint)
                case .rejected(_, let message): throw .authenticationFailed(message)
                default: throw error
                }
            }
        }
        throw lastError
    }

    private func rotate(from endpoint: Int) {
        state.withLockedValue { current in
            if current.endpoint == endpoint { current.endpoint = (endpoint + 1) % endpoints.count }
        }
    }

    private func count(_ kind: EtcdRequestKind, ok: Bool) {
        counters.withLockedValue { $0["\(kind.rawValue)|\(ok ? "ok" : "error")", default: 0] += 1 }
    }
}
