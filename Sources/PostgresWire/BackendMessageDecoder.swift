import NIOCore

/// An Authentication ('R') request from a backend.
public enum AuthenticationRequest: Equatable, Sendable {
    case ok
    case cleartextPassword
    case md5Password(salt: [UInt8])
    case sasl(mechanisms: [String])
    case saslContinue(String)
    case saslFinal(String)
    case unsupported(code: Int32)
}

/// A protocol error in a message's body.
public struct MalformedMessage: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Decoders for the backend messages the proxy reads itself.
public enum BackendMessageDecoder {
    public static func authentication(body: ByteBuffer) throws(MalformedMessage) -> AuthenticationRequest {
        var body = body
        guard let code = body.readInteger(as: Int32.self) else { throw MalformedMessage("empty authentication request") }
        switch code {
        case AuthenticationCode.ok:
            return .ok
        case AuthenticationCode.cleartextPassword:
            return .cleartextPassword
        case AuthenticationCode.md5Password:
            guard let salt = body.readBytes(length: 4) else { throw MalformedMessage("md5 request without salt") }
            return .md5Password(salt: salt)
        case AuthenticationCode.sasl:
            var mechanisms: [String] = []
            while let name = body.readNullTerminatedString(), !name.isEmpty { mechanisms.append(name) }
            return .sasl(mechanisms: mechanisms)
        case AuthenticationCode.saslContinue:
            return .saslContinue(body.readString(length: body.readableBytes) ?? "")
        case AuthenticationCode.saslFinal:
            return .saslFinal(body.readString(length: body.readableBytes) ?? "")
        default:
            return .unsupported(code: code)
        }
    }

    public static func parameterStatus(body: ByteBuffer) throws(MalformedMessage) -> (name: String, value: String) {
        var body = body
        guard let name = body.readNullTerminatedString(), let value = body.readNullTerminatedString() else {
            throw MalformedMessage("malformed ParameterStatus")
        }
        return (name, value)
    }

    public static func backendKeyData(body: ByteBuffer) throws(MalformedMessage) -> BackendKey {
        var body = body
        guard let pid = body.readInteger(as: Int32.self), let key = body.readInteger(as: Int32.self) else {
            throw MalformedMessage("malformed BackendKeyData")
        }
        return BackendKey(processID: pid, secretKey: key)
    }

    public static func readyForQuery(body: ByteBuffer) throws(MalformedMessage) -> TransactionStatus {
        guard let byte = body.getInteger(at: body.readerIndex, as: UInt8.self), let status = TransactionStatus(rawValue: byte) else {
            throw MalformedMessage("malformed ReadyForQuery")
        }
        return status
    }
}

/// Decoders for the frontend messages the proxy reads during authentication.
public enum FrontendMessageDecoder {
    /// A PasswordMessage: the NUL-terminated password (or md5 hash).
    public static func password(body: ByteBuffer) throws(MalformedMessage) -> String {
        var body = body
        guard let value = body.readNullTerminatedString() else { throw MalformedMessage("malformed password message") }
        return value
    }

    /// A SASLInitialResponse: the chosen mechanism and the client-first message.
    public static func saslInitialResponse(body: ByteBuffer) throws(MalformedMessage) -> (mechanism: String, data: String) {
        var body = body
        guard let mechanism = body.readNullTerminatedString(), let length = body.readInteger(as: Int32.self) else {
            throw MalformedMessage("malformed SASLInitialResponse")
        }
        if length < 0 { return (mechanism, "") }
        guard let data = body.readString(length: Int(length)) else { throw MalformedMessage("malformed SASLInitialResponse") }
        return (mechanism, data)
    }

    /// A SASLResponse: the raw SASL data.
    public static func saslResponse(body: ByteBuffer) -> String {
        body.getString(at: body.readerIndex, length: body.readableBytes) ?? ""
    }
}
