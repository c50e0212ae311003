import NIOCore
import PostgresWire

/// How a backend asked SwiftPool to authenticate; clients are asked the same way when
/// pool_hba is off, as Pgpool-II does.
public enum AuthMethod: String, Sendable, Equatable {
    case trust
    case password
    case md5
    case scramSHA256 = "scram-sha-256"
}

/// The password SwiftPool presents to a backend.
public enum BackendSecret: Sendable, Equatable {
    case none
    case plain(String)
    case md5Hash(String)
}

/// The login of one backend connection, from StartupMessage to the first ReadyForQuery.
/// Pure: it takes decoded messages and returns what to send.
public struct BackendStartupMachine {
    public enum Action: Equatable {
        case none
        case send(ByteBuffer)
        /// Logged in and ready; carries the transaction status of the first ReadyForQuery.
        case ready(TransactionStatus)
        case fail(BackendStartupFailure)
    }

    private enum State {
        case awaitingAuthentication
        case scramContinue(SCRAMClient)
        case scramFinal(SCRAMClient)
        case awaitingReady
        case ready
        case failed
    }

    private var state = State.awaitingAuthentication
    private let user: String
    private let secret: BackendSecret
    private let scramKeys: ([UInt8], Int) throws -> SCRAMKeys

    public private(set) var authMethod = AuthMethod.trust
    public private(set) var parameters = ParameterStatusSet()
    public private(set) var backendKey: BackendKey?

    public init(user: String, secret: BackendSecret, scramKeys: @escaping ([UInt8], Int) throws -> SCRAMKeys) {
        self.user = user
        self.secret = secret
        self.scramKeys = scramKeys
    }

    public mutating func receive(_ message: RawMessage) -> Action {
        do {
            return try handle(message)
        } catch let failure as BackendStartupFailure {
            state = .failed
            return .fail(failure)
        } catch {
            state = .failed
            return .fail(.protocolViolation("\(error)"))
        }
    }

    private mutating func handle(_ message: RawMessage) throws -> Action {
        switch message.type {
        case BackendMessageType.authentication:
            return try authenticate(BackendMessageDecoder.authentication(body: message.body))
        case BackendMessageType.parameterStatus:
            let (name, value) = try BackendMessageDecoder.parameterStatus(body: message.body)
            parameters.set(name, value)
            return .none
        case BackendMessageType.backendKeyData:
            backendKey = try BackendMessageDecoder.backendKeyData(body: message.body)
            return .none
        case BackendMessageType.readyForQuery:
            guard case .awaitingReady = state else { throw BackendStartupFailure.protocolViolation("ReadyForQuery before authentication") }
            state = .ready
            return .ready(try BackendMessageDecoder.readyForQuery(body: message.body))
        case BackendMessageType.errorResponse:
            state = .failed
            return .fail(.rejected(ErrorFields.decode(body: message.body)))
        case BackendMessageType.noticeResponse, BackendMessageType.negotiateProtocolVersion:
            return .none
        default:
            throw BackendStartupFailure.protocolViolation("unexpected message type \(message.type) during startup")
        }
    }

    private mutating func authenticate(_ request: AuthenticationRequest) throws -> Action {
        switch (state, request) {
        case (.awaitingAuthentication, .ok):
            state = .awaitingReady
            return .none
        case (.awaitingAuthentication, .cleartextPassword):
            authMethod = .password
            guard case .plain(let password) = secret else { throw BackendStartupFailure.noUsablePassword(.password) }
            return .send(encode { FrontendMessageEncoder.password(password, into: &$0) })
        case (.awaitingAuthentication, .md5Password(let salt)):
            authMethod = .md5
            let response: String
            switch secret {
            case .plain(let password): response = MD5Password.response(password: password, user: user, salt: salt)
            case .md5Hash(let hash): response = MD5Password.response(storedHash: hash, salt: salt)
            case .none: throw BackendStartupFailure.noUsablePassword(.md5)
            }
            return .send(encode { FrontendMessageEncoder.password(response, into: &$0) })
        case (.awaitingAuthentication, .sasl(let mechanisms)):
            authMethod = .scramSHA256
            guard mechanisms.contains(SCRAM.mechanism) else {
                throw BackendStartupFailure.protocolViolation("backend offers no supported SASL mechanism: \(mechanisms)")
            }
            guard case .plain = secret else { throw BackendStartupFailure.noUsablePassword(.scramSHA256) }
            let client = SCRAMClient()
            state = .scramContinue(client)
            return .send(encode {
                FrontendMessageEncoder.saslInitialResponse(mechanism: SCRAM.mechanism, data: client.clientFirstMessage, into: &$0)
            })
        case (.scramContinue(var client), .saslContinue(let serverFirst)):
            let final = try client.respond(toServerFirst: serverFirst, keys: scramKeys)
            state = .scramFinal(client)
            return .send(encode { FrontendMessageEncoder.saslResponse(final, into: &$0) })
        case (.scramFinal(let client), .saslFinal(let serverFinal)):
            try client.verify(serverFinal: serverFinal)
            state = .awaitingAuthentication
            return .none
        case (_, .unsupported(let code)):
            throw BackendStartupFailure.protocolViolation("unsupported authentication request \(code)")
        default:
            throw BackendStartupFailure.protocolViolation("unexpected authentication request \(request)")
        }
    }

    private func encode(_ body: (inout ByteBuffer) -> Void) -> ByteBuffer {
        var buffer = ByteBuffer()
        body(&buffer)
        return buffer
    }
}

/// Why a backend login failed.
public enum BackendStartupFailure: Error, Equatable, Sendable {
    /// The backend answered with an ErrorResponse (bad password, no such database, …).
    case rejected(ErrorFields)
    /// pool_passwd has no entry usable for the method the backend asked for.
    case noUsablePassword(AuthMethod)
    case protocolViolation(String)
}

/// ParameterStatus values in the order the backend first reported them.
public struct ParameterStatusSet: Sendable, Equatable {
    public private(set) var entries: [(name: String, value: String)] = []

    public init() {}

    public mutating func set(_ name: String, _ value: String) {
        if let index = entries.firstIndex(where: { $0.name == name }) {
            entries[index].value = value
        } else {
            entries.append((name, value))
        }
    }

    public subscript(name: String) -> String? {
        entries.first(where: { $0.name == name })?.value
    }

    public static func == (lhs: ParameterStatusSet, rhs: ParameterStatusSet) -> Bool {
        lhs.entries.elementsEqual(rhs.entries, by: { $0 == $1 })
    }
}
