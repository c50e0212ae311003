import Configuration

/// The role a backend plays in streaming replication.
public enum NodeRole: String, Sendable, Codable {
    case primary
    case standby
    case unknown
}

/// Whether SwiftPool sends traffic to a node (Pgpool-II's backend status).
public enum NodeStatus: String, Sendable, Codable, CaseIterable {
    /// Configured and believed healthy, not yet used by any session.
    case waiting
    case up
    case down
    /// The slot is not configured.
    case unused
    /// Down locally only: health checks go on and the node comes back by itself when it answers.
    case quarantine

    /// Whether sessions may use the node.
    public var isUsable: Bool { self == .up || self == .waiting }
}

/// What the streaming-replication check last found about a node.
public struct ReplicationInfo: Sendable, Equatable {
    /// Bytes of WAL the node has not replayed yet (primary's current LSN minus its replay LSN).
    public var delayBytes: UInt64?
    /// `pg_stat_replication.replay_lag` of the node, in seconds.
    public var delaySeconds: Double?
    /// `pg_stat_replication.state` (streaming, catchup…), empty when the primary lists no match.
    public var state: String
    /// `pg_stat_replication.sync_state` (async, sync, quorum, potential).
    public var syncState: String

    public init(delayBytes: UInt64? = nil, delaySeconds: Double? = nil, state: String = "", syncState: String = "") {
        self.delayBytes = delayBytes
        self.delaySeconds = delaySeconds
        self.state = state
        self.syncState = syncState
    }
}

/// One backend node as the cluster state sees it.
public struct NodeInfo: Sendable, Equatable {
    public var id: Int
    public var host: String
    public var port: Int
    public var weight: Double
    public var role: NodeRole
    public var status: NodeStatus
    /// When `status` last changed, in seconds since 1970.
    public var lastStatusChange: Double
    /// `backend_data_directoryN`, for the `%D` and `%R` placeholders.
    public var dataDirectory: String
    /// `backend_application_nameN`, to find the node in `pg_stat_replication`.
    public var applicationName: String
    public var flags: BackendFlags
    public var replication: ReplicationInfo
    /// Over `delay_threshold` or `delay_threshold_by_time`: the node gets no reads.
    public var isLagging: Bool

    public init(id: Int, host: String, port: Int, weight: Double, role: NodeRole = .unknown, status: NodeStatus = .waiting,
                dataDirectory: String = "", applicationName: String = "", flags: BackendFlags = BackendFlags(),
                lastStatusChange: Double = 0) {
        self.id = id
        self.host = host
        self.port = port
        self.weight = weight
        self.role = role
        self.status = status
        self.lastStatusChange = lastStatusChange
        self.dataDirectory = dataDirectory
        self.applicationName = applicationName
        self.flags = flags
        self.replication = ReplicationInfo()
        self.isLagging = false
    }

    /// Whether sessions may send reads to the node.
    public var isReadable: Bool { status.isUsable && !isLagging }
}
