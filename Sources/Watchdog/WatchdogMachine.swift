/// The watchdog's membership, election, quorum, escalation and failover-consensus logic: a value
/// type that takes events (with the time they happened) and returns actions. No sockets, no
/// timers, no clock: the `WatchdogService` around it performs the actions and feeds it time.
///
/// Rules (Pgpool-II's):
/// - the higher `wd_priority` wins an election, the earlier start breaks a tie; a member that
///   finds a leader follows it, so a returning member does not take the lead back;
/// - a member is lost when nothing authenticated came from it for `wd_heartbeat_deadtime`
///   (or its query / external life check says so);
/// - a leader holds the virtual IP only with quorum, never in network isolation, and never while
///   another alive member says it holds it; it releases the IP when quorum goes and takes it again
///   when quorum returns;
/// - two leaders (after a partition heals): the escalated one stays, then the better quorum, then
///   more standbys, then the older leadership.
public struct WatchdogMachine: Sendable {
    /// The settings the machine needs (the rest of `WatchdogConfig` is the service's).
    public struct Settings: Sendable, Equatable {
        public var localName: String
        public var peerNames: [String]
        public var priority: Int
        /// Wall-clock start time, exchanged for tie-breaks.
        public var startTime: Double
        public var keepalive: Double
        public var deadtime: Double
        /// Whether messages and heartbeats prove a member alive (heartbeat method); otherwise
        /// only life-check reports do.
        public var livenessFromTraffic: Bool
        public var quorum: QuorumRule
        public var failoverWhenQuorumExists: Bool
        public var failoverRequireConsensus: Bool
        public var allowMultipleFailoverRequestsFromNode: Bool
        public var removeShutdownNodes: Bool
        public var lostNodeRemovalTimeout: Double
        public var noShowNodeRemovalTimeout: Double

        public init(localName: String, peerNames: [String], priority: Int, startTime: Double, keepalive: Double, deadtime: Double,
                    livenessFromTraffic: Bool = true, quorum: QuorumRule = QuorumRule(enableConsensusWithHalfVotes: false),
                    failoverWhenQuorumExists: Bool = true, failoverRequireConsensus: Bool = true,
                    allowMultipleFailoverRequestsFromNode: Bool = false, removeShutdownNodes: Bool = false,
                    lostNodeRemovalTimeout: Double = 0, noShowNodeRemovalTimeout: Double = 0) {
            self.localName = localName
            self.peerNames = peerNames
            self.priority = priority
            self.startTime = startTime
            self.keepalive = keepalive
            self.deadtime = deadtime
            self.livenessFromTraffic = livenessFromTraffic
            self.quorum = quorum
            self.failoverWhenQuorumExists = failoverWhenQuorumExists
            self.failoverRequireConsensus = failoverRequireConsensus
            self.allowMultipleFailoverRequestsFromNode = allowMultipleFailoverRequestsFromNode
            self.removeShutdownNodes = removeShutdownNodes
            self.lostNodeRemovalTimeout = lostNodeRemovalTimeout
            self.noShowNodeRemovalTimeout = noShowNodeRemovalTimeout
        }

        /// How long a member looks for an existing leader before it stands itself.
        var joinWindow: Double { min(deadtime, max(1, 2 * keepalive)) }
        /// How long a candidate waits for objections.
        var electionTimeout: Double { max(1, keepalive) }
        /// How long a failover vote counts.
        var voteLifetime: Double { max(30, 2 * deadtime) }
    }

    /// What the machine knows of another member.
    public struct Peer: Sendable, Equatable {
        public var name: String
        /// The state as the local member sees it: DEAD before it was ever heard, LOST or SHUTDOWN
        /// when gone, else what it reports.
        public var state: WatchdogState = .dead
        public var alive = false
        /// Monotonic time of the last proof of life.
        public var lastHeard: Double?
        public var status: MemberStatus?
        public var membership: WatchdogMembership = .member
        var lostSince: Double?
        var acceptedElection = false
    }

