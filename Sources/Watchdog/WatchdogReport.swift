import Configuration

/// What the watchdog shows to PCP (`pcp_watchdog_info`), the HTTP API, metrics and SQL: one
/// consistent picture, rebuilt after every event.
public struct WatchdogReport: Sendable, Equatable {
    public struct Member: Sendable, Equatable {
        public var id: Int
        /// `host:wd_port`, the name on the wire.
        public var name: String
        /// Pgpool-II's node name: `host:pgpool_port Linux machine`.
        public var nodeName: String
        public var host: String
        public var wdPort: Int
        public var pgpoolPort: Int
        public var priority: Int
        public var state: WatchdogState
        public var membership: WatchdogMembership
        public var alive: Bool
        public var isLocal: Bool
        public var escalated: Bool
        /// Seconds since the member was last heard from (remote members; nil before the first time).
        public var heartbeatAge: Double?

        public init(id: Int, name: String, nodeName: String, host: String, wdPort: Int, pgpoolPort: Int, priority: Int,
                    state: WatchdogState, membership: WatchdogMembership, alive: Bool, isLocal: Bool, escalated: Bool,
                    heartbeatAge: Double?) {
            self.id = id
            self.name = name
            self.nodeName = nodeName
            self.host = host
            self.wdPort = wdPort
            self.pgpoolPort = pgpoolPort
            self.priority = priority
            self.state = state
            self.membership = membership
            self.alive = alive
            self.isLocal = isLocal
            self.escalated = escalated
            self.heartbeatAge = heartbeatAge
        }
    }

    public var enabled: Bool
    public var members: [Member]
    public var state: WatchdogState
    public var leaderName: String?
    public var quorum: QuorumStatus
    public var votingMembers: Int
    public var aliveMembers: Int
    public var requiredMembers: Int
    public var escalated: Bool
    public var delegateIP: String
    public var elections: Int
    public var vipUp: Int
    public var vipDown: Int
    /// Dropped incoming messages by port and reason.
    public var rejected: [String: Int]
    /// Backend changes asked of the leader, by result (applied, quarantined, refused).
    public var failoverRequests: [String: Int]
    /// The engine the fleet agrees through.
    public var backEnd: CoordinationBackEnd
    /// With etcd: requests sent to etcd by kind (`grant`, `keepalive`, `txn`, `range`, `watch`,
    /// `authenticate`, `revoke`) and result (`ok`, `error`), keyed `kind|result`.
    public var etcdRequests: [String: Int]
    /// With etcd: whether the last request to etcd succeeded.
    public var etcdReachable: Bool

    public init(enabled: Bool, members: [Member], state: WatchdogState, leaderName: String?, quorum: QuorumStatus, votingMembers: Int,
                aliveMembers: Int, requiredMembers: Int, escalated: Bool, delegateIP: String, elections: Int, vipUp: Int, vipDown: Int,
                rejected: [String: Int], failoverRequests: [String: Int], backEnd: CoordinationBackEnd = .watchdog,
                etcdRequests: [String: Int] = [:], etcdReachable: Bool = false) {
        self.backEnd = backEnd
        self.etcdRequests = etcdRequests
        self.etcdReachable = etcdReachable
        self.enabled = enabled
        self.members = members
        self.state = state
        self.leaderName = leaderName
        self.quorum = quorum
        self.votingMembers = votingMembers
        self.aliveMembers = aliveMembers
        self.requiredMembers = requiredMembers
        self.escalated = escalated
        self.delegateIP = delegateIP
        self.elections = elections
        self.vipUp = vipUp
        self.vipDown = vipDown
        self.rejected = rejected
        self.failoverRequests = failoverRequests
    }

    public static let disabled = WatchdogReport(
        enabled: false, members: [], state: .dead, leaderName: nil, quorum: .noLeader, votingMembers: 0, aliveMembers: 0,
        requiredMembers: 0, escalated: false, delegateIP: "", elections: 0, vipUp: 0, vipDown: 0, rejected: [:],
        failoverRequests: [:])

    public var local: Member? { members.first(where: \.isLocal) }
    public var leader: Member? { members.first { $0.name == leaderName } }
    /// Whether this member leads with quorum: the one a load balancer should send clients to.
    public var isActiveLeader: Bool { state == .leader && quorum.allowsAction }
    public var remoteCount: Int { max(0, members.count - 1) }
    public var memberRemoteCount: Int { members.filter { !$0.isLocal && $0.membership == .member }.count }
    public var aliveRemoteCount: Int { members.filter { !$0.isLocal && $0.alive }.count }
}
