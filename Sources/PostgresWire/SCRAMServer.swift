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
        /// The client chose a mechanism or binding flag that contradicts what was offered.
        case channelBindingNegotiation(String)

        public var description: String {
            switch self {
            case .unsupportedMechanism(let name): return "unsupported SASL mechanism \"\(name)\""
            case .malformedClientMessage(let text): return "malformed SCRAM message: \(text)"
            case .channelBindingNegotiation(let text): return "SCRAM channel binding negotiation error: \(text)"
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
    /// `tls-server-end-point` data of the TLS connection (nil without TLS: no binding offered).
    private let channelBinding: [UInt8]?
    /// What the client-final `c=` attribute must carry: the gs2 header, then the binding data
    /// when the client uses channel binding.
    private var expectedBinding: [UInt8] = []

    /// - Parameter channelBinding: the connection's `tls-server-end-point` data; with it
    ///   SCRAM-SHA-256-PLUS is offered (see ``mechanisms``).
    public init(keys: SCRAMKeys, credentialIsValid: Bool = true, serverNonce: String = SCRAM.makeNonce(),
                channelBinding: [UInt8]? = nil) {
        self.keys = keys
        self.credentialIsValid = credentialIsValid
        self.serverNonce = serverNonce
        self.channelBinding = channelBinding
    }

    /// The SASL mechanisms to offer, as PostgreSQL lists them.
    public var mechanisms: [String] {
        channelBinding == nil ? [SCRAM.mechanism] : [ChannelBinding.mechanism, SCRAM.mechanism]
    }

    /// Handles SASLInitialResponse and returns the server-first message.
    public mutating func receiveClientFirst(mechanism: String, message: String) throws(Failure) -> String {
        guard mechanism == SCRAM.mechanism || (mechanism == ChannelBinding.mechanism && channelBinding != nil) else {
            throw .unsupportedMechanism(mechanism)
        }
        // gs2-header: "n,," (no binding), "y,," (the client could bind but thinks the server
        // cannot), "p=type,," (binding); an optional authzid between the commas.
        let parts = message.split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .malformedClientMessage(message) }
        gs2Header = "\(parts[0]),\(parts[1]),"
        expectedBinding = Array(gs2Header.utf8)
        switch (parts[0], mechanism == ChannelBinding.mechanism) {
        case ("n", false):
            break
        case ("y", false):
            // The server offered binding: a client that says it could bind was downgraded.
            if channelBinding != nil { throw .channelBindingNegotiation("client supports channel binding but thinks the server does not") }
        case ("p=\(ChannelBinding.tlsServerEndPoint)", true):
            expectedBinding += channelBinding ?? []
        case (let flag, true) where flag.hasPrefix("p="):
            throw .channelBindingNegotiation("unsupported channel binding type \"\(flag.dropFirst(2))\"")
        case (_, true):
            throw .channelBindingNegotiation("client chose SCRAM-SHA-256-PLUS without channel binding")
        case (let flag, false) where flag.hasPrefix("p="):
            throw .channelBindingNegotiation("client requires channel binding with SCRAM-SHA-256")
        default:
            throw .malformedClientMessage(message)
        }
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
        guard let given = Data(base64Encoded: String(binding)), ConstantTime.equal(Array(given), expectedBinding),
              nonce == combinedNonce[...] else {
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
