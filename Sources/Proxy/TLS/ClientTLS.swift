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
        if !files.clientCA.isEmpty {
            // Clients may present a certificate (for `cert` authentication); one that is presented
            // must be signed by these CAs.
            configuration.trustRoots = .certificates(try TLSFileCheck.certificates(files.clientCA))
            configuration.certificateVerification = .optionalVerification
            configuration.sendCANameList = true
        }
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw TLSFileError(file: files.certificate, problem: "cannot be used with \(files.key): \(error)")
        }
        certificateDER = checked.leafDER
    }

    /// A handler that runs the server side of one TLS handshake.
    func makeHandler() -> NIOSSLServerHandler {
        NIOSSLServerHandler(context: context)
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

    public init(certificate: String, key: String, ciphers: String = "", clientCA: String = "") {
        self.clientCA = clientCA
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
