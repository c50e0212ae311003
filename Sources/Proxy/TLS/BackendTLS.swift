import NIOSSL

/// How SwiftPool encrypts its connections to the PostgreSQL nodes (`backend_sslmode`, with
/// `ssl_ca_cert` for verification). The session's backend connections and SwiftPool's own libpq
/// checks follow the same policy.
public final class BackendTLS: Sendable {
    /// libpq's `sslmode` values SwiftPool implements.
    public enum Mode: String, Sendable, CaseIterable {
        /// Never ask for TLS.
        case disable
        /// Ask for TLS; go on in clear text when the node does not offer it (Pgpool-II's
        /// behaviour with `ssl = on`).
        case prefer
        /// TLS or no connection; the certificate is not checked.
        case require
        /// TLS with a certificate signed by `ssl_ca_cert` that names the node's host.
        case verifyFull = "verify-full"
    }

    public let mode: Mode
    /// The CA file for `verify-full`.
    public let caFile: String
    let context: NIOSSLContext?

    /// Builds the policy; `verify-full` needs a readable `caFile`.
    public init(mode: Mode, caFile: String) throws(TLSFileError) {
        self.mode = mode
        self.caFile = caFile
        guard mode != .disable else {
            context = nil
            return
        }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if mode == .verifyFull {
            guard !caFile.isEmpty else {
                throw TLSFileError(file: "ssl_ca_cert", problem: "backend_sslmode = verify-full needs the CA file that signs the nodes' certificates")
            }
            let roots = try TLSFileCheck.certificates(caFile)
            configuration.trustRoots = .certificates(roots)
            configuration.certificateVerification = .fullVerification
        } else {
            configuration.certificateVerification = .none
        }
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw TLSFileError(file: caFile.isEmpty ? "ssl_ca_cert" : caFile, problem: "cannot be used: \(error)")
        }
    }

    /// Whether connections to the nodes ask for TLS at all.
    public var asksForTLS: Bool { mode != .disable }

    /// The same policy as libpq connection parameters, for SwiftPool's own management
    /// connections (health and replication checks, primary searches, catalog look-ups).
    public var libpqParameters: [String: String] {
        var parameters = ["sslmode": mode.rawValue]
        if mode == .verifyFull { parameters["sslrootcert"] = caFile }
        return parameters
    }
}
