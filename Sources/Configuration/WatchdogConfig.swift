/// One member of the watchdog cluster as the configuration names it.
public struct WatchdogMemberConfig: Sendable, Equatable {
    /// The member's number: `hostnameN`'s N in the 4.2+ style; in the 4.1 style 0 for the local
    /// member and N+1 for `other_pgpool_hostnameN`.
    public var id: Int
    public var host: String
    public var wdPort: Int
    public var pgpoolPort: Int

    public init(id: Int, host: String, wdPort: Int, pgpoolPort: Int) {
        self.id = id
        self.host = host
        self.wdPort = wdPort
        self.pgpoolPort = pgpoolPort
    }

    /// The member's name on the wire and in every report: `host:wd_port`. Members configured in
    /// either style agree on it.
    public var name: String { "\(host):\(wdPort)" }
}

/// One heartbeat destination.
public struct HeartbeatDestination: Sendable, Equatable {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}

/// How watchdog members check that the others are alive (`wd_lifecheck_method`).
public enum WatchdogLifecheckMethod: String, Sendable, Equatable {
    /// UDP heartbeats every `wd_heartbeat_keepalive`; lost after `wd_heartbeat_deadtime`.
    case heartbeat
    /// `wd_lifecheck_query` through each member's pgpool_port every `wd_interval`.
    case query
    /// Something outside SwiftPool reports members alive or dead through the admin API.
    case external
}

/// The watchdog settings of a pgpool.conf (`use_watchdog` and the parameters around it).
public struct WatchdogConfig: Sendable, Equatable {
    public var enabled: Bool
    /// The local member.
    public var local: WatchdogMemberConfig
    /// The other members, by id.
    public var peers: [WatchdogMemberConfig]
    /// UDP port heartbeats are received on.
    public var heartbeatListenPort: Int
    /// Where heartbeats are sent: every other member's `heartbeat_hostnameN:heartbeat_portN`, or
    /// the 4.1 style's `heartbeat_destinationN`.
    public var heartbeatTargets: [HeartbeatDestination]
    public var priority: Int
    public var authKey: String
    public var lifecheckMethod: WatchdogLifecheckMethod
    public var heartbeatKeepalive: Duration
    public var heartbeatDeadtime: Duration
    public var lifecheckInterval: Duration
    public var lifePoint: Int
    public var lifecheckQuery: String
    public var lifecheckDatabase: String
    public var lifecheckUser: String
    public var lifecheckPassword: String
    public var trustedServers: [String]
    public var pingPath: String
    public var delegateIP: String
    /// `if_up_cmd`, `if_down_cmd` and `arping_cmd` with relative commands resolved against
    /// `if_cmd_path` / `arping_path` (`$_IP_$` still in them).
    public var ifUpCommand: String
    public var ifDownCommand: String
    public var arpingCommand: String
    public var escalationCommand: String
    public var deEscalationCommand: String
    public var failoverWhenQuorumExists: Bool
    public var failoverRequireConsensus: Bool
    public var allowMultipleFailoverRequestsFromNode: Bool
    public var enableConsensusWithHalfVotes: Bool
    public var removeShutdownNodes: Bool
    public var lostNodeRemovalTimeout: Duration
    public var noShowNodeRemovalTimeout: Duration

    /// A disabled watchdog (every other field at Pgpool-II's default).
    public static let disabled = WatchdogConfig(
        enabled: false, local: WatchdogMemberConfig(id: 0, host: "localhost", wdPort: 9000, pgpoolPort: 9999),
        peers: [], heartbeatListenPort: 9694, heartbeatTargets: [], priority: 1, authKey: "", lifecheckMethod: .heartbeat,
        heartbeatKeepalive: .seconds(2), heartbeatDeadtime: .seconds(30), lifecheckInterval: .seconds(10), lifePoint: 3,
        lifecheckQuery: "SELECT 1", lifecheckDatabase: "template1", lifecheckUser: "nobody", lifecheckPassword: "",
        trustedServers: [], pingPath: "/bin", delegateIP: "", ifUpCommand: "", ifDownCommand: "", arpingCommand: "",
        escalationCommand: "", deEscalationCommand: "", failoverWhenQuorumExists: true, failoverRequireConsensus: true,
        allowMultipleFailoverRequestsFromNode: false, enableConsensusWithHalfVotes: false, removeShutdownNodes: false,
        lostNodeRemovalTimeout: .zero, noShowNodeRemovalTimeout: .zero)

