/// The client-side TLS settings of pgpool.conf (`ssl`, `ssl_cert`, `ssl_key`, `ssl_ciphers`),
/// paths resolved against the configuration directory.
public struct SSLConfig: Sendable, Equatable {
    /// `ssl`: accept TLS connections from clients.
    public var enabled: Bool
    /// `ssl_cert`, resolved; empty when unset.
    public var certificateFile: String
    /// `ssl_key`, resolved; empty when unset.
    public var keyFile: String
    /// `ssl_ciphers`; empty when it is Pgpool-II's default (the TLS library's list is used).
    public var ciphers: String

    /// Pgpool-II's default `ssl_ciphers`, which names OpenSSL groups SwiftPool's TLS library
    /// does not know; its own default list is as strict.
    public static let defaultCiphers = "HIGH:MEDIUM:+3DES:!aNULL"

    public init(enabled: Bool = false, certificateFile: String = "", keyFile: String = "", ciphers: String = "") {
        self.enabled = enabled
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.ciphers = ciphers
    }
}
