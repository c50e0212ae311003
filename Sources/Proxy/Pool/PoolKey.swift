import PostgresWire

/// What makes two backend connections interchangeable: the node, and a startup packet with the
/// same user, database and parameters (Pgpool-II compares the whole startup packet).
public struct PoolKey: Hashable, Sendable, CustomStringConvertible {
    public private(set) var nodeID: Int
    /// What the key says beyond its node, in one object: keys are copied at every lease, wait
    /// and hand-back, and a copy then retains one reference instead of every string and array.
    private let packet: Packet

    private final class Packet: Sendable {
        let user: String
        let database: String
        let startup: StartupParameters
        /// The startup packet's hash, taken once: keys hash, and unequal ones differ, without
        /// walking the packet again.
        let hash: Int
        let isNeverCached: Bool

        init(startup: StartupParameters) {
            user = startup.user ?? ""
            database = startup.database ?? ""
            self.startup = startup
            hash = startup.hashValue
            isNeverCached = PoolKey.neverCachedDatabases.contains(database)
        }
    }

    public init(nodeID: Int, startup: StartupParameters) {
        self.nodeID = nodeID
        self.packet = Packet(startup: startup)
    }

    public var user: String { packet.user }
    public var database: String { packet.database }
    public var startup: StartupParameters { packet.startup }
    /// A template database: its connections are never kept idle (CREATE DATABASE copies it and
    /// fails while anyone is connected). Decided once, not at every hand-back.
    public var isNeverCached: Bool { packet.isNeverCached }

    /// The same startup packet on another node.
    public func onNode(_ id: Int) -> PoolKey {
        var key = self
        key.nodeID = id
        return key
    }

    static let neverCachedDatabases: Set<String> = ["template0", "template1"]

    public var description: String { "node \(nodeID) \(user)@\(database)" }

    /// The startup packets compared byte for byte (user and database come from them); copies of
    /// one key (a loop's sessions share one, see ``BackendPool/internedKey(_:)``) are equal at once.
    public static func == (lhs: PoolKey, rhs: PoolKey) -> Bool {
        guard lhs.nodeID == rhs.nodeID else { return false }
        if lhs.packet === rhs.packet { return true }
        return lhs.packet.hash == rhs.packet.hash && lhs.packet.startup == rhs.packet.startup
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(nodeID)
        hasher.combine(packet.hash)
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