    /// Something that happened.
    public enum Event: Sendable, Equatable {
        case start
        /// Time passed (the service ticks a few times a second).
        case tick
        /// An authenticated UDP heartbeat arrived.
        case heartbeat(from: String)
        /// An authenticated status message arrived.
        case status(from: String, MemberStatus)
        case standForLeader(from: String, priority: Int, startTime: Double)
        case electionReply(from: String, accept: Bool)
        /// The member stops cleanly.
        case peerShutdown(from: String)
        /// Query or external life check result.
        case lifecheck(member: String, alive: Bool)
        /// Whether any of `trusted_servers` answers.
        case trustedServers(reachable: Bool)
        /// This member stops.
        case shutdown
    }

    /// Something the service must do.
    public enum Action: Sendable, Equatable {
        /// Send the local status (built by `status`) to one member or, with nil, to all.
        case sendStatus(to: String?, wantsReply: Bool)
        case sendStandForLeader
        case sendElectionReply(to: String, accept: Bool)
        case sendShutdown
        /// `wd_escalation_command`, `if_up_cmd`, `arping_cmd`.
        case escalate
        /// `wd_de_escalation_command`, `if_down_cmd`.
        case deEscalate
        /// Apply the leader's backend view (members only).
        case adoptBackends(BackendView)
        case log(LogLevel, String)
    }

    public enum LogLevel: Sendable, Equatable { case info, warning }

    public let settings: Settings
    public private(set) var state: WatchdogState = .loading
    public private(set) var leader: String?
    public private(set) var escalated = false
    public private(set) var peers: [String: Peer]
    public private(set) var elections = 0
    public private(set) var vipChanges = (up: 0, down: 0)
    public private(set) var leaderSince: Double?
    private var isolated = false
    private var startedAt = 0.0
    private var stateDeadline: Double?
    private var lastStatusSent = -Double.infinity
    /// Failover votes by request kind and nodes (see WatchdogMachine+Consensus.swift).
    var votes: [String: [(member: String, time: Double)]] = [:]
    private(set) var lastNow = 0.0

    public init(settings: Settings) {
        self.settings = settings
        peers = Dictionary(uniqueKeysWithValues: settings.peerNames.map { ($0, Peer(name: $0)) })
    }

    // MARK: Events

    public mutating func handle(_ event: Event, now: Double) -> [Action] {
        var actions: [Action] = []
        guard state != .shutdown else { return actions }
        lastNow = now
        switch event {
        case .start:
            startedAt = now
            enter(.joining, now: now, deadline: now + settings.joinWindow, &actions)
            actions.append(.sendStatus(to: nil, wantsReply: true))
            lastStatusSent = now
            if peers.isEmpty { becomeLeader(now: now, &actions) }
        case .tick:
            break
        case .heartbeat(let name):
            if settings.livenessFromTraffic { heard(name, now: now, &actions) }
        case .status(let name, let status):
            receiveStatus(status, from: name, now: now, &actions)
        case .standForLeader(let name, let priority, let startTime):
            receiveCandidacy(from: name, priority: priority, startTime: startTime, now: now, &actions)
        case .electionReply(let name, let accept):
            receiveReply(from: name, accept: accept, now: now, &actions)
        case .peerShutdown(let name):
            guard var peer = peers[name] else { break }
            peer.alive = false
            peer.state = .shutdown
            peer.lastHeard = nil
            peer.status = nil
            if settings.removeShutdownNodes { peer.membership = .revokedShutdown }
            peers[name] = peer
            actions.append(.log(.warning, "watchdog: member \(name) is shutting down"))
        case .lifecheck(let name, let alive):
            if alive {
                heard(name, now: now, &actions)
            } else if peers[name]?.alive == true {
                markLost(name, now: now, &actions)
            }
        case .trustedServers(let reachable):
            if !reachable, !isolated, state != .shutdown {
                isolated = true
                actions.append(.log(.warning, "watchdog: none of trusted_servers answers; this member is in network isolation and will not hold the virtual IP"))
                leader = nil
                leaderSince = nil
                enter(.networkIsolation, now: now, deadline: nil, &actions)
            } else if reachable, isolated {
                isolated = false
                actions.append(.log(.info, "watchdog: trusted_servers answer again; rejoining the cluster"))
                enter(.joining, now: now, deadline: now + settings.joinWindow, &actions)
                actions.append(.sendStatus(to: nil, wantsReply: true))
            }
        case .shutdown:
            if escalated { deEscalate(&actions) }
            leader = nil
            enter(.shutdown, now: now, deadline: nil, &actions)
            actions.append(.sendShutdown)
            return actions
        }
        if state != .shutdown {
            expire(now: now, &actions)
            advance(now: now, &actions)
            updateEscalation(&actions)
            if now - lastStatusSent >= settings.keepalive {
                lastStatusSent = now
                actions.append(.sendStatus(to: nil, wantsReply: false))
            }
        }
        return actions
    }

