import Foundation
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
    /// The hashed CA directory for `verify-full` (`ssl_ca_cert_dir`).
    public let caDirectory: String
    let context: NIOSSLContext?
    /// The CA file libpq's checks verify against: `caFile`, or a bundle of it and the directory's
    /// certificates (libpq takes no CA directory).
    private let libpqRootCertificate: String

    /// Builds the policy; `verify-full` needs a readable `caFile` or `caDirectory`.
    public init(mode: Mode, caFile: String, caDirectory: String = "") throws(TLSFileError) {
        self.mode = mode
        self.caFile = caFile
        self.caDirectory = caDirectory
        libpqRootCertificate = mode == .verifyFull && !caDirectory.isEmpty
            ? try Self.writeBundle(caFile: caFile, caDirectory: caDirectory) : caFile
        guard mode != .disable else {
            context = nil
            return
        }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if mode == .verifyFull {
            guard let trust = try TLSFileCheck.trustRoots(file: caFile, directory: caDirectory) else {
                throw TLSFileError(file: "ssl_ca_cert", problem: "backend_sslmode = verify-full needs the CA file (or ssl_ca_cert_dir) that signs the nodes' certificates")
            }
            configuration.trustRoots = trust.roots
            configuration.additionalTrustRoots = trust.additional
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
        if mode == .verifyFull { parameters["sslrootcert"] = libpqRootCertificate }
        return parameters
    }

    /// Writes `caFile` and the certificates of `caDirectory` (its c_rehash names, as OpenSSL reads
    /// it) into one PEM file for libpq, in the temporary directory, and returns its path.
    private static func writeBundle(caFile: String, caDirectory: String) throws(TLSFileError) -> String {
        var pem = caFile.isEmpty ? "" : ((try? String(contentsOfFile: caFile, encoding: .utf8)) ?? "")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: caDirectory)) ?? []
        for name in names.sorted() where name.range(of: #"^[0-9a-f]{8}\.[0-9]+$"#, options: .regularExpression) != nil {
            if let text = try? String(contentsOfFile: caDirectory + "/" + name, encoding: .utf8) { pem += "\n" + text }
        }
        let path = FileManager.default.temporaryDirectory.path + "/swiftpool-\(getpid())-backend-ca.pem"
        do { try pem.write(toFile: path, atomically: true, encoding: .utf8) } catch {
            throw TLSFileError(file: path, problem: "cannot write the CA bundle for the health and replication checks (\(error))")
        }
        return path
    }
}
