import Foundation
import Logging
import NIOSSL

/// The server side of client TLS: the certificate and key SwiftPool presents to clients
/// (`ssl_cert`, `ssl_key`), loaded once and shared by every event loop. Built off the event
/// loops (loading reads files); a reload builds a new one, which only new connections use.
public final class ClientTLS: Sendable {
    /// The context every client handshake starts from. It offers ALPN `postgresql`, which
    /// direct TLS requires and the SSLRequest upgrade accepts.
    let context: NIOSSLContext
    /// The server certificate, DER-encoded (for channel binding).
    public let certificateDER: [UInt8]
    /// Checks client certificates against `ssl_crl_file` (nil: the TLS library checks them).
    let revocationChecker: ClientCertificateVerifier?

    /// The ALPN protocol name of PostgreSQL 17's direct TLS negotiation.
    public static let alpnProtocol = "postgresql"

    /// Loads and checks `files`; the error names the file at fault.
    public init(files: TLSFiles) throws(TLSFileError) {
        let checked = try TLSFileCheck.load(files)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: checked.chain.map { .certificate($0) }, privateKey: .privateKey(checked.key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = [Self.alpnProtocol]
        if !files.ciphers.isEmpty { configuration.cipherSuites = files.ciphers }
        configuration.curves = try TLSCurves.parse(files.curves)
        if let trust = try TLSFileCheck.trustRoots(file: files.clientCA, directory: files.clientCADirectory) {
            // Clients may present a certificate (for `cert` authentication); one that is presented
            // must be signed by these CAs.
            configuration.trustRoots = trust.roots
            configuration.additionalTrustRoots = trust.additional
            configuration.certificateVerification = .optionalVerification
            configuration.sendCANameList = true
        }
        if files.revocationList.isEmpty {
            revocationChecker = nil
        } else {
            guard !files.clientCA.isEmpty || !files.clientCADirectory.isEmpty else {
                throw TLSFileError(file: files.revocationList, problem: "ssl_crl_file needs ssl_ca_cert or ssl_ca_cert_dir, the CAs whose revocations it lists")
            }
            revocationChecker = try ClientCertificateVerifier(
                caFile: files.clientCA, caDirectory: files.clientCADirectory, crlFile: files.revocationList)
        }
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw TLSFileError(file: files.certificate, problem: "cannot be used with \(files.key): \(error)")
        }
        certificateDER = checked.leafDER
    }

    /// A handler that runs the server side of one TLS handshake; a client certificate refused by
    /// the revocation check is logged with OpenSSL's reason.
    func makeHandler(logger: Logger) -> NIOSSLServerHandler {
        guard let revocationChecker else { return NIOSSLServerHandler(context: context) }
        return NIOSSLServerHandler(context: context) { chain, promise in
            if let problem = revocationChecker.problem(with: chain) {
                logger.warning("client certificate refused", metadata: ["reason": "\(problem)"])
                promise.succeed(.failed)
            } else {
                promise.succeed(.certificateVerified)
            }
        }
    }
}

/// Where the TLS material of one side lives (paths as pgpool.conf gives them, resolved).
public struct TLSFiles: Sendable, Equatable {
    /// PEM certificate chain, the server certificate first (`ssl_cert`).
    public var certificate: String
    /// PEM private key (`ssl_key`).
    public var key: String
    /// OpenSSL cipher list for TLS 1.2 (`ssl_ciphers`); empty keeps the library's default.
    public var ciphers: String
    /// PEM CA certificates that sign client certificates (`ssl_ca_cert`); empty: none asked for.
    public var clientCA: String
    /// A hashed directory of CA certificates (`ssl_ca_cert_dir`), beside or instead of `clientCA`.
    public var clientCADirectory: String
    /// PEM certificate revocation lists for client certificates (`ssl_crl_file`); empty: none.
    public var revocationList: String
    /// A command whose output is the key's passphrase (`ssl_passphrase_command`, `%p` the prompt).
    public var passphraseCommand: String
    /// The ECDH curves offered, colon-separated OpenSSL names (`ssl_ecdh_curve`); empty: the
    /// library's default list.
    public var curves: String

    public init(certificate: String, key: String, ciphers: String = "", clientCA: String = "",
                clientCADirectory: String = "", revocationList: String = "", passphraseCommand: String = "",
                curves: String = "") {
        self.clientCA = clientCA
        self.clientCADirectory = clientCADirectory
        self.revocationList = revocationList
        self.passphraseCommand = passphraseCommand
        self.curves = curves
        self.certificate = certificate
        self.key = key
        self.ciphers = ciphers
    }
}

/// A certificate or key that cannot be used, and why.
public struct TLSFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var problem: String

    public init(file: String, problem: String) {
        self.file = file
        self.problem = problem
    }

    public var description: String { "\(file): \(problem)" }
}
