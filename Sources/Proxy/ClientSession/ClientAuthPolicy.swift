/// What SwiftPool knows about a client when it decides how to authenticate it.
public struct ClientConnectionInfo: Sendable, Equatable {
    /// Nil for a Unix-socket client.
    public var remoteAddress: String?
    public var user: String
    public var database: String
    public var isSSL: Bool
    /// The common name of the client's TLS certificate (verified against `ssl_ca_cert`), if it
    /// sent one.
    public var certificateCommonName: String?

    public init(remoteAddress: String?, user: String, database: String, isSSL: Bool = false,
                certificateCommonName: String? = nil) {
        self.certificateCommonName = certificateCommonName
        self.remoteAddress = remoteAddress
        self.user = user
        self.database = database
        self.isSSL = isSSL
    }
}

/// The verdict of pool_hba.conf for one client.
public enum ClientAuthDecision: Sendable, Equatable {
    case authenticate(AuthMethod)
    case reject
    case noEntry
    /// The rule matched but the client cannot pass it (`cert` without the right certificate):
    /// refused with this message (28000).
    case failed(String)
}

/// Decides how to authenticate a client (pool_hba.conf when `enable_pool_hba` is on).
public typealias ClientAuthPolicy = @Sendable (ClientConnectionInfo) -> ClientAuthDecision