    public init(
        enabled: Bool, local: WatchdogMemberConfig, peers: [WatchdogMemberConfig], heartbeatListenPort: Int,
        heartbeatTargets: [HeartbeatDestination], priority: Int,
        authKey: String, lifecheckMethod: WatchdogLifecheckMethod, heartbeatKeepalive: Duration, heartbeatDeadtime: Duration,
        lifecheckInterval: Duration, lifePoint: Int, lifecheckQuery: String, lifecheckDatabase: String, lifecheckUser: String,
        lifecheckPassword: String, trustedServers: [String], pingPath: String, delegateIP: String, ifUpCommand: String,
        ifDownCommand: String, arpingCommand: String, escalationCommand: String, deEscalationCommand: String,
        failoverWhenQuorumExists: Bool, failoverRequireConsensus: Bool, allowMultipleFailoverRequestsFromNode: Bool,
        enableConsensusWithHalfVotes: Bool, removeShutdownNodes: Bool, lostNodeRemovalTimeout: Duration,
        noShowNodeRemovalTimeout: Duration
    ) {
        self.enabled = enabled
        self.local = local
        self.peers = peers
        self.heartbeatListenPort = heartbeatListenPort
        self.heartbeatTargets = heartbeatTargets
        self.priority = priority
        self.authKey = authKey
        self.lifecheckMethod = lifecheckMethod
        self.heartbeatKeepalive = heartbeatKeepalive
        self.heartbeatDeadtime = heartbeatDeadtime
        self.lifecheckInterval = lifecheckInterval
        self.lifePoint = lifePoint
        self.lifecheckQuery = lifecheckQuery
        self.lifecheckDatabase = lifecheckDatabase
        self.lifecheckUser = lifecheckUser
        self.lifecheckPassword = lifecheckPassword
        self.trustedServers = trustedServers
        self.pingPath = pingPath
        self.delegateIP = delegateIP
        self.ifUpCommand = ifUpCommand
        self.ifDownCommand = ifDownCommand
        self.arpingCommand = arpingCommand
        self.escalationCommand = escalationCommand
        self.deEscalationCommand = deEscalationCommand
        self.failoverWhenQuorumExists = failoverWhenQuorumExists
        self.failoverRequireConsensus = failoverRequireConsensus
        self.allowMultipleFailoverRequestsFromNode = allowMultipleFailoverRequestsFromNode
        self.enableConsensusWithHalfVotes = enableConsensusWithHalfVotes
        self.removeShutdownNodes = removeShutdownNodes
        self.lostNodeRemovalTimeout = lostNodeRemovalTimeout
        self.noShowNodeRemovalTimeout = noShowNodeRemovalTimeout
    }

    /// Every member, the local one first, then the others by id.
    public var members: [WatchdogMemberConfig] { [local] + peers }

    /// Replaces `$_IP_$` with the virtual IP.
    public func expand(_ command: String) -> String {
        escalation.expand(command)
    }

    /// The virtual IP and the commands run around it.
    public var escalation: EscalationSettings {
        EscalationSettings(
            delegateIP: delegateIP, ifUpCommand: ifUpCommand, ifDownCommand: ifDownCommand, arpingCommand: arpingCommand,
            escalationCommand: escalationCommand, deEscalationCommand: deEscalationCommand)
    }
}
