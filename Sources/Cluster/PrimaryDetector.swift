import Logging

/// Finds the primary: the node where `SELECT pg_is_in_recovery()` is false. Blocking (libpq).
public struct PrimaryDetector: Sendable {
    public var user: String
    public var password: String?
    public var database: String
    public var connectTimeoutSeconds: Int

    public init(user: String, password: String?, database: String, connectTimeoutSeconds: Int) {
        self.user = user
        self.password = password
        self.database = database
        self.connectTimeoutSeconds = connectTimeoutSeconds
    }

    /// The result of asking every node.
    public struct Finding: Sendable {
        public var primaryID: Int?
        public var reachable: [Int]
        public var errors: [Int: String]
    }

    public func detect(_ nodes: [NodeInfo]) -> Finding {
        var finding = Finding(primaryID: nil, reachable: [], errors: [:])
        for node in nodes {
            do {
                let connection = try LibPQConnection(host: node.host, port: node.port, user: user, password: password,
                                                     database: database, connectTimeoutSeconds: connectTimeoutSeconds)
                finding.reachable.append(node.id)
                if try connection.queryScalar("SELECT pg_is_in_recovery()") == "f", finding.primaryID == nil {
                    finding.primaryID = node.id
                }
            } catch {
                finding.errors[node.id] = error.message
            }
        }
        return finding
    }
}
