/// A watchdog member's state, with Pgpool-II's names and numbers (pcp_watchdog_info prints both).
public enum WatchdogState: Int, Sendable, Codable, CaseIterable {
    case dead = 0
    case loading = 1
    case joining = 2
    case initializing = 3
    case leader = 4
    case participatingInElection = 5
    case standingForLeader = 6
    case standby = 7
    case lost = 8
    case inNetworkTrouble = 9
    case shutdown = 10
    case addMessageSent = 11
    case networkIsolation = 12

    /// Pgpool-II's name of the state.
    public var name: String {
        switch self {
        case .dead: "DEAD"
        case .loading: "LOADING"
        case .joining: "JOINING"
        case .initializing: "INITIALIZING"
        case .leader: "LEADER"
        case .participatingInElection: "PARTICIPATING IN ELECTION"
        case .standingForLeader: "STANDING FOR LEADER"
        case .standby: "STANDBY"
        case .lost: "LOST"
        case .inNetworkTrouble: "IN NETWORK TROUBLE"
        case .shutdown: "SHUTDOWN"
        case .addMessageSent: "ADD MESSAGE SENT"
        case .networkIsolation: "NETWORK ISOLATION"
        }
    }
}

/// Whether a member counts towards quorum and consensus (Pgpool-II 4.3's membership).
public enum WatchdogMembership: Int, Sendable, Codable {
    case member = 0
    /// Stopped cleanly with `wd_remove_shutdown_nodes`.
    case revokedShutdown = 1
    /// Never showed up within `wd_no_show_node_removal_timeout`.
    case revokedNoShow = 2
    /// Lost for `wd_lost_node_removal_timeout`.
    case revokedLost = 3

    public var name: String {
        switch self {
        case .member: "MEMBER"
        case .revokedShutdown: "SHUTDOWN"
        case .revokedNoShow: "NO-SHOW"
        case .revokedLost: "LOST"
        }
    }
}

/// The quorum as Pgpool-II reports it.
public enum QuorumStatus: Int, Sendable, Codable {
    case exists = 1
    /// Exactly half the members alive, with `enable_consensus_with_half_votes`.
    case onTheEdge = 0
    case absent = -1
    case noLeader = -2

    public var text: String {
        switch self {
        case .exists: "QUORUM EXIST"
        case .onTheEdge: "QUORUM IS ON THE EDGE"
        case .absent: "QUORUM ABSENT"
        case .noLeader: "NO LEADER NODE"
        }
    }

    /// Whether a leader may hold the virtual IP and fail backends over.
    public var allowsAction: Bool { self == .exists || self == .onTheEdge }
}

/// The quorum arithmetic over `members` voting members of which `alive` (the local one included)
/// are alive.
public struct QuorumRule: Sendable, Equatable {
    public var enableConsensusWithHalfVotes: Bool

    public init(enableConsensusWithHalfVotes: Bool) {
        self.enableConsensusWithHalfVotes = enableConsensusWithHalfVotes
    }

    /// Members (or votes) needed: more than half, or exactly half of an even count with
    /// `enable_consensus_with_half_votes`.
    public func required(members: Int) -> Int {
        if members % 2 == 0, enableConsensusWithHalfVotes { return max(1, members / 2) }
        return members / 2 + 1
    }

    public func status(members: Int, alive: Int) -> QuorumStatus {
        if alive >= members / 2 + 1 { return .exists }
        if members % 2 == 0, enableConsensusWithHalfVotes, alive == members / 2 { return .onTheEdge }
        return .absent
    }
}

/// What a member tells the others about itself, every `wd_heartbeat_keepalive` and on change.
public struct MemberStatus: Sendable, Codable, Equatable {
    public var state: WatchdogState
    public var priority: Int
    /// Wall-clock start time in seconds since 1970: the earlier start wins a priority tie.
    public var startTime: Double
    /// The leader the member follows (its own name when it leads).
    public var leader: String?
    public var escalated: Bool
    public var quorum: QuorumStatus
    /// Alive standbys following this member (leaders only).
    public var standbys: Int
    /// Wall-clock time the member became leader.
    public var leaderSince: Double?
    /// The backend status as the leader sees it (leaders only).
    public var backends: BackendView?
    /// Ask the receiver to answer with its own status at once.
    public var wantsReply: Bool
    /// The sender's machine name, for Pgpool-II's node names.
    public var machine: String?

    public init(state: WatchdogState, priority: Int, startTime: Double, leader: String?, escalated: Bool, quorum: QuorumStatus,
                standbys: Int = 0, leaderSince: Double? = nil, backends: BackendView? = nil, wantsReply: Bool = false) {
        self.state = state
        self.priority = priority
        self.startTime = startTime
        self.leader = leader
        self.escalated = escalated
        self.quorum = quorum
        self.standbys = standbys
        self.leaderSince = leaderSince
        self.backends = backends
        self.wantsReply = wantsReply
    }
}

/// The leader's view of the backends, which every member applies.
public struct BackendView: Sendable, Codable, Equatable {
    /// Node ids the leader has taken out of service.
    public var down: [Int]
    /// Node ids in service.
    public var up: [Int]
    public var primary: Int?

    public init(down: [Int], up: [Int], primary: Int?) {
        self.down = down
        self.up = up
        self.primary = primary
    }
}

/// A change of backend status that a member asks the leader to decide.
public struct BackendChangeRequest: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable {
        /// Take nodes out (a failure, or an operator's detach).
        case down
        /// Bring a node back (an operator's attach, auto_failback).
        case up
        /// Make a node the primary.
        case promote
    }

    public var kind: Kind
    public var nodes: [Int]
    /// Operator requests and auto_failback need neither quorum nor consensus (Pgpool's
    /// REQ_DETAIL_CONFIRMED).
    public var confirmed: Bool
    /// Why (FailoverReason's raw value), for the leader's log and statistics.
    public var reason: String
    /// Detach: end the sessions on the node at once.
    public var immediate: Bool
    /// Promote: detach the old primary and have failover_command promote the node.
    public var switchover: Bool

    public init(kind: Kind, nodes: [Int], confirmed: Bool, reason: String, immediate: Bool = true, switchover: Bool = false) {
        self.kind = kind
        self.nodes = nodes
        self.confirmed = confirmed
        self.reason = reason
        self.immediate = immediate
        self.switchover = switchover
    }

    /// Votes are counted per kind and node set.
    public var voteKey: String { "\(kind.rawValue):\(nodes.sorted().map(String.init).joined(separator: ","))" }
}

/// What the leader decided about a backend change.
public enum BackendChangeOutcome: Sendable, Codable, Equatable {
    /// Carried out on the leader and applied everywhere.
    case applied
    /// The leader refused it (node already down, last usable node, …).
    case refused(String)
    /// No quorum or not enough votes yet: the requester quarantines the node locally.
    case quarantine(String)
    /// The receiver is not the leader (any more).
    case notLeader
}
