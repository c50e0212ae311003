import Crypto

/// SCRAM channel binding of type `tls-server-end-point` (RFC 5929): the hash of the server's
/// certificate, with the hash function of the certificate's signature algorithm (SHA-256 when
/// that is MD5 or SHA-1, or not recognized), as PostgreSQL computes it.
public enum ChannelBinding {
    /// The only channel-binding type PostgreSQL offers.
    public static let tlsServerEndPoint = "tls-server-end-point"
    /// The SASL mechanism with channel binding.
    public static let mechanism = "SCRAM-SHA-256-PLUS"

    /// The binding data for a server certificate given in DER.
    public static func tlsServerEndPointData(certificateDER der: [UInt8]) -> [UInt8] {
        switch signatureHash(certificateDER: der) {
        case .sha384: return Array(SHA384.hash(data: der))
        case .sha512: return Array(SHA512.hash(data: der))
        case .sha256: return Array(SHA256.hash(data: der))
        }
    }

    enum Hash { case sha256, sha384, sha512 }

    /// The hash of the certificate's `signatureAlgorithm` (the AlgorithmIdentifier after
    /// `tbsCertificate`); SHA-256 when it cannot be read.
    static func signatureHash(certificateDER der: [UInt8]) -> Hash {
        var reader = DERReader(der)
        guard reader.enter(tag: 0x30),          // Certificate
              reader.skip(tag: 0x30),           // tbsCertificate
              reader.enter(tag: 0x30),          // signatureAlgorithm
              let oid = reader.read(tag: 0x06) else { return .sha256 }
        switch oid {
        // sha384WithRSAEncryption, ecdsa-with-SHA384
        case [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0C], [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x03]:
            return .sha384
        // sha512WithRSAEncryption, ecdsa-with-SHA512
        case [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0D], [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x04]:
            return .sha512
        default:
            return .sha256
        }
    }

    /// Just enough DER to walk to a certificate's signature algorithm.
    struct DERReader {
        private let bytes: [UInt8]
        private var index = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        /// Reads a tag and a length; returns the length, nil when malformed or another tag.
        private mutating func header(tag: UInt8) -> Int? {
            guard index < bytes.count, bytes[index] == tag, index + 1 < bytes.count else { return nil }
            index += 1
            let first = Int(bytes[index])
            index += 1
            if first < 0x80 { return first }
            let count = first & 0x7F
            guard count >= 1, count <= 4, index + count <= bytes.count else { return nil }
            var length = 0
            for _ in 0..<count {
                length = length << 8 | Int(bytes[index])
                index += 1
            }
            return length
        }

        /// Steps into a constructed value of `tag`.
        mutating func enter(tag: UInt8) -> Bool { header(tag: tag) != nil }

        /// Steps over a whole value of `tag`.
        mutating func skip(tag: UInt8) -> Bool {
            guard let length = header(tag: tag), index + length <= bytes.count else { return false }
            index += length
            return true
        }

        /// The contents of a primitive value of `tag`.
        mutating func read(tag: UInt8) -> [UInt8]? {
            guard let length = header(tag: tag), index + length <= bytes.count else { return nil }
            defer { index += length }
            return Array(bytes[index..<(index + length)])
        }
    }
}
