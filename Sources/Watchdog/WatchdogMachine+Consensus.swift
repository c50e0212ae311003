/// Failover consensus: what the leader does with a backend change a member asks for.
extension WatchdogMachine {
    /// What the leader does with a backend change asked by `member` (itself included).
    public enum Decision: Sendable, Equatable {
        /// Carry it out here and apply it everywhere.
        case perform
        /// Not enough: the asking member quarantines the nodes.
        case quarantine(String)
        /// Only the leader decides.
        case notLeader
    }

    /// Decides a backend change (leaders only): confirmed requests always go; others need quorum
    /// with `failover_when_quorum_exists` and enough distinct members' votes with
    /// `failover_require_consensus`.
    public mutating func decide(_ request: BackendChangeRequest, from member: String, now: Double) -> Decision {
        guard state == .leader else { return .notLeader }
        if request.confirmed { return .perform }
        if settings.failoverWhenQuorumExists, !quorumValue.allowsAction {
            return .quarantine("the watchdog cluster has no quorum (\(aliveVotingMembers) of \(votingMembers) members alive)")
        }
        guard settings.failoverRequireConsensus else { return .perform }
        let key = request.voteKey
        var cast = votes[key] ?? []
        cast.removeAll { $0.time < now - settings.voteLifetime }
        if settings.allowMultipleFailoverRequestsFromNode || !cast.contains(where: { $0.member == member }) {
            cast.append((member, now))
        }
        let needed = requiredMembers
        if cast.count >= needed {
            votes[key] = nil
            return .perform
        }
        votes[key] = cast
        return .quarantine("\(cast.count) of \(needed) votes needed for consensus")
    }
}
