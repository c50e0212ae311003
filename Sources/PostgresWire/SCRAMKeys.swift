import Crypto
import Foundation
import _CryptoExtras

/// The salted keys of one SCRAM-SHA-256 credential (RFC 5802 §3).
public struct SCRAMKeys: Sendable, Equatable {
    public var salt: [UInt8]
    public var iterations: Int
    public var storedKey: [UInt8]
    public var serverKey: [UInt8]
    /// Present only when derived from the password; needed to act as a SCRAM client.
    public var clientKey: [UInt8]?

    public init(salt: [UInt8], iterations: Int, storedKey: [UInt8], serverKey: [UInt8], clientKey: [UInt8]? = nil) {
        self.salt = salt
        self.iterations = iterations
        self.storedKey = storedKey
        self.serverKey = serverKey
        self.clientKey = clientKey
    }

    /// Derives the keys from a password: SaltedPassword = Hi(password, salt, i). This is the
    /// expensive step (PBKDF2); callers cache the result.
    public static func derive(password: String, salt: [UInt8], iterations: Int) throws -> SCRAMKeys {
        let salted = try KDF.Insecure.PBKDF2.deriveKey(
            from: Array(password.utf8), salt: salt, using: .sha256,
            outputByteCount: 32, unsafeUncheckedRounds: iterations)
        let clientKey = SCRAM.hmac(key: salted, "Client Key")
        let serverKey = SCRAM.hmac(key: salted, "Server Key")
        return SCRAMKeys(salt: salt, iterations: iterations, storedKey: SCRAM.sha256(clientKey),
                         serverKey: serverKey, clientKey: clientKey)
    }

    /// Parses a PostgreSQL verifier `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`.
    public init?(verifier: String) {
        guard verifier.hasPrefix("SCRAM-SHA-256$") else { return nil }
        let parts = verifier.dropFirst("SCRAM-SHA-256$".count).split(separator: "$")
        guard parts.count == 2 else { return nil }
        let head = parts[0].split(separator: ":")
        let keys = parts[1].split(separator: ":")
        guard head.count == 2, keys.count == 2, let iterations = Int(head[0]),
              let salt = Data(base64Encoded: String(head[1])),
              let stored = Data(base64Encoded: String(keys[0])),
              let server = Data(base64Encoded: String(keys[1])) else { return nil }
        self.init(salt: Array(salt), iterations: iterations, storedKey: Array(stored), serverKey: Array(server))
    }
}

/// SCRAM-SHA-256 primitives shared by the client and the server side.
public enum SCRAM {
    public static let mechanism = "SCRAM-SHA-256"

    static func hmac<K: ContiguousBytes>(key: K, _ message: String) -> [UInt8] {
        hmac(key: key, Array(message.utf8))
    }

    static func hmac<K: ContiguousBytes>(key: K, _ message: [UInt8]) -> [UInt8] {
        let symmetric = key.withUnsafeBytes { SymmetricKey(data: $0) }
        return Array(HMAC<SHA256>.authenticationCode(for: message, using: symmetric))
    }

    static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(data: bytes))
    }

    static func xor(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
        zip(a, b).map { $0 ^ $1 }
    }

    /// A printable random nonce (base64 of 18 random bytes, as PostgreSQL uses).
    public static func makeNonce() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<18).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64EncodedString()
    }

    /// Splits a SCRAM attribute list `a=1,b=2` into a dictionary of single-letter keys.
    static func attributes(_ message: Substring) -> [Character: Substring] {
        var result: [Character: Substring] = [:]
        for part in message.split(separator: ",", omittingEmptySubsequences: false) {
            guard part.count >= 2, part[part.index(after: part.startIndex)] == "=" else { continue }
            result[part.first!] = part.dropFirst(2)
        }
        return result
    }
}
