/// The role a backend plays in streaming replication.
public enum NodeRole: String, Sendable, Codable {
    case primary
    case standby
    case unknown
}

/// Whether SwiftPool sends traffic to a node (Pgpool-II's node status).
public enum NodeStatus: String, Sendable, Codable {
    case up
    case down
    /// Configured and believed healthy, not yet used by any session.
    case waiting
}

/// One backend node as the cluster state sees it.
public struct NodeInfo: Sendable, Equatable {
    public var id: Int
    public var host: String
    public var port: Int
    public var weight: Double
    public var role: NodeRole
    public var status: NodeStatus

    public init(id: Int, host: String, port: Int, weight: Double, role: NodeRole = .unknown, status: NodeStatus = .waiting) {
        self.id = id
        self.host = host
        self.port = port
        self.weight = weight
        self.role = role
        self.status = status
    }
}
