import CX509Verify
import NIOSSL

/// Verifies the certificate chain a client presents against the CA certificates and revocation
/// lists of pgpool.conf (`ssl_ca_cert`, `ssl_ca_cert_dir`, `ssl_crl_file`) with the system's
/// OpenSSL, as PostgreSQL does. Used instead of the TLS library's own check when a revocation
/// list is configured; the store is read once and shared by every handshake (OpenSSL locks it).
final class ClientCertificateVerifier: @unchecked Sendable {
    private let verifier: OpaquePointer

    /// Loads the CA file and/or directory and the revocation list; the error names the file.
    init(caFile: String, caDirectory: String, crlFile: String) throws(TLSFileError) {
        var message = [CChar](repeating: 0, count: 512)
        let made = message.withUnsafeMutableBufferPointer { buffer in
            withOptionalCString(caFile) { ca in
                withOptionalCString(caDirectory) { directory in
                    withOptionalCString(crlFile) { crl in
                        swiftpool_x509_verifier_new(ca, directory, crl, buffer.baseAddress, buffer.count)
                    }
                }
            }
        }
        guard let made else {
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw TLSFileError(file: crlFile, problem: text.isEmpty ? "cannot be loaded" : text)
        }
        verifier = made
    }

    deinit { swiftpool_x509_verifier_free(verifier) }

    /// Checks `chain` (the client's certificate first); nil when it is trusted and not revoked,
    /// otherwise OpenSSL's reason ("certificate revoked", "unable to get local issuer
    /// certificate", …).
    func problem(with chain: [NIOSSLCertificate]) -> String? {
        guard !chain.isEmpty else { return "no certificate" }
        let ders: [[UInt8]]
        do { ders = try chain.map { try $0.toDERBytes() } } catch { return "cannot encode the certificate" }
        var message = [CChar](repeating: 0, count: 256)
        let lengths = ders.map(\.count)
        let result = withPointers(to: ders) { pointers in
            lengths.withUnsafeBufferPointer { lengthBuffer in
                message.withUnsafeMutableBufferPointer { buffer in
                    swiftpool_x509_verify_chain(verifier, pointers, lengthBuffer.baseAddress, ders.count,
                                                buffer.baseAddress, buffer.count)
                }
            }
        }
        guard result != 0 else { return nil }
        return String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Calls `body` with a C string for `text`, or with nil when it is empty.
private func withOptionalCString<R>(_ text: String, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    text.isEmpty ? body(nil) : text.withCString { body($0) }
}

/// Calls `body` with an array of pointers to each buffer's bytes, all alive for the call.
private func withPointers<R>(to buffers: [[UInt8]], _ body: (UnsafePointer<UnsafePointer<UInt8>?>) -> R) -> R {
    func nest(_ index: Int, _ collected: [UnsafePointer<UInt8>?]) -> R {
        guard index < buffers.count else { return collected.withUnsafeBufferPointer { body($0.baseAddress!) } }
        return buffers[index].withUnsafeBufferPointer { nest(index + 1, collected + [$0.baseAddress]) }
    }
    return nest(0, [])
}
