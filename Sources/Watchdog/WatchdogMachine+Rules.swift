/// What the watchdog machine reports about its members and quorum, and the read-only rules its
/// elections and escalation decide by.
extension WatchdogMachine {
    // MARK: Reports

    /// Voting members (the local one included).
    public var votingMembers: Int { 1 + peers.values.filter { $0.membership == .member }.count }
    /// Alive voting members (the local one included).
    public var aliveVotingMembers: Int { 1 + peers.values.filter { $0.membership == .member && $0.alive }.count }
    /// Members needed for quorum and consensus.
    public var requiredMembers: Int { settings.quorum.required(members: votingMembers) }
    /// The quorum whatever the leadership.
    public var quorumValue: QuorumStatus { settings.quorum.status(members: votingMembers, alive: aliveVotingMembers) }
    /// The quorum as reported: no leader first.
    public var quorum: QuorumStatus { leader == nil ? .noLeader : quorumValue }

    /// The status this member sends (the service adds the backend view when it leads).
    public func status(wantsReply: Bool = false) -> MemberStatus {
        MemberStatus(
            state: state, priority: settings.priority, startTime: settings.startTime, leader: leader, escalated: escalated,
            quorum: quorum, standbys: standbyCount, leaderSince: state == .leader ? leaderSince : nil, wantsReply: wantsReply)
    }

    var standbyCount: Int {
        guard state == .leader else { return 0 }
        return peers.values.filter { $0.alive && $0.status?.leader == settings.localName && $0.status?.state == .standby }.count
    }

    // MARK: The rules elections and the virtual IP follow

    /// Whether a candidate with (priority, startTime, name) beats another.
    static func beats(_ a: (priority: Int, startTime: Double, name: String), _ b: (priority: Int, startTime: Double, name: String)) -> Bool {
        if a.priority != b.priority { return a.priority > b.priority }
        if a.startTime != b.startTime { return a.startTime < b.startTime }
        return a.name < b.name
    }

    var me: (priority: Int, startTime: Double, name: String) {
        (settings.priority, settings.startTime, settings.localName)
    }

    /// Split-brain resolution: escalated, then quorum, then standbys, then the older leadership.
    func leaderWins(over name: String, status: MemberStatus) -> Bool {
        if escalated != status.escalated { return escalated }
        if quorumValue.rawValue != status.quorum.rawValue { return quorumValue.rawValue > status.quorum.rawValue }
        if standbyCount != status.standbys { return standbyCount > status.standbys }
        if let mine = leaderSince, let theirs = status.leaderSince, mine != theirs { return mine < theirs }
        return Self.beats(me, (status.priority, status.startTime, name))
    }

    /// The quorum a leader needs to hold the virtual IP counts only members heard from within
    /// `wd_heartbeat_deadtime` minus a margin: a leader cut off from the others releases the IP
    /// before they declare it lost and elect a successor, so two members never hold it at once.
    ///
    /// Only members that follow this leader count: after a partition heals, a member that still
    /// follows another leader must not lend its vote before the two leaders have settled.
    var holdingQuorum: QuorumStatus {
        let margin = min(settings.keepalive + 0.5, settings.deadtime / 2)
        let backing = peers.values.filter { peer in
            guard peer.membership == .member, peer.alive, peer.status?.leader == settings.localName else { return false }
            guard settings.livenessFromTraffic else { return true }
            return peer.lastHeard.map { lastNow - $0 < settings.deadtime - margin } ?? false
        }
        return settings.quorum.status(members: votingMembers, alive: 1 + backing.count)
    }
}
