import Foundation

/// The client side of a SCRAM-SHA-256 exchange, used when the proxy logs in to a backend.
public struct SCRAMClient: Sendable {
    public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
        case malformedServerMessage(String)
        case nonceMismatch
        case serverSignatureMismatch
        case serverError(String)

        public var description: String {
            switch self {
            case .malformedServerMessage(let text): return "malformed SCRAM server message: \(text)"
            case .nonceMismatch: return "SCRAM server nonce does not extend the client nonce"
            case .serverSignatureMismatch: return "SCRAM server signature is invalid"
            case .serverError(let text): return "SCRAM server error: \(text)"
            }
        }
    }

    /// A bound on the key-derivation work a server can demand.
    public static let maxIterations = 1_000_000

    private let clientNonce: String
    private let clientFirstBare: String
    private var authMessage = ""
    private var serverKey: [UInt8] = []

    public init(nonce: String = SCRAM.makeNonce()) {
        self.clientNonce = nonce
        // PostgreSQL takes the user from the startup packet, so the SCRAM user name is empty.
        self.clientFirstBare = "n=,r=\(nonce)"
    }

    /// The client-first message, with the GS2 header for "no channel binding".
    public var clientFirstMessage: String { "n,,\(clientFirstBare)" }

    /// Answers the server-first message. `keys` derives (and may cache) the salted keys.
    public mutating func respond(
        toServerFirst serverFirst: String,
        keys: (_ salt: [UInt8], _ iterations: Int) throws -> SCRAMKeys
    ) throws -> String {
        let attributes = SCRAM.attributes(serverFirst[...])
        guard let nonce = attributes["r"], let saltText = attributes["s"], let iterationText = attributes["i"],
              let salt = Data(base64Encoded: String(saltText)), let iterations = Int(iterationText), iterations > 0 else {
            throw Failure.malformedServerMessage(serverFirst)
        }
        guard nonce.hasPrefix(clientNonce), nonce.count > clientNonce.count else { throw Failure.nonceMismatch }
        guard iterations <= Self.maxIterations else {
            throw Failure.malformedServerMessage("iteration count \(iterations) is above \(Self.maxIterations)")
        }
        let derived = try keys(Array(salt), iterations)
        guard let clientKey = derived.clientKey else { throw Failure.malformedServerMessage("no client key") }
        let finalWithoutProof = "c=biws,r=\(nonce)"
        authMessage = "\(clientFirstBare),\(serverFirst),\(finalWithoutProof)"
        let signature = SCRAM.hmac(key: derived.storedKey, authMessage)
        let proof = SCRAM.xor(clientKey, signature)
        serverKey = derived.serverKey
        return "\(finalWithoutProof),p=\(Data(proof).base64EncodedString())"
    }

    /// Checks the server-final message.
    public func verify(serverFinal: String) throws {
        let attributes = SCRAM.attributes(serverFinal[...])
        if let error = attributes["e"] { throw Failure.serverError(String(error)) }
        guard let verifier = attributes["v"], let signature = Data(base64Encoded: String(verifier)) else {
            throw Failure.malformedServerMessage(serverFinal)
        }
        guard Array(signature) == SCRAM.hmac(key: serverKey, authMessage) else { throw Failure.serverSignatureMismatch }
    }
}
