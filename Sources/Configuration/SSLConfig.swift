/// The TLS settings of pgpool.conf (`ssl`, `ssl_cert`, `ssl_key`, `ssl_ciphers`, `ssl_ca_cert`,
/// `ssl_ca_cert_dir`, `ssl_crl_file`, `ssl_passphrase_command`, `ssl_ecdh_curve`,
/// `backend_sslmode`), paths resolved against the configuration directory.
public struct SSLConfig: Sendable, Equatable {
    /// `ssl`: accept TLS connections from clients.
    public var enabled: Bool
    /// `ssl_cert`, resolved; empty when unset.
    public var certificateFile: String
    /// `ssl_key`, resolved; empty when unset.
    public var keyFile: String
    /// `ssl_ciphers`; empty when it is Pgpool-II's default (the TLS library's list is used).
    public var ciphers: String
    /// `backend_sslmode`: `auto` (prefer with `ssl = on`, disable without), `disable`, `prefer`,
    /// `require` or `verify-full`.
    public var backendMode: String
    /// `ssl_ca_cert`, resolved: the CA that signs the nodes' certificates; empty when unset.
    public var caFile: String
    /// `ssl_ca_cert_dir`, resolved: a hashed directory of CA certificates; empty when unset.
    public var caDirectory: String
    /// `ssl_crl_file`, resolved: revocation lists for client certificates; empty when unset.
    public var crlFile: String
    /// `ssl_passphrase_command`: prints the passphrase of an encrypted `ssl_key`.
    public var passphraseCommand: String
    /// `ssl_ecdh_curve`: the ECDH curve(s) offered to clients.
    public var ecdhCurve: String

    /// The libpq `sslmode` to the nodes, `auto` resolved.
    public var effectiveBackendMode: String {
        backendMode == "auto" ? (enabled ? "prefer" : "disable") : backendMode
    }

    /// Pgpool-II's default `ssl_ciphers`, which names OpenSSL groups SwiftPool's TLS library
    /// does not know; its own default list is as strict.
    public static let defaultCiphers = "HIGH:MEDIUM:+3DES:!aNULL"

    public init(enabled: Bool = false, certificateFile: String = "", keyFile: String = "", ciphers: String = "",
                backendMode: String = "auto", caFile: String = "", caDirectory: String = "", crlFile: String = "",
                passphraseCommand: String = "", ecdhCurve: String = "") {
        self.backendMode = backendMode
        self.caFile = caFile
        self.caDirectory = caDirectory
        self.crlFile = crlFile
        self.passphraseCommand = passphraseCommand
        self.ecdhCurve = ecdhCurve
        self.enabled = enabled
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.ciphers = ciphers
    }
}
