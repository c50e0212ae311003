import Configuration
import NIOConcurrencyHelpers
import PostgresWire

/// A password as pool_passwd holds it.
public enum PasswordCredential: Sendable, Equatable {
    case plain(String)
    /// `md5` + hex(md5(password ‖ user)).
    case md5(String)
    /// A SCRAM verifier: enough to check a client, not to log in to a backend.
    case scram(SCRAMKeys)
}

/// Passwords by user name plus the SCRAM keys derived from them.
///
/// Key derivation (PBKDF2, thousands of rounds) happens once per user and salt; every later login
/// of that user, on the client and on the backend side, reuses the cached keys.
public final class CredentialStore: Sendable {
    private struct BackendKeyID: Hashable {
        var password: String
        var salt: [UInt8]
        var iterations: Int
    }

    private struct State {
        var passwords: [String: PasswordCredential]
        var unusable: [String: String] = [:]
        var clientSideKeys: [String: SCRAMKeys] = [:]
        var backendSideKeys: [BackendKeyID: SCRAMKeys] = [:]
    }

    private let state: NIOLockedValueBox<State>
    /// Iterations used for the keys SwiftPool presents to its clients (PostgreSQL's default).
    public let iterations: Int

    /// - Parameter unusable: users whose pool_passwd entry was ignored, with the reason (an AES
    ///   password that could not be decrypted, …), for the log when they fail to log in.
    public init(passwords: [String: PasswordCredential], unusable: [String: String] = [:], iterations: Int = 4096) {
        self.state = NIOLockedValueBox(State(passwords: passwords, unusable: unusable))
        self.iterations = iterations
    }

    /// Replaces the passwords (on reload); derived keys of changed users are dropped.
    public func replacePasswords(_ passwords: [String: PasswordCredential], unusable: [String: String] = [:]) {
        state.withLockedValue { state in
            for (user, old) in state.passwords where passwords[exactly: user] != old {
                state.clientSideKeys[user] = nil
            }
            state.passwords = passwords
            state.unusable = unusable
            state.backendSideKeys.removeAll()
        }
    }

    /// Why pool_passwd cannot verify `user` with `method`, when that is known without the
    /// client's password: for the operator's log (the client only learns 28P01).
    public func problem(verifying user: String, with method: AuthMethod) -> String? {
        let (stored, unusable) = state.withLockedValue { ($0.passwords[exactly: user], $0.unusable[exactly: user]) }
        switch (stored, method) {
        case (nil, .scramSHA256), (nil, .md5), (nil, .password):
            return unusable ?? "the user has no entry in pool_passwd"
        case (.md5?, .scramSHA256):
            return "pool_passwd holds only an md5 hash for the user, which cannot verify scram-sha-256; store the password as TEXT or AES (pg_enc) or as a SCRAM verifier"
        case (.scram?, .md5):
            return "pool_passwd holds only a SCRAM verifier for the user, which cannot verify md5; store the password as TEXT or AES (pg_enc) or as an md5 hash"
        default:
            return nil
        }
    }

    public func password(for user: String) -> PasswordCredential? {
        state.withLockedValue { $0.passwords[exactly: user] }
    }

    /// Whether `clientSideKeys(for:)` would answer from the cache.
    public func hasClientSideKeys(for user: String) -> Bool {
        state.withLockedValue { $0.clientSideKeys[exactly: user] != nil }
    }

    /// The keys a client must prove knowledge of, or nil when the user has no usable entry.
    /// Derives them on first use (PBKDF2): call it off the event loop when not cached.
    public func clientSideKeys(for user: String) -> SCRAMKeys? {
        if let cached = state.withLockedValue({ $0.clientSideKeys[exactly: user] }) { return cached }
        let derived: SCRAMKeys
        switch password(for: user) {
        case .plain(let password):
            var generator = SystemRandomNumberGenerator()
            let salt = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
            guard let keys = try? SCRAMKeys.derive(password: password, salt: salt, iterations: iterations) else { return nil }
            derived = keys
        case .scram(let keys):
            derived = keys
        case .md5, nil:
            return nil
        }
        return state.withLockedValue { state in
            if let raced = state.clientSideKeys[exactly: user] { return raced }
            state.clientSideKeys[user] = derived
            return derived
        }
    }

    /// The keys to log in to a backend that offered `salt` and `iterations`.
    public func backendSideKeys(password: String, salt: [UInt8], iterations: Int) throws -> SCRAMKeys {
        let id = BackendKeyID(password: password, salt: salt, iterations: iterations)
        if let cached = state.withLockedValue({ $0.backendSideKeys[id] }) { return cached }
        let keys = try SCRAMKeys.derive(password: password, salt: salt, iterations: iterations)
        state.withLockedValue { $0.backendSideKeys[id] = keys }
        return keys
    }
}
