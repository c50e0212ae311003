import PostgresWire

/// What makes two backend connections interchangeable: the node, and a startup packet with the
/// same user, database and parameters (Pgpool-II compares the whole startup packet).
public struct PoolKey: Hashable, Sendable, CustomStringConvertible {
    public private(set) var nodeID: Int
    public private(set) var user: String
    public private(set) var database: String
    public private(set) var startup: StartupParameters
    /// The startup packet's hash, taken once: keys hash, and unequal ones differ, without
    /// walking the packet again.
    private let startupHash: Int

    public init(nodeID: Int, startup: StartupParameters) {
        self.nodeID = nodeID
        self.user = startup.user ?? ""
        self.database = startup.database ?? ""
        self.startup = startup
        self.startupHash = startup.hashValue
    }

    /// The same startup packet on another node.
    public func onNode(_ id: Int) -> PoolKey {
        var key = self
        key.nodeID = id
        return key
    }

    public var description: String { "node \(nodeID) \(user)@\(database)" }

    /// The startup packets compared byte for byte (user and database come from them).
    public static func == (lhs: PoolKey, rhs: PoolKey) -> Bool {
        lhs.nodeID == rhs.nodeID && lhs.startupHash == rhs.startupHash && lhs.startup == rhs.startup
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(nodeID)
        hasher.combine(startupHash)
    }
}

/// The clear-text password a client gave under allow_clear_text_frontend_auth, which a
/// connection opened with it can be handed on with.
enum ClientPassword {
    /// Both absent, or the same bytes (compared in constant time).
    static func same(_ a: String?, _ b: String?) -> Bool {
        switch (a, b) {
        case (nil, nil): true
        case let (a?, b?): ConstantTime.equal(a, b)
        default: false
        }
    }
}