    // MARK: Liveness and membership

    private mutating func heard(_ name: String, now: Double, _ actions: inout [Action]) {
        guard var peer = peers[name] else { return }
        peer.lastHeard = now
        if !peer.alive {
            peer.alive = true
            peer.lostSince = nil
            if peer.membership != .member {
                peer.membership = .member
                actions.append(.log(.info, "watchdog: member \(name) counts towards quorum again"))
            }
            if peer.state == .lost || peer.state == .shutdown || peer.state == .dead {
                peer.state = peer.status?.state ?? .initializing
            }
            actions.append(.log(.info, "watchdog: member \(name) is alive"))
            if state != .loading { actions.append(.sendStatus(to: name, wantsReply: true)) }
        }
        peers[name] = peer
    }

    private mutating func markLost(_ name: String, now: Double, _ actions: inout [Action]) {
        guard var peer = peers[name] else { return }
        peer.alive = false
        peer.state = .lost
        peer.lostSince = now
        peer.acceptedElection = false
        peer.status = nil
        peers[name] = peer
        actions.append(.log(.warning, "watchdog: member \(name) is lost"))
    }

    private mutating func expire(now: Double, _ actions: inout [Action]) {
        for name in peers.keys.sorted() {
            guard let peer = peers[name] else { continue }
            if settings.livenessFromTraffic, peer.alive, let last = peer.lastHeard, now - last >= settings.deadtime {
                markLost(name, now: now, &actions)
            }
            guard var current = peers[name], current.membership == .member else { continue }
            if settings.lostNodeRemovalTimeout > 0, !current.alive, let since = current.lostSince,
               now - since >= settings.lostNodeRemovalTimeout {
                current.membership = .revokedLost
                actions.append(.log(.warning, "watchdog: member \(name) was lost for \(Int(settings.lostNodeRemovalTimeout)) s and no longer counts towards quorum"))
            } else if settings.noShowNodeRemovalTimeout > 0, current.status == nil, !current.alive, current.state == .dead,
                      now - startedAt >= settings.noShowNodeRemovalTimeout {
                current.membership = .revokedNoShow
                actions.append(.log(.warning, "watchdog: member \(name) never showed up and no longer counts towards quorum"))
            }
            peers[name] = current
        }
        let cutoff = now - settings.voteLifetime
        for key in votes.keys {
            votes[key]?.removeAll { $0.time < cutoff }
            if votes[key]?.isEmpty == true { votes[key] = nil }
        }
    }

    // MARK: Election

