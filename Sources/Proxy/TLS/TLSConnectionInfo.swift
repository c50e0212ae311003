import NIOCore
import NIOSSL

/// What the session needs to know about its connection's encryption: whether it is TLS, and
/// the data that binds SCRAM to this TLS connection.
struct TLSConnectionInfo {
    var isTLS = false
    /// The client certificate, when the client sent one.
    var peerCertificate: NIOSSLCertificate?

    /// The client certificate's subject common name (the last one, as PostgreSQL takes it).
    var peerCommonName: String? {
        peerCertificate?.subjectName.last { $0.type == .commonName }?.value
    }

    /// A connection without TLS.
    init() {}

    /// Reads it off `channel`'s pipeline (on the channel's event loop).
    init(channel: Channel) {
        guard let handler = try? channel.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self) else { return }
        isTLS = true
        peerCertificate = handler.peerCertificate
    }
}
