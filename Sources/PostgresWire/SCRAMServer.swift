import Foundation

/// The server side of a SCRAM-SHA-256 exchange, used when the proxy authenticates a client.
///
/// It needs only the stored and server keys, never the password, so keys derived once per user
/// serve every login.
public struct SCRAMServer: Sendable {
    public enum Outcome: Equatable, Sendable {
        /// Send this server-final message; the client is authenticated.
        case success(serverFinal: String)
        /// The proof is wrong (or the user is unknown).
        case failure
    }

    public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
        case unsupportedMechanism(String)
        case malformedClientMessage(String)
        case channelBindingNotSupported

        public var description: String {
            switch self {
            case .unsupportedMechanism(let name): return "unsupported SASL mechanism \"\(name)\""
            case .malformedClientMessage(let text): return "malformed SCRAM message: \(text)"
            case .channelBindingNotSupported: return "channel binding is not supported"
            }
        }
    }

    private let keys: SCRAMKeys
    /// False for an unknown user: the exchange runs to the end and then fails, so that an
    /// unknown user cannot be told from a wrong password.
    private let credentialIsValid: Bool
    private let serverNonce: String
    private var clientFirstBare = ""
    private var serverFirst = ""
    private var gs2Header = ""
    private var combinedNonce = ""

    public init(keys: SCRAMKeys, credentialIsValid: Bool = true, serverNonce: String = SCRAM.makeNonce()) {
        self.keys = keys
        self.credentialIsValid = credentialIsValid
        self.serverNonce = serverNonce
    }

    /// Handles SASLInitialResponse and returns the server-first message.
    public mutating func receiveClientFirst(mechanism: String, message: String) throws(Failure) -> String {
        guard mechanism == SCRAM.mechanism else { throw .unsupportedMechanism(mechanism) }
        // gs2-header: "n,," / "y,," (no channel binding), optional authzid between the commas.
        let parts = message.split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .malformedClientMessage(message) }
        switch parts[0] {
        case "n", "y": break
        case let flag where flag.hasPrefix("p="): throw .channelBindingNotSupported
        default: throw .malformedClientMessage(message)
        }
        gs2Header = "\(parts[0]),\(parts[1]),"
        clientFirstBare = String(parts[2])
        guard let clientNonce = SCRAM.attributes(parts[2])["r"], !clientNonce.isEmpty else {
            throw .malformedClientMessage(message)
        }
        combinedNonce = String(clientNonce) + serverNonce
        serverFirst = "r=\(combinedNonce),s=\(Data(keys.salt).base64EncodedString()),i=\(keys.iterations)"
        return serverFirst
    }

    /// Handles the client-final message.
    public func receiveClientFinal(_ message: String) throws(Failure) -> Outcome {
        guard let proofRange = message.range(of: ",p=") else { throw .malformedClientMessage(message) }
        let withoutProof = String(message[..<proofRange.lowerBound])
        let attributes = SCRAM.attributes(withoutProof[...])
        guard let binding = attributes["c"], let nonce = attributes["r"],
              let proof = Data(base64Encoded: String(message[proofRange.upperBound...])) else {
            throw .malformedClientMessage(message)
        }
        guard Data(base64Encoded: String(binding)) == Data(gs2Header.utf8), nonce == combinedNonce[...] else {
            return .failure
        }
        let authMessage = "\(clientFirstBare),\(serverFirst),\(withoutProof)"
        let signature = SCRAM.hmac(key: keys.storedKey, authMessage)
        guard proof.count == signature.count else { return .failure }
        let clientKey = SCRAM.xor(Array(proof), signature)
        guard ConstantTime.equal(SCRAM.sha256(clientKey), keys.storedKey), credentialIsValid else { return .failure }
        let serverSignature = SCRAM.hmac(key: keys.serverKey, authMessage)
        return .success(serverFinal: "v=\(Data(serverSignature).base64EncodedString())")
    }
}