    private mutating func receiveStatus(_ status: MemberStatus, from name: String, now: Double, _ actions: inout [Action]) {
        guard var peer = peers[name] else { return }
        let isNew = peer.status == nil || peer.status?.startTime != status.startTime
        peer.status = status
        if peer.alive || settings.livenessFromTraffic { peer.state = status.state }
        peers[name] = peer
        if settings.livenessFromTraffic { heard(name, now: now, &actions) }
        if (status.wantsReply || isNew), state != .loading {
            actions.append(.sendStatus(to: name, wantsReply: false))
        }
        guard peers[name]?.alive == true else { return }
        if state == .leader, let theirs = status.leader, theirs != settings.localName, theirs != name, peers[theirs] != nil {
            // A member follows another leader: ask that leader directly, so that the two settle.
            actions.append(.sendStatus(to: theirs, wantsReply: true))
        }
        if status.state == .leader {
            foundLeader(name, status: status, now: now, &actions)
        } else if leader == name, state == .standby {
            // Our leader resigned: look for the new one.
            leader = nil
            enter(.joining, now: now, deadline: now + settings.joinWindow, &actions)
            actions.append(.sendStatus(to: nil, wantsReply: true))
        }
    }

    private mutating func foundLeader(_ name: String, status: MemberStatus, now: Double, _ actions: inout [Action]) {
        switch state {
        case .leader:
            guard leaderWins(over: name, status: status) else {
                actions.append(.log(.warning, "watchdog: two leaders; \(name) stays leader, this member resigns"))
                resign(now: now, &actions)
                follow(name, now: now, &actions)
                if let view = status.backends { actions.append(.adoptBackends(view)) }
                return
            }
            actions.append(.log(.warning, "watchdog: two leaders; this member stays leader, \(name) must resign"))
            actions.append(.sendStatus(to: name, wantsReply: false))
        case .networkIsolation, .shutdown, .loading:
            return
        case .standby where leader != name && leader.flatMap({ peers[$0]?.alive }) == true:
            // Our leader is alive: the two leaders settle it between them; tell the other whom we follow.
            actions.append(.sendStatus(to: name, wantsReply: false))
        default:
            if leader != name || state != .standby { follow(name, now: now, &actions) }
            if let view = status.backends { actions.append(.adoptBackends(view)) }
        }
    }

    private mutating func follow(_ name: String, now: Double, _ actions: inout [Action]) {
        leader = name
        leaderSince = nil
        enter(.standby, now: now, deadline: nil, &actions)
        actions.append(.log(.info, "watchdog: following leader \(name)"))
        actions.append(.sendStatus(to: nil, wantsReply: false))
    }

    private mutating func standForLeader(now: Double, _ actions: inout [Action]) {
        leader = nil
        for name in peers.keys { peers[name]?.acceptedElection = false }
        elections += 1
        enter(.standingForLeader, now: now, deadline: now + settings.electionTimeout, &actions)
        actions.append(.log(.info, "watchdog: standing for leader (priority \(settings.priority))"))
        actions.append(.sendStandForLeader)
        if alivePeers.isEmpty { becomeLeader(now: now, &actions) }
    }

    private var alivePeers: [Peer] { peers.values.filter(\.alive) }

    private mutating func receiveCandidacy(from name: String, priority: Int, startTime: Double, now: Double, _ actions: inout [Action]) {
        guard peers[name] != nil else { return }
        if settings.livenessFromTraffic { heard(name, now: now, &actions) }
        let candidate = (priority: priority, startTime: startTime, name: name)
        let accept: Bool
        switch state {
        case .leader:
            accept = false
            actions.append(.sendStatus(to: name, wantsReply: false))
        case .standby:
            accept = leader.flatMap { peers[$0]?.alive } != true
            if accept { enter(.participatingInElection, now: now, deadline: now + 2 * settings.electionTimeout, &actions) }
        case .standingForLeader:
            accept = !Self.beats(me, candidate)
            if accept { enter(.participatingInElection, now: now, deadline: now + 2 * settings.electionTimeout, &actions) }
        case .networkIsolation:
            accept = true
        case .shutdown, .loading:
            return
        default:
            accept = !Self.beats(me, candidate)
            if accept {
                enter(.participatingInElection, now: now, deadline: now + 2 * settings.electionTimeout, &actions)
            } else {
                actions.append(.sendElectionReply(to: name, accept: false))
                standForLeader(now: now, &actions)
                return
            }
        }
        actions.append(.sendElectionReply(to: name, accept: accept))
    }

