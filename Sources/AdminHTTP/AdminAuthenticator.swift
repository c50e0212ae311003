import Configuration
import Foundation
import PostgresWire

/// Who may call the admin API: HTTP Basic against pcp.conf's users (md5 hex of the password) or
/// a bearer token. Secrets are compared in constant time and never logged.
public struct AdminAuthenticator: Sendable {
    public enum Verdict: Sendable, Equatable {
        /// The caller's user name (or `token` for the bearer token).
        case allowed(String)
        case missing
        case denied(user: String?)
    }

    public var users: PCPUsers
    public var bearerToken: String?

    public init(users: PCPUsers, bearerToken: String?) {
        self.users = users
        self.bearerToken = bearerToken.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Checks a request's `Authorization` header.
    public func check(_ authorization: String?) -> Verdict {
        guard let authorization, let space = authorization.firstIndex(of: " ") else { return .missing }
        let scheme = authorization[..<space].lowercased()
        let credentials = authorization[authorization.index(after: space)...].trimmingCharacters(in: .whitespaces)
        switch scheme {
        case "bearer":
            guard let bearerToken else { return .denied(user: nil) }
            return Self.constantTimeEqual(credentials, bearerToken) ? .allowed("token") : .denied(user: nil)
        case "basic":
            // `String(validating:)`, not `String(data:encoding:)`: the latter drops a leading
            // byte order mark, which pcp.conf may hold as part of a user name.
            guard let decoded = Data(base64Encoded: credentials).flatMap({ String(validating: $0, as: UTF8.self) }),
                  let (user, password) = decoded.splitOnce(atScalar: ":") else { return .denied(user: nil) }
            // Hash even for unknown users, so that timing does not tell them apart.
            let offered = MD5Password.plainHash(password)
            let stored = users.passwordMD5(for: user)
            let matches = Self.constantTimeEqual(offered, stored?.lowercased() ?? String(repeating: "x", count: 32))
            return matches && stored != nil ? .allowed(user) : .denied(user: user)
        default:
            return .denied(user: nil)
        }
    }

    /// Compares without stopping at the first difference.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool { ConstantTime.equal(a, b) }
}
