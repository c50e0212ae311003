import PostgresWire

/// What makes two backend connections interchangeable: the node, and a startup packet with the
/// same user, database and parameters (Pgpool-II compares the whole startup packet).
public struct PoolKey: Hashable, Sendable, CustomStringConvertible {
    public var nodeID: Int
    public var user: String
    public var database: String
    public var startup: StartupParameters

    public init(nodeID: Int, startup: StartupParameters) {
        self.nodeID = nodeID
        self.user = startup.user ?? ""
        self.database = startup.database ?? ""
        self.startup = startup
    }

    public var description: String { "node \(nodeID) \(user)@\(database)" }

    /// The startup packets compared byte for byte (user and database come from them).
    public static func == (lhs: PoolKey, rhs: PoolKey) -> Bool {
        lhs.nodeID == rhs.nodeID && lhs.startup == rhs.startup
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(nodeID)
        hasher.combine(startup)
    }
}