    private mutating func receiveReply(from name: String, accept: Bool, now: Double, _ actions: inout [Action]) {
        guard state == .standingForLeader, peers[name] != nil else { return }
        if settings.livenessFromTraffic { heard(name, now: now, &actions) }
        if accept {
            peers[name]?.acceptedElection = true
            if alivePeers.allSatisfy(\.acceptedElection) { becomeLeader(now: now, &actions) }
        } else {
            actions.append(.log(.info, "watchdog: \(name) objected to this member's candidacy"))
            enter(.participatingInElection, now: now, deadline: now + 2 * settings.electionTimeout, &actions)
        }
    }

    private mutating func becomeLeader(now: Double, _ actions: inout [Action]) {
        leader = settings.localName
        leaderSince = now
        enter(.leader, now: now, deadline: nil, &actions)
        actions.append(.log(.warning, "watchdog: this member is now the leader (\(quorumValue.text), \(aliveVotingMembers) of \(votingMembers) members alive)"))
        actions.append(.sendStatus(to: nil, wantsReply: false))
    }

    private mutating func resign(now: Double, _ actions: inout [Action]) {
        if escalated { deEscalate(&actions) }
        leader = nil
        leaderSince = nil
    }

    /// Deadlines and lost leaders.
    private mutating func advance(now: Double, _ actions: inout [Action]) {
        switch state {
        case .joining:
            let heardAll = !peers.isEmpty && peers.values.allSatisfy { $0.status != nil && $0.alive }
            if heardAll || (stateDeadline.map { now >= $0 } ?? true) { standForLeader(now: now, &actions) }
        case .standingForLeader:
            if let deadline = stateDeadline, now >= deadline { becomeLeader(now: now, &actions) }
        case .participatingInElection:
            if let deadline = stateDeadline, now >= deadline {
                enter(.joining, now: now, deadline: now + settings.joinWindow, &actions)
                actions.append(.sendStatus(to: nil, wantsReply: true))
            }
        case .standby:
            if let name = leader, peers[name]?.alive != true {
                actions.append(.log(.warning, "watchdog: leader \(name) is lost; electing a new one"))
                standForLeader(now: now, &actions)
            }
        default:
            break
        }
    }

    private mutating func enter(_ next: WatchdogState, now: Double, deadline: Double?, _ actions: inout [Action]) {
        state = next
        stateDeadline = deadline
    }

    // MARK: Escalation

    private mutating func updateEscalation(_ actions: inout [Action]) {
        // A peer that just came back has not told us yet whether it holds the IP.
        let othersMayHold = alivePeers.contains { $0.status == nil || $0.status?.escalated == true }
        let shouldHold = state == .leader && holdingQuorum.allowsAction && !isolated
        if shouldHold, !escalated, !othersMayHold {
            escalated = true
            vipChanges.up += 1
            actions.append(.log(.warning, "watchdog: escalation: this leader has quorum and takes the virtual IP"))
            actions.append(.escalate)
        } else if !shouldHold, escalated {
            if state == .leader {
                actions.append(.log(.warning, "watchdog: quorum lost (\(aliveVotingMembers) of \(votingMembers) members alive); releasing the virtual IP"))
            }
            deEscalate(&actions)
        }
    }

    private mutating func deEscalate(_ actions: inout [Action]) {
        escalated = false
        vipChanges.down += 1
        actions.append(.log(.warning, "watchdog: de-escalation: releasing the virtual IP"))
        actions.append(.deEscalate)
    }
}
