import Configuration
import Proxy

/// Turns pool_hba.conf into the client authentication policy the proxy consults.
enum HbaPolicy {
    static func make(_ hba: PoolHba) -> ClientAuthPolicy {
        { info in
            let kind: HbaConnection.Kind = info.remoteAddress.map { .host(address: $0) } ?? .local
            let connection = HbaConnection(kind: kind, isSSL: info.isSSL, database: info.database, user: info.user)
            guard let rule = hba.match(connection: connection) else { return .noEntry }
            switch rule.method {
            case .trust: return .authenticate(.trust)
            case .reject: return .reject
            case .md5: return .authenticate(.md5)
            case .scramSHA256: return .authenticate(.scramSHA256)
            case .password: return .authenticate(.password)
            case .cert:
                // As PostgreSQL: the certificate was verified in the handshake; its CN must be the user,
                // byte for byte (Swift's == would take the Kelvin sign for a K).
                guard let name = info.certificateCommonName else { return .failed("connection requires a valid client certificate") }
                guard name.hasSameBytes(as: info.user) else { return .failed("certificate authentication failed for user \"\(info.user)\"") }
                return .authenticate(.trust)
            }
        }
    }
}
