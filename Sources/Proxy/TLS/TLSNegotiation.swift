import NIOCore
import PostgresWire

/// Decides, from the first bytes a client sends, how its connection is encrypted. Pure: the
/// handler (``ClientTLSNegotiator``) feeds it bytes and carries out what it answers.
///
/// - An SSLRequest is answered `S` and the TLS handshake follows; with TLS off the request is
///   left to the session, which answers `N`.
/// - A TLS record (first byte 0x16) starts PostgreSQL 17's direct TLS negotiation.
/// - A GSSENCRequest is answered `N` (no GSSAPI encryption); the client may then send an
///   SSLRequest or its startup packet.
/// - Anything else (a startup packet, a cancel request) goes to the session untouched.
struct TLSNegotiation {
    enum Decision: Equatable {
        /// Fewer than 8 bytes so far.
        case needMore
        /// Answer `N` to a GSSENCRequest, drop its 8 bytes and decide again on the rest.
        case refuseGSSEncryption
        /// Answer `S` to an SSLRequest and start the TLS handshake.
        case upgrade
        /// The client started a TLS handshake at once (direct TLS).
        case directTLS
        /// Hand everything to the session, unencrypted.
        case passThrough
        /// Close the connection: the client broke the protocol.
        case refuse(String)
    }

    /// Whether SwiftPool serves TLS (`ssl = on` with a usable certificate).
    var tlsEnabled: Bool
    private var gssRefused = false

    init(tlsEnabled: Bool) {
        self.tlsEnabled = tlsEnabled
    }

    /// The first TLS record's content type: handshake.
    static let tlsHandshakeRecord: UInt8 = 0x16

    mutating func decide(_ bytes: ByteBuffer) -> Decision {
        guard let first = bytes.getInteger(at: bytes.readerIndex, as: UInt8.self) else { return .needMore }
        if first == Self.tlsHandshakeRecord && !gssRefused {
            return tlsEnabled ? .directTLS : .refuse("direct TLS connection attempted while ssl is off")
        }
        guard bytes.readableBytes >= 8,
              let length = bytes.getInteger(at: bytes.readerIndex, as: Int32.self),
              let code = bytes.getInteger(at: bytes.readerIndex + 4, as: Int32.self)
        else { return .needMore }
        guard length == 8 else { return .passThrough }
        switch code {
        case ProtocolCode.gssEncRequest where !gssRefused:
            gssRefused = true
            return .refuseGSSEncryption
        case ProtocolCode.sslRequest where tlsEnabled:
            // Bytes sent after the request but before the handshake were not encrypted: a
            // man in the middle may have put them there (CVE-2021-23214).
            guard bytes.readableBytes == 8 else { return .refuse("received unencrypted data after SSL request") }
            return .upgrade
        default:
            return .passThrough
        }
    }
}
