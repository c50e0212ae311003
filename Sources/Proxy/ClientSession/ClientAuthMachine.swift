import Configuration
import NIOCore
import PostgresWire

/// Authenticates one client with the method chosen for it (from pool_hba.conf, or the method the
/// backend asked for). Pure: it takes the client's password messages and returns what to send.
public struct ClientAuthMachine {
    public enum Action: Equatable {
        case send(ByteBuffer)
        case authenticated
        /// Send the SASL final message; the client is then authenticated.
        case sendAndAuthenticate(ByteBuffer)
        /// `allow_clear_text_frontend_auth`: the clear-text password to try on the backend.
        case captured(password: String)
        /// Authentication failed: send this FATAL error and close.
        case fail(ErrorFields)
    }

    private enum State {
        case start
        case awaitingPassword
        case awaitingMD5(salt: [UInt8])
        case awaitingSASLInitial(SCRAMServer)
        case awaitingSASLFinal(SCRAMServer)
        case done
    }

    private let method: AuthMethod
    private let user: String
    private let stored: PasswordCredential?
    private let clientSideKeys: SCRAMKeys?
    private let captureOnly: Bool
    /// The TLS connection's `tls-server-end-point` data (nil without TLS).
    private let channelBinding: [UInt8]?
    private var state = State.start

    /// The method the client's password is checked with here (nil when it is only captured for
    /// the backend to check).
    public var verifiedMethod: AuthMethod? { captureOnly ? nil : method }

    /// - Parameters:
    ///   - stored: the user's pool_passwd entry, nil when there is none.
    ///   - clientSideKeys: the cached SCRAM keys for the user (needed for scram-sha-256).
    ///   - channelBinding: on a TLS connection, its `tls-server-end-point` data: SCRAM-SHA-256-PLUS
    ///     is offered too.
    public init(method: AuthMethod, user: String, stored: PasswordCredential?, clientSideKeys: SCRAMKeys?,
                channelBinding: [UInt8]? = nil) {
        self.method = method
        self.user = user
        self.stored = stored
        self.clientSideKeys = clientSideKeys
        self.captureOnly = false
        self.channelBinding = channelBinding
    }

    /// Asks for a clear-text password without checking it: the backend checks it
    /// (`allow_clear_text_frontend_auth` for users without a pool_passwd entry).
    public init(capturingClearTextPasswordOf user: String) {
        self.method = .password
        self.user = user
        self.stored = nil
        self.clientSideKeys = nil
        self.captureOnly = true
        self.channelBinding = nil
    }

    /// The first step: the request to send, or `.authenticated` for trust.
    public mutating func start() -> Action {
        switch method {
        case .trust:
            state = .done
            return .authenticated
        case .password:
            state = .awaitingPassword
            return .send(encode { BackendMessageEncoder.authenticationCleartextPassword(into: &$0) })
        case .md5:
            var generator = SystemRandomNumberGenerator()
            let salt = (0..<4).map { _ in UInt8.random(in: 0...255, using: &generator) }
            state = .awaitingMD5(salt: salt)
            return .send(encode { BackendMessageEncoder.authenticationMD5Password(salt: salt, into: &$0) })
        case .scramSHA256:
            // An unknown user still gets a full exchange with stable fake keys, then the same error.
            let keys = clientSideKeys ?? Self.decoyKeys(for: user)
            let server = SCRAMServer(keys: keys, credentialIsValid: clientSideKeys != nil, channelBinding: channelBinding)
            state = .awaitingSASLInitial(server)
            return .send(encode { BackendMessageEncoder.authenticationSASL(mechanisms: server.mechanisms, into: &$0) })
        }
    }

    /// Handles a 'p' message from the client.
    public mutating func receive(passwordMessage body: ByteBuffer) -> Action {
        switch state {
        case .awaitingPassword:
            guard let given = try? FrontendMessageDecoder.password(body: body) else { return protocolFailure() }
            if captureOnly {
                state = .done
                return .captured(password: given)
            }
            return finish(checkCleartext(given))
        case .awaitingMD5(let salt):
            guard let given = try? FrontendMessageDecoder.password(body: body) else { return protocolFailure() }
            return finish(checkMD5(given, salt: salt))
        case .awaitingSASLInitial(var server):
            guard let (mechanism, data) = try? FrontendMessageDecoder.saslInitialResponse(body: body) else {
                return protocolFailure()
            }
            do {
                let serverFirst = try server.receiveClientFirst(mechanism: mechanism, message: data)
                state = .awaitingSASLFinal(server)
                return .send(encode { BackendMessageEncoder.authenticationSASLContinue(serverFirst, into: &$0) })
            } catch {
                state = .done
                return .fail(ErrorFields(severity: .fatal, sqlState: "08P01", message: error.description))
            }
        case .awaitingSASLFinal(let server):
            let data = FrontendMessageDecoder.saslResponse(body: body)
            state = .done
            switch try? server.receiveClientFinal(data) {
            case .success(let serverFinal):
                return .sendAndAuthenticate(encode { BackendMessageEncoder.authenticationSASLFinal(serverFinal, into: &$0) })
            case .failure, nil:
                return passwordFailure()
            }
        case .start, .done:
            return protocolFailure()
        }
    }

    private mutating func finish(_ ok: Bool) -> Action {
        state = .done
        return ok ? .authenticated : passwordFailure()
    }

    private func checkCleartext(_ given: String) -> Bool {
        switch stored {
        case .plain(let password): return ConstantTime.equal(given, password)
        case .md5(let hash): return ConstantTime.equal(MD5Password.storedHash(password: given, user: user), hash)
        case .scram(let keys):
            guard let derived = try? SCRAMKeys.derive(password: given, salt: keys.salt, iterations: keys.iterations) else { return false }
            return ConstantTime.equal(derived.storedKey, keys.storedKey)
        case nil: return false
        }
    }

    private func checkMD5(_ given: String, salt: [UInt8]) -> Bool {
        switch stored {
        case .plain(let password): return ConstantTime.equal(given, MD5Password.response(password: password, user: user, salt: salt))
        case .md5(let hash): return ConstantTime.equal(given, MD5Password.response(storedHash: hash, salt: salt))
        case .scram, nil: return false
        }
    }

    private func passwordFailure() -> Action {
        .fail(ErrorFields(severity: .fatal, sqlState: "28P01", message: "password authentication failed for user \"\(user)\""))
    }

    private func protocolFailure() -> Action {
        .fail(ErrorFields(severity: .fatal, sqlState: "08P01", message: "invalid authentication message from client"))
    }

    private func encode(_ body: (inout ByteBuffer) -> Void) -> ByteBuffer {
        var buffer = ByteBuffer()
        body(&buffer)
        return buffer
    }

    /// Fake keys for an unknown user, stable per user name within this process. Seeded from the
    /// name's bytes: users are told apart by bytes, and a name equivalent to a known user's must
    /// not get that user's salt or reveal it.
    private static func decoyKeys(for user: String) -> SCRAMKeys {
        var hasher = Hasher()
        hasher.combineBytes(of: user)
        var seed = UInt64(bitPattern: Int64(hasher.finalize()))
        let salt = (0..<16).map { _ -> UInt8 in
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: seed >> 33)
        }
        var generator = SystemRandomNumberGenerator()
        let random = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return SCRAMKeys(salt: salt, iterations: 4096, storedKey: random, serverKey: random)
    }
}
