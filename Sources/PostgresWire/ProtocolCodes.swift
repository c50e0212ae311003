/// Message type bytes and special startup codes of the PostgreSQL v3 protocol.
public enum ProtocolCode {
    /// Protocol 3.0 as sent in a StartupMessage.
    public static let protocolVersion3: Int32 = 196_608
    public static let sslRequest: Int32 = 80_877_103
    public static let gssEncRequest: Int32 = 80_877_104
    public static let cancelRequest: Int32 = 80_877_102
    /// The largest startup packet PostgreSQL accepts.
    public static let maxStartupPacketLength = 10_000
    /// The longest role or database name, in bytes (PostgreSQL's NAMEDATALEN - 1).
    public static let maxNameLength = 63
}

/// Type bytes of messages a frontend (client) sends.
public enum FrontendMessageType {
    public static let query = UInt8(ascii: "Q")
    public static let parse = UInt8(ascii: "P")
    public static let bind = UInt8(ascii: "B")
    public static let describe = UInt8(ascii: "D")
    public static let execute = UInt8(ascii: "E")
    public static let close = UInt8(ascii: "C")
    public static let sync = UInt8(ascii: "S")
    public static let flush = UInt8(ascii: "H")
    public static let functionCall = UInt8(ascii: "F")
    public static let copyData = UInt8(ascii: "d")
    public static let copyDone = UInt8(ascii: "c")
    public static let copyFail = UInt8(ascii: "f")
    public static let terminate = UInt8(ascii: "X")
    /// PasswordMessage, SASLInitialResponse and SASLResponse share this byte.
    public static let password = UInt8(ascii: "p")
}

/// Type bytes of messages a backend (server) sends.
public enum BackendMessageType {
    public static let authentication = UInt8(ascii: "R")
    public static let parameterStatus = UInt8(ascii: "S")
    public static let backendKeyData = UInt8(ascii: "K")
    public static let readyForQuery = UInt8(ascii: "Z")
    public static let parseComplete = UInt8(ascii: "1")
    public static let closeComplete = UInt8(ascii: "3")
    public static let errorResponse = UInt8(ascii: "E")
    public static let noticeResponse = UInt8(ascii: "N")
    public static let notificationResponse = UInt8(ascii: "A")
    public static let copyInResponse = UInt8(ascii: "G")
    public static let copyOutResponse = UInt8(ascii: "H")
    public static let copyBothResponse = UInt8(ascii: "W")
    public static let negotiateProtocolVersion = UInt8(ascii: "v")
    public static let dataRow = UInt8(ascii: "D")
    public static let commandComplete = UInt8(ascii: "C")
}

/// Sub-codes of the Authentication ('R') message.
public enum AuthenticationCode {
    public static let ok: Int32 = 0
    public static let cleartextPassword: Int32 = 3
    public static let md5Password: Int32 = 5
    public static let sasl: Int32 = 10
    public static let saslContinue: Int32 = 11
    public static let saslFinal: Int32 = 12
}

/// Transaction status carried by ReadyForQuery.
public enum TransactionStatus: UInt8, Sendable {
    case idle = 73          // 'I'
    case inTransaction = 84 // 'T'
    case failed = 69        // 'E'
}
